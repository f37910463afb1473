"""Host-side decoding of model outputs (numpy) into predictions the metrics take.

Features are the dicts of xstilts_jax.data.features; rows whose example_index is negative
(batch padding) are skipped.
"""
from __future__ import annotations

import collections
from typing import Mapping, Sequence

import numpy as np

from xstilts_jax.data.examples import SpanQAExample
from xstilts_jax.errors import DataError


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


def decode_spans(examples: Sequence[SpanQAExample], features: Mapping[str, np.ndarray],
                 start_logits: np.ndarray, end_logits: np.ndarray, n_best: int = 20,
                 max_answer_length: int = 30, version_2: bool = False,
                 null_threshold: float = 0.0, max_context: bool = True) -> dict[str, str]:
  """Best answer text per example id, over all of the example's windows.

  Candidates: the n_best highest start and end logits among context tokens of a window
  (HF's code takes the n_best over all positions and drops non-context ones after); a span
  needs end >= start and at most max_answer_length tokens, and scores start + end logits. With max_context (as BERT's, HF's, XTREME's and jiant's SQuAD code) a span only
  counts in the window where its start token has the most context. The text is
  context[offsets[s, 0]:offsets[e, 1]], with no further clean-up. For SQuAD v2 the null
  score is start + end logit at position 0 (`<s>`), the minimum over the example's windows;
  the answer is "" when null score - best span score > null_threshold, or when no span is
  valid. Examples without any feature are missing from the result.
  """
  offsets = np.asarray(features["offsets"])
  example_index = np.asarray(features["example_index"])
  start_logits, end_logits = np.asarray(start_logits), np.asarray(end_logits)
  if start_logits.shape != offsets.shape[:2] or end_logits.shape != offsets.shape[:2]:
    raise DataError(f"start/end logits of shapes {start_logits.shape}, {end_logits.shape} for "
                    f"features of shape {offsets.shape[:2]}")
  rows_of_example = collections.defaultdict(list)
  for row, i in enumerate(example_index):
    if i >= 0:
      if i >= len(examples):
        raise DataError(f"feature {row} points to example {i} of {len(examples)}")
      rows_of_example[int(i)].append(row)

  predictions = {}
  for i, rows in rows_of_example.items():
    allowed = (_max_context(offsets, rows) if max_context
               else {r: offsets[r, :, 0] >= 0 for r in rows})
    best_score, best_span = -np.inf, None
    null_score = np.inf
    for row in rows:
      null_score = min(null_score, float(start_logits[row, 0] + end_logits[row, 0]))
      context = np.flatnonzero(offsets[row, :, 0] >= 0)
      if context.size == 0:
        continue
      starts = context[np.argsort(-start_logits[row, context], kind="stable")[:n_best]]
      ends = context[np.argsort(-end_logits[row, context], kind="stable")[:n_best]]
      starts = starts[allowed[row][starts]]
      if starts.size == 0:
        continue
      length = ends[None, :] - starts[:, None] + 1
      scores = start_logits[row, starts][:, None] + end_logits[row, ends][None, :]
      scores = np.where((length >= 1) & (length <= max_answer_length), scores, -np.inf)
      s, e = np.unravel_index(np.argmax(scores), scores.shape)
      if scores[s, e] > best_score:
        best_score, best_span = float(scores[s, e]), (row, starts[s], ends[e])
    if best_span is None:
      predictions[examples[i].id] = ""
      continue
    row, s, e = best_span
    text = examples[i].context[offsets[row, s, 0]:offsets[row, e, 1]]
    if version_2 and null_score - best_score > null_threshold:
      text = ""
    predictions[examples[i].id] = text
  return predictions


def decode_tags(features: Mapping[str, np.ndarray], tag_logits: np.ndarray,
                label_names: Sequence[str], num_words: Sequence[int]) -> list[list[str]]:
  """One tag per word of every example, from the logits [N, T, L] at each word's first sub-token.

  Windows of one sentence are reassembled through word_index; a word predicted never or
  twice raises a DataError.
  """
  word_index = np.asarray(features["word_index"])
  example_index = np.asarray(features["example_index"])
  tag_logits = np.asarray(tag_logits)
  if tag_logits.shape[:2] != word_index.shape or tag_logits.shape[2] != len(label_names):
    raise DataError(f"tag logits of shape {tag_logits.shape} for features of shape "
                    f"{word_index.shape} and {len(label_names)} labels")
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
      raise DataError(f"example {i}: {len(lost)} of {len(sentence)} words have no prediction "
                      f"(first sub-token missing from the features), e.g. word {lost[0]}")
  return tags
