"""The five research questions: one primary test each, Holm within each question, one answer.

Runs (seeds) are the unit of every primary test: a run is reduced to one number per
comparison (its mean over the question's tasks and languages, or a within-task contrast),
and the runs of two arms are compared with Welch's t. Q2 and Q3 correlate properties of
intermediate tasks with their gains, so their unit is the condition (its runs averaged),
tested by permuting conditions. A question's family (its conditions, or its target
tasks) is corrected with Holm. No direction is claimed from fewer than `MIN_RUNS` runs in
an arm (the baseline included): the estimate is given and the answer says it cannot
decide. Everything else in a question's section is labelled exploratory.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Optional, Sequence

import numpy as np

from xstilts_jax.analysis.languages import language_table
from xstilts_jax.analysis.render import Document
from xstilts_jax.analysis.results import Condition, find_matching
from xstilts_jax.analysis.stats import Estimate, holm, mean_within_correlation, spearman, welch
from xstilts_jax.analysis.study import Study
from xstilts_jax.tasks.registry import TASKS

ALPHA = 0.05
MIN_RUNS = 3  # runs per arm, the baseline included, before a direction can be claimed
MIN_UNITS_CORRELATION = 5  # with 4 units the smallest two-sided permutation p is 2/24 > 0.05
VIF_LIMIT = 5.0  # above it resource class cannot be told apart from distance and script

QUESTIONS = (
    (
        "q1",
        "Does continued MLM on typologically diverse low-resource languages before English "
        "intermediate training improve zero-shot transfer over English-only intermediate "
        "training?",
    ),
    ("q2", "Do more linguistically diverse intermediate tasks make transfer more robust to " "typological distance?"),
    (
        "q3",
        "Does the similarity of intermediate and target task (TextEmb cosine) predict the "
        "gains on low-resource languages?",
    ),
    ("q4", "What does intermediate training do on XCOPA (XTREME-R's commonsense task)?"),
    ("q5", "Do gains from intermediate training differ between low- and high-resource " "languages?"),
)
PRIMARY_TESTS = {
    "q1": "per MLM-first arm: mean score over the target languages outside the MLM set (each "
    "language's mean over tasks), arm runs vs the runs of the same condition without "
    "MLM, Welch t on run means; Holm over the arms",
    "q2": "Spearman rho across single intermediate tasks (conditions) of diversity "
    "(word_class_entropy) and robustness (least-squares slope of the per-language mean "
    "gain on typological distance); permutation of tasks",
    "q3": "within each target task, Spearman rho across intermediate conditions of the cosine "
    "of centred TextEmb vectors and the mean gain on low-resource languages; the mean "
    "of these rhos over target tasks, tested by permuting conditions jointly in all "
    "target tasks",
    "q4": "per condition: mean XCOPA score over its languages, condition runs vs baseline runs, "
    "Welch t on run means; Holm over the conditions",
    "q5": "per condition: within-task contrast low-resource (Joshi 0-2) minus high-resource "
    "(Joshi 4-5) languages, per run (adjusted for distance and script where the "
    "languages can separate them), condition runs vs baseline runs, Welch t; Holm over "
    "the conditions",
}


@dataclasses.dataclass
class Comparison:
  """One test of a question's family, on the runs of its arms."""

  label: str
  estimate: Estimate
  runs: dict[str, int]
  eligible: bool = True
  why_not: str = ""
  p_adjusted: float = math.nan


@dataclasses.dataclass
class Answer:
  """What the report concludes for one question; `to_json` is its answers.json entry."""

  key: str
  question: str
  primary_test: str
  decision: str
  reason: str
  estimate: Optional[float] = None
  ci: Optional[tuple[float, float]] = None
  p_adjusted: Optional[float] = None
  runs: dict[str, int] = dataclasses.field(default_factory=dict)
  comparisons: list[Comparison] = dataclasses.field(default_factory=list)

  @property
  def claims(self) -> bool:
    return self.decision not in ("no_clear_effect", "cannot_answer")

  def to_json(self) -> dict:
    def number(x):
      return None if x is None or not math.isfinite(x) else float(x)

    ci = (
        None
        if self.ci is None or not all(math.isfinite(v) for v in self.ci)
        else [float(self.ci[0]), float(self.ci[1])]
    )
    return {
        "question": self.question,
        "primary_test": self.primary_test,
        "estimate": number(self.estimate),
        "ci": ci,
        "p_adjusted": number(self.p_adjusted),
        "decision": self.decision,
        "reason": self.reason,
        "runs": dict(self.runs),
    }


class NullDocument(Document):
  """A document that keeps nothing: the primary tests alone (calibration, answers only)."""

  live = False

  def __init__(self):
    super().__init__("")

  def heading(self, *args, **kwargs) -> None:
    pass

  def paragraph(self, *args, **kwargs) -> None:
    pass

  def warning(self, *args, **kwargs) -> None:
    pass

  def bullets(self, *args, **kwargs) -> None:
    pass

  def table(self, *args, **kwargs) -> None:
    pass

  def image(self, *args, **kwargs) -> None:
    pass


def fmt(x: Optional[float], digits: int = 2, sign: bool = True) -> str:
  if x is None or not math.isfinite(x):
    return "n/a"
  return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def describe(estimate: Estimate, digits: int = 2) -> str:
  """'+1.20 (95% CI [+0.30, +2.10], p = 0.012)' without n (the runs are stated apart)."""
  ci = (
      "no CI"
      if not math.isfinite(estimate.ci_low)
      else f"95% CI [{fmt(estimate.ci_low, digits)}, {fmt(estimate.ci_high, digits)}]"
  )
  p = "" if not math.isfinite(estimate.p_value) else f", p = {estimate.p_value:.3g}"
  return f"{fmt(estimate.estimate, digits)} ({ci}{p})"


def runs_text(runs: dict[str, int]) -> str:
  """'3 vs 3' for two arms; 'baseline 3, 12 conditions with 2-3' for many."""
  if len(runs) <= 2:
    return " vs ".join(str(n) for n in runs.values()) + " runs"
  counts = list(runs.values())
  base = [n for name, n in runs.items() if name.endswith("(baseline)")]
  others = [n for name, n in runs.items() if not name.endswith("(baseline)")]
  spread = f"{min(others)}" if min(others) == max(others) else f"{min(others)}-{max(others)}"
  head = f"baseline {base[0]}, " if base else ""
  return f"runs: {head}{len(others)} conditions with {spread} each" if others else f"runs: {counts}"


def run_counts(study: Study, conditions: Sequence[Condition]) -> dict[str, int]:
  counts = {}
  for c in dict.fromkeys(conditions):
    name = f"{c.label} (baseline)" if c == study.baseline else c.label
    counts[name] = study.n_runs(c)
  return counts


def arm_comparison(study: Study, label: str, arm: Condition, reference: Condition, summary: Callable) -> Comparison:
  """Welch t of summary(run) over the runs of `arm` against those of `reference`."""
  a, b = study.run_values(arm, summary), study.run_values(reference, summary)
  estimate = welch(a, b)
  short = [f"{c.label}: {len(v)}" for c, v in ((arm, a), (reference, b)) if len(v) < MIN_RUNS]
  why = f"fewer than {MIN_RUNS} runs ({'; '.join(short)})" if short else ""
  if not short and not math.isfinite(estimate.p_value):
    why = "the runs of both arms are identical: no run-to-run variance to test against"
  return Comparison(label, estimate, run_counts(study, [arm, reference]), not why, why)


def decide(key: str, comparisons: Sequence[Comparison], positive: str, negative: str, what: str) -> Answer:
  """Holm over the eligible comparisons; the answer states the one conclusion they allow."""
  question = dict(QUESTIONS)[key]
  runs: dict[str, int] = {}
  for c in comparisons:
    runs.update(c.runs)
  answer = Answer(key, question, PRIMARY_TESTS[key], "cannot_answer", "", runs=runs, comparisons=list(comparisons))
  eligible = [c for c in comparisons if c.eligible and math.isfinite(c.estimate.p_value)]
  for c, p in zip(eligible, holm([c.estimate.p_value for c in eligible])):
    c.p_adjusted = p
  skipped = [c for c in comparisons if c not in eligible]
  skipped_text = (
      f" {len(skipped)} of {len(comparisons)} {what} not tested (fewer than "
      f"{MIN_RUNS} runs per arm, or no variance)."
      if skipped and eligible
      else ""
  )
  if not eligible:
    shown = comparisons[0]
    answer.estimate = shown.estimate.estimate
    answer.ci = (shown.estimate.ci_low, shown.estimate.ci_high)
    answer.reason = (
        f"cannot decide: {shown.why_not or 'no test possible'}; a direction needs "
        f"at least {MIN_RUNS} runs in every arm, the baseline included. Estimate "
        f"for {shown.label}: {describe(shown.estimate)}."
    )
    return answer
  best = min(eligible, key=lambda c: (c.p_adjusted, -abs(c.estimate.estimate)))
  answer.estimate, answer.p_adjusted = best.estimate.estimate, best.p_adjusted
  answer.ci = (best.estimate.ci_low, best.estimate.ci_high)
  # A claim needs both: the (adjusted) test and the interval. For Welch they agree; for the
  # permutation tests of Q2 and Q3 the bootstrap interval is a second, independent check.
  significant = [c for c in eligible if c.p_adjusted < ALPHA and c.estimate.ci_excludes_zero]
  signs = {c.estimate.estimate > 0 for c in significant}
  family = f"Holm over {len(eligible)} {what}" if len(eligible) > 1 else "its single test (no correction needed)"
  shown = (
      f"{best.label}: {describe(best.estimate)}, Holm-adjusted p = {best.p_adjusted:.3g} " f"({runs_text(best.runs)})"
  )
  if not significant:
    answer.decision = "no_clear_effect"
    answer.reason = (
        f"no test significant at {ALPHA} after {family} with a 95% CI excluding "
        f"0; smallest adjusted p: {shown}.{skipped_text}"
    )
  elif len(signs) == 2:
    answer.decision = "mixed"
    up = sum(c.estimate.estimate > 0 for c in significant)
    answer.reason = (
        f"{family}: {up} significant in the '{positive}' direction, "
        f"{len(significant) - up} in the '{negative}' direction; strongest: "
        f"{shown}.{skipped_text}"
    )
  else:
    answer.decision = positive if signs == {True} else negative
    counted = (
        f"{len(significant)} of {len(eligible)} {what} significant after {family}, " "all in this direction"
        if len(eligible) > 1
        else f"significant ({family})"
    )
    answer.reason = f"{counted}; strongest: {shown}.{skipped_text}"
  return answer


def cannot(key: str, need: str, runs: Optional[dict] = None) -> Answer:
  return Answer(
      key,
      dict(QUESTIONS)[key],
      PRIMARY_TESTS[key],
      "cannot_answer",
      f"cannot be answered from these runs: need {need}.",
      runs=runs or {},
  )


def _section(doc: Document, key: str) -> None:
  doc.heading(f"{key.upper()}: {dict(QUESTIONS)[key]}")
  doc.paragraph(f"Primary test: {PRIMARY_TESTS[key]}.")


def _primary_table(
    doc: Document, answer: Answer, header: Sequence[str], extra: Callable[[Comparison], list] = lambda c: []
) -> None:
  rows = []
  for c in sorted(
      answer.comparisons, key=lambda c: (not c.eligible, c.p_adjusted if math.isfinite(c.p_adjusted) else 2.0)
  ):
    adjusted = fmt(c.p_adjusted, 3, sign=False) if c.eligible else f"not tested: {c.why_not}"
    rows.append([c.label, runs_text(c.runs), describe(c.estimate), adjusted] + extra(c))
  doc.table(["comparison", "runs (arm vs reference)", "estimate (95% CI, p)", "Holm p"] + list(header), rows)


def _conclude(doc: Document, answer: Answer) -> None:
  doc.paragraph(f"Answer: {answer.decision.replace('_', ' ')}. {answer.reason}")


def intermediate_only(study: Study, single: bool = False) -> list[Condition]:
  """Conditions that differ from the baseline only in their intermediate tasks."""
  base = study.baseline
  return [
      c
      for c in study.conditions
      if c.intermediate
      and (not single or len(c.intermediate) == 1)
      and dataclasses.replace(c, intermediate=base.intermediate) == base
  ]


def language_mean(languages: dict[str, list[str]]) -> Callable[[dict], float]:
  """A run's summary: the mean over languages of each language's mean over its tasks."""
  by_language: dict[str, list[str]] = {}
  for task, codes in languages.items():
    for code in codes:
      by_language.setdefault(code, []).append(task)

  items = list(by_language.items())

  def summary(scores: dict) -> float:
    return sum(sum(scores[t][l] for t in ts) / len(ts) for l, ts in items) / len(items)

  return summary


def cells(study: Study, keep: Callable[[str], bool], tasks: Optional[Sequence[str]] = None) -> dict[str, list[str]]:
  """task -> the non-English languages of the study kept by `keep`."""
  result = {}
  for task in tasks or study.tasks:
    codes = [l for l in study.targets(study.languages[task]) if keep(l)]
    if codes:
      result[task] = codes
  return result


# --- Q1 ----------------------------------------------------------------------


def _is_control(condition: Condition) -> bool:
  """MLM only on English or high-resource (Joshi 4-5) text: the 'more MLM steps' control."""
  table = language_table()
  return bool(condition.mlm_first) and all(
      l == "en" or (l in table and (table[l].joshi_class or 0) >= 4) for l in condition.mlm_first
  )


def q1_mlm(doc: Document, study: Study) -> Answer:
  _section(doc, "q1")
  candidates = [study.baseline] + study.conditions
  arms = [c for c in candidates if c.mlm_first and not _is_control(c)]
  pairs = [(c, find_matching(c, candidates, mlm_first=())) for c in arms]
  pairs = [(c, p) for c, p in pairs if p is not None]
  if not pairs:
    need = (
        "runs with continued MLM first (the run's mlm record) and the matching "
        "English-only runs (same intermediate tasks, no MLM)"
    )
    doc.paragraph(f"Cannot be answered from these runs: need {need}.")
    return cannot("q1", need)
  comparisons, exploratory = [], {}
  for arm, partner in pairs:
    mlm = set(arm.mlm_first)
    outside = cells(study, lambda l: l not in mlm)
    label = f"{arm.label} vs {partner.label}"
    if not outside:
      continue
    comparisons.append(arm_comparison(study, label, arm, partner, language_mean(outside)))
    if doc.live:
      inside = cells(study, lambda l: l in mlm)
      seen = describe(arm_comparison(study, label, arm, partner, language_mean(inside)).estimate) if inside else "n/a"
      english = {t: ["en"] for t in study.tasks if "en" in study.languages[t]}
      en = describe(arm_comparison(study, label, arm, partner, language_mean(english)).estimate) if english else "n/a"
      controls = [c for c in candidates if _is_control(c) and dataclasses.replace(c, mlm_first=arm.mlm_first) == arm]
      control = "no control arm"
      if controls:
        both = mlm | set(controls[0].mlm_first)
        away = cells(study, lambda l: l not in both)
        control = (
            (
                f"{controls[0].label}: "
                + describe(arm_comparison(study, label, arm, controls[0], language_mean(away)).estimate)
            )
            if away
            else "n/a"
        )
      exploratory[label] = [seen, en, control]
  if not comparisons:
    return cannot("q1", "target languages outside the MLM set")
  answer = decide("q1", comparisons, "helps", "hurts", "MLM arms")
  doc.paragraph(
      "Estimate: score(MLM first) - score(English-only), in points, over target "
      "languages outside the MLM set (transfer). Exploratory, not corrected: the "
      "same over the MLM languages (adaptation, not transfer), over English "
      "(forgetting), and against a control arm (MLM on English or high-resource "
      "text, same intermediate tasks) over the languages in neither MLM set."
  )
  _primary_table(
      doc,
      answer,
      ["exploratory: MLM languages", "exploratory: English", "exploratory: vs control arm"],
      lambda c: exploratory.get(c.label, ["", "", ""]),
  )
  if any(v[2] == "no control arm" for v in exploratory.values()):
    doc.warning(
        "no control arm (the same amount of MLM on English or high-resource text): a "
        "gain cannot be told apart from the effect of more MLM steps."
    )
  _conclude(doc, answer)
  return answer


# --- Q2 ----------------------------------------------------------------------

DIVERSITY_KEY = "word_class_entropy"


def _diversity_of(study: Study, condition: Condition) -> dict:
  merged = {}
  for run in study.runs_of(condition):
    merged.update(run.task_diversity)
  return merged


def gain_slope(study: Study, condition: Condition, distance: dict[str, float]) -> float:
  """Least-squares slope of the per-language mean gain (runs averaged) on distance."""
  gains = study.per_language(study.deltas(condition))
  used = [l for l in distance if l in gains]
  x = np.array([distance[l] for l in used])
  y = np.array([gains[l] for l in used])
  if len(used) < 2 or np.ptp(x) == 0:
    return math.nan
  return float(np.polyfit(x, y, 1)[0])


def q2_diversity(doc: Document, study: Study) -> Answer:
  _section(doc, "q2")
  distance = {l: study.info[l].distance for l in study.targets() if study.info[l].distance is not None}
  if len(distance) < 3:
    need = "at least 3 target languages with a typological distance"
    doc.paragraph(f"Cannot be answered from these runs: need {need}.")
    return cannot("q2", need)
  conditions = [
      c
      for c in intermediate_only(study, single=True)
      if DIVERSITY_KEY in _diversity_of(study, c).get(c.intermediate[0], {})
  ]
  runs = run_counts(study, [study.baseline] + conditions)
  if not conditions:
    need = (
        "runs with a single English intermediate task each, otherwise like the baseline, "
        "and its diversity (task_diversity in results.json)"
    )
    doc.paragraph(f"Cannot be answered from these runs: need {need}.")
    return cannot("q2", need, runs)
  diversity = {c: _diversity_of(study, c)[c.intermediate[0]][DIVERSITY_KEY] for c in conditions}
  slopes = {c: gain_slope(study, c, distance) for c in conditions}
  enough = study.n_runs(study.baseline) >= MIN_RUNS
  eligible = [c for c in conditions if enough and study.n_runs(c) >= MIN_RUNS and math.isfinite(slopes[c])]
  doc.paragraph(
      "Robustness = least-squares slope of the per-language mean gain (runs "
      "averaged) on distance, points per unit of distance; positive = the gain grows "
      "with distance (the distance penalty shrinks). The baseline is common to all "
      "slopes, so it shifts them all alike and cannot change a rank correlation. "
      f"Diversity: {DIVERSITY_KEY} of each task's English training text. Unit: the "
      "intermediate task (condition)."
  )
  doc.table(
      ["intermediate task", "runs", DIVERSITY_KEY, "slope of gain on distance", "in the test"],
      [
          [
              c.label,
              study.n_runs(c),
              fmt(diversity[c], 2, False),
              fmt(slopes[c]),
              "yes" if c in eligible else f"no (fewer than {MIN_RUNS} runs)",
          ]
          for c in sorted(conditions, key=lambda c: diversity[c])
      ],
  )
  units = eligible if len(eligible) >= MIN_UNITS_CORRELATION else [c for c in conditions if math.isfinite(slopes[c])]
  estimate = spearman([diversity[c] for c in units], [slopes[c] for c in units])
  comparison = Comparison(f"{len(units)} intermediate tasks", estimate, runs)
  if len(eligible) < MIN_UNITS_CORRELATION:
    comparison.eligible = False
    comparison.why_not = (
        f"{len(eligible)} intermediate tasks with at least {MIN_RUNS} runs "
        f"(and a baseline with {MIN_RUNS}); a permutation test needs "
        f"{MIN_UNITS_CORRELATION}"
    )
  answer = decide("q2", [comparison], "more_diverse_more_robust", "more_diverse_less_robust", "tests")
  _conclude(doc, answer)
  return answer


# --- Q3 ----------------------------------------------------------------------


def embedding_key(task: str) -> str:
  """A target's TextEmb comes from its English training task (xnli -> mnli, xquad -> squad_v1)."""
  spec = TASKS.get(task)
  return (spec.train_task or task) if spec else task


def _cosine(u: np.ndarray, v: np.ndarray) -> float:
  denominator = np.linalg.norm(u) * np.linalg.norm(v)
  return float(u @ v / denominator) if denominator else math.nan


def q3_similarity(doc: Document, study: Study) -> Answer:
  _section(doc, "q3")
  conditions = intermediate_only(study)
  known = [l for l in study.targets() if study.info[l].low_resource is not None]
  if known:
    keep, what = (lambda l: bool(study.info[l].low_resource)), "low-resource languages (Joshi 0-2)"
  else:
    keep, what = (lambda l: True), (
        "all non-English languages (no language has a known " "resource class, e.g. synthetic ones)"
    )
  embeddings: dict[str, np.ndarray] = {}
  for run in study.runs:
    for name, vector in run.task_embeddings.items():
      embeddings.setdefault(name, np.asarray(vector, float))
  sizes = {v.shape for v in embeddings.values()}
  if len(embeddings) < 3 or len(sizes) != 1:
    need = "TextEmb vectors of one size for at least 3 tasks (task_embeddings in results.json)"
    doc.paragraph(f"Cannot be answered from these runs: need {need}.")
    return cannot("q3", need)
  centre = np.mean(list(embeddings.values()), axis=0)
  units = [c for c in conditions if all(i in embeddings for i in c.intermediate)]
  strata = [t for t in study.tasks if embedding_key(t) in embeddings and cells(study, keep, [t])]
  runs = run_counts(study, [study.baseline] + units)
  if len(units) < 3 or not strata:
    need = (
        "at least 3 intermediate conditions (otherwise like the baseline) with TextEmb "
        f"vectors, and a target task with a TextEmb vector and {what}"
    )
    doc.paragraph(f"Cannot be answered from these runs: need {need}.")
    return cannot("q3", need, runs)
  similarity = np.zeros((len(strata), len(units)))
  gain = np.zeros((len(strata), len(units)))
  for j, c in enumerate(units):
    source = np.mean([embeddings[i] for i in c.intermediate], axis=0) - centre
    deltas = study.deltas(c)
    for i, task in enumerate(strata):
      similarity[i, j] = _cosine(source, embeddings[embedding_key(task)] - centre)
      gain[i, j] = float(np.mean([deltas[task][l] for l in cells(study, keep, [task])[task]]))
  enough = study.n_runs(study.baseline) >= MIN_RUNS
  eligible = [j for j, c in enumerate(units) if enough and study.n_runs(c) >= MIN_RUNS]
  chosen = eligible if len(eligible) >= MIN_UNITS_CORRELATION else list(range(len(units)))
  estimate = mean_within_correlation(similarity[:, chosen], gain[:, chosen], n_bootstrap=1000, n_permutations=2000)
  comparison = Comparison(f"{len(chosen)} intermediate conditions x {len(strata)} target tasks", estimate, runs)
  if len(eligible) < MIN_UNITS_CORRELATION:
    comparison.eligible = False
    comparison.why_not = (
        f"{len(eligible)} intermediate conditions with at least {MIN_RUNS} "
        f"runs (and a baseline with {MIN_RUNS}); the test needs "
        f"{MIN_UNITS_CORRELATION}"
    )
  doc.paragraph(
      f"Unit: the intermediate condition (runs averaged), within one target task; "
      f"the baseline is common to all conditions of a task and cannot change a rank "
      f"correlation. Similarity: cosine of TextEmb vectors centred by subtracting "
      f"the mean of all {len(embeddings)} task vectors in these runs (raw TextEmb "
      f"vectors share a large common component, so raw cosines are all near 1); "
      f"several intermediate tasks: their mean vector. A target's vector is its "
      f"English training task's (xnli: mnli, xquad and mlqa: squad_v1, xcopa: copa); "
      f"retrieval targets have none. Gain: mean delta over {what} of the task, "
      f"points."
  )
  if doc.live:
    rows = []
    per_task = []
    for i, task in enumerate(strata):
      e = spearman(similarity[i, chosen], gain[i, chosen])
      per_task.append(e)
    adjusted = holm([e.p_value for e in per_task])
    for task, e, p in zip(strata, per_task, adjusted):
      rows.append([task, " ".join(cells(study, keep, [task])[task]), describe(e), fmt(p, 3, False)])
    doc.table(
        ["target task", "languages", "exploratory: Spearman rho within the task", "Holm p (over target tasks)"], rows
    )
    doc.table(
        ["intermediate condition", "runs"] + [f"{t}: cos / gain" for t in strata],
        [
            [units[j].label, study.n_runs(units[j])]
            + [f"{similarity[i, j]:+.2f} / {gain[i, j]:+.2f}" for i in range(len(strata))]
            for j in range(len(units))
        ],
        appendix=True,
    )
  answer = decide("q3", [comparison], "more_similar_more_gain", "more_similar_less_gain", "tests")
  _conclude(doc, answer)
  return answer


# --- Q4 ----------------------------------------------------------------------


def q4_xcopa(doc: Document, study: Study) -> Answer:
  _section(doc, "q4")
  if "xcopa" not in study.tasks:
    need = "runs evaluated on XCOPA (target task 'xcopa', trained on English COPA)"
    doc.paragraph(f"Cannot be answered from these runs: need {need}.")
    return cannot("q4", need)
  if not study.conditions:
    need = "a run with intermediate training besides the baseline"
    doc.paragraph(f"Cannot be answered from these runs: need {need}.")
    return cannot("q4", need)
  xcopa = language_mean(cells(study, lambda l: True, ["xcopa"]))
  others = cells(study, lambda l: True, [t for t in study.tasks if t != "xcopa"])
  comparisons, exploratory = [], {}
  for c in study.conditions:
    comparisons.append(arm_comparison(study, c.label, c, study.baseline, xcopa))
    if doc.live and others:
      exploratory[c.label] = [
          describe(arm_comparison(study, c.label, c, study.baseline, language_mean(others)).estimate)
      ]
  answer = decide("q4", comparisons, "helps", "hurts", "conditions")
  doc.paragraph(
      "Estimate: XCOPA accuracy of the condition minus the baseline's, in points, "
      "mean over XCOPA's languages; exploratory (not corrected): the same over the "
      "other target tasks."
  )
  _primary_table(doc, answer, ["exploratory: other tasks"], lambda c: exploratory.get(c.label, ["n/a"]))
  _conclude(doc, answer)
  return answer


# --- Q5 ----------------------------------------------------------------------


def resource_design(study: Study) -> Optional[dict]:
  """The within-task low-vs-high design: cells, the contrasts, and whether covariates fit.

  Returns None when no task has both classes. Keys: cells [(task, language)], low (0/1),
  tasks (with both classes), unadjusted (weights giving the per-run contrast), adjusted
  (weights giving the covariate-adjusted coefficient, or None), covariates, vif, reason.
  """
  classes = {}
  for l in study.targets():
    j = study.info[l].joshi_class
    if j is not None and j != 3:
      classes[l] = 1.0 if j <= 2 else 0.0
  tasks = [
      t for t in study.tasks if {classes[l] for l in study.targets(study.languages[t]) if l in classes} == {0.0, 1.0}
  ]
  if not tasks:
    return None
  design_cells = [(t, l) for t in tasks for l in study.targets(study.languages[t]) if l in classes]
  low = np.array([classes[l] for _, l in design_cells])
  weights = np.zeros(len(design_cells))
  for t in tasks:
    rows = [i for i, (u, _) in enumerate(design_cells) if u == t]
    lows = [i for i in rows if low[i] == 1]
    highs = [i for i in rows if low[i] == 0]
    weights[lows] += 1 / (len(lows) * len(tasks))
    weights[highs] -= 1 / (len(highs) * len(tasks))
  dummies = np.array([[1.0 if u == t else 0.0 for t in tasks] for u, _ in design_cells])
  covariates, columns = [], []
  distance = [study.info[l].distance for _, l in design_cells]
  if all(d is not None for d in distance) and np.ptp(distance) > 0:
    covariates.append("distance")
    columns.append(np.array(distance, float))
  script = np.array([0.0 if study.info[l].script == "Latn" else 1.0 for _, l in design_cells])
  if np.ptp(script) > 0:
    covariates.append("script (non-Latin)")
    columns.append(script)
  design = {
      "cells": design_cells,
      "low": low,
      "tasks": tasks,
      "unadjusted": weights,
      "adjusted": None,
      "covariates": covariates,
      "vif": math.nan,
  }
  if not covariates:
    design["reason"] = "no covariate varies across these languages"
    return design
  others = np.column_stack([dummies] + columns)
  fitted = others @ np.linalg.lstsq(others, low, rcond=None)[0]
  residual = float(((low - fitted) ** 2).sum())
  total = float(((low - low.mean()) ** 2).sum())
  design["vif"] = total / residual if residual > 1e-12 else math.inf
  full = np.column_stack([dummies, low] + columns)
  if np.linalg.matrix_rank(full) < full.shape[1] or design["vif"] > VIF_LIMIT:
    design["reason"] = (
        f"resource class is nearly determined by task, "
        f"{' and '.join(covariates)} among these languages (variance inflation "
        f"{design['vif']:.1f} > {VIF_LIMIT:g}), so the languages at hand cannot "
        "separate resource class from distance and script"
    )
    return design
  design["adjusted"] = np.linalg.pinv(full)[len(tasks)]
  design["reason"] = (
      f"adjusted for {' and '.join(covariates)} (variance inflation of " f"resource class {design['vif']:.1f})"
  )
  return design


def q5_resource(doc: Document, study: Study) -> Answer:
  _section(doc, "q5")
  if not any(study.info[l].joshi_class is not None for l in study.targets()):
    need = "languages with a known resource class (real XTREME languages; synthetic languages " "have none)"
    doc.paragraph(f"Cannot be answered from these runs: need {need}.")
    return cannot("q5", need)
  design = resource_design(study)
  if design is None or not study.conditions:
    need = (
        "a task evaluated on both low-resource (Joshi 0-2) and high-resource (Joshi 4-5) "
        "languages, and a run besides the baseline"
    )
    doc.paragraph(f"Cannot be answered from these runs: need {need}.")
    return cannot("q5", need)
  cells_ = design["cells"]

  def contrast(weights):
    def summary(scores):
      return float(sum(w * scores[t][l] for w, (t, l) in zip(weights, cells_)))

    return summary

  primary = design["adjusted"] if design["adjusted"] is not None else design["unadjusted"]
  comparisons, exploratory = [], {}
  for c in study.conditions:
    comparisons.append(arm_comparison(study, c.label, c, study.baseline, contrast(primary)))
    if doc.live and design["adjusted"] is not None:
      exploratory[c.label] = [
          describe(arm_comparison(study, c.label, c, study.baseline, contrast(design["unadjusted"])).estimate)
      ]
  answer = decide("q5", comparisons, "low_resource_gain_more", "low_resource_gain_less", "conditions")
  low = sorted({l for (_, l), x in zip(cells_, design["low"]) if x == 1})
  high = sorted({l for (_, l), x in zip(cells_, design["low"]) if x == 0})
  kind = (
      "the coefficient of low-resource in a per-run regression of scores on task, "
      "resource class, " + " and ".join(design["covariates"])
      if design["adjusted"] is not None
      else "per task, mean over its low-resource languages minus mean over its high-resource "
      "ones, averaged over tasks"
  )
  doc.paragraph(
      f"Within-task design over {len(design['tasks'])} tasks with both classes "
      f"({', '.join(design['tasks'])}); low = Joshi 0-2 ({' '.join(low)}), high = "
      f"Joshi 4-5 ({' '.join(high)}); English and Joshi 3 are left out. Per run: "
      f"{kind}; estimate = condition minus baseline, points (a difference in "
      f"differences, so task difficulty cancels). Covariates: {design['reason']}."
  )
  if design["adjusted"] is None:
    doc.warning("the estimate mixes resource class with typological distance and script: " + design["reason"] + ".")
    answer.reason += " Resource class is not separated from distance and script: " + design["reason"] + "."
  else:
    answer.reason += f" Within-task contrast {design['reason']}."
  _primary_table(
      doc, answer, ["exploratory: unadjusted contrast"] if exploratory else [], lambda c: exploratory.get(c.label, [])
  )
  _conclude(doc, answer)
  return answer


QUESTION_FUNCTIONS = (q1_mlm, q2_diversity, q3_similarity, q4_xcopa, q5_resource)


def answer_all(study: Study, doc: Optional[Document] = None) -> list[Answer]:
  """One Answer per question, q1 ... q5; with a document, each question's section too."""
  doc = doc if doc is not None else NullDocument()
  return [function(doc, study) for function in QUESTION_FUNCTIONS]
