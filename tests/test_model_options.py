"""How the model computes (remat, attention kernel) and Adam's moment dtype never change what
it computes: the same outputs and gradients as the plain model, dropout included."""

import dataclasses
import functools

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from xstilts_jax.models import xlmr
from xstilts_jax.models.xlmr import HeadSpec, ModelOptions, XLMRConfig, XLMRModel
from xstilts_jax.train import optim

CFG = XLMRConfig(
    vocab_size=50,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=48,
    max_position_embeddings=40,
    hidden_dropout_prob=0.1,
    attention_probs_dropout_prob=0.1,
)


def _inputs():
  rng = np.random.default_rng(0)
  ids = rng.integers(3, 50, size=(3, 12)).astype(np.int32)
  ids[:, 0] = 0
  mask = np.ones_like(ids)
  mask[1, 8:] = 0
  ids[1, 8:] = 1
  return jnp.asarray(ids), jnp.asarray(mask)


@functools.lru_cache(maxsize=None)  # each variant compiles once for the whole file
def _loss_and_grads(cfg: XLMRConfig, options: ModelOptions, seed):
  """(logits, loss, grads) of a fixed loss, compiled, with dropout drawn from key(seed)."""
  key = None if seed is None else jax.random.key(seed)
  model = XLMRModel(cfg, {"cls": HeadSpec("classification", 3)}, rngs=nnx.Rngs(0), options=options)
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  ids, mask = _inputs()

  def loss(p):
    logits = nnx.merge(graphdef, p, rest)(ids, mask, dropout_rng=key)
    return jnp.sum(jnp.sin(logits) * jnp.arange(1.0, 4.0)), logits

  (value, logits), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(params)
  return np.asarray(logits), float(value), jax.tree.map(np.asarray, grads)


def _assert_same(a, b, tol=1e-5):
  np.testing.assert_allclose(a[0], b[0], atol=tol, rtol=0)
  assert abs(a[1] - b[1]) < tol
  for x, y in zip(jax.tree.leaves(a[2]), jax.tree.leaves(b[2])):
    np.testing.assert_allclose(x, y, atol=tol, rtol=0)


@pytest.mark.parametrize("remat", ["dots", "full"])
def test_remat_gives_the_plain_model_outputs_and_gradients(remat):
  plain = _loss_and_grads(CFG, ModelOptions(), 7)  # dropout on: the recomputed masks must match
  _assert_same(_loss_and_grads(CFG, ModelOptions(remat=remat), 7), plain)
  assert max(np.abs(g).max() for g in jax.tree.leaves(plain[2])) > 1e-3  # gradients are not all ~0
  assert not np.allclose(plain[0], _loss_and_grads(CFG, ModelOptions(), 8)[0])  # the masks matter


def test_remat_policy_recomputes():
  """`full` saves nothing in the forward pass for the backward one: fewer residuals than none."""
  model = {r: XLMRModel(CFG, {}, rngs=nnx.Rngs(0), options=ModelOptions(remat=r)) for r in ("none", "full")}
  ids, mask = _inputs()

  def residuals(m):
    graphdef, params = nnx.split(m, nnx.Param)
    f = lambda p: nnx.merge(graphdef, p)(ids, mask).sum()
    return sum(x.size for x in jax.tree.leaves(jax.vjp(f, params)[1]))  # what the backward pass keeps

  assert residuals(model["full"]) < residuals(model["none"])


@pytest.mark.parametrize("attention", ["auto", "xla"])
def test_fused_attention_equals_plain_with_attention_dropout_zero(attention, monkeypatch):
  cfg = XLMRConfig(**{**CFG.__dict__, "attention_probs_dropout_prob": 0.0})  # hidden dropout stays on
  calls = []
  fused = jax.nn.dot_product_attention

  def spy(*args, **kwargs):
    calls.append(kwargs.get("implementation"))
    return fused(*args, **kwargs)

  monkeypatch.setattr(xlmr.jax.nn, "dot_product_attention", spy)
  plain = _loss_and_grads.__wrapped__(cfg, ModelOptions(attention="plain"), 3)
  assert not calls
  got = _loss_and_grads.__wrapped__(cfg, ModelOptions(attention=attention), 3)
  assert calls and set(calls) == {None if attention == "auto" else attention}
  _assert_same(got, plain)
  # With dropout on the probabilities the fused kernel cannot run: the plain path does.
  calls.clear()
  _loss_and_grads.__wrapped__(CFG, ModelOptions(attention=attention), 3)
  assert not calls


def test_options_are_checked():
  with pytest.raises(ValueError, match="model.remat"):
    ModelOptions(remat="some")
  with pytest.raises(ValueError, match="model.attention"):
    ModelOptions(attention="flash")
  assert ModelOptions.from_config({"remat": "full"}) == ModelOptions(remat="full")


def _adam_steps(tx, n=4):
  params = {"a": jnp.linspace(-1.0, 1.0, 12).reshape(3, 4), "b": jnp.arange(5.0)}
  state = tx.init(params)
  outs = []
  for i in range(n):
    grads = jax.tree.map(lambda p: jnp.cos(p * (i + 1)) * 0.1, params)
    updates, state = tx.update(grads, state, params)
    outs.append(updates)
  return outs, state


def test_adam_float32_moments_equal_optax():
  ours, state = _adam_steps(optim.scale_by_adam(0.9, 0.999, 1e-8, "float32"))
  ref, ref_state = _adam_steps(optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8))
  for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  assert int(state.count) == int(ref_state.count) == 4


def test_adam_bfloat16_moments_are_stored_in_bfloat16():
  ours, state = _adam_steps(optim.scale_by_adam(0.9, 0.999, 1e-8, "bfloat16"))
  ref, _ = _adam_steps(optax.scale_by_adam(b1=0.9, b2=0.999, eps=1e-8))
  assert {x.dtype for x in jax.tree.leaves((state.mu, state.nu))} == {jnp.dtype(jnp.bfloat16)}
  for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref)):
    np.testing.assert_allclose(a, b, rtol=2e-2, atol=2e-2)
  with pytest.raises(ValueError, match="moments_dtype"):
    optim.scale_by_adam(0.9, 0.999, 1e-8, "float16")


# ----------------------------------------------------------------------------- scanned layers


def test_scanned_layers_equal_unscanned_through_hf_import_and_export(tmp_path):
  from xstilts_jax.models.hf import export_hf, hf_state_dict, load_hf

  plain = XLMRModel(CFG, {"classification": HeadSpec("classification", 3)}, rngs=nnx.Rngs(0))
  export_hf(plain, str(tmp_path / "hf"), label_names=["a", "b", "c"])
  scanned = load_hf(str(tmp_path / "hf"), head="classification", options=ModelOptions(scan_layers=True))
  kernel = nnx.state(scanned, nnx.Param)["encoder"]["layers"]["attention"]["query"]["kernel"]
  assert kernel.shape == (CFG.num_hidden_layers, CFG.hidden_size, CFG.hidden_size)  # stacked, one block
  # Export gives back transformers' per-layer keys, value for value.
  arch, ref = hf_state_dict(plain)
  arch_s, got = hf_state_dict(scanned)
  assert arch == arch_s and sorted(got) == sorted(ref) and "roberta.encoder.layer.1.output.dense.weight" in got
  for name in ref:
    np.testing.assert_array_equal(got[name], ref[name], err_msg=name)

  ids, mask = _inputs()
  key = jax.random.key(5)  # dropout on: the scanned layers draw the unscanned model's masks

  def run(model, remat="none"):
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    if remat != "none":
      graphdef = nnx.graphdef(
          XLMRModel(
              CFG,
              {"classification": HeadSpec("classification", 3)},
              rngs=nnx.Rngs(0),
              options=ModelOptions(scan_layers=True, remat=remat),
          )
      )

    def loss(p):
      logits = nnx.merge(graphdef, p, rest)(ids, mask, dropout_rng=key)
      return jnp.sum(jnp.sin(logits) * jnp.arange(1.0, 4.0)), logits

    (_, logits), grads = jax.jit(jax.value_and_grad(loss, has_aux=True))(params)
    return np.asarray(logits), grads

  want, want_grads = run(plain)
  for remat in ("none", "full"):
    got_logits, got_grads = run(scanned, remat)
    np.testing.assert_allclose(got_logits, want, atol=1e-5, rtol=0)
    for i in range(CFG.num_hidden_layers):
      a = want_grads["encoder"]["layers"][i]["intermediate"]["kernel"][...]
      b = got_grads["encoder"]["layers"]["intermediate"]["kernel"][...][i]
      np.testing.assert_allclose(b, a, atol=1e-5, rtol=0)
    np.testing.assert_allclose(
        got_grads["encoder"]["embeddings"]["word_embeddings"]["embedding"][...],
        want_grads["encoder"]["embeddings"]["word_embeddings"]["embedding"][...],
        atol=1e-5,
    )
  # Hidden states (retrieval pools one of them) come out per layer, as unscanned.
  from xstilts_jax.models.xlmr import encode

  for a, b in zip(encode(plain, ids, mask)[1], encode(scanned, ids, mask)[1], strict=True):
    np.testing.assert_allclose(b, a, atol=1e-5, rtol=0)


# ----------------------------------------------------------------------------- tensor parallelism


def test_tensor_parallel_train_step_equals_one_device():
  from jax.sharding import PartitionSpec as P

  from xstilts_jax import sharding as shd
  from xstilts_jax.train.state import create_state
  from xstilts_jax.train.steps import jit_train_step, make_train_step

  devices = jax.devices()
  assert len(devices) >= 2, "tests/conftest.py asks XLA for 8 CPU devices"
  model = XLMRModel(CFG, {"cls": HeadSpec("classification", 3)}, rngs=nnx.Rngs(0))
  ids, mask = _inputs()
  batch = {
      "input_ids": np.asarray(ids)[[0, 1, 2, 0]],
      "attention_mask": np.asarray(mask)[[0, 1, 2, 0]],
      "label": np.array([0, 2, 1, 1], np.int32),
      "mask": np.array([1, 1, 1, 0], np.int32),
  }
  ocfg = optim.OptimizerConfig(learning_rate=1e-2, total_steps=10, warmup_fraction=0.0)
  tx, schedule = optim.make_transform(ocfg), optim.make_schedule(ocfg)
  results, programs = {}, {}
  for shape, n in (((1, 1, 1), 1), ((1, 1, 2), 2)):
    partitioner = shd.Partitioner.from_config(dict(zip(shd.MESH_AXES, shape)), shd.DEFAULT_RULES, devices=devices[:n])
    layout, state, shardings = create_state(model, tx, partitioner)
    if shape[2] == 2:  # the heads (and the MLP) are split over `tensor`
      q = state["params"]["encoder"]["encoder.layers.0.attention.query.kernel"]
      assert q.sharding.spec == P(None, "tensor")
    fn = make_train_step(layout, "cls", "classification", tx, schedule, 1.0, 1, partitioner, 3)
    step = jit_train_step(fn, shardings, partitioner)
    data = partitioner.global_batch(batch)
    programs[shape] = step.lower(state, data).as_text()
    for _ in range(2):  # dropout on: the masks must not depend on the layout either
      state, metrics = step(state, data)
    results[shape] = (jax.tree.map(float, metrics), jax.tree.map(np.asarray, state["params"]))
  base_metrics, base_params = results[(1, 1, 1)]
  for shape in ((1, 1, 2),):
    metrics, params = results[shape]
    for k in ("loss", "grad_norm"):
      assert abs(metrics[k] - base_metrics[k]) < 1e-5, (shape, k)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(base_params)):
      np.testing.assert_allclose(a, b, atol=1e-5, rtol=0)
  # The activations are constrained by name: one constraint per named activation and layer.
  unconstrained = dataclasses.replace(partitioner, constrain_activations=False)
  without = make_train_step(layout, "cls", "classification", tx, schedule, 1.0, 1, unconstrained, 3)
  plain_text = jit_train_step(without, shardings, unconstrained).lower(state, data).as_text()
  count = lambda text: text.count("sdy.sharding_constraint") + text.count("@Sharding")
  assert count(programs[(1, 1, 2)]) >= count(plain_text) + 5 * CFG.num_hidden_layers
