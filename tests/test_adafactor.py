"""Adafactor in the engine: optax's own adafactor as the reference, the factored statistics'
shardings checked by hand and for every leaf, and 8 devices equal to 1 (tests/conftest.py
sets up 8 fake CPU devices)."""

import math

from flax import nnx
import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P
import numpy as np
import optax
import pytest
from tiny_mt5 import TINY_MT5

from xstilts_jax import sharding as shd
from xstilts_jax.models.mt5 import MT5Model
from xstilts_jax.models.xlmr import HeadSpec
from xstilts_jax.train import optim
from xstilts_jax.train import state as train_state
from xstilts_jax.train import steps as train_steps

CFG = TINY_MT5
# min_dim_size_to_factor=8 factors every kernel of the tiny model.
FACTOR_SMALL = dict(min_dim_size_to_factor=8)


def _mesh(d, f, t):
  return shd.make_mesh({"data": d, "fsdp": f, "tensor": t}, devices=jax.devices()[: d * f * t])


def test_adafactor_is_optax_adafactor_with_the_rate_outside():
  """`param - lr * update` of our transform is optax.adafactor(lr) step for step, for factored
  (130 x 140), unfactored and 1-D parameters."""
  lr = 1e-3
  rng = np.random.default_rng(0)
  params = {
      "big.kernel": jnp.asarray(rng.normal(size=(130, 140)), jnp.float32),
      "small.kernel": jnp.asarray(rng.normal(size=(3, 4)), jnp.float32),
      "small.bias": jnp.asarray(rng.normal(size=(7,)), jnp.float32),
  }
  ocfg = optim.OptimizerConfig.adafactor(total_steps=4, learning_rate=lr)
  ours, reference = optim.make_transform(ocfg), optax.adafactor(lr)
  s_ours, s_ref = ours.init(params), reference.init(params)
  p_ours = p_ref = params
  schedule = optim.make_schedule(ocfg)
  for step in range(4):
    grads = jax.tree.map(lambda x: jnp.asarray(rng.normal(size=x.shape), jnp.float32), params)
    u, s_ours = ours.update(grads, s_ours, p_ours)
    p_ours = jax.tree.map(lambda p, u: p - schedule(step) * u, p_ours, u)
    u, s_ref = reference.update(grads, s_ref, p_ref)
    p_ref = optax.apply_updates(p_ref, u)
  for k in params:
    np.testing.assert_allclose(p_ours[k], p_ref[k], rtol=1e-6, atol=1e-7, err_msg=k)
  assert not np.allclose(p_ours["big.kernel"], params["big.kernel"])
  assert s_ours[0].v_row["big.kernel"].shape == (130,)  # factored: no 130 x 140 statistic
  assert s_ours[0].v["big.kernel"].shape == (1,)


def test_schedule_is_constant_after_its_warmup():
  constant = optim.make_schedule(optim.OptimizerConfig.adafactor(total_steps=100, learning_rate=1e-3))
  assert [float(constant(s)) for s in (0, 50, 99, 100)] == pytest.approx([1e-3] * 4)
  warm = optim.make_schedule(optim.OptimizerConfig.adafactor(total_steps=100, learning_rate=1e-3, warmup_fraction=0.1))
  assert [float(warm(s)) for s in (0, 5, 10, 99)] == pytest.approx([0.0, 5e-4, 1e-3, 1e-3])


def test_the_t5x_recipe_and_bad_names():
  ocfg = optim.OptimizerConfig.adafactor(total_steps=10)
  assert (ocfg.name, ocfg.learning_rate, ocfg.decay_rate, ocfg.clipping_threshold) == ("adafactor", 1e-3, 0.8, 1.0)
  assert (ocfg.weight_decay, ocfg.grad_clip_norm, ocfg.warmup_fraction, ocfg.min_dim_size_to_factor) == (0, 0, 0, 128)
  with pytest.raises(ValueError, match=r"optimizer.name 'adam' is not one of adamw, adafactor"):
    optim.OptimizerConfig(name="adam")
  with pytest.raises(ValueError, match="moments_dtype 'bfloat16'"):
    optim.OptimizerConfig.adafactor(total_steps=10, moments_dtype="bfloat16")
  with pytest.raises(ValueError, match="weight_decay 0.01: Adafactor runs without weight decay"):
    optim.OptimizerConfig(name="adafactor")


def _abstract_state(ocfg, mesh):
  model = MT5Model(CFG, {"h": HeadSpec("tagging", 5)}, rngs=nnx.Rngs(0))
  tx = optim.make_transform(ocfg)
  layout = train_state.ModelLayout.of(model)
  abstract = jax.eval_shape(lambda p: train_state.init_state(layout, p, tx), layout.flat(model))
  return layout, abstract, train_state.state_shardings(layout, abstract, shd.Partitioner(mesh))


@pytest.mark.parametrize("factor", [FACTOR_SMALL, {}])
def test_state_shardings_are_valid_for_every_leaf(factor):
  mesh = _mesh(2, 2, 2)
  _, abstract, shardings = _abstract_state(optim.OptimizerConfig.adafactor(10, **factor), mesh)
  leaves = jax.tree_util.tree_leaves_with_path(abstract)
  specs = jax.tree.leaves(shardings)
  assert len(leaves) == len(specs)
  sharded = 0
  for (path, leaf), sharding in zip(leaves, specs):
    spec = tuple(sharding.spec)
    assert len(spec) <= leaf.ndim, jax.tree_util.keystr(path)
    for dim, entry in zip(leaf.shape, spec):
      axes = () if entry is None else (entry,) if isinstance(entry, str) else tuple(entry)
      assert dim % math.prod(mesh.shape[a] for a in axes) == 0, (jax.tree_util.keystr(path), leaf.shape, spec)
      sharded += bool(axes)
  assert sharded > 0


def test_factored_statistics_shard_like_their_parameter_without_the_reduced_axis():
  """By hand: wi_0's kernel is [16 embed, 32 mlp] -> (fsdp, tensor). optax keeps v_row without
  the largest axis (mlp) and v_col without the other (embed); a norm's scale keeps a full v."""
  mesh = _mesh(2, 2, 2)
  _, abstract, shardings = _abstract_state(optim.OptimizerConfig.adafactor(10, **FACTOR_SMALL), mesh)
  k = "encoder.blocks.0.ffn.wi_0.kernel"
  wo = "encoder.blocks.0.ffn.wo.kernel"  # [32 mlp, 16 embed]: the largest axis comes first
  stats, sh = abstract["opt"]["encoder"][0], shardings["opt"]["encoder"][0]
  assert abstract["params"]["encoder"][k].shape == (16, 32)
  assert shardings["params"]["encoder"][k].spec == P("fsdp", "tensor")
  assert (stats.v_row[k].shape, sh.v_row[k].spec) == ((16,), P("fsdp"))
  assert (stats.v_col[k].shape, sh.v_col[k].spec) == ((32,), P("tensor"))
  assert (stats.v[k].shape, sh.v[k].spec) == ((1,), P())
  assert (stats.v_row[wo].shape, sh.v_row[wo].spec) == ((16,), P("fsdp"))
  assert (stats.v_col[wo].shape, sh.v_col[wo].spec) == ((32,), P("tensor"))
  norm = "encoder.blocks.0.ffn_norm.scale"
  assert stats.v[norm].shape == (16,) and sh.v[norm].spec == shardings["params"]["encoder"][norm].spec
  assert sh.v_row[norm].spec == P() and sh.count.spec == P()


def _run(mesh, batches):
  model = MT5Model(CFG, {"h": HeadSpec("tagging", 5)}, rngs=nnx.Rngs(0))
  ocfg = optim.OptimizerConfig.adafactor(total_steps=10, learning_rate=1e-2, **FACTOR_SMALL)
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


def test_adafactor_eight_devices_equal_one():
  rng = np.random.default_rng(1)
  batches = []
  for _ in range(3):
    ids = rng.integers(2, 96, size=(8, 12)).astype(np.int32)
    mask = (np.arange(12)[None] < rng.integers(3, 13, size=8)[:, None]).astype(np.int32)
    labels = np.where(mask == 1, rng.integers(0, 5, ids.shape), -100).astype(np.int32)
    batches.append({"input_ids": ids * mask, "attention_mask": mask, "label_ids": labels, "mask": np.ones(8, np.int32)})
  one, s1 = _run(_mesh(1, 1, 1), batches)
  eight, s8 = _run(_mesh(2, 2, 2), batches)
  np.testing.assert_allclose(eight, one, rtol=1e-5)
  assert np.ptp(one) > 1e-4  # the steps change the model
  k = "encoder.blocks.0.ffn.wi_0.kernel"
  assert s8["opt"]["encoder"][0].v_col[k].sharding.spec == P("tensor")
  for name, v in s1["params"]["encoder"].items():
    np.testing.assert_allclose(np.asarray(s8["params"]["encoder"][name]), np.asarray(v), atol=1e-5, err_msg=name)
  for field in ("v_row", "v_col"):
    a, b = getattr(s8["opt"]["encoder"][0], field)[k], getattr(s1["opt"]["encoder"][0], field)[k]
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5)
