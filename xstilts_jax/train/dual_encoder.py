"""The dual encoder's training loss, as XTREME-R's BertForRetrieval: both towers' pooled
embeddings L2-normalised, logits = 100 x (query @ candidate.T) over the batch, and softmax
cross-entropy of each query against its own candidate (row i); the other rows' candidates
are the negatives. Padding rows (mask 0) are neither queries nor negatives.

Returns a (summed loss, count) pair like train.steps.task_loss, so accumulated gradients are
those of the micro-batches' mean losses; the negatives are those of one micro-batch (as
XTREME-R's per-GPU batches).

In the train step (train/steps.py: LOSSES, FORWARDS, HEADLESS under "dual_encoder") a
micro-batch holds both towers' inputs, query_input_ids / query_attention_mask and
candidate_input_ids / candidate_attention_mask (data.retrieval_qa.pair_features); both are
run through the one encoder with dropout and pooled as the eval step pools them
(models.pooling.pool_and_normalise, XTREME-R's `<s>` pooler).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import optax

from xstilts_jax.models.pooling import pool_and_normalise

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


TOWER_KEYS = ("query_input_ids", "query_attention_mask", "candidate_input_ids", "candidate_attention_mask")


def towers_forward(model, micro, key: jax.Array, pooling: str = "pooler") -> tuple[jax.Array, jax.Array]:
  """(query, candidate) [B, H] unit-length embeddings of a micro-batch, each tower with its own
  dropout key (XTREME-R runs the towers as two calls of one model in train mode)."""
  q = pool_and_normalise(
      model, micro["query_input_ids"], micro["query_attention_mask"], pooling, dropout_rng=jax.random.fold_in(key, 0)
  )
  c = pool_and_normalise(
      model,
      micro["candidate_input_ids"],
      micro["candidate_attention_mask"],
      pooling,
      dropout_rng=jax.random.fold_in(key, 1),
  )
  return q, c


def dual_encoder_loss(outputs, batch) -> tuple[jax.Array, jax.Array]:
  """The train step's loss of the towers' outputs: in_batch_softmax_loss over the real rows."""
  query, candidate = outputs
  return in_batch_softmax_loss(query, candidate, batch["mask"])
