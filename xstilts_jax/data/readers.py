"""Readers for the original release formats, one per format: path -> examples.

Every reader takes the file path first and returns a list of examples (a
RetrievalCorpus for BUCC and Tatoeba). Readers are registered by `@register` in READERS,
where task specs find them by name and every caller uses one signature,
`get_reader(name)(paths, language, report)`. Problems raise DataError as
`path:line: what is wrong` (malformed rows, unknown labels, empty or missing files).

Rows skipped for a legitimate reason (an SNLI pair without a gold label, a UD
sentence whose word forms are withheld) are counted: each reader logs one warning
per file and, when given a `ReadReport`, adds its counts there.

Example ids are the dataset's own question ids for QA and sentence ids for BUCC;
elsewhere the 0-based position of the row in its file (after a language filter),
skipped rows included, so a hub split read in the same order gets the same ids.
UD sentences are numbered across the merged treebanks, kept sentences only.
JSON errors name a location (`data[0].paragraphs[3].qas[1]`) instead of a line.
"""

from __future__ import annotations

import collections
import csv
import dataclasses
import json
import logging
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence, Union

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
from xstilts_jax.tasks import registry

logger = logging.getLogger(__name__)

PathLike = Union[str, Path]

ANLI_LABELS = {"e": "entailment", "n": "neutral", "c": "contradiction"}
# COPA asks for the cause or the effect of the premise; the question joins the context.
COPA_QUESTIONS = {"cause": "What was the cause of this?", "effect": "What happened as a result?"}


@dataclasses.dataclass(frozen=True)
class Reader:
  """A registered reader of one original format, called with one signature by every caller:
  `reader(paths, language, report)`.

  all_files: the reader takes every file a task's pattern matches (a language's UD
  treebanks); else exactly one. by_language: the file holds several languages and the
  reader keeps `language`'s rows (XNLI, TyDiQA-GoldP, XQuAD-R, Mewsli-X).
  """

  name: str
  function: Callable[..., Any]
  all_files: bool = False
  by_language: bool = False

  def __call__(self, paths: Sequence[PathLike], language: Optional[str] = None, report: Optional["ReadReport"] = None):
    paths = [Path(p) for p in paths]
    if not self.all_files and len(paths) != 1:
      raise DataError(f"{', '.join(map(str, paths)) or 'no file'}: {self.name} reads exactly one file")
    source = paths if self.all_files else paths[0]
    if self.by_language:
      return self.function(source, language, report=report)
    return self.function(source, report=report)


READERS: dict[str, Reader] = {}


def register(*, all_files: bool = False, by_language: bool = False) -> Callable:
  """Adds the decorated function to READERS under its own name."""

  def add(function: Callable) -> Callable:
    READERS[function.__name__] = Reader(function.__name__, function, all_files, by_language)
    return function

  return add


def get_reader(name: str) -> Reader:
  """The registered reader `name` (a task spec's LocalSource.reader)."""
  if name not in READERS:
    raise ConfigError(f"no reader '{name}' in xstilts_jax.data.readers " f"(registered: {', '.join(sorted(READERS))})")
  return READERS[name]


@dataclasses.dataclass
class ReadReport:
  """Rows skipped for a legitimate reason, counted by reason (summed over files, each file
  once however often it is read)."""

  skipped: collections.Counter = dataclasses.field(default_factory=collections.Counter)
  files: set = dataclasses.field(default_factory=set)

  @property
  def total_skipped(self) -> int:
    return sum(self.skipped.values())


class SkipCounter:
  """Counts one file's skipped rows; `done` logs them and adds them to the report."""

  def __init__(self, path: PathLike, report: Optional[ReadReport]):
    self.path, self.report, self.counts = path, report, collections.Counter()

  def __call__(self, reason: str) -> None:
    self.counts[reason] += 1

  def done(self) -> None:
    if self.counts:
      logger.warning("%s: skipped %d rows: %s", self.path, sum(self.counts.values()), dict(self.counts))
      if self.report is not None and str(self.path) not in self.report.files:
        self.report.files.add(str(self.path))
        self.report.skipped.update(self.counts)


# ---- file access ------------------------------------------------------------


def _error(path: PathLike, where: Union[int, str, None], what: str) -> DataError:
  """`path:where: what`; where is a line number, or a JSON location such as data[0]."""
  return DataError(f"{path}:{where}: {what}" if where else f"{path}: {what}")


def _read_text(path: PathLike) -> str:
  path = Path(path)
  if not path.is_file():
    raise _error(path, None, "file not found")
  try:
    text = path.read_bytes().decode("utf-8-sig")
  except UnicodeDecodeError as e:
    line = path.read_bytes()[: e.start].count(b"\n") + 1
    raise _error(path, line, f"not valid UTF-8 ({e.reason})") from None
  if not text.strip():
    raise _error(path, None, "file is empty")
  return text


def _lines(path: PathLike) -> list[tuple[int, str]]:
  """(1-based line number, line) pairs. Splits on \\n only: texts may hold \\x85 or \\u2028."""
  lines = _read_text(path).split("\n")
  if lines[-1] == "":
    lines.pop()  # the final newline (some files lack it)
  return [(i, line[:-1] if line.endswith("\r") else line) for i, line in enumerate(lines, 1)]


def _tsv(path: PathLike) -> tuple[list[str], list[tuple[int, list[str]]]]:
  """Header and (line number, fields) rows of a TSV without quoting (GLUE, XNLI, PAWS-X).

  Blank lines are not rows and are passed over.
  """
  lines = [(n, line) for n, line in _lines(path) if line.strip()]
  header = lines[0][1].split("\t")
  rows = []
  for line_no, line in lines[1:]:
    fields = line.split("\t")
    if len(fields) != len(header):
      raise _error(path, line_no, f"expected {len(header)} tab-separated fields, found {len(fields)}")
    rows.append((line_no, fields))
  if not rows:
    raise _error(path, None, "no data rows after the header")
  return header, rows


def _columns(path: PathLike, header: Sequence[str], required: Sequence[str]) -> None:
  missing = [c for c in required if c not in header]
  if missing:
    raise _error(path, 1, f"missing column(s) {', '.join(missing)} in header {list(header)}")


def _jsonl(path: PathLike) -> list[tuple[int, Any]]:
  records = []
  for line_no, line in _lines(path):
    if not line.strip():
      continue
    try:
      records.append((line_no, json.loads(line)))
    except json.JSONDecodeError as e:
      raise _error(path, line_no, f"invalid JSON ({e.msg})") from None
  return records


def _json(path: PathLike) -> Any:
  try:
    return json.loads(_read_text(path))
  except json.JSONDecodeError as e:
    raise _error(path, e.lineno, f"invalid JSON ({e.msg})") from None


def _field(path: PathLike, where: Union[int, str, None], record: Any, key: str) -> Any:
  if not isinstance(record, dict) or key not in record:
    raise _error(path, where, f"missing field '{key}'")
  return record[key]


def _typed(path: PathLike, where: Union[int, str, None], record: Any, key: str, kind: type) -> Any:
  """`record[key]`, which must be of type `kind` (a list, a str...)."""
  value = _field(path, where, record, key)
  if not isinstance(value, kind) or isinstance(value, bool):
    names = {list: "a list", str: "a string", dict: "an object", int: "an integer"}
    raise _error(
        path,
        where,
        f"'{key}' is {type(value).__name__} {str(value)[:40]!r}, expected " f"{names.get(kind, kind.__name__)}",
    )
  return value


def _check_label(path: PathLike, where: Union[int, str, None], label: Any, labels: Sequence[str]) -> str:
  if label not in labels:
    raise _error(path, where, f"unknown label {label!r} (expected one of {', '.join(labels)})")
  return label


# ---- sentence(-pair) classification ----------------------------------------


@register(by_language=True)
def read_xnli(path: PathLike, language: str, *, report: Optional[ReadReport] = None) -> list[ClassificationExample]:
  """XNLI-1.0 `xnli.{dev,test}.tsv` or `.jsonl` (all languages in one file), rows of `language`."""
  if Path(path).suffix == ".jsonl":
    rows = _jsonl(path)
  else:
    header, fields = _tsv(path)
    _columns(path, header, ("language", "gold_label", "sentence1", "sentence2"))
    rows = [(n, dict(zip(header, f))) for n, f in fields]
  examples, seen = [], set()
  for line_no, row in rows:
    row_language = _field(path, line_no, row, "language")
    seen.add(row_language)
    if row_language != language:
      continue
    label = _check_label(path, line_no, _field(path, line_no, row, "gold_label"), registry.NLI_LABELS)
    examples.append(
        ClassificationExample(
            str(len(examples)), _field(path, line_no, row, "sentence1"), _field(path, line_no, row, "sentence2"), label
        )
    )
  if not examples:
    raise _error(path, None, f"no rows for language '{language}' (found: " f"{', '.join(sorted(seen))})")
  return examples


@register()
def read_xnli_mt(path: PathLike, *, report: Optional[ReadReport] = None) -> list[ClassificationExample]:
  """XNLI-MT-1.0 `multinli.train.{lang}.tsv` (premise, hypo, label; 'contradictory')."""
  header, rows = _tsv(path)
  _columns(path, header, ("premise", "hypo", "label"))
  examples = []
  for i, (line_no, fields) in enumerate(rows):
    row = dict(zip(header, fields))
    label = "contradiction" if row["label"] == "contradictory" else row["label"]
    examples.append(
        ClassificationExample(
            str(i), row["premise"], row["hypo"], _check_label(path, line_no, label, registry.NLI_LABELS)
        )
    )
  return examples


@register()
def read_pawsx(path: PathLike, *, report: Optional[ReadReport] = None) -> list[ClassificationExample]:
  """PAWS-X / PAWS-Wiki TSV with header id, sentence1, sentence2, label (0/1)."""
  header, rows = _tsv(path)
  _columns(path, header, ("sentence1", "sentence2", "label"))
  examples = []
  for i, (line_no, fields) in enumerate(rows):
    row = dict(zip(header, fields))
    examples.append(
        ClassificationExample(
            str(i),
            row["sentence1"],
            row["sentence2"],
            _check_label(path, line_no, row["label"], registry.BINARY_LABELS),
        )
    )
  return examples


def _read_glue(
    path: PathLike, text_a: str, text_b: Optional[str], label: str, labels: Sequence[str], report: Optional[ReadReport]
) -> list[ClassificationExample]:
  """A GLUE TSV; test files have no label column and give label None."""
  header, rows = _tsv(path)
  _columns(path, header, [text_a] + ([text_b] if text_b else []))
  has_labels = label in header
  skips, examples = SkipCounter(path, report), []
  for i, (line_no, fields) in enumerate(rows):
    row = dict(zip(header, fields))
    gold = row[label] if has_labels else None
    if gold == "-":
      skips("no gold label ('-')")
      continue
    if gold is not None:
      _check_label(path, line_no, gold, labels)
    examples.append(ClassificationExample(str(i), row[text_a], row[text_b] if text_b else None, gold))
  skips.done()
  return examples


@register()
def read_glue_mnli(path: PathLike, *, report: Optional[ReadReport] = None) -> list[ClassificationExample]:
  """GLUE MNLI TSV (sentence1, sentence2, gold_label)."""
  return _read_glue(path, "sentence1", "sentence2", "gold_label", registry.NLI_LABELS, report)


@register()
def read_glue_qqp(path: PathLike, *, report: Optional[ReadReport] = None) -> list[ClassificationExample]:
  """GLUE QQP TSV (question1, question2, is_duplicate)."""
  return _read_glue(path, "question1", "question2", "is_duplicate", registry.BINARY_LABELS, report)


@register()
def read_glue_sst2(path: PathLike, *, report: Optional[ReadReport] = None) -> list[ClassificationExample]:
  """GLUE SST-2 TSV (sentence, label)."""
  return _read_glue(path, "sentence", None, "label", registry.BINARY_LABELS, report)


@register()
def read_snli(path: PathLike, *, report: Optional[ReadReport] = None) -> list[ClassificationExample]:
  """SNLI 1.0 jsonl (sentence1, sentence2, gold_label); '-' (no consensus) is skipped."""
  skips, examples = SkipCounter(path, report), []
  for i, (line_no, row) in enumerate(_jsonl(path)):
    label = _field(path, line_no, row, "gold_label")
    if label == "-":
      skips("no gold label ('-')")
      continue
    examples.append(
        ClassificationExample(
            str(i),
            _field(path, line_no, row, "sentence1"),
            _field(path, line_no, row, "sentence2"),
            _check_label(path, line_no, label, registry.NLI_LABELS),
        )
    )
  skips.done()
  return examples


@register()
def read_anli(path: PathLike, *, report: Optional[ReadReport] = None) -> list[ClassificationExample]:
  """ANLI jsonl (context, hypothesis, label e/n/c -> entailment/neutral/contradiction)."""
  examples = []
  for i, (line_no, row) in enumerate(_jsonl(path)):
    label = _check_label(path, line_no, _field(path, line_no, row, "label"), tuple(ANLI_LABELS))
    examples.append(
        ClassificationExample(
            str(i), _field(path, line_no, row, "context"), _field(path, line_no, row, "hypothesis"), ANLI_LABELS[label]
        )
    )
  return examples


# ---- multiple choice ----------------------------------------------------------


def choice_label(path: PathLike, where: Union[int, str, None], value: Any, num_choices: int) -> Optional[int]:
  """An int label in [0, num_choices) from an int or digit string; None, "" and -1 mean
  'no label' (test sets)."""
  if value is None or value in ("", -1, "-1"):
    return None
  if isinstance(value, str) and value.strip().isdigit():
    value = int(value)
  if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < num_choices:
    raise _error(path, where, f"unknown label {value!r} (expected 0..{num_choices - 1})")
  return int(value)


@register()
def read_hellaswag(path: PathLike, *, report: Optional[ReadReport] = None) -> list[MultipleChoiceExample]:
  """HellaSwag jsonl: context = ctx, choices = endings (4), label (absent in test)."""
  examples = []
  for i, (line_no, row) in enumerate(_jsonl(path)):
    endings = _field(path, line_no, row, "endings")
    if not isinstance(endings, list) or len(endings) != 4:
      raise _error(path, line_no, f"expected 4 endings, found {endings!r}")
    examples.append(
        MultipleChoiceExample(
            str(i), _field(path, line_no, row, "ctx"), tuple(endings), choice_label(path, line_no, row.get("label"), 4)
        )
    )
  return examples


@register()
def read_commonsenseqa(path: PathLike, *, report: Optional[ReadReport] = None) -> list[MultipleChoiceExample]:
  """CommonsenseQA jsonl: question.stem, question.choices (A-E), answerKey (absent in test)."""
  examples = []
  for i, (line_no, row) in enumerate(_jsonl(path)):
    question = _field(path, line_no, row, "question")
    choices = _field(path, line_no, question, "choices")
    keys = [_field(path, line_no, c, "label") for c in choices]
    if keys != list("ABCDE"):
      raise _error(path, line_no, f"expected choices labelled A-E, found {keys}")
    key = row.get("answerKey")
    label = keys.index(_check_label(path, line_no, key, keys)) if key else None
    examples.append(
        MultipleChoiceExample(
            str(i),
            _field(path, line_no, question, "stem"),
            tuple(_field(path, line_no, c, "text") for c in choices),
            label,
        )
    )
  return examples


@register()
def read_cosmosqa(path: PathLike, *, report: Optional[ReadReport] = None) -> list[MultipleChoiceExample]:
  """Cosmos QA csv (train/valid) or jsonl (test): context = 'context question', answer0..3."""
  columns = ("context", "question", "answer0", "answer1", "answer2", "answer3")
  if Path(path).suffix == ".jsonl":
    records = _jsonl(path)
  else:
    reader = csv.DictReader(_csv_lines(_read_text(path)))
    try:
      records = [(reader.line_num, row) for row in reader]
    except csv.Error as e:
      raise _error(path, reader.line_num, f"malformed CSV ({e})") from None
    _columns(path, reader.fieldnames or [], columns)
  examples = []
  for i, (line_no, row) in enumerate(records):
    if None in row or any(row.get(c) is None for c in columns):
      raise _error(path, line_no, "row has a different number of fields than the header")
    for column in columns:
      _field(path, line_no, row, column)
    examples.append(
        MultipleChoiceExample(
            str(i),
            f"{row['context']} {row['question']}",
            tuple(row[f"answer{k}"] for k in range(4)),
            choice_label(path, line_no, row.get("label"), 4),
        )
    )
  if not examples:
    raise _error(path, None, "no data rows")
  return examples


def _csv_lines(text: str) -> Iterator[str]:
  """Lines for csv.reader, split on \\n only (quoted fields may hold other line breaks)."""
  for line in text.split("\n"):
    yield line + "\n"  # csv.reader skips the empty last line


@register()
def read_copa(path: PathLike, *, report: Optional[ReadReport] = None) -> list[MultipleChoiceExample]:
  """COPA / XCOPA jsonl (premise, choice1, choice2, question cause|effect, label 0/1).

  The context is the premise followed by the question as a sentence
  ("What was the cause of this?" / "What happened as a result?").
  """
  examples = []
  for i, (line_no, row) in enumerate(_jsonl(path)):
    question = _field(path, line_no, row, "question")
    if question not in COPA_QUESTIONS:
      raise _error(path, line_no, f"unknown question {question!r} (expected cause or effect)")
    examples.append(
        MultipleChoiceExample(
            str(i),
            f"{_field(path, line_no, row, 'premise')} {COPA_QUESTIONS[question]}",
            (_field(path, line_no, row, "choice1"), _field(path, line_no, row, "choice2")),
            choice_label(path, line_no, row.get("label"), 2),
        )
    )
  return examples


# ---- span QA ------------------------------------------------------------------


@register()
def read_squad_json(path: PathLike, *, id_prefix: str = "", report: Optional[ReadReport] = None) -> list[SpanQAExample]:
  """SQuAD-style JSON: SQuAD v1.1/v2.0, XQuAD, MLQA, TyDiQA-GoldP, XTREME translations.

  v2.0 questions with `is_impossible` get no answers (`plausible_answers` are not
  kept). Only questions whose id starts with `id_prefix` are read.
  """
  data = _json(path)
  articles = data.get("data") if isinstance(data, dict) else None
  if not isinstance(articles, list):
    raise _error(path, None, "expected a JSON object with a 'data' list of articles")
  examples = []
  for a, article in enumerate(articles):
    for p, paragraph in enumerate(_typed(path, f"data[{a}]", article, "paragraphs", list)):
      where = f"data[{a}].paragraphs[{p}]"
      context = _typed(path, where, paragraph, "context", str)
      for q, qa in enumerate(_typed(path, where, paragraph, "qas", list)):
        qid = str(_field(path, f"{where}.qas[{q}]", qa, "id"))
        if not qid.startswith(id_prefix):
          continue
        impossible = bool(qa.get("is_impossible", False))
        answers = []
        for i, answer in enumerate([] if impossible else _typed(path, f"{where}.qas[{q}]", qa, "answers", list)):
          if not isinstance(answer, dict):
            raise _error(
                path,
                f"{where}.qas[{q}].answers[{i}]",
                f"question {qid}: an answer is "
                f"{type(answer).__name__}, expected an object with text and answer_start",
            )
          start, text = answer.get("answer_start"), answer.get("text")
          if not isinstance(start, int) or not isinstance(text, str):
            raise _error(
                path, f"{where}.qas[{q}]", f"question {qid}: an answer lacks text " "or an integer answer_start"
            )
          if not 0 <= start <= len(context) - len(text):
            raise _error(
                path,
                f"{where}.qas[{q}]",
                f"question {qid}: answer_start {start} " f"is outside the context ({len(context)} characters)",
            )
          answers.append(Answer(text, start))
        examples.append(
            SpanQAExample(
                qid, _typed(path, f"{where}.qas[{q}]", qa, "question", str), context, tuple(answers), impossible
            )
        )
  if not examples:
    what = f"with id prefix '{id_prefix}'" if id_prefix else "in the file"
    raise _error(path, None, f"no questions {what}")
  return examples


def tydiqa_id_prefix(language: str) -> str:
  """TyDiQA ids start with the language's English name: 'english-...', 'arabic-...'."""
  return registry.language_name(language).lower() + "-"


@register(by_language=True)
def read_tydiqa_goldp(path: PathLike, language: str, *, report: Optional[ReadReport] = None) -> list[SpanQAExample]:
  """TyDiQA-GoldP v1.1 JSON (all languages in one file), questions of `language`."""
  return read_squad_json(path, id_prefix=tydiqa_id_prefix(language), report=report)


# ---- tagging --------------------------------------------------------------------


# XTREME's UD conversion (its download script runs ud-conversion-tools' conllu_to_conll.py
# with --replace_subtokens_with_fused_forms) picks the word that stands for a multiword
# token by these UPOS rankings, chosen by the language prefix of the file name.
_UD_HEAD_PRECEDENCE = {
    "default": (
        "VERB",
        "NOUN",
        "PROPN",
        "PRON",
        "ADJ",
        "NUM",
        "ADV",
        "INTJ",
        "AUX",
        "ADP",
        "DET",
        "PART",
        "CCONJ",
        "SCONJ",
        "X",
        "PUNCT",
    ),
    "es": ("VERB", "AUX", "PRON", "ADP", "DET"),
    "fr": ("VERB", "AUX", "PRON", "NOUN", "ADJ", "ADV", "ADP", "DET", "PART", "SCONJ", "CONJ"),
    "it": ("VERB", "AUX", "ADV", "PRON", "ADP", "DET", "INTJ"),
}


@dataclasses.dataclass
class _UdToken:
  """One syntactic word of a CoNLL-U sentence (an integer ID line)."""

  line_no: int
  form: str
  upos: str
  parents: frozenset  # HEAD and the heads in DEPS that are integers, as XTREME's graph has them


def _ud_span_head(tokens: dict, span: range, precedence: Sequence[str]) -> tuple[int, bool]:
  """(the ID that stands for a multiword token, whether a UPOS outside `precedence` was ranked).

  As XTREME's converter: the word with the fewest ancestors in the sentence graph (HEAD and
  DEPS edges); among several, the first of best UPOS rank. A UPOS missing from the ranking
  stops XTREME's converter (its treebank is then missing from XTREME's data); here it ranks
  after every listed one.
  """

  def ancestors(i: int) -> int:
    seen, todo = set(), list(tokens[i].parents)
    while todo:
      j = todo.pop()
      if j not in seen:
        seen.add(j)
        todo.extend(tokens[j].parents if j in tokens else ())
    return len(seen)

  depth = {i: ancestors(i) for i in span}
  top = [i for i in span if depth[i] == min(depth.values())]
  if len(top) == 1:
    return top[0], False
  rank = {tag: r for r, tag in enumerate(precedence)}
  best = min(top, key=lambda i: rank.get(tokens[i].upos, len(precedence)))  # first on ties
  return best, any(tokens[i].upos not in rank for i in top)


def _xtreme_ud_form(form: str) -> str:
  """A form as XTREME writes it: outer whitespace, spaces and U+200C removed."""
  return "".join(form.strip().replace("\u200c", "").split(" "))


@register(all_files=True)
def read_conllu(
    paths: Union[PathLike, Sequence[PathLike]], *, report: Optional[ReadReport] = None
) -> list[TaggingExample]:
  """CoNLL-U files (one language's treebanks, merged in the order given): FORM and UPOS,
  converted exactly as XTREME builds its UD-POS data.

  - A multiword token (`1-2 im` over `1 in`, `2 dem`) is ONE word, its fused form, tagged
    with the UPOS of the sub-word closest to the root (fewest ancestors over HEAD and DEPS
    edges); among equally high ones the best by XTREME's UPOS ranking for the language of
    the file name's prefix (`de_gsd-ud-test.conllu` -> de), see `_UD_HEAD_PRECEDENCE`.
    Usually the first sub-word: ADP before DET ("im" is ADP); but Finnish "etten"
    (että SCONJ + en AUX, both under one head) is AUX.
  - Empty nodes (`1.1`) and comment lines are not words.
  - Spaces and U+200C are removed inside forms (": )" -> ":)").
  - Sentences whose forms are all withheld ('_', e.g. UD_Arabic-NYUAD) or all but one are
    skipped (counted).
  Ids number the kept sentences across all files.
  """
  paths = [paths] if isinstance(paths, (str, Path)) else list(paths)
  examples = []
  for path in paths:
    skips = SkipCounter(path, report)
    precedence = _UD_HEAD_PRECEDENCE.get(Path(path).name.split("_")[0], _UD_HEAD_PRECEDENCE["default"])
    unranked = 0
    tokens, ranges = {}, []  # ID -> _UdToken; (first, last, fused form, line number)
    for line_no, line in _lines(path) + [(None, "")]:
      if line.startswith("#"):
        continue
      if line.strip():
        fields = line.split("\t")
        if len(fields) != 10:
          raise _error(path, line_no, f"expected 10 tab-separated fields, found {len(fields)}")
        if "." in fields[0]:
          continue
        if "-" in fields[0]:
          first, _, last = fields[0].partition("-")
          if not (first.isdigit() and last.isdigit() and int(first) <= int(last)):
            raise _error(path, line_no, f"bad multiword token range {fields[0]!r}")
          ranges.append((int(first), int(last), fields[1], line_no))
          continue
        if not fields[0].isdigit():
          raise _error(path, line_no, f"bad word ID {fields[0]!r}")
        parents = {int(fields[6])} if fields[6].isdigit() else set()
        if fields[8] != "_":
          parents |= {int(h) for h, _, _ in (d.partition(":") for d in fields[8].split("|")) if h.isdigit()}
        tokens[int(fields[0])] = _UdToken(line_no, fields[1], fields[3], frozenset(parents))
        continue
      if tokens:
        head_of_range = {}
        for first, last, form, range_line in ranges:
          span = range(first, last + 1)
          if any(i not in tokens for i in span):
            raise _error(path, range_line, f"multiword token {first}-{last} covers missing words")
          head, odd = _ud_span_head(tokens, span, precedence)
          unranked += odd
          head_of_range.update({i: None for i in span})
          head_of_range[head] = form
        words, tags, lines = [], [], []
        for i in sorted(tokens):
          token = tokens[i]
          if i in head_of_range and head_of_range[i] is None:
            continue  # a sub-word of a multiword token that another sub-word stands for
          words.append(head_of_range.get(i, token.form).strip())
          tags.append(_check_label(path, token.line_no, token.upos.strip(), registry.UPOS_TAGS))
          lines.append(token.line_no)
        withheld = sum(w == "_" for w in words)
        if withheld and withheld >= len(words) - 1:
          skips("word forms withheld ('_')")
        else:
          words = [_xtreme_ud_form(w) for w in words]
          if not all(words):
            raise _error(
                path,
                lines[words.index("")],
                "the word form is empty once spaces and " "U+200C are removed (as XTREME does)",
            )
          examples.append(TaggingExample(str(len(examples)), tuple(words), tuple(tags)))
      tokens, ranges = {}, []
    skips.done()
    if unranked:
      logger.warning(
          "%s: %d multiword tokens were decided by a UPOS outside XTREME's ranking " "(XTREME's converter stops there)",
          path,
          unranked,
      )
  if not examples:
    raise _error(", ".join(map(str, paths)) or "(no files)", None, "no sentences")
  return examples


def _read_blank_separated(path: PathLike, parse) -> list[TaggingExample]:
  """Sentences of one-token lines separated by blank lines; parse(line_no, line) -> (word, tag)."""
  examples, words, tags = [], [], []
  for line_no, line in _lines(path) + [(None, "")]:
    if line.strip():
      word, tag = parse(line_no, line)
      words.append(word)
      tags.append(tag)
      continue
    if words:
      if any(t is None for t in tags) and not all(t is None for t in tags):
        raise _error(path, line_no, "sentence mixes tagged and untagged tokens")
      labels = None if tags[0] is None else tuple(tags)
      examples.append(TaggingExample(str(len(examples)), tuple(words), labels))
      words, tags = [], []
  if not examples:
    raise _error(path, None, "no sentences")
  return examples


@register()
def read_panx(path: PathLike, *, report: Optional[ReadReport] = None) -> list[TaggingExample]:
  """XTREME's preprocessed PAN-X TSV: `token<TAB>TAG`, blank line between sentences.

  XTREME's test files have tokens only; such sentences get labels None.
  """

  def parse(line_no, line):
    if "\t" not in line:
      return line, None
    word, tag = line.rsplit("\t", 1)
    return word, _check_label(path, line_no, tag, registry.PANX_TAGS)

  return _read_blank_separated(path, parse)


@register()
def read_wikiann_raw(path: PathLike, *, report: Optional[ReadReport] = None) -> list[TaggingExample]:
  """Raw WikiANN (Rahimi splits) `lang:token<TAB>tag` files (train / dev / test)."""

  def parse(line_no, line):
    fields = line.split("\t")
    if len(fields) != 2 or ":" not in fields[0]:
      raise _error(path, line_no, "expected 'lang:token<TAB>tag'")
    return fields[0].split(":", 1)[1], _check_label(path, line_no, fields[1], registry.PANX_TAGS)

  return _read_blank_separated(path, parse)


@register()
def read_ccg(
    path: PathLike, *, labels: Optional[Sequence[str]] = None, report: Optional[ReadReport] = None
) -> list[TaggingExample]:
  """CCG supertags as `word<TAB>supertag` lines, blank line between sentences.

  This is our own simple layout for CCGbank (which is LDC-licensed): convert the
  .auto files to it. `labels`, when given, is the closed set of supertags.
  """

  def parse(line_no, line):
    fields = line.split("\t")
    if len(fields) != 2 or not fields[1]:
      raise _error(path, line_no, "expected 'word<TAB>supertag'")
    tag = _check_label(path, line_no, fields[1], labels) if labels else fields[1]
    return fields[0], tag

  return _read_blank_separated(path, parse)


# ---- retrieval and plain text -------------------------------------------------------


def _sibling(path: Path, suffix: str) -> Path:
  return path.with_suffix("." + suffix)


@register()
def read_tatoeba(path: PathLike, *, report: Optional[ReadReport] = None) -> RetrievalCorpus:
  """LASER Tatoeba `tatoeba.xxx-eng.xxx` and its sibling `.eng`; line i pairs with line i."""
  path = Path(path)
  english = _sibling(path, "eng")
  source, target = _lines(path), _lines(english)
  if len(source) != len(target):
    raise _error(path, None, f"{len(source)} lines but {english.name} has {len(target)}")
  ids = [str(i) for i in range(len(source))]
  return RetrievalCorpus(
      source=tuple(SentenceExample(i, line) for i, (_, line) in zip(ids, source)),
      target=tuple(SentenceExample(i, line) for i, (_, line) in zip(ids, target)),
      gold=tuple((i, i) for i in ids),
  )


def _id_sentences(path: Path) -> list[SentenceExample]:
  sentences, seen = [], set()
  for line_no, line in _lines(path):
    fields = line.split("\t")
    if len(fields) != 2 or not fields[0]:
      raise _error(path, line_no, "expected 'id<TAB>sentence'")
    if fields[0] in seen:
      raise _error(path, line_no, f"duplicate id {fields[0]!r}")
    seen.add(fields[0])
    sentences.append(SentenceExample(fields[0], fields[1]))
  return sentences


@register()
def read_bucc(path: PathLike, *, report: Optional[ReadReport] = None) -> RetrievalCorpus:
  """BUCC 2018 `{xx}-en.{split}.{xx}` with its siblings `.en` and `.gold` (src_id<TAB>en_id)."""
  path = Path(path)
  source, target = _id_sentences(path), _id_sentences(_sibling(path, "en"))
  gold_path = _sibling(path, "gold")
  source_ids, target_ids = {s.id for s in source}, {s.id for s in target}
  gold = []
  for line_no, line in _lines(gold_path):
    fields = line.split("\t")
    if len(fields) != 2:
      raise _error(gold_path, line_no, "expected 'source_id<TAB>target_id'")
    if fields[0] not in source_ids or fields[1] not in target_ids:
      raise _error(gold_path, line_no, f"gold pair {tuple(fields)} names an unknown sentence id")
    gold.append((fields[0], fields[1]))
  return RetrievalCorpus(tuple(source), tuple(target), tuple(gold))


@register()
def read_text_lines(path: PathLike, *, report: Optional[ReadReport] = None) -> list[SentenceExample]:
  """Plain text for MLM: one example per non-empty line, id = its line number."""
  return [SentenceExample(str(line_no), line) for line_no, line in _lines(path) if line.strip()]


# ---- XTREME-R: retrieval QA (LAReQA), entity retrieval (Mewsli-X), SIQA ----------------
# XTREME-R's rules (google-research/xtreme third_party/utils_lareqa.py, utils_mewslix.py,
# siqa_data/siqa_data.py, run_xcopa.py), re-implemented.

import re as _re  # noqa: E402  (imports of this appended section)

from xstilts_jax.data import retrieval_examples as rx  # noqa: E402
from xstilts_jax.data.sentence_breaks import sentence_breaks  # noqa: E402

# Mewsli-X marks the mention in its sentence with these, escaping existing {...} as (...).
_MEWSLIX_MARKERS = ("{", "}")
_MEWSLIX_ESCAPE = _re.compile(r"\{(.*?)\}")
SIQA_LETTERS = ("A", "B", "C")


def _xr_typed(path: PathLike, where: Union[int, str, None], record: Any, key: str, kind: type) -> Any:
  """`record[key]`, which must be a `kind` (bool is not an int here)."""
  value = _field(path, where, record, key)
  if not isinstance(value, kind) or isinstance(value, bool):
    raise _error(path, where, f"'{key}' is {type(value).__name__} {str(value)[:40]!r}, " f"expected {kind.__name__}")
  return value


def _int_pair(path: PathLike, where: str, value: Any) -> tuple[int, int]:
  if (
      not isinstance(value, (list, tuple))
      or len(value) != 2
      or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
  ):
    raise _error(path, where, f"expected a [start, end] pair of integers, found {value!r}")
  return int(value[0]), int(value[1])


@register(by_language=True)
def read_xquad_r(
    path: PathLike,
    language: Optional[str] = None,
    *,
    languages: Optional[Sequence[str]] = None,
    report: Optional[ReadReport] = None,
) -> rx.RetrievalQAPool:
  """XQuAD-R (LAReQA): a directory of `<lang>.json` files (or one of them: the pool is
  always its whole directory) -> XTREME-R's question set and multilingual candidate pool.

  Each file is SQuAD v1.1 JSON whose paragraphs also hold `sentence_breaks` ([start, end)
  character spans of `context`). As XTREME-R's utils_lareqa: a question's answer sentence
  is the first span with start <= answer_start < end (a question whose answer starts in no
  span is skipped and counted); every sentence of a paragraph with a kept question is a
  candidate (paragraphs numbered from 1 per file); the gold candidates of a question are
  the sentences equal to its answer sentence, in its own paragraph, in every language
  holding its id. `languages` (default: every `*.json`, sorted) fixes the files and order.
  With `language`, only that language's questions are returned (with their gold), against
  the same full pool.
  """
  root = Path(path)
  if root.is_file() and root.suffix == ".json":
    root = root.parent
  if not root.is_dir():
    raise _error(root, None, "not a directory of <lang>.json files (or one of them)")
  if languages is None:
    languages = sorted(p.stem for p in root.glob("*.json"))
    if not languages:
      raise _error(root, None, "no <lang>.json files")
  questions, candidates, index_of = [], [], {}
  gold_of: dict[str, list[int]] = collections.defaultdict(list)
  seen_uids = set()
  for lang in languages:
    file = root / f"{lang}.json"
    skips = SkipCounter(file, report)
    articles = _xr_typed(file, None, _json(file), "data", list)
    paragraph_number = 0
    for a, article in enumerate(articles):
      for p, paragraph in enumerate(_xr_typed(file, f"data[{a}]", article, "paragraphs", list)):
        where = f"data[{a}].paragraphs[{p}]"
        paragraph_number += 1
        context = _xr_typed(file, where, paragraph, "context", str)
        breaks = [
            _int_pair(file, f"{where}.sentence_breaks[{i}]", b)
            for i, b in enumerate(_xr_typed(file, where, paragraph, "sentence_breaks", list))
        ]
        for i, (start, end) in enumerate(breaks):
          if not 0 <= start < end <= len(context):
            raise _error(
                file,
                f"{where}.sentence_breaks[{i}]",
                f"span {[start, end]} is outside the context ({len(context)} chars)",
            )
        sentences = [context[start:end] for start, end in breaks]
        context_id = f"{lang}_{paragraph_number}"
        kept = 0
        for q, qa in enumerate(_xr_typed(file, where, paragraph, "qas", list)):
          qwhere = f"{where}.qas[{q}]"
          answers = _xr_typed(file, qwhere, qa, "answers", list)
          if len(answers) != 1:
            raise _error(file, qwhere, f"expected exactly 1 answer, found {len(answers)}")
          answer_start = _xr_typed(file, f"{qwhere}.answers[0]", answers[0], "answer_start", int)
          answer = next((context[s:e] for s, e in breaks if s <= answer_start < e), None)
          if answer is None:
            skips("answer starts in no sentence")
            continue
          xling_id = _xr_typed(file, qwhere, qa, "id", str)
          uid = f"{xling_id}_{lang}"
          if uid in seen_uids:
            raise _error(file, qwhere, f"duplicate question id {xling_id!r}")
          seen_uids.add(uid)
          questions.append(rx.RetrievalQuestion(uid, xling_id, lang, _xr_typed(file, qwhere, qa, "question", str)))
          kept += 1
          for position, sentence in enumerate(sentences):
            cuid = f"{context_id}_{position}"
            if cuid not in index_of:
              index_of[cuid] = len(candidates)
              candidates.append(rx.RetrievalCandidate(cuid, lang, sentence, context))
            if sentence == answer:
              gold_of[xling_id].append(index_of[cuid])
        if not kept and paragraph.get("qas"):
          skips("paragraph without a kept question (no candidates)")
    skips.done()
  if not questions:
    raise _error(root, None, "no questions")
  gold = tuple(tuple(gold_of[question.xling_id]) for question in questions)
  if language is not None:
    if language not in languages:
      raise _error(root, None, f"no {language}.json among the pool's languages")
    kept = [i for i, q in enumerate(questions) if q.language == language]
    questions, gold = [questions[i] for i in kept], tuple(gold[i] for i in kept)
  return rx.RetrievalQAPool(tuple(questions), tuple(candidates), gold)


def _mewslix_spans(path: PathLike, where: Union[int, str], record: Any, key: str, text: str) -> list[tuple[int, int]]:
  spans = []
  for i, span in enumerate(_xr_typed(path, where, record, key, list)):
    start = _xr_typed(path, where, span, "start", int)
    end = _xr_typed(path, where, span, "end", int)
    if not 0 <= start < end or start >= len(text) or end > len(text):
      raise _error(path, where, f"{key}[{i}] = [{start}, {end}) is outside the text " f"({len(text)} chars)")
    spans.append((start, end))
  return spans


def _normalise_mewslix(text: str) -> str:
  return " ".join(text.splitlines()).replace("  ", " ").strip()


def _mewslix_entity(path: PathLike, where: Union[int, str], record: Any) -> rx.Entity:
  description = _xr_typed(path, where, record, "description", str)
  spans = _mewslix_spans(path, where, record, "sentence_spans", description)
  text = _normalise_mewslix(" ".join(description[s:e] for s, e in spans))
  return rx.Entity(
      _xr_typed(path, where, record, "entity_id", str),
      _xr_typed(path, where, record, "title", str),
      text,
      _xr_typed(path, where, record, "description_language", str),
  )


def _mewslix_query(path: PathLike, where: Union[int, str], context: Any, mention: Any) -> tuple[str, str]:
  """(mention text, query text): the mention's sentence with the mention marked by braces,
  the mention itself prepended (XTREME-R's preprocess_mention, window of 0 sentences)."""
  text = _xr_typed(path, where, context, "text", str)
  sentences = _mewslix_spans(path, where, context, "sentence_spans", text)
  span = _xr_typed(path, where, mention, "mention_span", dict)
  start, end = _xr_typed(path, where, span, "start", int), _xr_typed(path, where, span, "end", int)
  surface = _xr_typed(path, where, span, "text", str)
  if not 0 <= start < end <= len(text) or text[start:end] != surface:
    raise _error(
        path,
        where,
        f"mention_span [{start}, {end}) {surface!r} does not match the "
        f"context text there ({text[max(start, 0):max(end, 0)]!r})",
    )
  sentence = next(((s, e) for s, e in sentences if s <= start < e and s < end <= e), None)
  if sentence is None:
    raise _error(path, where, f"mention {surface!r} lies in no single sentence")
  left = _MEWSLIX_ESCAPE.sub(r"(\1)", text[sentence[0] : start])
  right = _MEWSLIX_ESCAPE.sub(r"(\1)", text[end : sentence[1]])
  markup = f"{left} {_MEWSLIX_MARKERS[0]} {surface} {_MEWSLIX_MARKERS[1]} {right}"
  return surface, _normalise_mewslix(f"{surface}: {markup}")


@register()
def read_mewslix_entities(path: PathLike, *, report: Optional[ReadReport] = None) -> tuple[rx.Entity, ...]:
  """Mewsli-X `candidate_set_entities.jsonl`: one Entity per line, in file order."""
  entities, seen = [], set()
  for line_no, row in _jsonl(path):
    entity = _mewslix_entity(path, line_no, row)
    if entity.entity_id in seen:
      raise _error(path, line_no, f"duplicate entity_id {entity.entity_id!r}")
    seen.add(entity.entity_id)
    entities.append(entity)
  return tuple(entities)


@register(by_language=True)
def read_mewslix_mentions(
    path: PathLike, language: Optional[str] = None, *, report: Optional[ReadReport] = None
) -> list[rx.EntityMention]:
  """Mewsli-X `wikinews_mentions-{dev,test}.jsonl` (one context with its mentions a line),
  unnested to one query per mention; only contexts of `language` when given. An empty
  entity_id (XTREME's label-stripped test files) reads as None."""
  mentions, seen = [], set()
  for line_no, row in _jsonl(path):
    context = _xr_typed(path, line_no, row, "context", dict)
    lang = _xr_typed(path, line_no, context, "language", str)
    if language is not None and lang != language:
      continue
    for mention in _xr_typed(path, line_no, row, "mentions", list):
      example_id = _xr_typed(path, line_no, mention, "example_id", str)
      if example_id in seen:
        raise _error(path, line_no, f"duplicate example_id {example_id!r}")
      seen.add(example_id)
      surface, query = _mewslix_query(path, line_no, context, mention)
      entity_id = _xr_typed(path, line_no, mention, "entity_id", str)
      mentions.append(rx.EntityMention(example_id, lang, surface, query, entity_id or None))
  return mentions


@register(by_language=True)
def read_mewslix(path: PathLike, language: str, *, report: Optional[ReadReport] = None) -> rx.EntityRetrievalSet:
  """A Mewsli-X evaluation set: the mentions of `language` in `path` against the
  sibling `candidate_set_entities.jsonl` (every gold entity must be a candidate)."""
  path = Path(path)
  mentions = read_mewslix_mentions(path, language, report=report)
  if not mentions:
    raise _error(path, None, f"no mentions in language {language!r}")
  entities = read_mewslix_entities(path.parent / "candidate_set_entities.jsonl")
  known = {e.entity_id for e in entities}
  for m in mentions:
    if m.entity_id is not None and m.entity_id not in known:
      raise _error(
          path, None, f"example {m.example_id}: gold entity {m.entity_id!r} is not in " "candidate_set_entities.jsonl"
      )
  return rx.EntityRetrievalSet(tuple(mentions), entities)


@register()
def read_mewslix_pairs(path: PathLike, *, report: Optional[ReadReport] = None) -> list[rx.RetrievalPair]:
  """Mewsli-X `wikipedia_pairs-{train,dev}.jsonl` (MentionEntityPair per line) as
  (mention query, entity description) training pairs; id = the mention's example_id."""
  pairs = []
  for line_no, row in _jsonl(path):
    contextual = _xr_typed(path, line_no, row, "contextual_mention", dict)
    mention = _xr_typed(path, line_no, contextual, "mention", dict)
    _, query = _mewslix_query(path, line_no, _xr_typed(path, line_no, contextual, "context", dict), mention)
    entity = _mewslix_entity(path, line_no, _xr_typed(path, line_no, row, "entity", dict))
    if _xr_typed(path, line_no, mention, "entity_id", str) != entity.entity_id:
      raise _error(path, line_no, f"mention entity_id differs from the entity's " f"({entity.entity_id!r})")
    pairs.append(rx.RetrievalPair(_xr_typed(path, line_no, mention, "example_id", str), query, entity.text))
  return pairs


# SQuAD's whitespace for XTREME-R's answer check (processors/squad_retrieval.py): these five only.
_SQUAD_WHITESPACE = frozenset(" \t\r\n\u202f")


def _answer_recoverable(context: str, answer: Answer) -> bool:
  """XTREME-R's check: the answer's whitespace tokens appear in the context's whitespace tokens
  that its characters cover."""
  words, word_of, previous_space = [], [], True
  for c in context:
    if c in _SQUAD_WHITESPACE:
      previous_space = True
    else:
      if previous_space:
        words.append(c)
      else:
        words[-1] += c
      previous_space = False
    word_of.append(len(words) - 1)
  first, last = word_of[answer.answer_start], word_of[answer.answer_start + len(answer.text) - 1]
  return " ".join(answer.text.split()) in " ".join(words[first : last + 1])


@register()
def read_squad_retrieval(path: PathLike, *, report: Optional[ReadReport] = None) -> list[rx.RetrievalPair]:
  """English SQuAD v1.1 as XTREME-R's retrieval training set for LAReQA: each question against
  its answer sentence (the first answer's; sentences from data.sentence_breaks, SQuAD-tuned)
  with the paragraph as the candidate's second segment.

  Skipped and counted, as XTREME-R skips them: an answer that starts in no sentence, or whose
  text cannot be recovered from the context's whitespace tokens.
  """
  skips = SkipCounter(path, report)
  pairs, breaks_of = [], {}
  for ex in read_squad_json(path, report=report):
    if not ex.answers:
      skips("question without an answer")
      continue
    answer = ex.answers[0]
    if ex.context not in breaks_of:
      breaks_of[ex.context] = sentence_breaks(ex.context)
    sentence = next((ex.context[s:e] for s, e in breaks_of[ex.context] if s <= answer.answer_start < e), "")
    if not sentence:
      skips("answer starts in no sentence")
    elif not _answer_recoverable(ex.context, answer):
      skips("answer text not recoverable from the context")
    else:
      pairs.append(rx.RetrievalPair(ex.id, ex.question, sentence, candidate_context=ex.context))
  skips.done()
  if not pairs:
    raise _error(path, None, "no question has an answer sentence")
  return pairs


@register()
def read_siqa(path: PathLike, *, report: Optional[ReadReport] = None) -> list[MultipleChoiceExample]:
  """Social IQa jsonl (context, question, answerA-C) -> context 'context question', 3 choices.

  The label is the row's `correct` letter (A-C, the socialIQa_v1.4 files XTREME-R reads)
  or else line i of the sibling `<name>-labels.lst` (1-3, the original release's
  train.jsonl + train-labels.lst); None when there is neither (test).
  """
  path = Path(path)
  rows = _jsonl(path)
  labels_path = path.with_name(path.stem + "-labels.lst")
  file_labels = None
  if labels_path.is_file():
    lines = [(n, line.strip()) for n, line in _lines(labels_path) if line.strip()]
    if len(lines) != len(rows):
      raise _error(labels_path, None, f"{len(lines)} labels for {len(rows)} rows of {path.name}")
    file_labels = []
    for n, value in lines:
      if value not in ("1", "2", "3"):
        raise _error(labels_path, n, f"unknown label {value!r} (expected 1, 2 or 3)")
      file_labels.append(int(value) - 1)
  examples = []
  for i, (line_no, row) in enumerate(rows):
    if "correct" in row:
      label = SIQA_LETTERS.index(_check_label(path, line_no, row["correct"], SIQA_LETTERS))
    else:
      label = file_labels[i] if file_labels is not None else None
    context = _xr_typed(path, line_no, row, "context", str)
    question = _xr_typed(path, line_no, row, "question", str)
    examples.append(
        MultipleChoiceExample(
            str(i),
            f"{context} {question}",
            tuple(_xr_typed(path, line_no, row, f"answer{k}", str) for k in SIQA_LETTERS),
            label,
        )
    )
  return examples
