"""What one task format means, in one frozen record (`Format`); the modules beside this one
each define one, and `xstilts_jax.formats` registers them."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional, Sequence

import numpy as np

from xstilts_jax.data.features import Features
from xstilts_jax.evaluation.evaluate import lines_text
from xstilts_jax.tasks.spec import IGNORE_LABEL, TaskSpec
from xstilts_jax.train.steps import LOSSES

# (spec, examples, tokenizer, max_seq_length) -> features
Featurizer = Callable[[TaskSpec, Sequence, Any, int], Features]
# (predict, spec, examples, features, language, EvalOptions) -> (metrics, predictions)
Evaluator = Callable[..., tuple[dict, Any]]
# (spec, predictions path, gold path, language, strict) -> the metric's dict plus num_examples
Scorer = Callable[..., dict]


def _count_examples(examples: Sequence, features: Features) -> int:
  return len(examples)


def rows_with_targets(examples: Sequence, features: Features) -> int:
  """The rows whose target `labels` (text to text) hold at least one scored token."""
  return int((np.asarray(features["labels"]) != IGNORE_LABEL).any(axis=1).sum())


@dataclasses.dataclass(frozen=True)
class Format:
  """A task format: how its examples become features, what a train step reads, its head and
  loss, how its outputs are decoded and scored, its submission file and that file's scorer.

  name: the TaskSpec.format value. head_kind: a key of models.xlmr.HEADS ("encoder": no head,
  the encoder's sentence embeddings; "dual_encoder": the XTREME-R towers). features: None
  where the format runs outside the single-task loader (the dual-encoder formats).
  train_keys: the feature keys a train step reads (empty: not trained by the task loop).
  trainable(examples, features): how many rows teach the loss something; `nothing_to_learn`
  names what a split without any lacks. text(example): its plain text (task embeddings,
  diversity). evaluate / write / suffix / score: the eval decoder + metric, the prediction
  file's text and suffix, and `xstilts score`'s reader of that file (None: not offered).
  labelled: the head's width is the number of label names. labels_from_data: a task with no
  fixed label set takes the labels of its train and dev files (CCG's open tag set).
  any_language: any language's text trains it (masked LM). encoder_only: evaluated on the
  encoder alone, never fine-tuned (retrieval). host_prepare(tokenizer, seed): a per-step
  transform of a host batch before the train step (MLM masking), or None.
  shortest_seq_length / shortest_why: the least max_seq_length its features fit, and why (the
  pipeline refuses a shorter one before anything is written).
  dual_encoder: XTREME-R's two towers over one encoder (LAReQA, Mewsli-X): trained without a
  head by LOSSES["dual_encoder"] on `features` of (query, candidate) pairs and exported as
  the bare encoder; evaluated by `evaluate` with an evaluation.dual_encoder.DualEncoder in
  place of a Predictor, on `eval_features` (an evaluation set's query and candidate sides,
  as one flat dict of query_* / candidate_* arrays); no dev-set early stopping.
  eval_features: the features of an evaluation set where they differ from `features`.
  write_dir(path, spec, predictions): writes predictions that are a folder of files
  (LAReQA's encodings) instead of `write`'s text; `suffix` "" names the folder without one.
  """

  name: str
  head_kind: str
  features: Optional[Featurizer] = None
  train_keys: tuple[str, ...] = ()
  trainable: Callable[[Sequence, Features], int] = _count_examples
  nothing_to_learn: str = "no labels"
  text: Optional[Callable[[Any], str]] = None
  evaluate: Optional[Evaluator] = None
  write: Callable[[TaskSpec, Any], str] = lines_text
  suffix: str = "tsv"
  score: Optional[Scorer] = None
  labelled: bool = False
  labels_from_data: bool = False
  any_language: bool = False
  encoder_only: bool = False
  host_prepare: Optional[Callable[[Any, int], Callable]] = None
  shortest_seq_length: int = 1
  shortest_why: str = ""
  dual_encoder: bool = False
  eval_features: Optional[Featurizer] = None
  write_dir: Optional[Callable[[Any, TaskSpec, Any], Any]] = None

  @property
  def loss(self) -> Optional[Callable]:
    """The train step's loss for this format's head (train.steps.LOSSES), None if untrained here."""
    return LOSSES.get(self.head_kind)
