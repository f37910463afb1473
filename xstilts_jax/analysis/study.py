"""The runs of one report: a baseline, the other conditions, and what they share.

Tasks and languages are cut to what every run has (the intersection), and what was
cut is kept in `notes` so the report can say so. A replicate is one seed of one
condition: workdirs with the same condition and seed (a sweep that also ran the
baseline beside every experiment) are one replicate, their scores averaged, never
counted as independent runs. Deltas are mean(condition) - mean(reference) over
replicates per (task, language); the primary tests use the replicates themselves.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterable, Optional, Sequence

import numpy as np

from xstilts_jax.analysis.languages import LanguageInfo, language_info
from xstilts_jax.analysis.results import Condition, Run, group_by_condition
from xstilts_jax.errors import DataError

Table = dict[str, dict[str, float]]  # task -> language -> value


class Study:

  def __init__(self, runs: Sequence[Run], baseline_runs: Sequence[Run]):
    if not baseline_runs:
      raise DataError("no baseline run given")
    baseline_conditions = {r.condition for r in baseline_runs}
    if len(baseline_conditions) > 1:
      raise DataError(
          "baseline workdirs differ in what they train: "
          + "; ".join(f"{r.workdir}: {r.condition.label}" for r in baseline_runs)
      )
    self.baseline: Condition = baseline_runs[0].condition
    seen = {r.workdir.resolve() for r in baseline_runs}
    others = [r for r in runs if r.workdir.resolve() not in seen]
    self.all_runs: list[Run] = list(baseline_runs) + others  # every workdir, as found
    self.notes: list[str] = []
    kinds = sorted({r.data for r in self.all_runs})
    if len(kinds) > 1:
      raise DataError("runs mix data kinds (" + ", ".join(f"{r.workdir}: {r.data or '?'}" for r in self.all_runs) + ")")
    self.synthetic = kinds == ["synthetic"]
    self.runs: list[Run] = self.all_runs
    self.tasks, self.languages = self._intersection()
    self.groups = {c: self._replicates(c, rs) for c, rs in group_by_condition(self.all_runs).items()}
    self.runs = [r for rs in self.groups.values() for r in rs]
    self.conditions = sorted(c for c in self.groups if c != self.baseline)
    models = sorted({r.model for r in self.all_runs})
    if len(models) > 1:
      self.notes.append("runs start from different checkpoints: " + ", ".join(models))
    block = {}
    for run in self.all_runs:
      block.update(run.languages)
    codes = sorted({l for ls in self.languages.values() for l in ls})
    self.info: dict[str, LanguageInfo] = {code: language_info(code, block, self.synthetic) for code in codes}
    self.all_languages = sorted(codes, key=self._order)

  def _order(self, code: str):
    distance = self.info[code].distance
    return (code != "en", distance is None, distance if distance is not None else 0.0, code)

  def _replicates(self, condition: Condition, runs: Sequence[Run]) -> list[Run]:
    """One run per seed; workdirs sharing a seed are averaged into one replicate (noted)."""
    by_seed: dict[int, list[Run]] = {}
    for run in runs:
      by_seed.setdefault(run.seed, []).append(run)
    replicates = []
    for seed in sorted(by_seed):
      same = by_seed[seed]
      if len(same) > 1:
        self.notes.append(
            f"{condition.label}: seed {seed} is in {len(same)} workdirs ("
            + ", ".join(str(r.workdir) for r in same)
            + "); they count as one replicate "
            "(scores averaged), since one seed of one condition is not an independent run"
        )
        scores = {t: {l: float(np.mean([r.scores[t][l] for r in same])) for l in self.languages[t]} for t in self.tasks}
        replicates.append(dataclasses.replace(same[0], scores=scores))
      else:
        replicates.append(same[0])
    return replicates

  def _intersection(self) -> tuple[list[str], dict[str, list[str]]]:
    task_sets = [set(r.scores) for r in self.runs]
    common = set.intersection(*task_sets)
    dropped = sorted(set.union(*task_sets) - common)
    if dropped:
      self.notes.append(
          "tasks not in every run were left out (the report uses the " f"intersection): {', '.join(dropped)}"
      )
    tasks, languages = [], {}
    for task in sorted(common):
      sets = [set(r.scores[task]) for r in self.runs]
      shared = set.intersection(*sets)
      cut = sorted(set.union(*sets) - shared)
      if cut:
        self.notes.append(
            f"{task}: languages not in every run were left out (the report uses " f"the intersection): {', '.join(cut)}"
        )
      if shared:
        tasks.append(task)
        languages[task] = sorted(shared)
      else:
        self.notes.append(f"{task}: no language in common across runs; task left out")
    if not tasks:
      raise DataError(
          "the runs have no (task, language) in common: "
          + "; ".join(f"{r.workdir}: {', '.join(f'{t}[{len(ls)}]' for t, ls in r.scores.items())}" for r in self.runs)
      )
    return tasks, languages

  # --- numbers ---------------------------------------------------------------

  def runs_of(self, condition: Condition) -> list[Run]:
    """The replicates of a condition (one per seed)."""
    return self.groups[condition]

  def n_runs(self, condition: Condition) -> int:
    return len(self.groups[condition])

  def run_values(self, condition: Condition, summary) -> list[float]:
    """summary(scores table) of each replicate: one number per run, the unit of the tests."""
    return [float(summary(r.scores)) for r in self.groups[condition]]

  def mean_scores(self, condition: Condition) -> Table:
    """Mean over the condition's replicates per (task, language); computed once."""
    cache = self.__dict__.setdefault("_means", {})
    if condition not in cache:
      runs = self.groups[condition]
      n = len(runs)
      cache[condition] = {t: {l: sum(r.scores[t][l] for r in runs) / n for l in self.languages[t]} for t in self.tasks}
    return cache[condition]

  def seed_sd(self, condition: Condition) -> Table:
    """Standard deviation across replicates (nan with one run)."""
    runs = self.groups[condition]
    return {
        t: {
            l: float(np.std([r.scores[t][l] for r in runs], ddof=1)) if len(runs) > 1 else math.nan
            for l in self.languages[t]
        }
        for t in self.tasks
    }

  def deltas(self, condition: Condition, reference: Optional[Condition] = None) -> Table:
    a, b = self.mean_scores(condition), self.mean_scores(reference or self.baseline)
    return {t: {l: a[t][l] - b[t][l] for l in self.languages[t]} for t in self.tasks}

  def targets(self, languages: Optional[Iterable[str]] = None) -> list[str]:
    """Target languages in report order: not English (its gain is not transfer)."""
    chosen = self.all_languages if languages is None else set(languages)
    return [l for l in self.all_languages if l != "en" and l in chosen]

  def per_language(self, table: Table, tasks: Optional[Sequence[str]] = None) -> dict[str, float]:
    """Each language's mean over the tasks it appears in (all tasks unless given)."""
    result = {}
    for language in self.all_languages:
      values = [table[t][language] for t in (tasks or self.tasks) if language in table.get(t, {})]
      if values:
        result[language] = float(np.mean(values))
    return result

  @property
  def uneven_coverage(self) -> bool:
    """True when languages appear in different sets of tasks (per-language means mix tasks)."""
    coverage = {l: tuple(t for t in self.tasks if l in self.languages[t]) for l in self.targets()}
    return len(set(coverage.values())) > 1
