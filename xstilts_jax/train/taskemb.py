"""TaskEmb (Vu et al. 2020, arXiv 2005.00770): a task as the diagonal Fisher information of
its loss with respect to the encoder's parameters.

The empirical Fisher, as TaskEmb computes it: for every real example, the gradient of that
example's own task loss (its gold labels; a tagging example's mean over its labelled
tokens) with respect to the chosen encoder parameters, squared element-wise, averaged over
examples. Examples are the rows with `mask` 1 and at least one valid label. Vu et al.
take the Fisher of a model fine-tuned on the task; which model the parameters come from
is the caller's choice (`task_embedding` takes them as given). No dropout: the model runs
deterministically. The vector is every chosen parameter's Fisher, flattened in name
order; `sketch` shrinks it to a fixed size for storage (signed hashing, which keeps inner
products in expectation), since a base encoder has ~10^8 entries.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from xstilts_jax.errors import DataError
from xstilts_jax.train.state import ModelLayout
from xstilts_jax.train.steps import task_loss

# Head kinds whose loss reads a head's outputs of model(input_ids, attention_mask, head=...):
# the tasks a TaskEmb can be taken of (not MLM, not the dual encoder, not text-to-text).
FISHER_KINDS = frozenset({"classification", "multiple_choice", "span", "tagging"})


def make_fisher_step(layout: ModelLayout, head: str, kind: str, names: Sequence[str]) -> Callable:
  """A jitted fisher(params, batch) -> ({name: summed squared per-example gradient}, examples).

  The rows of a batch are scanned one by one, so memory holds one example's gradient and the
  running sums (twice the chosen parameters), whatever the batch size.

  `params` are grouped as the train state's ({"encoder": ..., "heads": ...}); `names` are
  the encoder parameters the Fisher is taken over.
  """
  names = tuple(names)

  def example_loss(chosen, params, example):
    encoder = {**params["encoder"], **chosen}
    model = layout.model({"encoder": encoder, "heads": params["heads"]})
    one = jax.tree.map(lambda x: x[None], example)
    out = model(one["input_ids"], one["attention_mask"], head=head)
    loss, count = task_loss(kind, out, one)
    return loss / jnp.maximum(count, 1), count

  grad = jax.grad(example_loss, has_aux=True)

  def fisher(params, batch):
    chosen = {n: params["encoder"][n] for n in names}

    def body(acc, example):  # one example at a time: memory stays one gradient, not a batch's
      g, count = grad(chosen, params, example)
      w = ((example["mask"] > 0) & (count > 0)).astype(jnp.float32)
      return {n: acc[n] + w * jnp.square(g[n].astype(jnp.float32)) for n in names}, w

    zeros = {n: jnp.zeros(chosen[n].shape, jnp.float32) for n in names}
    summed, weights = jax.lax.scan(body, zeros, batch)
    return summed, weights.sum()

  return jax.jit(fisher)


def task_embedding(
    layout: ModelLayout,
    params: Mapping,
    head: str,
    kind: str,
    batches: Iterable[Mapping[str, np.ndarray]],
    names: Optional[Sequence[str]] = None,
) -> np.ndarray:
  """The diagonal empirical Fisher (see the module docstring) as one float32 vector.

  `names` default to every encoder parameter, in the layout's order.
  """
  if names is None:
    names = [n for n in layout.names if n in params["encoder"]]
  names = tuple(names)
  missing = [n for n in names if n not in params["encoder"]]
  if missing:
    raise DataError(f"TaskEmb: no encoder parameter {missing[0]!r}")
  step = make_fisher_step(layout, head, kind, names)
  total, examples = None, 0.0
  for batch in batches:
    summed, n = step(params, batch)
    total = summed if total is None else jax.tree.map(jnp.add, total, summed)
    examples += float(n)
  if not examples:
    raise DataError("TaskEmb: no example with a label in the batches")
  return np.concatenate([np.asarray(total[n]).ravel() / examples for n in names]).astype(np.float32)


def sketch(vector: np.ndarray, dim: int = 4096, seed: int = 0) -> np.ndarray:
  """Signed-hash projection to `dim` entries (same seed, same hash for every task)."""
  rng = np.random.default_rng(seed)
  vector = np.asarray(vector, np.float64).ravel()
  buckets = rng.integers(0, dim, vector.size)
  signs = rng.choice(np.array([-1.0, 1.0]), vector.size)
  return np.bincount(buckets, weights=signs * vector, minlength=dim).astype(np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def model_task_embedding(
    model,
    head: str,
    kind: str,
    batches: Iterable[Mapping[str, np.ndarray]],
    names: Optional[Sequence[str]] = None,
    dim: int = 4096,
    seed: int = 0,
) -> list[float]:
  """TaskEmb of an NNX model (e.g. the one a phase just fine-tuned), sketched to `dim` floats
  for results.json: what the pipeline stores beside TextEmb."""
  layout = ModelLayout.of(model)
  params = layout.grouped(layout.flat(model))
  return sketch(task_embedding(layout, params, head, kind, batches, names), dim, seed).tolist()
