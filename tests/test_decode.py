"""Decoding on hand-built logits and features."""

import json

import numpy as np
import pytest

from xstilts_jax.data.examples import Answer, SpanQAExample
from xstilts_jax.errors import DataError
from xstilts_jax.evaluation import decode
from xstilts_jax.evaluation.metrics import squad_v1

LOW = -10.0


def test_decode_classification_and_multiple_choice():
  logits = np.array([[0.1, 2.0, -1.0], [3.0, 0.0, 0.0]])
  assert decode.decode_classification(logits, ["entailment", "neutral", "contradiction"]) == ["neutral", "entailment"]
  assert decode.decode_multiple_choice(np.array([[0.0, 1.0, 0.5, 0.2], [4.0, 1, 2, 3]])) == [1, 0]
  with pytest.raises(DataError, match="2 labels"):
    decode.decode_classification(logits, ["a", "b"])


def _window(token_offsets, first_context, length=12):
  """offsets [T,2]: -1 everywhere except the given context tokens from `first_context` on."""
  offsets = np.full((length, 2), -1)
  offsets[first_context : first_context + len(token_offsets)] = token_offsets
  return offsets


# "The cat sat on the mat." -> context tokens The cat sat on the mat . at positions 4..10;
# 0 is <s>, 1-2 the question, 3 a separator, 11 padding.
CAT = SpanQAExample(id="cat", question="Who sat?", context="The cat sat on the mat.", answers=())
CAT_OFFSETS = [(0, 3), (4, 7), (8, 11), (12, 14), (15, 18), (19, 22), (22, 23)]


def _cat_logits():
  start, end = np.full(12, LOW), np.full(12, LOW)
  start[1] = 20.0  # a question token: never an answer
  start[5], end[6] = 5, 4  # "cat sat": 9, the best valid span
  start[9], end[4] = 6, 5  # "mat" .. "The": end before start
  end[10] = 1  # "mat.": 6 + 1 = 7
  end[9] = -5  # "mat": 6 - 5 = 1
  end[5] = -5  # "cat": 5 - 5 = 0
  return start[None], end[None]


def test_decode_spans_single_window():
  features = {"offsets": _window(CAT_OFFSETS, 4)[None], "example_index": np.array([0])}
  start, end = _cat_logits()
  assert decode.decode_spans([CAT], features, start, end) == {"cat": "cat sat"}
  # Length 1 only: "mat" (1) beats "cat" (0).
  assert decode.decode_spans([CAT], features, start, end, max_answer_length=1) == {"cat": "mat"}
  # n_best 1: only start "mat" and end "sat" are candidates, which make no valid span.
  assert decode.decode_spans([CAT], features, start, end, n_best=1) == {"cat": ""}


# "a b c d e f g h": two windows of 5 tokens, a..e at positions 2..6 and d..h at 2..6.
LETTERS = SpanQAExample(id="letters", question="?", context="a b c d e f g h", answers=())
LETTER_OFFSETS = [(2 * i, 2 * i + 1) for i in range(8)]


def _letter_features():
  offsets = np.stack([_window(LETTER_OFFSETS[:5], 2), _window(LETTER_OFFSETS[3:], 2)])
  start, end = np.full((2, 12), LOW), np.full((2, 12), LOW)
  # Max context: d (rank 3 of 5 in window 0, rank 0 in window 1) belongs to window 0;
  # e (rank 4 in window 0, rank 1 in window 1) to window 1.
  start[0, 5], end[0, 6] = 3, 3  # window 0: "d e" = 6
  start[0, 6] = 8  # window 0: "e" = 8 + 3 = 11, but e belongs to window 1
  start[1, 4], end[1, 5] = 4, 4  # window 1: "f g" = 8
  return offsets, start, end


def test_decode_spans_across_windows_with_max_context():
  offsets, start, end = _letter_features()
  features = {"offsets": offsets, "example_index": np.array([0, 0])}
  assert decode.decode_spans([LETTERS], features, start, end) == {"letters": "f g"}
  # Without the max-context rule, window 0's "e" (11) wins.
  assert decode.decode_spans([LETTERS], features, start, end, max_context=False) == {"letters": "e"}
  # With window 0 alone, e has its most context there: "e" (11).
  one = {"offsets": offsets[:1], "example_index": np.array([0])}
  assert decode.decode_spans([LETTERS], one, start[:1], end[:1]) == {"letters": "e"}


def test_decode_spans_version_2_null_answer():
  offsets, start, end = _letter_features()
  start[:, 0] = [2.0, 1.0]
  end[:, 0] = [2.0, 0.5]  # null scores 4 and 1.5 -> 1.5 (the minimum)
  features = {"offsets": offsets, "example_index": np.array([0, 0])}
  # Best span 8: 1.5 - 8 < 0 -> the span.
  assert decode.decode_spans([LETTERS], features, start, end, version_2=True) == {"letters": "f g"}
  # Weaken every span to at most 1.0: 1.5 - 1.0 = 0.5 > 0 -> no answer; > 1.0 is false -> span.
  start[1, 4], end[1, 5] = 0.5, 0.5
  start[0, 5], end[0, 6] = LOW, LOW
  assert decode.decode_spans([LETTERS], features, start, end, version_2=True) == {"letters": ""}
  assert decode.decode_spans([LETTERS], features, start, end, version_2=True, null_threshold=1.0) == {"letters": "f g"}
  # SQuAD v1 decoding ignores the null score.
  assert decode.decode_spans([LETTERS], features, start, end) == {"letters": "f g"}


def test_decode_spans_two_examples_and_padding_rows():
  cat_start, cat_end = _cat_logits()
  offsets, start, end = _letter_features()
  features = {
      "offsets": np.concatenate([offsets, _window(CAT_OFFSETS, 4)[None], offsets[:1]]),
      "example_index": np.array([1, 1, 0, -1]),
  }
  got = decode.decode_spans(
      [CAT, LETTERS], features, np.concatenate([start, cat_start, start[:1]]), np.concatenate([end, cat_end, end[:1]])
  )
  assert got == {"cat": "cat sat", "letters": "f g"}


def _brute_force_spans(n_tokens, windows, start, end, n_best, max_len):
  """HF/BERT/XTREME-style decoding written with global token indices known from construction:
  the n_best starts and ends over every position of a window row (position 0 and the padding
  after the window's tokens included), then non-context ones dropped."""

  def context_score(w, g):
    first, last = windows[w][0], windows[w][-1]
    return min(g - first, last - g) + 0.01 * len(windows[w])

  best, best_text = -np.inf, ""
  for w, tokens in enumerate(windows):
    token_at = {1 + i: g for i, g in enumerate(tokens)}  # row position -> global token
    positions = range(start.shape[1])
    top_starts = sorted(positions, key=lambda p: -start[w, p])[:n_best]
    top_ends = sorted(positions, key=lambda p: -end[w, p])[:n_best]
    for ps in top_starts:
      if ps not in token_at:
        continue
      s = token_at[ps]
      owner = max(range(len(windows)), key=lambda v: (context_score(v, s) if s in windows[v] else -1, -v))
      if owner != w:
        continue
      for pe in top_ends:
        if pe not in token_at:
          continue
        e = token_at[pe]
        if s <= e < s + max_len and start[w, ps] + end[w, pe] > best:
          best, best_text = start[w, ps] + end[w, pe], f"{s}..{e}"
  return best_text


def test_decode_spans_matches_brute_force_on_random_windows():
  rng = np.random.default_rng(7)
  for trial in range(40):
    n_tokens = int(rng.integers(3, 25))
    length, stride = int(rng.integers(2, 8)), int(rng.integers(1, 4))
    windows = []
    for first in range(0, n_tokens, stride):
      windows.append(list(range(first, min(first + length, n_tokens))))
      if first + length >= n_tokens:
        break
    # Token g covers characters [4g, 4g+2): its text is "g" padded, so spans are checkable.
    context = "".join(f"{g:02d}  " for g in range(n_tokens))
    offsets = np.full((len(windows), length + 2, 2), -1)
    for w, tokens in enumerate(windows):
      offsets[w, 1 : 1 + len(tokens)] = [(4 * g, 4 * g + 2) for g in tokens]
    start = rng.normal(size=offsets.shape[:2])
    end = rng.normal(size=offsets.shape[:2])
    n_best, max_len = int(rng.integers(1, 6)), int(rng.integers(1, 5))
    example = SpanQAExample(id="x", question="?", context=context, answers=())
    got = decode.decode_spans(
        [example],
        {"offsets": offsets, "example_index": np.zeros(len(windows), int)},
        start,
        end,
        n_best=n_best,
        max_answer_length=max_len,
    )["x"]
    expected = _brute_force_spans(n_tokens, windows, start, end, n_best, max_len)
    if expected:
      s, e = map(int, expected.split(".."))
      expected = context[4 * s : 4 * e + 2]
    assert got == expected, (trial, windows)


def test_decode_spans_recovers_gold_answers_from_real_features(shared_data, small_tokenizer):
  from xstilts_jax.data.features import span_qa_features

  dataset = json.loads((shared_data / "xquad" / "xquad.en.json").read_text(encoding="utf-8"))
  examples = [
      SpanQAExample(
          qa["id"], qa["question"], p["context"], tuple(Answer(a["text"], a["answer_start"]) for a in qa["answers"])
      )
      for article in dataset["data"]
      for p in article["paragraphs"]
      for qa in p["qas"]
  ]
  features = span_qa_features(examples, small_tokenizer, max_seq_length=128, doc_stride=64)
  n, t = features["input_ids"].shape
  start, end = np.zeros((n, t)), np.zeros((n, t))
  rows = np.arange(n)
  has_answer = features["start_positions"] > 0
  start[rows[has_answer], features["start_positions"][has_answer]] = 10
  end[rows[has_answer], features["end_positions"][has_answer]] = 10
  predictions = decode.decode_spans(examples, features, start, end)
  assert set(predictions) == {ex.id for ex in examples}
  gold = {ex.id: [a.text for a in ex.answers] for ex in examples}
  # Token boundaries can add a character or two (e.g. a trailing comma inside a token).
  result = squad_v1(predictions, gold)
  assert result["f1"] > 95 and result["exact_match"] > 85, result


def _tag_logits(best_labels, num_labels=3):
  logits = np.zeros(best_labels.shape + (num_labels,))
  for index in np.ndindex(best_labels.shape):
    logits[index + (best_labels[index],)] = 1.0
  return logits


def test_decode_tags_reassembles_split_sentences():
  # Example 0 has 5 words over features 0 and 1; example 1 has 2 words; row 3 is padding.
  word_index = np.array(
      [[-1, 0, -1, 1, 2, -1], [-1, 3, 4, -1, -1, -1], [-1, 0, 1, -1, -1, -1], [-1, -1, -1, -1, -1, -1]]
  )
  best = np.array([[2, 0, 2, 1, 2, 0], [0, 1, 0, 2, 2, 2], [1, 2, 2, 0, 0, 0], [0, 0, 0, 0, 0, 0]])
  features = {"word_index": word_index, "example_index": np.array([0, 0, 1, -1])}
  labels = ["O", "B-PER", "I-PER"]
  assert decode.decode_tags(features, _tag_logits(best), labels, [5, 2]) == [
      ["O", "B-PER", "I-PER", "B-PER", "O"],
      ["I-PER", "I-PER"],
  ]

  lost = dict(features, word_index=np.where(word_index == 4, -1, word_index))
  with pytest.raises(DataError, match="example 0: 1 of 5 words have no prediction"):
    decode.decode_tags(lost, _tag_logits(best), labels, [5, 2])
  twice = dict(features, word_index=np.where(word_index == 4, 3, word_index))
  with pytest.raises(DataError, match="word 3 is predicted twice"):
    decode.decode_tags(twice, _tag_logits(best), labels, [5, 2])
