"""AdamW as jiant runs it: decoupled weight decay off for biases and LayerNorm, linear warmup
then linear decay, global-norm clipping.

The learning rate is applied in the train step from the global step count, not inside the
optax state: in a multi-task run each head has its own Adam state (a head only moves on
the steps that sample its task, as torch's AdamW skips parameters without gradients),
while the schedule follows the optimizer steps of the whole run.
"""
from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import optax

NO_DECAY = ("bias", "scale")  # biases and LayerNorm weights (NNX calls the LN weight `scale`)


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
  learning_rate: float = 1e-5
  warmup_fraction: float = 0.1
  total_steps: int = 1000
  b1: float = 0.9
  b2: float = 0.999
  eps: float = 1e-8
  weight_decay: float = 0.01
  grad_clip_norm: float = 1.0


def decay_mask(params):
  """True where weight decay applies; params are flat dicts keyed by dotted parameter names."""
  def keep(path, _):
    name = str(getattr(path[-1], "key", path[-1]))
    return name.rsplit(".", 1)[-1] not in NO_DECAY
  return jax.tree_util.tree_map_with_path(keep, params)


def make_transform(cfg: OptimizerConfig) -> optax.GradientTransformation:
  """Adam moments plus decoupled weight decay; the caller multiplies by -learning_rate."""
  return optax.chain(
      optax.scale_by_adam(b1=cfg.b1, b2=cfg.b2, eps=cfg.eps),
      optax.add_decayed_weights(cfg.weight_decay, mask=decay_mask),
  )


def make_schedule(cfg: OptimizerConfig) -> optax.Schedule:
  """0 -> lr over the warmup steps, then lr -> 0 at total_steps (transformers' linear schedule)."""
  warmup = int(cfg.warmup_fraction * cfg.total_steps)
  decay = max(cfg.total_steps - warmup, 1)
  if warmup == 0:
    return optax.linear_schedule(cfg.learning_rate, 0.0, decay)
  return optax.join_schedules(
      [optax.linear_schedule(0.0, cfg.learning_rate, warmup),
       optax.linear_schedule(cfg.learning_rate, 0.0, decay)], [warmup])


def clip_by_global_norm(grads, max_norm: float):
  norm = optax.tree.norm(grads)
  scale = jnp.minimum(1.0, max_norm / (norm + 1e-6)) if max_norm > 0 else 1.0  # as torch clips
  return jax.tree.map(lambda g: g * scale, grads), norm
