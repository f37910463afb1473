"""Reading experiment workdirs: results.json (schema 1) into runs, grouped into conditions.

A condition is what a run changed (intermediate tasks, continued-MLM languages, MLM
beside intermediate training, translated data); runs of one condition with different
seeds are replicates. Each (task, language) gets one number, its main score:
accuracy; (F1 + exact match) / 2 for QA, as XTREME; F1 for tagging and BUCC.
"""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Mapping, Optional, Sequence, Union

from xstilts_jax.errors import DataError

SCHEMA = 1
RESULTS_FILE = "results.json"
QA_METRICS = ("squad_v1", "squad_v2", "mlqa")
_MAIN_KEY = {"accuracy": "accuracy", "tatoeba_accuracy": "accuracy", "token_accuracy": "accuracy",
             "seqeval_f1": "f1", "bucc_f1": "f1", "accuracy_f1": "accuracy_f1"}


@dataclasses.dataclass(frozen=True, order=True)
class Condition:
  intermediate: tuple[str, ...] = ()
  mlm_languages: tuple[str, ...] = ()
  mlm_beside: bool = False
  translated: bool = False

  @property
  def label(self) -> str:
    name = "+".join(self.intermediate) or "no intermediate"
    extras = []
    if self.mlm_languages:
      extras.append(f"MLM first on {','.join(self.mlm_languages)}")
    if self.mlm_beside:
      extras.append("MLM beside")
    if self.translated:
      extras.append("translated")
    return f"{name} ({'; '.join(extras)})" if extras else name

  @property
  def slug(self) -> str:
    """The label as a file-name part: 'mnli_mlm_first_on_qs_qc'."""
    return "_".join("".join(c if c.isalnum() else " " for c in self.label.lower()).split())

  @property
  def plain(self) -> bool:
    """English intermediate training only: no MLM stage or beside, no translation."""
    return not (self.mlm_languages or self.mlm_beside or self.translated)


@dataclasses.dataclass(frozen=True)
class Run:
  workdir: Path
  experiment: str
  condition: Condition
  seed: int
  model: str
  data: str
  metrics: Mapping[str, str]                          # task -> metric name
  scores: Mapping[str, Mapping[str, float]]           # task -> language -> main score
  xtreme: Mapping
  languages: Mapping                                  # results' languages block (synthetic)
  task_embeddings: Mapping[str, Sequence[float]]
  task_diversity: Mapping[str, Mapping]


def main_score(metric: str, values: Mapping[str, float], where: str) -> float:
  """The one number of a language's metric dict (see module docstring)."""
  def get(key: str) -> float:
    if key == "exact_match" and key not in values and "exact" in values:
      key = "exact"
    value = values.get(key)
    if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
      raise DataError(f"{where}: no numeric {key!r} (has {', '.join(values) or 'nothing'})")
    return float(value)
  if metric in QA_METRICS:
    return (get("f1") + get("exact_match")) / 2
  if metric in _MAIN_KEY:
    return get(_MAIN_KEY[metric])
  raise DataError(f"{where}: unknown metric {metric!r} (expected one of "
                  f"{', '.join(QA_METRICS + tuple(_MAIN_KEY))})")


def _require(data: Mapping, key: str, kind: type, path: Path):
  if key not in data:
    raise DataError(f"{path}: missing {key!r}")
  if not isinstance(data[key], kind) or (kind is int and isinstance(data[key], bool)):
    raise DataError(f"{path}: {key!r} should be {kind.__name__}, got {type(data[key]).__name__}")
  return data[key]


def _codes(value, key: str, path: Path) -> tuple[str, ...]:
  if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
    raise DataError(f"{path}: {key!r} should be a list of names, got {value!r}")
  return tuple(value)


def load_run(workdir: Union[str, Path]) -> Run:
  """The run in `workdir`; DataError naming the file when it is missing or malformed."""
  workdir = Path(workdir)
  path = workdir / RESULTS_FILE
  if not path.is_file():
    raise DataError(f"{workdir}: no {RESULTS_FILE} (not an experiment workdir, or not finished)")
  try:
    data = json.loads(path.read_text(encoding="utf-8"))
  except (json.JSONDecodeError, UnicodeDecodeError) as error:
    raise DataError(f"{path}: not valid JSON ({error})") from None
  if not isinstance(data, dict):
    raise DataError(f"{path}: expected a JSON object")
  if data.get("schema") != SCHEMA:
    raise DataError(f"{path}: schema {data.get('schema')!r} (this report reads schema {SCHEMA})")
  condition = Condition(
      intermediate=_codes(data.get("intermediate", []), "intermediate", path),
      mlm_languages=_codes(data.get("mlm_languages", []), "mlm_languages", path),
      mlm_beside=bool(data.get("mlm_beside", False)),
      translated=bool(data.get("translated", False)))
  metrics, scores = {}, {}
  for task, block in _require(data, "tasks", dict, path).items():
    where = f"{path}: tasks.{task}"
    if not isinstance(block, dict) or not isinstance(block.get("languages"), dict):
      raise DataError(f"{where}: needs 'metric' and a 'languages' object")
    metric = block.get("metric")
    if not isinstance(metric, str):
      raise DataError(f"{where}: missing 'metric'")
    metrics[task] = metric
    scores[task] = {}
    for language, values in block["languages"].items():
      if not isinstance(values, dict):
        raise DataError(f"{where}.languages.{language}: expected a metric object")
      scores[task][language] = main_score(metric, values, f"{where}.languages.{language}")
  if not scores:
    raise DataError(f"{path}: 'tasks' is empty")
  return Run(
      workdir=workdir, experiment=str(data.get("experiment", workdir.name)), condition=condition,
      seed=_require(data, "seed", int, path), model=str(data.get("model", "")),
      data=str(data.get("data", "")), metrics=metrics, scores=scores,
      xtreme=data.get("xtreme") or {}, languages=data.get("languages") or {},
      task_embeddings=data.get("task_embeddings") or {},
      task_diversity=data.get("task_diversity") or {})


def load_runs(workdirs: Sequence[Union[str, Path]]) -> list[Run]:
  """Every workdir's run, each workdir once (by resolved path), in the order given."""
  seen, runs = set(), []
  for workdir in workdirs:
    key = Path(workdir).resolve()
    if key not in seen:
      seen.add(key)
      runs.append(load_run(workdir))
  return runs


def group_by_condition(runs: Sequence[Run]) -> dict[Condition, list[Run]]:
  groups: dict[Condition, list[Run]] = {}
  for run in runs:
    groups.setdefault(run.condition, []).append(run)
  return groups


def seeds_text(runs: Sequence[Run]) -> str:
  """'2 runs (seeds 0, 1)' or '1 run (seed 0)'."""
  seeds = sorted({r.seed for r in runs})
  word = "seed" if len(seeds) == 1 else "seeds"
  return f"{len(runs)} run{'s' if len(runs) != 1 else ''} ({word} {', '.join(map(str, seeds))})"


def find_matching(condition: Condition, candidates: Sequence[Condition],
                  **changes) -> Optional[Condition]:
  """The candidate equal to `condition` with `changes` applied, if present."""
  wanted = dataclasses.replace(condition, **changes)
  return wanted if wanted in candidates else None
