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
import zlib

from xstilts_jax.errors import DataError
from xstilts_jax.paths import as_path, find_files, identity

SCHEMA = 1
RESULTS_FILE = "results.json"
QA_METRICS = ("squad_v1", "squad_v2", "mlqa")
_MAIN_KEY = {
    "accuracy": "accuracy",
    "tatoeba_accuracy": "accuracy",
    "token_accuracy": "accuracy",
    "seqeval_f1": "f1",
    "bucc_f1": "f1",
    "accuracy_f1": "accuracy_f1",
}


@dataclasses.dataclass(frozen=True, order=True)
class Condition:
  """What a run did besides target fine-tuning, as the run recorded it."""

  intermediate: tuple[str, ...] = ()
  mlm_first: tuple[str, ...] = ()  # continued masked LM before intermediate training (phase 0)
  mlm_beside: tuple[str, ...] = ()  # masked LM as one more task beside intermediate training
  translated: bool = False
  # Recorded since results.json carries them; older files read as XLM-R on XTREME, whole data.
  data_subset: str = ""  # "diverse:mnli:600" (kind:task:size): intermediate data chosen by `xstilts select`
  benchmark: str = "xtreme"  # xtreme | xtreme-r
  backbone: str = "xlmr"  # xlmr | mt5
  protocol: str = "heads"  # heads | text-to-text (mT5)

  @property
  def label(self) -> str:
    name = "+".join(self.intermediate) or "no intermediate"
    if len(self.intermediate) > 4:  # a multi-task condition: short, and unique by its checksum
      tag = zlib.crc32("+".join(self.intermediate).encode()) % 0x10000
      name = f"{len(self.intermediate)} tasks {self.intermediate[0]}+...+" f"{self.intermediate[-1]} #{tag:04x}"
    extras = []
    if self.mlm_first:
      extras.append(f"MLM first on {','.join(self.mlm_first)}")
    if self.mlm_beside:
      extras.append(f"MLM beside on {','.join(self.mlm_beside)}")
    if self.translated:
      extras.append("translated")
    if self.data_subset:
      subset, _, rest = self.data_subset.partition(":")
      task, _, size = rest.partition(":")
      extras.append(f"{subset} subset of {task}" + (f", {size} examples" if size else ""))
    if self.benchmark != "xtreme":
      extras.append(self.benchmark.upper())
    if self.backbone != "xlmr" or self.protocol != "heads":
      extras.append(f"{self.backbone} {self.protocol}")
    return f"{name} ({'; '.join(extras)})" if extras else name

  @property
  def slug(self) -> str:
    """The label as a file-name part: 'mnli_mlm_first_on_qs_qc'."""
    return "_".join("".join(c if c.isalnum() else " " for c in self.label.lower()).split())

  @property
  def plain(self) -> bool:
    """English intermediate training only: no MLM stage or beside, no translation."""
    return not (self.mlm_first or self.mlm_beside or self.translated)


@dataclasses.dataclass(frozen=True)
class Run:
  workdir: Path
  experiment: str
  condition: Condition
  seed: int
  model: str
  data: str
  metrics: Mapping[str, str]  # task -> metric name
  scores: Mapping[str, Mapping[str, float]]  # task -> language -> main score
  xtreme: Mapping
  languages: Mapping  # results' languages block (synthetic)
  task_embeddings: Mapping[str, Sequence[float]]  # TextEmb
  task_diversity: Mapping[str, Mapping]
  provenance: str = "recorded"  # where the MLM part of the condition was read from
  task_embeddings_fisher: Mapping[str, Sequence[float]] = dataclasses.field(default_factory=dict)  # TaskEmb
  subset_measure: str = ""  # the diversity measure `xstilts select` chose its subset by (results.json data_subset)


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
  raise DataError(
      f"{where}: unknown metric {metric!r} (expected one of " f"{', '.join(QA_METRICS + tuple(_MAIN_KEY))})"
  )


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
  workdir = as_path(workdir)  # a local path or gs://
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
  condition, provenance = _condition(data, path)
  condition = dataclasses.replace(condition, **_setup(data, path))
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
      workdir=workdir,
      experiment=str(data.get("experiment", workdir.name)),
      condition=condition,
      seed=_require(data, "seed", int, path),
      model=str(data.get("model", "")),
      data=str(data.get("data", "")),
      metrics=metrics,
      scores=scores,
      xtreme=data.get("xtreme") or {},
      languages=data.get("languages") or {},
      task_embeddings=data.get("task_embeddings") or {},
      task_diversity=data.get("task_diversity") or {},
      provenance=provenance,
      task_embeddings_fisher=data.get("task_embeddings_fisher") or {},
      subset_measure=str((data.get("data_subset") or {}).get("measure") or ""),
  )


def _setup(data: Mapping, path: Path) -> dict:
  """The condition's data subset, benchmark and backbone as the run recorded them."""
  setup = {}
  for key in ("benchmark", "backbone", "protocol"):
    if key in data:
      if not isinstance(data[key], str) or not data[key]:
        raise DataError(f"{path}: {key!r} should be a non-empty string, got {data[key]!r}")
      setup[key] = data[key]
  subset = data.get("data_subset")
  if subset is not None:
    if not isinstance(subset, dict) or not all(isinstance(subset.get(k), str) for k in ("subset", "task")):
      raise DataError(f'{path}: \'data_subset\' should be {{"task": ..., "subset": ...}} or null, got {subset!r}')
    size = subset.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool)):
      raise DataError(f"{path}: 'data_subset.size' should be an integer, got {size!r}")
    # The size is part of the arm: subsets of one task at two sizes are two conditions.
    setup["data_subset"] = f"{subset['subset']}:{subset['task']}" + (f":{size}" if size is not None else "")
  return setup


def _condition(data: Mapping, path: Path) -> tuple[Condition, str]:
  """The condition a run did, from its 'mlm' record {first, beside} when it has one.

  Older results.json files copy the config (mlm_languages, mlm_beside) even where the run
  did no MLM (a baseline beside an MLM-beside run). For them, what the pipeline did is
  derived: phase 0 ran when mlm_languages is set without mlm_beside; MLM beside ran only
  with intermediate tasks.
  """
  intermediate = _codes(data.get("intermediate", []), "intermediate", path)
  translated = bool(data.get("translated", False))
  record = data.get("mlm")
  if record is not None:
    if not isinstance(record, dict) or set(record) != {"first", "beside"}:
      raise DataError(f'{path}: \'mlm\' should be {{"first": [...], "beside": [...]}}, ' f"got {record!r}")
    return (
        Condition(
            intermediate,
            _codes(record["first"], "mlm.first", path),
            _codes(record["beside"], "mlm.beside", path),
            translated,
        ),
        "recorded",
    )
  languages = _codes(data.get("mlm_languages", []), "mlm_languages", path)
  beside = bool(data.get("mlm_beside", False))
  condition = Condition(
      intermediate, () if beside else languages, languages if beside and intermediate else (), translated
  )
  return condition, ("derived from mlm_languages/mlm_beside (no 'mlm' record)" if languages else "recorded")


def find_workdirs(paths: Sequence[Union[str, Path]]) -> list[Path]:
  """Every directory holding a results.json at or below each path (any depth), sorted.

  A path with none is a one-line error naming it: a typo must not shrink a report.
  """
  found: dict[Path, None] = {}
  for path in paths:
    path = as_path(path)
    if (path / RESULTS_FILE).is_file():
      found[path] = None
      continue
    if not path.is_dir():
      raise DataError(f"{path}: no such directory")
    below = [p.parent for p in find_files(path, RESULTS_FILE)]
    if not below:
      raise DataError(
          f"{path}: no {RESULTS_FILE} at or below it (not an experiment workdir or "
          "sweep root, or nothing has finished)"
      )
    found.update(dict.fromkeys(below))
  return list(found)


def unfinished_below(paths: Sequence[Union[str, Path]]) -> list[Path]:
  """Experiment directories below `paths` with a config.json but no results.json yet."""
  result = []
  for path in paths:
    path = as_path(path)
    if not path.is_dir():
      continue
    for config in find_files(path, "config.json"):
      folder = config.parent
      if (folder / "phases").is_dir() and not find_files(folder, RESULTS_FILE):
        result.append(folder)
  return result


def load_runs(workdirs: Sequence[Union[str, Path]]) -> list[Run]:
  """Every workdir's run, each workdir once (by resolved path), in the order given."""
  seen, runs = set(), []
  for workdir in workdirs:
    key = identity(workdir)
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


def find_matching(condition: Condition, candidates: Sequence[Condition], **changes) -> Optional[Condition]:
  """The candidate equal to `condition` with `changes` applied, if present."""
  wanted = dataclasses.replace(condition, **changes)
  return wanted if wanted in candidates else None
