"""`xstilts score`: a prediction file in XTREME's submission format against gold.

Prediction formats (as the XTREME leaderboard takes them):
  classification, multiple choice   one label per line
  tagging                           one tag per line, a blank line between sentences
  span QA                           a JSON object {question id: answer text}
  BUCC                              `source id<TAB>target id` per line
  Tatoeba                           one index per line
Gold is the prediction form itself or the dataset's own file, read by the task's reader in
xstilts_jax.data.readers (so rows the readers skip are skipped here too): XNLI tsv/jsonl
(rows of `language`), PAWS-X and GLUE tsv, the intermediate tasks' jsonl/csv, SQuAD-style
JSON (XQuAD, MLQA, TyDiQA-GoldP -- all languages, or those of `language` --, SQuAD),
CoNLL-U (converted as XTREME converts it, see readers.read_conllu: a multiword token is one
word, so predictions in XTREME's UD-POS layout line up). Also read here: XTREME's headerless `text_a<TAB>text_b<TAB>label`, `token<TAB>tag`
lines (PAN-X, XTREME's UDPOS tsv, raw WikiANN) and the BUCC `.gold` file.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
import re
from typing import Optional, Union

from xstilts_jax.data import readers
from xstilts_jax.errors import ConfigError, DataError
from xstilts_jax.evaluation import metrics
from xstilts_jax.evaluation.retrieval_metrics import pairs_f1
from xstilts_jax.tasks.spec import TaskSpec

PathLike = Union[str, os.PathLike]
logger = logging.getLogger(__name__)


def _lines(path: PathLike) -> list[str]:
  """Lines without line ends, trailing blank lines dropped."""
  try:
    with open(path, encoding="utf-8") as f:
      lines = f.read().splitlines()
  except FileNotFoundError:
    raise DataError(f"{path}: file does not exist") from None
  except UnicodeDecodeError as e:
    raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
  while lines and not lines[-1].strip():
    lines.pop()
  return lines


def _one_per_line(path: PathLike, what: str) -> list[tuple[int, str]]:
  """(line number, stripped value) of every line; blank lines inside the file are errors."""
  values = []
  for n, line in enumerate(_lines(path), 1):
    if not line.strip():
      raise DataError(f"{path}:{n}: empty line (expected one {what} per line)")
    values.append((n, line.strip()))
  return values


def _spec_reader(spec: TaskSpec, path: PathLike, language: Optional[str]):
  """The examples of a gold file read by the task's own reader (xstilts_jax.data.readers)."""
  if spec.local is None:
    raise DataError(
        f"{path}: task {spec.name} has no reader for its original files; give the " "gold in the prediction form"
    )
  reader = readers.get_reader(spec.local.reader)
  if reader.by_language and language is None:
    if reader.name == "read_tydiqa_goldp":
      return readers.read_squad_json(path)  # XTREME's per-language file, or all languages
    raise ConfigError(f"{path}: the {spec.name} gold file holds several languages; say which " "with language=")
  return reader([path], language)


# --- classification -------------------------------------------------------------------------

# Column names that mark the first line of a TSV as a header (XNLI, PAWS-X, GLUE).
_HEADER_NAMES = {"label", "gold_label", "is_duplicate", "language", "sentence1", "id", "index"}


def _gold_labels(spec: TaskSpec, path: PathLike, language: Optional[str]) -> list[str]:
  """Gold labels: one per line, XTREME's headerless `text_a<TAB>text_b<TAB>label`, or the
  dataset's own file read by the task's reader."""
  if Path(path).suffix not in (".jsonl", ".json", ".csv"):
    lines = _lines(path)
    if lines and not any("\t" in line for line in lines):
      return [value for _, value in _one_per_line(path, "label")]
    if lines and not _HEADER_NAMES & set(lines[0].split("\t")):
      labels = []
      for n, line in enumerate(lines, 1):
        fields = line.split("\t")
        if len(fields) < 2:
          raise DataError(f"{path}:{n}: expected tab-separated fields ending in the label")
        labels.append(fields[-1].strip())
      return labels
  examples = _spec_reader(spec, path, language)
  labels = [None if ex.label is None else str(ex.label) for ex in examples]
  if any(label is None for label in labels):
    raise DataError(f"{path}: {labels.count(None)} examples have no gold label (a test file " "without labels?)")
  return labels


def _score_labels(path, gold: list[str], allowed: tuple[str, ...], metric: str) -> dict:
  predicted = _one_per_line(path, "label")
  if len(predicted) != len(gold):
    raise DataError(f"{path}: {len(predicted)} lines but gold has {len(gold)} examples")
  known = set(allowed) | set(gold)
  for n, label in predicted:
    if label not in known:
      raise DataError(f"{path}:{n}: unknown label {label!r} (expected one of " f"{', '.join(sorted(known))})")
  result = metrics.METRICS[metric]([label for _, label in predicted], gold)
  return {**result, "num_examples": len(gold)}


# --- tagging --------------------------------------------------------------------------------


def _sentences(path: PathLike, tag_of_line) -> list[list[tuple[int, str]]]:
  """Blank-line separated blocks of (line number, tag); runs of blank lines count as one."""
  sentences, current = [], []
  for n, line in enumerate(_lines(path), 1):
    if not line.strip():
      if current:
        sentences.append(current)
        current = []
      continue
    tag = tag_of_line(n, line)
    if tag is not None:
      current.append((n, tag))
  if current:
    sentences.append(current)
  return sentences


def _is_conllu(path: PathLike, lines: list[str]) -> bool:
  if str(path).endswith(".conllu"):
    return True
  first = next((l for l in lines if l.strip() and not l.startswith("#")), "")
  return len(first.split("\t")) == 10


def _gold_tags(path: PathLike) -> list[list[str]]:
  """Gold tag sequences: CoNLL-U UPOS (read_conllu, as XTREME's conversion), `token<TAB>tag`
  lines (PAN-X, XTREME's UDPOS tsv, raw WikiANN) or one tag per line, blank lines between
  sentences."""
  if _is_conllu(path, _lines(path)):
    return [list(ex.labels) for ex in readers.read_conllu(path)]
  return [[tag for _, tag in s] for s in _sentences(path, lambda n, line: line.split("\t")[-1].strip())]


def _score_tags(path, gold: list[list[str]], allowed: tuple[str, ...], metric: str) -> dict:
  predicted = _sentences(path, lambda n, line: line.strip())
  if len(predicted) != len(gold):
    raise DataError(f"{path}: {len(predicted)} sentences but gold has {len(gold)}")
  known = set(allowed) | {t for s in gold for t in s}
  for i, (p, g) in enumerate(zip(predicted, gold)):
    if len(p) != len(g):
      raise DataError(f"{path}:{p[0][0]}: sentence {i + 1} has {len(p)} tags but gold has " f"{len(g)} words")
    for n, tag in p:
      if tag not in known:
        raise DataError(f"{path}:{n}: unknown tag {tag!r} (expected one of " f"{', '.join(sorted(known))})")
  result = metrics.METRICS[metric]([[t for _, t in s] for s in predicted], gold)
  return {**result, "num_examples": len(gold)}


# --- span QA --------------------------------------------------------------------------------


def _gold_answers(spec: TaskSpec, path: PathLike, language: Optional[str]) -> dict[str, list[str]]:
  """{question id: [gold answer texts]} (an empty list: no answer)."""
  examples = _spec_reader(spec, path, language)
  answers = {}
  for ex in examples:
    if ex.id in answers:
      raise DataError(f"{path}: question id {ex.id} occurs twice")
    answers[ex.id] = [a.text for a in ex.answers]
  return answers


def _mlqa_language(gold_path: PathLike, language: Optional[str]) -> str:
  if language:
    return language
  match = re.search(r"context-([a-z]{2})-question", Path(gold_path).name)
  if not match:
    raise ConfigError(
        f"{gold_path}: MLQA needs the context language (language=, or a file " "named *-context-xx-question-yy.json)"
    )
  return match.group(1)


def _score_answers(path, gold_path, spec: TaskSpec, language: Optional[str], strict: bool = False) -> dict:
  try:
    with open(path, encoding="utf-8") as f:
      predicted = json.load(f)
  except FileNotFoundError:
    raise DataError(f"{path}: file does not exist") from None
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise DataError(f"{path}: not valid JSON ({e})") from None
  if not isinstance(predicted, dict):
    raise DataError(f"{path}: expected a JSON object {{question id: answer text}}")
  for qid, text in predicted.items():
    if not isinstance(text, str):
      raise DataError(f"{path}: the answer for {qid} is a {type(text).__name__}, not a string")
  gold = _gold_answers(spec, gold_path, language)
  missing = [qid for qid in gold if qid not in predicted]
  if missing and strict:
    raise DataError(f"{path}: {len(missing)} question ids of {gold_path} have no prediction " f"(e.g. {missing[0]})")
  if missing:
    how = "left out of the totals (the official v2.0 rule)" if spec.metric == "squad_v2" else "each scores 0"
    logger.warning(
        "%s: %d question ids of %s have no prediction (e.g. %s); %s", path, len(missing), gold_path, missing[0], how
    )
  if spec.metric == "mlqa":
    result = metrics.mlqa(predicted, gold, _mlqa_language(gold_path, language))
  else:
    result = metrics.METRICS[spec.metric](predicted, gold)
  result = {k: v for k, v in result.items() if k != "missing"}
  ignored = sum(1 for qid in predicted if qid not in gold)
  return {
      **result,
      "num_examples": len(gold),
      "missing_predictions": len(missing),
      **({"ignored_predictions": ignored} if ignored else {}),
  }


# --- retrieval ------------------------------------------------------------------------------


def _read_pairs(path: PathLike) -> list[tuple[str, str]]:
  """`source id<TAB>target id` lines (BUCC gold and predictions)."""
  pairs = []
  for n, line in enumerate(_lines(path), 1):
    fields = line.strip().split("\t")
    if len(fields) != 2 or not all(fields):
      raise DataError(f"{path}:{n}: expected 'source id<TAB>target id', got {line!r}")
    pairs.append((fields[0], fields[1]))
  return pairs


def _read_indices(path: PathLike) -> list[tuple[int, int]]:
  indices = []
  for n, value in _one_per_line(path, "index"):
    if not re.fullmatch(r"\d+", value):
      raise DataError(f"{path}:{n}: not a sentence index {value!r}")
    indices.append((n, int(value)))
  return indices


def _score_indices(path, gold_path) -> dict:
  predicted, gold = _read_indices(path), _read_indices(gold_path)
  if len(predicted) != len(gold):
    raise DataError(f"{path}: {len(predicted)} lines but gold has {len(gold)} examples")
  result = metrics.accuracy([i for _, i in predicted], [i for _, i in gold])
  return {**result, "num_examples": len(gold)}


# --- entry point ----------------------------------------------------------------------------


# Each scorer: (spec, predictions path, gold path, language, strict) -> the metric's dict plus
# num_examples; the format modules (xstilts_jax.formats) say which one a task uses, and
# formats.score_files is `xstilts score`'s entry point.


def score_labels(spec: TaskSpec, predictions_path: PathLike, gold_path: PathLike, language=None, strict=False) -> dict:
  """Classification: a label per line against gold labels."""
  return _score_labels(predictions_path, _gold_labels(spec, gold_path, language), spec.labels, spec.metric)


def score_choices(spec: TaskSpec, predictions_path: PathLike, gold_path: PathLike, language=None, strict=False) -> dict:
  """Multiple choice: a choice index per line against gold indices."""
  choices = tuple(str(i) for i in range(spec.num_choices))
  return _score_labels(predictions_path, _gold_labels(spec, gold_path, language), choices, spec.metric)


def score_tags(spec: TaskSpec, predictions_path: PathLike, gold_path: PathLike, language=None, strict=False) -> dict:
  """Tagging: a tag per line, blank lines between sentences."""
  return _score_tags(predictions_path, _gold_tags(gold_path), spec.labels, spec.metric)


def score_answers(spec: TaskSpec, predictions_path: PathLike, gold_path: PathLike, language=None, strict=False) -> dict:
  """Span QA: a JSON object {question id: answer text}; see `formats.score_files` for missing ids."""
  return _score_answers(predictions_path, gold_path, spec, language, strict)


def score_retrieval(
    spec: TaskSpec, predictions_path: PathLike, gold_path: PathLike, language=None, strict=False
) -> dict:
  """BUCC (`source id<TAB>target id` pairs, F1) or Tatoeba (an index per line, accuracy)."""
  if spec.metric == "bucc_f1":
    gold = _read_pairs(gold_path)
    if not gold:
      raise DataError(f"{gold_path}: no gold pairs")
    return {**pairs_f1(_read_pairs(predictions_path), gold), "num_examples": len(set(gold))}
  if spec.metric == "tatoeba_accuracy":
    return _score_indices(predictions_path, gold_path)
  raise ConfigError(f"task {spec.name}: no retrieval scorer for metric {spec.metric!r}")
