"""Features -> static-shape batches: shuffled training stream, padded eval batches, host slices.

Every batch is a dict of numpy arrays with leading dimension batch_size plus a `mask`
key (int32, 1 for real rows, 0 for padding rows), so jitted steps see one shape only.
"""

from __future__ import annotations

import math
from typing import Iterator, Mapping

import numpy as np

from xstilts_jax.data.features import IGNORE_LABEL
from xstilts_jax.errors import ConfigError, DataError

Batch = dict[str, np.ndarray]

# Padding rows of eval batches hold 0, except these keys, which get their "nothing here"
# value: the decoders skip rows with a negative example_index, losses skip -100 labels.
PAD_VALUES = {
    "example_index": -1,
    "word_index": -1,
    "offsets": -1,
    "label_ids": IGNORE_LABEL,
    "mlm_labels": IGNORE_LABEL,
    "labels": IGNORE_LABEL,  # a seq2seq target
}


def num_rows(features: Mapping[str, np.ndarray]) -> int:
  """The shared leading dimension of all arrays (DataError if they disagree or none exist)."""
  sizes = {k: len(v) for k, v in features.items()}
  if not sizes or len(set(sizes.values())) != 1:
    raise DataError(f"features need arrays with one shared leading dimension, got {sizes}")
  return next(iter(sizes.values()))


def num_batches(features_or_rows: Mapping[str, np.ndarray] | int, batch_size: int) -> int:
  """How many batches `eval_batches` yields (one epoch of `TrainBatches` is rows / batch_size)."""
  rows = features_or_rows if isinstance(features_or_rows, int) else num_rows(features_or_rows)
  _check_batch_size(batch_size)
  return math.ceil(rows / batch_size)


def _check_batch_size(batch_size: int) -> None:
  if batch_size <= 0:
    raise ConfigError(f"batch_size must be positive, got {batch_size}")


class TrainBatches:
  """An endless stream of shuffled training batches.

  Epoch e visits the rows in the order `np.random.default_rng([seed, epoch]).permutation`.
  Nothing is dropped: the epochs are laid end to end and cut into batches, so the last
  partial batch of an epoch is completed from the start of the next epoch's order (as
  jiant, which does not drop either). `state()` / `restore()` make a resumed run yield
  exactly the batches an uninterrupted one would.
  """

  def __init__(self, features: Mapping[str, np.ndarray], batch_size: int, seed: int):
    _check_batch_size(batch_size)
    self._rows = num_rows(features)
    if self._rows == 0:
      raise DataError("cannot train on zero feature rows")
    self._features = dict(features)
    self._batch_size = batch_size
    self._seed = seed
    self._epoch = 0
    self._position = 0  # next row, as an index into this epoch's permutation
    self._order = self._permutation(0)

  def _permutation(self, epoch: int) -> np.ndarray:
    return np.random.default_rng([self._seed, epoch]).permutation(self._rows)

  @property
  def batch_size(self) -> int:
    return self._batch_size

  @property
  def features(self) -> Mapping[str, np.ndarray]:
    """The feature rows, in their stored order."""
    return self._features

  @property
  def steps_per_epoch(self) -> float:
    return self._rows / self._batch_size

  def state(self) -> dict[str, int]:
    return {"epoch": self._epoch, "position": self._position}

  def restore(self, state: Mapping[str, int]) -> None:
    epoch, position = int(state["epoch"]), int(state["position"])
    if epoch < 0 or not 0 <= position < self._rows:
      raise DataError(f"batch iterator state {dict(state)} does not fit {self._rows} rows")
    self._epoch, self._position = epoch, position
    self._order = self._permutation(epoch)

  def __iter__(self) -> Iterator[Batch]:
    return self

  def __next__(self) -> Batch:
    parts, needed = [], self._batch_size
    while needed:
      take = min(needed, self._rows - self._position)
      parts.append(self._order[self._position : self._position + take])
      self._position += take
      needed -= take
      if self._position == self._rows:
        self._epoch, self._position = self._epoch + 1, 0
        self._order = self._permutation(self._epoch)
    rows = np.concatenate(parts)
    batch = {k: v[rows] for k, v in self._features.items()}
    batch["mask"] = np.ones(self._batch_size, np.int32)
    return batch


def eval_batches(features: Mapping[str, np.ndarray], batch_size: int) -> Iterator[Batch]:
  """Batches covering every row once, in order; the last one padded, with mask 0 there.

  Padding rows are zeros, except for the keys of PAD_VALUES.
  """
  _check_batch_size(batch_size)
  rows = num_rows(features)
  for start in range(0, rows, batch_size):
    real = min(batch_size, rows - start)
    batch = {}
    for k, v in features.items():
      chunk = v[start : start + real]
      if real < batch_size:
        padding = np.full((batch_size - real,) + v.shape[1:], PAD_VALUES.get(k, 0), v.dtype)
        chunk = np.concatenate([chunk, padding])
      batch[k] = chunk
    mask = np.zeros(batch_size, np.int32)
    mask[:real] = 1
    batch["mask"] = mask
    yield batch


def micro_batches(batch: Mapping[str, np.ndarray], accum_steps: int, rows_per_micro: int) -> Batch:
  """The rows of one optimizer step as the train step reads them: `accum_steps` micro-batches,
  each padded to `rows_per_micro` rows (mask 0, so the loss skips them), interleaved so that
  row r belongs to micro-batch r % accum_steps.

  Padding keeps the effective batch what the config says when the devices of the batch axes
  do not divide it; interleaving keeps every micro-batch spread over all devices.
  """
  rows = num_rows(batch)
  if rows % accum_steps:
    raise ConfigError(f"{rows} rows do not split into {accum_steps} micro-batches")
  real = rows // accum_steps
  if rows_per_micro < real:
    raise ConfigError(f"micro-batches of {real} rows cannot be padded to {rows_per_micro}")
  out = {}
  for k, v in batch.items():
    v = v.reshape(accum_steps, real, *v.shape[1:])
    if rows_per_micro > real:
      pad = np.full(
          (accum_steps, rows_per_micro - real, *v.shape[2:]), 0 if k == "mask" else PAD_VALUES.get(k, 0), v.dtype
      )
      v = np.concatenate([v, pad], axis=1)
    out[k] = v.swapaxes(0, 1).reshape(accum_steps * rows_per_micro, *v.shape[2:])
  return out
