"""Calibration of the report's primary tests on simulated sweeps (no model, no files).

`python -m xstilts_jax.analysis.calibrate` prints, per question, how often the report
claims a direction on sweeps with no true effect (the false-claim rate, family-wise
after Holm) and how often it finds a planted effect of a stated size (the power), with
3 runs per arm unless told otherwise.

A simulated score is base(task, language) + effect + run offset + run-task offset +
cell noise: languages differ a lot (80 - 30 x distance, +- 3), each run adds one offset
to all its scores (sd `RUN_SD`) and one per task (its fine-tuning, sd `RUN_TASK_SD`),
and each (task, language) of a run its own noise (sd `CELL_SD`). Real XTREME languages
and their facts come from languages.csv; TextEmb vectors share a large common component
as real ones do; the sweep's conditions follow `xstilts sweep`, plus Q2's subset arms and Q4's
XTREME-R and mT5 arms (`SETUP_ARMS`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from xstilts_jax.analysis import questions
from xstilts_jax.analysis.languages import language_table
from xstilts_jax.analysis.results import Condition, Run
from xstilts_jax.analysis.study import Study
from xstilts_jax.tasks.registry import TASK_GROUPS, TYDIQA_LANGUAGES, XCOPA_LANGUAGES, XNLI_LANGUAGES

RUN_SD = 0.5  # points: one offset per run, shared by all its tasks and languages
RUN_TASK_SD = 0.75  # points: one offset per (run, task): the task's fine-tuning run
CELL_SD = 0.75  # points: per (run, task, language)
TASKS = {"xnli": XNLI_LANGUAGES, "xcopa": XCOPA_LANGUAGES, "tydiqa": TYDIQA_LANGUAGES}
TRAIN_TASK = {"xnli": "mnli", "xcopa": "copa", "tydiqa": "squad_v1"}
MLM_LANGUAGES = ("sw", "ur", "te", "mr", "yo")
# Planted effects (points), one question at a time, for the power figures.
PLANTED = {
    "q1": (
        "MLM first on sw,ur,te,mr,yo before all intermediate tasks adds {size} points on "
        "the languages outside the MLM set",
        3.0,
    ),
    "q2": (
        "the diverse MNLI subset's gain grows with distance by {size} points per unit distance "
        "more than the random subset's",
        10.0,
    ),
    "q3": (
        "the gain on low-resource languages is {size} points x the centred cosine of " "intermediate and target task",
        1.5,
    ),
    "q4": ("mnli's gain is {size} points larger on XTREME-R than on XTREME (XLM-R)", 4.0),
    "q5": ("one condition (squad_v1) adds {size} points more on low- than on high-resource " "languages", 2.0),
}
DECISIONS = {
    "q1": "helps",
    "q2": "diverse_more_robust",
    "q3": "more_similar_more_gain",
    "q4": "larger_gain_on_xtreme_r_or_mt5",
    "q5": "low_resource_gain_more",
}


def sweep_conditions(n_conditions: Optional[int] = None) -> list[tuple[str, Condition]]:
  """(name, condition) of `xstilts sweep`'s grid; the baseline first; cut to n if given."""
  singles = TASK_GROUPS["all_intermediate"]
  grid = [("baseline", Condition())]
  grid += [(t, Condition((t,))) for t in singles]
  grid.append(("multitask", Condition(tuple(singles))))
  grid.append(("mlm-then-all", Condition(tuple(singles), mlm_first=MLM_LANGUAGES)))
  grid += [(f"{t}+mlm", Condition((t,), mlm_beside=MLM_LANGUAGES)) for t in singles]
  translated = [
      f"{t}:{l}"
      for t, ls in (
          ("translate_train_mnli", "ar de es hi ru sw tr vi zh"),
          ("translate_train_squad", "ar de es hi vi zh"),
      )
      for l in ls.split()
  ]
  grid += [(t.replace(":", "-"), Condition((t,), translated=True)) for t in translated]
  k = 0
  while n_conditions is not None and len(grid) < n_conditions:  # more seeds of the grid's idea
    grid.append((f"extra{k}", Condition((singles[k % len(singles)], f"extra{k}"))))
    k += 1
  return grid[:n_conditions] if n_conditions else grid


# Q2's and Q4's arms, added to every simulated grid: MNLI subsets of one size (xstilts select),
# and MNLI with its baseline on XTREME-R and with mT5; score levels shifted per setup.
SETUP_ARMS = (
    ("mnli-diverse", Condition(("mnli",), data_subset="diverse:mnli:600")),
    ("mnli-random", Condition(("mnli",), data_subset="random:mnli:600")),
    ("xtremer-baseline", Condition(benchmark="xtreme-r")),
    ("xtremer-mnli", Condition(("mnli",), benchmark="xtreme-r")),
    ("mt5-baseline", Condition(backbone="mt5", protocol="text-to-text")),
    ("mt5-mnli", Condition(("mnli",), backbone="mt5", protocol="text-to-text")),
)
SETUP_SHIFT = {"xtreme-r": -2.0, "mt5": -4.0}  # points on every score of such a run

SMALL = (
    "baseline",
    "snli",
    "mnli",
    "anli_r1",
    "ccg",
    "commonsenseqa",
    "hellaswag",
    "squad_v1",
    "multitask",
    "mlm-then-all",
    "mnli+mlm",
    "squad_v1+mlm",
    "translate_train_mnli-sw",
    "translate_train_squad-de",
)


def small_grid() -> list[tuple[str, Condition]]:
  """14 conditions with every kind of the sweep (for the quick calibration in the tests)."""
  grid = dict(sweep_conditions())
  return [(name, grid[name]) for name in SMALL]


@dataclasses.dataclass
class Sweep:
  runs: list[Run]
  baseline: list[Run]


def simulate(
    rng: np.random.Generator,
    n_runs: int = 3,
    planted: Optional[str] = None,
    size: float = 0.0,
    n_conditions: Optional[int] = None,
    runs_per_condition: Optional[dict[str, int]] = None,
    small: bool = False,
) -> Sweep:
  """One simulated sweep; `planted` names the question whose effect of `size` is planted.

  The grid: `xstilts sweep`'s (cut or padded to n_conditions), or `small_grid()`.
  """
  table = language_table()
  grid = (small_grid() if small else sweep_conditions(n_conditions)) + list(SETUP_ARMS)
  names = sorted({t for _, c in grid for t in c.intermediate} | set(TRAIN_TASK.values()))
  common = rng.normal(0, 1, 16) * 4
  embeddings = {t: (common + rng.normal(0, 1, 16)).tolist() for t in names}
  centre = np.mean([embeddings[t] for t in names], axis=0)
  diversity = {t: float(rng.normal(6.5, 0.5)) for t in names}
  base = {t: {l: 80 - 30 * (table[l].distance or 0) + rng.normal(0, 3) for l in ls} for t, ls in TASKS.items()}

  def effect(name: str, condition: Condition, task: str, language: str) -> float:
    if planted is None or not condition.intermediate:
      return 0.0
    info = table[language]
    if planted == "q1" and condition.mlm_first and language not in condition.mlm_first:
      return size
    if planted == "q2" and name == "mnli-diverse":
      return size * (info.distance or 0)
    if planted == "q3" and condition.plain and info.joshi_class is not None and info.joshi_class <= 2:
      source = np.mean([embeddings[i] for i in condition.intermediate], axis=0) - centre
      target = np.asarray(embeddings[TRAIN_TASK[task]]) - centre
      return size * float(source @ target / (np.linalg.norm(source) * np.linalg.norm(target)))
    if planted == "q4" and name == "xtremer-mnli":
      return size
    if planted == "q5" and name == "squad_v1" and info.joshi_class is not None:
      return size if info.joshi_class <= 2 else 0.0
    return 0.0

  runs, baseline = [], []
  for name, condition in grid:
    count = (runs_per_condition or {}).get(name, n_runs)
    for seed in range(count):
      offset = rng.normal(0, RUN_SD) + SETUP_SHIFT.get(condition.benchmark, 0.0)
      offset += SETUP_SHIFT.get(condition.backbone, 0.0)
      scores = {}
      for task, languages in TASKS.items():
        task_offset = rng.normal(0, RUN_TASK_SD)
        scores[task] = {
            l: base[task][l] + effect(name, condition, task, l) + offset + task_offset + rng.normal(0, CELL_SD)
            for l in languages
        }
      run = Run(
          workdir=Path(f"/simulated/{name}/seed{seed}"),
          experiment=name,
          condition=condition,
          seed=seed,
          model="simulated",
          data="xtreme",
          metrics={t: "accuracy" for t in TASKS},
          scores=scores,
          xtreme={},
          languages={},
          task_embeddings={t: embeddings[t] for t in set(condition.intermediate) | set(TRAIN_TASK.values())},
          task_diversity={t: {"word_class_entropy": diversity[t], "distinct_2": 0.5} for t in condition.intermediate},
      )
      (baseline if name == "baseline" else runs).append(run)
  return Sweep(runs, baseline)


def decisions(sweep: Sweep) -> dict[str, str]:
  """The decision of each question's primary test on a simulated sweep."""
  study = Study(sweep.runs, sweep.baseline)
  return {a.key: a.decision for a in questions.answer_all(study)}


def false_claim_rate(n_sweeps: int = 200, n_runs: int = 3, seed: int = 0, small: bool = False) -> dict[str, float]:
  """Share of null sweeps on which each question claims anything (any decision but none)."""
  rng = np.random.default_rng(seed)
  claims = {key: 0 for key, _ in questions.QUESTIONS}
  for _ in range(n_sweeps):
    for key, decision in decisions(simulate(rng, n_runs, small=small)).items():
      claims[key] += decision not in ("no_clear_effect", "cannot_answer")
  return {key: count / n_sweeps for key, count in claims.items()}


def power(
    key: str, size: Optional[float] = None, n_sweeps: int = 100, n_runs: int = 3, seed: int = 1, small: bool = False
) -> float:
  """Share of sweeps with question `key`'s planted effect on which it finds that direction."""
  rng = np.random.default_rng(seed)
  size = PLANTED[key][1] if size is None else size
  found = 0
  for _ in range(n_sweeps):
    sweep = simulate(rng, n_runs, planted=key, size=size, small=small)
    study = Study(sweep.runs, sweep.baseline)
    answer = questions.QUESTION_FUNCTIONS[int(key[1]) - 1](questions.NullDocument(), study)
    found += answer.decision == DECISIONS[key]
  return found / n_sweeps


def write_sweep(sweep: Sweep, root: Path) -> list[Path]:
  """results.json files laid out as `xstilts sweep` leaves them: ROOT/name/seedN/name/."""
  written = []
  for run in sweep.baseline + sweep.runs:
    c = run.condition
    exp = Path(root) / run.experiment / f"seed{run.seed}" / run.experiment
    exp.mkdir(parents=True, exist_ok=True)
    data = {
        "schema": 1,
        "experiment": run.experiment,
        "intermediate": list(c.intermediate),
        "mlm_languages": list(c.mlm_first + c.mlm_beside),
        "mlm_beside": bool(c.mlm_beside),
        "mlm": {"first": list(c.mlm_first), "beside": list(c.mlm_beside)},
        "translated": c.translated,
        "benchmark": c.benchmark,
        "backbone": c.backbone,
        "protocol": c.protocol,
        "data_subset": _subset_record(c.data_subset),
        "seed": run.seed,
        "model": run.model,
        "data": run.data,
        "tasks": {
            t: {"metric": "accuracy", "languages": {l: {"accuracy": v} for l, v in ls.items()}}
            for t, ls in run.scores.items()
        },
        "xtreme": {},
        "languages": {},
        "task_embeddings": run.task_embeddings,
        "task_diversity": run.task_diversity,
    }
    (exp / "results.json").write_text(json.dumps(data))
    written.append(exp)
  return written


def _subset_record(data_subset: str) -> Optional[dict]:
  """results.json's data_subset of a condition's 'kind:task:size' (None for whole data)."""
  if not data_subset:
    return None
  kind, task, size = (data_subset.split(":") + [""])[:3]
  return {"task": task, "subset": kind, "size": int(size) if size else None, "measure": "simulated", "seed": 0}


def main(argv: Optional[Sequence[str]] = None) -> int:
  parser = argparse.ArgumentParser(
      prog="python -m xstilts_jax.analysis.calibrate",
      description="False-claim rate on null sweeps and power on planted ones.",
  )
  parser.add_argument("--sweeps", type=int, default=200, help="null sweeps (default 200)")
  parser.add_argument("--power-sweeps", type=int, default=100, help="planted sweeps per question")
  parser.add_argument("--runs", type=int, default=3, help="runs per arm (default 3)")
  args = parser.parse_args(argv)
  grid = sweep_conditions()
  print(
      f"Simulated sweeps: {len(grid)} conditions (the baseline included) x {args.runs} runs, "
      f"tasks {', '.join(TASKS)}; noise sd: run {RUN_SD}, run x task {RUN_TASK_SD}, "
      f"cell {CELL_SD} points."
  )
  rates = false_claim_rate(args.sweeps, args.runs)
  print(f"{'question':9s} {'false claims':>12s} {'power':>6s} {'power at 2x':>11s}  " "planted effect (size x)")
  for key, _ in questions.QUESTIONS:
    text, size = PLANTED[key]
    found = power(key, size, args.power_sweeps, args.runs)
    double = power(key, 2 * size, args.power_sweeps, args.runs)
    print(f"{key:9s} {rates[key]:>12.3f} {found:>6.2f} {double:>11.2f}  " f"{text.format(size=f'x = {size:g}')}")
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
