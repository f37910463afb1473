"""Eval steps: a padded set on 8 devices gives what 1 device gives, every real row once."""

from flax import nnx
import jax
import numpy as np
import pytest

from xstilts_jax import sharding as shd
from xstilts_jax.data.examples import ClassificationExample
from xstilts_jax.evaluation.steps import Predictor
from xstilts_jax.formats import evaluate_task
from xstilts_jax.models.xlmr import HeadSpec, XLMRConfig, XLMRModel
from xstilts_jax.tasks import get_task

CFG = XLMRConfig(
    vocab_size=64,
    hidden_size=32,
    num_hidden_layers=3,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=40,
)


def _partitioner(d, f, t):
  """The default rule table over a (data, fsdp, tensor) = (d, f, t) mesh of the first d*f*t devices."""
  return shd.Partitioner.from_config({"data": d, "fsdp": f, "tensor": t}, devices=jax.devices()[: d * f * t])


def _features(n=37, seed=0):  # 37 rows: the last batch of 8 is padded
  rng = np.random.default_rng(seed)
  ids = rng.integers(3, 64, size=(n, 12)).astype(np.int32)
  ids[:, 0] = 0
  for i in range(n):
    ids[i, 12 - i % 5 :] = 1
  return {"input_ids": ids, "attention_mask": (ids != 1).astype(np.int32)}


@pytest.mark.parametrize(
    "kind,head", [("classification", "cls"), ("span", "span"), ("tagging", "tag"), ("retrieval", None)]
)
def test_eight_devices_equal_one(kind, head):
  model = XLMRModel(
      CFG,
      {"cls": HeadSpec("classification", 3), "span": HeadSpec("span"), "tag": HeadSpec("tagging", 5)},
      rngs=nnx.Rngs(0),
  )
  feats = _features()
  layer = 2 if kind == "retrieval" else None
  one = Predictor(model, _partitioner(1, 1, 1), batch_size=8)(feats, kind, head, layer)
  eight = Predictor(model, _partitioner(2, 2, 2), batch_size=8)(feats, kind, head, layer)
  for a, b in zip(jax.tree.leaves(one), jax.tree.leaves(eight)):
    assert a.shape[0] == 37  # every real row once, padding dropped
    np.testing.assert_allclose(b, a, atol=1e-5)
  # and row i is the model's output for example i alone (no leakage across padded rows)
  direct = model(feats["input_ids"][5:6], feats["attention_mask"][5:6], head=head) if kind != "retrieval" else None
  if kind == "classification":
    np.testing.assert_allclose(one[5:6], np.asarray(direct), atol=1e-5)


def test_accuracy_is_the_same_on_any_partitioner():
  model = XLMRModel(CFG, {"xnli": HeadSpec("classification", 3)}, rngs=nnx.Rngs(1))
  spec = get_task("xnli")
  feats = _features(29, seed=3)
  feats["label"] = np.arange(29, dtype=np.int32) % 3
  examples = [ClassificationExample(str(i), "a", "b", spec.labels[i % 3]) for i in range(29)]
  results = [
      evaluate_task(Predictor(model, _partitioner(*m), 8), spec, examples, feats, "en")[0]
      for m in ((1, 1, 1), (4, 2, 1), (2, 2, 2))
  ]
  assert results[0] == results[1] == results[2]
  logits = np.asarray(model(feats["input_ids"], feats["attention_mask"]))
  expected = 100.0 * np.mean(logits.argmax(-1) == feats["label"])
  assert results[0]["accuracy"] == pytest.approx(expected)
