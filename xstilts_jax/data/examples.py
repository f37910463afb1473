"""The example types every reader yields and every feature builder consumes.

One type per task format. Examples are plain, immutable records of text; they know
nothing of tokenizers or shapes. `id` is unique within one (task, language, split).
"""

from __future__ import annotations

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class ClassificationExample:
  """A sentence or sentence pair with a label name (None where the split has no labels)."""

  id: str
  text_a: str
  text_b: Optional[str]
  label: Optional[str]


@dataclasses.dataclass(frozen=True)
class MultipleChoiceExample:
  """A context and K choices; each choice is encoded as (context, choice). label is the index."""

  id: str
  context: str
  choices: tuple[str, ...]
  label: Optional[int]


@dataclasses.dataclass(frozen=True)
class Answer:
  text: str
  answer_start: int  # character offset into the context


@dataclasses.dataclass(frozen=True)
class SpanQAExample:
  """SQuAD-style extractive QA. `answers` is empty and `is_impossible` True for SQuAD v2 no-answer."""

  id: str
  question: str
  context: str
  answers: tuple[Answer, ...]
  is_impossible: bool = False


@dataclasses.dataclass(frozen=True)
class TaggingExample:
  """A sentence as words with one tag per word (labels None where the split has no labels)."""

  id: str
  words: tuple[str, ...]
  labels: Optional[tuple[str, ...]]


@dataclasses.dataclass(frozen=True)
class SentenceExample:
  """One sentence of a retrieval corpus (BUCC, Tatoeba) or a line of MLM text."""

  id: str
  text: str


@dataclasses.dataclass(frozen=True)
class RetrievalCorpus:
  """Two sides of a bitext-retrieval set and the gold (source id, target id) pairs.

  BUCC: source sentences in language xx, target sentences in English, gold from the
  `.gold` file. Tatoeba: line i of the source is aligned with line i of the English side.
  """

  source: tuple[SentenceExample, ...]
  target: tuple[SentenceExample, ...]
  gold: tuple[tuple[str, str], ...]
