"""TaskEmb: the diagonal empirical Fisher of the task loss w.r.t. the encoder, on a tiny model."""

from flax import nnx
import jax
import numpy as np
import pytest

from xstilts_jax.errors import DataError
from xstilts_jax.models.xlmr import HeadSpec, XLMRConfig, XLMRModel
from xstilts_jax.train.state import ModelLayout
from xstilts_jax.train.taskemb import cosine, sketch, task_embedding

CFG = XLMRConfig(
    vocab_size=64,
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=32,
    max_position_embeddings=40,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
)


@pytest.fixture(scope="module")
def tiny():
  model = XLMRModel(CFG, {"cls": HeadSpec("classification", 3), "tag": HeadSpec("tagging", 5)}, rngs=nnx.Rngs(0))
  layout = ModelLayout.of(model)
  return layout, layout.grouped(layout.flat(model))


def _classification(seed, low, high, rule, batches=4, rows=8, length=12):
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(batches):
    ids = rng.integers(low, high, size=(rows, length)).astype(np.int32)
    ids[:, 0] = 0
    out.append(
        {
            "input_ids": ids,
            "attention_mask": np.ones_like(ids),
            "mask": np.ones(rows, np.int32),
            "label": rule(ids).astype(np.int32),
        }
    )
  return out


def _reference(layout, params, head, batches, names):
  """Per-example gradients one at a time, no vmap: sum of squares / examples."""
  total = {n: 0.0 for n in names}
  count = 0
  for b in batches:
    for r in range(len(b["mask"])):
      if not b["mask"][r]:
        continue

      def loss(chosen):
        model = layout.model({"encoder": {**params["encoder"], **chosen}, "heads": params["heads"]})
        logits = model(b["input_ids"][r : r + 1], b["attention_mask"][r : r + 1], head=head)
        return -jax.nn.log_softmax(logits[0])[b["label"][r]]

      g = jax.grad(loss)({n: params["encoder"][n] for n in names})
      total = {n: total[n] + np.asarray(g[n]) ** 2 for n in names}
      count += 1
  return np.concatenate([np.ravel(total[n]) / count for n in names])


def test_shape_and_reference(tiny):
  layout, params = tiny
  names = [n for n in layout.names if n.startswith("encoder.")]
  batches = _classification(0, 3, 64, lambda ids: ids[:, 1] % 3, batches=2, rows=4)
  batches[1]["mask"][-1] = 0  # a padding row counts for nothing
  emb = task_embedding(layout, params, "cls", "classification", batches)
  size = sum(int(np.prod(params["encoder"][n].shape)) for n in names)
  assert emb.shape == (size,) and emb.dtype == np.float32 and np.all(emb >= 0) and emb.max() > 0
  ref = _reference(layout, params, "cls", batches, names)
  np.testing.assert_allclose(emb, ref, rtol=2e-3, atol=1e-9)


def test_deterministic(tiny):
  layout, params = tiny
  batches = _classification(1, 3, 64, lambda ids: ids[:, 1] % 3)
  a = task_embedding(layout, params, "cls", "classification", batches)
  b = task_embedding(layout, params, "cls", "classification", batches)
  np.testing.assert_array_equal(a, b)


def test_copies_of_a_task_are_nearer_than_unrelated_tasks(tiny):
  layout, params = tiny
  rule_a = lambda ids: ids[:, 1] % 3
  a1 = task_embedding(layout, params, "cls", "classification", _classification(10, 3, 34, rule_a))
  a2 = task_embedding(layout, params, "cls", "classification", _classification(11, 3, 34, rule_a))
  # Unrelated: other tokens, other length, and a tagging loss.
  rng = np.random.default_rng(12)
  tagging = []
  for _ in range(4):
    ids = rng.integers(34, 64, size=(8, 20)).astype(np.int32)
    tagging.append(
        {
            "input_ids": ids,
            "attention_mask": np.ones_like(ids),
            "mask": np.ones(8, np.int32),
            "label_ids": (ids % 5).astype(np.int32),
        }
    )
  b = task_embedding(layout, params, "tag", "tagging", tagging)
  same, other = cosine(a1, a2), cosine(a1, b)
  assert same > other + 0.05, (same, other)
  assert cosine(sketch(a1), sketch(a2)) > cosine(sketch(a1), sketch(b))


def test_layer_subset_and_errors(tiny):
  layout, params = tiny
  last = [n for n in layout.names if n.startswith("encoder.layers.1.")]
  batches = _classification(2, 3, 64, lambda ids: ids[:, 1] % 3, batches=1)
  full = task_embedding(layout, params, "cls", "classification", batches)
  part = task_embedding(layout, params, "cls", "classification", batches, names=last)
  offset = 0
  for n in layout.names:
    if n.startswith("encoder."):
      size = int(np.prod(params["encoder"][n].shape))
      if n in last:
        idx = last.index(n)
        start = sum(int(np.prod(params["encoder"][m].shape)) for m in last[:idx])
        np.testing.assert_allclose(
            part[start : start + size], full[offset : offset + size], rtol=1e-4, atol=1e-6 * full.max()
        )
      offset += size
  with pytest.raises(DataError):
    task_embedding(layout, params, "cls", "classification", batches, names=["encoder.nope"])
  batches[0]["mask"][:] = 0
  with pytest.raises(DataError):
    task_embedding(layout, params, "cls", "classification", batches)


def test_sketch_keeps_inner_products_roughly():
  rng = np.random.default_rng(0)
  u = rng.random(50_000)
  v = u + 0.3 * rng.random(50_000)
  w = rng.random(50_000) ** 4
  assert abs(cosine(sketch(u), sketch(v)) - cosine(u, v)) < 0.05
  assert cosine(sketch(u), sketch(v)) > cosine(sketch(u), sketch(w))


def test_model_task_embedding_is_the_sketch(tiny):
  layout, params = tiny
  model = layout.model(params)
  batches = _classification(3, 3, 64, lambda ids: ids[:, 1] % 3, batches=1)
  from xstilts_jax.train.taskemb import model_task_embedding

  stored = model_task_embedding(model, "cls", "classification", batches, dim=256)
  full = task_embedding(layout, params, "cls", "classification", batches)
  assert len(stored) == 256 and all(isinstance(v, float) for v in stored)
  np.testing.assert_allclose(stored, sketch(full, 256), rtol=1e-5, atol=1e-12)


def test_the_pipeline_stores_the_taskemb_of_each_headed_task_over_its_first_rows(tiny):
  from xstilts_jax import pipeline
  from xstilts_jax.data.batches import TrainBatches
  from xstilts_jax.train.loop import TrainTask

  layout, params = tiny
  model = layout.model(params)
  (rows,) = _classification(4, 3, 64, lambda ids: ids[:, 2] % 3, batches=1, rows=10)
  features = {k: v for k, v in rows.items() if k != "mask"}
  tasks = [
      TrainTask("pairs", "cls", "classification", TrainBatches(features, 4, seed=0), 10),
      TrainTask("mlm:en", "mlm", "mlm", TrainBatches({"input_ids": rows["input_ids"]}, 4, seed=0), 10),
  ]
  got = pipeline.fisher_task_embeddings(model, tasks, examples=6)
  assert set(got) == {"pairs"}  # masked LM has no task head to take a Fisher through
  first = [{k: v[:6] for k, v in rows.items()}]  # the stored order, not a shuffled one
  names = [n for n in layout.names if n in params["encoder"]]
  np.testing.assert_allclose(
      got["pairs"], sketch(_reference(layout, params, "cls", first, names)), rtol=2e-4, atol=1e-9
  )
  assert pipeline.fisher_task_embeddings(model, tasks, examples=0) == {}
