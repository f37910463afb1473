"""Where examples come from: local files, the Hugging Face hub, or TFDS.

`load_examples(spec, language, split, source)` returns the examples of one task,
language and split (a RetrievalCorpus for retrieval tasks), whatever the source:

- "local": the original release files under `data_dir`, found by the spec's
  LocalSource patterns (the layout of tests/data) and read by
  xstilts_jax.data.readers.
- "hub": `datasets.load_dataset(path, config, split=...)`, turned into examples by
  `examples_from_hub_rows` (which tests feed with `datasets.Dataset.from_dict`).
- "tfds": `tfds.load(name, split=..., data_dir=tfds_data_dir, download=False)`,
  turned into examples by `examples_from_tfds`. Prepare the data first (e.g.
  `tfds build`); nothing is downloaded here.

Hub rows get the same ids as the local reader when they come in file order (row
position, or the question id for QA). TFDS stores rows in its own order, so TFDS
ids are positions in that order.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence, Union

from xstilts_jax.data import readers
from xstilts_jax.data.examples import (
    Answer,
    ClassificationExample,
    MultipleChoiceExample,
    RetrievalCorpus,
    SentenceExample,
    SpanQAExample,
    TaggingExample,
)
from xstilts_jax.errors import ConfigError, DataError
from xstilts_jax.paths import as_path, is_remote, local_copy
from xstilts_jax.tasks import registry
from xstilts_jax.tasks.spec import TaskSpec

SOURCES = ("local", "hub", "tfds")

Examples = Union[list, RetrievalCorpus]


def load_examples(
    spec: TaskSpec,
    language: str,
    split: str,
    source: str = "local",
    data_dir: Optional[Union[str, Path]] = None,
    tfds_data_dir: Optional[str] = None,
    report: Optional[readers.ReadReport] = None,
) -> Examples:
  """Examples of one task, language and split from `source` (local, hub or tfds)."""
  _check_language(spec, language)
  if source == "local":
    return _load_local(spec, language, split, data_dir, report)
  if source == "hub":
    return _load_hub(spec, language, split, report)
  if source == "tfds":
    return _load_tfds(spec, language, split, tfds_data_dir, report)
  raise ConfigError(f"unknown source '{source}' (expected one of {', '.join(SOURCES)})")


SUBSET_FILE = "xstilts_subset.json"  # written by `xstilts select` into each subset's data dir


def data_subset(data_dir: Union[str, Path]) -> Optional[dict]:
  """What `xstilts select` says `data_dir` is ({task, subset, size, measure, seed}), or None
  for a data dir that is not a selected subset."""
  import json

  path = as_path(data_dir) / SUBSET_FILE
  if not path.is_file():
    return None
  try:
    record = json.loads(path.read_text(encoding="utf-8"))
  except (json.JSONDecodeError, UnicodeDecodeError) as error:
    raise DataError(f"{path}: not valid JSON ({error})") from None
  if not isinstance(record, dict) or not all(isinstance(record.get(k), str) for k in ("task", "subset")):
    raise DataError(f"{path}: needs 'task' and 'subset' strings, got {record!r}")
  return record


def fill_pattern(pattern: str, language: str) -> str:
  """A path, config or builder pattern with {lang}, {lang3} and {lang_name} filled in."""
  return pattern.format(lang=language, lang3=registry.iso639_3(language), lang_name=registry.language_name(language))


def local_paths(spec: TaskSpec, language: str, split: str, data_dir: Union[str, Path]) -> list[Path]:
  """The existing files of a task's local split (several only for merged UD treebanks); under a
  gs:// data_dir, local copies of them (the readers read local files)."""
  if spec.local is None:
    raise ConfigError(f"task {spec.name} has no local source (use source='hub' or 'tfds')")
  pattern = fill_pattern(_split_value(spec, "local", spec.local.paths, split), language)
  root = as_path(data_dir)
  if any(c in pattern for c in "*?["):
    paths = sorted(root.glob(pattern))
  else:
    paths = [root / pattern] if (root / pattern).is_file() else []
  if not paths:
    hint = registry.MISSING_DATA_HINTS.get(spec.name)
    hint = (
        fill_pattern(hint, language)
        if hint
        else ("put the original release files there (layouts: xstilts_jax/tasks/registry.py)")
    )
    raise DataError(
        f"{root / pattern}: no such file (task {spec.name}, language {language}, " f"split {split}); {hint}"
    )
  if len(paths) > 1 and not readers.get_reader(spec.local.reader).all_files:
    raise DataError(f"{root / pattern}: {len(paths)} files match, expected one: " f"{', '.join(map(str, paths))}")
  if is_remote(root):  # a reader may open a file's siblings (Tatoeba's other side): the folder's files
    return [local_copy(p.parent, shallow=True) / p.name for p in paths]
  return paths


def _check_language(spec: TaskSpec, language: str) -> None:
  if language in spec.languages or language == spec.train_language:
    return
  raise ConfigError(f"task {spec.name} has no language '{language}' (languages: " f"{' '.join(spec.languages)})")


def _split_value(spec: TaskSpec, source: str, splits: Sequence[tuple[str, str]], split: str) -> str:
  table = dict(splits)
  if split not in table:
    raise ConfigError(
        f"task {spec.name} has no split '{split}' in its {source} source " f"(splits: {', '.join(table)})"
    )
  return table[split]


def _load_local(spec, language, split, data_dir, report) -> Examples:
  if data_dir is None:
    raise ConfigError(f"task {spec.name}: source 'local' needs a data_dir")
  return readers.get_reader(spec.local.reader)(local_paths(spec, language, split, data_dir), language, report)


def _load_hub(spec, language, split, report) -> Examples:
  if spec.hub is None:
    raise ConfigError(f"task {spec.name} has no hub source (use source='local')")
  import datasets  # pylint: disable=g-import-not-at-top

  hub_split = _split_value(spec, "hub", spec.hub.splits, split)
  config = fill_pattern(spec.hub.config, language) if spec.hub.config else None
  try:
    rows = datasets.load_dataset(spec.hub.path, config, split=hub_split)
  except (OSError, ValueError) as e:
    reason = str(e).splitlines()[0] if str(e) else type(e).__name__
    raise DataError(
        f"cannot load hub dataset {spec.hub.path} (config {config}, split {hub_split}): "
        f"{reason}. Offline, use source='local' with a data_dir, or set "
        "HF_DATASETS_OFFLINE=1 with the dataset in the Hugging Face cache"
    ) from None
  return examples_from_hub_rows(spec, rows, language, report)


def _load_tfds(spec, language, split, tfds_data_dir, report) -> Examples:
  if spec.tfds is None:
    raise ConfigError(f"task {spec.name} has no TFDS source (use source='local')")
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

  name = fill_pattern(spec.tfds.name, language)
  tfds_split = fill_pattern(_split_value(spec, "tfds", spec.tfds.splits, split), language)
  try:
    dataset = tfds.load(name, split=tfds_split, data_dir=tfds_data_dir, download=False)
  except Exception as e:  # tfds raises assorted types (AssertionError, DatasetNotFoundError)
    reason = str(e).splitlines()[0] if str(e) else type(e).__name__
    where = tfds_data_dir or "the default TFDS data_dir"
    raise DataError(
        f"cannot load TFDS {name} split {tfds_split} from {where}: {reason} "
        f"(prepare it first, e.g. `tfds build {name.split('/')[0]}`)"
    ) from None
  return examples_from_tfds(spec, tfds.as_numpy(dataset), language, report)


# ---- adapters: rows (plain dicts) -> examples -----------------------------------------

# Source label names -> ours (binary tasks use "0"/"1"; ANLI and XNLI-MT spellings).
_LABEL_ALIASES = {
    "e": "entailment",
    "n": "neutral",
    "c": "contradiction",
    "contradictory": "contradiction",
    "not_duplicate": "0",
    "duplicate": "1",
    "negative": "0",
    "positive": "1",
    "different_meaning": "0",
    "paraphrase": "1",
}
_NLI_ORDER = ("entailment", "neutral", "contradiction")  # ClassLabel order on hub and TFDS


class _Source:
  """What an adapter knows of where rows come from: a name for errors, label names."""

  def __init__(self, where: str, class_names: Callable[[str], Optional[Sequence[str]]]):
    self.where, self.class_names = where, class_names

  def error(self, index: int, what: str) -> DataError:
    return DataError(f"{self.where}: row {index}: {what}")


def _first(row: dict, columns: Union[str, Sequence[str]], source: _Source, index: int) -> Any:
  for column in (columns,) if isinstance(columns, str) else columns:
    if column in row:
      return row[column]
  raise source.error(index, f"no column {columns} (columns: {', '.join(row)})")


def _class_label(
    spec: TaskSpec, source: _Source, index: int, value: Any, names: Sequence[str], column: str
) -> Optional[str]:
  """A label name of ours from an int (ClassLabel index) or a string; -1 / None -> None."""
  if value is None or value == -1 or value == "":
    return None
  if not isinstance(value, str):
    names = source.class_names(column) or names
    if not 0 <= int(value) < len(names):
      raise source.error(index, f"label index {value} out of range for {list(names)}")
    value = names[int(value)]
  label = _LABEL_ALIASES.get(value, value)
  if label not in spec.labels:
    raise source.error(index, f"unknown label {value!r} (expected one of " f"{', '.join(spec.labels)})")
  return label


def _pairs(
    rows,
    spec,
    language,
    source,
    skips,
    *,
    a,
    b=None,
    label=("label", "gold_label"),
    names=_NLI_ORDER,
    language_column="language",
    skip_unlabeled=False,
):
  """Sentence(-pair) classification; a and b are column names or functions of (row, language)."""

  def text(row, column, i):
    return column(row, language) if callable(column) else _first(row, column, source, i)

  examples, position = [], 0
  for i, row in enumerate(rows):
    if language_column in row and row[language_column] != language:
      continue
    label_column = next((c for c in label if c in row), label[0])
    gold = _class_label(spec, source, i, row.get(label_column), names, label_column)
    position += 1
    if gold is None and skip_unlabeled:
      skips("no gold label")
      continue
    examples.append(ClassificationExample(str(position - 1), text(row, a, i), text(row, b, i) if b else None, gold))
  return examples


def _answers(value) -> list[Answer]:
  """Answers as a dict of lists (hub, TFDS) or a list of dicts."""
  if isinstance(value, dict):
    return [Answer(t, int(s)) for t, s in zip(value["text"], value["answer_start"])]
  return [Answer(a["text"], int(a["answer_start"])) for a in value]


def _spans(rows, spec, language, source, skips, *, id_prefix: Optional[Callable] = None):
  prefix = id_prefix(language) if id_prefix else ""
  examples = []
  for i, row in enumerate(rows):
    qid = str(_first(row, "id", source, i))
    if not qid.startswith(prefix):
      continue
    answers = tuple(_answers(_first(row, "answers", source, i)))
    impossible = bool(row.get("is_impossible", spec.metric == "squad_v2" and not answers))
    examples.append(
        SpanQAExample(
            qid,
            _first(row, "question", source, i),
            _first(row, "context", source, i),
            () if impossible else answers,
            impossible,
        )
    )
  return examples


def _tags(rows, spec, language, source, skips, *, tags: str, names: Sequence[str]):
  examples = []
  for i, row in enumerate(rows):
    words = list(_first(row, ("tokens", "words"), source, i))
    values = list(_first(row, tags, source, i))
    if len(values) != len(words):
      raise source.error(i, f"{len(words)} tokens but {len(values)} tags")
    labels = tuple(_class_label(spec, source, i, v, names, tags) for v in values)
    examples.append(TaggingExample(str(i), tuple(words), labels))
  return examples


def _choices(rows, spec, language, source, skips, *, context, choices, label="label"):
  examples = []
  for i, row in enumerate(rows):
    options = tuple(choices(row))
    if len(options) != spec.num_choices:
      raise source.error(i, f"expected {spec.num_choices} choices, found {len(options)}")
    value = label(row) if callable(label) else row.get(label)
    gold = readers.choice_label(source.where, f"row {i}", value, spec.num_choices)
    examples.append(MultipleChoiceExample(str(i), context(row), options, gold))
  return examples


def _commonsenseqa_label(row) -> Optional[int]:
  key = row.get("answerKey") or None
  return "ABCDE".index(key) if key in tuple("ABCDE") else key


def _copa_context(row) -> str:
  question = row["question"]
  if question not in readers.COPA_QUESTIONS:
    raise DataError(f"COPA row with unknown question {question!r} (expected cause or effect)")
  return f"{row['premise']} {readers.COPA_QUESTIONS[question]}"


def _tatoeba(rows, spec, language, source, skips):
  source_side, target_side = [], []
  for i, row in enumerate(rows):
    # The hub's and TFDS's Tatoeba rows keep each line's newline.
    source_side.append(SentenceExample(str(i), _first(row, "source_sentence", source, i).rstrip("\r\n")))
    target_side.append(SentenceExample(str(i), _first(row, "target_sentence", source, i).rstrip("\r\n")))
  ids = [s.id for s in source_side]
  return RetrievalCorpus(tuple(source_side), tuple(target_side), tuple((i, i) for i in ids))


def _xnli_tfds_text(field: str):
  """TFDS XNLI: premise is {lang: text}; hypothesis is {language: [...], translation: [...]}."""

  def text(row, language):
    value = row[field]
    if "language" in value:
      languages = list(value["language"])
      if language not in languages:
        raise DataError(f"TFDS XNLI row has no {field} in '{language}'")
      return value["translation"][languages.index(language)]
    return value[language]

  return text


_COSMOS = dict(
    context=lambda r: f"{r['context']} {r['question']}", choices=lambda r: [r[f"answer{k}"] for k in range(4)]
)
_COPA = dict(context=_copa_context, choices=lambda r: [r["choice1"], r["choice2"]])
_NLI = functools.partial(_pairs, a=("premise", "sentence1"), b=("hypothesis", "sentence2"))
_ANLI_TFDS = functools.partial(_pairs, a="context", b="hypothesis")
_SQUAD = _spans
_TYDIQA = functools.partial(_spans, id_prefix=readers.tydiqa_id_prefix)

_HUB_ADAPTERS: dict[str, Callable] = {
    "mnli": _NLI,
    "anli_r1": _NLI,
    "anli_r2": _NLI,
    "anli_r3": _NLI,
    "xnli": _NLI,
    "snli": functools.partial(_NLI, skip_unlabeled=True),
    "qqp": functools.partial(_pairs, a="question1", b="question2", names=("not_duplicate", "duplicate")),
    "sst2": functools.partial(_pairs, a="sentence", names=("negative", "positive")),
    "pawsx": functools.partial(_pairs, a="sentence1", b="sentence2", names=("0", "1")),
    "squad_v1": _SQUAD,
    "squad_v2": _SQUAD,
    "xquad": _SQUAD,
    "mlqa": _SQUAD,
    "tydiqa": _TYDIQA,
    "udpos": functools.partial(_tags, tags="pos_tags", names=registry.UPOS_TAGS),
    "panx": functools.partial(_tags, tags="ner_tags", names=registry.PANX_TAGS),
    "hellaswag": functools.partial(_choices, context=lambda r: r["ctx"], choices=lambda r: r["endings"]),
    "commonsenseqa": functools.partial(
        _choices,
        context=lambda r: r["question"],
        label=_commonsenseqa_label,
        choices=lambda r: _commonsenseqa_choices(r),
    ),
    "cosmosqa": functools.partial(_choices, **_COSMOS),
    "copa": functools.partial(_choices, **_COPA),
    "xcopa": functools.partial(_choices, **_COPA),
    "tatoeba": _tatoeba,
}

_TFDS_ADAPTERS: dict[str, Callable] = {
    "mnli": _NLI,
    "snli": functools.partial(_NLI, skip_unlabeled=True),
    "anli_r1": _ANLI_TFDS,
    "anli_r2": _ANLI_TFDS,
    "anli_r3": _ANLI_TFDS,
    "xnli": functools.partial(_pairs, a=_xnli_tfds_text("premise"), b=_xnli_tfds_text("hypothesis")),
    "translate_train_mnli": functools.partial(_pairs, a=_xnli_tfds_text("premise"), b=_xnli_tfds_text("hypothesis")),
    "qqp": _HUB_ADAPTERS["qqp"],
    "sst2": _HUB_ADAPTERS["sst2"],
    "pawsx": _HUB_ADAPTERS["pawsx"],
    "squad_v1": _SQUAD,
    "squad_v2": _SQUAD,
    "xquad": _SQUAD,
    "mlqa": _SQUAD,
    "translate_train_squad": _SQUAD,
    "tydiqa": _TYDIQA,
    "udpos": functools.partial(_tags, tags="upos", names=()),
    "panx": functools.partial(_tags, tags="tags", names=()),
    "hellaswag": functools.partial(_choices, context=lambda r: r["context"], choices=lambda r: r["endings"]),
    "cosmosqa": functools.partial(_choices, **_COSMOS),
    "copa": functools.partial(_choices, **_COPA),
    "tatoeba": _tatoeba,
}

# ClassLabel names of the TFDS builders' label columns, in their order (TFDS examples
# carry indices only). tests/test_sources.py checks them against the builders.
_ANLI_NAMES = {"label": ("e", "n", "c")}
TFDS_CLASS_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "mnli": {"label": _NLI_ORDER},
    "snli": {"label": _NLI_ORDER},
    "anli_r1": _ANLI_NAMES,
    "anli_r2": _ANLI_NAMES,
    "anli_r3": _ANLI_NAMES,
    "xnli": {"label": _NLI_ORDER},
    "translate_train_mnli": {"label": _NLI_ORDER},
    "qqp": {"label": ("not_duplicate", "duplicate")},
    "sst2": {"label": ("negative", "positive")},
    "pawsx": {"label": ("different_meaning", "paraphrase")},
    "udpos": {"upos": registry.UPOS_TAGS + ("_",)},
    "panx": {"tags": registry.PANX_TAGS},
}


def _commonsenseqa_choices(row) -> list[str]:
  choices = row["choices"]
  if list(choices["label"]) != list("ABCDE"):
    raise DataError(f"CommonsenseQA row {row.get('id')}: choices labelled {choices['label']}, " "expected A-E")
  return list(choices["text"])


def _adapt(
    table: dict,
    spec: TaskSpec,
    rows: Iterable[dict],
    language: str,
    source: _Source,
    report: Optional[readers.ReadReport],
) -> Examples:
  adapter = table.get(spec.name)
  if adapter is None:
    raise ConfigError(f"no {source.where.split(' ')[0]} adapter for task {spec.name}")
  skips = readers.SkipCounter(source.where, report)
  examples = adapter(rows, spec, language, source, skips)
  skips.done()
  return examples


def examples_from_hub_rows(
    spec: TaskSpec, rows: Iterable[dict], language: str, report: Optional[readers.ReadReport] = None
) -> Examples:
  """Examples from Hugging Face hub rows (a datasets.Dataset or a list of dicts).

  ClassLabel columns may hold ints (names from the Dataset's features, else the hub's
  documented order) or strings.
  """
  features = getattr(rows, "features", None) or {}

  def class_names(column):
    feature = features.get(column)
    feature = getattr(feature, "feature", feature)  # Sequence(ClassLabel) -> ClassLabel
    return getattr(feature, "names", None)

  where = f"hub {spec.hub.path if spec.hub else spec.name}"
  return _adapt(_HUB_ADAPTERS, spec, rows, language, _Source(where, class_names), report)


def _decode(value: Any) -> Any:
  """TFDS numpy values -> plain Python: bytes -> str, arrays -> lists, numpy scalars -> int."""
  if isinstance(value, bytes):
    return value.decode("utf-8")
  if isinstance(value, dict):
    return {k: _decode(v) for k, v in value.items()}
  if hasattr(value, "tolist"):
    return _decode(value.tolist())
  if isinstance(value, list):
    return [_decode(v) for v in value]
  return value


def examples_from_tfds(
    spec: TaskSpec, tf_examples: Iterable[dict], language: str, report: Optional[readers.ReadReport] = None
) -> Examples:
  """Examples from TFDS examples as numpy dicts (`tfds.as_numpy(dataset)`)."""
  where = f"tfds {fill_pattern(spec.tfds.name, language) if spec.tfds else spec.name}"
  rows = (_decode(row) for row in tf_examples)
  names = TFDS_CLASS_NAMES.get(spec.name, {})
  return _adapt(_TFDS_ADAPTERS, spec, rows, language, _Source(where, names.get), report)
