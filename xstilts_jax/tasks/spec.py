"""A task is data: one small typed spec per task, no behaviour.

Formats and the example type their readers yield:
  classification   -> ClassificationExample   (head "classification")
  multiple_choice  -> MultipleChoiceExample   (head "multiple_choice")
  span_qa          -> SpanQAExample           (head "span")
  tagging          -> TaggingExample          (head "tagging")
  retrieval        -> RetrievalCorpus         (no head: the encoder, mean-pooled)
  mlm              -> SentenceExample         (head "mlm")
  retrieval_qa     -> RetrievalQAPool (eval), RetrievalPair (train)    (dual encoder)
  entity_retrieval -> EntityRetrievalSet (eval), RetrievalPair (train) (dual encoder)

The last two (XTREME-R's LAReQA and Mewsli-X; types in xstilts_jax.data.retrieval_examples)
encode queries and candidates with one shared encoder ("dual_encoder": two towers, one set
of weights), pooled and L2-normalised, and rank candidates by inner product.

What a format means (features, head, loss, decoding, metric, files) lives in one module per
format under xstilts_jax.formats.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

IGNORE_LABEL = -100  # label id the losses skip (tagging sub-tokens, MLM positions not predicted)
# The format names a TaskSpec may carry; what each means is xstilts_jax.formats (tests/test_formats.py
# checks the two agree).
FORMATS = (
    "classification",
    "multiple_choice",
    "span_qa",
    "tagging",
    "retrieval",
    "mlm",
    "retrieval_qa",
    "entity_retrieval",
    "text_to_text_classification",
    "text_to_text_span_qa",
)


@dataclasses.dataclass(frozen=True)
class HubSource:
  """A Hugging Face hub dataset: `datasets.load_dataset(path, config)`.

  `config` may contain `{lang}` (e.g. "PAWS-X.{lang}"); `splits` maps our split names
  (train / dev / test) to the hub's split names.
  """

  path: str
  config: Optional[str] = None
  splits: tuple[tuple[str, str], ...] = (("train", "train"), ("dev", "validation"), ("test", "test"))


@dataclasses.dataclass(frozen=True)
class TfdsSource:
  """A TensorFlow Datasets builder; `name` may contain `{lang}` (e.g. "xquad/{lang}")."""

  name: str
  splits: tuple[tuple[str, str], ...] = (("train", "train"), ("dev", "validation"), ("test", "test"))


@dataclasses.dataclass(frozen=True)
class LocalSource:
  """Files in the dataset's original release layout under a data_dir.

  `reader` names a function in xstilts_jax.data.readers; `paths` maps a split to a path
  pattern relative to data_dir, with `{lang}` (and `{lang3}` for ISO 639-3) filled in.
  """

  reader: str
  paths: tuple[tuple[str, str], ...]


@dataclasses.dataclass(frozen=True)
class TaskSpec:
  name: str
  format: str
  metric: str  # a key of xstilts_jax.evaluation.metrics.METRICS
  languages: tuple[str, ...] = ("en",)
  labels: tuple[str, ...] = ()  # label names (classification, tagging); empty otherwise
  num_choices: int = 0  # multiple choice
  head: str = ""  # head name; tasks sharing a name share a head ("" = task name)
  train_language: str = "en"
  train_task: Optional[str] = None  # for a target: the task whose English train set trains it
  eval_splits: tuple[str, ...] = ("dev", "test")
  max_seq_length: int = 128
  hub: Optional[HubSource] = None
  tfds: Optional[TfdsSource] = None
  local: Optional[LocalSource] = None
  category: str = ""  # XTREME category: classification, structured, qa, retrieval
  description: str = ""

  @property
  def head_name(self) -> str:
    return self.head or self.name

  @property
  def num_labels(self) -> int:
    """Outputs per example: the choices of a multiple-choice task, else the label names."""
    return self.num_choices or len(self.labels)
