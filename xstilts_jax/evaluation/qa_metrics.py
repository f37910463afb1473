"""Extractive-QA metrics as the official scripts compute them (percentages).

- `squad_v1`: SQuAD v1.1 `evaluate-v1.1.py`; XTREME scores XQuAD and TyDiQA-GoldP with it.
- `squad_v2`: SQuAD v2.0 `evaluate-v2.0.py` without a no-answer-probability file.
- `mlqa`: MLQA `evaluate_mlqa.py`, whose normalisation depends on the answer language.

predictions: {question id: answer text}; references: {question id: [gold answer texts]}.
"""

from __future__ import annotations

import collections
import re
import string
from typing import Callable, Mapping, Sequence
import unicodedata

from xstilts_jax.errors import ConfigError, DataError

_ASCII_PUNCTUATION = frozenset(string.punctuation)
_ENGLISH_ARTICLES = re.compile(r"\b(a|an|the)\b")

# Articles that MLQA's normaliser replaces by a space, per answer language.
_MLQA_ARTICLES = {
    "en": _ENGLISH_ARTICLES,
    "es": re.compile(r"\b(un|una|unos|unas|el|la|los|las)\b"),
    "de": re.compile(r"\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b"),
    "vi": re.compile(r"\b(của|là|cái|chiếc|những)\b"),
    # The official Arabic pattern has two alternatives; the first ends in `^` after other
    # characters and so never matches, leaving: every "ال", also inside words.
    "ar": re.compile("ال"),
    "hi": None,
    "zh": None,
}
MLQA_LANGUAGES = tuple(_MLQA_ARTICLES)


def normalize_squad(text: str) -> str:
  """SQuAD: lowercase, drop ASCII punctuation, drop a/an/the, collapse whitespace."""
  text = "".join(c for c in text.lower() if c not in _ASCII_PUNCTUATION)
  return " ".join(_ENGLISH_ARTICLES.sub(" ", text).split())


def _is_mlqa_punctuation(char: str) -> bool:
  return char in _ASCII_PUNCTUATION or unicodedata.category(char).startswith("P")


def _mixed_segmentation(text: str) -> list[str]:
  """MLQA's zh tokens: each CJK ideograph (U+4E00..U+9FA5) and punctuation mark alone."""
  tokens, run = [], []
  for char in text:
    if "\u4e00" <= char <= "\u9fa5" or _is_mlqa_punctuation(char):
      tokens.extend("".join(run).split())
      run = []
      tokens.append(char)
    else:
      run.append(char)
  tokens.extend("".join(run).split())
  return tokens


def _check_mlqa_language(language: str) -> None:
  if language not in _MLQA_ARTICLES:
    raise ConfigError(
        f"MLQA has no normalisation for language {language!r} " f"(expected one of {', '.join(MLQA_LANGUAGES)})"
    )


def normalize_mlqa(text: str, language: str) -> str:
  """MLQA: lowercase, drop Unicode P* and ASCII punctuation, drop articles, re-tokenise."""
  _check_mlqa_language(language)
  text = "".join(c for c in text.lower() if not _is_mlqa_punctuation(c))
  articles = _MLQA_ARTICLES[language]
  if articles is not None:
    text = articles.sub(" ", text)
  tokens = _mixed_segmentation(text) if language == "zh" else text.split()
  return " ".join(t for t in tokens if t.strip())


def _overlap_f1(predicted: list[str], gold: list[str]) -> float:
  same = sum((collections.Counter(predicted) & collections.Counter(gold)).values())
  if same == 0:
    return 0.0
  precision, recall = same / len(predicted), same / len(gold)
  return 2 * precision * recall / (precision + recall)


def _max_over_gold(
    predictions: Mapping[str, str], references: Mapping[str, Sequence[str]], normalize: Callable[[str], str]
) -> dict:
  """v1.1 and MLQA: a question without a prediction scores 0 and counts in the total."""
  exact = f1 = 0.0
  missing = 0
  for qid, golds in references.items():
    if not golds:
      raise DataError(f"question {qid} has no gold answer (SQuAD v2 data? score it with squad_v2)")
    if qid not in predictions:
      missing += 1
      continue
    predicted = normalize(predictions[qid])
    normalized_golds = [normalize(g) for g in golds]
    exact += max(float(predicted == g) for g in normalized_golds)
    f1 += max(_overlap_f1(predicted.split(), g.split()) for g in normalized_golds)
  total = len(references)
  if total == 0:
    raise DataError("no questions to score")
  return {"exact_match": 100.0 * exact / total, "f1": 100.0 * f1 / total, "total": total, "missing": missing}


def squad_v1(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> dict:
  """SQuAD v1.1 exact match and F1 -> {exact_match, f1, total, missing}."""
  return _max_over_gold(predictions, references, normalize_squad)


def mlqa(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]], language: str) -> dict:
  """MLQA exact match and F1 for answers in `language` -> {exact_match, f1, total, missing}."""
  _check_mlqa_language(language)
  return _max_over_gold(predictions, references, lambda s: normalize_mlqa(s, language))


def _v2_tokens(text: str) -> list[str]:
  return normalize_squad(text).split() if text else []


def _v2_f1(gold: str, predicted: str) -> float:
  gold_tokens, predicted_tokens = _v2_tokens(gold), _v2_tokens(predicted)
  if not gold_tokens or not predicted_tokens:
    return float(gold_tokens == predicted_tokens)  # no-answer: 1 only if both are empty
  return _overlap_f1(predicted_tokens, gold_tokens)


def squad_v2(predictions: Mapping[str, str], references: Mapping[str, Sequence[str]]) -> dict:
  """SQuAD v2.0 scores; an empty prediction means "no answer", an empty gold list likewise.

  Returns {exact, f1, total} plus HasAns_* / NoAns_* (exact, f1, total) for the groups that
  occur, `exact_match` (= exact, for uniformity with v1) and `missing`. As in the official
  script a question without a prediction is left out of every total.
  """
  exact, f1, has_answer = {}, {}, {}
  for qid, golds in references.items():
    if qid not in predictions:
      continue
    has_answer[qid] = bool(golds)
    golds = [g for g in golds if normalize_squad(g)] or [""]
    predicted = predictions[qid]
    exact[qid] = max(float(normalize_squad(g) == normalize_squad(predicted)) for g in golds)
    f1[qid] = max(_v2_f1(g, predicted) for g in golds)
  if not exact:
    raise DataError("no questions to score" if not references else "no question has a prediction")
  result = {
      "exact": 100.0 * sum(exact.values()) / len(exact),
      "f1": 100.0 * sum(f1.values()) / len(f1),
      "total": len(exact),
  }
  for name, wanted in (("HasAns", True), ("NoAns", False)):
    ids = [q for q, has in has_answer.items() if has == wanted]
    if ids:
      result[f"{name}_exact"] = 100.0 * sum(exact[q] for q in ids) / len(ids)
      result[f"{name}_f1"] = 100.0 * sum(f1[q] for q in ids) / len(ids)
      result[f"{name}_total"] = len(ids)
  result["exact_match"] = result["exact"]
  result["missing"] = len(references) - len(exact)
  return result
