"""Sources: local layout of the real slices, hub adapters vs local readers, TFDS builders."""

import csv
import json
import os
import re

import pytest

from xstilts_jax.data import readers, sources
from xstilts_jax.data.examples import RetrievalCorpus
from xstilts_jax.data.sources import examples_from_hub_rows, load_examples
from xstilts_jax.errors import ConfigError, DataError
from xstilts_jax.tasks import TASKS, get_task

NLI_HUB = ["entailment", "neutral", "contradiction"]  # ClassLabel order on the hub
UPOS = [
    "ADJ",
    "ADP",
    "ADV",
    "AUX",
    "CCONJ",
    "DET",
    "INTJ",
    "NOUN",
    "NUM",
    "PART",
    "PRON",
    "PROPN",
    "PUNCT",
    "SCONJ",
    "SYM",
    "VERB",
    "X",
]
PANX = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]


def _size(examples):
  return len(examples.source) if isinstance(examples, RetrievalCorpus) else len(examples)


# ---- local --------------------------------------------------------------------------

LOCAL_CASES = [  # (task, language, split, examples) on tests/data, counts from its README
    ("xnli", "sw", "dev", 1),
    ("xnli", "zh", "test", 1),
    ("pawsx", "en", "train", 4),
    ("pawsx", "ja", "test", 4),
    ("udpos", "en", "train", 200),
    ("udpos", "en", "dev", 100),
    ("udpos", "yo", "test", 100),
    ("panx", "en", "train", 200),
    ("panx", "ko", "dev", 100),
    ("xquad", "hi", "test", 105),
    ("mlqa", "en", "test", 1),
    ("tydiqa", "ar", "test", 1),
    ("tatoeba", "ja", "test", 100),
    ("tatoeba", "zh", "test", 100),
    ("mnli", "en", "dev", 2),
    ("mnli", "en", "test", 1),
    ("anli_r3", "en", "train", 3),
    ("qqp", "en", "dev", 2),
    ("squad_v1", "en", "train", 269),
    ("squad_v2", "en", "dev", 626),
    ("hellaswag", "en", "dev", 2),
    ("commonsenseqa", "en", "train", 5),
    ("cosmosqa", "en", "dev", 100),
]


@pytest.mark.parametrize("task,language,split,n", LOCAL_CASES)
def test_local_layout_of_the_shared_data(shared_data, task, language, split, n):
  assert _size(load_examples(get_task(task), language, split, data_dir=shared_data)) == n


def test_local_udpos_merges_treebanks_in_path_order(shared_data, tmp_path):
  ud = tmp_path / "udpos"
  (ud / "UD_English-Zzz").mkdir(parents=True)
  os.symlink(shared_data / "udpos/UD_English-EWT", ud / "UD_English-EWT")
  (ud / "UD_English-Zzz/en_zzz-ud-dev.conllu").write_text("1\tExtra\t_\tNOUN\t_\t_\t0\troot\t_\t_\n", encoding="utf-8")
  examples = load_examples(get_task("udpos"), "en", "dev", data_dir=tmp_path)
  assert len(examples) == 101 and examples[-1].words == ("Extra",)
  assert len({e.id for e in examples}) == 101


def test_local_errors(shared_data, tmp_path):
  with pytest.raises(DataError, match=r"ccg/ccg.train.tsv: no such file .*LDC-licensed"):
    load_examples(get_task("ccg"), "en", "train", data_dir=shared_data)
  with pytest.raises(DataError, match=r"bucc2018/de-en/de-en.sample.de: no such file"):
    load_examples(get_task("bucc2018"), "de", "dev", data_dir=shared_data)
  with pytest.raises(ConfigError, match="has no split 'dev'"):
    load_examples(get_task("xquad"), "de", "dev", data_dir=shared_data)
  with pytest.raises(ConfigError, match="no language 'ja'"):
    load_examples(get_task("xnli"), "ja", "dev", data_dir=shared_data)
  with pytest.raises(ConfigError, match="needs a data_dir"):
    load_examples(get_task("xnli"), "de", "dev")
  with pytest.raises(ConfigError, match="unknown source"):
    load_examples(get_task("xnli"), "de", "dev", source="ftp")
  with pytest.raises(ConfigError, match="no hub source"):
    load_examples(get_task("ccg"), "en", "dev", source="hub")
  for version in ("anli_v0.1", "anli_v1.0"):  # two releases side by side are ambiguous
    os.makedirs(tmp_path / "anli" / version)
    os.symlink(shared_data / "anli/anli_v0.1/R1", tmp_path / "anli" / version / "R1")
  with pytest.raises(DataError, match="2 files match"):
    load_examples(get_task("anli_r1"), "en", "dev", data_dir=tmp_path)


def test_mlm_reads_any_language(tmp_path):
  (tmp_path / "mlm/qx").mkdir(parents=True)
  (tmp_path / "mlm/qx/train.txt").write_text("one\n\ntwo\n", encoding="utf-8")
  spec = get_task("mlm", languages=["qx"])
  assert [e.text for e in load_examples(spec, "qx", "train", data_dir=tmp_path)] == ["one", "two"]
  # The language comes with the spec (the pipeline names it there: the format's any_language);
  # a spec without it is refused like any other task's.
  with pytest.raises(ConfigError, match="task mlm has no language 'qx'"):
    load_examples(get_task("mlm", languages=["qy"]), "qx", "train", data_dir=tmp_path)


def test_hub_unreachable_is_one_line_data_error():
  assert os.environ.get("HF_DATASETS_OFFLINE") == "1"  # conftest; no network here anyway
  with pytest.raises(DataError, match=r"google-research-datasets/paws-x .*source='local'") as e:
    load_examples(get_task("pawsx"), "de", "dev", source="hub")
  assert "\n" not in str(e.value) and e.value.__cause__ is None


# ---- hub adapters: Dataset.from_dict with the hub's columns, built from the real rows ----


@pytest.fixture(scope="module")
def hf():
  import datasets

  return datasets


def _tsv(path):
  with open(path, encoding="utf-8", newline="") as f:
    return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def _jsonl(path):
  return [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]


def _hub_same_as_local(spec, rows, language, local):
  assert examples_from_hub_rows(spec, rows, language) == local
  assert len(local) > 0


def test_hub_xnli(hf, shared_data):
  path = shared_data / "xnli/XNLI-1.0/xnli.test.tsv"
  rows = _tsv(path)
  spec = TASKS["xnli"]
  features = hf.Features(
      {"premise": hf.Value("string"), "hypothesis": hf.Value("string"), "label": hf.ClassLabel(names=NLI_HUB)}
  )
  for lang in ("de", "sw", "zh"):
    mine = [r for r in rows if r["language"] == lang]
    facebook = hf.Dataset.from_dict(
        {
            "premise": [r["sentence1"] for r in mine],
            "hypothesis": [r["sentence2"] for r in mine],
            "label": [NLI_HUB.index(r["gold_label"]) for r in mine],
        },
        features=features,
    )
    local = readers.read_xnli(path, lang)
    _hub_same_as_local(spec, facebook, lang, local)
    xtreme = hf.Dataset.from_dict(
        {k: [r[k] for r in rows] for k in ("language", "sentence1", "sentence2", "gold_label")}
    )  # google/xtreme XNLI: all languages
    _hub_same_as_local(spec, xtreme, lang, local)


def test_hub_pawsx_mnli_qqp_anli(hf, shared_data):
  path = shared_data / "pawsx/x-final/fr/dev_2k.tsv"
  rows = _tsv(path)
  data = hf.Dataset.from_dict(
      {
          "id": [int(r["id"]) for r in rows],
          "sentence1": [r["sentence1"] for r in rows],
          "sentence2": [r["sentence2"] for r in rows],
          "label": [int(r["label"]) for r in rows],
      },
      features=hf.Features(
          {
              "id": hf.Value("int32"),
              "sentence1": hf.Value("string"),
              "sentence2": hf.Value("string"),
              "label": hf.ClassLabel(names=["0", "1"]),
          }
      ),
  )
  _hub_same_as_local(TASKS["pawsx"], data, "fr", readers.read_pawsx(path))

  for stem in ("train", "dev_matched", "test_matched"):
    path = shared_data / f"mnli/MNLI/{stem}.tsv"
    rows = _tsv(path)
    data = hf.Dataset.from_dict(
        {
            "premise": [r["sentence1"] for r in rows],
            "hypothesis": [r["sentence2"] for r in rows],
            "label": [NLI_HUB.index(r["gold_label"]) if "gold_label" in r else -1 for r in rows],
            "idx": list(range(len(rows))),
        },
        features=hf.Features(
            {
                "premise": hf.Value("string"),
                "hypothesis": hf.Value("string"),
                "label": hf.ClassLabel(names=NLI_HUB),
                "idx": hf.Value("int32"),
            }
        ),
    )
    _hub_same_as_local(TASKS["mnli"], data, "en", readers.read_glue_mnli(path))

  for split in ("train", "test"):
    path = shared_data / f"qqp/QQP/{split}.tsv"
    rows = _tsv(path)
    data = hf.Dataset.from_dict(  # plain ints: the adapter knows the hub's label order
        {
            "question1": [r["question1"] for r in rows],
            "question2": [r["question2"] for r in rows],
            "label": [int(r.get("is_duplicate", -1)) for r in rows],
            "idx": list(range(len(rows))),
        }
    )
    _hub_same_as_local(TASKS["qqp"], data, "en", readers.read_glue_qqp(path))

  path = shared_data / "anli/anli_v0.1/R2/dev.jsonl"
  rows = _jsonl(path)
  short = {"e": 0, "n": 1, "c": 2}
  data = hf.Dataset.from_dict(
      {
          "uid": [r["uid"] for r in rows],
          "premise": [r["context"] for r in rows],
          "hypothesis": [r["hypothesis"] for r in rows],
          "label": [short[r["label"]] for r in rows],
          "reason": [r["reason"] for r in rows],
      },
      features=hf.Features(
          {
              "uid": hf.Value("string"),
              "premise": hf.Value("string"),
              "hypothesis": hf.Value("string"),
              "label": hf.ClassLabel(names=NLI_HUB),
              "reason": hf.Value("string"),
          }
      ),
  )
  _hub_same_as_local(TASKS["anli_r2"], data, "en", readers.read_anli(path))


def test_hub_snli_skips_unlabeled(hf):
  data = hf.Dataset.from_dict({"premise": ["a", "b"], "hypothesis": ["c", "d"], "label": [-1, 2]})
  report = readers.ReadReport()
  examples = examples_from_hub_rows(TASKS["snli"], data, "en", report)
  assert [(e.id, e.label) for e in examples] == [("1", "contradiction")]
  assert report.total_skipped == 1


def _squad_hub(hf, path):
  data = json.loads(path.read_text(encoding="utf-8"))["data"]
  columns = {k: [] for k in ("id", "title", "context", "question", "answers")}
  for article in data:
    for paragraph in article["paragraphs"]:
      for qa in paragraph["qas"]:
        columns["id"].append(qa["id"])
        columns["title"].append(article.get("title", ""))
        columns["context"].append(paragraph["context"])
        columns["question"].append(qa["question"])
        answers = [] if qa.get("is_impossible") else qa["answers"]
        columns["answers"].append(
            {"text": [a["text"] for a in answers], "answer_start": [a["answer_start"] for a in answers]}
        )
  features = hf.Features(
      {k: hf.Value("string") for k in ("id", "title", "context", "question")}
      | {"answers": hf.Sequence({"text": hf.Value("string"), "answer_start": hf.Value("int32")})}
  )
  return hf.Dataset.from_dict(columns, features=features)


def test_hub_span_qa(hf, shared_data):
  for task, rel, lang in (
      ("squad_v1", "squad_v1.1/train-v1.1.json", "en"),
      ("squad_v2", "squad_v2.0/dev-v2.0.json", "en"),
      ("xquad", "xquad/xquad.ru.json", "ru"),
      ("mlqa", "mlqa/MLQA_V1/dev/dev-context-en-question-en.json", "en"),
  ):
    path = shared_data / rel
    _hub_same_as_local(TASKS[task], _squad_hub(hf, path), lang, readers.read_squad_json(path))
  dev = shared_data / "tydiqa_goldp/tydiqa-goldp-v1.1-dev.json"
  train = shared_data / "tydiqa_goldp/tydiqa-goldp-v1.1-train.json"
  mixed = hf.concatenate_datasets([_squad_hub(hf, dev), _squad_hub(hf, train)])
  _hub_same_as_local(TASKS["tydiqa"], mixed, "ar", readers.read_tydiqa_goldp(dev, "ar"))
  _hub_same_as_local(TASKS["tydiqa"], mixed, "fi", readers.read_tydiqa_goldp(train, "fi"))
  assert examples_from_hub_rows(TASKS["tydiqa"], mixed, "en") == []


def _conllu_sentences(path):
  """(words, UPOS) per sentence, parsed here independently of the reader."""
  sentences = []
  for block in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")):
    rows = [l.split("\t") for l in block.splitlines() if re.match(r"\d+\t", l)]
    if rows:
      sentences.append(([r[1] for r in rows], [r[3] for r in rows]))
  return sentences


def test_hub_tagging(hf, shared_data):
  path = shared_data / "udpos/UD_Hindi-PUD/hi_pud-ud-test.conllu"
  sentences = _conllu_sentences(path)
  data = hf.Dataset.from_dict(
      {"tokens": [w for w, _ in sentences], "pos_tags": [[UPOS.index(t) for t in ts] for _, ts in sentences]},
      features=hf.Features(
          {"tokens": hf.Sequence(hf.Value("string")), "pos_tags": hf.Sequence(hf.ClassLabel(names=UPOS))}
      ),
  )
  _hub_same_as_local(TASKS["udpos"], data, "hi", readers.read_conllu(path))

  path = shared_data / "panx/xtreme_format/dev-sw.tsv"
  blocks = [b for b in path.read_text(encoding="utf-8").split("\n\n") if b.strip()]
  pairs = [[l.rsplit("\t", 1) for l in b.splitlines() if l] for b in blocks]
  data = hf.Dataset.from_dict(
      {
          "tokens": [[w for w, _ in p] for p in pairs],
          "ner_tags": [[PANX.index(t) for _, t in p] for p in pairs],
          "langs": [["sw"] * len(p) for p in pairs],
      },
      features=hf.Features(
          {
              "tokens": hf.Sequence(hf.Value("string")),
              "ner_tags": hf.Sequence(hf.ClassLabel(names=PANX)),
              "langs": hf.Sequence(hf.Value("string")),
          }
      ),
  )
  _hub_same_as_local(TASKS["panx"], data, "sw", readers.read_panx(path))


def test_hub_multiple_choice(hf, shared_data, tmp_path):
  for split in ("train", "test"):
    path = shared_data / f"hellaswag/hellaswag_{split}.jsonl"
    rows = _jsonl(path)
    columns = {
        k: [r[k] for r in rows]
        for k in ("ind", "activity_label", "ctx_a", "ctx_b", "ctx", "endings", "source_id", "split", "split_type")
    }
    columns["label"] = [str(r["label"]) if "label" in r else "" for r in rows]  # strings on hub
    _hub_same_as_local(TASKS["hellaswag"], hf.Dataset.from_dict(columns), "en", readers.read_hellaswag(path))

  for stem in ("train_rand_split", "test_rand_split_no_answers"):
    path = shared_data / f"commonsenseqa/{stem}.jsonl"
    rows = _jsonl(path)
    data = hf.Dataset.from_dict(
        {
            "id": [r["id"] for r in rows],
            "question": [r["question"]["stem"] for r in rows],
            "question_concept": [r["question"]["question_concept"] for r in rows],
            "choices": [
                {
                    "label": [c["label"] for c in r["question"]["choices"]],
                    "text": [c["text"] for c in r["question"]["choices"]],
                }
                for r in rows
            ],
            "answerKey": [r.get("answerKey", "") for r in rows],
        }
    )
    _hub_same_as_local(TASKS["commonsenseqa"], data, "en", readers.read_commonsenseqa(path))

  path = shared_data / "cosmosqa/valid.csv"
  with open(path, encoding="utf-8", newline="") as f:
    rows = list(csv.DictReader(f))
  columns = {k: [r[k] for r in rows] for k in ("id", "context", "question", "answer0", "answer1", "answer2", "answer3")}
  columns["label"] = [int(r["label"]) for r in rows]
  _hub_same_as_local(TASKS["cosmosqa"], hf.Dataset.from_dict(columns), "en", readers.read_cosmosqa(path))

  path = tmp_path / "test.tr.jsonl"
  rows = [
      {
          "premise": "Kız güldü.",
          "choice1": "A",
          "choice2": "B",
          "question": "effect",
          "label": 0,
          "idx": 1,
          "changed": False,
      },
      {
          "premise": "Adam düştü.",
          "choice1": "C",
          "choice2": "D",
          "question": "cause",
          "label": 1,
          "idx": 2,
          "changed": True,
      },
  ]
  path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
  data = hf.Dataset.from_dict({k: [r[k] for r in rows] for k in rows[0]})
  _hub_same_as_local(TASKS["xcopa"], data, "tr", readers.read_copa(path))


def test_hub_tatoeba(hf, shared_data):
  src = shared_data / "tatoeba/tatoeba.kor-eng.kor"
  with open(src, encoding="utf-8", newline="") as f1, open(src.with_suffix(".eng"), encoding="utf-8", newline="") as f2:
    pairs = list(zip(f1, f2))  # lines keep "\n", as the hub's rows do
  data = hf.Dataset.from_dict(
      {
          "source_sentence": [s for s, _ in pairs],
          "target_sentence": [t for _, t in pairs],
          "source_lang": ["kor"] * len(pairs),
          "target_lang": ["eng"] * len(pairs),
      }
  )
  assert examples_from_hub_rows(TASKS["tatoeba"], data, "ko") == readers.read_tatoeba(src)


def test_hub_bad_rows_raise_data_error(hf):
  data = hf.Dataset.from_dict({"premise": ["a"], "hypothesis": ["b"], "label": ["maybe"]})
  with pytest.raises(DataError, match=r"hub nyu-mll/glue: row 0: unknown label 'maybe'"):
    examples_from_hub_rows(TASKS["mnli"], data, "en")
  data = hf.Dataset.from_dict({"tokens": [["a", "b"]], "pos_tags": [[0]]})
  with pytest.raises(DataError, match="2 tokens but 1 tags"):
    examples_from_hub_rows(TASKS["udpos"], data, "en")
  with pytest.raises(ConfigError, match="no hub adapter for task ccg"):
    examples_from_hub_rows(TASKS["ccg"], [], "en")


# ---- TFDS ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tfds():
  import tensorflow_datasets

  return tensorflow_datasets


def _builder_and_config(tfds, name):
  builder, _, config = name.partition("/")
  cls = tfds.builder_cls(builder)
  return cls, config


def test_tfds_builders_and_configs_exist(tfds):
  for task, spec in TASKS.items():
    if spec.tfds is None:
      continue
    for language in spec.languages:
      cls, config = _builder_and_config(tfds, sources.fill_pattern(spec.tfds.name, language))
      if config:
        assert config in {c.name for c in cls.BUILDER_CONFIGS}, (task, language)
  for missing in ("xcopa", "commonsense_qa", "xtreme_panx", "xtreme_udpos", "siqa"):
    with pytest.raises(tfds.core.registered.DatasetNotFoundError):  # hub or local only
      tfds.builder_cls(missing)


def test_tfds_class_names_match_the_builders(tfds):
  for task, columns in sources.TFDS_CLASS_NAMES.items():
    name = sources.fill_pattern(TASKS[task].tfds.name, "de")
    features = tfds.builder(name, data_dir="/nonexistent").info.features
    for column, names in columns.items():
      feature = features[column]
      feature = getattr(feature, "feature", feature)
      assert tuple(feature.names) == names, (task, column)


# Tasks whose random mock rows are structurally valid (QA, pairs, Cosmos QA, Tatoeba).
RANDOM_MOCK = [
    ("mnli", "en", "dev"),
    ("snli", "en", "train"),
    ("anli_r1", "en", "test"),
    ("qqp", "en", "train"),
    ("sst2", "en", "dev"),
    ("pawsx", "de", "dev"),
    ("squad_v1", "en", "train"),
    ("squad_v2", "en", "dev"),
    ("xquad", "ar", "test"),
    ("mlqa", "hi", "dev"),
    ("translate_train_squad", "de", "train"),
    ("cosmosqa", "en", "dev"),
    ("tatoeba", "de", "test"),
]


@pytest.mark.parametrize("task,language,split", RANDOM_MOCK)
def test_tfds_adapters_on_random_mock_data(tfds, task, language, split):
  with tfds.testing.mock_data(num_examples=3):
    examples = load_examples(get_task(task), language, split, source="tfds")
  assert _size(examples) == 3
  for example in examples.source if isinstance(examples, RetrievalCorpus) else examples:
    if hasattr(example, "label") and TASKS[task].labels and example.label is not None:
      assert example.label in TASKS[task].labels


def _mock_rows(tfds, rows):
  import tensorflow as tf

  def as_dataset(self, *args, **kwargs):
    return tf.data.Dataset.from_generator(
        lambda: iter(rows), output_types=self.info.features.dtype, output_shapes=self.info.features.shape
    )

  return tfds.testing.mock_data(as_dataset_fn=as_dataset)


def test_tfds_tagging_on_real_rows(tfds, shared_data):
  path = shared_data / "udpos/UD_Japanese-GSD/ja_gsd-ud-test.conllu"
  names = tfds.builder("xtreme_pos/xtreme_pos_ja", data_dir="/x").info.features["upos"].names
  rows = [{"tokens": w, "upos": [names.index(t) for t in ts]} for w, ts in _conllu_sentences(path)]
  with _mock_rows(tfds, rows):
    examples = load_examples(get_task("udpos"), "ja", "test", source="tfds")
  assert examples == readers.read_conllu(path)

  path = shared_data / "panx/xtreme_format/dev-de.tsv"
  names = tfds.builder("wikiann/de", data_dir="/x").info.features["tags"].names
  local = readers.read_panx(path)
  rows = [
      {"tokens": list(e.words), "tags": [names.index(t) for t in e.labels], "langs": ["de"] * len(e.words), "spans": []}
      for e in local
  ]
  with _mock_rows(tfds, rows):
    assert load_examples(get_task("panx"), "de", "dev", source="tfds") == local


def test_tfds_xnli_on_real_rows(tfds, shared_data):
  path = shared_data / "xnli/XNLI-1.0/xnli.dev.tsv"
  rows = _tsv(path)
  names = tfds.builder("xnli", data_dir="/x").info.features["label"].names
  [label] = {r["gold_label"] for r in rows}  # the slice is one pair in 15 languages
  row = {
      "premise": {r["language"]: r["sentence1"] for r in rows},
      "hypothesis": {"language": [r["language"] for r in rows], "translation": [r["sentence2"] for r in rows]},
      "label": names.index(label),
  }
  for task in ("xnli", "translate_train_mnli"):
    with _mock_rows(tfds, [row]):
      split = "dev" if task == "xnli" else "train"
      for lang in ("de", "th"):
        assert load_examples(get_task(task), lang, split, source="tfds") == readers.read_xnli(path, lang)


def test_tfds_multiple_choice_on_real_rows(tfds, shared_data):
  path = shared_data / "hellaswag/hellaswag_val.jsonl"
  rows = [
      {
          "context": r["ctx"],
          "endings": r["endings"],
          "activity_label": r["activity_label"],
          "label": r["label"],
          "split_type": r["split_type"],
          "source_id": r["source_id"],
      }
      for r in _jsonl(path)
  ]
  with _mock_rows(tfds, rows):
    assert load_examples(get_task("hellaswag"), "en", "dev", source="tfds") == readers.read_hellaswag(path)
  copa = [
      {
          "premise": "The man fell.",
          "choice1": "He slipped.",
          "choice2": "He sang.",
          "question": "cause",
          "idx": 0,
          "label": 0,
      },
      {"premise": "It rained.", "choice1": "A", "choice2": "B", "question": "effect", "idx": 1, "label": -1},
  ]
  with _mock_rows(tfds, copa):
    examples = load_examples(get_task("copa"), "en", "test", source="tfds")
  assert [(e.context, e.choices, e.label) for e in examples] == [
      ("The man fell. What was the cause of this?", ("He slipped.", "He sang."), 0),
      ("It rained. What happened as a result?", ("A", "B"), None),
  ]


def test_tfds_tydiqa_filters_by_language(tfds):
  rows = [
      {
          "id": f"{name}-1-0",
          "title": "",
          "context": "abc",
          "question": "q",
          "answers": {"text": ["b"], "answer_start": [1]},
      }
      for name in ("english", "arabic", "english")
  ]
  with _mock_rows(tfds, rows):
    examples = load_examples(get_task("tydiqa"), "en", "train", source="tfds")
  assert [e.id for e in examples] == ["english-1-0", "english-1-0"]
  assert examples[0].answers[0].text == "b"


def test_tfds_not_prepared_is_data_error(tmp_path):
  with pytest.raises(DataError, match=r"cannot load TFDS xquad/de split test .*tfds build xquad"):
    load_examples(get_task("xquad"), "de", "test", source="tfds", tfds_data_dir=str(tmp_path))
  with pytest.raises(ConfigError, match="no TFDS source"):
    load_examples(get_task("bucc2018"), "de", "dev", source="tfds")
