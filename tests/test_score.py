"""score_files on the real data slices and on malformed prediction files."""

import csv
import json

import pytest
from seqeval import metrics as seqeval_metrics

from xstilts_jax.errors import ConfigError, DataError
from xstilts_jax.formats import score_files
from xstilts_jax.tasks.spec import TaskSpec


def _write(path, text):
  path.write_text(text, encoding="utf-8")
  return path


def _squad_questions(path):
  data = json.loads(path.read_text(encoding="utf-8"))["data"]
  return [qa for article in data for p in article["paragraphs"] for qa in p["qas"]]


# --- span QA --------------------------------------------------------------------------------


def test_xquad_first_gold_answers_score_100(shared_data, tmp_path):
  gold = shared_data / "xquad" / "xquad.en.json"
  questions = _squad_questions(gold)
  preds = _write(tmp_path / "predictions.json", json.dumps({qa["id"]: qa["answers"][0]["text"] for qa in questions}))
  got = score_files("xquad", preds, gold)
  assert (got["exact_match"], got["f1"], got["num_examples"]) == (100.0, 100.0, len(questions))


def test_xquad_partly_wrong_answers(shared_data, tmp_path):
  gold = shared_data / "xquad" / "xquad.zh.json"
  questions = _squad_questions(gold)
  # Every 4th answer replaced by a string sharing no token with any gold answer -> EM = F1.
  preds = {qa["id"]: ("@@@" if i % 4 == 0 else qa["answers"][0]["text"]) for i, qa in enumerate(questions)}
  got = score_files("xquad", _write(tmp_path / "p.json", json.dumps(preds)), gold)
  wrong = len(range(0, len(questions), 4))
  assert got["exact_match"] == pytest.approx(100 * (len(questions) - wrong) / len(questions))
  assert got["f1"] == pytest.approx(got["exact_match"])


def test_qa_prediction_file_errors(shared_data, tmp_path):
  gold = shared_data / "xquad" / "xquad.en.json"
  questions = _squad_questions(gold)
  with pytest.raises(DataError, match="expected a JSON object"):
    score_files("xquad", _write(tmp_path / "list.json", "[1, 2]"), gold)
  with pytest.raises(DataError, match="not valid JSON"):
    score_files("xquad", _write(tmp_path / "broken.json", "{"), gold)
  preds = {qa["id"]: 7 for qa in questions}
  with pytest.raises(DataError, match="is a int, not a string"):
    score_files("xquad", _write(tmp_path / "ints.json", json.dumps(preds)), gold)
  # Extra ids are ignored but counted.
  preds = {**{qa["id"]: qa["answers"][0]["text"] for qa in questions}, "extra": "x"}
  got = score_files("xquad", _write(tmp_path / "extra.json", json.dumps(preds)), gold)
  assert got["ignored_predictions"] == 1 and got["exact_match"] == 100.0
  assert got["missing_predictions"] == 0


def test_missing_predictions_score_zero_or_strict_refuses(shared_data, tmp_path, caplog):
  gold = shared_data / "xquad" / "xquad.en.json"
  questions = _squad_questions(gold)
  assert len(questions) == 105
  preds = {qa["id"]: qa["answers"][0]["text"] for qa in questions[3:]}
  path = _write(tmp_path / "predictions.json", json.dumps(preds))
  # As XTREME's evaluate-v1.1.py: a missing id scores 0 and counts in the total.
  with caplog.at_level("WARNING"):
    got = score_files("xquad", path, gold)
  assert got["missing_predictions"] == 3 and got["num_examples"] == 105
  assert got["exact_match"] == pytest.approx(100 * 102 / 105)
  assert got["f1"] == pytest.approx(100 * 102 / 105)
  assert "3 question ids" in caplog.text and "each scores 0" in caplog.text
  with pytest.raises(
      DataError,
      match=rf"predictions.json: 3 question ids of .*xquad.en.json have "
      rf"no prediction \(e.g. {questions[0]['id']}\)",
  ):
    score_files("xquad", path, gold, strict=True)
  # MLQA's script likewise.
  mlqa_gold = shared_data / "mlqa" / "MLQA_V1" / "dev" / "dev-context-en-question-de.json"
  got = score_files("mlqa", _write(tmp_path / "none.json", "{}"), mlqa_gold)
  assert (got["f1"], got["missing_predictions"]) == (0.0, got["num_examples"])


def test_cli_score_reports_missing_and_strict(shared_data, tmp_path, capsys):
  from xstilts_jax.cli import main

  gold = shared_data / "xquad" / "xquad.en.json"
  questions = _squad_questions(gold)
  preds = {qa["id"]: qa["answers"][0]["text"] for qa in questions[1:]}
  path = _write(tmp_path / "p.json", json.dumps(preds))
  args = ["score", "--task", "xquad", "--predictions", str(path), "--gold", str(gold)]
  assert main(args) == 0
  out = json.loads(capsys.readouterr().out)
  assert out["missing_predictions"] == 1 and out["exact_match"] == pytest.approx(100 * 104 / 105)
  assert main(args + ["--strict"]) == 2
  assert "1 question ids" in capsys.readouterr().err


def test_mlqa_language_from_file_name(shared_data, tmp_path):
  gold = shared_data / "mlqa" / "MLQA_V1" / "dev" / "dev-context-en-question-de.json"
  questions = _squad_questions(gold)
  # "the" + answer: English normalisation (the context language) drops it, German would not.
  preds = {qa["id"]: "The " + qa["answers"][0]["text"] for qa in questions}
  path = _write(tmp_path / "p.json", json.dumps(preds))
  assert score_files("mlqa", path, gold)["exact_match"] == 100.0
  assert score_files("mlqa", path, gold, language="de")["exact_match"] < 100.0
  with pytest.raises(ConfigError, match="context language"):
    score_files("mlqa", path, _write(tmp_path / "gold.json", gold.read_text(encoding="utf-8")))


def test_tydiqa_goldp_all_or_one_language(shared_data, tmp_path):
  gold = shared_data / "tydiqa_goldp" / "tydiqa-goldp-v1.1-dev.json"
  preds = {qa["id"]: qa["answers"][0]["text"] for qa in _squad_questions(gold)}
  assert score_files("tydiqa", _write(tmp_path / "p.json", json.dumps(preds)), gold)["f1"] == 100.0
  # The train slice holds two Finnish questions; with language="fi" only those are gold.
  train = shared_data / "tydiqa_goldp" / "tydiqa-goldp-v1.1-train.json"
  questions = _squad_questions(train)
  preds = {qa["id"]: qa["answers"][0]["text"] for qa in questions}
  got = score_files("tydiqa", _write(tmp_path / "fi.json", json.dumps(preds)), train, language="fi")
  assert (got["exact_match"], got["num_examples"]) == (100.0, 2)
  with pytest.raises(DataError, match="no questions with id prefix 'arabic-'"):
    score_files("tydiqa", _write(tmp_path / "fi.json", json.dumps(preds)), train, language="ar")


def test_squad_v2_no_answer_predictions(shared_data, tmp_path):
  gold = shared_data / "squad_v2.0" / "dev-v2.0.json"
  questions = _squad_questions(gold)
  preds = {qa["id"]: (qa["answers"][0]["text"] if qa["answers"] else "") for qa in questions}
  got = score_files("squad_v2", _write(tmp_path / "p.json", json.dumps(preds)), gold)
  impossible = sum(1 for qa in questions if not qa["answers"])
  assert 0 < impossible < len(questions)
  assert (got["exact"], got["f1"]) == (100.0, 100.0)
  assert (got["NoAns_total"], got["HasAns_total"]) == (impossible, len(questions) - impossible)
  # Answering every unanswerable question with text loses exactly those.
  preds = {qa["id"]: (qa["answers"][0]["text"] if qa["answers"] else "Normandy") for qa in questions}
  got = score_files("squad_v2", _write(tmp_path / "q.json", json.dumps(preds)), gold)
  assert got["exact"] == pytest.approx(100 * (len(questions) - impossible) / len(questions))
  assert got["NoAns_exact"] == 0.0 and got["HasAns_exact"] == 100.0


# --- classification -------------------------------------------------------------------------


def _tsv_column(path, name):
  with open(path, encoding="utf-8", newline="") as f:
    return [row[name] for row in csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]


def test_pawsx_labels(shared_data, tmp_path):
  gold = shared_data / "pawsx" / "x-final" / "de" / "dev_2k.tsv"
  labels = _tsv_column(gold, "label")
  assert len(labels) == 4
  preds = _write(tmp_path / "preds.txt", "\n".join(labels) + "\n")
  assert score_files("pawsx", preds, gold) == {"accuracy": 100.0, "num_examples": 4}
  flipped = labels[:3] + [str(1 - int(labels[3]))]
  preds = _write(tmp_path / "preds.txt", "\n".join(flipped))
  assert score_files("pawsx", preds, gold)["accuracy"] == 75.0
  with pytest.raises(DataError, match=r"preds.txt: 3 lines but gold has 4 examples"):
    score_files("pawsx", _write(tmp_path / "preds.txt", "\n".join(labels[:3])), gold)
  with pytest.raises(DataError, match=r"preds.txt:2: unknown label 'foo'"):
    score_files("pawsx", _write(tmp_path / "preds.txt", "\n".join([labels[0], "foo"] + labels[2:])), gold)
  with pytest.raises(DataError, match=r"preds.txt:2: empty line"):
    score_files("pawsx", _write(tmp_path / "preds.txt", "\n".join([labels[0], ""] + labels[2:])), gold)


def test_xnli_tsv_and_jsonl_by_language(shared_data, tmp_path):
  gold = shared_data / "xnli" / "XNLI-1.0" / "xnli.test.tsv"
  with open(gold, encoding="utf-8", newline="") as f:
    rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
  german = [r["gold_label"] for r in rows if r["language"] == "de"]
  preds = _write(tmp_path / "preds.txt", "\n".join(german))
  assert score_files("xnli", preds, gold, language="de")["accuracy"] == 100.0
  with pytest.raises(ConfigError, match="holds several languages; say which"):
    score_files("xnli", preds, gold)
  with pytest.raises(DataError, match="no rows for language 'xx'"):
    score_files("xnli", preds, gold, language="xx")
  jsonl = shared_data / "xnli" / "XNLI-1.0" / "xnli.dev.jsonl"
  records = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines() if line]
  arabic = [r["gold_label"] for r in records if r["language"] == "ar"]
  preds = _write(tmp_path / "ar.txt", "\n".join(["entailment"] + arabic[1:]))
  expected = 100 * (sum(a == b for a, b in zip(["entailment"] + arabic[1:], arabic)) / len(arabic))
  assert score_files("xnli", preds, jsonl, language="ar")["accuracy"] == pytest.approx(expected)


def test_qqp_accuracy_f1_from_glue_tsv(shared_data, tmp_path):
  gold = shared_data / "qqp" / "QQP" / "dev.tsv"
  labels = _tsv_column(gold, "is_duplicate")
  assert labels == ["0", "0"]
  # One false positive: accuracy 50, no true positive -> F1 0.
  got = score_files("qqp", _write(tmp_path / "p.txt", "1\n0\n"), gold)
  assert (got["accuracy"], got["f1"], got["accuracy_f1"]) == (50.0, 0.0, 25.0)


def test_xtreme_headerless_tsv(tmp_path):
  gold = _write(tmp_path / "dev-de.tsv", "Ein Satz.\tNoch einer.\tneutral\nA.\tB.\tentailment\n")
  preds = _write(tmp_path / "p.txt", "neutral\ncontradiction\n")
  assert score_files("xnli", preds, gold)["accuracy"] == 50.0


def test_hellaswag_jsonl_by_its_reader(shared_data, tmp_path):
  gold = shared_data / "hellaswag" / "hellaswag_val.jsonl"
  labels = [str(json.loads(line)["label"]) for line in gold.read_text(encoding="utf-8").splitlines() if line.strip()]
  preds = _write(tmp_path / "p.txt", "\n".join(labels))
  assert score_files("hellaswag", preds, gold) == {"accuracy": 100.0, "num_examples": len(labels)}
  with pytest.raises(DataError, match="have no gold label"):
    score_files("hellaswag", preds, shared_data / "hellaswag" / "hellaswag_test.jsonl")


def test_multiple_choice_by_task_spec(tmp_path):
  spec = TaskSpec(name="hellaswag", format="multiple_choice", metric="accuracy", num_choices=4)
  gold = _write(tmp_path / "gold.txt", "0\n3\n2\n1\n")
  assert score_files(spec, _write(tmp_path / "p.txt", "0\n3\n1\n1\n"), gold)["accuracy"] == 75.0
  with pytest.raises(DataError, match=r"p.txt:1: unknown label '4'"):
    score_files(spec, _write(tmp_path / "p.txt", "4\n3\n1\n1\n"), gold)


# --- tagging --------------------------------------------------------------------------------


def _conllu_upos(path):
  sentences, current = [], []
  for line in path.read_text(encoding="utf-8").splitlines():
    if not line:
      if current:
        sentences.append(current)
      current = []
    elif not line.startswith("#"):
      cols = line.split("\t")
      if cols[0].isdigit():
        current.append(cols[3])
  if current:
    sentences.append(current)
  return sentences


def _tag_file(path, sentences):
  return _write(path, "\n\n".join("\n".join(s) for s in sentences) + "\n")


@pytest.mark.filterwarnings("ignore")
def test_udpos_against_seqeval_on_real_conllu(shared_data, tmp_path):
  gold_path = shared_data / "udpos" / "UD_English-EWT" / "en_ewt-ud-test.conllu"
  gold = _conllu_upos(gold_path)
  assert len(gold) == 100
  got = score_files("udpos", _tag_file(tmp_path / "p.txt", gold), gold_path)
  assert got["f1"] == 100.0 and got["num_examples"] == 100
  # Every 3rd word tagged NOUN: compare with seqeval called directly.
  pred = [[("NOUN" if (i + j) % 3 == 0 else t) for j, t in enumerate(s)] for i, s in enumerate(gold)]
  got = score_files("udpos", _tag_file(tmp_path / "p.txt", pred), gold_path)
  assert got["f1"] == pytest.approx(100 * seqeval_metrics.f1_score(gold, pred))
  assert got["precision"] == pytest.approx(100 * seqeval_metrics.precision_score(gold, pred))
  assert 0 < got["f1"] < 100


def _xtreme_german_upos(path):
  """XTREME's UD-POS tags for the German slice, by hand: each multiword token `a-b` is one
  word. In this slice every one is ADP + DET (im, am, beim, ins, vom, zum, zur) under the
  same noun, where XTREME's converter keeps the ADP: the tag of the range's first word."""
  sentences, current, skip = [], [], set()
  for line in path.read_text(encoding="utf-8").splitlines():
    if not line:
      if current:
        sentences.append(current)
      current, skip = [], set()
    elif not line.startswith("#"):
      cols = line.split("\t")
      if "-" in cols[0]:
        first, last = map(int, cols[0].split("-"))
        skip |= set(range(first + 1, last + 1))
      elif cols[0].isdigit() and int(cols[0]) not in skip:
        current.append(cols[3])
      elif cols[0].isdigit():
        assert cols[3] == "DET"  # the by-hand rule above holds for this slice
  if current:
    sentences.append(current)
  return sentences


def test_udpos_fuses_multiword_tokens_as_xtreme(shared_data, tmp_path):
  gold_path = shared_data / "udpos" / "UD_German-GSD" / "de_gsd-ud-test.conllu"
  gold = _xtreme_german_upos(gold_path)
  assert sum(map(len, gold)) == 1417  # 1,440 words less 23 fused sub-words
  got = score_files("udpos", _tag_file(tmp_path / "p.txt", gold), gold_path)
  assert got["f1"] == 100.0 and got["num_examples"] == 100
  # A file with a tag for every sub-word (the CoNLL-U's 1,440 words) no longer lines up.
  with pytest.raises(DataError, match="but gold has"):
    score_files("udpos", _tag_file(tmp_path / "p.txt", _conllu_upos(gold_path)), gold_path)


def test_panx_tsv_and_tagging_errors(shared_data, tmp_path):
  gold_path = shared_data / "panx" / "xtreme_format" / "dev-de.tsv"
  blocks = gold_path.read_text(encoding="utf-8").strip().split("\n\n")
  gold = [[line.split("\t")[1] for line in b.splitlines()] for b in blocks]
  pred = [["O"] * len(s) for s in gold]
  pred[0] = list(gold[0])
  got = score_files("panx", _tag_file(tmp_path / "p.txt", pred), gold_path)
  assert got["f1"] == pytest.approx(100 * seqeval_metrics.f1_score(gold, pred))
  assert got["precision"] == 100.0
  with pytest.raises(DataError, match=rf"p.txt: {len(gold) - 1} sentences but gold has {len(gold)}"):
    score_files("panx", _tag_file(tmp_path / "p.txt", gold[:-1]), gold_path)
  short = [s[:-1] if i == 1 else s for i, s in enumerate(gold)]
  first_line_of_2nd = len(gold[0]) + 2
  with pytest.raises(
      DataError,
      match=rf"p.txt:{first_line_of_2nd}: sentence 2 has "
      rf"{len(gold[1]) - 1} tags but gold has {len(gold[1])} words",
  ):
    score_files("panx", _tag_file(tmp_path / "p.txt", short), gold_path)
  bad = [list(s) for s in gold]
  bad[0][0] = "B-FOO"
  with pytest.raises(DataError, match=r"p.txt:1: unknown tag 'B-FOO'"):
    score_files("panx", _tag_file(tmp_path / "p.txt", bad), gold_path)


# --- retrieval ------------------------------------------------------------------------------


def test_bucc_pairs(tmp_path):
  gold = _write(tmp_path / "de-en.gold", "de-1\ten-5\nde-2\ten-6\nde-3\ten-7\nde-4\ten-8\n")
  # 3 predicted, 2 correct: P 2/3, R 2/4, F1 = 2 * (1/3) / (7/6) = 4/7.
  preds = _write(tmp_path / "test-de.tsv", "de-1\ten-5\nde-2\ten-9\nde-3\ten-7\n")
  got = score_files("bucc2018", preds, gold)
  assert got == pytest.approx({"f1": 400 / 7, "precision": 200 / 3, "recall": 50.0, "num_examples": 4})
  with pytest.raises(DataError, match=r"bad.tsv:2: expected 'source id<TAB>target id'"):
    score_files("bucc2018", _write(tmp_path / "bad.tsv", "de-1\ten-5\nde-2 en-6\n"), gold)


def test_tatoeba_indices(tmp_path):
  gold = _write(tmp_path / "gold.txt", "".join(f"{i}\n" for i in range(100)))
  preds = [i if i not in (5, 50, 99) else 0 for i in range(100)]
  got = score_files("tatoeba", _write(tmp_path / "p.txt", "\n".join(map(str, preds))), gold)
  assert got == {"accuracy": 97.0, "num_examples": 100}
  with pytest.raises(DataError, match=r"p.txt:2: not a sentence index 'x'"):
    score_files("tatoeba", _write(tmp_path / "p.txt", "0\nx\n"), gold)


def test_unknown_task_and_missing_file(tmp_path):
  with pytest.raises(ConfigError, match="unknown task 'nope'"):
    score_files("nope", tmp_path / "a", tmp_path / "b")
  gold = _write(tmp_path / "gold.txt", "0\n")
  with pytest.raises(DataError, match="missing.txt: file does not exist"):
    score_files("pawsx", tmp_path / "missing.txt", gold)
