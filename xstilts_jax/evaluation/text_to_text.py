"""Text-to-text evaluation: jit-compiled greedy decoding over padded batches, and decoded
text -> label names -> the task's metric (classification as label words, as mT5 is evaluated);
for extractive QA the decoded text is the answer, scored exactly as span QA's answers are.

`Generator` is a `Predictor` whose "seq2seq" kind greedy-decodes instead of returning logits;
every other kind is the Predictor's. A decoded text that is no label name counts as wrong, as
T5's postprocessing maps an unknown string to no class.
"""

from __future__ import annotations

import functools
from typing import Callable, Mapping, Optional, Sequence

from flax import nnx
import jax
import numpy as np

from xstilts_jax.data.batches import eval_batches
from xstilts_jax.errors import ConfigError, DataError
from xstilts_jax.evaluation import metrics
from xstilts_jax.evaluation.evaluate import score_answers
from xstilts_jax.evaluation.steps import Predictor
from xstilts_jax.models.mt5 import MT5_HEADS, greedy_decode
from xstilts_jax.models.mt5_recipe import target_ids
from xstilts_jax.sharding import Partitioner, to_host
from xstilts_jax.tasks.spec import TaskSpec

UNKNOWN = "<unknown>"  # the prediction for a decoded text that is no label name

_MODEL_INPUTS = ("input_ids", "attention_mask")
# The head kinds a Generator decodes.
GENERATING_KINDS = tuple(kind for kind, head in MT5_HEADS.items() if head.generates)


@functools.lru_cache(maxsize=64)
def make_decode_step(graphdef, head: Optional[str], max_length: int, partitioner: Partitioner) -> Callable:
  """step(state, batch) -> [B, max_length] greedy-decoded ids (position 0 the start token)."""
  del partitioner  # part of the cache key: a step belongs to one mesh

  def step(state, batch):
    return greedy_decode(nnx.merge(graphdef, state), batch["input_ids"], batch["attention_mask"], max_length, head)

  return jax.jit(step)


def _target_length(features: Mapping[str, np.ndarray]) -> int:
  """The decode length that fits the features' targets: their width plus the start token."""
  if "labels" not in features:
    raise ConfigError("text-to-text decoding needs max_length or features with target 'labels'")
  return int(np.asarray(features["labels"]).shape[-1]) + 1


class Generator(Predictor):
  """A Predictor that greedy-decodes for kind "seq2seq": [N, max_length] token ids.

  max_length: the static decode length (start token included); None takes the width of the
  features' target `labels` plus one, so a target of any label fits.
  """

  def __init__(self, model, partitioner: Partitioner, batch_size: int, max_length: Optional[int] = None):
    super().__init__(model, partitioner, batch_size)
    self.max_length = max_length

  def __call__(
      self, features: Mapping[str, np.ndarray], kind: str, head: Optional[str] = None, layer: Optional[int] = None
  ):
    if kind not in GENERATING_KINDS:
      return super().__call__(features, kind, head, layer)
    length = self.max_length or _target_length(features)
    step = make_decode_step(self.graphdef, head, length, self.partitioner)
    inputs = {k: v for k, v in features.items() if k in _MODEL_INPUTS}
    outputs = []
    for batch in eval_batches(inputs, self.batch_size):
      real = batch.pop("mask").astype(bool)
      outputs.append(to_host(step(self.state, self.partitioner.global_batch(batch)))[real])
    return np.concatenate(outputs)


def decoded_texts(decoded: np.ndarray, tokenizer) -> list[str]:
  """Each decoded row as text: start token, padding and everything from the first EOS removed."""
  rows = target_ids(decoded, pad_id=tokenizer.pad_token_id, eos_id=tokenizer.eos_token_id)
  return [tokenizer.decode(ids, skip_special_tokens=True).strip() for ids in rows]


def texts_to_labels(texts: Sequence[str], label_names: Sequence[str]) -> list[str]:
  """Each text if it is a label name (exactly, after stripping), else UNKNOWN."""
  names = set(label_names)
  return [t if t in names else UNKNOWN for t in texts]


def _decode(predict, spec: TaskSpec, examples, features, opts) -> list[str]:
  """Each example's greedy-decoded text (predict kind "seq2seq"); `opts.tokenizer` turns ids into text."""
  if opts.tokenizer is None:
    raise ConfigError(f"task {spec.name}: text-to-text evaluation needs the tokenizer (EvalOptions.tokenizer)")
  decoded = np.asarray(predict(features, "seq2seq", opts.head or spec.head_name))
  if decoded.ndim != 2 or len(decoded) != len(examples):
    raise DataError(f"task {spec.name}: decoded ids of shape {decoded.shape} for {len(examples)} examples")
  return decoded_texts(decoded, opts.tokenizer)


def evaluate_text_to_text_classification(predict, spec: TaskSpec, examples, features, language: str, opts):
  """Greedy-decode each example's label word, map it to a label name (unknown: wrong) and score
  with the task's metric."""
  labels = texts_to_labels(_decode(predict, spec, examples, features, opts), spec.labels)
  result = metrics.METRICS[spec.metric](labels, [ex.label for ex in examples])
  return {**result, "num_unknown": sum(p == UNKNOWN for p in labels)}, labels


def evaluate_text_to_text_span_qa(predict, spec: TaskSpec, examples, features, language: str, opts):
  """Greedy-decode each question's answer text; {question id: text} scored by the task's
  official QA metric against all gold answers (evaluate.score_answers, as span QA's answers)."""
  answers = dict(zip((ex.id for ex in examples), _decode(predict, spec, examples, features, opts)))
  return score_answers(spec, examples, answers, language), answers
