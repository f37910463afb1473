"""The NNX XLM-R against transformers' PyTorch classes on the same weights, and HF import/export."""

import json

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers as T

from xstilts_jax import export_hf, load_hf
from xstilts_jax.errors import ModelError

TORCH_CLASSES = {
    "encoder": T.XLMRobertaModel,
    "classification": T.XLMRobertaForSequenceClassification,
    "tagging": T.XLMRobertaForTokenClassification,
    "span": T.XLMRobertaForQuestionAnswering,
    "multiple_choice": T.XLMRobertaForMultipleChoice,
    "mlm": T.XLMRobertaForMaskedLM,
}
CONFIGS = [  # (hidden, heads, layers, intermediate): several sizes, odd head counts
    (16, 2, 2, 32),
    (24, 3, 3, 40),
    (20, 5, 1, 28),
]
PAD = 1


def _hf_config(hidden, heads, layers, inter, num_labels=3):
  return T.XLMRobertaConfig(
      vocab_size=97,
      hidden_size=hidden,
      num_attention_heads=heads,
      num_hidden_layers=layers,
      intermediate_size=inter,
      max_position_embeddings=64,
      num_labels=num_labels,
      initializer_range=0.2,
      layer_norm_eps=1e-5,
      type_vocab_size=1,
  )


def _batch(rng, batch, length, lengths=None):
  """Token ids with `<s>` ... `</s>` and right padding of different lengths per row."""
  lengths = lengths or [length - 3 * i for i in range(batch)]
  ids = np.full((batch, length), PAD, dtype=np.int64)
  for row, n in enumerate(lengths):
    ids[row, :n] = rng.integers(3, 97, size=n)
    ids[row, 0], ids[row, n - 1] = 0, 2
  return ids, (ids != PAD).astype(np.int64)


def _torch_model(kind, cfg, seed, tmp_path):
  torch.manual_seed(seed)
  ref = TORCH_CLASSES[kind](cfg).eval()
  path = tmp_path / f"{kind}-{seed}"
  ref.save_pretrained(path)
  return ref, path


def _torch_out(kind, ref, ids, mask):
  with torch.no_grad():
    out = ref(torch.tensor(ids), attention_mask=torch.tensor(mask), output_hidden_states=True)
  if kind == "encoder":
    return [out.last_hidden_state.numpy()] + [h.numpy() for h in out.hidden_states]
  if kind == "span":
    return [out.start_logits.numpy(), out.end_logits.numpy()]
  return [out.logits.numpy()]


def _jax_out(kind, model, ids, mask):
  if kind == "encoder":
    last, hidden = model(jnp.asarray(ids), jnp.asarray(mask), output_hidden_states=True)
    return [np.asarray(last)] + [np.asarray(h) for h in hidden]
  out = model(jnp.asarray(ids), jnp.asarray(mask))
  return [np.asarray(o) for o in (out if kind == "span" else [out])]


def _inputs(kind, rng):
  if kind == "multiple_choice":
    ids, mask = _batch(rng, 6, 11, [11, 9, 7, 11, 5, 8])
    return ids.reshape(2, 3, 11), mask.reshape(2, 3, 11)
  return _batch(rng, 3, 13)


@pytest.mark.parametrize("dims", CONFIGS, ids=lambda d: "h{}-n{}-l{}".format(*d[:3]))
@pytest.mark.parametrize("kind", list(TORCH_CLASSES))
def test_parity_with_transformers(kind, dims, tmp_path):
  cfg = _hf_config(*dims, num_labels=2 if kind == "span" else 3)
  ref, path = _torch_model(kind, cfg, seed=sum(dims), tmp_path=tmp_path)
  model = load_hf(str(path), head=kind)
  ids, mask = _inputs(kind, np.random.default_rng(0))
  expected, got = _torch_out(kind, ref, ids, mask), _jax_out(kind, model, ids, mask)
  assert len(expected) == len(got)
  for e, g in zip(expected, got):
    assert e.shape == g.shape
    np.testing.assert_allclose(g, e, atol=1e-4, rtol=0)
  assert np.abs(expected[0]).max() > 1e-2  # the comparison is not between near-zero tensors


def test_padding_does_not_change_real_positions(tmp_path):
  _, path = _torch_model("encoder", _hf_config(*CONFIGS[1]), 3, tmp_path)
  model = load_hf(str(path))
  ids, mask = _batch(np.random.default_rng(1), 1, 9)
  padded = np.concatenate([ids, np.full((1, 7), PAD)], axis=1)
  a = np.asarray(model(jnp.asarray(ids), jnp.asarray(mask)))
  b = np.asarray(model(jnp.asarray(padded), jnp.asarray((padded != PAD).astype(np.int64))))
  np.testing.assert_allclose(b[:, :9], a, atol=1e-5)


def test_bfloat16_compute_stays_close(tmp_path):
  ref, path = _torch_model("classification", _hf_config(*CONFIGS[0]), 5, tmp_path)
  model = load_hf(str(path), head="classification", dtype=jnp.bfloat16)
  ids, mask = _batch(np.random.default_rng(2), 3, 13)
  raw = _jax_out("classification", model, ids, mask)[0]
  assert raw.dtype == jnp.bfloat16
  got, expected = raw.astype(np.float32), _torch_out("classification", ref, ids, mask)[0]
  # Measured: the largest error is 0.0056 here (float32: 2e-7) and at most 0.0125 over seeds 5-14, on
  # logits up to 1.1 (bfloat16 keeps 8 significant bits: 0.004 relative per rounding). 0.02 is well
  # below what separates the rows (0.14 in the first logit), so swapped or wrong rows fail.
  np.testing.assert_allclose(got, expected, atol=0.02)
  assert np.abs(got - expected).max() > 1e-4  # the compute really was bfloat16
  leaves = jax.tree.leaves(nnx.state(model, nnx.Param))
  assert all(x.dtype == jnp.float32 for x in leaves)  # float32 master weights


def test_dropout_is_active_only_with_a_key(tmp_path):
  cfg = _hf_config(*CONFIGS[0])
  cfg.hidden_dropout_prob = cfg.attention_probs_dropout_prob = 0.3
  _, path = _torch_model("classification", cfg, 6, tmp_path)
  model = load_hf(str(path), head="classification")
  ids, mask = (jnp.asarray(x) for x in _batch(np.random.default_rng(3), 3, 13))
  plain = model(ids, mask)
  np.testing.assert_array_equal(plain, model(ids, mask))
  k1, k2 = jax.random.key(1), jax.random.key(2)
  np.testing.assert_array_equal(model(ids, mask, dropout_rng=k1), model(ids, mask, dropout_rng=k1))
  assert not np.allclose(model(ids, mask, dropout_rng=k1), model(ids, mask, dropout_rng=k2))
  assert not np.allclose(model(ids, mask, dropout_rng=k1), plain)


@pytest.mark.parametrize("kind", list(TORCH_CLASSES))
def test_export_round_trip(kind, tmp_path):
  cfg = _hf_config(*CONFIGS[1], num_labels=2 if kind == "span" else 5)
  _, path = _torch_model(kind, cfg, 7, tmp_path)
  model = load_hf(str(path), head=kind)
  # Change every weight so that the export cannot pass by echoing the original file.
  params = nnx.state(model, nnx.Param)
  keys = iter(jax.random.split(jax.random.key(0), len(jax.tree.leaves(params))))
  nnx.update(model, jax.tree.map(lambda x: x + 0.05 * jax.random.normal(next(keys), x.shape), params))
  out_dir = tmp_path / "exported"
  export_hf(
      model, str(out_dir), label_names=[f"l{i}" for i in range(5)] if kind in ("classification", "tagging") else None
  )
  config = json.loads((out_dir / "config.json").read_text())
  assert config["architectures"] == [TORCH_CLASSES[kind].__name__]
  reloaded, info = TORCH_CLASSES[kind].from_pretrained(out_dir, output_loading_info=True)
  assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
  ids, mask = _inputs(kind, np.random.default_rng(4))
  for e, g in zip(_torch_out(kind, reloaded.eval(), ids, mask), _jax_out(kind, model, ids, mask)):
    np.testing.assert_allclose(g, e, atol=1e-4)
  original = _torch_out(kind, TORCH_CLASSES[kind].from_pretrained(path).eval(), ids, mask)[0]
  assert not np.allclose(original, _jax_out(kind, model, ids, mask)[0], atol=1e-3)


def test_fresh_head_on_an_encoder_checkpoint(tmp_path):
  _, path = _torch_model("encoder", _hf_config(*CONFIGS[0]), 8, tmp_path)
  model = load_hf(str(path), head="tagging", num_labels=7)
  ids, mask = _batch(np.random.default_rng(5), 2, 10)
  assert model(jnp.asarray(ids), jnp.asarray(mask)).shape == (2, 10, 7)


def test_missing_weights_is_an_error(tmp_path):
  _hf_config(*CONFIGS[0]).save_pretrained(tmp_path)
  with pytest.raises(ModelError, match="no weights"):
    load_hf(str(tmp_path))


def test_other_architecture_is_an_error(tmp_path):
  T.BertConfig(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=8).save_pretrained(
      tmp_path
  )
  with pytest.raises(ModelError, match="model_type is 'bert'"):
    load_hf(str(tmp_path))


def test_label_count_mismatch_is_an_error(tmp_path):
  _, path = _torch_model("classification", _hf_config(*CONFIGS[0], num_labels=3), 9, tmp_path)
  with pytest.raises(ModelError, match="has 3 labels, but num_labels=5"):
    load_hf(str(path), head="classification", num_labels=5)


def test_checkpoint_without_encoder_weights_is_an_error(tmp_path):
  from safetensors.numpy import save_file

  _hf_config(*CONFIGS[0]).save_pretrained(tmp_path)
  save_file({"classifier.weight": np.zeros((3, 16), np.float32)}, str(tmp_path / "model.safetensors"))
  with pytest.raises(ModelError, match="encoder weights missing"):
    load_hf(str(tmp_path))


def test_offline_hub_id_names_the_id():
  with pytest.raises(ModelError, match="FacebookAI/xlm-roberta-nonexistent"):
    load_hf("FacebookAI/xlm-roberta-nonexistent")


@pytest.mark.parametrize("save", ["sharded_safetensors", "pytorch_bin"])
def test_other_weight_layouts_load(save, tmp_path):
  cfg = _hf_config(*CONFIGS[0])
  ref, _ = _torch_model("classification", cfg, 11, tmp_path)
  path = tmp_path / save
  if save == "sharded_safetensors":
    ref.save_pretrained(path, max_shard_size="20KB")
    assert (path / "model.safetensors.index.json").exists()
  else:  # the older torch pickle format (transformers 5 writes safetensors only)
    path.mkdir()
    ref.config.save_pretrained(path)
    torch.save(ref.state_dict(), path / "pytorch_model.bin")
  model = load_hf(str(path), head="classification")
  ids, mask = _batch(np.random.default_rng(6), 3, 13)
  np.testing.assert_allclose(
      _jax_out("classification", model, ids, mask)[0], _torch_out("classification", ref, ids, mask)[0], atol=1e-4
  )
