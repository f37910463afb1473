"""The dual encoder's training loss, as XTREME-R's BertForRetrieval: both towers' pooled
embeddings L2-normalised, logits = 100 x (query @ candidate.T) over the batch, and softmax
cross-entropy of each query against its own candidate (row i); the other rows' candidates
are the negatives. Padding rows (mask 0) are neither queries nor negatives.

Returns a (summed loss, count) pair like train.steps.task_loss, so accumulated gradients are
those of the micro-batches' mean losses; the negatives are those of one micro-batch (as
XTREME-R's per-GPU batches).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

LOGIT_SCALE = 100.0  # fixed in XTREME-R ("TODO make a trainable variable")


def in_batch_softmax_loss(
    query: jax.Array, candidate: jax.Array, mask: jax.Array, scale: float = LOGIT_SCALE
) -> tuple[jax.Array, jax.Array]:
  """(sum over real rows of CE(scale * q_i . c_j over real j, target i), number of real rows).

  query, candidate: [B, H], already unit length; mask: [B] (1 = real row).
  """
  real = mask.astype(bool)
  logits = scale * (query.astype(jnp.float32) @ candidate.astype(jnp.float32).T)
  logits = jnp.where(real[None, :], logits, -1e9)
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, jnp.arange(query.shape[0]))
  return jnp.sum(jnp.where(real, losses, 0.0)), jnp.sum(real)
