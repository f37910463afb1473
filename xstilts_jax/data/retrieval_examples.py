"""Example types of XTREME-R's retrieval formats: retrieval QA (LAReQA) and entity
retrieval (Mewsli-X), and the query-candidate pairs a dual encoder trains on.

Like xstilts_jax.data.examples, these are plain immutable records of text. An evaluation
set is a pool: queries, candidates and, per query, the indices of its gold candidates.
"""

from __future__ import annotations

import dataclasses
from typing import Optional


@dataclasses.dataclass(frozen=True)
class RetrievalPair:
  """One training pair of a dual encoder: a query and the candidate text it should find.

  Retrieval QA: the question and its answer sentence, with the paragraph as the candidate's
  second segment (`candidate_context`, encoded as a text pair, as XTREME-R trains); entity
  retrieval: the mention in context and the entity description (no second segment).
  """

  id: str
  query: str
  candidate: str
  candidate_context: str = ""


@dataclasses.dataclass(frozen=True)
class RetrievalQuestion:
  """A LAReQA question: `uid` = `{xling_id}_{language}`; `xling_id` is the question id
  shared by its translations in every language."""

  uid: str
  xling_id: str
  language: str
  text: str


@dataclasses.dataclass(frozen=True)
class RetrievalCandidate:
  """A LAReQA candidate: one sentence of one paragraph, encoded with its paragraph.

  `uid` = `{language}_{paragraph number}_{sentence position}` (paragraphs numbered from 1
  over the language's file, as XTREME-R's utils_lareqa does).
  """

  uid: str
  language: str
  sentence: str
  context: str

  @property
  def text(self) -> str:
    """What the candidate tower encodes: the sentence directly followed by its paragraph,
    newlines removed (XTREME-R's evaluate_retrieval.py joins them with no separator)."""
    return (self.sentence + self.context).replace("\n", "")


@dataclasses.dataclass(frozen=True)
class RetrievalQAPool:
  """Every question of every language against one multilingual candidate pool.

  `gold[i]` holds the candidate indices that answer question i: the answer sentence of
  its xling_id in every language where that question was kept.
  """

  questions: tuple[RetrievalQuestion, ...]
  candidates: tuple[RetrievalCandidate, ...]
  gold: tuple[tuple[int, ...], ...]


@dataclasses.dataclass(frozen=True)
class Entity:
  """A Mewsli-X candidate: a Wikidata entity; `text` is its description's sentences joined
  by spaces, newlines and double spaces normalised (what the candidate tower encodes)."""

  entity_id: str
  title: str
  text: str
  language: str = "en"


@dataclasses.dataclass(frozen=True)
class EntityMention:
  """A Mewsli-X query: one mention in its context, with its gold entity (None when the
  split's labels are withheld). `text` is what the query tower encodes."""

  example_id: str
  language: str
  mention: str
  text: str
  entity_id: Optional[str]


@dataclasses.dataclass(frozen=True)
class EntityRetrievalSet:
  """Mentions of one language against the shared entity candidate set."""

  mentions: tuple[EntityMention, ...]
  entities: tuple[Entity, ...]
