"""`xstilts report`: what a set of experiment workdirs says, as report.md, report.html and PNGs.

Reads only results.json files (see results.py). Sections: runs, answers to the five
questions, per-language deltas, XTREME score, transfer gap, gains by language group,
gain vs typological distance, then one section per question with its evidence.
"""
from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np

from xstilts_jax.analysis import plots, questions
from xstilts_jax.analysis.languages import (
    DISTANCE_COLUMNS, MAIN_DISTANCE, RESOURCE_GROUPS, UNKNOWN)
from xstilts_jax.analysis.render import Document, write_atomic
from xstilts_jax.analysis.results import load_runs, seeds_text
from xstilts_jax.analysis.stats import bootstrap_mean, spearman
from xstilts_jax.analysis.study import Study

PathLike = Union[str, Path]
CONVENTIONS = (
    "Scores are percentages. One number per task and language, its main score: accuracy "
    "(XNLI, PAWS-X, XCOPA, Tatoeba), F1 (UD-POS, PAN-X, BUCC), (F1 + exact match) / 2 for QA "
    "(XQuAD, MLQA, TyDiQA), as XTREME's evaluate.py. Replicates (seeds) of one condition are "
    "averaged; a delta is mean(condition) - mean(baseline), in points. The XTREME score is the "
    "one stored in results.json (per task the mean over XTREME's test languages, QA "
    "(EM + F1) / 2, overall the unweighted mean of the tasks). Confidence intervals are 95% "
    "percentile bootstrap intervals that resample languages (or the stated unit); p-values are "
    "two-sided permutation tests. CIs do not include seed-to-seed variance, which is shown "
    "separately (± = standard deviation over seeds) where there are several seeds. With few units "
    "(under about 10 languages) percentile bootstrap CIs are too narrow and the smallest "
    "possible permutation p-value is large (4 languages: 0.125 for a mean, 0.083 for a "
    "correlation), so no direction is claimed unless p < 0.05 as well. English is "
    "left out of every transfer statistic: its change is not zero-shot transfer.")


def num(x: Optional[float], digits: int = 1, sign: bool = True) -> str:
  if x is None or (isinstance(x, float) and math.isnan(x)):
    return "n/a"
  return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def add_basis(doc: Document, study: Study, conditions) -> None:
  """Every table and figure says what it rests on, and warns on single runs."""
  conditions = [study.baseline] + [c for c in conditions if c != study.baseline]
  doc.paragraph(study.basis(conditions))
  single = study.single_run(conditions)
  if single:
    doc.warning(f"only one run (one seed) for {', '.join(single)}: no estimate of seed-to-seed "
                "variance; differences this small may be seed noise.")


def figure_note(study: Study, conditions) -> str:
  """What a figure rests on, with the single-run warning."""
  conditions = [study.baseline] + [c for c in conditions if c != study.baseline]
  single = study.single_run(conditions)
  warning = f" Warning: one run (one seed) only for {', '.join(single)}." if single else ""
  return study.basis(conditions) + warning


def _runs_section(doc: Document, study: Study) -> None:
  doc.heading("Runs")
  rows = []
  for run in study.runs:
    role = "baseline" if run.condition == study.baseline else ""
    rows.append([str(run.workdir), run.experiment, run.condition.label, role, run.seed, run.data,
                 run.model])
  doc.table(["workdir", "experiment", "condition", "role", "seed", "data", "model"], rows)
  doc.table(["condition", "runs"], [[c.label + (" (baseline)" if c == study.baseline else ""),
                                     seeds_text(study.runs_of(c))]
                                    for c in [study.baseline] + study.conditions])
  coverage = [f"{t}: {', '.join(study.languages[t])}" for t in study.tasks]
  doc.paragraph("Tasks and languages compared (present in every run):")
  doc.bullets(coverage)
  if study.baseline.intermediate:
    doc.warning(f"the baseline itself has intermediate training ({study.baseline.label}); "
                "every delta below is relative to it, not to plain fine-tuning.")
  for note in study.notes:
    doc.warning(note)
  single = study.single_run([study.baseline] + study.conditions)
  if single:
    doc.warning(f"only one run (one seed) for: {', '.join(single)}.")
  if not study.conditions:
    doc.warning("only the baseline was given: there is nothing to compare it with.")
  doc.heading("Conventions", 3)
  doc.paragraph(CONVENTIONS)


def _cell(delta: float, sd: float) -> str:
  return num(delta) + (f" ±{sd:.1f}" if not math.isnan(sd) else "")


def _deltas_section(doc: Document, study: Study, images: dict) -> None:
  doc.heading("Per-language deltas against the baseline")
  languages = study.all_languages
  base = study.mean_scores(study.baseline)
  sd = study.seed_sd(study.baseline)
  doc.heading(f"Baseline scores ({study.baseline.label})", 3)
  rows = [[t] + [_cell(base[t][l], sd[t][l]).lstrip("+") if l in base[t] else "" for l in languages]
          for t in study.tasks]
  doc.table(["task"] + languages, rows)
  add_basis(doc, study, [])
  for condition in study.conditions:
    doc.heading(condition.label, 3)
    deltas, spread = study.deltas(condition), study.seed_sd(condition)
    rows = []
    for t in study.tasks:
      targets = [deltas[t][l] for l in study.targets(study.languages[t])]
      rows.append([t] + [_cell(deltas[t][l], spread[t][l]) if l in deltas[t] else ""
                         for l in languages] + [num(float(np.mean(targets))) if targets else "n/a"])
    doc.table(["task"] + languages + ["mean (non-English)"], rows)
    add_basis(doc, study, [condition])
    name = f"delta_heatmap_{condition.slug}.png"
    images[name] = plots.delta_heatmap(study.tasks, languages, deltas,
                                       f"{condition.label} minus baseline",
                                       figure_note(study, [condition]))
    doc.image(name, f"Heatmap of deltas, tasks x languages: {condition.label}")


def _xtreme_section(doc: Document, study: Study) -> None:
  doc.heading("XTREME score")
  conditions = [study.baseline] + study.conditions
  overall = {c: [r.xtreme.get("overall") for r in study.runs_of(c)] for c in conditions}
  if all(v is None for vs in overall.values() for v in vs):
    doc.paragraph("No XTREME score in these results (none of XTREME's nine tasks with its "
                  "languages was evaluated).")
    return
  categories = sorted({k for c in conditions for r in study.runs_of(c)
                       for k in (r.xtreme.get("categories") or {})})

  def mean(values):
    values = [v for v in values if isinstance(v, (int, float))]
    return float(np.mean(values)) if values else math.nan

  base = mean(overall[study.baseline])
  rows = []
  for c in conditions:
    runs = study.runs_of(c)
    row = [c.label, len(runs), num(mean(overall[c]), sign=False),
           "" if c == study.baseline else num(mean(overall[c]) - base)]
    row += [num(mean([(r.xtreme.get("categories") or {}).get(k) for r in runs]), sign=False)
            for k in categories]
    rows.append(row)
  doc.table(["condition", "runs", "overall", "delta overall"] + categories, rows)
  add_basis(doc, study, study.conditions)
  first = study.runs[0].xtreme
  if first.get("missing_tasks"):
    doc.paragraph("XTREME tasks not evaluated (the score averages the others): "
                  + ", ".join(first["missing_tasks"]) + ".")
  ignored = first.get("ignored_languages") or {}
  if ignored:
    doc.warning("the XTREME score in results.json leaves out languages outside its task lists ("
                + "; ".join(f"{t}: {', '.join(ls)}" for t, ls in ignored.items()) + ").")


def _gap_section(doc: Document, study: Study) -> None:
  doc.heading("Cross-lingual transfer gap")
  doc.paragraph("Gap = English score minus the mean over the task's other languages (XTREME's "
                "definition), over the languages compared here; relative drop = 1 - mean(others) "
                "/ English. Change = gap with intermediate training minus the baseline's gap "
                "(negative = the gap narrowed).")
  conditions = [study.baseline] + study.conditions
  header = ["task"] + [f"{c.label}: gap (rel. drop)" for c in conditions] + [
      f"{c.label}: change" for c in study.conditions]
  rows = []
  for task in study.tasks:
    others = study.targets(study.languages[task])
    if "en" not in study.languages[task] or not others:
      continue
    gaps, row = {}, [task]
    for c in conditions:
      scores = study.mean_scores(c)[task]
      mean_others = float(np.mean([scores[l] for l in others]))
      gaps[c] = scores["en"] - mean_others
      relative = 1 - mean_others / scores["en"] if scores["en"] else math.nan
      row.append(f"{num(gaps[c], sign=False)} ({num(relative, 2, sign=False)})")
    row += [num(gaps[c] - gaps[study.baseline]) for c in study.conditions]
    rows.append(row)
  if not rows:
    doc.paragraph("No task has English and another language in every run: no gap to compute.")
    return
  doc.table(header, rows)
  add_basis(doc, study, study.conditions)


def _group_estimate(values: Sequence[float]):
  estimate = bootstrap_mean(values)
  low = None if math.isnan(estimate.ci_low) else estimate.ci_low
  high = None if math.isnan(estimate.ci_high) else estimate.ci_high
  return estimate, (estimate.estimate, low, high)


def _groups_section(doc: Document, study: Study, images: dict) -> None:
  doc.heading("Gains by language group")
  doc.paragraph("Per language, the mean delta over its tasks; per group, the mean over its "
                "languages with a bootstrap CI over them (none below 2 languages). Resource "
                "class: Joshi et al. 2020, low = 0-2, mid = 3, high = 4-5.")
  if study.uneven_coverage:
    doc.warning("languages appear in different tasks, so per-language means mix task difficulty "
                "with language; read the per-task tables above alongside.")
  targets = study.targets()
  gains = {c: study.per_language(study.deltas(c)) for c in study.conditions}
  for title, key in (("resource class", lambda i: i.resource_group),
                     ("family", lambda i: i.family), ("script", lambda i: i.script)):
    groups: dict[str, list[str]] = {}
    for language in targets:
      groups.setdefault(key(study.info[language]), []).append(language)
    order = ([g for g in RESOURCE_GROUPS + (UNKNOWN,) if g in groups] if title == "resource class"
             else sorted(groups))
    doc.heading(f"By {title}", 3)
    rows, bars = [], {c.label: [] for c in study.conditions}
    for group in order:
      row = [group, " ".join(groups[group])]
      for c in study.conditions:
        estimate, bar = _group_estimate([gains[c][l] for l in groups[group]])
        row.append(estimate.format(1))
        bars[c.label].append(bar)
      rows.append(row)
    doc.table([title, "languages"] + [c.label for c in study.conditions], rows)
    add_basis(doc, study, study.conditions)
    if title == "resource class" and study.conditions:
      note = figure_note(study, study.conditions)
      if order == [UNKNOWN]:
        note = "No language has a known resource class (synthetic languages). " + note
      images["gain_by_resource_class.png"] = plots.gain_by_group(
          order, bars, "Mean gain by resource class (95% bootstrap CI over languages)", note)
      doc.image("gain_by_resource_class.png", "Mean gain by resource class")


def _distance_values(study: Study, kind: str, drop_imputed: bool = False) -> dict[str, float]:
  values = {}
  for language in study.targets():
    info = study.info[language]
    if kind in info.distances and not (drop_imputed and info.mostly_imputed):
      values[language] = info.distances[kind]
  return values


def _distance_section(doc: Document, study: Study, images: dict) -> None:
  doc.heading("Gain vs typological distance to English")
  distance = _distance_values(study, MAIN_DISTANCE)
  source = ("the synthetic generator's distance (results.json languages block)" if study.synthetic
            else "URIEL syntactic distance to English (URIEL+ 1.3.2, angular, over features "
                 "observed for both languages; see analysis/SOURCES.md)")
  doc.paragraph(f"Distance: {source}. Gain: per-language mean delta over tasks. Spearman rho with "
                "a bootstrap CI over languages and a permutation p-value.")
  if study.uneven_coverage:
    doc.warning("languages appear in different tasks, so the per-language mean mixes task "
                "difficulty with distance; the per-task rows keep tasks apart.")
  missing = [l for l in study.targets() if l not in distance]
  if missing:
    doc.paragraph(f"No distance for: {', '.join(missing)} (left out).")
  if len(distance) < 3 or not study.conditions:
    doc.paragraph("Not computable: needs at least 3 target languages with a distance and a "
                  "condition besides the baseline.")
    return
  rows, series = [], {}
  for c in study.conditions:
    deltas = study.deltas(c)
    gains = study.per_language(deltas)
    languages = [l for l in distance if l in gains]
    rows.append([c.label, "all tasks (per-language mean)",
                 spearman([distance[l] for l in languages], [gains[l] for l in languages]).format()])
    for task in study.tasks:
      task_languages = [l for l in languages if l in deltas[task]]
      rows.append([c.label, task, spearman([distance[l] for l in task_languages],
                                           [deltas[task][l] for l in task_languages]).format()])
    series[c.label] = ([distance[l] for l in languages], [gains[l] for l in languages], languages)
  doc.table(["condition", "tasks", "Spearman rho (gain, distance)"], rows)
  add_basis(doc, study, study.conditions)
  images["gain_vs_distance.png"] = plots.gain_vs_distance(
      series, "syntactic distance to English" if not study.synthetic
      else "typological distance to English (generator)",
      figure_note(study, study.conditions))
  doc.image("gain_vs_distance.png", "Gain vs typological distance")
  if not study.synthetic:
    _distance_sensitivity(doc, study)


def _distance_sensitivity(doc: Document, study: Study) -> None:
  doc.heading("Sensitivity: other distances, and without mostly-imputed typology", 3)
  doc.paragraph("Blaschke et al. 2025 find that the effect of similarity depends on the measure, "
                "so the same correlation for URIEL's other distances; 'syntactic (observed only)' "
                "drops languages whose URIEL syntax is mostly imputed (af gu ht jv kk ml).")
  rows = []
  kinds = [(k, False) for k in DISTANCE_COLUMNS] + [(MAIN_DISTANCE, True)]
  for c in study.conditions:
    gains = study.per_language(study.deltas(c))
    for kind, drop in kinds:
      distance = _distance_values(study, kind, drop)
      languages = [l for l in distance if l in gains]
      label = f"{kind} (observed only)" if drop else kind
      rows.append([c.label, label, spearman([distance[l] for l in languages],
                                            [gains[l] for l in languages]).format()])
  doc.table(["condition", "distance", "Spearman rho (gain, distance)"], rows)
  add_basis(doc, study, study.conditions)


def build_report(workdirs: Sequence[PathLike], baseline: Union[PathLike, Sequence[PathLike]],
                 out_dir: PathLike) -> Path:
  """Write report.md, report.html and the PNGs into out_dir; return the path of report.md.

  `baseline` is one workdir or several (replicates); workdirs with the baseline's
  condition join it. Raises DataError (one line naming the workdir) for a workdir
  without a readable results.json, and when the runs share no (task, language).
  """
  baselines = [baseline] if isinstance(baseline, (str, Path)) else list(baseline)
  baseline_runs = load_runs(baselines)
  runs = load_runs(list(workdirs))
  study = Study(runs, baseline_runs)
  out_dir = Path(out_dir)
  doc = Document("X-STILTs report")
  images: dict[str, bytes] = {}
  _runs_section(doc, study)
  answers_at = len(doc.blocks)
  _deltas_section(doc, study, images)
  _xtreme_section(doc, study)
  _gap_section(doc, study)
  _groups_section(doc, study, images)
  _distance_section(doc, study, images)
  answers = questions.add_question_sections(doc, study)
  summary = Document("")
  summary.heading("Answers to the five questions")
  summary.paragraph("Each answer gives its estimate with a 95% CI, a p-value and what it rests "
                    "on; the evidence is in the question's section below.")
  summary.bullets([f"{q}: {text}" for q, text in answers])
  doc.blocks[answers_at:answers_at] = summary.blocks
  for name, png in images.items():
    write_atomic(out_dir / name, png)
  write_atomic(out_dir / "report.html", doc.to_html())
  report = out_dir / "report.md"
  write_atomic(report, doc.to_markdown())
  return report


def main_report(argv: Optional[Sequence[str]] = None) -> int:
  """CLI glue: xstilts report WORKDIR... --baseline WORKDIR [--baseline ...] --out DIR."""
  parser = argparse.ArgumentParser(
      prog="xstilts report",
      description="Compare experiment workdirs (their results.json) against a baseline.")
  parser.add_argument("workdirs", nargs="+", help="experiment workdirs holding results.json")
  parser.add_argument("--baseline", action="append", required=True, metavar="WORKDIR",
                      help="the baseline run (no intermediate task); repeat for its replicates")
  parser.add_argument("--out", required=True, metavar="DIR", help="where the report is written")
  args = parser.parse_args(argv)
  report = build_report(args.workdirs, args.baseline, args.out)
  print(f"wrote {report} and {report.with_suffix('.html')}")
  return 0
