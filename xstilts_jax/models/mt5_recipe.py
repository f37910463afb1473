"""What the T5 family's fine-tuning recipe adds to the engine, as pure functions.

- `seq2seq_loss`: the teacher-forced sequence loss of a text-to-text batch as the train step
  wants it, (summed token cross-entropy, token count), so accumulation over micro-batches is
  exact (T5X's loss normalised by all target tokens of the batch).
- `adafactor_transform` + `constant_schedule`: Adafactor as T5X and the mT5 paper fine-tune
  (constant learning rate 1e-3, second-moment decay 0.8, update clipping at RMS 1.0, updates
  scaled by the parameter's RMS, factored second moments, no momentum, no weight decay). The
  transform leaves the learning rate out, as train/optim.py's AdamW does: the train step
  applies `param - lr * update`, which is optax.adafactor(learning_rate=lr) exactly.

These belong beside the AdamW of train/optim.py and the losses of train/steps.py; they live
here until those modules select them by config (optimizer.name, head kind "seq2seq").
"""
from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional

import jax
import jax.numpy as jnp
import optax

from xstilts_jax.models.mt5 import sequence_loss


@dataclasses.dataclass(frozen=True)
class AdafactorConfig:
  """T5X's Adafactor defaults for fine-tuning (the mT5 paper: constant 1e-3)."""
  learning_rate: float = 1e-3
  decay_rate: float = 0.8
  decay_offset: int = 0
  clipping_threshold: Optional[float] = 1.0
  multiply_by_parameter_scale: bool = True
  min_dim_size_to_factor: int = 128
  factored: bool = True
  eps: float = 1e-30


def adafactor_transform(cfg: AdafactorConfig = AdafactorConfig()) -> optax.GradientTransformation:
  """Adafactor's update direction; the caller multiplies by -learning_rate (as for AdamW)."""
  parts = [optax.scale_by_factored_rms(cfg.factored, cfg.decay_rate, cfg.decay_offset,
                                       cfg.min_dim_size_to_factor, cfg.eps)]
  if cfg.clipping_threshold is not None:
    parts.append(optax.clip_by_block_rms(cfg.clipping_threshold))
  if cfg.multiply_by_parameter_scale:
    parts.append(optax.scale_by_param_block_rms())
  return optax.chain(*parts)


def constant_schedule(learning_rate: float) -> optax.Schedule:
  return optax.constant_schedule(learning_rate)


def seq2seq_loss(model: Any, batch: Mapping[str, jax.Array], head: str,
                 dropout_rng: Optional[jax.Array] = None):
  """(summed loss, count) for one micro-batch of a seq2seq head.

  Batch keys: input_ids, attention_mask (the source), decoder_input_ids (the target shifted
  right after the start token), decoder_attention_mask, labels (the target; -100 or a 0 in
  decoder_attention_mask marks positions without loss) and mask (real rows).
  """
  logits = model(batch["input_ids"], batch["attention_mask"],
                 decoder_input_ids=batch["decoder_input_ids"],
                 decoder_attention_mask=batch["decoder_attention_mask"], head=head,
                 dropout_rng=dropout_rng)
  valid = batch["mask"].astype(bool)[:, None] & batch["decoder_attention_mask"].astype(bool)
  return sequence_loss(logits, batch["labels"], valid & (batch["labels"] >= 0))
