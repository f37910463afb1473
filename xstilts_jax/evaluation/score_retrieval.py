"""`xstilts score` for XTREME-R's retrieval tasks, in XTREME-R's prediction formats.

Mewsli-X: predictions are a JSON object {example_id: [entity ids, best first]} per language
(XTREME-R's `pred/{split}-{lang}.json`); gold is XTREME-R's label file
{example_id: [entity id]} (`wikinews_labels/{split}-{lang}.json`) or the release's
`wikinews_mentions-{split}.jsonl` (rows of `language`). Scored by MRR@20 (= mAP@20).

LAReQA: predictions are the directory XTREME-R's evaluate_retrieval.py writes:
`question_encodings.npz` + `question_uids.txt` and
`candidate_encodings_sentences_and_contexts.npz` + `candidate_uids.txt` (uids
`{question id}_{lang}` and `{lang}_{paragraph}_{sentence}`); gold is the XQuAD-R directory
(or one of its files). Every question and candidate of the pool must have an encoding.
Scored by mAP@20 over the whole pool (questions of `language` only, when given).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional, Union

import numpy as np

from xstilts_jax.data import readers
from xstilts_jax.errors import ConfigError, DataError
from xstilts_jax.evaluation import retrieval_qa
from xstilts_jax.tasks.spec import TaskSpec

PathLike = Union[str, os.PathLike]
LAREQA_FILES = {
    "question": ("question_encodings.npz", "question_uids.txt"),
    "candidate": ("candidate_encodings_sentences_and_contexts.npz", "candidate_uids.txt"),
}


def _json_object(path: PathLike) -> dict:
  path = Path(path)
  if not path.is_file():
    raise DataError(f"{path}: file not found")
  try:
    value = json.loads(path.read_text(encoding="utf-8"))
  except json.JSONDecodeError as e:
    raise DataError(f"{path}:{e.lineno}: invalid JSON ({e.msg})") from None
  if not isinstance(value, dict):
    raise DataError(f"{path}: expected a JSON object, found {type(value).__name__}")
  return value


def _mewslix_gold(path: PathLike, language: Optional[str]) -> dict[str, str]:
  if Path(path).suffix == ".jsonl":
    mentions = readers.read_mewslix_mentions(path, language)
    unlabeled = [m.example_id for m in mentions if m.entity_id is None]
    if unlabeled:
      raise DataError(
          f"{path}: {len(unlabeled)} mentions have no entity_id (e.g. "
          f"{unlabeled[0]}): a label-stripped file cannot be gold"
      )
    return {m.example_id: m.entity_id for m in mentions}
  gold = {}
  for example_id, labels in _json_object(path).items():
    if not isinstance(labels, list) or len(labels) != 1 or not isinstance(labels[0], str):
      raise DataError(f"{path}: {example_id}: expected a list with one entity id, " f"found {labels!r}")
    gold[example_id] = labels[0].strip()
  return gold


def score_mewslix(predictions_path: PathLike, gold_path: PathLike, language: Optional[str] = None) -> dict:
  """MRR@20 of one language's Mewsli-X prediction file."""
  gold = _mewslix_gold(gold_path, language)
  if not gold:
    raise DataError(f"{gold_path}: no gold examples" + (f" in {language}" if language else ""))
  predictions = _json_object(predictions_path)
  for example_id, ranked in predictions.items():
    if not isinstance(ranked, list) or not all(isinstance(e, str) for e in ranked):
      raise DataError(f"{predictions_path}: {example_id}: expected a list of entity ids")
  return retrieval_qa.mewslix_mrr(gold, predictions)


def _encodings(directory: Path, side: str) -> dict[str, np.ndarray]:
  matrix_name, uids_name = LAREQA_FILES[side]
  for name in (matrix_name, uids_name):
    if not (directory / name).is_file():
      raise DataError(f"{directory / name}: file not found (XTREME-R's LAReQA output)")
  try:
    matrix = np.load(directory / matrix_name, allow_pickle=False)
  except ValueError as e:
    raise DataError(f"{directory / matrix_name}: not a numpy array file ({e})") from None
  uids = (directory / uids_name).read_text(encoding="utf-8").splitlines()
  if matrix.ndim != 2 or len(matrix) != len(uids):
    raise DataError(f"{directory / matrix_name}: shape {matrix.shape} for {len(uids)} uids in " f"{uids_name}")
  if len(set(uids)) != len(uids):
    raise DataError(f"{directory / uids_name}: duplicate uids")
  return dict(zip(uids, matrix))


def score_lareqa(predictions_dir: PathLike, gold_path: PathLike, language: Optional[str] = None) -> dict:
  """mAP@20 of XTREME-R's LAReQA encodings against the XQuAD-R pool."""
  directory = Path(predictions_dir)
  if not directory.is_dir():
    raise DataError(f"{directory}: expected the directory of XTREME-R's LAReQA encodings")
  pool = readers.read_xquad_r(gold_path, language)
  vectors = {side: _encodings(directory, side) for side in LAREQA_FILES}

  def matrix(side, items):
    missing = [x.uid for x in items if x.uid not in vectors[side]]
    if missing:
      raise DataError(
          f"{directory / LAREQA_FILES[side][1]}: no encoding for {len(missing)} "
          f"{side}s of the pool (e.g. {missing[0]})"
      )
    return np.stack([vectors[side][x.uid] for x in items]).astype(np.float32)

  return retrieval_qa.lareqa_map(
      matrix("question", pool.questions),
      matrix("candidate", pool.candidates),
      pool.gold,
      [q.language for q in pool.questions],
  )


def score_retrieval_files(
    spec: TaskSpec, predictions_path: PathLike, gold_path: PathLike, language: Optional[str] = None
) -> dict:
  """The scorer of the dual-encoder formats (formats.retrieval_qa: lareqa; formats.entity_retrieval: mewslix)."""
  if spec.metric == "lareqa_map":
    return score_lareqa(predictions_path, gold_path, language)
  if spec.metric == "mewslix_map":
    return score_mewslix(predictions_path, gold_path, language)
  raise ConfigError(f"task {spec.name}: no retrieval scorer for metric {spec.metric!r}")
