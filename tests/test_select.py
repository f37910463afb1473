"""Question 2's data selector on real English data: diversity, size, label balance, round trip."""

from collections import Counter
import json
import math

import pytest

from xstilts_jax.data import readers
from xstilts_jax.errors import ConfigError
from xstilts_jax.study import select as sel
from xstilts_jax.study.tagger import conllu_sentences, train_ud_tagger

UD = "udpos/UD_English-EWT/en_ewt-ud-{}.conllu"


def _entropy(tag_seqs, max_tokens):
  """Trigram entropy (bits) of the first max_tokens tags, written here independently."""
  grams, used = Counter(), 0
  for seq in tag_seqs:
    seq = seq[: max_tokens - used]
    used += len(seq)
    grams.update(tuple(seq[i : i + 3]) for i in range(len(seq) - 2))
  total = sum(grams.values())
  return -sum(c / total * math.log2(c / total) for c in grams.values())


@pytest.fixture(scope="module")
def tagger(shared_data):
  return train_ud_tagger(shared_data / UD.format("train"))


def test_tagger_accuracy_on_ud_dev(shared_data, tagger):
  dev = conllu_sentences(shared_data / UD.format("dev"))
  gold = [t for _, tags in dev for t in tags]
  predicted = [t for words, _ in dev for t in tagger.tag(words)]
  accuracy = sum(p == g for p, g in zip(predicted, gold)) / len(gold)
  # Majority tag NOUN scores about 0.17 here; 200 training sentences give about 0.85.
  assert 0.80 < accuracy < 1.0
  assert tagger.tag(dev[0][0]) == train_ud_tagger(shared_data / UD.format("train")).tag(dev[0][0])


def test_squad_questions_diverse_subset_beats_random(shared_data, tagger, tmp_path):
  summary = sel.select("squad_v1", 60, tmp_path, shared_data, "dev", shared_data / UD.format("train"))
  subsets = {}
  for name in ("diverse", "random"):
    examples = readers.read_squad_json(tmp_path / name / "squad_v1.1/dev-v1.1.json")
    assert len(examples) == 60
    subsets[name] = [tagger.tag(sel.diversity.tokenize(e.question)) for e in examples]
  tokens = min(sum(map(len, s)) for s in subsets.values())
  # File order, not the module's shuffle: the measure is checked on its own.
  assert _entropy(subsets["diverse"], tokens) > _entropy(subsets["random"], tokens) + 0.3
  assert summary["diverse"]["entropy_bits_equal_tokens"] > summary["random"]["entropy_bits_equal_tokens"]
  assert summary["measure"].startswith("pos") and summary["size"] == 60
  # OUT/diverse is a whole data dir: the subset in its place, every other task linked.
  from xstilts_jax.data import sources
  from xstilts_jax.tasks import registry

  squad = sources.load_examples(registry.TASKS["squad_v1"], "en", "dev", data_dir=tmp_path / "diverse")
  assert len(squad) == 60
  xnli = sources.load_examples(registry.TASKS["xnli"], "de", "test", data_dir=tmp_path / "random")
  assert xnli == sources.load_examples(registry.TASKS["xnli"], "de", "test", data_dir=shared_data)
  assert len(readers.read_squad_json(tmp_path / "diverse/squad_v1.1/train-v1.1.json")) == 269
  with pytest.raises(ConfigError, match="exists already"):
    sel.select("squad_v1", 60, tmp_path, shared_data, "dev")
  original = {e.id: e for e in readers.read_squad_json(shared_data / "squad_v1.1/dev-v1.1.json")}
  for name in ("diverse", "random"):  # whole records, answers kept
    for e in readers.read_squad_json(tmp_path / name / "squad_v1.1/dev-v1.1.json"):
      assert original[e.id] == e


def test_random_subsets_of_other_seeds_are_less_diverse(shared_data, tagger, tmp_path):
  sel.select("udpos", 40, tmp_path / "d", shared_data, "test", shared_data / UD.format("train"))
  diverse = readers.read_conllu(tmp_path / "d/diverse" / UD.format("test"))
  assert len(diverse) == 40
  tags_d = [tagger.tag(e.words) for e in diverse]
  for seed in (1, 2, 3):
    sel.select("udpos", 40, tmp_path / str(seed), shared_data, "test", seed=seed)
    other = readers.read_conllu(tmp_path / str(seed) / "random" / UD.format("test"))
    tags_r = [tagger.tag(e.words) for e in other]
    tokens = min(sum(map(len, tags_d)), sum(map(len, tags_r)))
    assert _entropy(tags_d, tokens) > _entropy(tags_r, tokens)


def test_label_balance_and_tsv_round_trip(shared_data, tmp_path):
  # Real English sentences (UD dev) in GLUE MNLI layout, labels 50/30/20 in a fixed cycle.
  sentences = [" ".join(w) for w, _ in conllu_sentences(shared_data / UD.format("dev"))]
  cycle = ["entailment"] * 5 + ["neutral"] * 3 + ["contradiction"] * 2
  header = ["index", "promptID", "pairID", "genre", "sentence1", "sentence2", "gold_label"]
  rows = ["\t".join(header)]
  for i in range(len(sentences) - 1):
    rows.append("\t".join([str(i), str(i), f"{i}e", "ud", sentences[i], sentences[i + 1], cycle[i % 10]]))
  data = tmp_path / "data"
  (data / "mnli/MNLI").mkdir(parents=True)
  (data / "mnli/MNLI/train.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
  summary = sel.select("mnli", 30, tmp_path / "out", data, "train", shared_data / UD.format("train"))
  counts = {}
  for name in ("diverse", "random"):
    examples = readers.read_glue_mnli(tmp_path / "out" / name / "mnli/MNLI/train.tsv")
    counts[name] = Counter(e.label for e in examples)
    originals = {(e.text_a, e.text_b, e.label) for e in readers.read_glue_mnli(data / "mnli/MNLI/train.tsv")}
    assert {(e.text_a, e.text_b, e.label) for e in examples} <= originals
    assert len({(e.text_a, e.text_b) for e in examples}) == 30
  # 99 rows: 50/30/19 of each hundred -> 30 * (50, 30, 19) / 99 = 15.2, 9.1, 5.8 -> 15, 9, 6.
  assert counts["diverse"] == counts["random"] == Counter(entailment=15, neutral=9, contradiction=6)
  assert summary["label_counts"] == {"contradiction": 6, "entailment": 15, "neutral": 9}


def test_quotas_by_hand():
  assert sel.quotas(["a"] * 7 + ["b"] * 3, 5) == {"a": 4, "b": 1}  # 3.5, 1.5: tie to "a"
  assert sel.quotas(["a"] * 2 + ["b"] * 2 + ["c"] * 2, 4) == {"a": 2, "b": 1, "c": 1}


def test_word_class_fallback_is_named(shared_data, tmp_path):
  summary = sel.select("squad_v1", 30, tmp_path, shared_data, "train")
  assert summary["measure"].startswith("word_class")
  assert summary["diverse"]["entropy_bits_equal_tokens"] > summary["random"]["entropy_bits_equal_tokens"]


def test_bad_requests_are_one_line_errors(shared_data, tmp_path):
  for task, size in (("squad_v1", 10_000), ("xnli", 5), ("no_such_task", 5)):
    with pytest.raises(ConfigError) as e:
      sel.select(task, size, tmp_path, shared_data, "dev" if task != "no_such_task" else "train")
    assert "\n" not in str(e.value)


def test_cli_select(shared_data, tmp_path, capsys):
  from xstilts_jax import cli

  code = cli.main(
      [
          "select",
          "--task",
          "squad_v1",
          "--size",
          "20",
          "--out",
          str(tmp_path),
          "--data-dir",
          str(shared_data),
          "--ud-train",
          str(shared_data / UD.format("train")),
          "--ud-dev",
          str(shared_data / UD.format("dev")),
      ]
  )
  assert code == 0
  summary = json.loads((tmp_path / "selection.json").read_text())
  assert summary["tagger_dev_accuracy"] > 0.8 and summary["split"] == "train"
  assert len(readers.read_squad_json(tmp_path / "random/squad_v1.1/train-v1.1.json")) == 20
  # Each subset's data dir says what it is, for the run's results.json (and so the report).
  from xstilts_jax.data.sources import data_subset

  for name in ("diverse", "random"):
    marker = data_subset(tmp_path / name)
    assert (marker["task"], marker["subset"], marker["size"]) == ("squad_v1", name, 20)
  assert data_subset(shared_data) is None
  assert (
      cli.main(["select", "--task", "xnli", "--size", "5", "--out", str(tmp_path), "--data-dir", str(shared_data)]) == 2
  )
  assert "xstilts: error: task xnli" in capsys.readouterr().err


def test_stochastic_greedy_pool_is_deterministic_and_still_diverse(shared_data, tagger):
  examples = readers.read_squad_json(shared_data / "squad_v1.1/dev-v1.1.json")
  tags = [sel.tag_sequences(sel.example_texts(e), tagger) for e in examples]
  grams = [sel.trigrams(t) for t in tags]
  labels = [None] * len(examples)
  room = {None: 40}
  small_pool = sel.diverse_subset(grams, labels, room, seed=0, pool=50)  # 50 of 810 per step
  assert small_pool == sel.diverse_subset(grams, labels, room, seed=0, pool=50)
  assert len(set(small_pool)) == 40
  exact = sel.diverse_subset(grams, labels, room, seed=0)
  rand = sel.random_subset(labels, room, seed=0)
  flat = lambda chosen: [s for i in chosen for s in tags[i]]
  tokens = min(sum(map(len, flat(c))) for c in (small_pool, exact, rand))
  assert _entropy(flat(exact), tokens) >= _entropy(flat(small_pool), tokens) - 0.2
  assert _entropy(flat(small_pool), tokens) > _entropy(flat(rand), tokens)
