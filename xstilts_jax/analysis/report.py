"""`xstilts report`: what a sweep says, as report.md, report.html, answers.json and PNGs.

Reads only results.json files (see results.py), found at any depth below the paths
given. Sections: the answers, the conventions (each question's primary test), the runs,
one section per question with its evidence, then exploratory sections (overall gain,
gain per task, XTREME score, transfer gap, gains by language group, gain vs distance).
Long per-condition tables go to an appendix that only report.html carries once there
are more than `MARKDOWN_CONDITIONS` conditions, so report.md stays readable for a sweep.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from xstilts_jax.analysis import add_report_arguments, plots, questions
from xstilts_jax.analysis.languages import DISTANCE_COLUMNS, MAIN_DISTANCE, RESOURCE_GROUPS, UNKNOWN
from xstilts_jax.analysis.questions import ALPHA, MIN_RUNS, describe, fmt
from xstilts_jax.analysis.render import Document, write_atomic
from xstilts_jax.analysis.results import (
    Condition,
    Run,
    find_workdirs,
    group_by_condition,
    load_runs,
    seeds_text,
    unfinished_below,
)
from xstilts_jax.analysis.stats import spearman_rows, welch
from xstilts_jax.analysis.study import Study
from xstilts_jax.errors import DataError
from xstilts_jax.paths import as_path, identity

PathLike = Union[str, Path]
MARKDOWN_CONDITIONS = 6  # above this, per-condition detail is in report.html only
PLOT_CONDITIONS = 8  # above this, per-condition small multiples show the top and bottom 4
CONVENTIONS = (
    "Scores are percentages. One number per task and language, its main score: accuracy "
    "(XNLI, PAWS-X, XCOPA, Tatoeba), F1 (UD-POS, PAN-X, BUCC), (F1 + exact match) / 2 for QA "
    "(XQuAD, MLQA, TyDiQA), as XTREME's evaluate.py. A delta is mean(condition) - "
    "mean(baseline) over runs, in points. English is left out of every transfer statistic.",
    "Unit of inference: the run. Every language of a task shares one fine-tuning run and "
    "every condition shares the baseline's runs, so languages are not independent evidence. "
    "Each primary test reduces a run to one number (its mean over the question's tasks and "
    "languages, its slope of score on typological distance, or a within-task contrast) and "
    "compares the runs of two arms with Welch's t (unequal variances; CI from the t "
    "distribution), or of four arms (a difference of two gains, Q4) with a Welch-Satterthwaite "
    "contrast. This is the balanced-design form of the "
    "mixed model score ~ condition + (1|run) with tasks and languages as fixed effects, and is "
    "exact for normal run means; we chose it over a hierarchical bootstrap because a "
    "bootstrap over 3 runs per arm has only 10 distinct resamples and is far too narrow, and "
    "over a fitted mixed model because Wald tests of variance components from 3 runs per arm "
    "are anti-conservative. The inference is over runs (seeds) for the tasks and languages "
    "evaluated; it does not extend to other languages. Seeds are not paired across arms. Q3 "
    "relates a property of intermediate tasks to their gains: its unit is the condition (runs "
    "averaged), tested by permuting conditions.",
    f"No direction is claimed from fewer than {MIN_RUNS} runs in an arm (the baseline "
    "included): the estimate is given and the answer says it cannot decide. One primary "
    "test per question (below); within a question, the family of its conditions (or target "
    "tasks) is corrected with Holm's step-down method at "
    f"{ALPHA}: it controls the chance of any false claim in the family under any dependence "
    "(all conditions share the baseline runs), which is the error that matters when each "
    "answer is cited on its own; Benjamini-Hochberg would control only the expected share of "
    "false claims. A decision other than 'no clear effect' or 'cannot answer' is a claim. "
    "Everything not marked primary is exploratory: no multiplicity control, not the basis of "
    "any answer; exploratory correlations over languages ignore run-to-run variance and "
    "describe, they do not test.",
)


def num(x: Optional[float], digits: int = 1, sign: bool = True) -> str:
  return fmt(x, digits, sign)


def _workdir_key(path: Path) -> Path:
  return identity(path)


def choose_baseline(runs: Sequence[Run], baseline_dirs: Sequence[Path]) -> list[Run]:
  """The baseline's runs: those below --baseline, else the one condition without intermediate
  training (XTREME with XLM-R when the others are Q4's baselines of other benchmarks or backbones)."""
  if baseline_dirs:
    wanted = {_workdir_key(p) for p in baseline_dirs}
    return [r for r in runs if _workdir_key(r.workdir) in wanted]
  groups = group_by_condition(runs)
  plain = [c for c in groups if not c.intermediate and not c.translated and not c.mlm_beside]
  default = [c for c in plain if questions.same_setup(c, Condition()) and not c.data_subset]
  if len(plain) > 1 and len(default) == 1:
    # The baselines of other benchmarks or backbones (Q4's arms) differ from it only there.
    others = [c for c in plain if c != default[0]]
    if all(dataclasses.replace(c, benchmark="xtreme", backbone="xlmr", protocol="heads") == default[0] for c in others):
      plain = default
  if len(plain) != 1:
    found = "; ".join(c.label for c in plain) or "none"
    raise DataError(
        "cannot tell which runs are the baseline (conditions without intermediate "
        f"training: {found}); give --baseline PATH"
    )
  return groups[plain[0]]


def _answers_section(doc: Document, answers: Sequence[questions.Answer]) -> None:
  doc.heading("Answers to the five questions")
  doc.paragraph(
      "Each answer is the conclusion of the question's primary test (see Conventions), "
      "after Holm's correction within the question; answers.json holds the same. "
      "The evidence is in the question's section below."
  )
  doc.bullets([f"{a.key.upper()} ({a.question}) Decision: {a.decision}. {a.reason}" for a in answers])


def _runs_section(doc: Document, study: Study, unfinished: Sequence[Path]) -> None:
  doc.heading("Runs")
  conditions = [study.baseline] + study.conditions
  provenance = {}
  for run in study.all_runs:
    provenance.setdefault(run.condition, set()).add(run.provenance)
  doc.paragraph(
      f"{len(study.all_runs)} workdirs with results.json, {len(conditions)} "
      f"conditions. A replicate is one seed of one condition. What each run did (MLM "
      f"first, MLM beside, none) is read from its results.json."
  )
  doc.table(
      ["condition", "role", "replicates", "what it did", "MLM read from"],
      [
          [
              c.label,
              "baseline" if c == study.baseline else "",
              seeds_text(study.runs_of(c)),
              _did(c),
              "; ".join(sorted(provenance[c])),
          ]
          for c in conditions
      ],
  )
  few = [c.label for c in conditions if study.n_runs(c) < MIN_RUNS]
  if few:
    doc.warning(
        f"fewer than {MIN_RUNS} runs for {len(few)} of {len(conditions)} conditions "
        f"({', '.join(few[:10])}{', ...' if len(few) > 10 else ''}): their comparisons "
        "give an estimate but no direction."
    )
  if study.baseline.intermediate:
    doc.warning(
        f"the baseline itself has intermediate training ({study.baseline.label}); "
        "every delta below is relative to it, not to plain fine-tuning."
    )
  if unfinished:
    doc.warning(
        f"{len(unfinished)} experiment directories have no results.json yet (unfinished "
        "or failed) and are not in this report: "
        + ", ".join(map(str, unfinished[:10]))
        + (", ..." if len(unfinished) > 10 else "")
    )
  for note in study.notes:
    doc.warning(note)
  if not study.conditions:
    doc.warning("only the baseline was found: there is nothing to compare it with.")
  doc.paragraph(
      "Tasks and languages compared (present in every run): "
      + "; ".join(f"{t}: {' '.join(study.languages[t])}" for t in study.tasks)
      + "."
  )
  many = len(study.all_runs) > 12
  doc.table(
      ["workdir", "experiment", "condition", "seed", "data", "model"],
      [[str(r.workdir), r.experiment, r.condition.label, r.seed, r.data, r.model] for r in study.all_runs],
      appendix=many,
  )
  if many:
    doc.paragraph("The list of workdirs is in report.html.")


def _did(condition) -> str:
  parts = []
  if condition.mlm_first:
    parts.append(f"MLM first ({' '.join(condition.mlm_first)})")
  parts.append("intermediate: " + ("+".join(condition.intermediate) or "none"))
  if condition.mlm_beside:
    parts.append(f"MLM beside ({' '.join(condition.mlm_beside)})")
  if not condition.mlm_first and not condition.mlm_beside:
    parts.append("no MLM")
  if condition.translated:
    parts.append("translated data")
  return "; ".join(parts)


def _conventions(doc: Document) -> None:
  doc.heading("Conventions")
  for text in CONVENTIONS:
    doc.paragraph(text)
  doc.bullets([f"{key.upper()} primary test: {text}." for key, text in questions.PRIMARY_TESTS.items()])


def _overall_section(doc: Document, study: Study, images: dict) -> None:
  doc.heading("Exploratory: overall transfer gain per condition")
  summary = questions.language_mean(questions.cells(study, lambda l: True))
  rows, estimates = [], {}
  for c in study.conditions:
    estimates[c] = welch(study.run_values(c, summary), study.run_values(study.baseline, summary))
  order = sorted(
      study.conditions, key=lambda c: -estimates[c].estimate if math.isfinite(estimates[c].estimate) else math.inf
  )
  for c in order:
    rows.append([c.label, f"{study.n_runs(c)} vs {study.n_runs(study.baseline)}", describe(estimates[c])])
  doc.paragraph(
      "Mean over all non-English languages (each language's mean over tasks) of "
      "condition minus baseline, runs as the unit (Welch t), not corrected for "
      f"multiplicity: {len(order)} tests, so about {0.05 * len(order):.1f} would reach "
      "p < 0.05 by chance."
  )
  doc.table(["condition", "runs", "gain (95% CI, uncorrected p)"], rows)
  if order:
    images["overall_gain.png"] = plots.forest(
        [c.label for c in order],
        [estimates[c].estimate for c in order],
        [estimates[c].ci_low for c in order],
        [estimates[c].ci_high for c in order],
        "gain vs baseline (points), mean over non-English languages",
        "Overall transfer gain per condition (exploratory)",
        f"Runs are the unit (Welch t interval); baseline: {study.baseline.label}, "
        f"{seeds_text(study.runs_of(study.baseline))}. No CI with fewer than 2 runs.",
    )
    doc.image("overall_gain.png", "Overall transfer gain per condition with 95% CIs")


def _task_section(doc: Document, study: Study, images: dict) -> None:
  doc.heading("Exploratory: mean gain per condition and task")
  table = {}
  for c in study.conditions:
    deltas = study.deltas(c)
    table[c.label] = {
        t: float(np.mean([deltas[t][l] for l in study.targets(study.languages[t])]))
        for t in study.tasks
        if study.targets(study.languages[t])
    }
  tasks = [t for t in study.tasks if study.targets(study.languages[t])]
  doc.paragraph("Per task, the mean delta over its non-English languages (runs averaged), " "points.")
  doc.table(["condition"] + tasks, [[c.label] + [num(table[c.label].get(t)) for t in tasks] for c in study.conditions])
  if study.conditions and tasks:
    images["gain_by_task.png"] = plots.delta_heatmap(
        [c.label for c in study.conditions],
        tasks,
        table,
        "Mean gain over non-English languages, condition x task",
        f"Runs averaged per condition; baseline {study.baseline.label}.",
        row_height=0.3,
    )
    doc.image("gain_by_task.png", "Heatmap of mean gains, conditions x tasks")


def _xtreme_section(doc: Document, study: Study) -> None:
  doc.heading("Exploratory: XTREME score")
  conditions = [study.baseline] + study.conditions
  overall = {c: [r.xtreme.get("overall") for r in study.runs_of(c)] for c in conditions}
  if all(v is None for vs in overall.values() for v in vs):
    doc.paragraph("No XTREME score in these results (none of XTREME's nine tasks with its " "languages was evaluated).")
    return
  categories = sorted({k for c in conditions for r in study.runs_of(c) for k in (r.xtreme.get("categories") or {})})

  def mean(values):
    values = [v for v in values if isinstance(v, (int, float))]
    return float(np.mean(values)) if values else math.nan

  base = mean(overall[study.baseline])
  rows = []
  for c in conditions:
    runs = study.runs_of(c)
    row = [
        c.label,
        len(runs),
        num(mean(overall[c]), sign=False),
        "" if c == study.baseline else num(mean(overall[c]) - base),
    ]
    row += [num(mean([(r.xtreme.get("categories") or {}).get(k) for r in runs]), sign=False) for k in categories]
    rows.append(row)
  doc.paragraph(
      "The score stored in results.json (per task the mean over XTREME's test "
      "languages, QA (EM + F1) / 2, overall the unweighted mean of the tasks), mean "
      "over runs."
  )
  doc.table(["condition", "runs", "overall", "delta overall"] + categories, rows)
  first = study.runs[0].xtreme
  if first.get("missing_tasks"):
    doc.paragraph(
        "XTREME tasks not evaluated (the score averages the others): " + ", ".join(first["missing_tasks"]) + "."
    )
  ignored = first.get("ignored_languages") or {}
  if ignored:
    doc.warning(
        "the XTREME score in results.json leaves out languages outside its task lists ("
        + "; ".join(f"{t}: {', '.join(ls)}" for t, ls in ignored.items())
        + ")."
    )


def _gap_section(doc: Document, study: Study) -> None:
  doc.heading("Exploratory: cross-lingual transfer gap")
  tasks = [t for t in study.tasks if "en" in study.languages[t] and study.targets(study.languages[t])]
  if not tasks:
    doc.paragraph("No task has English and another language in every run: no gap to compute.")
    return
  doc.paragraph(
      "Gap = English score minus the mean over the task's other languages (XTREME's "
      "definition), runs averaged. The baseline's row gives its gap; the others give "
      "the change in gap against it (negative = the gap narrowed)."
  )

  def gap(c, task):
    scores = study.mean_scores(c)[task]
    return scores["en"] - float(np.mean([scores[l] for l in study.targets(study.languages[task])]))

  base = {t: gap(study.baseline, t) for t in tasks}
  rows = [[f"{study.baseline.label} (baseline): gap"] + [num(base[t], sign=False) for t in tasks]]
  rows += [[c.label] + [num(gap(c, t) - base[t]) for t in tasks] for c in study.conditions]
  doc.table(["condition"] + tasks, rows)


def _groups_section(doc: Document, study: Study, images: dict) -> None:
  doc.heading("Exploratory: gains by language group")
  doc.paragraph(
      "Per language, the mean delta over its tasks (runs averaged); per group, the "
      "mean over its languages. Descriptive: no test. Resource class: Joshi et al. "
      "2020, low = 0-2, mid = 3, high = 4-5."
  )
  if study.uneven_coverage:
    doc.warning(
        "languages appear in different tasks, so per-language means mix task difficulty "
        "with language; read the per-task tables alongside."
    )
  targets = study.targets()
  gains = {c: study.per_language(study.deltas(c)) for c in study.conditions}
  detail = len(study.conditions) > MARKDOWN_CONDITIONS
  for title, key in (
      ("resource class", lambda i: i.resource_group),
      ("family", lambda i: i.family),
      ("script", lambda i: i.script),
  ):
    groups: dict[str, list[str]] = {}
    for language in targets:
      groups.setdefault(key(study.info[language]), []).append(language)
    order = [g for g in RESOURCE_GROUPS + (UNKNOWN,) if g in groups] if title == "resource class" else sorted(groups)
    appendix = detail and title != "resource class"
    doc.heading(f"By {title}", 3, appendix=appendix)
    doc.paragraph("Languages: " + "; ".join(f"{g}: {' '.join(groups[g])}" for g in order) + ".", appendix=appendix)
    means = {
        g: [float(np.mean([gains[c][l] for l in groups[g] if l in gains[c]])) for c in study.conditions] for g in order
    }
    doc.table(
        ["condition"] + order,
        [[c.label] + [num(means[g][k]) for g in order] for k, c in enumerate(study.conditions)],
        appendix=appendix,
    )
    if title == "resource class" and study.conditions:
      note = f"Runs averaged; baseline {study.baseline.label}. Descriptive, no CI."
      if order == [UNKNOWN]:
        note = "No language has a known resource class (synthetic languages). " + note
      images["gain_by_resource_class.png"] = plots.gain_by_group(
          order, [c.label for c in study.conditions], means, "Mean gain by resource class (exploratory)", note
      )
      doc.image("gain_by_resource_class.png", "Mean gain by resource class")
  if detail:
    doc.paragraph("By family and by script: in report.html.")


def _distance_values(study: Study, kind: str, drop_imputed: bool = False) -> dict[str, float]:
  values = {}
  for language in study.targets():
    info = study.info[language]
    if kind in info.distances and not (drop_imputed and info.mostly_imputed):
      values[language] = info.distances[kind]
  return values


def _rho(x: Sequence[float], y: Sequence[float]) -> float:
  if len(x) < 3:
    return math.nan
  return float(spearman_rows(np.array([x]), np.array([y]))[0])


def _distance_section(doc: Document, study: Study, images: dict) -> None:
  doc.heading("Exploratory: gain vs typological distance to English")
  distance = _distance_values(study, MAIN_DISTANCE)
  source = (
      "the synthetic generator's distance (results.json languages block)"
      if study.synthetic
      else "URIEL syntactic distance to English (URIEL+ 1.3.2, angular, over features "
      "observed for both languages; see analysis/SOURCES.md)"
  )
  doc.paragraph(
      f"Distance: {source}. Gain: per-language mean delta over tasks (runs "
      "averaged). Spearman rho over languages, descriptive: languages share runs, so "
      "no p-value is given; Q2 holds the test."
  )
  missing = [l for l in study.targets() if l not in distance]
  if missing:
    doc.paragraph(f"No distance for: {', '.join(missing)} (left out).")
  if len(distance) < 3 or not study.conditions:
    doc.paragraph(
        "Not computable: needs at least 3 target languages with a distance and a " "condition besides the baseline."
    )
    return
  detail = len(study.conditions) > MARKDOWN_CONDITIONS
  rows, per_task, series, mean_gain = [], [], {}, {}
  for c in study.conditions:
    deltas = study.deltas(c)
    gains = study.per_language(deltas)
    languages = [l for l in distance if l in gains]
    x, y = [distance[l] for l in languages], [gains[l] for l in languages]
    rows.append([c.label, num(_rho(x, y), 2)])
    per_task.append(
        [c.label]
        + [
            num(
                _rho(
                    [distance[l] for l in languages if l in deltas[t]],
                    [deltas[t][l] for l in languages if l in deltas[t]],
                ),
                2,
            )
            for t in study.tasks
        ]
    )
    series[c.label] = (x, y, languages)
    mean_gain[c.label] = float(np.mean(y)) if y else math.nan
  doc.table(["condition", "Spearman rho (gain, distance), all tasks"], rows)
  doc.heading("Per task", 3, appendix=detail)
  doc.table(["condition"] + list(study.tasks), per_task, appendix=detail)
  chosen = list(series)
  title = "Gain vs typological distance to English, one panel per condition"
  if len(chosen) > PLOT_CONDITIONS:
    ranked = sorted(chosen, key=lambda k: -mean_gain[k] if math.isfinite(mean_gain[k]) else 0)
    chosen = ranked[:4] + ranked[-4:]
    title = (
        f"Gain vs distance: the 4 conditions with the largest and the 4 with the smallest "
        f"mean gain (of {len(series)})"
    )
  images["gain_vs_distance.png"] = plots.gain_vs_distance(
      {k: series[k] for k in chosen},
      "syntactic distance to English" if not study.synthetic else "typological distance (generator)",
      f"Runs averaged; baseline " f"{study.baseline.label}. Line: least squares.",
      title,
  )
  doc.image("gain_vs_distance.png", "Gain vs typological distance, small multiples")
  if not study.synthetic:
    doc.heading("Sensitivity: other distances, and without mostly-imputed typology", 3, appendix=detail)
    doc.paragraph(
        "Blaschke et al. 2025 find that the effect of similarity depends on the "
        "measure, so the same correlation for URIEL's other distances; 'syntactic "
        "(observed only)' drops languages whose URIEL syntax is mostly imputed (af gu "
        "ht jv kk ml).",
        appendix=detail,
    )
    kinds = [(k, False) for k in DISTANCE_COLUMNS] + [(MAIN_DISTANCE, True)]
    sensitivity = []
    for c in study.conditions:
      gains = study.per_language(study.deltas(c))
      row = [c.label]
      for kind, drop in kinds:
        values = _distance_values(study, kind, drop)
        used = [l for l in values if l in gains]
        row.append(num(_rho([values[l] for l in used], [gains[l] for l in used]), 2))
      sensitivity.append(row)
    doc.table(["condition"] + [f"{k} (observed only)" if d else k for k, d in kinds], sensitivity, appendix=detail)


def _appendix(doc: Document, study: Study, images: dict) -> None:
  detail = len(study.conditions) > MARKDOWN_CONDITIONS
  doc.heading("Appendix: per-language deltas against the baseline")
  if detail:
    doc.paragraph(
        f"{len(study.conditions)} conditions: the per-language tables are in "
        "report.html"
        + (
            f" (heatmaps per condition are drawn up to {PLOT_CONDITIONS} " "conditions)."
            if len(study.conditions) > PLOT_CONDITIONS
            else "."
        )
    )
  languages = study.all_languages
  base = study.mean_scores(study.baseline)
  spread = study.seed_sd(study.baseline)

  def cell(value, sd, sign=True):
    return num(value, sign=sign) + (f" ±{sd:.1f}" if math.isfinite(sd) else "")

  doc.heading(f"Baseline scores ({study.baseline.label})", 3, appendix=detail)
  doc.paragraph("± = standard deviation over runs.", appendix=detail)
  doc.table(
      ["task"] + languages,
      [[t] + [cell(base[t][l], spread[t][l], False) if l in base[t] else "" for l in languages] for t in study.tasks],
      appendix=detail,
  )
  for condition in study.conditions:
    deltas, sd = study.deltas(condition), study.seed_sd(condition)
    doc.heading(condition.label, 3, appendix=detail)
    doc.table(
        ["task"] + languages,
        [[t] + [cell(deltas[t][l], sd[t][l]) if l in deltas[t] else "" for l in languages] for t in study.tasks],
        appendix=detail,
    )
    if len(study.conditions) > PLOT_CONDITIONS:
      continue  # the condition x task heatmap covers a large sweep
    name = f"delta_heatmap_{condition.slug}.png"
    images[name] = plots.delta_heatmap(
        study.tasks,
        languages,
        deltas,
        f"{condition.label} minus baseline",
        f"{seeds_text(study.runs_of(condition))}; baseline " f"{seeds_text(study.runs_of(study.baseline))}.",
    )
    doc.image(name, f"Heatmap of deltas, tasks x languages: {condition.label}", appendix=detail)


def build_report(
    paths: Union[PathLike, Sequence[PathLike]],
    baseline: Union[None, PathLike, Sequence[PathLike]] = None,
    out_dir: PathLike = "report",
) -> Path:
  """Write report.md, report.html, answers.json and the PNGs into out_dir; return report.md.

  `paths`: workdirs or sweep roots; every results.json at or below them is a run.
  `baseline`: one or several paths whose runs are the baseline (replicates of one
  condition); None: the one condition without intermediate training. Raises DataError
  (one line naming the path) for a path without results.json, a malformed file, and when
  the runs share no (task, language).
  """
  paths = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
  baselines = [] if baseline is None else [baseline] if isinstance(baseline, (str, os.PathLike)) else list(baseline)
  baseline_dirs = find_workdirs(baselines) if baselines else []
  workdirs = find_workdirs(paths + baselines) if paths else baseline_dirs
  runs = load_runs(workdirs)
  study = Study(runs, choose_baseline(runs, baseline_dirs))
  out_dir = as_path(out_dir)  # a local path or gs://
  doc = Document("X-STILTs report")
  images: dict[str, bytes] = {}
  question_doc = Document("")
  answers = questions.answer_all(study, question_doc)
  _answers_section(doc, answers)
  _conventions(doc)
  _runs_section(doc, study, unfinished_below(paths + baselines))
  doc.blocks += question_doc.blocks
  _overall_section(doc, study, images)
  _task_section(doc, study, images)
  _xtreme_section(doc, study)
  _gap_section(doc, study)
  _groups_section(doc, study, images)
  _distance_section(doc, study, images)
  _appendix(doc, study, images)
  for name, png in images.items():
    write_atomic(out_dir / name, png)
  write_atomic(out_dir / "answers.json", json.dumps({a.key: a.to_json() for a in answers}, indent=1) + "\n")
  write_atomic(out_dir / "report.html", doc.to_html())
  report = out_dir / "report.md"
  write_atomic(report, doc.to_markdown())
  return report


def parser() -> argparse.ArgumentParser:
  """The arguments of `xstilts report` (also used by cli.py)."""
  result = argparse.ArgumentParser(
      prog="xstilts report", description="Answer the research questions from experiment workdirs or a sweep root."
  )
  add_report_arguments(result)
  return result


def run_from_args(args: argparse.Namespace) -> int:
  report = build_report(args.paths, args.baseline or None, args.out)
  print(f"wrote {report}, {report.with_suffix('.html')} and {report.parent / 'answers.json'}")
  return 0


def main_report(argv: Optional[Sequence[str]] = None) -> int:
  """CLI glue: xstilts report PATH... [--baseline PATH ...] --out DIR."""
  return run_from_args(parser().parse_args(argv))
