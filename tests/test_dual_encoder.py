"""The dual encoder: pooling, one model for both towers, 8 devices equal 1, LAReQA features
and evaluation end to end on the real XQuAD-R slice, and the in-batch softmax loss."""

from flax import nnx
import jax
import numpy as np
import pytest

from xstilts_jax import sharding as shd
from xstilts_jax.data import readers
from xstilts_jax.data.retrieval_examples import RetrievalPair
from xstilts_jax.data.retrieval_qa import pair_features, pool_features
from xstilts_jax.evaluation import retrieval_qa
from xstilts_jax.evaluation.dual_encoder import DualEncoder, evaluate_lareqa
from xstilts_jax.models.xlmr import XLMRConfig, XLMRModel
from xstilts_jax.train.dual_encoder import in_batch_softmax_loss

CFG = XLMRConfig(
    vocab_size=4000,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=300,
)


def _partitioner(d, f, t):
  """The default rule table over a (data, fsdp, tensor) = (d, f, t) mesh of the first d*f*t devices."""
  return shd.Partitioner.from_config({"data": d, "fsdp": f, "tensor": t}, devices=jax.devices()[: d * f * t])


def _features(n=37, seed=0, length=12):
  rng = np.random.default_rng(seed)
  ids = rng.integers(3, 64, size=(n, length)).astype(np.int32)
  ids[:, 0] = 0
  for i in range(n):
    ids[i, length - i % 5 :] = 1
  return {"input_ids": ids, "attention_mask": (ids != 1).astype(np.int32)}


def _unit(x):
  x = np.asarray(x, np.float64)
  return x / np.linalg.norm(x, axis=-1, keepdims=True)


@pytest.mark.parametrize("pooling,layer", [("pooler", None), ("cls", None), ("mean", 1)])
def test_pooling_and_eight_devices_equal_one(pooling, layer):
  model = XLMRModel(CFG, rngs=nnx.Rngs(0))
  feats = _features()
  one = DualEncoder(model, _partitioner(1, 1, 1), 8, pooling=pooling, layer=layer).embed(feats)
  eight = DualEncoder(model, _partitioner(2, 2, 2), 8, pooling=pooling, layer=layer).embed(feats)
  assert one.shape == (37, 32)
  np.testing.assert_allclose(eight, one, atol=1e-5)
  np.testing.assert_allclose(np.linalg.norm(one, axis=1), 1.0, atol=1e-5)
  # Against the model run directly on row 5 alone, pooled by hand in numpy.
  ids, mask = feats["input_ids"][5:6], feats["attention_mask"][5:6]
  last, hidden = model(ids, mask, output_hidden_states=True)
  if pooling == "pooler":
    p = model.encoder.pool(last)
  elif pooling == "cls":
    p = np.asarray(last)[:, 0]
  else:
    h, m = np.asarray(hidden[layer], np.float64), mask[..., None].astype(np.float64)
    p = (h * m).sum(1) / m.sum(1)
  np.testing.assert_allclose(one[5:6], _unit(p), atol=1e-5)


def test_lareqa_end_to_end_on_the_real_slice(shared_data, small_tokenizer):
  pool = readers.read_xquad_r(shared_data / "lareqa" / "xquad-r")
  feats = pool_features(pool, small_tokenizer)
  q, c = feats["queries"], feats["candidates"]
  assert q["input_ids"].shape == (1485, 96) and c["input_ids"].shape == (len(pool.candidates), 256)
  assert (q["input_ids"][:, 0] == small_tokenizer.cls_token_id).all()
  # A candidate is its sentence followed by its paragraph: longer than the sentence alone.
  assert (c["attention_mask"].sum(1) > 20).all()
  encoder = DualEncoder(XLMRModel(CFG, rngs=nnx.Rngs(3)), _partitioner(8, 1, 1), 64)
  result = evaluate_lareqa(encoder, pool, feats)
  expected = retrieval_qa.lareqa_map(encoder.embed(q), encoder.embed(c), pool.gold)["map@20"]
  assert result["map@20"] == pytest.approx(expected)
  assert 0 < result["map@20"] < 100 and len(result["per_language"]) == 11


def test_pair_features(small_tokenizer):
  pairs = [
      RetrievalPair("a", "Who won?", "The Broncos won. The Broncos won the game."),
      RetrievalPair("b", "Where?", "In Santa Clara."),
  ]
  f = pair_features(pairs, small_tokenizer, 16, 32)
  assert f["query_input_ids"].shape == (2, 16) and f["candidate_input_ids"].shape == (2, 32)
  assert set(f) == {"query_input_ids", "query_attention_mask", "candidate_input_ids", "candidate_attention_mask"}


def test_in_batch_softmax_loss_by_hand():
  rng = np.random.default_rng(0)
  q, c = _unit(rng.normal(size=(4, 8))), _unit(rng.normal(size=(4, 8)))
  mask = np.array([1, 1, 1, 0])
  total, count = in_batch_softmax_loss(q.astype(np.float32), c.astype(np.float32), mask)
  logits = 100 * q[:3] @ c[:3].T  # the padded row is neither a query nor a negative
  expected = sum(np.log(np.exp(logits[i] - logits[i].max()).sum()) + logits[i].max() - logits[i, i] for i in range(3))
  assert int(count) == 3
  assert float(total) == pytest.approx(expected, rel=1e-4)


def test_written_lareqa_encodings_score_the_same(shared_data, tmp_path):
  from xstilts_jax.evaluation.dual_encoder import write_lareqa_encodings
  from xstilts_jax.formats import score_files

  xquad_r = shared_data / "lareqa" / "xquad-r"
  pool = readers.read_xquad_r(xquad_r)
  rng = np.random.default_rng(5)
  q = rng.normal(size=(len(pool.questions), 8)).astype(np.float32)
  c = rng.normal(size=(len(pool.candidates), 8)).astype(np.float32)
  write_lareqa_encodings(tmp_path / "out", pool, q, c)
  direct = retrieval_qa.lareqa_map(q, c, pool.gold)["map@20"]
  assert score_files("lareqa", tmp_path / "out", xquad_r)["map@20"] == pytest.approx(direct)


def test_evaluate_dual_encoder_task_mewslix(small_tokenizer):
  from xstilts_jax.data.retrieval_examples import Entity, EntityMention, EntityRetrievalSet
  from xstilts_jax.data.retrieval_qa import entity_features
  from xstilts_jax.evaluation.dual_encoder import evaluate_dual_encoder_task

  entities = tuple(Entity(f"Q{i}", f"t{i}", f"Entity number {i} is a city.") for i in range(30))
  mentions = tuple(EntityMention(f"m{i}", "de", "city", f"city: the {{ city }} {i}", f"Q{i}") for i in range(5))
  data = EntityRetrievalSet(mentions, entities)
  feats = entity_features(data, small_tokenizer)
  assert feats["queries"]["input_ids"].shape == (5, 64)
  encoder = DualEncoder(XLMRModel(CFG, rngs=nnx.Rngs(4)), _partitioner(1, 1, 1), 8)
  result, predictions = evaluate_dual_encoder_task(encoder, "mewslix_map", data, feats)
  assert set(predictions) == {f"m{i}" for i in range(5)}
  assert all(len(p) == 20 for p in predictions.values())
  gold = {m.example_id: m.entity_id for m in mentions}
  assert result == retrieval_qa.mewslix_mrr(gold, predictions)
  # (No exact-vs-faiss comparison here: near-identical texts through a random model score
  # within float rounding of each other, where the two summation orders may swap ranks.)


def test_training_both_towers_with_the_in_batch_loss_raises_map(shared_data, small_tokenizer):
  """A few steps on the pool's own (question, answer sentence + paragraph) pairs: the loss
  reaches both towers through the one shared encoder, and mAP@20 rises."""
  import optax

  from xstilts_jax.data.retrieval_qa import text_features
  from xstilts_jax.evaluation.dual_encoder import pool_and_normalise

  pool = readers.read_xquad_r(shared_data / "lareqa" / "xquad-r", languages=["en"])
  feats = {
      "queries": text_features([q.text for q in pool.questions], small_tokenizer, 32),
      "candidates": text_features([c.text for c in pool.candidates], small_tokenizer, 64),
  }
  answer = [g[0] for g in pool.gold]

  def score(model):
    encoder = DualEncoder(model, _partitioner(1, 1, 1), 64)
    return evaluate_lareqa(encoder, pool, feats)["map@20"]

  model = XLMRModel(CFG, rngs=nnx.Rngs(7))
  before = score(model)
  graphdef, params = nnx.split(model)
  tx = optax.adam(2e-3)
  opt_state = tx.init(params)

  @jax.jit
  def step(params, opt_state, batch):
    def loss_fn(params):
      m = nnx.merge(graphdef, params)
      q = pool_and_normalise(m, batch["q_ids"], batch["q_mask"])
      c = pool_and_normalise(m, batch["c_ids"], batch["c_mask"])
      total, count = in_batch_softmax_loss(q, c, batch["mask"])
      return total / count

    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  rng = np.random.default_rng(0)
  losses = []
  for _ in range(40):
    rows = rng.choice(len(pool.questions), 16, replace=False)
    cand = [answer[r] for r in rows]
    batch = {
        "q_ids": feats["queries"]["input_ids"][rows],
        "q_mask": feats["queries"]["attention_mask"][rows],
        "c_ids": feats["candidates"]["input_ids"][cand],
        "c_mask": feats["candidates"]["attention_mask"][cand],
        "mask": np.ones(16, np.int32),
    }
    params, opt_state, loss = step(params, opt_state, batch)
    losses.append(float(loss))
  after = score(nnx.merge(graphdef, params))
  assert np.mean(losses[-5:]) < np.mean(losses[:5])
  assert after > before + 5, (before, after)
