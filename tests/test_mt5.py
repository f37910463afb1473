"""The NNX mT5 against transformers' PyTorch MT5 classes on the same random weights.

Every torch model is built offline from an MT5Config (never the hub); its weights are
perturbed away from transformers' init and saved with save_pretrained, then read through
the project's `load_hf`, which picks the backbone from config.json's model_type.
"""

import json
import types

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from safetensors.numpy import load_file, save_file
import torch
import transformers as T

from xstilts_jax import export_hf, load_hf
from xstilts_jax.errors import ModelError
from xstilts_jax.models.mt5 import (
    MT5_SIZES,
    MT5Config,
    MT5Model,
    count_params,
    greedy_decode,
    mt5_config,
    relative_position_buckets,
    sequence_loss,
    shift_right,
)
from xstilts_jax.models.xlmr import HeadSpec, encode

VOCAB = 97
# (d_model, d_kv, heads, d_ff, encoder layers, decoder layers, buckets, max distance):
# inner dim != d_model, odd head counts, short bucket ranges so 13-token inputs reach the
# logarithmic buckets, asymmetric stacks.
CONFIGS = [
    (16, 5, 3, 24, 2, 3, 8, 20),
    (24, 4, 5, 40, 3, 1, 32, 128),
    (12, 3, 1, 16, 1, 2, 6, 9),
]


def _hf_config(dims, num_labels=3) -> T.MT5Config:
  d, kv, h, ff, layers, dec, buckets, dist = dims
  return T.MT5Config(
      vocab_size=VOCAB,
      d_model=d,
      d_kv=kv,
      num_heads=h,
      d_ff=ff,
      num_layers=layers,
      num_decoder_layers=dec,
      relative_attention_num_buckets=buckets,
      relative_attention_max_distance=dist,
      num_labels=num_labels,
  )


def _torch_model(cls, cfg, seed, path):
  """A torch model with weights moved off their init and, for the LM, its own LM head."""
  torch.manual_seed(seed)
  ref = cls(cfg).eval()
  with torch.no_grad():
    if hasattr(ref, "lm_head"):
      ref.lm_head.weight = torch.nn.Parameter(torch.randn_like(ref.lm_head.weight))
    for p in ref.parameters():
      p.add_(0.1 * torch.randn_like(p))
  ref.save_pretrained(path)
  return ref


def _batch(rng, batch=3, length=13, lengths=(13, 9, 4)):
  """Ids ending in EOS (1), right-padded with 0 to different lengths."""
  ids = np.zeros((batch, length), np.int64)
  for row, n in enumerate(lengths):
    ids[row, :n] = rng.integers(2, VOCAB, size=n)
    ids[row, n - 1] = 1
  return ids, (ids != 0).astype(np.int64)


def _decoder_batch(rng):
  ids = rng.integers(2, VOCAB, size=(3, 7))
  ids[:, 0] = 0
  mask = np.ones_like(ids)
  ids[1, 5:], mask[1, 5:] = 0, 0
  ids[2, 3:], mask[2, 3:] = 0, 0
  return ids, mask


def _t(x):
  return torch.tensor(np.asarray(x))


def _close(a, b, tol=1e-4):
  np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=tol, rtol=tol)


# ------------------------------------------------------------------------- building blocks


@pytest.mark.parametrize("buckets,dist", [(32, 128), (8, 20), (6, 9), (16, 64)])
@pytest.mark.parametrize("bidirectional", [True, False])
def test_relative_position_buckets_match_transformers(buckets, dist, bidirectional):
  length = 301
  ours = relative_position_buckets(length, length, bidirectional, buckets, dist)
  relative = torch.arange(length)[None, :] - torch.arange(length)[:, None]
  ref = T.models.mt5.modeling_mt5.MT5Attention._relative_position_bucket(
      relative, bidirectional=bidirectional, num_buckets=buckets, max_distance=dist
  ).numpy()
  np.testing.assert_array_equal(ours, ref)


def test_named_sizes_have_the_published_parameter_counts():
  # Xue et al. (2021), Table 1 / the google/mt5-* model cards: 300M, 580M, 1.2B, 3.7B, 13B.
  published = {"small": 300e6, "base": 580e6, "large": 1.2e9, "xl": 3.7e9, "xxl": 13e9}
  assert MT5_SIZES == tuple(published)
  for size, n in published.items():
    cfg = mt5_config(f"mt5-{size}")
    assert cfg.vocab_size == 250112 and cfg.d_kv == 64 and cfg.num_decoder_layers == cfg.num_layers
    model = nnx.eval_shape(lambda: MT5Model(cfg, {"lm": HeadSpec("seq2seq")}, rngs=nnx.Rngs(0)))
    got = count_params(model)
    assert abs(got - n) / n < 0.03, (size, got)
  assert mt5_config("small").inner_dim == 384  # mt5-small: 6 heads of 64 in a 512-wide model
  with pytest.raises(ValueError, match="mt5-huge"):
    mt5_config("mt5-huge")


def test_every_parameter_has_logical_axes():
  cfg = MT5Config(**_hf_kwargs(CONFIGS[0]))
  model = MT5Model(cfg, {"lm": HeadSpec("seq2seq"), "tag": HeadSpec("tagging", 4)}, rngs=nnx.Rngs(0))
  params = nnx.state(model, nnx.Param)
  specs = jax.tree.leaves(nnx.get_partition_spec(params), is_leaf=lambda x: isinstance(x, jax.sharding.PartitionSpec))
  leaves = jax.tree.leaves(params)
  assert len(specs) == len(leaves)
  for spec, leaf in zip(specs, leaves):
    assert len(spec) == leaf.ndim and any(a is not None for a in spec), (spec, leaf.shape)
  flat = dict(nnx.to_flat_state(params))
  axes = lambda *path: flat[path].get_metadata()["out_sharding"]
  assert axes("encoder", "shared", "embedding") == ("vocab", "embed")
  assert axes("heads", "lm", "lm_head", "kernel") == ("embed", "vocab")
  assert all(leaf.dtype == jnp.float32 for leaf in leaves)


def _hf_kwargs(dims):
  d, kv, h, ff, layers, dec, buckets, dist = dims
  return dict(
      vocab_size=VOCAB,
      d_model=d,
      d_kv=kv,
      num_heads=h,
      d_ff=ff,
      num_layers=layers,
      num_decoder_layers=dec,
      relative_attention_num_buckets=buckets,
      relative_attention_max_distance=dist,
  )


# ------------------------------------------------------------------------------ parity


@pytest.mark.parametrize("dims", CONFIGS)
def test_encoder_parity(dims, tmp_path):
  ref = _torch_model(T.MT5EncoderModel, _hf_config(dims), 1, tmp_path)
  ids, mask = _batch(np.random.default_rng(0))
  with torch.no_grad():
    out = ref(input_ids=_t(ids), attention_mask=_t(mask), output_hidden_states=True)
  model = load_hf(str(tmp_path))
  assert isinstance(model, MT5Model) and model.head_specs == {}
  last, hidden = model(jnp.asarray(ids), jnp.asarray(mask), output_hidden_states=True)
  _close(last, out.last_hidden_state)
  assert len(hidden) == len(out.hidden_states) == dims[4] + 1
  for ours, theirs in zip(hidden, out.hidden_states):
    _close(ours, theirs)
  # The evaluation's encoder call (retrieval's mean-pooled layers) takes mT5 unchanged.
  last2, hidden2 = encode(model, jnp.asarray(ids), jnp.asarray(mask))
  _close(last2, out.last_hidden_state)
  _close(hidden2[1], out.hidden_states[1])


@pytest.mark.parametrize("dims", CONFIGS)
def test_seq2seq_parity_with_teacher_forcing(dims, tmp_path):
  ref = _torch_model(T.MT5ForConditionalGeneration, _hf_config(dims), 2, tmp_path)
  rng = np.random.default_rng(1)
  ids, mask = _batch(rng)
  dec, dec_mask = _decoder_batch(rng)
  with torch.no_grad():
    out = ref(
        input_ids=_t(ids), attention_mask=_t(mask), decoder_input_ids=_t(dec), decoder_attention_mask=_t(dec_mask)
    )
  model = load_hf(str(tmp_path), head="seq2seq")
  logits = model(
      jnp.asarray(ids),
      jnp.asarray(mask),
      decoder_input_ids=jnp.asarray(dec),
      decoder_attention_mask=jnp.asarray(dec_mask),
  )
  assert logits.shape == (3, 7, VOCAB)
  _close(logits, out.logits)
  # The LM head is the checkpoint's own matrix, not the input embedding.
  lm = np.asarray(model.heads["seq2seq"].lm_head.kernel[...])
  assert not np.allclose(lm.T, np.asarray(model.encoder.shared.embedding[...]))


def test_a_checkpoint_saved_tied_uses_the_embedding_as_lm_head(tmp_path):
  """transformers 5 saves a freshly built MT5ForConditionalGeneration tied, without lm_head."""
  torch.manual_seed(0)
  ref = T.MT5ForConditionalGeneration(_hf_config(CONFIGS[0])).eval()
  ref.save_pretrained(tmp_path)
  assert "lm_head.weight" not in load_file(tmp_path / "model.safetensors")
  rng = np.random.default_rng(11)
  ids, mask = _batch(rng)
  dec, dec_mask = _decoder_batch(rng)
  with torch.no_grad():
    expected = ref(
        input_ids=_t(ids), attention_mask=_t(mask), decoder_input_ids=_t(dec), decoder_attention_mask=_t(dec_mask)
    ).logits
  model = load_hf(str(tmp_path), head="seq2seq")
  _close(
      model(
          jnp.asarray(ids),
          jnp.asarray(mask),
          decoder_input_ids=jnp.asarray(dec),
          decoder_attention_mask=jnp.asarray(dec_mask),
      ),
      expected,
  )


def test_bfloat16_compute_stays_close(tmp_path):
  _torch_model(T.MT5ForConditionalGeneration, _hf_config(CONFIGS[1]), 13, tmp_path)
  ids, mask = _batch(np.random.default_rng(14))
  dec = jnp.asarray(_decoder_batch(np.random.default_rng(15))[0])
  f32 = load_hf(str(tmp_path), head="seq2seq")
  bf16 = load_hf(str(tmp_path), head="seq2seq", dtype=jnp.bfloat16)
  assert jax.tree.leaves(nnx.state(bf16, nnx.Param))[0].dtype == jnp.float32  # params stay f32
  a = f32(jnp.asarray(ids), jnp.asarray(mask), decoder_input_ids=dec)
  b = bf16(jnp.asarray(ids), jnp.asarray(mask), decoder_input_ids=dec)
  assert b.dtype == jnp.bfloat16
  scale = float(jnp.abs(a).max())
  assert float(jnp.abs(a - b.astype(jnp.float32)).max()) < 0.05 * scale


TASK_CLASSES = [  # (head kind, transformers class): the task classes transformers has for mT5
    ("tagging", T.MT5ForTokenClassification),
    ("seq2seq_classification", T.MT5ForSequenceClassification),
    ("seq2seq_span", T.MT5ForQuestionAnswering),
]


def _task_outputs(kind, out):
  if kind == "seq2seq_span":
    return [out.start_logits, out.end_logits]
  return [out.logits]


def _ours(kind, out):
  return list(out) if kind == "seq2seq_span" else [out]


@pytest.mark.parametrize("kind,cls", TASK_CLASSES)
def test_task_class_parity(kind, cls, tmp_path):
  ref = _torch_model(cls, _hf_config(CONFIGS[0], num_labels=4 if kind != "seq2seq_span" else 2), 3, tmp_path)
  ids, mask = _batch(np.random.default_rng(2))
  with torch.no_grad():
    expected = _task_outputs(kind, ref(input_ids=_t(ids), attention_mask=_t(mask)))
  model = load_hf(str(tmp_path), head=kind)
  if kind != "seq2seq_span":
    assert model.head_specs[kind].num_labels == 4
  ours = _ours(kind, model(jnp.asarray(ids), jnp.asarray(mask)))
  assert len(ours) == len(expected)
  for a, b in zip(ours, expected):
    _close(a, b)


@pytest.mark.parametrize(
    "cls,encoder_of",
    [
        (T.MT5ForConditionalGeneration, lambda m: m.encoder),
        (T.MT5Model, lambda m: m.encoder),
        (T.MT5ForSequenceClassification, lambda m: m.transformer.encoder),
        (T.MT5ForQuestionAnswering, lambda m: m.encoder),
    ],
)
def test_encoder_loads_from_every_mt5_class(cls, encoder_of, tmp_path):
  ref = _torch_model(cls, _hf_config(CONFIGS[1]), 4, tmp_path)
  ids, mask = _batch(np.random.default_rng(3))
  with torch.no_grad():
    expected = encoder_of(ref)(input_ids=_t(ids), attention_mask=_t(mask)).last_hidden_state
  _close(load_hf(str(tmp_path), head="encoder")(jnp.asarray(ids), jnp.asarray(mask)), expected)


def test_padding_does_not_change_real_positions(tmp_path):
  _torch_model(T.MT5ForConditionalGeneration, _hf_config(CONFIGS[0]), 5, tmp_path)
  model = load_hf(str(tmp_path), head="seq2seq")
  ids, mask = _batch(np.random.default_rng(4), batch=1, lengths=(6,))
  dec = jnp.asarray([[0, 5, 9, 11]])
  short = model(jnp.asarray(ids[:, :6]), jnp.asarray(mask[:, :6]), decoder_input_ids=dec)
  long = model(jnp.asarray(ids), jnp.asarray(mask), decoder_input_ids=dec)
  _close(short, long, 1e-5)


# --------------------------------------------------------------------------- the heads


def _np_linear(module, x):
  y = x @ np.asarray(module.kernel[...])
  return y + np.asarray(module.bias[...]) if module.bias is not None else y


def test_encoder_heads_read_the_encoder_states(tmp_path):
  """Classification and multiple choice on the masked mean, tagging and span per token."""
  ref = _torch_model(T.MT5EncoderModel, _hf_config(CONFIGS[0]), 6, tmp_path)
  heads = {
      "cls": HeadSpec("classification", 3),
      "tag": HeadSpec("tagging", 5),
      "span": HeadSpec("span"),
      "mc": HeadSpec("multiple_choice"),
  }
  model = load_hf(str(tmp_path))
  for name, spec in heads.items():
    model.add_head(name, spec, rngs=nnx.Rngs(1))
  ids, mask = _batch(np.random.default_rng(5), batch=4, lengths=(13, 9, 4, 7))
  with torch.no_grad():
    hidden = ref(input_ids=_t(ids), attention_mask=_t(mask)).last_hidden_state.numpy()
  mean = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
  h = model.heads
  expected_cls = _np_linear(h["cls"].out_proj, np.tanh(_np_linear(h["cls"].dense, mean)))
  _close(model(jnp.asarray(ids), jnp.asarray(mask), head="cls"), expected_cls)
  _close(model(jnp.asarray(ids), jnp.asarray(mask), head="tag"), _np_linear(h["tag"].classifier, hidden))
  start, end = model(jnp.asarray(ids), jnp.asarray(mask), head="span")
  span = _np_linear(h["span"].qa_outputs, hidden)
  _close(start, span[..., 0])
  _close(end, span[..., 1])
  mc = model(jnp.asarray(ids.reshape(2, 2, 13)), jnp.asarray(mask.reshape(2, 2, 13)), head="mc")
  _close(mc, _np_linear(h["mc"].classifier, mean)[:, 0].reshape(2, 2))


def test_dropout_is_active_only_with_a_key():
  cfg = MT5Config(**_hf_kwargs(CONFIGS[0]), dropout_rate=0.3)
  model = MT5Model(cfg, {"lm": HeadSpec("seq2seq")}, rngs=nnx.Rngs(0))
  ids, mask = _batch(np.random.default_rng(6))
  dec = jnp.asarray(_decoder_batch(np.random.default_rng(7))[0])
  run = lambda key: model(jnp.asarray(ids), jnp.asarray(mask), decoder_input_ids=dec, dropout_rng=key)
  _close(run(None), run(None), 0)
  assert not np.allclose(run(jax.random.key(0)), run(None))
  assert not np.allclose(run(jax.random.key(0)), run(jax.random.key(1)))


def test_remat_gives_the_same_gradients():
  cfg = MT5Config(**_hf_kwargs(CONFIGS[1]))
  options = types.SimpleNamespace(
      remat="full", scan_layers=False, remat_policy=lambda: jax.checkpoint_policies.nothing_saveable
  )
  plain = MT5Model(cfg, {"tag": HeadSpec("tagging", 3)}, rngs=nnx.Rngs(0))
  remat = MT5Model(cfg, {"tag": HeadSpec("tagging", 3)}, rngs=nnx.Rngs(0), options=options)
  ids, mask = _batch(np.random.default_rng(8))

  @nnx.jit
  def grads(model):
    return nnx.grad(lambda m: jnp.sum(m(jnp.asarray(ids), jnp.asarray(mask), dropout_rng=jax.random.key(3)) ** 2))(
        model
    )

  for a, b in zip(jax.tree.leaves(grads(plain)), jax.tree.leaves(grads(remat))):
    _close(a, b, 1e-5)


# ------------------------------------------------------------------ loss and decoding


def test_sequence_loss_equals_transformers_loss(tmp_path):
  ref = _torch_model(T.MT5ForConditionalGeneration, _hf_config(CONFIGS[0]), 7, tmp_path)
  rng = np.random.default_rng(9)
  ids, mask = _batch(rng)
  labels = rng.integers(2, VOCAB, size=(3, 6))
  labels[0, 4:], labels[2, 2:] = -100, -100
  with torch.no_grad():
    out = ref(input_ids=_t(ids), attention_mask=_t(mask), labels=_t(labels))
    shifted = ref._shift_right(_t(labels)).numpy()
  dec = shift_right(jnp.asarray(labels), 0, 0)
  np.testing.assert_array_equal(dec, shifted)
  model = load_hf(str(tmp_path), head="seq2seq")
  logits = model(jnp.asarray(ids), jnp.asarray(mask), decoder_input_ids=dec)
  total, count = sequence_loss(logits, jnp.asarray(labels), jnp.asarray(labels != -100))
  assert int(count) == 6 + 4 + 2
  _close(total / count, out.loss.item())
  # Summed losses and counts over two halves give the whole batch's mean (exact accumulation).
  halves = [
      sequence_loss(logits[s], jnp.asarray(labels[s]), jnp.asarray(labels[s] != -100))
      for s in (slice(0, 1), slice(1, 3))
  ]
  _close(sum(l for l, _ in halves) / sum(n for _, n in halves), out.loss.item())


@pytest.mark.parametrize(
    "dims,use_cache",
    [
        ((16, 5, 3, 24, 2, 2, 8, 20), True),  # transformers' own cache path (symmetric stacks)
        ((24, 4, 5, 40, 3, 1, 32, 128), False),  # transformers' cache needs equal stacks: recompute
    ],
)
def test_greedy_decoding_equals_generate(dims, use_cache, tmp_path):
  ref = _torch_model(T.MT5ForConditionalGeneration, _hf_config(dims), 8, tmp_path)
  with torch.no_grad():  # make EOS likely enough that some rows stop early
    ref.lm_head.weight[1] = 2.5 * ref.lm_head.weight[1] + ref.lm_head.weight.mean(0)
  ref.save_pretrained(tmp_path)
  model = load_hf(str(tmp_path), head="seq2seq")
  decode = nnx.jit(greedy_decode, static_argnames=("max_length", "head"))
  ids, mask = _batch(np.random.default_rng(10), batch=4, lengths=(13, 9, 4, 11))
  stopped_early = 0
  for max_length in (2, 5, 24):
    ours = np.asarray(decode(model, jnp.asarray(ids), jnp.asarray(mask), max_length=max_length))
    with torch.no_grad():
      theirs = ref.generate(
          input_ids=_t(ids),
          attention_mask=_t(mask),
          do_sample=False,
          num_beams=1,
          max_length=max_length,
          use_cache=use_cache,
      ).numpy()
    assert ours.shape == (4, max_length)
    np.testing.assert_array_equal(ours[:, : theirs.shape[1]], theirs)
    assert (ours[:, theirs.shape[1] :] == 0).all()  # generate stopped early: all rows done
    stopped_early += int(((theirs == 1).any(1) & (theirs[:, -1] != 1)).sum())
  assert stopped_early > 0  # the EOS-then-padding path was exercised


def test_greedy_decoding_needs_a_seq2seq_head():
  model = MT5Model(MT5Config(**_hf_kwargs(CONFIGS[0])), {"tag": HeadSpec("tagging", 2)}, rngs=nnx.Rngs(0))
  with pytest.raises(ValueError, match="seq2seq"):
    greedy_decode(model, jnp.ones((1, 3), jnp.int32), jnp.ones((1, 3), jnp.int32), 4)


# ----------------------------------------------------------------- Hugging Face in/out


def _perturb(model, seed):
  graphdef, params, rest = nnx.split(model, nnx.Param, ...)
  leaves, treedef = jax.tree.flatten(params)
  keys = jax.random.split(jax.random.key(seed), len(leaves))
  leaves = [x + 0.05 * jax.random.normal(k, x.shape) for x, k in zip(leaves, keys)]
  return nnx.merge(graphdef, jax.tree.unflatten(treedef, leaves), rest)


@pytest.mark.parametrize(
    "kind,cls",
    [
        ("encoder", T.MT5EncoderModel),
        ("seq2seq", T.MT5ForConditionalGeneration),
    ]
    + TASK_CLASSES,
)
def test_export_round_trip(kind, cls, tmp_path):
  labels = 2 if kind == "seq2seq_span" else 4  # transformers' QA head has num_labels outputs
  _torch_model(cls, _hf_config(CONFIGS[0], num_labels=labels), 9, tmp_path / "in")
  model = _perturb(load_hf(str(tmp_path / "in"), head=kind), 11)
  export_hf(model, str(tmp_path / "out"))
  config = json.loads((tmp_path / "out" / "config.json").read_text())
  assert config["model_type"] == "mt5" and config["architectures"] == [cls.__name__]
  ref, info = cls.from_pretrained(tmp_path / "out", output_loading_info=True)
  assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
  ref.eval()
  rng = np.random.default_rng(12)
  ids, mask = _batch(rng)
  args = dict(input_ids=_t(ids), attention_mask=_t(mask))
  ours_args = {}
  if kind == "seq2seq":
    dec, dec_mask = _decoder_batch(rng)
    args.update(decoder_input_ids=_t(dec), decoder_attention_mask=_t(dec_mask))
    ours_args = dict(decoder_input_ids=jnp.asarray(dec), decoder_attention_mask=jnp.asarray(dec_mask))
  with torch.no_grad():
    out = ref(**args)
  expected = [out.last_hidden_state] if kind == "encoder" else _task_outputs(kind, out)
  ours = _ours(kind, model(jnp.asarray(ids), jnp.asarray(mask), **ours_args))
  for a, b in zip(ours, expected, strict=True):
    _close(a, b)
  # And back: the exported checkpoint loads to the same model.
  again = load_hf(str(tmp_path / "out"), head=kind)
  leaves = lambda m: jax.tree.leaves(nnx.state(m, nnx.Param))
  for a, b in zip(leaves(model), leaves(again), strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("kind,labels", [("classification", 3), ("span", 0), ("multiple_choice", 0)])
def test_heads_without_a_transformers_class_export_beside_the_encoder(tmp_path, kind, labels):
  """MT5EncoderModel that transformers loads with no missing or unexpected keys, the head in
  HEAD_FILE beside it; load_hf gives back every weight; another head kind starts fresh."""
  from xstilts_jax.models.mt5_hf import HEAD_FILE

  model = MT5Model(MT5Config(**_hf_kwargs(CONFIGS[0])), {"cls": HeadSpec(kind, labels)}, rngs=nnx.Rngs(0))
  export_hf(model, str(tmp_path / "out"), head="cls")
  assert json.loads((tmp_path / "out" / "config.json").read_text())["architectures"] == ["MT5EncoderModel"]
  assert (tmp_path / "out" / HEAD_FILE).is_file()
  _, info = T.MT5EncoderModel.from_pretrained(str(tmp_path / "out"), output_loading_info=True)
  assert not info["missing_keys"] and not info["unexpected_keys"]
  again = load_hf(str(tmp_path / "out"), head=kind, head_name="cls")
  assert again.head_specs["cls"].num_labels == labels
  leaves = lambda m: jax.tree.leaves(nnx.state(m, nnx.Param))
  for a, b in zip(leaves(model), leaves(again), strict=True):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
  if labels:
    with pytest.raises(ModelError, match="has 3 labels, but num_labels=4"):
      load_hf(str(tmp_path / "out"), head=kind, num_labels=4)
  # Exported again as an encoder alone: the head file goes with the head.
  export_hf(load_hf(str(tmp_path / "out")), str(tmp_path / "out"))
  assert not (tmp_path / "out" / HEAD_FILE).exists()


def _drop_keys(path, predicate):
  weights = load_file(path / "model.safetensors")
  save_file(
      {k: v for k, v in weights.items() if not predicate(k)}, path / "model.safetensors", metadata={"format": "pt"}
  )


def test_missing_encoder_weights_is_an_error(tmp_path):
  _torch_model(T.MT5ForConditionalGeneration, _hf_config(CONFIGS[0]), 10, tmp_path)
  _drop_keys(tmp_path, lambda k: k == "encoder.block.1.layer.1.DenseReluDense.wo.weight")
  for head in ("encoder", "seq2seq"):
    with pytest.raises(ModelError, match=r"1 encoder weights missing \(e\.g\. encoder\.block\.1"):
      load_hf(str(tmp_path), head=head)


def test_checkpoint_without_an_encoder_is_an_error(tmp_path):
  _torch_model(T.MT5ForConditionalGeneration, _hf_config(CONFIGS[0]), 10, tmp_path)
  _drop_keys(tmp_path, lambda k: k.startswith("encoder.") or k == "shared.weight")
  with pytest.raises(ModelError, match="encoder weights missing"):
    load_hf(str(tmp_path), head="seq2seq")


def test_incomplete_decoder_is_an_error(tmp_path):
  _torch_model(T.MT5ForConditionalGeneration, _hf_config(CONFIGS[0]), 10, tmp_path)
  _drop_keys(tmp_path, lambda k: k == "decoder.block.0.layer.1.EncDecAttention.k.weight")
  with pytest.raises(ModelError, match="seq2seq head is incomplete.*EncDecAttention.k"):
    load_hf(str(tmp_path), head="seq2seq")


def test_fresh_decoder_on_an_encoder_checkpoint(tmp_path):
  ref = _torch_model(T.MT5EncoderModel, _hf_config(CONFIGS[0]), 11, tmp_path)
  model = load_hf(str(tmp_path), head="seq2seq")
  ids, mask = _batch(np.random.default_rng(13))
  with torch.no_grad():
    expected = ref(input_ids=_t(ids), attention_mask=_t(mask)).last_hidden_state
  _close(model.encoder(jnp.asarray(ids), jnp.asarray(mask), rng=_no_dropout())[0], expected)
  start = jnp.zeros((3, 1), jnp.int32)
  assert model(jnp.asarray(ids), jnp.asarray(mask), decoder_input_ids=start).shape == (3, 1, VOCAB)


def _no_dropout():
  from xstilts_jax.models.xlmr import _RngSplitter

  return _RngSplitter(None)


def test_unknown_head_and_bad_config_are_errors(tmp_path):
  _torch_model(T.MT5EncoderModel, _hf_config(CONFIGS[0]), 12, tmp_path)
  with pytest.raises(ModelError, match="'mlm' is not one of .* for mT5"):
    load_hf(str(tmp_path), head="mlm")
  config = json.loads((tmp_path / "config.json").read_text())
  (tmp_path / "config.json").write_text(json.dumps({**config, "feed_forward_proj": "relu"}))
  with pytest.raises(ModelError, match="config.json: feed_forward_proj 'relu' is not supported"):
    load_hf(str(tmp_path))
