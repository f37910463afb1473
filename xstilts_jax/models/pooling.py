"""Sentence embeddings of the encoder for XTREME-R's dual encoder, shared by its train step
(train/dual_encoder.py) and its eval step (evaluation/dual_encoder.py), so both towers are
pooled the same way in training and evaluation.

Pooling: "pooler" = the `<s>` pooler (dense + tanh on `<s>`, XLMRobertaModel's
pooler_output), XTREME-R's baseline (`normalized_cls_token(outputs[1])`); "cls" = the raw
`<s>` hidden state; "mean" = the mask-weighted mean of a layer (layer None = the last).
"""

from __future__ import annotations

from typing import Optional

import jax
import jax.numpy as jnp

from xstilts_jax.errors import ConfigError
from xstilts_jax.models.xlmr import XLMRModel, encode, mean_pool

POOLINGS = ("pooler", "cls", "mean")


def check_pooling(pooling: str) -> None:
  if pooling not in POOLINGS:
    raise ConfigError(f"unknown dual-encoder pooling {pooling!r} ({' | '.join(POOLINGS)})")


def pool_and_normalise(
    model: XLMRModel,
    input_ids,
    attention_mask,
    pooling: str = "pooler",
    layer: Optional[int] = None,
    dropout_rng: Optional[jax.Array] = None,
) -> jax.Array:
  """[B, H] unit-length embeddings of a batch (float32); dropout only with `dropout_rng`."""
  check_pooling(pooling)
  last, hidden = encode(model, input_ids, attention_mask, dropout_rng)
  if pooling == "pooler":
    x = model.encoder.pool(last)
  elif pooling == "cls":
    x = (hidden[layer] if layer is not None else last)[:, 0]
  else:
    x = mean_pool(hidden[layer] if layer is not None else last, attention_mask)
  x = x.astype(jnp.float32)
  return x / jnp.maximum(jnp.linalg.norm(x, axis=-1, keepdims=True), 1e-12)
