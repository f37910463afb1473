"""Readers on the real data slices (counts from the README or counted here) and bad data."""

import csv
import json
import logging
import re

import pytest

from xstilts_jax.data import readers
from xstilts_jax.data.examples import (
    ClassificationExample,
    MultipleChoiceExample,
    RetrievalCorpus,
    SpanQAExample,
    TaggingExample,
)
from xstilts_jax.errors import DataError

NLI = {"entailment", "neutral", "contradiction"}
XNLI_LANGS = "ar bg de el en es fr hi ru sw th tr ur vi zh".split()


def _tsv_rows(path):
  """Rows of a tab-separated file with a header, as dicts (file has no quoting)."""
  with open(path, encoding="utf-8", newline="") as f:
    return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def _jsonl_rows(path):
  return [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]


# ---- classification ------------------------------------------------------------------


@pytest.mark.parametrize("split", ["dev", "test"])
def test_xnli_tsv_one_row_per_language(shared_data, split):
  path = shared_data / f"xnli/XNLI-1.0/xnli.{split}.tsv"
  rows = _tsv_rows(path)
  assert len(rows) == 15 and sorted(r["language"] for r in rows) == sorted(XNLI_LANGS)
  for row in rows:
    [example] = readers.read_xnli(path, row["language"])
    assert example == ClassificationExample("0", row["sentence1"], row["sentence2"], row["gold_label"])


def test_xnli_jsonl_matches_its_rows(shared_data):
  path = shared_data / "xnli/XNLI-1.0/xnli.dev.jsonl"
  rows = _jsonl_rows(path)
  examples = readers.read_xnli(path, "ar")
  assert len(examples) == 5 == len(rows)
  assert [e.label for e in examples] == [r["gold_label"] for r in rows]
  assert {e.label for e in examples} <= NLI
  with pytest.raises(DataError, match="no rows for language 'de'"):
    readers.read_xnli(path, "de")


def test_pawsx_rows_and_ids_from_readme(shared_data):
  readme_ids = {
      "dev_2k": ["4", "6", "7", "9"],
      "test_2k": ["10", "12", "20", "26"],
      "train": ["1", "2", "3", "4"],
      "translated_train": ["1", "2", "3", "4"],
  }
  for path in sorted((shared_data / "pawsx/x-final").glob("*/*.tsv")):
    rows = _tsv_rows(path)
    assert [r["id"] for r in rows] == readme_ids[path.stem], path
    examples = readers.read_pawsx(path)
    assert [(e.text_a, e.text_b, e.label) for e in examples] == [
        (r["sentence1"], r["sentence2"], r["label"]) for r in rows
    ]
    assert not path.read_bytes().endswith(b"\n")  # the quirk the reader must survive


def test_glue_mnli_and_qqp(shared_data):
  counts = {"train": 3, "dev_matched": 2, "dev_mismatched": 2, "test_matched": 1, "test_mismatched": 1}
  for stem, n in counts.items():
    path = shared_data / f"mnli/MNLI/{stem}.tsv"
    examples = readers.read_glue_mnli(path)
    assert len(examples) == n
    if stem.startswith("test"):
      assert all(e.label is None for e in examples)
    else:
      assert [e.label for e in examples] == [r["gold_label"] for r in _tsv_rows(path)]
  for split, n in {"train": 3, "dev": 2, "test": 1}.items():
    path = shared_data / f"qqp/QQP/{split}.tsv"
    examples = readers.read_glue_qqp(path)
    rows = _tsv_rows(path)
    assert len(examples) == n
    assert [(e.text_a, e.text_b) for e in examples] == [(r["question1"], r["question2"]) for r in rows]
    assert [e.label for e in examples] == [r.get("is_duplicate") for r in rows]


def test_anli_labels_map_to_mnli_names(shared_data):
  short = {"e": "entailment", "n": "neutral", "c": "contradiction"}
  for path in sorted((shared_data / "anli").glob("*/R*/*.jsonl")):
    rows = _jsonl_rows(path)
    examples = readers.read_anli(path)
    assert len(examples) == 3 == len(rows), path
    assert [e.label for e in examples] == [short[r["label"]] for r in rows]
    assert [e.text_a for e in examples] == [r["context"] for r in rows]


def test_snli_skips_and_counts_pairs_without_gold_label(tmp_path, caplog):
  path = tmp_path / "snli_1.0_dev.jsonl"
  rows = [
      {"gold_label": "neutral", "sentence1": "a", "sentence2": "b"},
      {"gold_label": "-", "sentence1": "c", "sentence2": "d"},
      {"gold_label": "contradiction", "sentence1": "e", "sentence2": "f"},
  ]
  path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
  report = readers.ReadReport()
  with caplog.at_level(logging.WARNING):
    examples = readers.read_snli(path, report=report)
  assert [(e.id, e.label) for e in examples] == [("0", "neutral"), ("2", "contradiction")]
  assert report.skipped == {"no gold label ('-')": 1} and report.total_skipped == 1
  assert str(path) in caplog.text and "skipped 1" in caplog.text


def test_xnli_mt_reads_contradictory(tmp_path):
  path = tmp_path / "multinli.train.de.tsv"
  path.write_text("premise\thypo\tlabel\nP1\tH1\tcontradictory\nP2\tH2\tneutral\n", encoding="utf-8")
  assert [e.label for e in readers.read_xnli_mt(path)] == ["contradiction", "neutral"]


# ---- multiple choice ----------------------------------------------------------------


def test_hellaswag(shared_data):
  for split in ("train", "val", "test"):
    path = shared_data / f"hellaswag/hellaswag_{split}.jsonl"
    rows = _jsonl_rows(path)
    examples = readers.read_hellaswag(path)
    assert len(examples) == 2 == len(rows)
    assert [e.context for e in examples] == [r["ctx"] for r in rows]
    assert [e.choices for e in examples] == [tuple(r["endings"]) for r in rows]
    assert [e.label for e in examples] == [r.get("label") for r in rows]
  assert all(e.label is None for e in readers.read_hellaswag(shared_data / "hellaswag/hellaswag_test.jsonl"))


def test_commonsenseqa(shared_data):
  counts = {"train_rand_split": 5, "dev_rand_split": 2, "test_rand_split_no_answers": 2}
  for stem, n in counts.items():
    path = shared_data / f"commonsenseqa/{stem}.jsonl"
    rows = _jsonl_rows(path)
    examples = readers.read_commonsenseqa(path)
    assert len(examples) == n and all(len(e.choices) == 5 for e in examples)
    assert [e.label for e in examples] == ["ABCDE".index(r["answerKey"]) if "answerKey" in r else None for r in rows]
    assert [e.context for e in examples] == [r["question"]["stem"] for r in rows]


def test_cosmosqa(shared_data):
  path = shared_data / "cosmosqa/valid.csv"
  with open(path, encoding="utf-8", newline="") as f:
    rows = list(csv.DictReader(f))
  examples = readers.read_cosmosqa(path)
  assert len(examples) == 100 == len(rows)
  assert [e.label for e in examples] == [int(r["label"]) for r in rows]
  assert {e.label for e in examples} <= {0, 1, 2, 3}
  assert examples[0].context == f"{rows[0]['context']} {rows[0]['question']}"
  assert examples[5].choices == tuple(rows[5][f"answer{k}"] for k in range(4))


def test_copa_and_xcopa_jsonl(tmp_path):
  path = tmp_path / "val.et.jsonl"
  rows = [
      {"premise": "Mees kukkus.", "choice1": "A", "choice2": "B", "question": "cause", "label": 1, "idx": 1},
      {"premise": "Tüdruk naeris.", "choice1": "C", "choice2": "D", "question": "effect", "idx": 2},
  ]
  path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
  examples = readers.read_copa(path)
  assert examples[0] == MultipleChoiceExample("0", "Mees kukkus. What was the cause of this?", ("A", "B"), 1)
  assert examples[1].context.endswith("What happened as a result?")
  assert examples[1].label is None


# ---- span QA ----------------------------------------------------------------------


def _squad_counts(path):
  data = json.loads(path.read_text(encoding="utf-8"))["data"]
  qas = [qa for a in data for p in a["paragraphs"] for qa in p["qas"]]
  return len(qas), sum(bool(qa.get("is_impossible")) for qa in qas)


def test_squad_v1_and_v2(shared_data):
  path = shared_data / "squad_v1.1/dev-v1.1.json"
  dev = readers.read_squad_json(path)
  data = json.loads(path.read_text(encoding="utf-8"))["data"]
  answers = [a for art in data for p in art["paragraphs"] for qa in p["qas"] for a in qa["answers"]]
  assert len(dev) == 810 and all(2 <= len(e.answers) <= 4 for e in dev)  # README says "3 each"
  assert sum(len(e.answers) for e in dev) == len(answers)
  assert len(readers.read_squad_json(shared_data / "squad_v1.1/train-v1.1.json")) == 269
  for e in dev[:50]:
    for answer in e.answers:
      assert e.context[answer.answer_start : answer.answer_start + len(answer.text)] == answer.text
  path = shared_data / "squad_v2.0/dev-v2.0.json"
  v2 = readers.read_squad_json(path)
  total, impossible = _squad_counts(path)
  assert len(v2) == 626 == total and impossible > 0
  assert sum(e.is_impossible for e in v2) == impossible
  assert all(e.answers == () for e in v2 if e.is_impossible)
  assert all(e.answers for e in v2 if not e.is_impossible)


def test_xquad_is_parallel(shared_data):
  ids = None
  for path in sorted((shared_data / "xquad").glob("xquad.*.json")):
    examples = readers.read_squad_json(path)
    assert len(examples) == 105 == _squad_counts(path)[0], path
    assert all(isinstance(e, SpanQAExample) and len(e.answers) == 1 for e in examples)
    ids = ids or [e.id for e in examples]
    assert [e.id for e in examples] == ids


def test_mlqa_and_tydiqa(shared_data):
  for path in sorted((shared_data / "mlqa/MLQA_V1").glob("*/*.json")):
    assert len(readers.read_squad_json(path)) == 1, path
  dev = shared_data / "tydiqa_goldp/tydiqa-goldp-v1.1-dev.json"
  train = shared_data / "tydiqa_goldp/tydiqa-goldp-v1.1-train.json"
  [ar] = readers.read_tydiqa_goldp(dev, "ar")
  assert ar.id.startswith("arabic-")
  assert [e.id.split("-")[0] for e in readers.read_tydiqa_goldp(train, "fi")] == ["finnish"] * 2
  with pytest.raises(DataError, match="english-"):
    readers.read_tydiqa_goldp(train, "en")


# ---- tagging ----------------------------------------------------------------------


def _conllu_counts(path):
  """(sentences, words) counted independently as XTREME counts them: blank-line blocks, and
  integer-ID lines less the sub-words a multiword token `a-b` fuses into one (b - a)."""
  text = path.read_text(encoding="utf-8")
  blocks = [b for b in re.split(r"\n\s*\n", text) if re.search(r"^\d+\t", b, re.M)]
  fused = sum(int(b) - int(a) for a, b in re.findall(r"^(\d+)-(\d+)\t", text, re.M))
  return len(blocks), len(re.findall(r"^\d+\t", text, re.M)) - fused


def test_conllu_slices(shared_data):
  paths = sorted(shared_data.glob("udpos/*/*.conllu"))
  assert len(paths) == 10
  for path in paths:
    examples = readers.read_conllu(path)
    sentences, words = _conllu_counts(path)
    assert len(examples) == sentences, path
    assert sum(len(e.words) for e in examples) == words, path
    assert all(len(e.words) == len(e.labels) for e in examples)
  train = readers.read_conllu(shared_data / "udpos/UD_English-EWT/en_ewt-ud-train.conllu")
  assert len(train) == 200 and sum(len(e.words) for e in train) == 4356  # README
  assert train[0].words[:3] == ("Al", "-", "Zaman")
  assert train[0].labels[:3] == ("PROPN", "PUNCT", "PROPN")


# --- XTREME's UD conversion, ported independently from its published algorithm: -----------
# ud-conversion-tools' conllu_to_conll.py --replace_subtokens_with_fused_forms writes a
# CoNLL-X file; XTREME's utils_preprocess.py (udpos) reads it back, drops sentences whose
# forms are all '_' or all but one, and removes U+200C and spaces inside forms.

_RANKING = "VERB NOUN PROPN PRON ADJ NUM ADV INTJ AUX ADP DET PART CCONJ SCONJ X PUNCT ".split(" ")


def _conllu_sentences(text):
  """Blocks of (ID, fields) rows, comments left out."""
  for block in text.split("\n\n"):
    rows = [line.split("\t") for line in block.split("\n") if line and not line.startswith("#")]
    if rows:
      yield rows


def _converter_conll(rows):
  """conllu_to_conll.py on one sentence: the CoNLL-X (id, form, upos) rows it writes."""
  words = {int(r[0]): r for r in rows if r[0].isdigit()}
  edges = set()  # (head, dependent) of the graph the converter builds
  for i, r in words.items():
    edges.add((int(r[6]), i))
    if r[8] != "_":
      edges |= {(int(d.split(":")[0]), i) for d in r[8].split("|") if d.split(":")[0].isdigit()}

  def ancestors(node):
    found = {h for h, d in edges if d == node}
    while True:
      more = {h for h, d in edges if d in found} - found
      if not more:
        return found
      found |= more

  removed, fused = set(), {}
  for r in rows:
    if "-" not in r[0]:
      continue
    a, b = map(int, r[0].split("-"))
    span = list(range(a, b + 1))
    distance = [len(ancestors(x)) for x in span]
    highest = [x for x, dist in zip(span, distance) if dist == min(distance)]
    if len(highest) == 1:
      head = highest[0]
    else:
      best_rank, head = len(_RANKING) + 1, -1
      for x in highest:
        if _RANKING.index(words[x][3]) < best_rank:
          best_rank, head = _RANKING.index(words[x][3]), x
    fused[head] = r[1]
    removed |= set(span) - {head}
  kept = [i for i in sorted(words) if i not in removed]
  return [(n, fused.get(i, words[i][1]), words[i][3]) for n, i in enumerate(kept, 1)]


def _xtreme_udpos(text):
  """(words, tags) of each sentence XTREME's udpos preprocessing keeps."""
  conll = (
      "\n\n".join(
          "\n".join(f"{n}\t{form}\t_\t{upos}\t_\t_\t0\t_\t_\t_" for n, form, upos in _converter_conll(rows))
          for rows in _conllu_sentences(text)
      )
      + "\n\n"
  )
  sentences, words, tags = [], [], []
  for line in conll.split("\n"):
    items = line.strip().split("\t")
    if len(items) != 10:
      empty = sum(w == "_" for w in words)
      if empty == 0 or empty < len(words) - 1:
        sentences.append((words, tags))
      words, tags = [], []
    else:
      words.append(items[1].strip())
      tags.append(items[3].strip())
  return [([w.replace("\u200c", "").replace(" ", "") for w in ws], ts) for ws, ts in sentences if ws]


@pytest.mark.parametrize(
    "treebank",
    [
        "UD_German-GSD/de_gsd-ud-test.conllu",
        "UD_Finnish-TDT/fi_tdt-ud-test.conllu",
        "UD_Arabic-PUD/ar_pud-ud-test.conllu",
        "UD_Hindi-PUD/hi_pud-ud-test.conllu",
        "UD_Japanese-GSD/ja_gsd-ud-test.conllu",
        "UD_Basque-BDT/eu_bdt-ud-test.conllu",
        "UD_Yoruba-YTB/yo_ytb-ud-test.conllu",
    ],
)
def test_conllu_equals_xtreme_conversion(shared_data, treebank):
  path = shared_data / "udpos" / treebank
  expected = _xtreme_udpos(path.read_text(encoding="utf-8"))
  got = readers.read_conllu(path)
  assert [(list(e.words), list(e.labels)) for e in got] == expected


def test_conllu_fuses_multiword_tokens_by_hand(shared_data):
  de = readers.read_conllu(shared_data / "udpos/UD_German-GSD/de_gsd-ud-test.conllu")
  # The slice has 1,440 integer-ID words and 23 two-word tokens (12 im, 5 am, 2 beim, ins,
  # vom, zum, zur), each ADP + DET under one noun: the ranking puts ADP first -> 1,417 words.
  assert sum(len(e.words) for e in de) == 1417
  fused = [
      (w, t)
      for e in de
      for w, t in zip(e.words, e.labels)
      if w.lower() in ("im", "am", "beim", "zum", "zur", "vom", "ins")
  ]
  assert len(fused) == 23 and {t for _, t in fused} == {"ADP"}
  assert not any(w in ("in", "dem") and e.words[i + 1 : i + 2] == ("dem",) for e in de for i, w in enumerate(e.words))
  fi = readers.read_conllu(shared_data / "udpos/UD_Finnish-TDT/fi_tdt-ud-test.conllu")
  words = [(w, t) for e in fi for w, t in zip(e.words, e.labels)]
  # "etten" = että (SCONJ, mark of 11) + en (AUX, aux of 11): equally high, AUX ranks first.
  assert ("etten", "AUX") in words
  assert (":)", "SYM") in words and (": )", "SYM") not in words  # the space is removed
  assert sum(len(e.words) for e in fi) == 1422 - 1  # 1,422 integer-ID words, one 2-word token


def test_conllu_skips_ranges_and_empty_nodes_and_merges(shared_data):
  de = shared_data / "udpos/UD_German-GSD/de_gsd-ud-test.conllu"
  fi = shared_data / "udpos/UD_Finnish-TDT/fi_tdt-ud-test.conllu"
  assert re.search(r"^\d+-\d+\t", de.read_text(encoding="utf-8"), re.M)
  assert re.search(r"^\d+\.\d+\t", fi.read_text(encoding="utf-8"), re.M)
  merged = readers.read_conllu([de, fi])
  assert len(merged) == 200 and [e.id for e in merged] == [str(i) for i in range(200)]
  assert merged[100].words == readers.read_conllu(fi)[0].words
  # Range lines such as `19-20 im` replace their sub-words "in" + "dem".
  pairs = [p for e in merged[:100] for p in zip(e.words, e.words[1:])]
  assert ("in", "dem") not in pairs and sum(w == "im" for e in merged[:100] for w in e.words) == 12


def test_conllu_skips_withheld_forms(tmp_path):
  path = tmp_path / "ar_nyuad-ud-test.conllu"
  row = "{}\t{}\t_\tNOUN\t_\t_\t0\troot\t_\t_\n"
  path.write_text(
      "# sent_id = 1\n"
      + row.format(1, "_")
      + "\n"  # all withheld: skipped
      + row.format(1, "_")
      + row.format(2, "a")
      + "\n"  # all but one: skipped
      + row.format(1, "_")
      + row.format(2, "_")
      + row.format(3, "b")
      + "\n"
      + row.format(1, "_")
      + row.format(2, "c")
      + row.format(3, "d")
      + "\n"
      + row.format(1, "word"),
      encoding="utf-8",
  )
  report = readers.ReadReport()
  examples = readers.read_conllu(path, report=report)
  assert [e.words for e in examples] == [("_", "c", "d"), ("word",)]
  assert report.skipped == {"word forms withheld ('_')": 3}


def test_conllu_removes_spaces_and_zwnj_inside_forms(tmp_path):
  path = tmp_path / "fa_seraji-ud-test.conllu"
  path.write_text(
      "1\tمی\u200cشود\t_\tVERB\t_\t_\t0\troot\t_\t_\n"
      "2\t: )\t_\tSYM\t_\t_\t1\tdiscourse\t_\t_\n"
      "3\t1 000\t_\tNUM\t_\t_\t1\tnummod\t_\t_\n\n",
      encoding="utf-8",
  )
  assert readers.read_conllu(path)[0].words == ("میشود", ":)", "1000")
  path.write_text("1\ta\t_\tNOUN\t_\t_\t0\troot\t_\t_\n2\t\u200c\t_\tX\t_\t_\t1\tdep\t_\t_\n\n", encoding="utf-8")
  with pytest.raises(DataError, match=r"fa_seraji-ud-test.conllu:2: the word form is empty"):
    readers.read_conllu(path)


def test_conllu_multiword_head_by_tree_then_language_ranking(tmp_path):
  # "dámelo" = da (VERB, root) + me + lo (PRON, objects of da): da is highest -> VERB.
  # "del" = de (ADP) + el (DET), both under "coche": Spanish ranks ADP before DET.
  text = (
      "1-3\tDámelo\t_\t_\t_\t_\t_\t_\t_\t_\n"
      "1\tDá\t_\tVERB\t_\t_\t0\troot\t_\t_\n"
      "2\tme\t_\tPRON\t_\t_\t1\tiobj\t_\t_\n"
      "3\tlo\t_\tPRON\t_\t_\t1\tobj\t_\t_\n"
      "4-5\tdel\t_\t_\t_\t_\t_\t_\t_\t_\n"
      "4\tde\t_\tADP\t_\t_\t6\tcase\t_\t_\n"
      "5\tel\t_\tDET\t_\t_\t6\tdet\t_\t_\n"
      "6\tcoche\t_\tNOUN\t_\t_\t1\tobl\t_\t_\n\n"
  )
  path = tmp_path / "es_ancora-ud-test.conllu"
  path.write_text(text, encoding="utf-8")
  (ex,) = readers.read_conllu(path)
  assert (ex.words, ex.labels) == (("Dámelo", "del", "coche"), ("VERB", "ADP", "NOUN"))
  # A DEPS edge makes "el" lower than "de" (an extra ancestor): "de" wins by the tree alone.
  path.write_text(text.replace("6\tdet\t_\t_", "6\tdet\t4:dep|6:det\t_"), encoding="utf-8")
  assert readers.read_conllu(path)[0].labels == ("VERB", "ADP", "NOUN")
  path.write_text(text.replace("6\tcase\t_\t_", "6\tcase\t5:dep|6:case\t_"), encoding="utf-8")
  assert readers.read_conllu(path)[0].labels == ("VERB", "DET", "NOUN")


def test_panx_xtreme_format(shared_data):
  paths = sorted((shared_data / "panx/xtreme_format").glob("*.tsv"))
  assert len(paths) == 15
  for path in paths:
    lines = path.read_text(encoding="utf-8").split("\n")
    examples = readers.read_panx(path)
    assert len(examples) == (200 if path.stem == "train-en" else 100), path
    assert sum(len(e.words) for e in examples) == sum(1 for l in lines if l.strip())
    tags = {l.rsplit("\t", 1)[1] for l in lines if l.strip()}
    assert {t for e in examples for t in e.labels} == tags
    assert tags <= {"O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"}


def test_panx_test_files_without_tags(tmp_path):
  path = tmp_path / "test-en.tsv"
  path.write_text("Paris\nis\n\nRome\n", encoding="utf-8")
  examples = readers.read_panx(path)
  assert examples == [TaggingExample("0", ("Paris", "is"), None), TaggingExample("1", ("Rome",), None)]


def test_wikiann_raw(shared_data):
  for path in sorted((shared_data / "panx/wikiann_raw").glob("*/*")):
    [example] = readers.read_wikiann_raw(path)
    first_token = path.read_text(encoding="utf-8").split("\t")[0]
    assert f"{path.parent.name}:{example.words[0]}" == first_token, path
  [de] = readers.read_wikiann_raw(shared_data / "panx/wikiann_raw/de/dev")
  assert de.words == ("Anton", "Wilhelm", "von", "Zuccalmaglio", ".")
  assert de.labels == ("B-PER", "I-PER", "I-PER", "I-PER", "O")


def test_ccg_word_tab_supertag(tmp_path):
  path = tmp_path / "ccg.dev.tsv"
  path.write_text("Pierre\tN/N\nVinken\tN\n\nIt\tNP\n", encoding="utf-8")
  assert readers.read_ccg(path) == [
      TaggingExample("0", ("Pierre", "Vinken"), ("N/N", "N")),
      TaggingExample("1", ("It",), ("NP",)),
  ]
  with pytest.raises(DataError, match=r":4: unknown label 'NP'"):
    readers.read_ccg(path, labels=("N", "N/N"))


# ---- retrieval and text --------------------------------------------------------------


def test_tatoeba_pairs(shared_data):
  paths = [p for p in sorted((shared_data / "tatoeba").glob("tatoeba.*")) if p.suffix != ".eng"]
  assert len(paths) == 16
  for path in paths:
    corpus = readers.read_tatoeba(path)
    english = path.with_suffix(".eng").read_text(encoding="utf-8").split("\n")
    assert isinstance(corpus, RetrievalCorpus)
    assert len(corpus.source) == len(corpus.target) == len(corpus.gold) == 100
    assert corpus.target[7].text == english[7]
    assert corpus.source[0].text == path.read_text(encoding="utf-8").split("\n")[0]


def test_bucc_files(tmp_path):
  (tmp_path / "de-en.sample.de").write_text("de-1\tHallo Welt\nde-2\tNein\n", encoding="utf-8")
  (tmp_path / "de-en.sample.en").write_text("en-7\tHello world\nen-8\tNo\nen-9\tX\n", encoding="utf-8")
  (tmp_path / "de-en.sample.gold").write_text("de-1\ten-7\n", encoding="utf-8")
  corpus = readers.read_bucc(tmp_path / "de-en.sample.de")
  assert [s.id for s in corpus.source] == ["de-1", "de-2"] and len(corpus.target) == 3
  assert corpus.gold == (("de-1", "en-7"),)
  (tmp_path / "de-en.sample.gold").write_text("de-1\ten-7\nde-3\ten-8\n", encoding="utf-8")
  with pytest.raises(DataError, match=r"de-en.sample.gold:2: gold pair"):
    readers.read_bucc(tmp_path / "de-en.sample.de")


def test_text_lines(tmp_path):
  path = tmp_path / "train.txt"
  path.write_text("first line\n\nsecond\u2028still second\n", encoding="utf-8")
  assert [(e.id, e.text) for e in readers.read_text_lines(path)] == [
      ("1", "first line"),
      ("3", "second\u2028still second"),
  ]


# ---- bad data ----------------------------------------------------------------------


def test_missing_and_empty_files(tmp_path):
  with pytest.raises(DataError, match=r"nope.tsv: file not found"):
    readers.read_pawsx(tmp_path / "nope.tsv")
  empty = tmp_path / "empty.jsonl"
  empty.write_text("\n", encoding="utf-8")
  for read in (
      readers.read_snli,
      readers.read_hellaswag,
      readers.read_squad_json,
      readers.read_panx,
      readers.read_conllu,
      readers.read_text_lines,
  ):
    with pytest.raises(DataError, match=r"empty.jsonl: file is empty"):
      read(empty)
  header_only = tmp_path / "dev_2k.tsv"
  header_only.write_text("id\tsentence1\tsentence2\tlabel\n", encoding="utf-8")
  with pytest.raises(DataError, match="no data rows"):
    readers.read_pawsx(header_only)


def test_malformed_rows_name_file_and_line(tmp_path):
  tsv = tmp_path / "dev.tsv"
  tsv.write_text("id\tsentence1\tsentence2\tlabel\n1\ta\tb\t1\n2\ta\tb\n", encoding="utf-8")
  with pytest.raises(DataError, match=r"dev.tsv:3: expected 4 tab-separated fields, found 3"):
    readers.read_pawsx(tsv)
  jsonl = tmp_path / "train.jsonl"
  jsonl.write_text('{"uid": 1, "context": "a", "hypothesis": "b", "label": "e"}\n{"uid": 2,\n', encoding="utf-8")
  with pytest.raises(DataError, match=r"train.jsonl:2: invalid JSON"):
    readers.read_anli(jsonl)
  conllu = tmp_path / "x-ud-dev.conllu"
  conllu.write_text("1\tword\t_\tNOUN\n", encoding="utf-8")
  with pytest.raises(DataError, match=r"x-ud-dev.conllu:1: expected 10 tab-separated fields"):
    readers.read_conllu(conllu)
  raw = tmp_path / "dev"
  raw.write_text("de:Anton\tB-PER\nWilhelm\tI-PER\n", encoding="utf-8")
  with pytest.raises(DataError, match=r"dev:2: expected 'lang:token<TAB>tag'"):
    readers.read_wikiann_raw(raw)
  squad = tmp_path / "dev-v1.1.json"
  squad.write_text(
      json.dumps(
          {
              "data": [
                  {
                      "paragraphs": [
                          {
                              "context": "short",
                              "qas": [{"id": "q1", "question": "?", "answers": [{"text": "short", "answer_start": 3}]}],
                          }
                      ]
                  }
              ]
          }
      ),
      encoding="utf-8",
  )
  with pytest.raises(
      DataError, match=r"dev-v1.1.json:data\[0\].paragraphs\[0\].qas\[0\]: " r"question q1: answer_start 3"
  ):
    readers.read_squad_json(squad)
  eng = tmp_path / "tatoeba.deu-eng.eng"
  eng.write_text("a\nb\n", encoding="utf-8")
  (tmp_path / "tatoeba.deu-eng.deu").write_text("a\n", encoding="utf-8")
  with pytest.raises(DataError, match="1 lines but tatoeba.deu-eng.eng has 2"):
    readers.read_tatoeba(tmp_path / "tatoeba.deu-eng.deu")


def test_unknown_labels_name_file_and_line(tmp_path):
  cases = [
      (
          readers.read_glue_mnli,
          "dev_matched.tsv",
          "index\tsentence1\tsentence2\tgold_label\n0\ta\tb\tneutral\n1\ta\tb\tmaybe\n",
          3,
      ),
      (
          readers.read_xnli,
          "xnli.dev.tsv",
          "language\tgold_label\tsentence1\tsentence2\nde\tentailment\ta\tb\nde\tyes\ta\tb\n",
          3,
      ),
      (readers.read_anli, "dev.jsonl", '{"context": "a", "hypothesis": "b", "label": "x"}\n', 1),
      (readers.read_panx, "dev-de.tsv", "Anton\tB-PER\nvon\tB-FOO\n", 2),
      (readers.read_conllu, "de-ud-dev.conllu", "1\tHaus\t_\tNOUNY\t_\t_\t0\troot\t_\t_\n", 1),
      (readers.read_hellaswag, "val.jsonl", '{"ctx": "c", "endings": ["a", "b", "c", "d"], "label": 4}\n', 1),
      (
          readers.read_commonsenseqa,
          "dev.jsonl",
          json.dumps(
              {"answerKey": "F", "question": {"stem": "?", "choices": [{"label": k, "text": k} for k in "ABCDE"]}}
          )
          + "\n",
          1,
      ),
  ]
  for read, name, text, line in cases:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    kwargs = {"language": "de"} if read is readers.read_xnli else {}
    with pytest.raises(DataError, match=rf"{re.escape(name)}:{line}: unknown label"):
      read(path, **kwargs)


def test_every_task_reads_through_a_registered_reader(tmp_path):
  from xstilts_jax.errors import ConfigError
  from xstilts_jax.tasks import TASKS

  local = {name: spec.local.reader for name, spec in TASKS.items() if spec.local is not None}
  assert local and all(reader in readers.READERS for reader in local.values())
  assert readers.get_reader("read_conllu").all_files and readers.get_reader("read_xnli").by_language
  with pytest.raises(ConfigError, match="no reader 'read_nothing'"):
    readers.get_reader("read_nothing")
  with pytest.raises(DataError, match="read_panx reads exactly one file"):
    readers.get_reader("read_panx")([tmp_path / "a.tsv", tmp_path / "b.tsv"])
