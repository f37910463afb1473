"""XTREME-R: LAReQA pool and mAP@20 on the real XQuAD-R slice; Mewsli-X and SIQA readers on
files written here (no real Mewsli-X or SIQA slice is available offline); nearest-neighbour
search (numpy exact vs faiss)."""

import json

import numpy as np
import pytest

from xstilts_jax.data import readers
from xstilts_jax.errors import DataError
from xstilts_jax.evaluation import retrieval_qa

XQUAD_R_LANGUAGES = tuple("ar de el en es hi ru th tr vi zh".split())


# ---- LAReQA on the real XQuAD-R slice ------------------------------------------------


@pytest.fixture(scope="module")
def xquad_r(shared_data):
  return shared_data / "lareqa" / "xquad-r"


@pytest.fixture(scope="module")
def pool(xquad_r):
  return readers.read_xquad_r(xquad_r)


def _raw(xquad_r):
  """Straight from the JSON: {lang: [(paragraph number, context, breaks, qas)]}."""
  out = {}
  for lang in XQUAD_R_LANGUAGES:
    with open(xquad_r / f"{lang}.json", encoding="utf-8") as f:
      data = json.load(f)
    paragraphs = [p for article in data["data"] for p in article["paragraphs"]]
    out[lang] = [(n, p["context"], p["sentence_breaks"], p["qas"], p["sentences"]) for n, p in enumerate(paragraphs, 1)]
  return out


def test_xquad_r_pool_counts_match_the_json(xquad_r, pool):
  raw = _raw(xquad_r)
  sentences = {l: sum(len(b) for _, _, b, _, _ in ps) for l, ps in raw.items()}
  questions = {l: sum(len(q) for _, _, _, q, _ in ps) for l, ps in raw.items()}
  # The README's description of the slice: 135 questions per language, 70-97 sentences.
  assert set(questions.values()) == {135}
  assert all(70 <= n <= 97 for n in sentences.values()), sentences
  # Every sentence of every language is one candidate; every question is kept.
  assert len(pool.candidates) == sum(sentences.values())
  assert len(pool.questions) == sum(questions.values()) == 11 * 135
  for lang in XQUAD_R_LANGUAGES:
    assert sum(c.language == lang for c in pool.candidates) == sentences[lang], lang
    assert sum(q.language == lang for q in pool.questions) == questions[lang], lang
  # The released `sentences` field agrees with the break spans the candidates come from.
  for lang, paragraphs in raw.items():
    for _, context, breaks, _, listed in paragraphs:
      assert [context[s:e] for s, e in breaks] == listed, lang
  by_uid = {c.uid: c for c in pool.candidates}
  for lang, paragraphs in raw.items():
    for n, context, breaks, _, _ in paragraphs:
      for i, (s, e) in enumerate(breaks):
        candidate = by_uid[f"{lang}_{n}_{i}"]
        assert candidate.sentence == context[s:e] and candidate.context == context
        assert candidate.text == (context[s:e] + context).replace("\n", "")


def test_xquad_r_gold_is_the_answer_sentence_in_all_11_languages(xquad_r, pool):
  raw = _raw(xquad_r)
  expected = {}  # xling_id -> {candidate uid}
  for lang, paragraphs in raw.items():
    for n, context, breaks, qas, _ in paragraphs:
      for qa in qas:
        start = qa["answers"][0]["answer_start"]
        position = [i for i, (s, e) in enumerate(breaks) if s <= start < e][0]
        expected.setdefault(qa["id"], set()).add(f"{lang}_{n}_{position}")
  assert len(expected) == 135
  for question, gold in zip(pool.questions, pool.gold):
    uids = {pool.candidates[i].uid for i in gold}
    assert uids == expected[question.xling_id], question.uid
    assert {pool.candidates[i].language for i in gold} == set(XQUAD_R_LANGUAGES)
    assert question.uid == f"{question.xling_id}_{question.language}"
  # The question ids are parallel: each id is asked in all 11 languages.
  ids = [q.xling_id for q in pool.questions]
  assert all(ids.count(x) == 11 for x in expected)


def _planted(pool):
  """One dimension per question id: a question and each of its gold candidates share it."""
  ids = sorted({q.xling_id for q in pool.questions})
  dim = {x: i for i, x in enumerate(ids)}
  q = np.zeros((len(pool.questions), len(ids) + 1), np.float32)
  c = np.zeros((len(pool.candidates), len(ids) + 1), np.float32)
  c[:, -1] = 1.0  # non-gold candidates score 0 for every question
  for i, (question, gold) in enumerate(zip(pool.questions, pool.gold)):
    q[i, dim[question.xling_id]] = 1.0
    for g in gold:
      c[g, dim[question.xling_id]] = 1.0
      c[g, -1] = 0.0
  return q, c


def test_lareqa_map_of_planted_embeddings_is_one(pool):
  q, c = _planted(pool)
  languages = [x.language for x in pool.questions]
  result = retrieval_qa.lareqa_map(q, c, pool.gold, languages)
  assert result["map@20"] == pytest.approx(100.0)
  assert set(result["per_language"]) == set(XQUAD_R_LANGUAGES)
  assert result["num_questions"] == 1485 and result["num_candidates"] == len(pool.candidates)
  # Demote one gold candidate of question 0 below every other candidate: its AP drops.
  c2 = c.copy()
  c2[pool.gold[0][0]] = -1.0
  worse = retrieval_qa.lareqa_map(q, c2, pool.gold)["map@20"]
  assert worse < 100.0


def _independent_map_at_20(q, c, gold):
  """mAP@20 from the definition: a full stable sort of the scores, precision at each rank."""
  scores = q.astype(np.float32) @ c.astype(np.float32).T
  aps = []
  for row, g in zip(scores, gold):
    order = np.argsort(-row, kind="stable")[:20]
    relevant = np.isin(order, list(g)).astype(float)
    precision = np.cumsum(relevant) / np.arange(1, 21)
    aps.append((precision * relevant).sum() / min(len(g), 20))
  return 100 * float(np.mean(aps))


def test_lareqa_map_of_random_embeddings_matches_an_independent_computation(pool):
  rng = np.random.default_rng(0)
  q = rng.normal(size=(len(pool.questions), 16)).astype(np.float32)
  c = rng.normal(size=(len(pool.candidates), 16)).astype(np.float32)
  ours = retrieval_qa.lareqa_map(q, c, pool.gold)["map@20"]
  assert ours == pytest.approx(_independent_map_at_20(q, c, pool.gold), abs=1e-9)
  # Random vectors in 16 dimensions over ~900 candidates: far from both 0 and 100.
  assert 0.1 < ours < 20


def test_average_precision_at_k_by_hand():
  # gold {1, 3}; ranking 3, 0, 1: hits at ranks 1 and 3 -> (1/1 + 2/3) / 2
  assert retrieval_qa.average_precision_at_k([1, 3], [3, 0, 1], 20) == pytest.approx(5 / 6)
  # cut at k=2: one hit at rank 1, divided by min(2, 2)
  assert retrieval_qa.average_precision_at_k([1, 3], [3, 0, 1], 2) == pytest.approx(0.5)
  # more gold than k: divide by k
  assert retrieval_qa.average_precision_at_k(range(30), range(20), 20) == pytest.approx(1.0)
  assert retrieval_qa.average_precision_at_k([5], [0, 1], 20) == 0.0
  with pytest.raises(DataError):
    retrieval_qa.average_precision_at_k([], [0], 20)


def test_ties_lowest_index_first_and_faiss_agrees():
  c = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.5, 0.5]], np.float32)
  q = np.array([[1.0, 0.0]], np.float32)
  _, idx = retrieval_qa.exact_top_k(q, c, 3)
  assert idx.tolist() == [[0, 2, 3]]
  rng = np.random.default_rng(1)
  queries = rng.normal(size=(50, 32)).astype(np.float32)
  pool = rng.normal(size=(3000, 32)).astype(np.float32)
  s1, i1 = retrieval_qa.top_k(queries, pool, 20, "exact")
  s2, i2 = retrieval_qa.top_k(queries, pool, 20, "faiss")
  assert (i1 == i2).all()
  np.testing.assert_allclose(s1, s2, rtol=1e-5, atol=1e-5)


# ---- Mewsli-X on written files (release JSONL layout) -----------------------------------


def _entity(qid, title, description, spans):
  return {
      "entity_id": qid,
      "title": title,
      "description": description,
      "sentence_spans": [{"start": s, "end": e} for s, e in spans],
      "description_language": "en",
      "description_url": f"https://en.wikipedia.org/{title}",
  }


def _context(lang, text, spans, doc="Q1"):
  return {
      "document_title": "t",
      "document_url": "u",
      "document_id": doc,
      "language": lang,
      "text": text,
      "sentence_spans": [{"start": s, "end": e} for s, e in spans],
  }


def _mention(example_id, text, start, end, qid):
  return {
      "example_id": example_id,
      "entity_id": qid,
      "mention_span": {"start": start, "end": end, "text": text[start:end]},
  }


def _write_jsonl(path, rows):
  path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


@pytest.fixture()
def mewslix_dir(tmp_path):
  d = tmp_path / "mewslix"
  d.mkdir()
  _write_jsonl(
      d / "candidate_set_entities.jsonl",
      [
          _entity("Q90", "Paris", "Paris is the capital of France.\nIt is large.", [(0, 31), (32, 44)]),
          _entity("Q64", "Berlin", "Berlin is the capital of Germany.", [(0, 33)]),
          _entity("Q1", "Universe", "The universe is  all of space.", [(0, 30)]),
      ],
  )
  de_text = "Erster Satz. Gestern war {Wahl} in Berlin und Paris. Letzter Satz."
  en_text = "Paris hosted it."
  _write_jsonl(
      d / "wikinews_mentions-dev.jsonl",
      [
          {
              "context": _context("de", de_text, [(0, 12), (13, 52), (53, 66)]),
              "mentions": [_mention("de-1", de_text, 35, 41, "Q64"), _mention("de-2", de_text, 46, 51, "Q90")],
          },
          {"context": _context("en", en_text, [(0, 16)]), "mentions": [_mention("en-1", en_text, 0, 5, "Q90")]},
      ],
  )
  return d


def test_mewslix_reader_builds_xtreme_r_queries_and_candidates(mewslix_dir):
  data = readers.read_mewslix(mewslix_dir / "wikinews_mentions-dev.jsonl", "de")
  assert [m.example_id for m in data.mentions] == ["de-1", "de-2"]
  assert [m.entity_id for m in data.mentions] == ["Q64", "Q90"]
  assert {m.language for m in data.mentions} == {"de"}
  # The mention's sentence only, braces around the mention, existing {..} escaped as (..),
  # the mention prepended, double spaces folded.
  assert data.mentions[0].text == ("Berlin: Gestern war (Wahl) in { Berlin } und Paris.")
  assert data.mentions[1].text == ("Paris: Gestern war (Wahl) in Berlin und { Paris } .")
  assert [e.entity_id for e in data.entities] == ["Q90", "Q64", "Q1"]
  assert data.entities[0].text == "Paris is the capital of France. It is large."
  assert data.entities[2].text == "The universe is all of space."
  en = readers.read_mewslix(mewslix_dir / "wikinews_mentions-dev.jsonl", "en")
  assert [m.text for m in en.mentions] == ["Paris: { Paris } hosted it."]


def test_mewslix_reader_rejects_bad_rows(mewslix_dir, tmp_path):
  path = mewslix_dir / "wikinews_mentions-dev.jsonl"
  rows = [json.loads(l) for l in path.read_text().splitlines()]
  rows[1]["mentions"][0]["mention_span"]["text"] = "Rome"
  _write_jsonl(path, rows)
  with pytest.raises(DataError, match=r"wikinews_mentions-dev.jsonl:2: .*does not match"):
    readers.read_mewslix(path, "en")
  rows[1]["mentions"][0]["mention_span"]["text"] = "Paris"
  rows[1]["mentions"][0]["entity_id"] = "Q999"
  _write_jsonl(path, rows)
  with pytest.raises(DataError, match="Q999"):
    readers.read_mewslix(path, "en")
  with pytest.raises(DataError, match="no mentions in language 'ja'"):
    readers.read_mewslix(path, "ja")


def test_mewslix_pairs_reader(mewslix_dir):
  text = "Gestern war Wahl in Berlin."
  pair = {
      "contextual_mention": {
          "context": _context("en", text, [(0, len(text))]),
          "mention": _mention("p1", text, 20, 26, "Q64"),
      },
      "entity": _entity("Q64", "Berlin", "Berlin is the capital of Germany.", [(0, 33)]),
  }
  _write_jsonl(mewslix_dir / "wikipedia_pairs-train.jsonl", [pair])
  pairs = readers.read_mewslix_pairs(mewslix_dir / "wikipedia_pairs-train.jsonl")
  assert [(p.id, p.query, p.candidate) for p in pairs] == [
      ("p1", "Berlin: Gestern war Wahl in { Berlin } .", "Berlin is the capital of Germany.")
  ]


def test_mewslix_map_by_hand_and_from_embeddings(mewslix_dir):
  gold = {"a": "Q1", "b": "Q2", "c": "Q3", "d": "Q4"}
  predictions = {
      "a": ["Q1", "Q9"],
      "b": ["Q9", "Q2"],
      "c": ["Q9"] * 19 + ["Q3"],
      "x": ["Q1"],
  }  # d missing, c's gold at rank 20, x has no gold
  result = retrieval_qa.mewslix_mrr(gold, predictions)
  assert result["map@20"] == pytest.approx(100 * (1 + 1 / 2 + 1 / 20 + 0) / 4)
  assert (result["missing"], result["unexpected"]) == (1, 1)
  # Rank 21 is past the cut.
  assert retrieval_qa.mewslix_mrr({"a": "Q1"}, {"a": ["Q9"] * 20 + ["Q1"]})["map@20"] == 0.0
  # Planted embeddings: each mention's vector is its gold entity's -> MRR 1.
  data = readers.read_mewslix(mewslix_dir / "wikinews_mentions-dev.jsonl", "de")
  entities = np.eye(3, dtype=np.float32) * 3.0  # norms differ from 1: normalised inside
  rows = {"Q90": 0, "Q64": 1, "Q1": 2}
  queries = np.stack([entities[rows[m.entity_id]] for m in data.mentions])
  preds = retrieval_qa.mewslix_predictions(
      queries, entities, [e.entity_id for e in data.entities], [m.example_id for m in data.mentions]
  )
  assert preds == {"de-1": ["Q64", "Q90", "Q1"], "de-2": ["Q90", "Q64", "Q1"]}
  gold = {m.example_id: m.entity_id for m in data.mentions}
  assert retrieval_qa.mewslix_mrr(gold, preds)["map@20"] == pytest.approx(100.0)
  per_language = {l: {"map@20": 50.0} for l in retrieval_qa.MEWSLIX_LANGUAGES}
  per_language["ar"] = {"map@20": 61.0}
  assert retrieval_qa.mewslix_score(per_language) == pytest.approx((50 * 10 + 61) / 11)
  del per_language["uk"]
  with pytest.raises(DataError, match="uk"):
    retrieval_qa.mewslix_score(per_language)


# ---- SIQA (written files in the release layouts) -------------------------------------------


def _siqa_row(i, correct=None):
  row = {"context": f"Ctx {i}.", "question": f"What {i}?", "answerA": "a", "answerB": "b", "answerC": "c"}
  if correct:
    row["correct"] = correct
  return row


def test_siqa_reader_both_release_layouts(tmp_path):
  _write_jsonl(tmp_path / "train.jsonl", [_siqa_row(0), _siqa_row(1)])
  (tmp_path / "train-labels.lst").write_text("3\n1\n")
  examples = readers.read_siqa(tmp_path / "train.jsonl")
  assert [(e.context, e.choices, e.label) for e in examples] == [
      ("Ctx 0. What 0?", ("a", "b", "c"), 2),
      ("Ctx 1. What 1?", ("a", "b", "c"), 0),
  ]
  _write_jsonl(tmp_path / "socialIQa_v1.4_dev.jsonl", [_siqa_row(0, "B")])
  assert [e.label for e in readers.read_siqa(tmp_path / "socialIQa_v1.4_dev.jsonl")] == [1]
  (tmp_path / "train-labels.lst").write_text("3\n")
  with pytest.raises(DataError, match="1 labels for 2 rows"):
    readers.read_siqa(tmp_path / "train.jsonl")
  (tmp_path / "train-labels.lst").write_text("3\n4\n")
  with pytest.raises(DataError, match=r"train-labels.lst:2: unknown label '4'"):
    readers.read_siqa(tmp_path / "train.jsonl")


# ---- the XTREME-R score --------------------------------------------------------------------


def _results():
  from xstilts_jax.evaluation.xtreme_r import XTREME_R_LANGUAGES

  langs = XTREME_R_LANGUAGES
  const = lambda task, **m: {l: dict(m) for l in langs[task]}
  results = {
      "xnli": const("xnli", accuracy=80.0),
      "xcopa": const("xcopa", accuracy=70.0),
      "udpos": const("udpos", f1=76.0),
      "panx": const("panx", f1=64.0),
      "xquad": const("xquad", f1=78.0, exact_match=62.0),
      "mlqa": const("mlqa", f1=72.0, exact=54.0),  # squad-style key name
      "tydiqa": const("tydiqa", f1=64.0, exact_match=46.0),
      "tatoeba": const("tatoeba", accuracy=77.0),
      "mewslix": const("mewslix", **{"map@20": 45.0}),
      "lareqa": {l: {"map@20": 40.0, "num_questions": 1190} for l in langs["lareqa"]},
      "pawsx": {"de": {"accuracy": 1.0}},  # not an XTREME-R task: ignored
  }
  results["xnli"]["ar"] = {"accuracy": 95.0}  # xnli: 80 + 15/15 = 81
  results["lareqa"]["de"] = {"map@20": 51.0, "num_questions": 2380}
  results["panx"]["xx"] = {"f1": 0.0}  # not an XTREME-R language: ignored
  return results


def test_xtreme_r_score_by_hand():
  from xstilts_jax.evaluation.xtreme_r import xtreme_r_score

  score = xtreme_r_score(_results())
  # Task scores worked out by hand: QA = (F1 + EM) / 2; LAReQA pooled over questions:
  # 40 + 11 * 2380 / (10 * 1190 + 2380) = 40 + 11 / 6.
  expected_tasks = {
      "xnli": 81.0,
      "xcopa": 70.0,
      "udpos": 76.0,
      "panx": 64.0,
      "xquad": 70.0,
      "mlqa": 63.0,
      "tydiqa": 55.0,
      "tatoeba": 77.0,
      "mewslix": 45.0,
      "lareqa": 40 + 11 / 6,
  }
  assert score["tasks"] == pytest.approx(expected_tasks)
  assert score["categories"] == pytest.approx(
      {"classification": 75.5, "structured": 70.0, "qa": 188 / 3, "retrieval": (77 + 45 + 40 + 11 / 6) / 3}
  )
  # 81 + 70 + 76 + 64 + 70 + 63 + 55 + 77 + 45 + 40 = 641, plus LAReQA's 11 / 6
  assert score["overall"] == pytest.approx((641 + 11 / 6) / 10)
  assert score["complete"] and not score["missing_tasks"] and not score["missing_languages"]
  assert score["ignored_languages"] == {"panx": ["xx"]}


def test_xtreme_r_score_partial_and_unweighted():
  from xstilts_jax.evaluation.xtreme_r import xtreme_r_score

  results = _results()
  del results["mewslix"], results["udpos"]["wo"]
  for scores in results["lareqa"].values():
    del scores["num_questions"]
  score = xtreme_r_score(results)
  assert score["tasks"]["lareqa"] == pytest.approx((40 * 10 + 51) / 11)
  assert score["missing_tasks"] == ["mewslix"]
  assert score["missing_languages"] == {"udpos": ["wo"]}
  assert not score["complete"]
  assert score["categories"]["retrieval"] == pytest.approx((77 + 41) / 2)
  results["xnli"]["de"] = {"f1": 1.0}
  with pytest.raises(DataError, match=r"results\['xnli'\]\['de'\] has no 'accuracy'"):
    xtreme_r_score(results)


# ---- the benchmark switch in the configs -----------------------------------------------------


def test_benchmark_switch_in_the_xstilts_config():
  from xstilts_jax import cli

  default = cli.load_config("xstilts")
  assert default.benchmark == "xtreme" and "bucc2018" in default.targets.tasks
  assert not dict(default.targets.languages)
  c = cli.load_config("xstilts:benchmark=xtreme-r")
  assert c.benchmark == "xtreme-r"
  assert list(c.targets.tasks) == [
      "xnli",
      "xcopa",
      "udpos",
      "panx",
      "xquad",
      "mlqa",
      "tydiqa",
      "tatoeba",
      "mewslix",
      "lareqa",
  ]
  assert len(c.targets.languages["panx"]) == 48 and "wo" in c.targets.languages["udpos"]
  assert "ro" in c.targets.languages["xquad"] and "uk" in c.targets.languages["tatoeba"]
  picked = cli.load_config("xstilts:benchmark=xtreme-r,target=udpos")
  assert list(picked.targets.tasks) == ["udpos"] and len(picked.targets.languages["udpos"]) == 38
  with pytest.raises(Exception, match="xtreme-rr"):
    cli.load_config("xstilts:benchmark=xtreme-rr")


# ---- `xstilts score` in XTREME-R's prediction formats ---------------------------------------


def _write_lareqa_encodings(directory, pool, q, c):
  directory.mkdir()
  with open(directory / "question_encodings.npz", "wb") as f:  # np.save, as XTREME-R
    np.save(f, q)
  (directory / "question_uids.txt").write_text("".join(x.uid + "\n" for x in pool.questions))
  with open(directory / "candidate_encodings_sentences_and_contexts.npz", "wb") as f:
    np.save(f, c)
  (directory / "candidate_uids.txt").write_text("".join(x.uid + "\n" for x in pool.candidates))


def test_score_lareqa_encodings(xquad_r, pool, tmp_path, capsys):
  from xstilts_jax import cli
  from xstilts_jax.formats import score_files

  q, c = _planted(pool)
  order = np.random.default_rng(0).permutation(len(pool.candidates))  # file order is free
  shuffled = tmp_path / "shuffled"
  shuffled.mkdir()
  _write_lareqa_encodings(tmp_path / "planted", pool, q, c)
  assert score_files("lareqa", tmp_path / "planted", xquad_r)["map@20"] == pytest.approx(100)
  rng = np.random.default_rng(2)
  rq = rng.normal(size=q.shape).astype(np.float32)
  rc = rng.normal(size=c.shape).astype(np.float32)
  _write_lareqa_encodings(tmp_path / "random", pool, rq, rc)
  # Shuffle the candidate file's rows together with their uids: the score cannot change.
  (shuffled / "question_uids.txt").write_text((tmp_path / "random" / "question_uids.txt").read_text())
  np.save(shuffled / "question_encodings.npz", rq)
  uids = (tmp_path / "random" / "candidate_uids.txt").read_text().splitlines()
  (shuffled / "candidate_uids.txt").write_text("".join(uids[i] + "\n" for i in order))
  np.save(shuffled / "candidate_encodings_sentences_and_contexts.npz", rc[order])
  # (np.save adds .npy to the shuffled names; the reader is told the XTREME-R names)
  for name in ("question_encodings.npz", "candidate_encodings_sentences_and_contexts.npz"):
    (shuffled / (name + ".npy")).rename(shuffled / name)
  expected = _independent_map_at_20(rq, rc, pool.gold)
  assert score_files("lareqa", tmp_path / "random", xquad_r)["map@20"] == pytest.approx(expected)
  assert score_files("lareqa", shuffled, xquad_r)["map@20"] == pytest.approx(expected)
  de = score_files("lareqa", tmp_path / "random", xquad_r / "de.json", language="de")
  assert de["num_questions"] == 135
  assert (
      cli.main(["score", "--task", "lareqa", "--predictions", str(tmp_path / "planted"), "--gold", str(xquad_r)]) == 0
  )
  assert json.loads(capsys.readouterr().out)["map@20"] == pytest.approx(100)
  (tmp_path / "planted" / "candidate_uids.txt").write_text(
      "".join(x.uid + "\n" for x in pool.candidates[:-1]) + "xx_1_0\n"
  )
  with pytest.raises(DataError, match="no encoding for 1 candidates"):
    score_files("lareqa", tmp_path / "planted", xquad_r)


def test_score_mewslix_predictions(mewslix_dir, tmp_path):
  from xstilts_jax.formats import score_files

  preds = tmp_path / "test-de.json"
  preds.write_text(json.dumps({"de-1": ["Q90", "Q64"], "de-2": ["Q90"]}))
  labels = tmp_path / "labels-de.json"
  labels.write_text(json.dumps({"de-1": ["Q64"], "de-2": ["Q90"]}))
  result = score_files("mewslix", preds, labels)
  assert result["map@20"] == pytest.approx(100 * (1 / 2 + 1) / 2)
  gold_jsonl = mewslix_dir / "wikinews_mentions-dev.jsonl"
  assert score_files("mewslix", preds, gold_jsonl, language="de")["map@20"] == result["map@20"]
  labels.write_text(json.dumps({"de-1": "Q64"}))
  with pytest.raises(DataError, match="expected a list with one entity id"):
    score_files("mewslix", preds, labels)


def test_xtreme_r_trains_xcopa_on_siqa_then_copa_in_the_pipeline(tmp_path):
  """benchmark=xtreme-r: phase 2 of XCOPA fine-tunes on the demo's Social IQa-style data, then on
  COPA, with the one head; XTREME's recipe is COPA alone."""
  import math

  from xstilts_jax import cli, pipeline
  from xstilts_jax.demo.synthetic import DEFAULT_SIZES

  c = cli.load_config("demo:quick")
  assert pipeline.target_recipe(c, "xcopa") == ("copa",)
  c.benchmark = "xtreme-r"
  assert pipeline.target_recipe(c, "xcopa") == ("siqa", "copa")
  c.targets.tasks = ["xcopa"]
  c.intermediate.tasks = []
  c.mlm.languages = []
  c.baseline = False
  c.report = False
  pipeline.run(c, str(tmp_path))

  exp = tmp_path / "demo"
  info = json.loads((exp / "phases" / "target-xcopa" / "xstilts.json").read_text())
  hp = c.targets.defaults
  siqa_steps = math.ceil(DEFAULT_SIZES["siqa_train"] * hp.epochs / (hp.batch_size * hp.accum_steps))
  assert [s["task"] for s in info["recipe"]] == ["siqa", "copa"]
  assert info["recipe"][0]["steps"] == siqa_steps and info["recipe"][1]["steps"] == info["steps"] > 0
  assert not (exp / "checkpoints" / "target-xcopa.siqa").exists()  # removed with the phase's own
  record = json.loads((exp / "eval" / "xcopa.json").read_text())
  assert set(record["languages"]) == set(c.data.synthetic.languages)
  assert all(0 <= m["accuracy"] <= 100 for m in record["languages"].values())
