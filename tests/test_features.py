"""Tokenizer and feature builders on the real data slices (tokenizer trained offline)."""

import json
import os
from pathlib import Path
import subprocess
import sys
import unicodedata

import numpy as np
import pytest

from xstilts_jax.data import batches as batch_lib
from xstilts_jax.data import features as F
from xstilts_jax.data import readers
from xstilts_jax.data.examples import (
    Answer,
    ClassificationExample,
    MultipleChoiceExample,
    SentenceExample,
    SpanQAExample,
    TaggingExample,
)
from xstilts_jax.data.tokenizer import load_tokenizer, train_tokenizer
from xstilts_jax.errors import DataError
from xstilts_jax.evaluation import decode
from xstilts_jax.tasks import registry
from xstilts_jax.tasks.spec import TaskSpec

UPOS = registry.UPOS_TAGS
PANX = registry.PANX_TAGS


def qa_files(data: Path) -> list[Path]:
  return sorted(
      [
          *data.glob("xquad/*.json"),
          *data.glob("squad_v*/*.json"),
          *data.glob("mlqa/MLQA_V1/*/*.json"),
          *data.glob("tydiqa_goldp/*.json"),
      ]
  )


# Tokenizer.


def test_tokenizer_has_xlmr_layout(small_tokenizer, tmp_path):
  tok = small_tokenizer
  assert tok.is_fast
  assert tok.convert_ids_to_tokens([0, 1, 2, 3]) == ["<s>", "<pad>", "</s>", "<unk>"]
  assert tok.mask_token == "<mask>" and tok.mask_token_id == len(tok) - 1
  assert (tok.cls_token_id, tok.pad_token_id, tok.sep_token_id, tok.unk_token_id) == (0, 1, 2, 3)
  a = tok("first text", add_special_tokens=False)["input_ids"]
  b = tok("second", add_special_tokens=False)["input_ids"]
  assert tok("first text", "second")["input_ids"] == [0, *a, 2, 2, *b, 2]
  assert tok.convert_ids_to_tokens(a)[0].startswith("▁")
  reloaded = load_tokenizer(tok.name_or_path)
  text = "Les Normands (en normand : Normaunds) 1050s. 中文，测试。"
  assert reloaded(text)["input_ids"] == tok(text)["input_ids"]
  with pytest.raises(DataError, match="no tokenizer files"):
    load_tokenizer(tmp_path)


def test_tokenizer_pieces_do_not_mix_letters_and_punctuation(small_tokenizer):
  vocab = small_tokenizer.convert_ids_to_tokens(range(4, len(small_tokenizer) - 1))

  def kinds(piece):
    return {unicodedata.category(c)[0] for c in piece.replace("▁", "")}

  mixed = [p for p in vocab if {"L", "P"} <= kinds(p) or {"L", "N"} <= kinds(p)]
  assert not mixed


def test_train_tokenizer_is_reproducible(shared_data, tmp_path):
  texts = [
      ex.context
      for lang in ("en", "zh", "th")
      for ex in readers.read_squad_json(shared_data / "xquad" / f"xquad.{lang}.json")[::7]
  ]
  first = train_tokenizer(texts, 1500, tmp_path / "a")
  second = train_tokenizer(texts, 1500, tmp_path / "b")
  assert len(first) == len(second) > 1000
  assert (tmp_path / "a" / "tokenizer.json").read_bytes() == (tmp_path / "b" / "tokenizer.json").read_bytes()


def test_train_tokenizer_is_the_same_in_two_processes(tmp_path):
  # Hash-order tie breaking (HF tokenizers' Unigram trainer) differs between processes, not
  # within one, and shows on the demo's synthetic text (3 runs there gave 3 vocabularies):
  # only separate interpreters can show that the trainer is deterministic.
  from xstilts_jax.demo.synthetic import write_synthetic_data

  write_synthetic_data(tmp_path / "data", seed=0)
  script = (
      "import sys\n"
      "from pathlib import Path\n"
      "from xstilts_jax.data.tokenizer import train_tokenizer\n"
      "files = sorted(Path(sys.argv[1]).glob('mlm/*/train.txt'))\n"
      "texts = [line for f in files for line in f.read_text(encoding='utf-8').splitlines()]\n"
      "train_tokenizer(texts, 3000, sys.argv[2])\n"
  )
  for name in ("a", "b"):
    subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "data"), str(tmp_path / name)],
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "random"},
    )
  first = (tmp_path / "a" / "tokenizer.json").read_bytes()
  assert len(json.loads(first)["model"]["vocab"]) > 1000
  assert first == (tmp_path / "b" / "tokenizer.json").read_bytes()


# Span QA.


def _boundaries(tokenizer, context):
  """Token starts and ends of the context tokenized alone, whitespace trimmed."""
  enc = tokenizer(context, add_special_tokens=False, return_offsets_mapping=True)
  starts, ends = set(), set()
  for s, e in enc["offset_mapping"]:
    while s < e and context[s].isspace():
      s += 1
    while e > s and context[e - 1].isspace():
      e -= 1
    starts.add(s)
    ends.add(e)
  return starts, ends


def check_span_features(examples, feats, tokenizer, max_seq_length):
  """Asserts the span-QA contract on every window; returns (answers, exact, tokenizer-limited)."""
  n = len(feats["input_ids"])
  assert feats["offsets"].shape == (n, max_seq_length, 2)
  for key in ("input_ids", "attention_mask", "start_positions", "end_positions", "example_index", "offsets"):
    assert feats[key].dtype == np.int32 and len(feats[key]) == n
  assert np.all(np.diff(feats["example_index"]) >= 0)
  assert set(feats["example_index"]) == set(range(len(examples)))

  # Context tokens sit between "</s></s>" and the last "</s>"; offsets are >= 0 exactly there.
  for r in range(n):
    ids = feats["input_ids"][r]
    seps = np.flatnonzero(ids == tokenizer.sep_token_id)
    assert ids[0] == tokenizer.cls_token_id and seps[1] == seps[0] + 1
    expected = np.zeros(max_seq_length, bool)
    expected[seps[1] + 1 : seps[2]] = True
    assert np.array_equal(feats["offsets"][r, :, 0] >= 0, expected)
    assert np.all((feats["offsets"][r, :, 1] >= 0) == expected)

  answers = exact = limited = 0
  for i, ex in enumerate(examples):
    rows = np.flatnonzero(feats["example_index"] == i)
    if ex.is_impossible or not ex.answers:
      assert np.all(feats["start_positions"][rows] == 0)
      assert np.all(feats["end_positions"][rows] == 0)
      continue
    boundaries = None
    for k, answer in enumerate(ex.answers):
      s, e = answer.answer_start, answer.answer_start + len(answer.text)
      holding = []
      for r in rows:
        off = feats["offsets"][r]
        ctx = off[:, 0] >= 0
        if off[ctx][0, 0] <= s and off[ctx][-1, 1] >= e:
          holding.append(r)
          hit = np.flatnonzero(ctx & (off[:, 1] > s) & (off[:, 0] < e))
          recovered = ex.context[off[hit[0], 0] : off[hit[-1], 1]]
          if k == 0:  # the training target is the first answer
            sp, ep = feats["start_positions"][r], feats["end_positions"][r]
            assert 0 < sp <= ep
            assert ex.context[off[sp, 0] : off[ep, 1]] == recovered
        elif k == 0:
          assert feats["start_positions"][r] == feats["end_positions"][r] == 0
      assert holding, f"{ex.id}: no window holds answer {answer.text!r}"
      answers += 1
      if recovered == answer.text:
        exact += 1
      else:  # only allowed where no token boundary falls at the answer's ends
        boundaries = boundaries or _boundaries(tokenizer, ex.context)
        assert s not in boundaries[0] or e not in boundaries[1], (ex.id, answer.text, recovered)
        assert answer.text in recovered
        limited += 1
  return answers, exact, limited


def test_span_qa_recovers_every_gold_answer(shared_data, small_tokenizer):
  files = qa_files(shared_data)
  assert len(files) >= 30
  total = exact = 0
  for path in files:
    examples = readers.read_squad_json(path)
    feats = F.span_qa_features(examples, small_tokenizer)
    answers, ok, limited = check_span_features(examples, feats, small_tokenizer, 384)
    total, exact = total + answers, exact + ok
    if "squad_v" not in str(path):
      assert ok == answers, f"{path.name}: {answers - ok} answers not exact"
  assert total > 4000
  assert total - exact <= 0.005 * total  # numbers inside longer numbers ("5" of "50")


def test_span_qa_windows_step_by_doc_stride(shared_data, small_tokenizer):
  examples = readers.read_squad_json(shared_data / "xquad" / "xquad.en.json")
  examples += readers.read_squad_json(shared_data / "squad_v2.0" / "dev-v2.0.json")[:150]
  feats = F.span_qa_features(examples, small_tokenizer, max_seq_length=96, doc_stride=32)
  assert len(feats["input_ids"]) > 3 * len(examples)
  check_span_features(examples, feats, small_tokenizer, 96)
  for i, ex in enumerate(examples[:40]):
    ids = small_tokenizer(ex.context, add_special_tokens=False)["input_ids"]
    rows = np.flatnonzero(feats["example_index"] == i)
    # Index of each window's first context token in the context tokenized alone: where the
    # window's context ids occur (offsets can repeat: a lone "▁" shares its word's start).
    firsts = []
    for r in rows:
      ctx = np.flatnonzero(feats["offsets"][r, :, 0] >= 0)
      window = feats["input_ids"][r, ctx].tolist()
      firsts.append(
          next(k for k in range(firsts[-1] + 1 if firsts else 0, len(ids)) if ids[k : k + len(window)] == window)
      )
      last_token_end = feats["offsets"][r, ctx[-1], 1]
    assert firsts[0] == 0 and all(b - a == 32 for a, b in zip(firsts, firsts[1:]))
    assert last_token_end == len(ex.context.rstrip())  # the last window reaches the end


def test_span_qa_impossible_and_long_question(shared_data, small_tokenizer):
  examples = readers.read_squad_json(shared_data / "squad_v2.0" / "dev-v2.0.json")
  assert sum(ex.is_impossible for ex in examples) > 100
  long_q = SpanQAExample("long", "why " * 200 + "?", examples[0].context, examples[0].answers)
  feats = F.span_qa_features([long_q, *examples[:20]], small_tokenizer)
  q_tokens = np.flatnonzero(feats["input_ids"][0] == small_tokenizer.sep_token_id)[0] - 1
  assert 50 <= q_tokens <= 64
  check_span_features([long_q, *examples[:20]], feats, small_tokenizer, 384)


def test_span_qa_rejects_misplaced_answer(small_tokenizer):
  bad = SpanQAExample("q7", "Who?", "Alice met Bob.", (Answer("Bob", 0),))
  with pytest.raises(DataError, match="q7"):
    F.span_qa_features([bad], small_tokenizer)


# Tagging.


def check_tagging(examples, feats, tokenizer, labels, max_seq_length):
  n = len(feats["input_ids"])
  assert feats["label_ids"].shape == feats["word_index"].shape == (n, max_seq_length)
  assert np.all(np.diff(feats["example_index"]) >= 0)
  for i, ex in enumerate(examples):
    rows = np.flatnonzero(feats["example_index"] == i)
    assert len(rows) >= 1
    words, tags, pieces = [], [], []
    for r in rows:
      length = feats["attention_mask"][r].sum()
      ids = feats["input_ids"][r]
      assert ids[0] == tokenizer.cls_token_id and ids[length - 1] == tokenizer.sep_token_id
      assert np.all(ids[length:] == tokenizer.pad_token_id)
      for j in range(1, length - 1):
        if feats["word_index"][r, j] >= 0:
          words.append(feats["word_index"][r, j])
          tags.append(feats["label_ids"][r, j])
          pieces.append([ids[j]])
        else:
          assert feats["label_ids"][r, j] == -100
          pieces[-1].append(ids[j])  # a window never starts inside a word
    assert words == list(range(len(ex.words))), ex.id
    assert [labels[t] for t in tags] == list(ex.labels)
    for word, got in zip(ex.words, pieces):
      want = tokenizer(word, add_special_tokens=False)["input_ids"] or [tokenizer.unk_token_id]
      assert got == want[: max_seq_length - 2], (ex.id, word)
  return n


def tagging_sets(data):
  sets = [(p, readers.read_conllu(p), UPOS) for p in sorted(data.glob("udpos/*/*.conllu"))]
  sets += [(p, readers.read_panx(p), PANX) for p in sorted(data.glob("panx/xtreme_format/*.tsv"))]
  return sets


def test_tagging_words_and_labels_survive(shared_data, small_tokenizer):
  sets = tagging_sets(shared_data)
  assert len(sets) >= 20
  for path, examples, labels in sets:
    feats = F.tagging_features(examples, small_tokenizer, labels, max_seq_length=128)
    check_tagging(examples, feats, small_tokenizer, labels, 128)


def test_tagging_splits_long_sentences(shared_data, small_tokenizer):
  examples = readers.read_conllu(shared_data / "udpos" / "UD_English-EWT" / "en_ewt-ud-train.conllu")
  examples += readers.read_panx(shared_data / "panx" / "xtreme_format" / "dev-ja.tsv")[:30]
  feats = F.tagging_features(examples, small_tokenizer, UPOS + PANX, max_seq_length=16)
  n = check_tagging(examples, feats, small_tokenizer, UPOS + PANX, 16)
  assert n > 2 * len(examples)


def test_tagging_keeps_empty_and_overlong_words(small_tokenizer):
  ex = TaggingExample("s1", ("A", "\xa0", "b", "x" * 40, "c"), ("X", "NOUN", "X", "X", "VERB"))
  assert small_tokenizer("\xa0", add_special_tokens=False)["input_ids"] == []
  feats = F.tagging_features([ex], small_tokenizer, UPOS, max_seq_length=8)
  check_tagging([ex], feats, small_tokenizer, UPOS, 8)
  unlabeled = TaggingExample("s2", ("A", "b"), None)
  feats = F.tagging_features([unlabeled], small_tokenizer, UPOS, max_seq_length=8)
  assert np.all(feats["label_ids"] == -100)
  assert sorted(feats["word_index"][feats["word_index"] >= 0]) == [0, 1]
  with pytest.raises(DataError, match="s3.*'NOPE'"):
    F.tagging_features([TaggingExample("s3", ("a",), ("NOPE",))], small_tokenizer, UPOS)


# Classification, multiple choice, retrieval, MLM.


def test_classification_pairs_and_truncation(shared_data, small_tokenizer):
  tok = small_tokenizer
  examples = readers.read_pawsx(shared_data / "pawsx" / "x-final" / "en" / "dev_2k.tsv")
  examples.append(ClassificationExample("single", "only one sentence", None, None))
  long_a = ClassificationExample("long", "word " * 100, "short tail", "1")
  feats = F.classification_features([*examples, long_a], tok, ("0", "1"), max_seq_length=32)
  assert feats["input_ids"].shape == feats["attention_mask"].shape == (len(examples) + 1, 32)
  assert list(feats["label"]) == [int(ex.label) for ex in examples[:-1]] + [-1, 1]
  assert len(examples) == 5 and set(feats["label"][:4]) <= {0, 1}
  for k, ex in enumerate(examples):
    want = tok(ex.text_a, ex.text_b, truncation=True, max_length=32)["input_ids"]
    assert list(feats["input_ids"][k, : len(want)]) == want
    assert feats["attention_mask"][k].sum() == len(want)
  tail = tok("short tail", add_special_tokens=False)["input_ids"]
  assert feats["attention_mask"][-1].sum() == 32  # longest first: the long side is cut
  assert list(feats["input_ids"][-1, 31 - len(tail) :]) == [*tail, tok.sep_token_id]
  with pytest.raises(DataError, match="ex9.*'maybe'"):
    F.classification_features([ClassificationExample("ex9", "a", "b", "maybe")], tok, ("0", "1"))


def test_multiple_choice_shapes(shared_data, small_tokenizer):
  tok = small_tokenizer
  examples = readers.read_cosmosqa(shared_data / "cosmosqa" / "valid.csv")[:12]
  feats = F.multiple_choice_features(examples, tok, num_choices=4, max_seq_length=64)
  assert feats["input_ids"].shape == feats["attention_mask"].shape == (12, 4, 64)
  assert list(feats["label"]) == [ex.label for ex in examples]
  assert all(0 <= ex.label < 4 for ex in examples)
  for i, ex in enumerate(examples):
    for k, choice in enumerate(ex.choices):
      want = tok(ex.context, choice, truncation=True, max_length=64)["input_ids"]
      assert list(feats["input_ids"][i, k, : len(want)]) == want
  with pytest.raises(DataError, match="mc1"):
    F.multiple_choice_features([MultipleChoiceExample("mc1", "c", ("a", "b"), 0)], tok, 4)


def test_retrieval_and_mlm_features(shared_data, small_tokenizer):
  lines = (shared_data / "tatoeba" / "tatoeba.deu-eng.deu").read_text(encoding="utf-8")
  sentences = [SentenceExample(str(i), t) for i, t in enumerate(lines.splitlines())]
  feats = F.retrieval_features(sentences, small_tokenizer)
  assert feats["input_ids"].shape == (len(sentences), 512)
  short = F.retrieval_features(sentences, small_tokenizer, max_seq_length=8)
  assert short["input_ids"].shape == (len(sentences), 8)
  assert np.all(short["input_ids"][short["attention_mask"][:, -1] == 1, -1] == 2)
  mlm = F.mlm_features([s.text for s in sentences], small_tokenizer, max_seq_length=64)
  same = F.retrieval_features(sentences, small_tokenizer, max_seq_length=64)
  assert np.array_equal(mlm["input_ids"], same["input_ids"])


def test_mask_tokens_statistics():
  rng = np.random.default_rng(0)
  vocab, mask_id, specials = 1000, 999, (0, 1, 2)
  ids = rng.integers(3, 999, size=(400, 256))
  attention = (np.arange(256)[None, :] < rng.integers(50, 257, size=(400, 1))).astype(np.int32)
  ids[:, 0] = 0
  ids[attention == 0] = 1
  masked, labels = F.mask_tokens(ids, attention, np.random.default_rng(7), vocab, mask_id, specials)
  picked = labels != -100
  candidates = (attention == 1) & (ids > 2)
  assert not np.any(picked & ~candidates)
  assert np.array_equal(labels[picked], ids[picked])
  assert np.array_equal(masked[~picked], ids[~picked])
  assert abs(picked.sum() / candidates.sum() - 0.15) < 0.005
  as_mask = (masked == mask_id)[picked].mean()
  kept = (masked == ids)[picked].mean()
  assert abs(as_mask - 0.8) < 0.01 and abs(kept - 0.1) < 0.01
  assert abs(1 - as_mask - kept - 0.1) < 0.01
  again = F.mask_tokens(ids, attention, np.random.default_rng(7), vocab, mask_id, specials)
  assert np.array_equal(again[0], masked) and np.array_equal(again[1], labels)
  other = F.mask_tokens(ids, attention, np.random.default_rng(8), vocab, mask_id, specials)
  assert not np.array_equal(other[1], labels)


def test_task_features_dispatches_on_format(small_tokenizer):
  spec = TaskSpec(name="udpos", format="tagging", metric="f1", labels=UPOS, max_seq_length=16)
  ex = TaggingExample("a", ("The", "dog"), ("DET", "NOUN"))
  from xstilts_jax.formats import task_features

  feats = task_features(spec, [ex], small_tokenizer)
  assert feats["input_ids"].shape == (1, 16)


# Cache.


def test_feature_cache_reuses_and_rebuilds(tmp_path, small_tokenizer):
  data = tmp_path / "train.txt"
  data.write_text("one line\n", encoding="utf-8")
  calls = []

  def build():
    calls.append(1)
    return {"input_ids": np.arange(12, dtype=np.int32).reshape(3, 4), "label": np.array([1, 0, 1])}

  key = {
      "task": "xnli",
      "language": "en",
      "split": "train",
      "max_seq_length": 128,
      "tokenizer": F.tokenizer_fingerprint(small_tokenizer),
      "data": F.file_fingerprint(data),
  }
  cache = tmp_path / "cache"
  first = F.cached_features(cache, key, build)
  second = F.cached_features(cache, dict(key), build)
  assert len(calls) == 1
  assert set(second) == set(first)
  for k in first:
    assert np.array_equal(first[k], second[k]) and first[k].dtype == second[k].dtype
  assert [p.suffix for p in cache.iterdir()] == [".npz"]  # no temporary file left
  F.cached_features(cache, {**key, "max_seq_length": 256}, build)
  assert len(calls) == 2
  data.write_text("one line, changed\n", encoding="utf-8")
  os.utime(data, ns=(1, 1))
  F.cached_features(cache, {**key, "data": F.file_fingerprint(data)}, build)
  assert len(calls) == 3
  F.cached_features(cache, {**key, "tokenizer": "other:0000"}, build)
  assert len(calls) == 4
  F.cached_features(cache, key, build)
  assert len(calls) == 4


# The contract with evaluation/decode.py, through padded eval batches.


def _through_eval_batches(feats):
  rows = len(feats["input_ids"])
  batch_size = next(b for b in range(16, 64) if rows % b)  # so that the last batch is padded
  batches = list(batch_lib.eval_batches(feats, batch_size))
  assert batches[-1]["mask"].min() == 0
  return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}


def test_oracle_spans_decode_to_gold_answers(shared_data, small_tokenizer):
  examples = readers.read_squad_json(shared_data / "xquad" / "xquad.de.json")
  feats = F.span_qa_features(examples, small_tokenizer, max_seq_length=128, doc_stride=64)
  padded = _through_eval_batches(feats)
  rows = len(padded["mask"])
  start_logits, end_logits = np.zeros((rows, 128)), np.zeros((rows, 128))
  start_logits[np.arange(rows), padded["start_positions"]] = 10.0
  end_logits[np.arange(rows), padded["end_positions"]] = 10.0
  # Oracle logits mark only the windows that hold the whole answer, while the max-context
  # rule may score a long answer's start in a window that cuts the answer off: turn it off.
  predictions = decode.decode_spans(
      examples, padded, start_logits, end_logits, max_answer_length=1000, max_context=False
  )
  assert predictions == {ex.id: ex.answers[0].text for ex in examples}


def test_oracle_tags_decode_to_gold_tags(shared_data, small_tokenizer):
  examples = readers.read_panx(shared_data / "panx" / "xtreme_format" / "dev-de.tsv")
  feats = F.tagging_features(examples, small_tokenizer, PANX, max_seq_length=16)
  padded = _through_eval_batches(feats)
  logits = np.zeros(padded["label_ids"].shape + (len(PANX),))
  labeled = padded["label_ids"] >= 0
  logits[labeled, padded["label_ids"][labeled]] = 1.0
  tags = decode.decode_tags(padded, logits, PANX, [len(ex.words) for ex in examples])
  assert tags == [list(ex.labels) for ex in examples]
