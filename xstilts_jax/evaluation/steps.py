"""Jit-compiled eval steps and `predict`: features in, host arrays of model outputs out.

Batches are fixed-size and padded (data.batches.eval_batches); each process feeds its rows,
outputs come back whole on every host, and padding rows are dropped by their mask, so every
real example counts exactly once on any mesh and any number of hosts.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, Mapping, Optional

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np

from xstilts_jax.data.batches import eval_batches
from xstilts_jax.models.xlmr import XLMRModel, activation_sharding, encode, mean_pool
from xstilts_jax.sharding import Partitioner, to_host

_MODEL_INPUTS = ("input_ids", "attention_mask")


def _embeddings(model, batch, head, layer):
  """Mean-pooled hidden_states[layer] (the last layer when None)."""
  del head
  _, hidden = encode(model, batch["input_ids"], batch["attention_mask"])
  return mean_pool(hidden[layer if layer is not None else -1], batch["attention_mask"])


def _head_outputs(model, batch, head, layer):
  """The head's outputs in float32 (a tuple for spans)."""
  del layer
  out = model(batch["input_ids"], batch["attention_mask"], head=head)
  return jax.tree.map(lambda o: o.astype(jnp.float32), out)


# What a predict kind returns: "retrieval" gives sentence embeddings; a head kind, its outputs.
_OUTPUTS = {"retrieval": _embeddings}


@functools.lru_cache(maxsize=64)
def make_eval_step(
    graphdef,
    kind: str,
    head: Optional[str],
    layer: Optional[int],
    partitioner: Partitioner,
) -> Callable:
  """step(state, batch) -> outputs: logits, (start, end) for spans, or mean-pooled embeddings
  of hidden_states[layer] for retrieval (0 = embeddings, as transformers counts). The model's
  named activations take the partitioner's layout unless it says not to (`constrain_activations`).

  Cached by model structure, so scoring the dev set every few hundred steps compiles once.
  """

  outputs = _OUTPUTS.get(kind, _head_outputs)
  constrain = partitioner.activation_constraint()

  def step(state, batch):
    with activation_sharding(constrain) if constrain else contextlib.nullcontext():
      return outputs(nnx.merge(graphdef, state), batch, head, layer)

  return jax.jit(step)


class Predictor:
  """Runs a model's eval steps over padded batches of features."""

  def __init__(self, model: XLMRModel, partitioner: Partitioner, batch_size: int):
    self.graphdef, state = nnx.split(model)
    # Parameters go to their shards once, as the rule table says (not to every device per batch).
    self.state = jax.device_put(state, partitioner.param_shardings(state, nnx.get_partition_spec(state)))
    self.partitioner, self.batch_size = partitioner, batch_size

  def __call__(
      self, features: Mapping[str, np.ndarray], kind: str, head: Optional[str] = None, layer: Optional[int] = None
  ):
    step = make_eval_step(self.graphdef, kind, head, layer, self.partitioner)
    inputs = {k: v for k, v in features.items() if k in _MODEL_INPUTS}
    outputs = []
    for batch in eval_batches(inputs, self.batch_size):
      real = batch.pop("mask").astype(bool)
      out = step(self.state, self.partitioner.global_batch(batch))
      out = jax.tree.map(to_host, out)
      outputs.append(jax.tree.map(lambda x: x[real], out))
    return jax.tree.map(lambda *xs: np.concatenate(xs), *outputs)
