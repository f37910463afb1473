"""The optimizers: AdamW as jiant runs it (decoupled weight decay off for biases and LayerNorm,
linear warmup then linear decay, global-norm clipping), and Adafactor as T5X fine-tunes the T5
family (`OptimizerConfig.adafactor`: factored second moments, no momentum, update clipping,
updates scaled by the parameter's RMS, a constant learning rate), chosen by `name`.

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

OPTIMIZERS = ("adamw", "adafactor")
NO_DECAY = ("bias", "scale")  # biases and LayerNorm weights (NNX calls the LN weight `scale`)


@dataclasses.dataclass(frozen=True)
class OptimizerConfig:
  """The optimizer of one training phase: AdamW (jiant's defaults) or Adafactor (`name`)."""

  learning_rate: float = 1e-5
  warmup_fraction: float = 0.1
  total_steps: int = 1000
  b1: float = 0.9
  b2: float = 0.999
  eps: float = 1e-8
  weight_decay: float = 0.01
  grad_clip_norm: float = 1.0
  moments_dtype: str = "float32"  # Adam's first and second moments (bfloat16 halves their memory)
  name: str = "adamw"  # adamw | adafactor
  # Adafactor only; the defaults are T5X's Adafactor (t5x/adafactor.py with the t5_1_1 and mT5
  # gins' decay_rate 0.8 and step_offset 0). b1, b2, eps and moments_dtype are Adam's alone.
  decay_rate: float = 0.8  # second-moment decay 1 - t^-0.8
  decay_offset: int = 0
  clipping_threshold: float = 1.0  # updates clipped to this RMS per parameter; 0: off
  multiply_by_parameter_scale: bool = True  # updates scaled by max(RMS(parameter), 1e-3)
  factored: bool = True
  min_dim_size_to_factor: int = 128  # factored where the two largest axes are at least this
  epsilon1: float = 1e-30  # added to the squared gradient

  def __post_init__(self):
    if self.name not in OPTIMIZERS:
      raise ValueError(f"optimizer.name {self.name!r} is not one of {', '.join(OPTIMIZERS)}")
    if self.name == "adafactor" and self.moments_dtype != "float32":
      raise ValueError(
          f"optimizer.moments_dtype {self.moments_dtype!r}: Adafactor keeps its factored statistics in float32"
      )
    if self.name == "adafactor" and self.weight_decay:
      # optax's and T5X's Adafactor decay by weight_decay * param outside the learning rate;
      # the train step here multiplies the whole update by it, so the two would not agree.
      raise ValueError(f"optimizer.weight_decay {self.weight_decay}: Adafactor runs without weight decay (as T5X)")

  @classmethod
  def from_phase(cls, hp, total_steps: int, name: str = "adamw", moments_dtype: str = "float32") -> "OptimizerConfig":
    """The optimizer of one phase's hyper-parameters (a config's `intermediate`, `target`, ...
    block: learning_rate, warmup_fraction, adam_b1/b2/eps, weight_decay, grad_clip_norm)."""
    common = dict(warmup_fraction=hp.warmup_fraction, weight_decay=hp.weight_decay, grad_clip_norm=hp.grad_clip_norm)
    if name == "adafactor":
      return cls.adafactor(total_steps, hp.learning_rate, **common)
    return cls(
        learning_rate=hp.learning_rate,
        total_steps=total_steps,
        b1=hp.adam_b1,
        b2=hp.adam_b2,
        eps=hp.adam_eps,
        moments_dtype=moments_dtype,
        name=name,
        **common,
    )

  @classmethod
  def adafactor(cls, total_steps: int, learning_rate: float = 1e-3, **overrides) -> "OptimizerConfig":
    """Adafactor as T5X fine-tunes (t5x/configs/runs/finetune.gin: a constant 1e-3, the mT5
    paper's rate), with no weight decay and no global-norm clipping (Adafactor clips updates)."""
    fields = dict(
        name="adafactor",
        learning_rate=learning_rate,
        total_steps=total_steps,
        warmup_fraction=0.0,
        weight_decay=0.0,
        grad_clip_norm=0.0,
    )
    return cls(**{**fields, **overrides})


def decay_mask(params):
  """True where weight decay applies; params are flat dicts keyed by dotted parameter names."""

  def keep(path, _):
    name = str(getattr(path[-1], "key", path[-1]))
    return name.rsplit(".", 1)[-1] not in NO_DECAY

  return jax.tree_util.tree_map_with_path(keep, params)


MOMENTS_DTYPES = ("float32", "bfloat16")


def scale_by_adam(b1: float, b2: float, eps: float, moments_dtype: str = "float32") -> optax.GradientTransformation:
  """optax.scale_by_adam with both moments stored in `moments_dtype` (optax casts only the
  first); the arithmetic is float32 either way, and the state is optax's ScaleByAdamState."""
  if moments_dtype not in MOMENTS_DTYPES:
    raise ValueError(f"optimizer.moments_dtype {moments_dtype!r} is not one of {', '.join(MOMENTS_DTYPES)}")
  dtype = jnp.dtype(moments_dtype)

  def init(params):
    zeros = lambda p: jnp.zeros(p.shape, dtype)
    return optax.ScaleByAdamState(
        count=jnp.zeros([], jnp.int32), mu=jax.tree.map(zeros, params), nu=jax.tree.map(zeros, params)
    )

  def update(updates, state, params=None):
    del params
    count = optax.safe_int32_increment(state.count)
    c1 = 1.0 - b1 ** count.astype(jnp.float32)
    c2 = 1.0 - b2 ** count.astype(jnp.float32)

    def one(g, m, v):
      g = g.astype(jnp.float32)
      m = b1 * m.astype(jnp.float32) + (1.0 - b1) * g
      v = b2 * v.astype(jnp.float32) + (1.0 - b2) * g * g
      return (m / c1) / (jnp.sqrt(v / c2) + eps), m.astype(dtype), v.astype(dtype)

    out = jax.tree.map(one, updates, state.mu, state.nu)
    pick = lambda i: jax.tree.map(lambda _, o: o[i], updates, out)
    return pick(0), optax.ScaleByAdamState(count=count, mu=pick(1), nu=pick(2))

  return optax.GradientTransformation(init, update)


def make_transform(cfg: OptimizerConfig) -> optax.GradientTransformation:
  """The update direction of `cfg.name`; the caller multiplies by -learning_rate.

  AdamW: Adam moments plus decoupled weight decay. Adafactor: optax.adafactor's chain without
  its learning-rate step, so `param - lr * update` is optax.adafactor(lr) exactly.
  """
  if cfg.name == "adafactor":
    parts = [
        optax.scale_by_factored_rms(
            cfg.factored, cfg.decay_rate, cfg.decay_offset, cfg.min_dim_size_to_factor, cfg.epsilon1
        )
    ]
    if cfg.clipping_threshold > 0:
      parts.append(optax.clip_by_block_rms(cfg.clipping_threshold))
    if cfg.multiply_by_parameter_scale:
      parts.append(optax.scale_by_param_block_rms())
    return optax.chain(*parts)
  return optax.chain(
      scale_by_adam(cfg.b1, cfg.b2, cfg.eps, cfg.moments_dtype),
      optax.add_decayed_weights(cfg.weight_decay, mask=decay_mask),
  )


def make_schedule(cfg: OptimizerConfig) -> optax.Schedule:
  """AdamW: 0 -> lr over the warmup steps, then lr -> 0 at total_steps (transformers' linear
  schedule). Adafactor: lr constant after the warmup steps (none in T5X's fine-tuning)."""
  warmup = int(cfg.warmup_fraction * cfg.total_steps)
  if cfg.name == "adafactor":
    if warmup == 0:
      return optax.constant_schedule(cfg.learning_rate)
    return optax.join_schedules(
        [optax.linear_schedule(0.0, cfg.learning_rate, warmup), optax.constant_schedule(cfg.learning_rate)], [warmup]
    )
  decay = max(cfg.total_steps - warmup, 1)
  if warmup == 0:
    return optax.linear_schedule(cfg.learning_rate, 0.0, decay)
  return optax.join_schedules(
      [optax.linear_schedule(0.0, cfg.learning_rate, warmup), optax.linear_schedule(cfg.learning_rate, 0.0, decay)],
      [warmup],
  )


def clip_by_global_norm(grads, max_norm: float):
  norm = optax.tree.norm(grads)
  scale = jnp.minimum(1.0, max_norm / (norm + 1e-6)) if max_norm > 0 else 1.0  # as torch clips
  return jax.tree.map(lambda g: g * scale, grads), norm
