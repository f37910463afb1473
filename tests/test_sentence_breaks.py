"""LAReQA's training set as XTREME-R builds it: the SQuAD-tuned sentence breaker, the retrieval
version of English SQuAD v1.1, and its candidate features (sentence and paragraph as a pair)."""

import json

import numpy as np
import pytest

from xstilts_jax.data.readers import ReadReport, read_squad_retrieval
from xstilts_jax.data.retrieval_examples import RetrievalPair
from xstilts_jax.data.retrieval_qa import pair_features
from xstilts_jax.data.sentence_breaks import sentence_breaks


def test_breaks_equal_the_xquad_r_files_own_english_breaks(shared_data):
  """XQuAD-R's English paragraphs carry the LAReQA authors' sentence_breaks: an independent answer."""
  data = json.loads((shared_data / "lareqa" / "xquad-r" / "en.json").read_text(encoding="utf-8"))
  paragraphs = [p for article in data["data"] for p in article["paragraphs"]]
  assert len(paragraphs) == 20
  for p in paragraphs:
    assert [list(span) for span in sentence_breaks(p["context"])] == p["sentence_breaks"], p["context"][:80]


@pytest.mark.parametrize(
    "text, sentences",
    [
        ("Dr. Smith arrived. He left.", ["Dr. Smith arrived.", "He left."]),  # a title is not an end
        ("J. K. Rowling wrote it. Fans read it.", ["J. K. Rowling wrote it.", "Fans read it."]),  # initials
        ("It ended.[3] Then it began.", ["It ended.[3]", "Then it began."]),  # a citation mark
        ("See Vol. 3 for details. Done.", ["See Vol. 3 for details.", "Done."]),  # a numbered part
        ("It began at 5 p.m. EST on a Monday.", ["It began at 5 p.m. EST on a Monday."]),
        ("She lived in Washington, D.C. She moved.", ["She lived in Washington, D.C.", "She moved."]),
        ('He said "Go." Then he went.', ['He said "Go."', "Then he went."]),  # a closing quote
        ("one line\nand a newline. Next one?  Yes!", ["one line and a newline.", "Next one?", "Yes!"]),
        ("lower case. after a period is no break.", ["lower case. after a period is no break."]),
    ],
)
def test_breaks_by_hand(text, sentences):
  spans = sentence_breaks(text)
  assert [text.replace("\n", " ")[s:e] for s, e in spans] == sentences
  assert all(text[s:e].strip() == text[s:e] for s, e in spans)  # spans hold no surrounding whitespace


def test_squad_retrieval_pairs_on_the_real_slice(shared_data):
  path = shared_data / "squad_v1.1" / "train-v1.1.json"
  data = json.loads(path.read_text(encoding="utf-8"))
  qas = [(qa, p["context"]) for a in data["data"] for p in a["paragraphs"] for qa in p["qas"]]
  report = ReadReport()
  pairs = read_squad_retrieval(path, report=report)
  assert len(pairs) == len(qas) == 269 and not report.skipped  # every question of the slice is kept
  for pair, (qa, context) in zip(pairs, qas):
    start = qa["answers"][0]["answer_start"]
    assert (pair.id, pair.query, pair.candidate_context) == (qa["id"], qa["question"], context)
    where = context.find(pair.candidate)
    assert where >= 0 and where <= start < where + len(pair.candidate), pair.id  # the answer's sentence
    assert pair.candidate.endswith((".", "?", "!", '"', ")")) or where + len(pair.candidate) == len(context.rstrip())


def _squad(tmp_path, context, answers):
  qas = [{"id": f"q{i}", "question": "What?", "answers": [a]} for i, a in enumerate(answers)]
  path = tmp_path / "train.json"
  path.write_text(json.dumps({"data": [{"paragraphs": [{"context": context, "qas": qas}]}]}), encoding="utf-8")
  return path


def test_skipped_questions_are_counted(tmp_path):
  context = "Alpha beta.  Gamma\u00a0delta sits here."
  answers = [
      {"text": "beta", "answer_start": 6},  # kept: sentence 1
      {"text": " ", "answer_start": 11},  # starts between the two sentences: no sentence
      {"text": "Gamma delta", "answer_start": 13},  # NBSP is no SQuAD whitespace: not recoverable
  ]
  report = ReadReport()
  pairs = read_squad_retrieval(_squad(tmp_path, context, answers), report=report)
  assert [(p.id, p.candidate) for p in pairs] == [("q0", "Alpha beta.")]
  assert report.skipped == {"answer starts in no sentence": 1, "answer text not recoverable from the context": 1}


def test_candidates_are_encoded_as_sentence_and_paragraph_pairs(small_tokenizer):
  pairs = [
      RetrievalPair("a", "Who came?", "Dr. Smith came.", candidate_context="Dr. Smith came. He left soon after."),
      RetrievalPair("b", "A mention", "An entity description"),  # no context: one segment
  ]
  feats = pair_features(pairs, small_tokenizer, max_query_length=16, max_candidate_length=12)
  pair = small_tokenizer(
      "Dr. Smith came.", "Dr. Smith came. He left soon after.", truncation="longest_first", max_length=12
  )["input_ids"]
  single = small_tokenizer("An entity description", truncation=True, max_length=12)["input_ids"]
  pad = small_tokenizer.pad_token_id
  assert feats["candidate_input_ids"].tolist() == [
      pair + [pad] * (12 - len(pair)),
      single + [pad] * (12 - len(single)),
  ]
  assert np.array_equal(feats["candidate_attention_mask"], feats["candidate_input_ids"] != pad)
  assert feats["query_input_ids"].shape == (2, 16)


def test_lareqa_trains_on_the_registered_squad_retrieval_task(shared_data):
  from xstilts_jax.data.sources import load_examples
  from xstilts_jax.tasks.registry import get_task

  spec = get_task(get_task("lareqa").train_task)
  assert (spec.name, spec.format, spec.eval_splits) == ("squad_retrieval", "retrieval_qa", ())
  loaded = load_examples(spec, "en", "train", "local", shared_data)
  assert loaded == read_squad_retrieval(shared_data / "squad_v1.1" / "train-v1.1.json")
