"""Span-QA post-processing against XTREME's (transformers' `compute_predictions_logits`).

The reference below is a port written here from the published algorithm, not from the
project's code: per window, the n_best start and end positions by logit over ALL positions
(Python's stable sort, so ties go to the lower position); a pair is dropped when either end
is not a context token, the start does not have its maximum context in this window
(BERT's `_check_is_max_context` over the windows' doc spans), end < start, or the span is
longer than max_answer_length; the candidates of all windows are sorted by start + end
logit (stable: window, start rank, end rank) and the first one is the answer.
"""

import json

import numpy as np
import pytest

from xstilts_jax.data.examples import Answer, SpanQAExample
from xstilts_jax.evaluation import decode
from xstilts_jax.evaluation.metrics import mlqa, squad_v1


def _examples(path):
  dataset = json.loads(path.read_text(encoding="utf-8"))
  return [
      SpanQAExample(
          qa["id"], qa["question"], p["context"], tuple(Answer(a["text"], a["answer_start"]) for a in qa["answers"])
      )
      for article in dataset["data"]
      for p in article["paragraphs"]
      for qa in p["qas"]
  ]


# --- the minimal case of the issue ----------------------------------------------------------


def _minimal_case():
  """`<s>` + 21 question tokens (start logit 10) + `</s></s>` + "The cat sat on the mat" +
  `</s>` + padding; start("cat") = 3, end("sat") = 3, every other logit 0."""
  context = "The cat sat on the mat"
  words = context.split()
  length = 40
  offsets = np.full((1, length, 2), -1)
  first = 1 + 21 + 2
  char = 0
  for i, word in enumerate(words):
    offsets[0, first + i] = (char, char + len(word))
    char += len(word) + 1
  start, end = np.zeros((1, length)), np.zeros((1, length))
  start[0, 1:22] = 10.0
  start[0, first + 1] = 3.0  # cat
  end[0, first + 2] = 3.0  # sat
  example = SpanQAExample("q", "?", context, ())
  return (
      example,
      {"offsets": offsets, "example_index": np.array([0]), "input_ids": np.zeros((1, length), np.int32)},
      start,
      end,
  )


def test_minimal_case_gives_the_empty_answer(small_tokenizer):
  example, features, start, end = _minimal_case()
  # The 20 best starts are all question tokens: no valid span remains, as in XTREME.
  assert decode.decode_spans([example], features, start, end) == {"q": ""}
  # XTREME's v1 path writes transformers' nonce text for that case.
  got = decode.decode_spans([example], features, start, end, answer_text="xtreme", tokenizer=small_tokenizer)
  assert got == {"q": "empty"}
  # With 19 question tokens above it, "cat" is among the 20 best starts: "cat sat".
  start[0, 20:22] = 0.0
  assert decode.decode_spans([example], features, start, end) == {"q": "cat sat"}


# --- random logits over real XQuAD windows --------------------------------------------------


def _reference_windows(example, features, rows, tokenizer, doc_stride):
  """Per window row: (context positions -> doc token index, doc span start, span length),
  found from the input ids alone (the context tokenised on its own, windows every
  doc_stride tokens), and the character offsets of every doc token."""
  enc = tokenizer(example.context, add_special_tokens=False, return_offsets_mapping=True)
  doc_ids, doc_offsets = enc["input_ids"], enc["offset_mapping"]
  windows = []
  for k, row in enumerate(rows):
    ids = [int(t) for t in features["input_ids"][row]]
    seps = [i for i, t in enumerate(ids) if t == tokenizer.sep_token_id]
    first, last = seps[1] + 1, seps[2]  # <s> q </s></s> context </s>
    span_start = k * doc_stride
    assert ids[first:last] == doc_ids[span_start : span_start + last - first]
    to_doc = {p: span_start + p - first for p in range(first, last)}
    windows.append((to_doc, span_start, last - first))
  return windows, doc_offsets


def _is_max_context(windows, k, doc_index):
  best_score, best_k = None, None
  for j, (_, span_start, span_length) in enumerate(windows):
    end = span_start + span_length - 1
    if not span_start <= doc_index <= end:
      continue
    score = min(doc_index - span_start, end - doc_index) + 0.01 * span_length
    if best_score is None or score > best_score:
      best_score, best_k = score, j
  return best_k == k


def _reference_answer(example, features, rows, start, end, tokenizer, doc_stride, n_best=20, max_answer_length=30):
  windows, doc_offsets = _reference_windows(example, features, rows, tokenizer, doc_stride)
  prelim = []
  for k, row in enumerate(rows):
    to_doc = windows[k][0]
    positions = range(start.shape[1])
    best_starts = sorted(positions, key=lambda i: float(start[row, i]), reverse=True)[:n_best]
    best_ends = sorted(positions, key=lambda i: float(end[row, i]), reverse=True)[:n_best]
    for s in best_starts:
      for e in best_ends:
        if s not in to_doc or e not in to_doc:
          continue
        if not _is_max_context(windows, k, to_doc[s]):
          continue
        if e < s or e - s + 1 > max_answer_length:
          continue
        prelim.append((float(start[row, s]) + float(end[row, e]), to_doc[s], to_doc[e]))
  if not prelim:
    return ""
  _, s, e = sorted(prelim, key=lambda p: p[0], reverse=True)[0]
  return example.context[doc_offsets[s][0] : doc_offsets[e][1]].strip()


@pytest.mark.parametrize(
    "language,max_seq_length,doc_stride",
    [("en", 384, 128), ("de", 384, 128), ("zh", 384, 128), ("en", 160, 64), ("ar", 128, 48)],
)
def test_random_logits_match_reference_port(shared_data, small_tokenizer, language, max_seq_length, doc_stride):
  from xstilts_jax.data.features import span_qa_features

  examples = _examples(shared_data / "xquad" / f"xquad.{language}.json")
  features = span_qa_features(examples, small_tokenizer, max_seq_length=max_seq_length, doc_stride=doc_stride)
  rows_of = {}
  for row, i in enumerate(features["example_index"]):
    rows_of.setdefault(int(i), []).append(row)
  rng = np.random.default_rng(max_seq_length + doc_stride)
  n, t = features["input_ids"].shape
  differ_from_context_only = 0
  for trial in range(3):
    start = rng.normal(size=(n, t)).astype(np.float32)
    end = rng.normal(size=(n, t)).astype(np.float32)
    got = decode.decode_spans(examples, features, start, end)
    for i, example in enumerate(examples):
      expected = _reference_answer(example, features, rows_of[i], start, end, small_tokenizer, doc_stride)
      assert got[example.id].strip() == expected, (trial, example.id)
    # The old rule (n-best among context tokens only) answers differently somewhere.
    old = _context_only_answers(examples, features, rows_of, start, end)
    differ_from_context_only += sum(old[ex.id] != got[ex.id] for ex in examples)
  assert differ_from_context_only > 0
  assert any(len(rows) > 1 for rows in rows_of.values()) or max_seq_length == 384


def _context_only_answers(examples, features, rows_of, start, end):
  """The superseded rule: n-best over context tokens only (no max-context; single windows
  are what matters for this comparison)."""
  answers = {}
  offsets = features["offsets"]
  for i, example in enumerate(examples):
    best, text = -np.inf, ""
    for row in rows_of[i]:
      context = np.flatnonzero(offsets[row, :, 0] >= 0)
      starts = context[np.argsort(-start[row, context], kind="stable")[:20]]
      ends = context[np.argsort(-end[row, context], kind="stable")[:20]]
      for s in starts:
        for e in ends:
          if s <= e < s + 30 and start[row, s] + end[row, e] > best:
            best = start[row, s] + end[row, e]
            text = example.context[offsets[row, s, 0] : offsets[row, e, 1]]
    answers[example.id] = text
  return answers


# --- XTREME's answer-text recovery ----------------------------------------------------------


def test_xtreme_text_returns_the_whitespace_chunk_for_chinese(shared_data, small_tokenizer):
  from xstilts_jax.data.features import span_qa_features

  examples = [ex for ex in _examples(shared_data / "xquad" / "xquad.zh.json") if ex.answers[0].text == "四次"]
  assert len(examples) == 3  # three questions, one gold answer at character 53 of one context
  features = span_qa_features(examples, small_tokenizer, max_seq_length=384, doc_stride=128)
  n, t = features["input_ids"].shape
  start, end = np.zeros((n, t)), np.zeros((n, t))
  has = features["start_positions"] > 0
  start[has, features["start_positions"][has]] = 10.0
  end[has, features["end_positions"][has]] = 10.0
  default = decode.decode_spans(examples, features, start, end)
  xtreme = decode.decode_spans(examples, features, start, end, answer_text="xtreme", tokenizer=small_tokenizer)
  ids = [ex.id for ex in examples]
  assert default == {q: "四次" for q in ids}
  # By hand: the context's whitespace-separated chunk holding 四次 (after "联盟 ", before " 11").
  chunk = "(NFL)，并且四次入选职业碗。职业碗防守截锋卡万·肖特以"
  assert chunk in examples[0].context.split()
  assert xtreme == {q: chunk for q in ids}
  gold = {q: ["四次"] for q in ids}
  assert mlqa(default, gold, "zh")["f1"] == 100.0
  assert mlqa(xtreme, gold, "zh")["f1"] < 100.0
  assert squad_v1(xtreme, gold)["f1"] == 0.0  # one unsplit token that is not the answer


@pytest.mark.parametrize(
    "predicted,original,expected",
    [
        # Aligned once both sides are BasicTokenizer-split: the exact characters of `original`.
        ("Denver Broncos", "Denver Broncos", "Denver Broncos"),
        ("Broncos", "(Broncos),", "Broncos"),
        ("Broncos)", "(Broncos),", "(Broncos),"),  # split: "( Broncos ) ,": not found
        ("24", "24,000", "24"),
        # Not found after splitting: the whole original chunk.
        ("Broncs", "(Broncos),", "(Broncos),"),
        ("四次", "并且四次入选", "并且四次入选"),
        # A CJK character alone is found (it is a token of its own after splitting).
        ("四", "并且四次入选", "四"),
        # Different non-space lengths (a control character dropped by BasicTokenizer): whole.
        ("ab", "ab\u200dc", "ab\u200dc"),
    ],
)
def test_get_final_text_by_hand(predicted, original, expected):
  assert decode.get_final_text(predicted, original) == expected


def test_xtreme_text_agrees_with_offsets_on_simple_english(shared_data, small_tokenizer):
  from xstilts_jax.data.features import span_qa_features

  examples = _examples(shared_data / "xquad" / "xquad.en.json")
  features = span_qa_features(examples, small_tokenizer, max_seq_length=384, doc_stride=128)
  n, t = features["input_ids"].shape
  start, end = np.zeros((n, t)), np.zeros((n, t))
  has = features["start_positions"] > 0
  start[has, features["start_positions"][has]] = 10.0
  end[has, features["end_positions"][has]] = 10.0
  default = decode.decode_spans(examples, features, start, end)
  xtreme = decode.decode_spans(examples, features, start, end, answer_text="xtreme", tokenizer=small_tokenizer)
  # Answers that are whole whitespace words made of letters and digits come back the same.
  plain = [
      q
      for q, a in default.items()
      if a and all(w.isalnum() for w in a.split()) and f" {a} " in f" {_context(examples, q)} "
  ]
  assert len(plain) > 30
  assert all(xtreme[q] == default[q] for q in plain)


def _context(examples, qid):
  return next(ex.context for ex in examples if ex.id == qid)


def test_answer_text_mode_is_checked(small_tokenizer):
  example, features, start, end = _minimal_case()
  from xstilts_jax.errors import ConfigError

  with pytest.raises(ConfigError, match="qa_answer_text 'chunks'"):
    decode.decode_spans([example], features, start, end, answer_text="chunks")
  with pytest.raises(ConfigError, match="needs the tokenizer"):
    decode.decode_spans([example], features, start, end, answer_text="xtreme")


def test_evaluate_task_passes_the_answer_text_mode(shared_data, small_tokenizer):
  from xstilts_jax.data.features import span_qa_features
  from xstilts_jax.formats import evaluate_task
  from xstilts_jax.tasks.registry import get_task

  examples = [ex for ex in _examples(shared_data / "xquad" / "xquad.zh.json") if ex.answers[0].text == "四次"]
  features = span_qa_features(examples, small_tokenizer, max_seq_length=384, doc_stride=128)
  n, t = features["input_ids"].shape
  start, end = np.zeros((n, t)), np.zeros((n, t))
  has = features["start_positions"] > 0
  start[has, features["start_positions"][has]] = 10.0
  end[has, features["end_positions"][has]] = 10.0

  def predict(feats, kind, head=None):
    assert kind == "span"
    return start, end

  spec = get_task("xquad")
  exact, answers = evaluate_task(predict, spec, examples, features, "zh")
  assert exact["f1"] == 100.0 and set(answers.values()) == {"四次"}
  xtreme, answers = evaluate_task(
      predict, spec, examples, features, "zh", qa_answer_text="xtreme", tokenizer=small_tokenizer
  )
  assert xtreme["f1"] == 0.0  # XQuAD is scored by SQuAD v1.1: one unsplit chunk, no overlap
  assert set(answers.values()) == {"(NFL)，并且四次入选职业碗。职业碗防守截锋卡万·肖特以"}


def test_basic_tokens_match_transformers_basic_tokenizer_on_random_text():
  # transformers' BasicTokenizer (do_lower_case=False) as an independent implementation; its
  # later NFC step is a no-op on these strings (only precomposed or unaffected characters).
  from transformers.models.bert.tokenization_bert_legacy import BasicTokenizer

  reference = BasicTokenizer(do_lower_case=False)
  alphabet = list("ab Zé1 ,.()-'\t\n") + [
      "四",
      "次",
      "，",
      "。",
      "·",
      "\u200d",
      "\u200c",
      "\x00",
      "\ufffd",
      "\xa0",
      "\u3000",
      "\u0640",
      "ـ",
      "ß",
      "\x85",
  ]
  rng = np.random.default_rng(3)
  for _ in range(500):
    text = "".join(rng.choice(alphabet, size=int(rng.integers(0, 25))))
    assert decode.bert_basic_tokens(text) == reference.tokenize(text), repr(text)


def test_xtreme_final_text_word_span_by_hand():
  context = "Sie kamen 1066 (im Herbst) an.  Ende "
  # Tokens "(im" .. "Herbst)": the words "(im Herbst)" hold them; the prediction is found.
  assert decode.xtreme_final_text(context, 15, 25, "im Herbst") == "im Herbst"
  # A prediction that BasicTokenizer's split text does not contain: the words whole.
  assert decode.xtreme_final_text(context, 15, 25, "im Herbst)") == "(im Herbst)"
  # Two spaces between words become one in the original text.
  assert decode.xtreme_final_text(context, 27, 33, "an. Ende") == "an. Ende"
  # An empty token at the end of the context counts in the last word.
  assert decode.xtreme_final_text(context, 32, 37, "Ende") == "Ende"
