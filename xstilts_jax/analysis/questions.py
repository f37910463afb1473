"""The five research questions: one section of evidence each, and an answer in words.

An answer states its estimate and uncertainty, or says "cannot be answered from these
runs: need X" when the runs lack what it needs.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Optional, Sequence

import numpy as np

from xstilts_jax.analysis.languages import language_table
from xstilts_jax.analysis.render import Document
from xstilts_jax.analysis.results import Condition, find_matching
from xstilts_jax.analysis.stats import (
    Estimate, bootstrap_mean, group_difference, paired_difference, slope, spearman)
from xstilts_jax.analysis.study import Study
from xstilts_jax.tasks.registry import TASKS

QUESTIONS = (
    ("Q1", "Does continued MLM on typologically diverse low-resource languages before English "
           "intermediate training improve zero-shot transfer over English-only intermediate "
           "training?"),
    ("Q2", "Do more linguistically diverse intermediate tasks make transfer more robust to "
           "typological distance?"),
    ("Q3", "Does the similarity of intermediate and target task (TextEmb cosine) predict the "
           "gains on low-resource languages?"),
    ("Q4", "What does intermediate training do on XCOPA (XTREME-R's commonsense task)?"),
    ("Q5", "Do gains from intermediate training differ between low- and high-resource "
           "languages?"),
)
DIVERSITY_KEYS = ("word_class_entropy", "distinct_2")


def cannot(need: str) -> str:
  return f"cannot be answered from these runs: need {need}."


def verdict(estimate: Estimate, positive: str, negative: str, alpha: float = 0.05) -> str:
  """Words for an estimate: a direction only when the CI excludes 0 and p < alpha."""
  if math.isnan(estimate.estimate):
    return f"not computable (n = {estimate.n})"
  if math.isnan(estimate.ci_low) or math.isnan(estimate.p_value):
    return f"{estimate.format()}: too few units for a CI or test, no conclusion"
  direction = positive if estimate.estimate > 0 else negative
  if estimate.ci_excludes_zero and estimate.p_value < alpha:
    return f"{direction}: {estimate.format()}"
  if estimate.ci_excludes_zero:
    return (f"leans to '{direction}' but is not significant (the permutation test, exact at "
            f"small n, gives p >= {alpha}; a bootstrap CI over so few units is too narrow): "
            f"{estimate.format()}")
  return f"no clear effect (CI includes 0): {estimate.format()}"


def seeds_caveat(study: Study, conditions: Sequence[Condition]) -> str:
  single = study.single_run(conditions)
  return (f" Rests on one seed for {', '.join(single)}, so seed noise is not excluded."
          if single else "")


def basis(study: Study, conditions: Sequence[Condition], with_baseline: bool = True) -> str:
  """What a comparison rests on (the baseline too when it is against the baseline)."""
  conditions = ([study.baseline] if with_baseline else []) + list(conditions)
  return study.basis(conditions) + seeds_caveat(study, conditions)


def _section(doc: Document, key: str) -> None:
  text = dict(QUESTIONS)[key]
  doc.heading(f"{key}: {text}")


def intermediate_only(study: Study, single: bool = False) -> list[Condition]:
  """Conditions that differ from the baseline only in their intermediate tasks."""
  base = study.baseline
  return [c for c in study.conditions if c.intermediate and (not single or len(c.intermediate) == 1)
          and dataclasses.replace(c, intermediate=base.intermediate) == base]


# --- Q1 ----------------------------------------------------------------------


def _is_control(condition: Condition) -> bool:
  """MLM only on English or high-resource (Joshi 4-5) text: the 'more MLM steps' control."""
  table = language_table()
  return bool(condition.mlm_languages) and all(
      l == "en" or (l in table and (table[l].joshi_class or 0) >= 4)
      for l in condition.mlm_languages)


def q1_mlm(doc: Document, study: Study) -> str:
  _section(doc, "Q1")
  candidates = [study.baseline] + study.conditions
  arms = [c for c in candidates if c.mlm_languages and not _is_control(c)]
  pairs = [(c, find_matching(c, candidates, mlm_languages=())) for c in arms]
  pairs = [(c, p) for c, p in pairs if p is not None]
  if not pairs:
    need = ("runs with continued MLM (mlm_languages set) and the matching English-only run "
            "(same intermediate tasks, mlm_languages = [])")
    doc.paragraph(cannot(need))
    return cannot(need)
  doc.paragraph("Per language, the mean over tasks of score(MLM first) - score(English-only), "
                "split into languages not in the MLM set (transfer), languages in it "
                "(adaptation, not transfer) and English (forgetting). Against a control arm "
                "(MLM on English or high-resource text, same intermediate tasks): the same "
                "difference over the languages in neither MLM set.")
  rows, answers, used = [], [], []
  for arm, partner in pairs:
    gains = study.per_language(study.deltas(arm, partner))
    mlm = set(arm.mlm_languages)
    unseen = [gains[l] for l in study.targets() if l not in mlm and l in gains]
    seen = [gains[l] for l in study.targets() if l in mlm and l in gains]
    unseen_estimate, seen_estimate = bootstrap_mean(unseen), bootstrap_mean(seen)
    english = gains.get("en", math.nan)
    infos = [study.info[l] for l in arm.mlm_languages if l in study.info]
    distances = [i.distance for i in infos if i.distance is not None]
    set_text = (f"{len(arm.mlm_languages)} languages, {len({i.family for i in infos})} families, "
                f"{len({i.script for i in infos})} scripts, mean distance "
                f"{num_or_na(np.mean(distances) if distances else None)}")
    controls = [c for c in candidates if _is_control(c) and dataclasses.replace(
        c, mlm_languages=arm.mlm_languages) == arm]
    control_text = "no control arm"
    used += [arm, partner] + controls[:1]
    answer = (f"MLM on {','.join(arm.mlm_languages)} before "
              f"{'+'.join(arm.intermediate) or 'target training'}, on languages outside the "
              f"MLM set: " + verdict(unseen_estimate, "helps", "hurts")
              + f"; English changes by {english:+.1f}")
    if controls:
      against = study.per_language(study.deltas(arm, controls[0]))
      outside = mlm | set(controls[0].mlm_languages)
      control = bootstrap_mean([against[l] for l in study.targets()
                                if l not in outside and l in against])
      control_text = f"{controls[0].label}: {control.format()}"
      answer += (f"; against the control {controls[0].label}: "
                 + verdict(control, "the diverse set helps beyond more MLM",
                           "the diverse set does worse than the control"))
    else:
      answer += ("; no control arm with the same MLM budget on English/high-resource text, so "
                 "'diverse languages' cannot be separated from 'more MLM'")
    answers.append(answer + ".")
    rows.append([arm.label, partner.label, set_text, unseen_estimate.format(),
                 seen_estimate.format(), f"{english:+.1f}" if not math.isnan(english) else "n/a",
                 control_text])
  doc.table(["MLM arm", "English-only arm", "MLM language set", "change, other languages",
             "change, MLM languages", "change, English", "vs control arm"], rows)
  doc.paragraph(basis(study, used, with_baseline=False))
  if "no control arm" in (r[-1] for r in rows):
    doc.warning("no control arm (the same amount of MLM on English or high-resource text): a gain "
                "cannot be told apart from the effect of more MLM steps.")
  return " ".join(answers) + " " + basis(study, used, False)


def num_or_na(x: Optional[float]) -> str:
  return "n/a" if x is None or math.isnan(x) else f"{x:.2f}"


# --- Q2 ----------------------------------------------------------------------


def q2_diversity(doc: Document, study: Study) -> str:
  _section(doc, "Q2")
  distance = {l: study.info[l].distance for l in study.targets()
              if study.info[l].distance is not None}
  conditions = [c for c in intermediate_only(study, single=True)
                if c.intermediate[0] in _diversity_of(study, c)]
  if len(distance) < 3:
    need = "at least 3 target languages with a typological distance"
    doc.paragraph(cannot(need))
    return cannot(need)
  if not conditions:
    need = ("runs with a single English intermediate task each, otherwise like the baseline, "
            "and its diversity (task_diversity in results.json)")
    doc.paragraph(cannot(need))
    return cannot(need)
  doc.paragraph("Robustness to distance = slope of the per-language mean gain against distance "
                "(points per unit of distance; positive = the gain grows with distance, so the "
                "distance penalty shrinks). Diversity of each intermediate task's English "
                "training text from data/diversity.py: word_class_entropy (entropy of "
                "word-class trigrams, a proxy for POS n-gram entropy) and distinct_2.")
  languages = sorted(distance)
  rows, slopes = [], {}
  for c in conditions:
    gains = study.per_language(study.deltas(c))
    used = [l for l in languages if l in gains]
    slopes[c] = slope([distance[l] for l in used], [gains[l] for l in used])
    diversity = _diversity_of(study, c)[c.intermediate[0]]
    worst = min(gains[l] for l in used)
    rows.append([c.label] + [num_or_na(diversity.get(k)) for k in DIVERSITY_KEYS]
                + [slopes[c].format(), f"{worst:+.1f}"])
  doc.table(["intermediate task"] + list(DIVERSITY_KEYS)
            + ["slope of gain vs distance", "worst-language gain"], rows)
  doc.paragraph(basis(study, conditions))
  key = DIVERSITY_KEYS[0]
  ranked = sorted(conditions, key=lambda c: _diversity_of(study, c)[c.intermediate[0]].get(key, 0))
  if len(conditions) >= 4:
    estimate = spearman([_diversity_of(study, c)[c.intermediate[0]].get(key, math.nan)
                         for c in conditions], [slopes[c].estimate for c in conditions])
    text = (f"across {len(conditions)} intermediate tasks, Spearman rho of {key} and the slope: "
            + verdict(estimate, "more diverse tasks are more robust",
                      "more diverse tasks are less robust") + " (bootstrap over tasks).")
  elif len(conditions) >= 2:
    most, least = ranked[-1], ranked[0]
    a, b = study.per_language(study.deltas(most)), study.per_language(study.deltas(least))
    used = [l for l in languages if l in a and l in b]
    estimate = slope([distance[l] for l in used], [a[l] - b[l] for l in used])
    text = (f"most diverse task ({most.label}) minus least diverse ({least.label}), difference "
            "of slopes of gain vs distance over the same languages: "
            + verdict(estimate, "the more diverse task is more robust to distance",
                      "the more diverse task is less robust to distance")
            + f". Only {len(conditions)} tasks: a correlation over tasks needs at least 4.")
  else:
    text = (f"one intermediate task ({conditions[0].label}), slope of gain vs distance "
            f"{slopes[conditions[0]].format()}; "
            + cannot("at least 2 intermediate tasks of different diversity against the same "
                     "baseline to compare"))
  doc.paragraph(text)
  return text + " " + basis(study, conditions)


def _diversity_of(study: Study, condition: Condition) -> dict:
  merged = {}
  for run in study.runs_of(condition):
    merged.update(run.task_diversity)
  return merged


# --- Q3 ----------------------------------------------------------------------


def _cosine(u: Sequence[float], v: Sequence[float]) -> float:
  u, v = np.asarray(u, float), np.asarray(v, float)
  denominator = np.linalg.norm(u) * np.linalg.norm(v)
  return float(u @ v / denominator) if denominator else math.nan


def embedding_key(task: str) -> str:
  """A target's TextEmb comes from its English training task (xnli -> mnli, xquad -> squad_v1)."""
  spec = TASKS.get(task)
  return (spec.train_task or task) if spec else task


def q3_similarity(doc: Document, study: Study) -> str:
  _section(doc, "Q3")
  conditions = intermediate_only(study)
  low = [l for l in study.targets() if study.info[l].low_resource]
  known = [l for l in study.targets() if study.info[l].low_resource is not None]
  if known:
    chosen, what = low, "low-resource languages (Joshi 0-2)"
  else:
    chosen, what = study.targets(), ("all non-English languages (no language has a known "
                                      "resource class, e.g. synthetic ones)")
  if not chosen:
    need = "low-resource target languages (Joshi 0-2) in the evaluation"
    doc.paragraph(cannot(need))
    return cannot(need)
  rows, similarity, gain = [], [], []
  for c in conditions:
    embeddings = {}
    for run in study.runs_of(c):
      embeddings.update(run.task_embeddings)
    deltas = study.deltas(c)
    if not all(i in embeddings for i in c.intermediate):
      continue
    source = np.mean([embeddings[i] for i in c.intermediate], axis=0)
    for task in study.tasks:
      languages = [l for l in chosen if l in deltas[task]]
      target = embedding_key(task)
      if target not in embeddings or not languages:
        continue
      s = _cosine(source, embeddings[target])
      g = float(np.mean([deltas[task][l] for l in languages]))
      rows.append([c.label, task, f"{s:.3f}", f"{g:+.2f}", " ".join(languages)])
      similarity.append(s)
      gain.append(g)
  if len(rows) < 3:
    need = ("at least 3 (intermediate, target) pairs with task_embeddings for both tasks, from "
            "runs that differ from the baseline only in their intermediate tasks")
    doc.paragraph(cannot(need))
    return cannot(need)
  doc.paragraph(f"Unit: (intermediate task, target task), over runs that differ from the "
                f"baseline only in their intermediate tasks. Similarity: cosine of the TextEmb "
                f"vectors in results.json (several intermediate tasks: their unweighted mean "
                f"vector), the target's from its English training task (xnli: "
                f"mnli, xquad and mlqa: squad_v1, xcopa: copa); retrieval targets have none. "
                f"Gain: mean delta over {what}.")
  doc.table(["intermediate", "target", "cosine", "mean gain", "languages"], rows)
  estimate = spearman(similarity, gain)
  doc.paragraph(f"Spearman rho (similarity, gain), bootstrap over pairs: {estimate.format()}. "
                + basis(study, conditions))
  intermediates = {r[0] for r in rows}
  note = (" Only one intermediate condition: similarity varies only with the target, so this mixes "
          "task similarity with target-task difficulty." if len(intermediates) < 2 else "")
  return (f"over {len(rows)} task pairs, on {what}: "
          + verdict(estimate, "more similar tasks give larger gains",
                    "more similar tasks give smaller gains") + "." + note
          + " " + basis(study, conditions))


# --- Q4 ----------------------------------------------------------------------


def q4_xcopa(doc: Document, study: Study) -> str:
  _section(doc, "Q4")
  if "xcopa" not in study.tasks:
    need = "runs evaluated on XCOPA (target task 'xcopa', trained on English COPA)"
    doc.paragraph(cannot(need))
    return cannot(need)
  if not study.conditions:
    need = "a run with intermediate training besides the baseline"
    doc.paragraph(cannot(need))
    return cannot(need)
  rows, answers = [], []
  for c in study.conditions:
    deltas = study.deltas(c)
    xcopa = bootstrap_mean([deltas["xcopa"][l] for l in study.targets(study.languages["xcopa"])])
    others = [t for t in study.tasks if t != "xcopa"]
    other_gain = study.per_language(deltas, others) if others else {}
    other = bootstrap_mean([other_gain[l] for l in study.targets() if l in other_gain])
    rows.append([c.label, xcopa.format(), other.format() if others else "n/a"])
    answers.append(f"{c.label}: mean XCOPA gain " + verdict(xcopa, "a gain", "a loss"))
  doc.paragraph("Mean delta over XCOPA's languages (bootstrap over languages), beside the mean "
                "per-language delta on the other tasks.")
  doc.table(["condition", "XCOPA gain", "gain on other tasks"], rows)
  doc.paragraph(basis(study, study.conditions))
  return "; ".join(answers) + ". " + basis(study, study.conditions)


# --- Q5 ----------------------------------------------------------------------


def q5_resource(doc: Document, study: Study) -> str:
  _section(doc, "Q5")
  classes = {l: study.info[l].joshi_class for l in study.targets()}
  low = [l for l, j in classes.items() if j is not None and j <= 2]
  high = [l for l, j in classes.items() if j is not None and j >= 4]
  if not any(j is not None for j in classes.values()):
    need = ("languages with a known resource class (real XTREME languages; synthetic languages "
            "have none)")
    doc.paragraph(cannot(need))
    return cannot(need)
  if not low or not high or not study.conditions:
    need = ("both low-resource (Joshi 0-2) and high-resource (Joshi 4-5) target languages, and "
            "a run besides the baseline")
    doc.paragraph(cannot(need))
    return cannot(need)
  doc.paragraph(f"Low = Joshi 0-2 ({' '.join(low)}); high = Joshi 4-5 ({' '.join(high)}). "
                "Unpaired: per-language mean gains, low minus high (label permutation). Paired: "
                "per task, mean gain on its low minus on its high languages, paired over tasks, "
                "which keeps task difficulty out. Also Spearman of gain and log CC-100 size.")
  rows, answers = [], []
  for c in study.conditions:
    deltas = study.deltas(c)
    gains = study.per_language(deltas)
    unpaired = group_difference([gains[l] for l in low], [gains[l] for l in high])
    low_by_task, high_by_task = [], []
    for task in study.tasks:
      lows = [deltas[task][l] for l in low if l in deltas[task]]
      highs = [deltas[task][l] for l in high if l in deltas[task]]
      if lows and highs:
        low_by_task.append(float(np.mean(lows)))
        high_by_task.append(float(np.mean(highs)))
    paired = paired_difference(low_by_task, high_by_task)
    sized = [l for l in study.targets() if study.info[l].cc100_size_gib]
    size = spearman([math.log(study.info[l].cc100_size_gib) for l in sized],
                    [gains[l] for l in sized])
    rows.append([c.label, unpaired.format(), paired.format(), size.format()])
    answers.append(f"{c.label}: low minus high, paired over tasks: "
                   + verdict(paired, "low-resource languages gain more",
                             "low-resource languages gain less")
                   + "; unpaired over languages: "
                   + verdict(unpaired, "low-resource languages gain more",
                             "low-resource languages gain less"))
  doc.table(["condition", "low - high (languages)", "low - high (paired over tasks)",
             "Spearman (gain, log CC-100 GiB)"], rows)
  doc.paragraph(basis(study, study.conditions))
  return "; ".join(answers) + ". " + basis(study, study.conditions)


def add_question_sections(doc: Document, study: Study) -> list[tuple[str, str]]:
  """Append one section per question; return [(question id and text, answer)]."""
  answers = []
  for (key, text), answer in zip(QUESTIONS, (q1_mlm, q2_diversity, q3_similarity, q4_xcopa,
                                             q5_resource)):
    answers.append((f"{key} ({text})", answer(doc, study)))
  return answers
