"""Synthetic demo data: determinism, the original file formats, and reading through the real readers.

The format checks here are written independently of the generator: they parse the files
by hand and compare headers, keys and serialisation
with the real slices.
"""

import collections
import json
from pathlib import Path
import re

import pytest

from xstilts_jax.demo import synthetic
from xstilts_jax.errors import ConfigError

LANGS = ("en", "qn", "qv", "qs", "qc")
NLI = {"entailment", "neutral", "contradiction"}
UPOS = set("ADJ ADP ADV AUX CCONJ DET INTJ NOUN NUM PART PRON PROPN PUNCT SCONJ SYM VERB X".split())
PANX = {"O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"}
SMALL = {key: 12 for key in synthetic.DEFAULT_SIZES} | {"squad_train": 6, "qa_eval": 5, "bucc_gold": 8}
REAL = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
  """Default sizes, all languages: (directory, manifest)."""
  out = tmp_path_factory.mktemp("synthetic")
  return out, synthetic.write_synthetic_data(out, seed=0)


def _files(root: Path) -> dict[str, bytes]:
  return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _real(rel: str) -> Path:
  path = REAL / rel
  if not path.is_file():
    pytest.fail(f"real slice {path} not found")
  return path


def _lines(path: Path) -> list[str]:
  text = path.read_text(encoding="utf-8")
  assert text.endswith("\n"), f"{path} lacks a final newline"
  return text[:-1].split("\n")


def _tsv(path: Path) -> tuple[list[str], list[list[str]]]:
  rows = [line.split("\t") for line in _lines(path)]
  assert all(len(r) == len(rows[0]) for r in rows), f"{path}: rows with a different column count"
  return rows[0], rows[1:]


def test_same_seed_gives_identical_bytes_and_other_seed_differs(tmp_path):
  a = synthetic.write_synthetic_data(tmp_path / "a", seed=3, sizes=SMALL)
  b = synthetic.write_synthetic_data(tmp_path / "b", seed=3, sizes=SMALL)
  synthetic.write_synthetic_data(tmp_path / "c", seed=4, sizes=SMALL)
  files_a, files_b, files_c = (_files(tmp_path / x) for x in "abc")
  assert a == b and files_a == files_b
  assert files_a.keys() == files_c.keys()
  assert files_a["mnli/MNLI/train.tsv"] != files_c["mnli/MNLI/train.tsv"]
  assert not [p for p in (tmp_path / "a").rglob("*") if ".tmp-" in p.name]  # atomic writes left no temp files


def test_manifest_lists_every_file_with_its_record_count(data):
  root, manifest = data
  assert json.loads((root / "manifest.json").read_text()) == manifest
  assert set(manifest["files"]) == set(_files(root)) - {"manifest.json"}
  assert set(manifest["languages"]) == set(LANGS)
  assert manifest["files"]["mnli/MNLI/train.tsv"] == len(_lines(root / "mnli/MNLI/train.tsv")) - 1
  assert manifest["files"]["tatoeba/tatoeba.qs-eng.qs"] == synthetic.DEFAULT_SIZES["tatoeba"]


def test_distances_follow_the_documented_definition():
  # Hand-computed over 8 features: qn differs only in half its lexicon; qv in order, adjective order
  # and lexicon; qs in order, adposition, morphology (2 ranks = 1), wh position and lexicon; qc in
  # adjective order, morphology (1 rank = 0.5), wh position, script, name script and lexicon.
  expected = {"en": 0.0, "qn": 0.5 / 8, "qv": 3 / 8, "qs": 5 / 8, "qc": 5.5 / 8}
  for lang, distance in expected.items():
    assert synthetic.typological_distance(lang) == pytest.approx(distance)
    assert synthetic.typological_distance("en", lang) == pytest.approx(distance)
  assert synthetic.language_features("qs")["word_order"] == "SOV"
  assert synthetic.language_features("qc")["script"] == "Cyrl"
  assert set(synthetic.LANGUAGES) == set(LANGS)


def test_bad_arguments_raise_config_error(tmp_path):
  with pytest.raises(ConfigError, match="unknown size"):
    synthetic.write_synthetic_data(tmp_path, sizes={"mnli_trian": 3})
  with pytest.raises(ConfigError, match="include 'en'"):
    synthetic.write_synthetic_data(tmp_path, languages=["qn"])
  with pytest.raises(ConfigError, match="unknown synthetic language"):
    synthetic.write_synthetic_data(tmp_path, languages=["en", "de"])


def test_language_subset_writes_only_those_languages(tmp_path):
  manifest = synthetic.write_synthetic_data(tmp_path, sizes=SMALL, languages=["qs", "en"])
  assert set(manifest["languages"]) == {"en", "qs"}
  assert (tmp_path / "xquad/xquad.qs.json").is_file() and not (tmp_path / "xquad/xquad.qn.json").exists()
  _, rows = _tsv(tmp_path / "xnli/XNLI-1.0/xnli.test.tsv")
  assert {r[0] for r in rows} == {"en", "qs"}


def _parse_words(parse: str) -> list[str]:
  return [w for w in parse.replace("(", " ").replace(")", " ").split()]


def test_mnli_tsv_columns_labels_and_parses(data):
  root, _ = data
  for name, real_name in (("train", "train"), ("dev_matched", "dev_matched")):
    header, rows = _tsv(root / f"mnli/MNLI/{name}.tsv")
    real = REAL / f"mnli/MNLI/{real_name}.tsv"
    if real.is_file():
      assert header == real.read_text(encoding="utf-8").split("\n")[0].split("\t")
    col = {c: i for i, c in enumerate(header)}
    assert header[-1] == "gold_label" and len(header) == (12 if name == "train" else 16)
    counts = collections.Counter(r[col["gold_label"]] for r in rows)
    assert set(counts) == NLI and min(counts.values()) > 0.25 * len(rows)
    for r in rows:
      assert r[col["pairID"]] == r[col["promptID"]] + r[col["gold_label"]][0]
      for s in ("1", "2"):
        binary, penn, text = r[col[f"sentence{s}_binary_parse"]], r[col[f"sentence{s}_parse"]], r[col[f"sentence{s}"]]
        assert binary.count("(") == binary.count(")") and penn.count("(") == penn.count(")")
        words = _parse_words(binary)
        assert words == _parse_words(re.sub(r"\((\S+) ", "(", penn))  # same leaves in both parses
        assert " ".join(words).replace(" ,", ",").replace(" .", ".") == text


def test_xnli_tsv_is_parallel_across_languages(data):
  root, _ = data
  for split in ("dev", "test"):
    header, rows = _tsv(root / f"xnli/XNLI-1.0/xnli.{split}.tsv")
    real = REAL / "xnli/XNLI-1.0/xnli.dev.tsv"
    if real.is_file():
      assert header == real.read_text(encoding="utf-8").split("\n")[0].split("\t")
    assert len(header) == 19
    col = {c: i for i, c in enumerate(header)}
    by_pair = collections.defaultdict(dict)
    for r in rows:
      assert r[col["gold_label"]] in NLI and r[col["match"]] == "True"
      assert all(r[col[f"label{k}"]] == r[col["gold_label"]] for k in range(1, 6))
      tokenized = r[col["sentence1_tokenized"]].split(" ")
      assert "".join(tokenized) == r[col["sentence1"]].replace(" ", "")
      by_pair[r[col["pairID"]]][r[col["language"]]] = r[col["gold_label"]]
    assert len(by_pair) == synthetic.DEFAULT_SIZES["nli_eval"]
    assert all(set(v) == set(LANGS) and len(set(v.values())) == 1 for v in by_pair.values())


def _check_squad(path: Path, answers_per_question: int) -> dict[str, str]:
  data = json.loads(path.read_text(encoding="utf-8"))
  assert set(data) == {"data", "version"} and data["version"] == "1.1"
  ids = {}
  for article in data["data"]:
    assert set(article) == {"title", "paragraphs"}
    for paragraph in article["paragraphs"]:
      assert set(paragraph) == {"context", "qas"}
      context = paragraph["context"]
      for qa in paragraph["qas"]:
        assert set(qa) == {"answers", "question", "id"} and qa["question"].endswith("?")
        assert len(qa["answers"]) == answers_per_question
        for answer in qa["answers"]:
          assert set(answer) == {"answer_start", "text"} and answer["text"] == answer["text"].strip() != ""
          start = answer["answer_start"]
          assert context[start : start + len(answer["text"])] == answer["text"], (path, qa["id"])
          assert start == 0 or context[start - 1] == " "  # answers are whole words
        ids[qa["id"]] = qa["answers"][0]["text"]
  return ids


def test_squad_and_xquad_answers_point_at_their_text(data):
  root, _ = data
  train = root / "squad_v1.1/train-v1.1.json"
  _check_squad(train, 1)
  _check_squad(root / "squad_v1.1/dev-v1.1.json", 3)
  # The serialisers that reproduce the real files byte for byte reproduce ours.
  assert json.dumps(json.loads(train.read_text())) == train.read_text()
  real = _real("xquad/xquad.en.json").read_text(encoding="utf-8")
  assert json.dumps(json.loads(real), indent=2, sort_keys=True) + "\n" == real
  ids_by_lang = {}
  for lang in LANGS:
    text = (root / f"xquad/xquad.{lang}.json").read_text(encoding="utf-8")
    assert json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n" == text
    ids_by_lang[lang] = _check_squad(root / f"xquad/xquad.{lang}.json", 1)
  assert len({tuple(ids) for ids in ids_by_lang.values()}) == 1  # the same questions everywhere
  # Names are shared by the Latin-script languages, so who-answers that are names match English.
  en, qv = ids_by_lang["en"], ids_by_lang["qv"]
  names = [q for q, a in en.items() if not a.startswith(("the ", "a ", "an ")) and not a.isdigit()]
  assert names and sum(en[q] == qv[q] for q in names) > 0.5 * len(names)


def _sentences(path: Path) -> list[list[list[str]]]:
  text = path.read_text(encoding="utf-8")
  assert text.endswith("\n\n")
  return [[line.split("\t") for line in block.split("\n")] for block in text[:-2].split("\n\n")]


def test_panx_tsv_has_valid_bio_tags_and_parallel_entities(data):
  root, _ = data
  entity_counts = {}
  for rel in sorted(p.name for p in (root / "panx/xtreme_format").iterdir()):
    sentences = _sentences(root / "panx/xtreme_format" / rel)
    counts = []
    for sentence in sentences:
      assert all(len(fields) == 2 and fields[0] and fields[1] in PANX for fields in sentence), rel
      previous = "O"
      for _, tag in sentence:
        assert not tag.startswith("I-") or previous[2:] == tag[2:], (rel, sentence)
        previous = tag
      counts.append(sum(tag.startswith("B-") for _, tag in sentence))
    entity_counts[rel] = counts
  assert len(entity_counts["train-en.tsv"]) == synthetic.DEFAULT_SIZES["panx_train"]
  for split in ("dev", "test"):
    assert len({tuple(entity_counts[f"{split}-{lang}.tsv"]) for lang in LANGS}) == 1
    assert sum(entity_counts[f"{split}-en.tsv"]) > len(entity_counts[f"{split}-en.tsv"])


def test_udpos_conllu_is_well_formed(data):
  root, _ = data
  files = sorted(root.glob("udpos/UD_*/*-ud-*.conllu"))
  assert {f.name.split("_")[0] for f in files} == set(LANGS)
  assert [f.name for f in files if f.name.endswith("train.conllu")] == ["en_syn-ud-train.conllu"]
  for path in files:
    blocks = path.read_text(encoding="utf-8")
    assert blocks.endswith("\n\n")
    for block in blocks[:-2].split("\n\n"):
      lines = block.split("\n")
      assert lines[0].startswith("# sent_id = ") and lines[1].startswith("# text = ")
      rows = [line.split("\t") for line in lines[2:]]
      assert all(len(r) == 10 for r in rows)
      assert [int(r[0]) for r in rows] == list(range(1, len(rows) + 1))
      assert all(r[3] in UPOS and 0 <= int(r[6]) <= len(rows) for r in rows)
      assert [r[7] for r in rows].count("root") == 1 and [r[6] for r in rows].count("0") == 1
      text = "".join(r[1] + ("" if r[9] == "SpaceAfter=No" or i == len(rows) - 1 else " ") for i, r in enumerate(rows))
      assert lines[1][len("# text = ") :] == text


def test_pawsx_pairs_share_their_words(data):
  root, _ = data
  for path in sorted(root.glob("pawsx/x-final/*/*.tsv")):
    header, rows = _tsv(path)
    assert header == ["id", "sentence1", "sentence2", "label"]
    assert [r[0] for r in rows] == [str(i) for i in range(1, len(rows) + 1)]
    labels = collections.Counter(r[3] for r in rows)
    assert set(labels) == {"0", "1"}
    for _, s1, s2, _ in rows:
      bag = [sorted(re.sub(r"[.,?]", "", s).lower().split()) for s in (s1, s2)]
      assert s1 != s2 and len(bag[0]) == len(bag[1]), (path, s1, s2)
      if path.parent.name in ("en", "qn", "qv"):  # no case suffixes: the very same words, reordered
        assert bag[0] == bag[1], (path, s1, s2)
  paths = sorted(p.parent.name for p in root.glob("pawsx/x-final/*/test_2k.tsv"))
  assert paths == sorted(LANGS) and not list(root.glob("pawsx/x-final/q*/train.tsv"))


def _jsonl(path: Path) -> list[dict]:
  return [json.loads(line) for line in _lines(path)]


def test_copa_xcopa_and_hellaswag_jsonl(data):
  root, _ = data
  for rel in ("copa/COPA/train.jsonl", "copa/COPA/val.jsonl"):
    for i, row in enumerate(_jsonl(root / rel)):
      assert list(row) == ["premise", "choice1", "choice2", "question", "label", "idx"]
      assert row["question"] in ("cause", "effect") and row["label"] in (0, 1) and row["idx"] == i
  labels = {}
  for lang in LANGS:
    for split in ("val", "test"):
      path = root / f"xcopa/data/{lang}/{split}.{lang}.jsonl"
      rows = _jsonl(path)
      assert all(list(r) == ["premise", "choice1", "choice2", "question", "label", "idx", "changed"] for r in rows)
      labels[lang, split] = [(r["idx"], r["label"], r["question"]) for r in rows]
      if lang == "qc":
        assert "\\u" not in path.read_text(encoding="utf-8")  # XCOPA stores UTF-8, not escapes
  assert len({tuple(v) for k, v in labels.items() if k[1] == "test"}) == 1
  real_keys = list(json.loads(_real("hellaswag/hellaswag_train.jsonl").read_text().split("\n")[0]))
  for split in ("train", "val"):
    for row in _jsonl(root / f"hellaswag/hellaswag_{split}.jsonl"):
      assert list(row) == real_keys and row["split"] == split
      assert row["ctx"] == f"{row['ctx_a']} {row['ctx_b']}" and len(row["endings"]) == 4
      assert row["label"] in range(4) and len(set(row["endings"])) == 4


def test_tatoeba_sides_align(data):
  root, _ = data
  for lang in LANGS[1:]:
    source = _lines(root / f"tatoeba/tatoeba.{lang}-eng.{lang}")
    english = _lines(root / f"tatoeba/tatoeba.{lang}-eng.eng")
    assert len(source) == len(english) == synthetic.DEFAULT_SIZES["tatoeba"]
    assert all(source) and all(english) and len(set(english)) == len(english)
    if lang != "qn":  # qn keeps half of the English word forms; the others share only names and numbers
      assert sum(s == e for s, e in zip(source, english)) == 0


def test_bucc_gold_ids_exist_on_both_sides(data):
  root, _ = data
  for lang in LANGS[1:]:
    for split in ("sample", "training"):
      stem = root / f"bucc2018/{lang}-en/{lang}-en.{split}"
      sides = {}
      for suffix in (lang, "en"):
        rows = [line.split("\t") for line in _lines(Path(f"{stem}.{suffix}"))]
        assert all(len(r) == 2 and re.fullmatch(rf"{suffix}-\d{{9}}", r[0]) for r in rows)
        sides[suffix] = dict(rows)
        assert len(sides[suffix]) == len(rows) and len(set(sides[suffix].values())) == len(rows)
      gold = [line.split("\t") for line in _lines(Path(f"{stem}.gold"))]
      assert len(gold) == synthetic.DEFAULT_SIZES["bucc_gold"]
      assert all(a in sides[lang] and b in sides["en"] for a, b in gold)
      assert len(sides[lang]) > len(gold) and len(sides["en"]) > len(gold)  # there are distractors


def test_mlm_text_has_one_sentence_per_line(data):
  root, _ = data
  for lang in LANGS:
    for split, key in (("train", "mlm_train"), ("dev", "mlm_eval")):
      lines = _lines(root / f"mlm/{lang}/{split}.txt")
      assert len(lines) == synthetic.DEFAULT_SIZES[key] and all(lines)
      assert all(line[-1] in ".?" for line in lines)
  qc = (root / "mlm/qc/train.txt").read_text(encoding="utf-8")
  assert sum("\u0400" <= ch <= "\u04ff" for ch in qc) > 0.5 * sum(ch.isalpha() for ch in qc)


def test_every_registered_local_path_reads_with_the_project_readers(data):
  from xstilts_jax.data import readers
  from xstilts_jax.tasks import registry

  root, manifest = data
  tasks = {
      "mnli": ("en",),
      "squad_v1": ("en",),
      "hellaswag": ("en",),
      "copa": ("en",),
      "siqa": ("en",),
      "mlm": LANGS,
      "xnli": LANGS,
      "pawsx": LANGS,
      "udpos": LANGS,
      "panx": LANGS,
      "xquad": LANGS,
      "xcopa": LANGS,
      "bucc2018": LANGS[1:],
      "tatoeba": LANGS[1:],
  }
  read = 0
  for name, langs in tasks.items():
    spec = registry.TASKS[name]
    reader = getattr(readers, spec.local.reader)
    for split, pattern in spec.local.paths:
      for lang in langs:
        rel = pattern.format(lang=lang, lang3=registry.iso639_3(lang))
        paths = sorted(root.glob(rel))
        if not paths:
          assert (
              split == "test" and name in ("mnli", "copa", "hellaswag", "siqa") or split == "train" and lang != "en"
          ), rel
          continue
        if name == "udpos":
          examples = reader(paths)
        elif name == "xnli":
          examples = reader(paths[0], lang)
        else:
          examples = reader(paths[0])
        rel_path = str(paths[0].relative_to(root))
        if name in ("bucc2018", "tatoeba"):
          gold_file = rel_path.rsplit(".", 1)[0] + (".gold" if name == "bucc2018" else ".eng")
          assert len(examples.gold) == manifest["files"][gold_file]
          assert {g[0] for g in examples.gold} <= {s.id for s in examples.source}
        elif name == "xnli":
          assert len(examples) == synthetic.DEFAULT_SIZES["nli_eval"]
        else:
          assert len(examples) == manifest["files"][rel_path], rel_path
        read += 1
  assert read > 60
