"""Registry sanity: languages, metrics, groups, lookup, sources that name real things."""

import csv
import dataclasses
import inspect
import string

import pytest

from xstilts_jax.data import readers
from xstilts_jax.errors import ConfigError
from xstilts_jax.tasks import (
    INTERMEDIATE_TASKS,
    TARGET_TASKS,
    TASK_GROUPS,
    TASKS,
    TaskSpec,
    expand_tasks,
    get_task,
    iso639_3,
    registry,
)
from xstilts_jax.tasks.spec import FORMATS

# The metric keys the evaluation package implements (from the brief, not the registry).
ALLOWED_METRICS = {
    "accuracy",
    "accuracy_f1",
    "seqeval_f1",
    "squad_v1",
    "squad_v2",
    "mlqa",
    "bucc_f1",
    "tatoeba_accuracy",
    "token_accuracy",
    "mlm_accuracy",
    "lareqa_map",
    "mewslix_map",
}
# Task names in languages.csv (`bucc` there) -> ours.
CSV_TASK = {
    "xnli": "xnli",
    "pawsx": "pawsx",
    "udpos": "udpos",
    "panx": "panx",
    "xquad": "xquad",
    "mlqa": "mlqa",
    "tydiqa": "tydiqa",
    "bucc": "bucc2018",
    "tatoeba": "tatoeba",
}


def _csv_languages(shared_data, column):
  with open(shared_data / "languages.csv", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
  by_task = {}
  for row in rows:
    for task in row[column].split():
      by_task.setdefault(task, set()).add(row["iso639_1"])
  return by_task


def test_xtreme_targets_have_xtreme_languages(shared_data):
  by_task = _csv_languages(shared_data, "xtreme_tasks")
  for csv_name, task in CSV_TASK.items():
    expected = by_task[csv_name]
    if task in ("bucc2018", "tatoeba"):
      expected = expected - {"en"}  # English is the other side of every pair
    assert set(TASKS[task].languages) == expected, task
  assert len(TASKS["panx"].languages) == 40 and len(TASKS["udpos"].languages) == 33


def test_xcopa_has_xtreme_r_languages(shared_data):
  assert set(TASKS["xcopa"].languages) == _csv_languages(shared_data, "xtreme_r_tasks")["xcopa"]


def test_every_spec_is_consistent():
  for name, spec in TASKS.items():
    assert spec.name == name
    assert spec.format in FORMATS, name
    assert spec.metric in ALLOWED_METRICS, name
    assert spec.languages and len(set(spec.languages)) == len(spec.languages), name
    assert spec.category in ("", "classification", "structured", "qa", "retrieval"), name
    if spec.format == "classification":
      assert spec.labels, name
    if spec.format == "multiple_choice":
      assert spec.num_choices >= 2 and spec.num_labels == spec.num_choices, name
    if spec.train_task is not None:
      assert spec.train_task in TASKS, name
      assert TASKS[spec.train_task].format == spec.format, name
    assert spec.hub or spec.tfds or spec.local, name


def test_targets_and_intermediates():
  for name in TARGET_TASKS:
    assert TASKS[name].category, name
  for name in INTERMEDIATE_TASKS:
    assert TASKS[name].languages == ("en",) and not TASKS[name].category, name
  assert TASKS["xnli"].train_task == "mnli"
  assert TASKS["xquad"].train_task == "squad_v1" and TASKS["xquad"].eval_splits == ("test",)
  assert TASKS["mlqa"].train_task == "squad_v1"
  assert TASKS["xcopa"].train_task == "copa"
  for name in ("pawsx", "udpos", "panx", "tydiqa"):
    assert TASKS[name].train_task is None and "train" in dict(TASKS[name].local.paths), name
  assert TASKS["ccg"].local is not None and TASKS["ccg"].hub is None and TASKS["ccg"].tfds is None


def test_nli_tasks_share_one_head_and_label_order():
  nli = [TASKS[t] for t in TASK_GROUPS["anli_plus"]]
  assert {s.head_name for s in nli} == {"nli"}
  assert {s.labels for s in nli} == {("contradiction", "entailment", "neutral")}
  assert TASKS["xnli"].labels == nli[0].labels


def test_groups_resolve():
  assert set(TASK_GROUPS["anli_plus"]) == {"snli", "mnli", "anli_r1", "anli_r2", "anli_r3"}
  assert set(TASK_GROUPS["anli_plus"]) <= set(TASK_GROUPS["all_intermediate"])
  for group, members in TASK_GROUPS.items():
    assert expand_tasks(group) == members
    assert all(m in INTERMEDIATE_TASKS for m in members), group
  assert "ccg" not in TASK_GROUPS["all_intermediate_public"]
  assert expand_tasks("xnli") == ("xnli",)
  with pytest.raises(ConfigError, match="anli_plus"):
    expand_tasks("anli_pluss")


def test_get_task_overrides_languages_and_rejects_unknown_names():
  spec = get_task("xnli", languages=["de", "sw"])
  assert isinstance(spec, TaskSpec) and spec.languages == ("de", "sw")
  assert TASKS["xnli"].languages[0] == "ar"  # the registry entry is unchanged
  assert get_task("xnli") is TASKS["xnli"]
  assert dataclasses.replace(spec, languages=TASKS["xnli"].languages) == TASKS["xnli"]
  with pytest.raises(ConfigError, match="did you mean xnli"):
    get_task("xnil")
  with pytest.raises(ConfigError, match="unknown task 'zzz'"):
    get_task("zzz")
  with pytest.raises(ConfigError):
    get_task("xnli", languages="de")
  with pytest.raises(ConfigError):
    get_task("xnli", languages=[])


def test_iso639_3_matches_tatoeba_file_names(shared_data):
  files = {p.suffix[1:] for p in (shared_data / "tatoeba").glob("tatoeba.*-eng.*")} - {"eng"}
  ours = {iso639_3(l) for l in TASKS["tatoeba"].languages}
  assert files <= ours and len(files) == 16
  assert all(len(iso639_3(l)) == 3 for l in TASKS["tatoeba"].languages)
  assert (iso639_3("zh"), iso639_3("fa"), iso639_3("sw")) == ("cmn", "pes", "swh")
  assert iso639_3("xx") == "xx"  # synthetic languages keep their code


def test_local_sources_name_readers_and_known_placeholders():
  fields = {"lang", "lang3", "lang_name"}
  for name, spec in TASKS.items():
    if spec.local:
      reader = getattr(readers, spec.local.reader)
      assert "report" in inspect.signature(reader).parameters, name
      assert set(dict(spec.local.paths)) <= {"train", "dev", "test"}, name
      for _, pattern in spec.local.paths:
        used = {f for _, f, _, _ in string.Formatter().parse(pattern) if f}
        assert used <= fields, (name, pattern)
      for split in spec.eval_splits:
        assert split in dict(spec.local.paths), (name, split)
    for source in (spec.hub, spec.tfds):
      if source:
        assert {ours for ours, _ in source.splits} <= {"train", "dev", "test"}, name


def test_hub_udpos_configs_use_google_xtreme_language_names():
  # The `udpos.<Name>` configs of google/xtreme (its loading script's _UD_POS_LANG).
  hub_names = set(
      "Afrikaans Arabic Basque Bulgarian Dutch English Estonian Finnish French German Greek "
      "Hebrew Hindi Hungarian Indonesian Italian Japanese Kazakh Korean Chinese Marathi Persian "
      "Portuguese Russian Spanish Tagalog Tamil Telugu Thai Turkish Urdu Vietnamese Yoruba".split()
  )
  from xstilts_jax.data.sources import fill_pattern

  spec = TASKS["udpos"]
  configs = {fill_pattern(spec.hub.config, l) for l in spec.languages}
  assert configs == {f"udpos.{name}" for name in hub_names}


# ---- XTREME-R -------------------------------------------------------------------------


def test_xtreme_r_language_sets_match_languages_csv(shared_data):
  by_task = _csv_languages(shared_data, "xtreme_r_tasks")
  expected_tasks = {"xnli", "xcopa", "udpos", "panx", "xquad", "mlqa", "tydiqa", "tatoeba", "mewslix", "lareqa"}
  assert set(registry.benchmark_tasks("xtreme-r")) == expected_tasks
  assert set(by_task) == expected_tasks
  for task in expected_tasks:
    expected = by_task[task] - ({"en"} if task == "tatoeba" else set())
    ours = get_task(task, benchmark="xtreme-r").languages
    assert set(ours) == expected and len(ours) == len(expected), task
  # The counts XTREME-R's evaluate.py lists (its XTREME_R_TASK2LANGS).
  counts = {t: len(get_task(t, benchmark="xtreme-r").languages) for t in expected_tasks}
  assert counts == {
      "xnli": 15,
      "xcopa": 11,
      "udpos": 38,
      "panx": 48,
      "xquad": 12,
      "mlqa": 7,
      "tydiqa": 9,
      "tatoeba": 41,
      "mewslix": 11,
      "lareqa": 11,
  }
  # The 50 languages of XTREME-R.
  union = set().union(*(get_task(t, benchmark="xtreme-r").languages for t in expected_tasks))
  assert len(union) == 50
  # XTREME keeps its own sets; the registry entries are XTREME's.
  assert registry.benchmark_tasks("xtreme") == TARGET_TASKS[:9]
  for task in registry.benchmark_tasks("xtreme"):
    assert get_task(task, benchmark="xtreme") is TASKS[task]
  assert len(TASKS["udpos"].languages) == 33 and len(TASKS["panx"].languages) == 40
  with pytest.raises(ConfigError, match="unknown benchmark 'xtreme-rr'"):
    get_task("udpos", benchmark="xtreme-rr")
  with pytest.raises(ConfigError, match="not both"):
    get_task("udpos", languages=["de"], benchmark="xtreme-r")


def test_xcopa_recipes():
  assert registry.train_recipe("xcopa") == ("copa",)
  assert registry.train_recipe("xcopa", "xtreme-r") == ("siqa", "copa")
  assert registry.train_recipe("xcopa", recipe="copa") == ("copa",)
  assert registry.train_recipe("xnli", "xtreme-r") == ("mnli",)
  assert registry.train_recipe("udpos", "xtreme-r") == ("udpos",)
  with pytest.raises(ConfigError, match="siqa_copa"):
    registry.train_recipe("xcopa", recipe="siqa")
  siqa = TASKS["siqa"]
  assert siqa.format == "multiple_choice" and siqa.num_choices == 3 and "siqa" in INTERMEDIATE_TASKS


def test_retrieval_tasks_load_through_the_registry(shared_data):
  from xstilts_jax.data.sources import load_examples

  spec = get_task("lareqa")
  assert spec.format == "retrieval_qa" and spec.category == "retrieval"
  pools = {l: load_examples(spec, l, "test", "local", shared_data) for l in ("de", "th")}
  for lang, pool in pools.items():
    assert len(pool.questions) == 135 and {q.language for q in pool.questions} == {lang}
    assert len(pool.candidates) == len(pools["de"].candidates)  # one shared pool
    assert all(len(g) == 11 for g in pool.gold)
  assert TASKS["mewslix"].train_task == "mewslix_wikipedia"
  assert TASKS["mewslix"].format == TASKS["mewslix_wikipedia"].format == "entity_retrieval"
