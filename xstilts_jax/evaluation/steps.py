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
from jax.sharding import Mesh
import numpy as np

from xstilts_jax import sharding as shd
from xstilts_jax.data.batches import eval_batches
from xstilts_jax.models.xlmr import XLMRModel, activation_sharding, encode, mean_pool

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
    layer: Optional[int] = None,
    rules: Optional[tuple] = None,
    mesh: Optional[Mesh] = None,
) -> Callable:
  """step(state, batch) -> outputs: logits, (start, end) for spans, or mean-pooled embeddings
  of hidden_states[layer] for retrieval (0 = embeddings, as transformers counts). With `rules`
  and `mesh`, the model's named activations take the rule table's layout.

  Cached by model structure, so scoring the dev set every few hundred steps compiles once.
  """

  outputs = _OUTPUTS.get(kind, _head_outputs)

  def step(state, batch):
    with activation_sharding(shd.activation_constraint(rules, mesh)) if rules else contextlib.nullcontext():
      return outputs(nnx.merge(graphdef, state), batch, head, layer)

  return jax.jit(step)


class Predictor:
  """Runs a model's eval steps over padded batches of features."""

  def __init__(self, model: XLMRModel, mesh: Mesh, batch_size: int, rules=shd.DEFAULT_RULES):
    self.graphdef, state = nnx.split(model)
    # Parameters go to their shards once, as the rule table says (not to every device per batch).
    shardings = shd.logical_shardings(state, nnx.get_partition_spec(state), rules, mesh)
    self.state = jax.device_put(state, shardings)
    self.mesh, self.batch_size, self.rules = mesh, batch_size, tuple((n, tuple(a)) for n, a in rules)

  def __call__(
      self, features: Mapping[str, np.ndarray], kind: str, head: Optional[str] = None, layer: Optional[int] = None
  ):
    step = make_eval_step(self.graphdef, kind, head, layer, self.rules, self.mesh)
    inputs = {k: v for k, v in features.items() if k in _MODEL_INPUTS}
    outputs = []
    for batch in eval_batches(inputs, self.batch_size):
      real = batch.pop("mask").astype(bool)
      out = step(self.state, shd.global_batch(batch, self.mesh))
      out = jax.tree.map(shd.to_host, out)
      outputs.append(jax.tree.map(lambda x: x[real], out))
    return jax.tree.map(lambda *xs: np.concatenate(xs), *outputs)
