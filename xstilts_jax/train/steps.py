"""Pure train steps: one per (task format, head), compiled once each.

A step takes the state, a global batch of `accum * batch_size` rows and a dropout key. The
rows are split into `accum` micro-batches scanned in sequence; every loss is a sum with a
count of what it summed over, so accumulated gradients equal those of the whole batch
exactly (token-level losses included). The `mask` key marks real rows.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Mapping, Optional

import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import optax

from xstilts_jax.models.mt5 import sequence_loss, shift_right
from xstilts_jax.models.xlmr import activation_sharding
from xstilts_jax.sharding import BATCH_AXES, Partitioner
from xstilts_jax.tasks.spec import IGNORE_LABEL
from xstilts_jax.train.dual_encoder import TOWER_KEYS, dual_encoder_loss, towers_forward
from xstilts_jax.train.optim import clip_by_global_norm
from xstilts_jax.train.state import ModelLayout


def _ce_sum(logits, labels, valid):
  """Summed cross-entropy over positions where `valid`, and how many there were."""
  logits = logits.astype(jnp.float32)
  safe = jnp.where(valid, labels, 0)
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, safe)
  return jnp.sum(jnp.where(valid, losses, 0.0)), jnp.sum(valid)


def _label_loss(outputs, batch):
  """One label per row (classification; multiple choice: the index of the right choice)."""
  row = batch["mask"].astype(bool)
  return _ce_sum(outputs, batch["label"], row & (batch["label"] >= 0))


def _span_loss(outputs, batch):
  """The mean of the start and end position losses."""
  row = batch["mask"].astype(bool)
  start, end = outputs
  s, n = _ce_sum(start, batch["start_positions"], row)
  e, _ = _ce_sum(end, batch["end_positions"], row)
  return (s + e) / 2.0, n


def _token_loss(key: str) -> Callable:
  """A label per token in batch[key], IGNORE_LABEL where nothing is predicted."""

  def loss(outputs, batch):
    labels = batch[key]
    return _ce_sum(outputs, labels, batch["mask"].astype(bool)[:, None] & (labels != IGNORE_LABEL))

  return loss


def _seq2seq_loss(outputs, batch):
  """Teacher-forced token cross-entropy summed over the target tokens (`labels`, IGNORE_LABEL past
  each target's end), so accumulation is exact (T5X's loss over all target tokens of the batch)."""
  labels = batch["labels"]
  return sequence_loss(outputs, labels, batch["mask"].astype(bool)[:, None] & (labels != IGNORE_LABEL))


def _teacher_forcing(model, batch) -> dict:
  """The decoder's inputs for a target: the start token then the target shifted right."""
  labels = batch["labels"]
  return {
      "decoder_input_ids": shift_right(labels, model.cfg.decoder_start_token_id, model.cfg.pad_token_id),
      "decoder_attention_mask": (labels != IGNORE_LABEL).astype(jnp.int32),
  }


# Head kind -> loss(outputs, micro-batch) -> (summed loss, count); a new head is one entry.
LOSSES: dict[str, Callable] = {
    "classification": _label_loss,
    "multiple_choice": _label_loss,
    "span": _span_loss,
    "tagging": _token_loss("label_ids"),
    "mlm": _token_loss("mlm_labels"),
    "seq2seq": _seq2seq_loss,
    "dual_encoder": dual_encoder_loss,
}

# Head kind -> (model, micro-batch) -> the model's inputs beyond input_ids and attention_mask
# (a kind not listed takes none).
MODEL_INPUTS: dict[str, Callable] = {"seq2seq": _teacher_forcing}

# Head kind -> (model, micro-batch, dropout key) -> the outputs its loss reads, for a kind that
# does not run as model(input_ids, attention_mask, head=...): the dual encoder runs both towers
# through the one encoder (train/dual_encoder.py).
FORWARDS: dict[str, Callable] = {"dual_encoder": towers_forward}

# Head kinds trained without a head of their own: the encoder alone is trained (and exported).
HEADLESS = frozenset({"dual_encoder"})


# Head kind -> the label keys its loss reads from a batch: "row" (one per row) or "token".
LABEL_KEYS: dict[str, dict[str, str]] = {
    "classification": {"label": "row"},
    "multiple_choice": {"label": "row"},
    "span": {"start_positions": "row", "end_positions": "row"},
    "tagging": {"label_ids": "token"},
    "mlm": {"mlm_labels": "token"},
    "seq2seq": {"labels": "token"},
    "dual_encoder": {k: "token" for k in TOWER_KEYS},  # the towers' inputs (no labels: row i matches row i)
}


def task_loss(kind: str, outputs, batch: Mapping[str, jax.Array]):
  """(summed loss, count) for one head kind on one micro-batch."""
  if kind not in LOSSES:
    raise ValueError(f"no loss for head kind {kind!r} (losses: {', '.join(LOSSES)})")
  return LOSSES[kind](outputs, batch)


def make_train_step(
    layout: ModelLayout,
    head: str,
    kind: str,
    tx: optax.GradientTransformation,
    schedule: Callable,
    grad_clip_norm: float,
    accum_steps: int,
    partitioner: Partitioner,
    seed: int = 0,
    forward_options: Optional[Mapping[str, Any]] = None,
) -> Callable:
  """step(state, batch) -> (state, metrics); jit it with shardings (see `jit_train_step`).

  forward_options: keyword arguments of the kind's FORWARDS entry (the dual encoder's pooling).

  Dropout keys derive from `seed` and the state's step count inside the step, so a resumed
  run draws the same masks and no key is made on the host. The model's named activations are
  constrained to the partitioner's rule table unless it says not to (`constrain_activations`).
  """
  micro_sharding = NamedSharding(partitioner.mesh, P(None, BATCH_AXES))
  constrain = partitioner.activation_constraint()
  extra_inputs = MODEL_INPUTS.get(kind, lambda model, micro: {})
  headless = kind in HEADLESS  # no head: `head` names only the step (and its compiled cache)

  def forward(model, micro, key):
    if kind in FORWARDS:
      return FORWARDS[kind](model, micro, key, **(forward_options or {}))
    extra = extra_inputs(model, micro)
    return model(micro["input_ids"], micro["attention_mask"], head=head, dropout_rng=key, **extra)

  def loss_and_count(trainable, frozen_heads, micro, key):
    heads = frozen_heads if headless else {**frozen_heads, head: trainable["head"]}
    model = layout.model({"encoder": trainable["encoder"], "heads": heads})
    with activation_sharding(constrain) if constrain else contextlib.nullcontext():
      out = forward(model, micro, key)
    return task_loss(kind, out, micro)

  grad_fn = jax.value_and_grad(loss_and_count, has_aux=True)

  def step(state, batch):
    key = jax.random.fold_in(jax.random.key(seed), state["step"])
    params = state["params"]
    trainable = {"encoder": params["encoder"], "head": {} if headless else params["heads"][head]}
    frozen = {h: p for h, p in params["heads"].items() if h != head}
    # Row r belongs to micro-batch r % accum_steps (data.batches.micro_batches lays them out so).
    micro = jax.tree.map(lambda x: x.reshape(-1, accum_steps, *x.shape[1:]).swapaxes(0, 1), batch)
    if accum_steps > 1:  # keep each micro-batch spread over the batch axes
      micro = jax.lax.with_sharding_constraint(micro, micro_sharding)

    def body(carry, xs):
      grads, loss, count = carry
      i, mb = xs
      (l, n), g = grad_fn(trainable, frozen, mb, jax.random.fold_in(key, i))
      return (jax.tree.map(jnp.add, grads, g), loss + l, count + n), None

    zeros = jax.tree.map(jnp.zeros_like, trainable)
    (grads, loss, count), _ = jax.lax.scan(body, (zeros, 0.0, 0), (jnp.arange(accum_steps), micro))
    denom = jnp.maximum(count, 1).astype(jnp.float32)
    grads = jax.tree.map(lambda g: g / denom, grads)
    grads, grad_norm = clip_by_global_norm(grads, grad_clip_norm)

    lr = schedule(state["step"])
    apply = lambda p, u: jax.tree.map(lambda a, b: a - lr * b, p, u)
    enc_updates, enc_opt = tx.update(grads["encoder"], state["opt"]["encoder"], trainable["encoder"])
    heads, head_opts = dict(frozen), dict(state["opt"]["heads"])
    if not headless:
      head_updates, head_opts[head] = tx.update(grads["head"], state["opt"]["heads"][head], trainable["head"])
      heads[head] = apply(trainable["head"], head_updates)
    new_state = {
        "step": state["step"] + 1,
        "params": {"encoder": apply(trainable["encoder"], enc_updates), "heads": heads},
        "opt": {"encoder": enc_opt, "heads": head_opts},
    }
    metrics = {"loss": loss / denom, "grad_norm": grad_norm, "learning_rate": lr, "count": count.astype(jnp.float32)}
    return new_state, metrics

  return step


def jit_train_step(step: Callable, state_shardings, partitioner: Partitioner) -> Callable:
  """`step` jit-compiled: the state in and out as `state_shardings`, the batch split over the
  batch axes, the metrics whole on every device; the input state's buffers are donated."""
  return jax.jit(
      step,
      in_shardings=(state_shardings, partitioner.batch_sharding()),
      out_shardings=(state_shardings, partitioner.replicated()),
      donate_argnums=(0,),
  )
