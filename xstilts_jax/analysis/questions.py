"""The five research questions: one primary test each, Holm within each question, one answer.

Runs (seeds) are the unit of every primary test: a run is reduced to one number per
comparison (its mean over the question's tasks and languages, its slope of score on
typological distance, or a within-task contrast), and the runs of the arms are compared
with Welch's t (two arms) or a Welch-Satterthwaite contrast (a difference of two gains, four
arms). Q3 correlates properties of intermediate tasks with their gains, so its unit is the
condition (its runs averaged), tested by permuting conditions. A question's family (its conditions, or its target
tasks, or Q2's and Q4's contrasts) is corrected with Holm. No direction is claimed from fewer than `MIN_RUNS` runs in
an arm (the baseline included): the estimate is given and the answer says it cannot
decide. Everything else in a question's section is labelled exploratory.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Mapping, Optional, Sequence

import numpy as np

from xstilts_jax.analysis.languages import language_table
from xstilts_jax.analysis.render import Document
from xstilts_jax.analysis.results import Condition, find_matching
from xstilts_jax.analysis.stats import Estimate, holm, mean_within_correlation, spearman, welch, welch_contrast
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
    (
        "q2",
        "Does linguistically diverse English intermediate data, against random data of the same "
        "task and size, improve zero-shot transfer and make it more robust to typological distance?",
    ),
    (
        "q3",
        "Does the similarity of intermediate and target task (TaskEmb or TextEmb cosine) predict the "
        "gains on low-resource languages?",
    ),
    (
        "q4",
        "Does the gain from intermediate training hold on XTREME-R and with another backbone "
        "(mT5): is it different from the gain on XTREME with XLM-R?",
    ),
    ("q5", "Do gains from intermediate training differ between low- and high-resource " "languages?"),
)
PRIMARY_TESTS = {
    "q1": "per MLM-first arm: mean score over the target languages outside the MLM set (each "
    "language's mean over tasks), arm runs vs the runs of the same condition without "
    "MLM, Welch t on run means; Holm over the arms",
    "q2": "per task and size with a diverse and a random subset arm (xstilts select): the "
    "diverse arm's runs vs the random arm's runs, Welch t on (a) each run's mean score over the "
    "target languages (= difference of the two gains over the baseline) and (b) each run's "
    "least-squares slope of per-language score on typological distance to English (= difference "
    "of the two gain slopes); Holm over both parts and all pairs; the answer's direction is (b)'s",
    "q3": "within each target task, Spearman rho across intermediate conditions of the cosine "
    "of centred task vectors (TaskEmb where the runs cover as much with it, else TextEmb) and the mean gain on low-resource languages; the mean "
    "of these rhos over target tasks, tested by permuting conditions jointly in all "
    "target tasks",
    "q4": "per intermediate task: its gain over the no-intermediate arm of the same setup "
    "(mean over tasks of the mean over non-English languages, runs vs runs), on XTREME-R minus "
    "on XTREME (same backbone) and with mT5 minus with XLM-R (same benchmark), each a Welch-"
    "Satterthwaite contrast over the four arms' runs; Holm over the contrasts",
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
  details: dict = dataclasses.field(default_factory=dict)  # question-specific fields of answers.json

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
        **self.details,
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


def decide(
    key: str,
    comparisons: Sequence[Comparison],
    positive: str,
    negative: str,
    what: str,
    family: Optional[str] = None,
) -> Answer:
  """Holm over the eligible comparisons; the answer states the one conclusion they allow.

  With `family` (its description), the caller has set p_adjusted by Holm over a larger family
  that holds these comparisons (a question with two parts), and it is kept.
  """
  question = dict(QUESTIONS)[key]
  runs: dict[str, int] = {}
  for c in comparisons:
    runs.update(c.runs)
  answer = Answer(key, question, PRIMARY_TESTS[key], "cannot_answer", "", runs=runs, comparisons=list(comparisons))
  eligible = [c for c in comparisons if c.eligible and math.isfinite(c.estimate.p_value)]
  if family is None:
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
  if family is None:
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

SUBSET_KINDS = ("diverse", "random")


def subset_parts(condition: Condition) -> tuple[str, str, str]:
  """(kind, task, size) of a data-subset condition ('diverse', 'mnli', '600'); size may be ''."""
  kind, _, rest = condition.data_subset.partition(":")
  task, _, size = rest.partition(":")
  return kind, task, size


def seeds_of(study: Study, condition: Optional[Condition]) -> list[int]:
  return sorted(r.seed for r in study.runs_of(condition)) if condition in study.groups else []


def seeds_to_add(have: Sequence[int], like: Sequence[int]) -> list[int]:
  """Seeds an arm with `have` needs to reach MIN_RUNS: its partner's (`like`) first, then 0, 1, ..."""
  if len(have) >= MIN_RUNS:
    return []
  order = [s for s in sorted(set(like)) if s not in have]
  k = 0
  while len(order) < MIN_RUNS - len(have):
    if k not in have and k not in order:
      order.append(k)
    k += 1
  return sorted(order[: MIN_RUNS - len(have)])


def needed_runs(study: Study, wanted: Condition, like: Sequence[int], why: str) -> Optional[dict]:
  """A missing_runs entry: the seeds `wanted` needs (None when it has enough)."""
  have = seeds_of(study, wanted)
  add = seeds_to_add(have, like)
  if not add:
    return None
  return {"condition": wanted.label, "has_seeds": have, "add_seeds": add, "why": why}


def missing_text(entries: Sequence[dict], limit: int = 8) -> str:
  """'mnli (random subset of mnli, 600 examples): seeds 0, 1, 2 (none yet; why)'; the first `limit`."""
  parts = []
  for e in entries[:limit]:
    seeds = ", ".join(map(str, e["add_seeds"]))
    has = f"has {', '.join(map(str, e['has_seeds']))}" if e["has_seeds"] else "none yet"
    parts.append(f"{e['condition']}: seed{'s' if len(e['add_seeds']) > 1 else ''} {seeds} ({has}; {e['why']})")
  more = f"; and {len(entries) - limit} more (answers.json: missing_runs)" if len(entries) > limit else ""
  return "; ".join(parts) + more


def estimate_json(estimate: Estimate, comparison: Optional[Comparison] = None) -> dict:
  """An estimate as answers.json carries it: value, 95% CI, p (and Holm p for a tested one)."""

  def number(x):
    return float(x) if math.isfinite(x) else None

  result = {
      "estimate": number(estimate.estimate),
      "ci": [number(estimate.ci_low), number(estimate.ci_high)] if math.isfinite(estimate.ci_low) else None,
      "p": number(estimate.p_value),
      "n_runs": estimate.n,
  }
  if comparison is not None:
    result["p_adjusted"] = number(comparison.p_adjusted)
    result["tested"] = comparison.eligible and math.isfinite(comparison.p_adjusted)
    if comparison.why_not:
      result["why_not"] = comparison.why_not
  return result


def distance_slope(languages: dict[str, list[str]], distance: dict[str, float]) -> Callable[[dict], float]:
  """A run's summary: least-squares slope of its per-language score (mean over the language's
  tasks) on distance to English. Linear in the scores, so the slope of a gain (arm minus
  baseline) is the difference of the two arms' slopes."""
  by_language: dict[str, list[str]] = {}
  for task, codes in languages.items():
    for code in codes:
      if code in distance:
        by_language.setdefault(code, []).append(task)
  items = list(by_language.items())
  x = np.array([distance[l] for l, _ in items])
  centred = x - x.mean()
  denominator = float(centred @ centred)

  def summary(scores: dict) -> float:
    y = np.array([sum(scores[t][l] for t in ts) / len(ts) for l, ts in items])
    return float(centred @ y) / denominator

  return summary


def q2_subsets(doc: Document, study: Study) -> Answer:
  _section(doc, "q2")
  candidates = [study.baseline] + study.conditions
  distance = {l: study.info[l].distance for l in study.targets() if study.info[l].distance is not None}
  pairs: dict[Condition, dict[str, Condition]] = {}
  for c in study.conditions:
    if c.data_subset and subset_parts(c)[0] in SUBSET_KINDS:
      kind, task, size = subset_parts(c)
      pairs.setdefault(dataclasses.replace(c, data_subset=f":{task}:{size}"), {})[kind] = c
  others = [c.label for c in study.conditions if c.data_subset and subset_parts(c)[0] not in SUBSET_KINDS]
  if others:
    doc.warning(
        f"data-subset arms of another kind than {' or '.join(SUBSET_KINDS)} are not in Q2: {', '.join(others)}."
    )
  missing: list[dict] = []
  if not pairs:
    tasks = sorted({c.intermediate[0] for c in intermediate_only(study, single=True)}, key=lambda t: (t != "mnli", t))
    tasks = tasks or ["mnli"]
    examples = [
        dataclasses.replace(study.baseline, intermediate=(tasks[0],), data_subset=f"{kind}:{tasks[0]}:N")
        for kind in SUBSET_KINDS
    ]
    like = seeds_of(study, study.baseline)
    for example in examples:
      entry = needed_runs(study, example, like, "`xstilts select` subset as data.data_dir")
      missing += [entry] if entry else []
    need = (
        "the two arms of one English intermediate task at one size N, made by `xstilts select --task "
        f"{tasks[0]} --size N` (results.json data_subset): " + missing_text(missing)
    )
    doc.paragraph(f"Cannot be answered from these runs: need {need}.")
    answer = cannot("q2", need)
    answer.details = {"gain_decision": "cannot_answer", "subset_pairs": [], "missing_runs": missing}
    return answer
  if len(distance) < 3:
    need = "at least 3 target languages with a typological distance to English"
    doc.paragraph(f"Cannot be answered from these runs: need {need}.")
    answer = cannot("q2", need)
    answer.details = {"gain_decision": "cannot_answer", "subset_pairs": [], "missing_runs": []}
    return answer
  every = cells(study, lambda l: True)
  gain_summary = language_mean(every)
  slope_summary = distance_slope(every, distance)
  source = (
      "the synthetic generator's distance (results.json languages block)"
      if study.synthetic
      else "URIEL syntactic distance to English (analysis/languages.csv)"
  )
  slope_comparisons, gain_comparisons, entries = [], [], []
  for key, arms in sorted(pairs.items()):
    _, task, size = subset_parts(next(iter(arms.values())))
    name = f"{task}, {size} examples" if size else task
    reference = find_matching(key, candidates, intermediate=(), data_subset="")
    like = sorted({s for c in arms.values() for s in seeds_of(study, c)})
    for kind in SUBSET_KINDS:
      wanted = arms.get(kind) or dataclasses.replace(key, data_subset=f"{kind}:{task}:{size}".rstrip(":"))
      entry = needed_runs(study, wanted, like, f"the {kind}-subset arm of {name}")
      if entry:
        missing.append(entry)
    wanted_reference = reference or dataclasses.replace(key, intermediate=(), data_subset="")
    entry = needed_runs(study, wanted_reference, like, f"the baseline of the {name} arms (each arm's own gain)")
    if entry:
      missing.append(entry)
    if len(arms) < 2:
      continue
    diverse, random_ = arms["diverse"], arms["random"]
    runs = run_counts(study, [diverse, random_] + ([reference] if reference else []))
    slope = arm_comparison(study, f"{name}: slope, diverse - random", diverse, random_, slope_summary)
    gain = arm_comparison(study, f"{name}: gain, diverse - random", diverse, random_, gain_summary)
    slope.runs = gain.runs = runs
    slope_comparisons.append(slope)
    gain_comparisons.append(gain)
    own = {}
    for kind, arm in arms.items():
      for what, summary in (("gain", gain_summary), ("slope", slope_summary)):
        own[kind, what] = (
            welch(study.run_values(arm, summary), study.run_values(reference, summary))
            if reference
            else Estimate(math.nan, math.nan, math.nan, math.nan, study.n_runs(arm), "no baseline")
        )
    entries.append((key, name, task, size, diverse, random_, reference, own, gain, slope))
  if not slope_comparisons:
    need = "both arms of a pair: " + missing_text(missing)
    doc.paragraph(f"Cannot be answered from these runs: need {need}.")
    answer = cannot("q2", need, run_counts(study, [c for arms in pairs.values() for c in arms.values()]))
    answer.details = {"gain_decision": "cannot_answer", "subset_pairs": [], "missing_runs": missing}
    return answer
  measures = sorted(
      {r.subset_measure or "not recorded" for e in entries for r in study.runs_of(e[4])}  # the diverse arms' runs
  )
  doc.paragraph(
      "Diversity measure the diverse subsets were selected by (`xstilts select`, results.json "
      f"data_subset.measure): {'; '.join(measures)}. POS-trigram entropy with the project's UD-trained "
      "tagger is the measure the question asks for; the word-class proxy is its fallback without a UD file."
  )
  # One family: both parts of every pair.
  family = slope_comparisons + gain_comparisons
  tested = [c for c in family if c.eligible and math.isfinite(c.estimate.p_value)]
  for c, p in zip(tested, holm([c.estimate.p_value for c in tested])):
    c.p_adjusted = p
  text = (
      f"Holm over the question's {len(tested)} tests (gain and slope differences)"
      if len(tested) > 1
      else "its single test (no correction needed)"
  )
  answer = decide("q2", slope_comparisons, "diverse_more_robust", "diverse_less_robust", "pairs", family=text)
  gains = decide("q2", gain_comparisons, "diverse_gains_more", "diverse_gains_less", "pairs", family=text)
  answer.comparisons = family
  answer.reason = f"(b) slope of gain on distance: {answer.reason} (a) mean gain: {gains.decision}: {gains.reason}"
  if missing:
    answer.reason += " Runs still missing: " + missing_text(missing) + "."
  details = []
  for key, name, task, size, diverse, random_, reference, own, gain, slope in entries:
    details.append(
        {
            "task": task,
            "size": int(size) if size.isdigit() else None,
            "diverse": diverse.label,
            "random": random_.label,
            "baseline": reference.label if reference else None,
            "seeds": {c.label: seeds_of(study, c) for c in (diverse, random_, reference) if c},
            "measure": sorted({r.subset_measure or "not recorded" for r in study.runs_of(diverse)}),
            "gain": {
                "diverse": estimate_json(own["diverse", "gain"]),
                "random": estimate_json(own["random", "gain"]),
                "difference": estimate_json(gain.estimate, gain),
            },
            "slope": {
                "diverse": estimate_json(own["diverse", "slope"]),
                "random": estimate_json(own["random", "slope"]),
                "difference": estimate_json(slope.estimate, slope),
            },
            "languages": sorted({l for ls in every.values() for l in ls}),
            "distance": source,
        }
    )
    doc.table(
        [f"{name}", "runs", "gain over baseline (95% CI, p)", "slope of gain on distance (95% CI, p)", "Holm p"],
        [
            [f"{kind} subset", study.n_runs(arm), describe(own[kind, "gain"]), describe(own[kind, "slope"]), ""]
            for kind, arm in (("diverse", diverse), ("random", random_))
        ]
        + [
            [
                "diverse - random",
                f"{study.n_runs(diverse)} vs {study.n_runs(random_)}",
                describe(gain.estimate),
                describe(slope.estimate),
                " / ".join(
                    fmt(c.p_adjusted, 3, False) if math.isfinite(c.p_adjusted) else f"not tested: {c.why_not}"
                    for c in (gain, slope)
                ),
            ]
        ],
    )
  answer.details = {"gain_decision": gains.decision, "subset_pairs": details, "missing_runs": missing}
  doc.paragraph(
      f"Gain: mean over the non-English target languages (each its mean over tasks) of arm minus "
      f"baseline, points. Slope: least-squares slope of the per-language gain on distance ({source}), "
      "points per unit distance; positive = the gain grows with distance (the distance penalty "
      "shrinks), so a positive slope difference means the diverse arm is more robust. Runs are the "
      "unit (Welch t); the baseline cancels in the differences, so they need no baseline runs. Holm "
      "p: gain / slope difference."
  )
  if missing:
    doc.warning("runs still missing: " + missing_text(missing) + ".")
  _conclude(doc, answer)
  return answer


# --- Q3 ----------------------------------------------------------------------


def embedding_key(task: str) -> str:
  """A target's TextEmb comes from its English training task (xnli -> mnli, xquad -> squad_v1)."""
  spec = TASKS.get(task)
  return (spec.train_task or task) if spec else task


EMBEDDING_KINDS = {
    "TaskEmb": "TaskEmb (Vu et al. 2020: the diagonal Fisher information of the task's loss with respect "
    "to the encoder, on the model the run trained on it, sketched to a fixed size), averaged over the runs "
    "that trained the task",
    "TextEmb": "TextEmb (the mean-pooled last-layer embedding of the task's English training text under "
    "the base encoder)",
}


def task_vectors(study: Study, field: str) -> dict[str, np.ndarray]:
  """Each task's vector in results.json's `field`, averaged over the runs that have it (TextEmb is
  the same in every run of one base encoder; TaskEmb depends on the run that trained the task).
  Left out: tasks whose runs disagree on the vector's size, and all-zero vectors, which have no
  direction (the Fisher of a model that fits its training rows exactly: no gradient left)."""
  found: dict[str, list[np.ndarray]] = {}
  for run in study.runs:
    for name, vector in getattr(run, field).items():
      found.setdefault(name, []).append(np.asarray(vector, float))
  means = {n: np.mean(vs, axis=0) for n, vs in found.items() if len({v.shape for v in vs}) == 1}
  return {n: v for n, v in means.items() if np.any(v)}


def _covered(study: Study, keep, conditions, vectors: Mapping[str, np.ndarray]) -> int:
  """How many (intermediate condition, target task) pairs `vectors` can place."""
  units = [c for c in conditions if all(i in vectors for i in c.intermediate)]
  strata = [t for t in study.tasks if embedding_key(t) in vectors and cells(study, keep, [t])]
  return len(units) * len(strata)


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
  kind, embeddings = "TextEmb", task_vectors(study, "task_embeddings")
  fisher = task_vectors(study, "task_embeddings_fisher")
  if _covered(study, keep, conditions, fisher) >= _covered(study, keep, conditions, embeddings) and fisher:
    kind, embeddings = "TaskEmb", fisher  # Vu et al.'s better predictor, wherever it covers as much
  sizes = {v.shape for v in embeddings.values()}
  if len(embeddings) < 3 or len(sizes) != 1:
    need = "TaskEmb or TextEmb vectors of one size for at least 3 tasks (task_embeddings[_fisher] in results.json)"
    doc.paragraph(f"Cannot be answered from these runs: need {need}.")
    return _with_similarity(cannot("q3", need), kind)
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
    return _with_similarity(cannot("q3", need, runs), kind)
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
      f"correlation. Similarity: cosine of {EMBEDDING_KINDS[kind]} vectors, centred by subtracting "
      f"the mean of all {len(embeddings)} task vectors in these runs (raw task "
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
  _with_similarity(answer, kind)
  _conclude(doc, answer)
  return answer


def _with_similarity(answer: Answer, kind: str) -> Answer:
  answer.details["similarity"] = kind  # answers.json: which task vectors Q3 compared, TaskEmb or TextEmb
  return answer


# --- Q4 ----------------------------------------------------------------------

DEFAULT_SETUP = {"benchmark": "xtreme", "backbone": "xlmr", "protocol": "heads"}
OTHER_SETUPS = (  # the arms Q4 asks for besides XTREME with XLM-R
    ("benchmark", {"benchmark": "xtreme-r"}, "benchmark=xtreme-r"),
    ("backbone", {"backbone": "mt5", "protocol": "text-to-text"}, "the mT5 backbone (model.backbone=mt5)"),
)
BENCHMARK_NAMES = {"xtreme": "XTREME", "xtreme-r": "XTREME-R"}
BACKBONE_NAMES = {"xlmr": "XLM-R", "mt5": "mT5"}


def setup_name(condition: Condition) -> str:
  """'XTREME-R, XLM-R (heads)'."""
  bench = BENCHMARK_NAMES.get(condition.benchmark, condition.benchmark)
  return f"{bench}, {BACKBONE_NAMES.get(condition.backbone, condition.backbone)} ({condition.protocol})"


def same_setup(a: Condition, b: Condition) -> bool:
  return (a.benchmark, a.backbone, a.protocol) == (b.benchmark, b.backbone, b.protocol)


def common_cells(study: Study, conditions: Sequence[Condition]) -> dict[str, list[str]]:
  """task -> the non-English languages every run of `conditions` has (tasks outside the
  study's intersection included: an XTREME-R run has XCOPA, an XTREME run PAWS-X)."""
  runs = [r for c in conditions for r in study.runs_of(c)]
  result = {}
  for task in sorted(set.intersection(*(set(r.scores) for r in runs))):
    languages = set.intersection(*(set(r.scores[task]) for r in runs)) - {"en"}
    if languages:
      result[task] = sorted(languages)
  return result


def task_mean(languages: dict[str, list[str]]) -> Callable[[dict], float]:
  """A run's summary as a benchmark scores: per task the mean over its languages, then the
  plain mean over tasks."""
  items = list(languages.items())

  def summary(scores: dict) -> float:
    return sum(sum(scores[t][l] for l in ls) / len(ls) for t, ls in items) / len(items)

  return summary


def _short(study: Study, conditions: Sequence[Condition]) -> str:
  short = [f"{c.label}: {study.n_runs(c)}" for c in conditions if study.n_runs(c) < MIN_RUNS]
  return f"fewer than {MIN_RUNS} runs ({'; '.join(short)})" if short else ""


def q4_setups(doc: Document, study: Study) -> Answer:
  _section(doc, "q4")
  candidates = [study.baseline] + study.conditions
  arms = [c for c in study.conditions if c.intermediate and c.plain and not c.data_subset]
  references = {c: find_matching(c, candidates, intermediate=()) for c in arms}
  gains: dict[Condition, tuple[Estimate, dict]] = {}
  for c, r in references.items():
    if r is not None:
      where = common_cells(study, [c, r])
      if where:
        summary = task_mean(where)
        gains[c] = (welch(study.run_values(c, summary), study.run_values(r, summary)), where)
  # The arms each intermediate task needs: XTREME with XLM-R, XTREME-R, mT5; each with its baseline.
  missing: list[dict] = []
  keys = sorted({dataclasses.replace(c, **DEFAULT_SETUP) for c in arms})
  # Where some intermediate task already has another setup, only such tasks' gaps are named.
  partial = [k for k in keys if any(c != k and dataclasses.replace(c, **DEFAULT_SETUP) == k for c in arms)]
  for key in partial or keys:
    like = sorted({s for c in arms if dataclasses.replace(c, **DEFAULT_SETUP) == key for s in seeds_of(study, c)})
    wanted = [(key, "XTREME with XLM-R")] + [
        (dataclasses.replace(key, **fields), why) for _, fields, why in OTHER_SETUPS
    ]
    for arm, why in wanted:
      for c in (arm, dataclasses.replace(arm, intermediate=())):
        entry = needed_runs(study, c, like, f"{setup_name(c)}: {why}")
        if entry and entry["condition"] not in {m["condition"] for m in missing}:
          missing.append(entry)
  contrasts: list[tuple[str, Comparison, Condition, Condition, dict]] = []
  for b in arms:
    for factor, fields, _ in OTHER_SETUPS:
      if factor == "benchmark" and b.benchmark == DEFAULT_SETUP["benchmark"]:
        continue
      if factor == "backbone" and b.backbone == DEFAULT_SETUP["backbone"]:
        continue
      a = (
          dataclasses.replace(b, benchmark=DEFAULT_SETUP["benchmark"])
          if factor == "benchmark"
          else dataclasses.replace(b, backbone=DEFAULT_SETUP["backbone"], protocol=DEFAULT_SETUP["protocol"])
      )
      if a not in references or references[a] is None or references[b] is None:
        continue
      ra, rb = references[a], references[b]
      if factor == "benchmark":  # each benchmark's gain over its own tasks and languages
        where_a, where_b = common_cells(study, [a, ra]), common_cells(study, [b, rb])
      else:  # the same benchmark: the tasks and languages all four arms have
        where_a = where_b = common_cells(study, [a, ra, b, rb])
      label = f"{'+'.join(b.intermediate)}: {setup_name(b)} minus {setup_name(a)}"
      if not where_a or not where_b:
        estimate = Estimate(math.nan, math.nan, math.nan, math.nan, 0, "no common tasks")
        comparison = Comparison(label, estimate, run_counts(study, [b, rb, a, ra]), False, "no task in common")
      else:
        sa, sb = task_mean(where_a), task_mean(where_b)
        groups = [study.run_values(b, sb), study.run_values(rb, sb), study.run_values(a, sa), study.run_values(ra, sa)]
        estimate = welch_contrast(groups, (1, -1, -1, 1))
        why = _short(study, [b, rb, a, ra])
        if not why and not math.isfinite(estimate.p_value):
          why = "no run-to-run variance to test against"
        comparison = Comparison(label, estimate, run_counts(study, [b, rb, a, ra]), not why, why)
      contrasts.append((factor, comparison, a, b, {"a": where_a, "b": where_b}))
  if not contrasts:
    if not keys:
      example = dataclasses.replace(study.baseline, intermediate=("squad_v1",))
      like = seeds_of(study, study.baseline)
      for arm, why in [(example, "XTREME with XLM-R")] + [
          (dataclasses.replace(example, **fields), why) for _, fields, why in OTHER_SETUPS
      ]:
        for c in (arm, dataclasses.replace(arm, intermediate=())):
          entry = needed_runs(study, c, like, f"{setup_name(c)}: {why}")
          if entry:
            missing.append(entry)
    need = "one intermediate task's gain in two setups, each arm with its own baseline: " + missing_text(missing)
    doc.paragraph(f"Cannot be answered from these runs: need {need}.")
    answer = cannot("q4", need, run_counts(study, [study.baseline] + arms))
    answer.details = {
        "gains": [_gain_json(study, c, references[c], *gains[c]) for c in arms if c in gains],
        "benchmark_differences": [],
        "backbone_differences": [],
        "missing_runs": missing,
    }
    return answer
  answer = decide(
      "q4",
      [c for _, c, *_ in contrasts],
      "larger_gain_on_xtreme_r_or_mt5",
      "smaller_gain_on_xtreme_r_or_mt5",
      "contrasts",
  )
  if missing:
    answer.reason += " Runs still missing: " + missing_text(missing) + "."
  differences = {"benchmark": [], "backbone": []}
  for factor, comparison, a, b, where in contrasts:
    e = comparison.estimate
    verdict = "not tested: " + comparison.why_not if not math.isfinite(comparison.p_adjusted) else "no clear difference"
    if math.isfinite(comparison.p_adjusted) and comparison.p_adjusted < ALPHA and e.ci_excludes_zero:
      verdict = f"gain {'larger' if e.estimate > 0 else 'smaller'} with {setup_name(b)}"
    differences[factor].append(
        {
            "intermediate": list(b.intermediate),
            "from": setup_name(a),
            "to": setup_name(b),
            "difference": estimate_json(e, comparison),
            "decision": verdict,
            "tasks": {"from": where["a"], "to": where["b"]},
        }
    )
  answer.details = {
      "gains": [_gain_json(study, c, references[c], *gains[c]) for c in arms if c in gains],
      "benchmark_differences": differences["benchmark"],
      "backbone_differences": differences["backbone"],
      "missing_runs": missing,
  }
  doc.paragraph(
      "Gain: a condition minus the no-intermediate arm of the same benchmark and backbone, per run the "
      "mean over tasks of the mean over non-English languages (tasks weighted equally, as the benchmark "
      "scores), points. Across benchmarks each gain is over its benchmark's own tasks; across backbones "
      "over the tasks both have. Uncorrected p for the gains; the differences are the primary test. "
      "Arms with MLM, translated data or a data subset are other questions' and not compared here."
  )
  doc.table(
      ["condition", "setup", "runs (arm vs its baseline)", "gain (95% CI, p)", "tasks"],
      [
          [
              c.label,
              setup_name(c),
              f"{study.n_runs(c)} vs {study.n_runs(references[c])}",
              describe(gains[c][0]),
              " ".join(gains[c][1]),
          ]
          for c in arms
          if c in gains
      ],
  )
  _primary_table(doc, answer, [])
  if missing:
    doc.warning("runs still missing: " + missing_text(missing) + ".")
  _conclude(doc, answer)
  return answer


def _gain_json(study: Study, condition: Condition, reference: Condition, estimate: Estimate, where: dict) -> dict:
  return {
      "condition": condition.label,
      "intermediate": list(condition.intermediate),
      "benchmark": condition.benchmark,
      "backbone": condition.backbone,
      "protocol": condition.protocol,
      "baseline": reference.label,
      "runs": {condition.label: study.n_runs(condition), reference.label: study.n_runs(reference)},
      "gain": estimate_json(estimate),
      "tasks": where,
  }


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
  # Against the baseline only what shares its benchmark and backbone (the rest is Q4's).
  for c in [c for c in study.conditions if same_setup(c, study.baseline)]:
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


QUESTION_FUNCTIONS = (q1_mlm, q2_subsets, q3_similarity, q4_setups, q5_resource)


def answer_all(study: Study, doc: Optional[Document] = None) -> list[Answer]:
  """One Answer per question, q1 ... q5; with a document, each question's section too."""
  doc = doc if doc is not None else NullDocument()
  return [function(doc, study) for function in QUESTION_FUNCTIONS]
