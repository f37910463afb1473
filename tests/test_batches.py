"""Static-shape batching: shuffled resumable training stream, padded eval batches, host slices."""

import json

import numpy as np
import pytest

from xstilts_jax.data import batches as B
from xstilts_jax.errors import ConfigError, DataError


def make_features(n, seq=5):
  return {
      "row": np.arange(n, dtype=np.int32),
      "input_ids": np.arange(n * seq, dtype=np.int32).reshape(n, seq) + 1,
      "offsets": np.ones((n, seq, 2), np.int32),
  }


def test_train_batches_follow_epoch_permutations():
  n, size, seed = 10, 4, 3
  it = B.TrainBatches(make_features(n), size, seed)
  got = [next(it) for _ in range(15)]  # 60 rows = 6 epochs
  for batch in got:
    assert batch["input_ids"].shape == (size, 5) and batch["offsets"].shape == (size, 5, 2)
    assert np.array_equal(batch["mask"], np.ones(size, np.int32))
    assert np.array_equal(batch["input_ids"][:, 0], batch["row"] * 5 + 1)  # rows stay whole
  stream = np.concatenate([b["row"] for b in got])
  expected = np.concatenate([np.random.default_rng([seed, e]).permutation(n) for e in range(6)])
  assert np.array_equal(stream, expected)
  assert it.state() == {"epoch": 6, "position": 0}


def test_train_batches_resume_equals_uninterrupted():
  feats = make_features(23)
  straight = B.TrainBatches(feats, 8, seed=11)
  reference = [next(straight)["row"] for _ in range(20)]
  first = B.TrainBatches(feats, 8, seed=11)
  head = [next(first)["row"] for _ in range(7)]
  saved = json.loads(json.dumps(first.state()))  # states survive a JSON checkpoint
  resumed = B.TrainBatches(feats, 8, seed=11)
  resumed.restore(saved)
  tail = [next(resumed)["row"] for _ in range(13)]
  for a, b in zip(reference, head + tail):
    assert np.array_equal(a, b)
  other_seed = B.TrainBatches(feats, 8, seed=12)
  assert not np.array_equal(next(other_seed)["row"], reference[0])
  with pytest.raises(DataError):
    resumed.restore({"epoch": 0, "position": 23})


def test_train_batches_larger_than_data():
  it = B.TrainBatches(make_features(3), 7, seed=0)
  batch = next(it)
  assert batch["row"].shape == (7,)
  assert sorted(batch["row"][:6]) == [0, 0, 1, 1, 2, 2]


def test_eval_batches_cover_every_row_once():
  feats = make_features(10)
  got = list(B.eval_batches(feats, 4))
  assert len(got) == B.num_batches(feats, 4) == 3
  for batch in got:
    assert batch["input_ids"].shape == (4, 5) and batch["mask"].dtype == np.int32
  rows = np.concatenate([b["row"][b["mask"] == 1] for b in got])
  assert np.array_equal(rows, np.arange(10))
  last = got[-1]
  assert list(last["mask"]) == [1, 1, 0, 0]
  assert np.all(last["input_ids"][2:] == 0) and np.all(last["offsets"][2:] == -1)
  assert len(list(B.eval_batches(make_features(8), 4))) == 2
  assert list(B.eval_batches(make_features(0), 4)) == []
  assert B.num_batches(9, 3) == 3 and B.num_batches(0, 3) == 0


def test_micro_batches_pad_and_interleave():
  batch = next(B.TrainBatches(make_features(10), 6, seed=1))  # 2 micro-batches of 3 real rows
  laid = B.micro_batches(batch, accum_steps=2, rows_per_micro=4)
  for key, value in batch.items():
    micro = laid[key].reshape(4, 2, *value.shape[1:]).swapaxes(0, 1)  # what the train step does
    for i in range(2):
      assert np.array_equal(micro[i][:3], value[3 * i : 3 * i + 3]), key
  mask = laid["mask"].reshape(4, 2).swapaxes(0, 1)
  assert mask.tolist() == [[1, 1, 1, 0], [1, 1, 1, 0]]
  assert np.all(laid["offsets"].reshape(4, 2, -1, 2)[3] == -1)  # padding rows carry "nothing here"
  with pytest.raises(ConfigError):
    B.micro_batches(batch, accum_steps=4, rows_per_micro=4)
  with pytest.raises(ConfigError):
    B.micro_batches(batch, accum_steps=2, rows_per_micro=2)


def test_bad_inputs_raise():
  with pytest.raises(ConfigError):
    B.TrainBatches(make_features(4), 0, seed=0)
  with pytest.raises(DataError):
    B.TrainBatches({"a": np.zeros(3), "b": np.zeros(4)}, 2, seed=0)
  with pytest.raises(DataError):
    B.TrainBatches(make_features(0), 2, seed=0)
