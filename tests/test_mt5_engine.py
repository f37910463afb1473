"""mT5 through the project's engine: meshes and rule table, train step, Adafactor, accumulation.

8 fake CPU devices (tests/conftest.py). The expectations are the same computation on one
device and the loss of the whole batch in one piece (Adafactor itself: tests/test_adafactor.py).
"""

from flax import nnx
import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P
import numpy as np
import pytest
from tiny_mt5 import TINY_MT5

from xstilts_jax import sharding as shd
from xstilts_jax.models.mt5 import MT5Model, greedy_decode, shift_right
from xstilts_jax.models.mt5_recipe import seq2seq_loss, target_ids, text_to_text_batch
from xstilts_jax.models.xlmr import HeadSpec
from xstilts_jax.train import optim
from xstilts_jax.train import state as train_state
from xstilts_jax.train import steps as train_steps

CFG = TINY_MT5


def _mesh(d, f, t):
  return shd.make_mesh({"data": d, "fsdp": f, "tensor": t}, devices=jax.devices()[: d * f * t])


def _source(rng, rows=8, length=12):
  ids = rng.integers(2, 96, size=(rows, length)).astype(np.int32)
  lengths = rng.integers(3, length + 1, size=rows)
  mask = (np.arange(length)[None] < lengths[:, None]).astype(np.int32)
  return ids * mask, mask


def _seq2seq_batch(rng, rows=8):
  ids, mask = _source(rng, rows)
  labels = rng.integers(2, 96, size=(rows, 6)).astype(np.int32)
  n = rng.integers(1, 7, size=rows)
  target_mask = (np.arange(6)[None] < n[:, None]).astype(np.int32)
  labels = np.where(target_mask == 1, labels, -100)
  return {
      "input_ids": ids,
      "attention_mask": mask,
      "labels": labels,
      "decoder_input_ids": np.asarray(shift_right(jnp.asarray(labels), 0, 0)),
      "decoder_attention_mask": target_mask,
      "mask": np.ones(rows, np.int32),
  }


def _placed(model, partitioner):
  """The model with each parameter on the mesh as the rule table says."""
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  logical = nnx.get_partition_spec(params)
  shardings = partitioner.param_shardings(params, logical)
  return nnx.merge(graphdef, jax.device_put(params, shardings), rest)


def _engine_run(mesh, batches, ocfg):
  model = MT5Model(CFG, {"h": HeadSpec("tagging", 5)}, rngs=nnx.Rngs(0))
  tx = optim.make_transform(ocfg)
  partitioner = shd.Partitioner(mesh, constrain_activations=False)  # the default rules; activations left to XLA
  layout, state, shardings = train_state.create_state(model, tx, partitioner)
  step = train_steps.jit_train_step(
      train_steps.make_train_step(
          layout, "h", "tagging", tx, optim.make_schedule(ocfg), ocfg.grad_clip_norm, 1, partitioner
      ),
      shardings,
      partitioner,
  )
  losses = []
  for b in batches:
    state, metrics = step(state, partitioner.global_batch(b))
    losses.append(float(metrics["loss"]))
  return np.array(losses), state


def test_train_step_eight_devices_equal_one():
  """The engine's own train step (AdamW) on an mT5 encoder with a tagging head (Adafactor:
  tests/test_adafactor.py)."""
  rng = np.random.default_rng(1)
  batches = []
  for _ in range(3):
    ids, mask = _source(rng)
    labels = np.where(mask == 1, rng.integers(0, 5, ids.shape), -100).astype(np.int32)
    batches.append({"input_ids": ids, "attention_mask": mask, "label_ids": labels, "mask": np.ones(8, np.int32)})
  ocfg = optim.OptimizerConfig(learning_rate=1e-3, warmup_fraction=0.0)
  one, s1 = _engine_run(_mesh(1, 1, 1), batches, ocfg)
  eight, s8 = _engine_run(_mesh(2, 2, 2), batches, ocfg)
  np.testing.assert_allclose(eight, one, rtol=1e-5)
  assert np.ptp(one) > 1e-4
  k = "encoder.blocks.0.ffn.wi_0.kernel"
  assert s8["params"]["encoder"][k].sharding.spec == P("fsdp", "tensor")
  np.testing.assert_allclose(np.asarray(s8["params"]["encoder"][k]), np.asarray(s1["params"]["encoder"][k]), atol=1e-5)


def test_seq2seq_loss_accumulates_exactly():
  """Summed losses and counts of micro-batches give the whole batch's mean and gradient."""
  model = MT5Model(CFG, {"lm": HeadSpec("seq2seq")}, rngs=nnx.Rngs(2))
  batch = {k: jnp.asarray(v) for k, v in _seq2seq_batch(np.random.default_rng(3)).items()}

  @nnx.jit
  def mean_loss_and_grad(model, parts):
    def total(m):
      sums = [seq2seq_loss(m, p, "lm") for p in parts]
      return sum(s for s, _ in sums) / sum(n for _, n in sums), sums

    return nnx.value_and_grad(total, has_aux=True)(model)

  (whole_loss, _), whole_grad = mean_loss_and_grad(model, [batch])
  quarters = [jax.tree.map(lambda x: x[i::4], batch) for i in range(4)]
  (sum_loss, sums), sum_grad = mean_loss_and_grad(model, quarters)
  np.testing.assert_allclose(sum_loss, whole_loss, rtol=1e-6)
  for a, b in zip(jax.tree.leaves(sum_grad), jax.tree.leaves(whole_grad)):
    np.testing.assert_allclose(a, b, atol=1e-6, rtol=1e-5)
  # A mean per micro-batch would not add up: the targets have different lengths.
  per_part = np.mean([float(s) / float(n) for s, n in sums])
  assert abs(per_part - float(whole_loss)) > 1e-4


def test_seq2seq_forward_and_decoding_eight_devices_equal_one():
  model = MT5Model(CFG, {"lm": HeadSpec("seq2seq")}, rngs=nnx.Rngs(4))
  batch = _seq2seq_batch(np.random.default_rng(5))
  forward = nnx.jit(
      lambda m, b: m(
          b["input_ids"],
          b["attention_mask"],
          decoder_input_ids=b["decoder_input_ids"],
          decoder_attention_mask=b["decoder_attention_mask"],
      )
  )
  decode = nnx.jit(greedy_decode, static_argnames=("max_length", "head"))
  keys = ("input_ids", "attention_mask", "decoder_input_ids", "decoder_attention_mask")
  results = []
  for mesh in (_mesh(1, 1, 1), _mesh(2, 2, 2)):
    partitioner = shd.Partitioner(mesh)
    placed = _placed(model, partitioner)
    b = partitioner.global_batch({k: batch[k] for k in keys})
    logits = forward(placed, b)
    tokens = decode(placed, b["input_ids"], b["attention_mask"], max_length=10)
    results.append((np.asarray(logits), np.asarray(tokens)))
    if mesh.size == 8:
      kernel = placed.heads["lm"].blocks[0].cross_attention.q.kernel[...]
      assert kernel.sharding.spec == P("fsdp", "tensor")
      assert b["input_ids"].sharding.spec == P(shd.BATCH_AXES)
  (l1, t1), (l8, t8) = results
  np.testing.assert_allclose(l8, l1, atol=1e-5, rtol=1e-5)
  np.testing.assert_array_equal(t8, t1)
  assert (t1[:, 1:] != 0).any()


def test_text_to_text_batch_by_hand():
  b = text_to_text_batch([[5, 6, 7], [8, 9, 10, 11, 12]], [[20, 21], [22, 23, 24, 25]], max_source=5, max_target=4)
  np.testing.assert_array_equal(b["input_ids"], [[5, 6, 7, 1, 0], [8, 9, 10, 11, 1]])
  np.testing.assert_array_equal(b["attention_mask"], [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]])
  np.testing.assert_array_equal(b["labels"], [[20, 21, 1, -100], [22, 23, 24, 1]])
  np.testing.assert_array_equal(b["decoder_input_ids"], [[0, 20, 21, 1], [0, 22, 23, 24]])
  np.testing.assert_array_equal(b["decoder_attention_mask"], [[1, 1, 1, 0], [1, 1, 1, 1]])
  with pytest.raises(ValueError, match="2 sources but 1 targets"):
    text_to_text_batch([[5], [6]], [[7]], 4, 4)


def test_target_ids_by_hand():
  decoded = np.array([[0, 7, 8, 1, 0, 0], [0, 9, 9, 9, 9, 9], [0, 1, 0, 0, 0, 0]])
  assert target_ids(decoded) == [[7, 8], [9, 9, 9, 9, 9], []]


def test_a_text_to_text_batch_trains_and_decodes_its_target():
  """A few Adafactor steps on one batch make greedy decoding give back its targets."""
  model = MT5Model(CFG, {"lm": HeadSpec("seq2seq")}, rngs=nnx.Rngs(6))
  targets = [[20, 21], [30, 31, 32], [40]]
  batch = {
      k: jnp.asarray(v) for k, v in text_to_text_batch([[5, 6, 7], [8, 9], [10, 11, 12, 13]], targets, 8, 5).items()
  }
  tx = optim.make_transform(optim.OptimizerConfig.adafactor(total_steps=60, learning_rate=1e-2))
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  opt = tx.init(params)

  @jax.jit
  def step(params, opt):
    def loss(p):
      total, count = seq2seq_loss(nnx.merge(graphdef, p, rest), batch, "lm")
      return total / count

    value, grads = jax.value_and_grad(loss)(params)
    updates, opt = tx.update(grads, opt, params)
    return jax.tree.map(lambda p, u: p - 1e-2 * u, params, updates), opt, value

  losses = []
  for _ in range(60):
    params, opt, value = step(params, opt)
    losses.append(float(value))
  assert losses[-1] < 0.05 * losses[0]
  trained = nnx.merge(graphdef, params, rest)
  decoded = nnx.jit(greedy_decode, static_argnames=("max_length", "head"))(
      trained, batch["input_ids"], batch["attention_mask"], max_length=6
  )
  assert target_ids(decoded) == targets


def _seq2seq_step(model, accum, lr):
  """The engine's jitted train step for head "lm" of kind seq2seq: parameters - lr * gradient
  (the step applies the schedule to the transform's updates; the identity passes gradients on)."""
  import optax

  tx = optax.identity()
  partitioner = shd.Partitioner(_mesh(1, 1, 1), constrain_activations=False)
  layout, state, shardings = train_state.create_state(model, tx, partitioner)
  make = train_steps.make_train_step(layout, "lm", "seq2seq", tx, lambda s: lr, 0.0, accum, partitioner)
  return jax.jit(make), state, partitioner


def test_seq2seq_train_step_against_a_hand_written_loss_and_accumulation():
  """One jitted engine step: the loss is optax's CE over the target tokens of teacher-forced
  logits (decoder inputs shifted by hand here), the update is -lr times its gradient, and two
  micro-batches give the same step as one."""
  import optax

  model = MT5Model(CFG, {"lm": HeadSpec("seq2seq")}, rngs=nnx.Rngs(7))
  raw = _seq2seq_batch(np.random.default_rng(8))
  batch = {k: raw[k] for k in ("input_ids", "attention_mask", "labels", "mask")}
  batch["mask"][-1] = 0  # a padding row teaches nothing
  labels = raw["labels"]
  # Teacher forcing by hand: start token 0, then the target; -100 becomes padding 0.
  decoder_ids = np.zeros_like(labels)
  decoder_ids[:, 1:] = np.where(labels[:, :-1] == -100, 0, labels[:, :-1])
  valid = (labels != -100) & (batch["mask"][:, None] == 1)

  graphdef, params, rest = nnx.split(model, nnx.Param, ...)

  def hand_loss(p):
    logits = nnx.merge(graphdef, p, rest)(
        batch["input_ids"],
        batch["attention_mask"],
        decoder_input_ids=decoder_ids,
        decoder_attention_mask=(labels != -100).astype(np.int32),
    )
    ce = optax.softmax_cross_entropy_with_integer_labels(logits, np.where(valid, labels, 0))
    return jnp.sum(jnp.where(valid, ce, 0.0)) / valid.sum()

  expected_loss, expected_grad = jax.jit(jax.value_and_grad(hand_loss))(params)
  lr = 0.5
  results = []
  for accum in (1, 2):
    step, state, partitioner = _seq2seq_step(MT5Model(CFG, {"lm": HeadSpec("seq2seq")}, rngs=nnx.Rngs(7)), accum, lr)
    before = jax.tree.map(np.asarray, state["params"])
    state, metrics = step(state, partitioner.global_batch(batch))
    results.append((metrics, before, jax.tree.map(np.asarray, state["params"])))
  for metrics, before, after in results:
    np.testing.assert_allclose(float(metrics["loss"]), float(expected_loss), rtol=1e-5)
    assert float(metrics["count"]) == valid.sum()
  # Parameter by parameter: before - lr * the hand-written gradient.
  (_, before, after), (_, _, after2) = results
  flat_grad = {
      ".".join(str(getattr(k, "key", k)) for k in path): np.asarray(g)
      for path, g in jax.tree_util.tree_flatten_with_path(nnx.to_pure_dict(expected_grad))[0]
  }
  checked = 0
  for group, new, new2 in zip(
      (before["encoder"], before["heads"]["lm"]),
      (after["encoder"], after["heads"]["lm"]),
      (after2["encoder"], after2["heads"]["lm"]),
  ):
    for name in group:
      np.testing.assert_allclose(new[name], group[name] - lr * flat_grad[name], atol=1e-6, err_msg=name)
      np.testing.assert_allclose(new2[name], new[name], atol=1e-6, err_msg=name)
      checked += 1
  assert checked == len(flat_grad)
  assert np.abs(flat_grad["heads.lm.lm_head.kernel"]).max() > 1e-3
