"""Classification as text to text (mT5's protocol): features by hand, evaluation on planted
decodes, the Generator's batched decoding against greedy_decode on all rows at once.

The tokenizer is a T5 tokenizer over a sentencepiece model trained offline on a few sentences;
expected ids come from the sentencepiece model itself, not from the code under test.
"""

import dataclasses
import json

from flax import nnx
import jax
import numpy as np
import pytest
from tiny_mt5 import TINY_MT5

from xstilts_jax import formats
from xstilts_jax import sharding as shd
from xstilts_jax.data.examples import ClassificationExample
from xstilts_jax.errors import ConfigError
from xstilts_jax.evaluation.evaluate import EvalOptions
from xstilts_jax.evaluation.text_to_text import UNKNOWN, Generator
from xstilts_jax.models.mt5 import MT5Model, greedy_decode
from xstilts_jax.models.xlmr import HeadSpec
from xstilts_jax.tasks.spec import TaskSpec

NLI = ("contradiction", "entailment", "neutral")
SENTENCES = [
    "mnli premise: A man sleeps. hypothesis: A person rests.",
    "pawsx sentence1: The cat sat. sentence2: A cat was sitting.",
    "entailment neutral contradiction 0 1",
    "It rains and the street is wet. The dog runs in the park.",
]


def _t5_tokenizer(tmp_path_factory, sentences):
  """(a sentencepiece model trained on `sentences`, the T5 tokenizer over its vocabulary)."""
  import sentencepiece as spm
  from transformers import T5TokenizerFast

  prefix = tmp_path_factory.mktemp("t5_sp") / "sp"
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(sentences * 20),
      model_prefix=str(prefix),
      vocab_size=80,
      pad_id=0,
      eos_id=1,
      unk_id=2,
      bos_id=-1,
      character_coverage=1.0,
      hard_vocab_limit=False,
      minloglevel=2,
  )
  sp = spm.SentencePieceProcessor(model_file=f"{prefix}.model")
  vocab = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]
  return sp, T5TokenizerFast(vocab=vocab, extra_ids=0)


@pytest.fixture(scope="module")
def sp_and_tokenizer(tmp_path_factory):
  return _t5_tokenizer(tmp_path_factory, SENTENCES)


def _spec(**kw):
  return TaskSpec("xnli", "text_to_text_classification", "accuracy", labels=NLI, train_task="mnli", **kw)


def test_features_by_hand(sp_and_tokenizer):
  sp, tok = sp_and_tokenizer
  examples = [
      ClassificationExample("a", "A man sleeps.", "A person rests.", "entailment"),
      ClassificationExample("b", "The dog runs in the park. The cat sat.", "It rains and the street is wet.", None),
  ]
  # Example a: the prefix of its training task (mnli), NLI field names, EOS (1), padding (0).
  a = sp.encode("mnli premise: A man sleeps. hypothesis: A person rests.")
  b = sp.encode("mnli premise: The dog runs in the park. The cat sat. hypothesis: It rains and the street is wet.")
  n = len(a) + 3
  assert n < len(b) + 1  # a fits, b is cut
  feats = formats.task_features(_spec(), examples, tok, n)
  np.testing.assert_array_equal(feats["input_ids"][0], a + [1, 0, 0])
  np.testing.assert_array_equal(feats["attention_mask"][0], [1] * (len(a) + 1) + [0, 0])
  np.testing.assert_array_equal(feats["input_ids"][1], b[: n - 1] + [1])  # truncated, the EOS kept
  np.testing.assert_array_equal(feats["attention_mask"][1], [1] * n)
  # Targets: the label word and EOS, -100 after it, as wide as the longest label word.
  words = {w: sp.encode(w) + [1] for w in NLI}
  width = max(len(w) for w in words.values())
  np.testing.assert_array_equal(feats["labels"][0], words["entailment"] + [-100] * (width - len(words["entailment"])))
  np.testing.assert_array_equal(feats["labels"][1], [-100] * width)  # unlabelled: nothing to learn
  fmt = formats.get_format("text_to_text_classification")
  assert fmt.trainable(examples, feats) == 1
  assert set(fmt.train_keys) <= set(feats)
  # A pair task that is not NLI names its fields sentence1 / sentence2; a single sentence "sentence".
  paws = TaskSpec("pawsx", "text_to_text_classification", "accuracy", labels=("0", "1"))
  single = ClassificationExample("c", "The cat sat.", None, "1")
  pair = ClassificationExample("d", "The cat sat.", "A cat was sitting.", "0")
  f2 = formats.task_features(paws, [single, pair], tok, 128)
  assert f2["input_ids"][0][: f2["attention_mask"][0].sum()].tolist() == sp.encode("pawsx sentence: The cat sat.") + [1]
  expected = sp.encode("pawsx sentence1: The cat sat. sentence2: A cat was sitting.") + [1]
  assert f2["input_ids"][1][: f2["attention_mask"][1].sum()].tolist() == expected
  with pytest.raises(Exception, match="example e: unknown label 'maybe'"):
    formats.task_features(paws, [ClassificationExample("e", "x", None, "maybe")], tok, 8)


def test_evaluation_on_planted_decodes(sp_and_tokenizer):
  """A stub predictor returns planted decodes; the accuracy is counted here by hand."""
  sp, tok = sp_and_tokenizer
  word = lambda w: sp.encode(w)
  rows = [
      [0] + word("entailment") + [1],  # right
      [0] + word("neutral") + [1],  # wrong: gold contradiction
      [0] + word("contradiction") + [1] + word("neutral"),  # right: what follows EOS is ignored
      [0] + word("entail") + [1],  # not a label word: wrong
      [0] + word("neutral"),  # right: no EOS within the length
  ]
  width = max(len(r) for r in rows) + 2
  decoded = np.array([r + [0] * (width - len(r)) for r in rows], np.int32)
  gold = ["entailment", "contradiction", "contradiction", "entailment", "neutral"]
  examples = [ClassificationExample(str(i), "x", "y", g) for i, g in enumerate(gold)]
  calls = []

  def predict(features, kind, head=None, layer=None):
    calls.append((kind, head))
    return decoded

  fmt = formats.get_format("text_to_text_classification")
  result, predictions = fmt.evaluate(predict, _spec(), examples, {}, "en", EvalOptions(head="target", tokenizer=tok))
  assert calls == [("seq2seq", "target")]
  assert predictions == ["entailment", "neutral", "contradiction", UNKNOWN, "neutral"]
  assert result["accuracy"] == pytest.approx(60.0)
  assert result["num_unknown"] == 1
  assert fmt.write(_spec(), predictions) == "entailment\nneutral\ncontradiction\n<unknown>\nneutral\n"
  with pytest.raises(ConfigError, match="needs the tokenizer"):
    fmt.evaluate(predict, _spec(), examples, {}, "en", EvalOptions())


CFG = dataclasses.replace(TINY_MT5, vocab_size=80)  # the test tokenizer's vocabulary


def test_generator_decodes_padded_batches_as_greedy_decode_on_all_rows(sp_and_tokenizer):
  """5 rows in batches of 2 (the last padded): the rows of one greedy_decode over all 5."""
  _, tok = sp_and_tokenizer
  examples = [
      ClassificationExample(str(i), t, "A person rests.", NLI[i % 3])
      for i, t in enumerate(["A man sleeps.", "The cat sat.", "It rains.", "The dog runs.", "A cat was sitting."])
  ]
  feats = formats.task_features(_spec(), examples, tok, 48)
  model = MT5Model(CFG, {"target": HeadSpec("seq2seq")}, rngs=nnx.Rngs(3))
  partitioner = shd.Partitioner(shd.make_mesh({"data": 1, "fsdp": 1, "tensor": 1}, devices=jax.devices()[:1]))
  got = Generator(model, partitioner, batch_size=2)(feats, "seq2seq", "target")
  length = feats["labels"].shape[1] + 1
  want = nnx.jit(greedy_decode, static_argnames=("max_length", "head"))(
      model, feats["input_ids"], feats["attention_mask"], max_length=length, head="target"
  )
  assert got.shape == (5, length)
  np.testing.assert_array_equal(got, np.asarray(want))
  assert (got[:, 1:] != 0).any()  # random weights still emit tokens


def test_engine_trains_the_features_and_the_evaluation_decodes_their_labels(sp_and_tokenizer):
  """The engine's seq2seq train step (Adafactor, T5X's settings) on three examples of three
  labels, then the format's evaluation through a Generator: every label word comes back."""
  from xstilts_jax.train import optim
  from xstilts_jax.train import state as train_state
  from xstilts_jax.train import steps as train_steps

  _, tok = sp_and_tokenizer
  examples = [
      ClassificationExample("0", "A man sleeps.", "A person rests.", "entailment"),
      ClassificationExample("1", "The cat sat.", "It rains.", "neutral"),
      ClassificationExample("2", "The dog runs.", "The dog sleeps.", "contradiction"),
  ]
  spec = _spec()
  fmt = formats.get_format(spec.format)
  feats = formats.task_features(spec, examples, tok, 32)
  model = MT5Model(CFG, {"target": HeadSpec("seq2seq")}, rngs=nnx.Rngs(5))
  partitioner = shd.Partitioner(shd.make_mesh({"data": 1, "fsdp": 1, "tensor": 1}, devices=jax.devices()[:1]))
  ocfg = optim.OptimizerConfig.adafactor(total_steps=80, learning_rate=1e-2)
  tx = optim.make_transform(ocfg)
  layout, state, shardings = train_state.create_state(model, tx, partitioner)
  step = train_steps.jit_train_step(
      train_steps.make_train_step(
          layout, "target", fmt.head_kind, tx, optim.make_schedule(ocfg), ocfg.grad_clip_norm, 1, partitioner
      ),
      shardings,
      partitioner,
  )
  batch = {k: feats[k] for k in fmt.train_keys}
  batch["mask"] = np.ones(3, np.int32)
  losses = []
  for _ in range(80):
    state, metrics = step(state, partitioner.global_batch(batch))
    losses.append(float(metrics["loss"]))
  assert losses[-1] < 0.05 * losses[0]
  trained = layout.model(state["params"])
  generator = Generator(trained, partitioner, batch_size=2)
  result, predictions = fmt.evaluate(generator, spec, examples, feats, "en", EvalOptions(head="target", tokenizer=tok))
  assert predictions == ["entailment", "neutral", "contradiction"]
  assert result["accuracy"] == 100.0


# --- extractive QA as text to text ----------------------------------------------------------

QA_SENTENCES = [
    "question: where does the dog run? context: The dog runs in the park. It rains and the street is wet.",
    "question: who sleeps? context: A man sleeps. The cat sat on the mat.",
    "question: what is wet? context: the street",
]


@pytest.fixture(scope="module")
def qa_sp_and_tokenizer(tmp_path_factory):
  return _t5_tokenizer(tmp_path_factory, QA_SENTENCES)


def _qa(qid, question, context, *answers, impossible=False):
  from xstilts_jax.data.examples import Answer, SpanQAExample

  return SpanQAExample(qid, question, context, tuple(Answer(a, context.index(a)) for a in answers), impossible)


def _qa_spec(name="xquad", metric="squad_v1"):
  return TaskSpec(name, "text_to_text_span_qa", metric)


def test_span_qa_features_by_hand(qa_sp_and_tokenizer, caplog):
  from xstilts_jax.data.features import TEXT_QA_ANSWER_LENGTH, text_to_text_span_qa_features

  sp, tok = qa_sp_and_tokenizer
  park = "The dog runs in the park. It rains and the street is wet."
  examples = [
      _qa("a", "who sleeps?", "A man sleeps. The cat sat on the mat.", "A man", "man"),
      _qa("b", "what is wet?", park, "the street"),  # its answer lies past the cut below
      _qa("c", "who sleeps?", "The cat sat on the mat.", impossible=True),  # SQuAD 2.0: the empty answer
      _qa("d", "where does the dog run?", park),  # a test file: nothing to learn
  ]
  a = sp.encode("question: who sleeps? context: A man sleeps. The cat sat on the mat.")
  b = sp.encode(f"question: what is wet? context: {park}")
  n = len(a) + 2
  assert n < len(b) + 1 and len(sp.encode("question: what is wet? context: The dog runs")) + 1 < n  # b is cut
  spec = _qa_spec()
  with caplog.at_level("WARNING"):
    feats = formats.task_features(spec, examples, tok, n)
  assert "of 4 examples, 1 have their first answer past the" in caplog.text  # b: "the street" is cut off
  np.testing.assert_array_equal(feats["input_ids"][0], a + [1, 0])
  np.testing.assert_array_equal(feats["attention_mask"][0], [1] * (len(a) + 1) + [0])
  np.testing.assert_array_equal(feats["input_ids"][1], b[: n - 1] + [1])  # truncated from the end, EOS kept
  assert feats["labels"].shape == (4, TEXT_QA_ANSWER_LENGTH)
  # The target is the first gold answer's text and EOS, -100 after it.
  target = sp.encode("A man") + [1]
  np.testing.assert_array_equal(feats["labels"][0], target + [-100] * (TEXT_QA_ANSWER_LENGTH - len(target)))
  assert feats["labels"][1][: len(sp.encode("the street")) + 1].tolist() == sp.encode("the street") + [1]
  np.testing.assert_array_equal(feats["labels"][2], [1] + [-100] * (TEXT_QA_ANSWER_LENGTH - 1))
  np.testing.assert_array_equal(feats["labels"][3], [-100] * TEXT_QA_ANSWER_LENGTH)
  fmt = formats.get_format(spec.format)
  assert fmt.trainable(examples, feats) == 3 and set(fmt.train_keys) <= set(feats)
  assert fmt.head_kind == "seq2seq" and fmt.text(examples[0]) == "who sleeps? A man sleeps. The cat sat on the mat."
  # A longer answer than the budget is cut with its EOS kept (and counted).
  caplog.clear()
  with caplog.at_level("WARNING"):
    short = text_to_text_span_qa_features(examples[1:2], tok, 64, answer_length=3)
  assert short["labels"][0].tolist() == sp.encode("the street")[:2] + [1]
  assert "1 an answer longer than 3 tokens" in caplog.text
  # No room for a token beside T5's EOS: one line naming the length.
  with pytest.raises(ConfigError, match="text-to-text QA: max_seq_length 1 leaves no room for text beside 1"):
    formats.task_features(spec, examples, tok, 1)
  empty = formats.task_features(spec, [], tok, 16)
  assert {k: v.shape for k, v in empty.items()} == {
      "input_ids": (0, 16),
      "attention_mask": (0, 16),
      "labels": (0, TEXT_QA_ANSWER_LENGTH),
  }


def _planted(rows, width):
  return np.array([r + [0] * (width - len(r)) for r in rows], np.int32)


def test_span_qa_evaluation_on_planted_decodes_scores_as_squad_and_writes_the_prediction_file(
    qa_sp_and_tokenizer, tmp_path
):
  """Planted decodes; EM and F1 counted here by hand after SQuAD's rules (lower case, no
  punctuation or articles, token overlap, the best gold answer); the prediction file scores the
  same through `xstilts score`'s reader."""
  sp, tok = qa_sp_and_tokenizer
  park = "The dog runs in the park. It rains and the street is wet."
  examples = [
      _qa("a", "who sleeps?", "A man sleeps.", "A man"),
      _qa("b", "what is wet?", park, "the street is wet", "street"),
      _qa("c", "where does the dog run?", park, "The dog runs in the park"),
      _qa("d", "who sleeps?", "The cat sat on the mat.", "cat"),
  ]
  rows = [
      [0] + sp.encode("a man.") + [1],  # "man" = "man": EM 1, F1 1
      [0] + sp.encode("the street") + [1] + sp.encode("wet"),  # = the second gold answer; after EOS ignored
      [0] + sp.encode("dog runs"),  # no EOS: "dog runs" vs "dog runs in park": P 1, R 1/2, F1 2/3
      [0, 1],  # the empty answer: 0
  ]
  decoded = _planted(rows, max(map(len, rows)) + 1)
  spec = _qa_spec()
  fmt = formats.get_format(spec.format)
  calls = []

  def predict(features, kind, head=None, layer=None):
    calls.append((kind, head))
    return decoded

  result, answers = fmt.evaluate(predict, spec, examples, {}, "en", EvalOptions(head="target", tokenizer=tok))
  assert calls == [("seq2seq", "target")]
  assert answers == {"a": "a man.", "b": "the street", "c": "dog runs", "d": ""}
  assert result["exact_match"] == pytest.approx(50.0)
  assert result["f1"] == pytest.approx(100.0 * (1 + 1 + 2 / 3 + 0) / 4)
  # EM 100 where every decode spells a gold answer.
  spelled = [[0] + sp.encode(ex.answers[-1].text) + [1] for ex in examples]
  gold = _planted(spelled, max(map(len, spelled)))
  full, _ = fmt.evaluate(lambda *a, **k: gold, spec, examples, {}, "en", EvalOptions(tokenizer=tok))
  assert (full["exact_match"], full["f1"]) == (100.0, 100.0)
  # The submission file: XTREME's {id: answer} JSON, scored by `xstilts score` as span QA's.
  pred = formats.write_predictions(tmp_path / formats.prediction_file_name(spec, "en"), spec, answers)
  assert pred.name == "test-en.json" and json.loads(pred.read_text()) == answers
  paragraphs = [
      {
          "context": ex.context,
          "qas": [{"id": ex.id, "question": ex.question, "answers": [a.__dict__ for a in ex.answers]}],
      }
      for ex in examples
  ]
  (tmp_path / "gold.json").write_text(json.dumps({"data": [{"title": "t", "paragraphs": paragraphs}]}))
  scored = formats.score_files("xquad", pred, tmp_path / "gold.json")
  assert scored["exact_match"] == pytest.approx(result["exact_match"]) and scored["f1"] == pytest.approx(result["f1"])
  # MLQA: its metric with the answer language's normalisation (English: articles dropped as SQuAD).
  mlqa, _ = fmt.evaluate(predict, _qa_spec("mlqa", "mlqa"), examples, {}, "en", EvalOptions(tokenizer=tok))
  assert (mlqa["exact_match"], mlqa["f1"]) == pytest.approx((result["exact_match"], result["f1"]))


def test_span_qa_evaluation_through_a_generator_is_squad_of_greedy_decodes(qa_sp_and_tokenizer):
  """A random tiny mT5 through a Generator: the decode is as long as the answer budget plus the
  start token; F1/EM equal qa_metrics.squad_v1 of the greedy decodes (greedy_decode on all
  rows, turned into text by the sentencepiece model itself)."""
  from xstilts_jax.data.features import TEXT_QA_ANSWER_LENGTH
  from xstilts_jax.evaluation.qa_metrics import squad_v1

  sp, tok = qa_sp_and_tokenizer
  park = "The dog runs in the park. It rains and the street is wet."
  examples = [
      _qa("a", "who sleeps?", "A man sleeps. The cat sat on the mat.", "A man"),
      _qa("b", "what is wet?", park, "the street", "street"),
      _qa("c", "where does the dog run?", park, "in the park"),
  ]
  spec = _qa_spec()
  feats = formats.task_features(spec, examples, tok, 48)
  cfg = dataclasses.replace(TINY_MT5, vocab_size=sp.get_piece_size())  # every id it writes is a piece
  model = MT5Model(cfg, {"target": HeadSpec("seq2seq")}, rngs=nnx.Rngs(7))
  partitioner = shd.Partitioner(shd.make_mesh({"data": 1, "fsdp": 1, "tensor": 1}, devices=jax.devices()[:1]))
  result, answers = formats.get_format(spec.format).evaluate(
      Generator(model, partitioner, batch_size=2),
      spec,
      examples,
      feats,
      "en",
      EvalOptions(head="target", tokenizer=tok),
  )
  want = np.asarray(
      nnx.jit(greedy_decode, static_argnames=("max_length", "head"))(
          model, feats["input_ids"], feats["attention_mask"], max_length=TEXT_QA_ANSWER_LENGTH + 1, head="target"
      )
  )
  texts = []
  for row in want[:, 1:].tolist():
    ids = row[: row.index(1)] if 1 in row else row
    texts.append(sp.decode([t for t in ids if t != 0]).strip())
  assert any(texts)  # random weights still write something
  assert answers == dict(zip("abc", texts))
  expected = squad_v1(dict(zip("abc", texts)), {ex.id: [a.text for a in ex.answers] for ex in examples})
  assert (result["exact_match"], result["f1"]) == pytest.approx((expected["exact_match"], expected["f1"]))


def test_tagging_features_with_a_t5_tokenizer_wrap_as_t5_does(sp_and_tokenizer):
  """mT5's heads protocol tags with T5's tokenizer: no <s>, one </s> after the words (XLM-R's wrapping
  would need a cls token T5 has not). Expected ids come from the sentencepiece model itself."""
  from xstilts_jax.data import features as F
  from xstilts_jax.data.examples import TaggingExample

  sp, tok = sp_and_tokenizer
  words = ("the", "cat", "sat")
  feats = F.tagging_features([TaggingExample("t", words, ("O", "B-PER", "O"))], tok, ["O", "B-PER"], 16)
  pieces = [sp.encode(w) for w in words]
  expected = [i for p in pieces for i in p] + [sp.eos_id()]
  assert feats["input_ids"][0, : len(expected)].tolist() == expected
  assert feats["attention_mask"][0].sum() == len(expected)
  starts = np.cumsum([0] + [len(p) for p in pieces[:-1]])
  labelled = np.flatnonzero(feats["label_ids"][0] != -100)
  assert labelled.tolist() == starts.tolist() and feats["label_ids"][0, starts].tolist() == [0, 1, 0]
  assert feats["word_index"][0, starts].tolist() == [0, 1, 2]
