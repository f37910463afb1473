"""Host-side decoding of model outputs (numpy) into predictions the metrics take.

Features are the dicts of xstilts_jax.data.features; rows whose example_index is negative
(batch padding) are skipped.
"""

from __future__ import annotations

import collections
from typing import Mapping, Sequence
import unicodedata

import numpy as np

from xstilts_jax.data.examples import SpanQAExample
from xstilts_jax.errors import ConfigError, DataError


def decode_classification(logits: np.ndarray, label_names: Sequence[str]) -> list[str]:
  """Label name of the argmax of each row of logits [N, L]."""
  logits = np.asarray(logits)
  if logits.ndim != 2 or logits.shape[1] != len(label_names):
    raise DataError(f"logits of shape {logits.shape} for {len(label_names)} labels")
  return [label_names[i] for i in logits.argmax(axis=1)]


def decode_multiple_choice(logits: np.ndarray) -> list[int]:
  """Index of the best-scoring choice of each row of logits [N, K]."""
  return [int(i) for i in np.asarray(logits).argmax(axis=1)]


def _max_context(offsets: np.ndarray, rows: Sequence[int]) -> dict[int, np.ndarray]:
  """For each window of one example, which context tokens are scored from it (BERT's "max context").

  A token in several windows counts in the one where min(tokens left, tokens right) +
  0.01 * window length is largest, the first such window on ties. Tokens are matched
  across windows by their character offsets (and rank within a run of equal offsets).
  """
  parts = []  # per window: (start, end, rank, -score, row, position) columns
  for row in rows:
    positions = np.flatnonzero(offsets[row, :, 0] >= 0)
    n = len(positions)
    pairs = offsets[row, positions]
    index = np.arange(n)
    new_pair = np.ones(n, bool)
    new_pair[1:] = np.any(pairs[1:] != pairs[:-1], axis=1)
    rank = index - np.maximum.accumulate(np.where(new_pair, index, 0))
    score = np.minimum(index, n - 1 - index) + 0.01 * n
    parts.append(np.stack([pairs[:, 0], pairs[:, 1], rank, -score, np.full(n, row), positions]))
  table = np.concatenate(parts, axis=1)
  order = np.lexsort(table[4::-1])  # by start, end, rank, then best score, then first window
  table = table[:, order]
  first = np.ones(table.shape[1], bool)
  first[1:] = np.any(table[:3, 1:] != table[:3, :-1], axis=0)
  best_row = table[4][np.maximum.accumulate(np.where(first, np.arange(len(first)), 0))]
  result = {row: np.zeros(offsets.shape[1], bool) for row in rows}
  for row in rows:
    mine = (table[4] == row) & (best_row == row)
    result[row][table[5][mine].astype(int)] = True
  return result


# How the text of a predicted span is made (config key eval.qa_answer_text).
QA_ANSWER_TEXTS = ("offsets", "xtreme")
# XTREME's answer when no span of a SQuAD v1 question is valid (transformers' nonce text).
XTREME_NO_ANSWER = "empty"


def _best_indexes(logits: np.ndarray, n_best: int) -> np.ndarray:
  """The n_best positions of highest logit, best first; ties go to the lower position."""
  return np.argsort(-logits, kind="stable")[:n_best]


def decode_spans(
    examples: Sequence[SpanQAExample],
    features: Mapping[str, np.ndarray],
    start_logits: np.ndarray,
    end_logits: np.ndarray,
    n_best: int = 20,
    max_answer_length: int = 30,
    version_2: bool = False,
    null_threshold: float = 0.0,
    max_context: bool = True,
    answer_text: str = "offsets",
    tokenizer=None,
) -> dict[str, str]:
  """Best answer text per example id, over all of the example's windows.

  As XTREME's (transformers') `compute_predictions_logits`: in each window the n_best
  highest start and the n_best highest end logits over ALL positions (question, special
  and padding tokens included) are candidates; pairs are then dropped where the start or
  end is not a context token, end < start, or the span is longer than max_answer_length.
  With max_context (as BERT's, HF's, XTREME's and jiant's SQuAD code) a span only counts
  in the window where its start token has the most context. The best pair by start + end
  logit (summed in float64; ties: earlier window, then the start, then the end ranked
  first) wins. When no pair is valid the answer is empty: "" with answer_text "offsets",
  XTREME's literal "empty" with "xtreme".

  answer_text "offsets" (default): context[offsets[s, 0]:offsets[e, 1]], the exact text.
  "xtreme": XTREME's `get_final_text` (see `xtreme_final_text`), which needs `tokenizer`
  and features["input_ids"]; it returns a whole whitespace chunk where it cannot align
  the tokens with the text, e.g. for Chinese.

  For SQuAD v2 the null score is start + end logit at position 0 (`<s>`), the minimum
  over the example's windows; the answer is "" when null score - best span score >
  null_threshold. With no valid span it is "" ("offsets"), or as XTREME: "" when the
  null score > null_threshold, else "empty". Examples without any feature are missing
  from the result.
  """
  if answer_text not in QA_ANSWER_TEXTS:
    raise ConfigError(f"eval.qa_answer_text {answer_text!r} (expected one of " f"{', '.join(QA_ANSWER_TEXTS)})")
  xtreme = answer_text == "xtreme"
  if xtreme and (tokenizer is None or "input_ids" not in features):
    raise ConfigError("eval.qa_answer_text 'xtreme' needs the tokenizer and the features' " "input_ids")
  offsets = np.asarray(features["offsets"])
  example_index = np.asarray(features["example_index"])
  start_logits = np.asarray(start_logits, np.float64)
  end_logits = np.asarray(end_logits, np.float64)
  if start_logits.shape != offsets.shape[:2] or end_logits.shape != offsets.shape[:2]:
    raise DataError(
        f"start/end logits of shapes {start_logits.shape}, {end_logits.shape} for "
        f"features of shape {offsets.shape[:2]}"
    )
  rows_of_example = collections.defaultdict(list)
  for row, i in enumerate(example_index):
    if i >= 0:
      if i >= len(examples):
        raise DataError(f"feature {row} points to example {i} of {len(examples)}")
      rows_of_example[int(i)].append(row)

  predictions = {}
  for i, rows in rows_of_example.items():
    allowed = _max_context(offsets, rows) if max_context else {r: offsets[r, :, 0] >= 0 for r in rows}
    best_score, best_span = -np.inf, None
    null_score = np.inf
    for row in rows:
      null_score = min(null_score, float(start_logits[row, 0] + end_logits[row, 0]))
      is_context = offsets[row, :, 0] >= 0
      starts = _best_indexes(start_logits[row], n_best)
      ends = _best_indexes(end_logits[row], n_best)
      starts = starts[is_context[starts] & allowed[row][starts]]
      ends = ends[is_context[ends]]
      if starts.size == 0 or ends.size == 0:
        continue
      length = ends[None, :] - starts[:, None] + 1
      scores = start_logits[row, starts][:, None] + end_logits[row, ends][None, :]
      scores = np.where((length >= 1) & (length <= max_answer_length), scores, -np.inf)
      s, e = np.unravel_index(np.argmax(scores), scores.shape)
      if scores[s, e] > best_score:
        best_score, best_span = float(scores[s, e]), (row, starts[s], ends[e])
    example = examples[i]
    if best_span is None:
      if xtreme and not (version_2 and null_score > null_threshold):
        predictions[example.id] = XTREME_NO_ANSWER
      else:
        predictions[example.id] = ""
      continue
    row, s, e = best_span
    if version_2 and null_score - best_score > null_threshold:
      predictions[example.id] = ""
    elif xtreme:
      tokens = tokenizer.convert_ids_to_tokens([int(t) for t in np.asarray(features["input_ids"])[row, s : e + 1]])
      predictions[example.id] = xtreme_final_text(
          example.context,
          int(offsets[row, s, 0]),
          int(max(offsets[row, e, 0], offsets[row, e, 1] - 1)),
          tokenizer.convert_tokens_to_string(tokens),
      )
    else:
      predictions[example.id] = example.context[offsets[row, s, 0] : offsets[row, e, 1]]
  return predictions


# --- XTREME's answer-text recovery ---------------------------------------------------------
# Written from the published algorithm of transformers' `get_final_text` and BERT's
# `BasicTokenizer` (do_lower_case=False, as XTREME runs XLM-R), at the transformers commit
# XTREME installs (before the NFC normalisation later versions added).


def _squad_whitespace(char: str) -> bool:
  """Whitespace as XTREME's SQuAD reader splits contexts into words."""
  return char in " \t\r\n" or char == "\u202f"


def _bert_whitespace(char: str) -> bool:
  return char in " \t\n\r" or unicodedata.category(char) == "Zs"


def _bert_control(char: str) -> bool:
  return char not in "\t\n\r" and unicodedata.category(char).startswith("C")


def _bert_punctuation(char: str) -> bool:
  cp = ord(char)
  if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
    return True
  return unicodedata.category(char).startswith("P")


_CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B820, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)


def _bert_cjk(char: str) -> bool:
  cp = ord(char)
  return any(low <= cp <= high for low, high in _CJK_RANGES)


def bert_basic_tokens(text: str) -> list[str]:
  """BERT's BasicTokenizer without lower-casing: control characters dropped, whitespace
  split, every CJK ideograph and every punctuation character a token of its own."""
  chars = []
  for char in text:
    if ord(char) in (0, 0xFFFD) or _bert_control(char):
      continue
    if _bert_whitespace(char):
      chars.append(" ")
    elif _bert_cjk(char):
      chars.extend((" ", char, " "))
    else:
      chars.append(char)
  tokens = []
  for word in "".join(chars).split():
    piece = []
    for char in word:
      if _bert_punctuation(char):
        if piece:
          tokens.append("".join(piece))
          piece = []
        tokens.append(char)
      else:
        piece.append(char)
    if piece:
      tokens.append("".join(piece))
  return " ".join(tokens).split()


def _without_spaces(text: str) -> tuple[str, list[int]]:
  """text without its " " characters, and the position in text of each kept character."""
  kept = [i for i, char in enumerate(text) if char != " "]
  return "".join(text[i] for i in kept), kept


def get_final_text(predicted: str, original: str) -> str:
  """transformers' `get_final_text` (do_lower_case=False): the part of `original` (the
  context's whitespace words covering the span, joined by single spaces) that `predicted`
  (the span's tokens as the tokenizer writes them back) matches once both are put through
  BasicTokenizer; `original` whole where they cannot be aligned."""
  tokenized = " ".join(bert_basic_tokens(original))
  start = tokenized.find(predicted)
  if start == -1:
    return original
  end = start + len(predicted) - 1
  original_bare, original_map = _without_spaces(original)
  tokenized_bare, tokenized_map = _without_spaces(tokenized)
  if len(original_bare) != len(tokenized_bare):
    return original
  bare_of_tokenized = {position: i for i, position in enumerate(tokenized_map)}
  if start not in bare_of_tokenized or end not in bare_of_tokenized:
    return original
  return original[original_map[bare_of_tokenized[start]] : original_map[bare_of_tokenized[end]] + 1]


def xtreme_final_text(context: str, first_char: int, last_char: int, token_text: str) -> str:
  """XTREME's answer text for a span of tokens from the one starting at context[first_char]
  to the one whose last character (its start, if it has none) is context[last_char]; the
  tokenizer writes the span's tokens back as `token_text`. The original text is the
  context's whitespace words (as XTREME's SQuAD reader splits them) holding those two."""
  if not context or not 0 <= first_char <= last_char <= len(context):
    raise DataError(f"span of characters {first_char}..{last_char} outside a context of " f"{len(context)} characters")
  # An empty token at the very end (a trailing space's "▁") belongs to the last word.
  first_char, last_char = min(first_char, len(context) - 1), min(last_char, len(context) - 1)
  words, word_of_char, previous_space = [], [], True
  for char in context:
    if _squad_whitespace(char):
      previous_space = True
    else:
      if previous_space:
        words.append(char)
      else:
        words[-1] += char
      previous_space = False
    word_of_char.append(len(words) - 1)
  first = max(word_of_char[first_char], 0)
  last = max(word_of_char[last_char], first)
  return get_final_text(" ".join(token_text.split()), " ".join(words[first : last + 1]))


def decode_tags(
    features: Mapping[str, np.ndarray], tag_logits: np.ndarray, label_names: Sequence[str], num_words: Sequence[int]
) -> list[list[str]]:
  """One tag per word of every example, from the logits [N, T, L] at each word's first sub-token.

  Windows of one sentence are reassembled through word_index; a word predicted never or
  twice raises a DataError.
  """
  word_index = np.asarray(features["word_index"])
  example_index = np.asarray(features["example_index"])
  tag_logits = np.asarray(tag_logits)
  if tag_logits.shape[:2] != word_index.shape or tag_logits.shape[2] != len(label_names):
    raise DataError(
        f"tag logits of shape {tag_logits.shape} for features of shape "
        f"{word_index.shape} and {len(label_names)} labels"
    )
  best = tag_logits.argmax(axis=2)
  tags = [[None] * n for n in num_words]
  for row, i in enumerate(example_index):
    if i < 0:
      continue
    if i >= len(tags):
      raise DataError(f"feature {row} points to example {i} of {len(tags)}")
    for position in np.flatnonzero(word_index[row] >= 0):
      w = word_index[row, position]
      if w >= len(tags[i]):
        raise DataError(f"feature {row}: word {w} of example {i}, which has {len(tags[i])} words")
      if tags[i][w] is not None:
        raise DataError(f"example {i}: word {w} is predicted twice (feature {row})")
      tags[i][w] = label_names[best[row, position]]
  for i, sentence in enumerate(tags):
    lost = [w for w, t in enumerate(sentence) if t is None]
    if lost:
      raise DataError(
          f"example {i}: {len(lost)} of {len(sentence)} words have no prediction "
          f"(first sub-token missing from the features), e.g. word {lost[0]}"
      )
  return tags
