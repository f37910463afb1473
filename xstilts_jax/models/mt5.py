"""mT5 (the T5 v1.1 shape) in Flax NNX, weight for weight as transformers' MT5 classes.

RMS layer norms without bias, dense layers without bias, a gated-GELU feed-forward block
(`wi_0`, `wi_1`, `wo`; transformers' "gelu_new", the tanh approximation), unscaled dot-product
attention with a bucketed relative position bias that each stack computes once (from its first
layer's table) and shares with all its layers, and input embeddings untied from the LM head.

The model is an encoder and named heads, as `XLMRModel` is, so the train state, the rule table
and the train step see the same two groups (`encoder`, `heads`):
- `encoder`: the shared token embedding, the encoder blocks and its final norm;
- a `seq2seq` head: the decoder stack and the LM head (the decoder embeds its inputs with the
  encoder's shared table, as mT5 does);
- the encoder-with-heads protocol: XLM-R's head classes (classification, tagging, span,
  multiple choice) on the encoder's hidden states. mT5 has no `<s>` token and no pooler, so
  the sentence representation for classification and multiple choice is the mean of the
  encoder's final states over real tokens (Sentence-T5's choice).

Every parameter carries logical axis names (vocab, embed, heads, mlp, labels), float32
parameters, a compute dtype for the matmuls; norms and softmax run in float32.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Mapping, Optional

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np

from xstilts_jax.models.xlmr import (
    HeadSpec,
    WithHeads,
    XLMRConfig,
    _axes,
    _dropout,
    _make_head,
    _RngSplitter,
    mean_pool,
)

SUPPORTED_FEED_FORWARD = ("gated-gelu",)


@dataclasses.dataclass(frozen=True)
class MT5Config:
  """The fields of transformers' MT5Config that the forward pass uses (its names)."""

  vocab_size: int = 250112
  d_model: int = 512
  d_kv: int = 64
  d_ff: int = 1024
  num_layers: int = 8
  num_decoder_layers: Optional[int] = None
  num_heads: int = 6
  relative_attention_num_buckets: int = 32
  relative_attention_max_distance: int = 128
  dropout_rate: float = 0.1
  layer_norm_epsilon: float = 1e-6
  initializer_factor: float = 1.0
  feed_forward_proj: str = "gated-gelu"
  pad_token_id: int = 0
  eos_token_id: int = 1
  decoder_start_token_id: int = 0
  classifier_dropout: float = 0.0

  def __post_init__(self):
    if self.feed_forward_proj not in SUPPORTED_FEED_FORWARD:
      raise ValueError(
          f"feed_forward_proj {self.feed_forward_proj!r} is not supported " f"({', '.join(SUPPORTED_FEED_FORWARD)})"
      )
    if self.num_decoder_layers is None:
      object.__setattr__(self, "num_decoder_layers", self.num_layers)

  @classmethod
  def from_hf_dict(cls, d: Mapping[str, Any]) -> "MT5Config":
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in names})

  def to_hf_dict(self) -> dict:
    return dataclasses.asdict(self)

  @property
  def inner_dim(self) -> int:
    return self.num_heads * self.d_kv

  @property
  def hidden_size(self) -> int:
    return self.d_model


# The published mT5 sizes (Xue et al. 2021; the google/mt5-* configs): 300M, 580M, 1.2B, 3.7B, 13B.
_SIZES = {
    "small": dict(d_model=512, d_ff=1024, num_heads=6, num_layers=8),
    "base": dict(d_model=768, d_ff=2048, num_heads=12, num_layers=12),
    "large": dict(d_model=1024, d_ff=2816, num_heads=16, num_layers=24),
    "xl": dict(d_model=2048, d_ff=5120, num_heads=32, num_layers=24),
    "xxl": dict(d_model=4096, d_ff=10240, num_heads=64, num_layers=24),
}
MT5_SIZES = tuple(_SIZES)


def mt5_config(size: str, **overrides) -> MT5Config:
  """The named published size ("small", "base", "large", "xl", "xxl"; "mt5-" prefix allowed)."""
  key = size[len("mt5-") :] if size.startswith("mt5-") else size
  if key not in _SIZES:
    raise ValueError(f"mT5 size {size!r} is not one of {', '.join(MT5_SIZES)}")
  return MT5Config(**{**dict(vocab_size=250112, d_kv=64, num_decoder_layers=None), **_SIZES[key], **overrides})


def _head_config(cfg: MT5Config) -> XLMRConfig:
  """The fields XLM-R's head classes read, from an mT5 config (so both backbones share heads)."""
  return XLMRConfig(
      vocab_size=cfg.vocab_size,
      hidden_size=cfg.d_model,
      num_attention_heads=cfg.num_heads,
      hidden_dropout_prob=cfg.dropout_rate,
      classifier_dropout=cfg.classifier_dropout,
      initializer_range=cfg.initializer_factor * cfg.d_model**-0.5,
  )


def _linear(n_in: int, n_out: int, axes: tuple, std: float, dtype, rngs: nnx.Rngs) -> nnx.Linear:
  return nnx.Linear(
      n_in,
      n_out,
      use_bias=False,
      dtype=dtype,
      param_dtype=jnp.float32,
      rngs=rngs,
      kernel_init=nnx.initializers.normal(std),
      kernel_metadata=_axes(*axes),
  )


class RMSNorm(nnx.Module):
  """T5's layer norm: x / sqrt(mean(x^2) + eps) * scale, no mean, no bias, in float32."""

  def __init__(self, cfg: MT5Config):
    self.eps = cfg.layer_norm_epsilon
    self.scale = nnx.Param(jnp.ones((cfg.d_model,), jnp.float32), **_axes("embed"))

  def __call__(self, x):
    x = x.astype(jnp.float32)
    x = x * jax.lax.rsqrt(jnp.mean(x * x, axis=-1, keepdims=True) + self.eps)
    return x * self.scale[...]


def relative_position_buckets(
    query_length: int, key_length: int, bidirectional: bool, num_buckets: int, max_distance: int
) -> np.ndarray:
  """[query, key] bucket ids of key_position - query_position (Mesh TensorFlow's bucketing).

  Half the buckets (per direction when bidirectional) hold exact distances, the other half
  logarithmically wider bins up to max_distance; computed on the host in float32 as
  transformers and T5X do, since the lengths are static.
  """
  relative = np.arange(key_length)[None, :] - np.arange(query_length)[:, None]
  buckets = np.zeros_like(relative)
  if bidirectional:
    num_buckets //= 2
    buckets += (relative > 0).astype(relative.dtype) * num_buckets
    distance = np.abs(relative)
  else:
    distance = -np.minimum(relative, 0)
  max_exact = num_buckets // 2
  with np.errstate(divide="ignore"):
    scaled = (
        np.log(distance.astype(np.float32) / np.float32(max_exact))
        / np.float32(math.log(max_distance / max_exact))
        * np.float32(num_buckets - max_exact)
    )
  large = max_exact + np.where(distance < max_exact, 0, scaled).astype(np.int64)
  large = np.minimum(large, num_buckets - 1)
  return (buckets + np.where(distance < max_exact, distance, large)).astype(np.int32)


class RelativeBias(nnx.Module):
  """The [buckets, heads] table of a stack's first layer; gives [1, heads, query, key] biases."""

  def __init__(self, cfg: MT5Config, bidirectional: bool, *, rngs: nnx.Rngs):
    self.cfg, self.bidirectional = cfg, bidirectional
    self.embedding = nnx.Param(
        nnx.initializers.normal(cfg.initializer_factor * cfg.d_model**-0.5)(
            rngs.params(), (cfg.relative_attention_num_buckets, cfg.num_heads), jnp.float32
        ),
        **_axes(None, "heads"),
    )

  def __call__(self, query_length: int, key_length: int) -> jax.Array:
    buckets = relative_position_buckets(
        query_length,
        key_length,
        self.bidirectional,
        self.cfg.relative_attention_num_buckets,
        self.cfg.relative_attention_max_distance,
    )
    return jnp.transpose(self.embedding[...][jnp.asarray(buckets)], (2, 0, 1))[None]


def _attend(q, k, v, bias, mask, rate: float, rng):
  """softmax(q k^T + bias) v over keys where `mask`, unscaled (T5 folds 1/sqrt(d) into q)."""
  logits = jnp.einsum("btnh,bsnh->bnts", q, k).astype(jnp.float32) + bias
  logits = jnp.where(mask, logits, jnp.finfo(jnp.float32).min)
  probs = _dropout(jax.nn.softmax(logits, axis=-1), rate, rng).astype(q.dtype)
  return jnp.einsum("bnts,bsnh->btnh", probs, v)


class Attention(nnx.Module):
  """q, k, v, o without bias; self-attention or, given a memory, cross-attention."""

  def __init__(self, cfg: MT5Config, dtype, *, rngs: nnx.Rngs):
    self.cfg = cfg
    d, inner, f = cfg.d_model, cfg.inner_dim, cfg.initializer_factor
    self.q = _linear(d, inner, ("embed", "heads"), f * (d * cfg.d_kv) ** -0.5, dtype, rngs)
    self.k = _linear(d, inner, ("embed", "heads"), f * d**-0.5, dtype, rngs)
    self.v = _linear(d, inner, ("embed", "heads"), f * d**-0.5, dtype, rngs)
    self.o = _linear(inner, d, ("heads", "embed"), f * inner**-0.5, dtype, rngs)

  def split(self, t):
    return t.reshape(*t.shape[:-1], self.cfg.num_heads, self.cfg.d_kv)

  def keys_values(self, memory):
    return self.split(self.k(memory)), self.split(self.v(memory))

  def __call__(self, x, bias, mask, rng: _RngSplitter, memory=None, kv=None):
    k, v = kv if kv is not None else self.keys_values(x if memory is None else memory)
    context = _attend(self.split(self.q(x)), k, v, bias, mask, self.cfg.dropout_rate, rng())
    return self.o(context.reshape(*x.shape[:-1], self.cfg.inner_dim))


class GatedFeedForward(nnx.Module):
  """wo(gelu_tanh(wi_0 x) * wi_1 x), dropout after the product."""

  def __init__(self, cfg: MT5Config, dtype, *, rngs: nnx.Rngs):
    self.cfg = cfg
    d, ff, f = cfg.d_model, cfg.d_ff, cfg.initializer_factor
    self.wi_0 = _linear(d, ff, ("embed", "mlp"), f * d**-0.5, dtype, rngs)
    self.wi_1 = _linear(d, ff, ("embed", "mlp"), f * d**-0.5, dtype, rngs)
    self.wo = _linear(ff, d, ("mlp", "embed"), f * ff**-0.5, dtype, rngs)

  def __call__(self, x, rng: _RngSplitter):
    h = jax.nn.gelu(self.wi_0(x), approximate=True) * self.wi_1(x)
    return self.wo(_dropout(h, self.cfg.dropout_rate, rng()))


class EncoderBlock(nnx.Module):
  """Pre-norm: x + attn(norm(x)), then x + ffn(norm(x)), dropout before each residual add."""

  def __init__(self, cfg: MT5Config, dtype, *, rngs: nnx.Rngs):
    self.cfg, self.dtype = cfg, dtype
    self.attention_norm = RMSNorm(cfg)
    self.attention = Attention(cfg, dtype, rngs=rngs)
    self.ffn_norm = RMSNorm(cfg)
    self.ffn = GatedFeedForward(cfg, dtype, rngs=rngs)

  def __call__(self, x, bias, mask, rng: _RngSplitter):
    rate = self.cfg.dropout_rate
    h = self.attention(self.attention_norm(x).astype(self.dtype), bias, mask, rng)
    x = x + _dropout(h, rate, rng()).astype(x.dtype)
    h = self.ffn(self.ffn_norm(x).astype(self.dtype), rng)
    return x + _dropout(h, rate, rng()).astype(x.dtype)


class DecoderBlock(nnx.Module):
  """Pre-norm causal self-attention, cross-attention on the encoder's states, feed-forward."""

  def __init__(self, cfg: MT5Config, dtype, *, rngs: nnx.Rngs):
    self.cfg, self.dtype = cfg, dtype
    self.attention_norm = RMSNorm(cfg)
    self.attention = Attention(cfg, dtype, rngs=rngs)
    self.cross_attention_norm = RMSNorm(cfg)
    self.cross_attention = Attention(cfg, dtype, rngs=rngs)
    self.ffn_norm = RMSNorm(cfg)
    self.ffn = GatedFeedForward(cfg, dtype, rngs=rngs)

  def __call__(self, x, bias, mask, memory_kv, memory_mask, rng: _RngSplitter, self_kv=None):
    rate = self.cfg.dropout_rate
    h = self.attention(self.attention_norm(x).astype(self.dtype), bias, mask, rng, kv=self_kv)
    x = x + _dropout(h, rate, rng()).astype(x.dtype)
    h = self.cross_attention(self.cross_attention_norm(x).astype(self.dtype), 0.0, memory_mask, rng, kv=memory_kv)
    x = x + _dropout(h, rate, rng()).astype(x.dtype)
    h = self.ffn(self.ffn_norm(x).astype(self.dtype), rng)
    return x + _dropout(h, rate, rng()).astype(x.dtype)


def _key_mask(mask) -> jax.Array:
  return mask[:, None, None, :].astype(bool)  # [B, 1, 1, S]


class MT5Encoder(nnx.Module):
  """The shared token embedding, the encoder blocks, the final RMS norm.

  Same call as XLM-R's encoder: `(last hidden state, hidden states or None)`, the hidden
  states being the embeddings, each block's output, and the final norm's output last (as
  transformers' MT5EncoderModel reports them).
  """

  def __init__(self, cfg: MT5Config, dtype=jnp.float32, options: Any = None, *, rngs: nnx.Rngs):
    if getattr(options, "scan_layers", False):
      raise ValueError("model.scan_layers is not implemented for mT5 (use model.remat)")
    self.cfg, self.dtype, self.options = cfg, dtype, options
    self.shared = nnx.Embed(
        cfg.vocab_size,
        cfg.d_model,
        param_dtype=jnp.float32,
        rngs=rngs,
        embedding_init=nnx.initializers.normal(cfg.initializer_factor),
        embedding_metadata=_axes("vocab", "embed"),
    )
    self.relative_attention_bias = RelativeBias(cfg, bidirectional=True, rngs=rngs)
    self.blocks = nnx.List([EncoderBlock(cfg, dtype, rngs=rngs) for _ in range(cfg.num_layers)])
    self.final_layer_norm = RMSNorm(cfg)

  def embed(self, ids) -> jax.Array:
    return self.shared(ids).astype(self.dtype)

  def __call__(
      self, input_ids, attention_mask, token_type_ids=None, *, rng: _RngSplitter, output_hidden_states: bool = False
  ):
    del token_type_ids  # mT5 has no segment embeddings
    rate = self.cfg.dropout_rate
    x = _dropout(self.embed(input_ids), rate, rng())
    length = input_ids.shape[-1]
    bias = self.relative_attention_bias(length, length)
    mask = _key_mask(attention_mask)
    run = _run_block
    if getattr(self.options, "remat", "none") != "none":
      run = nnx.remat(_run_block, policy=self.options.remat_policy(), prevent_cse=True)
    hidden_states = [x]
    for block in self.blocks:
      x = run(block, x, bias, mask, rng())
      hidden_states.append(x)
    x = _dropout(self.final_layer_norm(x).astype(self.dtype), rate, rng())
    hidden_states[-1] = x
    return (x, tuple(hidden_states)) if output_hidden_states else (x, None)


def _run_block(block: EncoderBlock, x, bias, mask, key):
  return block(x, bias, mask, _RngSplitter(key)).astype(x.dtype)


class Seq2SeqHead(nnx.Module):
  """The decoder stack and its output: the LM head (teacher-forced logits, or one step with a
  cache), or, for transformers' encoder-decoder task classes, a classifier or span scorer."""

  def __init__(self, cfg: MT5Config, dtype=jnp.float32, output: str = "lm", num_labels: int = 0, *, rngs: nnx.Rngs):
    self.cfg, self.dtype, self.output = cfg, dtype, output
    self.relative_attention_bias = RelativeBias(cfg, bidirectional=False, rngs=rngs)
    self.blocks = nnx.List([DecoderBlock(cfg, dtype, rngs=rngs) for _ in range(cfg.num_decoder_layers)])
    self.final_layer_norm = RMSNorm(cfg)
    if output == "lm":
      self.lm_head = _linear(cfg.d_model, cfg.vocab_size, ("embed", "vocab"), cfg.initializer_factor, dtype, rngs)
    elif output == "classification":
      self.classification_head = _make_head(_head_config(cfg), HeadSpec("classification", num_labels), dtype, rngs)
    elif output == "span":
      self.qa_outputs = nnx.Linear(
          cfg.d_model,
          2,
          dtype=dtype,
          param_dtype=jnp.float32,
          rngs=rngs,
          kernel_init=nnx.initializers.normal(cfg.initializer_factor * cfg.d_model**-0.5),
          kernel_metadata=_axes("embed", None),
          bias_metadata=_axes(None),
      )
    else:
      raise ValueError(f"decoder output {output!r} is not one of lm, classification, span")

  def memory(self, encoded) -> list[tuple[jax.Array, jax.Array]]:
    """Each block's cross-attention keys and values of the encoder's states (computed once)."""
    return [block.cross_attention.keys_values(encoded) for block in self.blocks]

  def final(self, x, rng: _RngSplitter):
    return _dropout(self.final_layer_norm(x).astype(self.dtype), self.cfg.dropout_rate, rng())

  def logits(self, x, rng: _RngSplitter):
    return self.lm_head(self.final(x, rng))

  def __call__(self, decoder_input_ids, decoder_attention_mask, encoded, attention_mask, embed, rng: _RngSplitter):
    length = decoder_input_ids.shape[-1]
    bias = self.relative_attention_bias(length, length)
    causal = jnp.tril(jnp.ones((length, length), bool))[None, None]
    if decoder_attention_mask is None:
      mask = causal
    else:
      mask = causal & _key_mask(decoder_attention_mask)
    memory_mask = _key_mask(attention_mask)
    x = _dropout(embed(decoder_input_ids), self.cfg.dropout_rate, rng())
    for block, memory_kv in zip(self.blocks, self.memory(encoded)):
      x = block(x, bias, mask, memory_kv, memory_mask, rng)
    return self.logits(x, rng) if self.output == "lm" else self.final(x, rng)

  def step(self, token, position, cache, memory, attention_mask, embed, max_length: int):
    """Logits [B, V] for one token per row at `position`, and the updated self-attention cache.

    cache: per block (keys, values), each [B, max_length, heads, d_kv].
    """
    rng = _RngSplitter(None)
    table = self.relative_attention_bias(max_length, max_length)  # [1, N, L, L]
    bias = jax.lax.dynamic_slice_in_dim(table, position, 1, axis=2)
    mask = (jnp.arange(max_length) <= position)[None, None, None, :]
    memory_mask = _key_mask(attention_mask)
    x = embed(token[:, None])
    new_cache = []
    for block, (k, v), memory_kv in zip(self.blocks, cache, memory):
      h = block.attention_norm(x).astype(self.dtype)
      k1, v1 = block.attention.keys_values(h)
      k = jax.lax.dynamic_update_slice_in_dim(k, k1.astype(k.dtype), position, axis=1)
      v = jax.lax.dynamic_update_slice_in_dim(v, v1.astype(v.dtype), position, axis=1)
      new_cache.append((k, v))
      x = block(x, bias, mask, memory_kv, memory_mask, rng, self_kv=(k, v))
    return self.logits(x, rng)[:, 0], new_cache


@dataclasses.dataclass(frozen=True)
class _HeadInputs:
  """What a head's output reads besides the encoder's states."""

  head: str
  input_ids: jax.Array
  attention_mask: jax.Array
  decoder_input_ids: Optional[jax.Array]
  decoder_attention_mask: Optional[jax.Array]
  rng: _RngSplitter
  choices_shape: Optional[tuple]


@dataclasses.dataclass(frozen=True)
class MT5Head:
  """One mT5 head kind: how it is built (cfg, spec, dtype, rngs), what it gives from the encoder's
  states (model, module, states, _HeadInputs), whether its inputs are [B, K, S] choices, and
  whether it generates text (greedy_decode)."""

  build: Callable
  output: Callable
  choices: bool = False
  generates: bool = False


def _decoder_head(output: str) -> Callable:
  return lambda cfg, spec, dtype, rngs: Seq2SeqHead(cfg, dtype, output, spec.num_labels, rngs=rngs)


def _encoder_head(cfg: MT5Config, spec: HeadSpec, dtype, rngs: nnx.Rngs):
  return _make_head(_head_config(cfg), spec, dtype, rngs)


def _lm_logits(model, module, x, i: _HeadInputs):
  if i.decoder_input_ids is None:
    raise ValueError(f"head {i.head!r} (seq2seq) needs decoder_input_ids")
  return module(i.decoder_input_ids, i.decoder_attention_mask, x, i.attention_mask, model.encoder.embed, i.rng)


def _decoder_states(model, module, x, i: _HeadInputs):
  """transformers' encoder-decoder task classes feed the decoder the input shifted right."""
  ids = i.decoder_input_ids
  if ids is None:
    ids = shift_right(i.input_ids, model.cfg.decoder_start_token_id, model.cfg.pad_token_id)
  return module(ids, i.decoder_attention_mask, x, i.attention_mask, model.encoder.embed, i.rng)


def _decoder_span(model, module, x, i: _HeadInputs):
  logits = module.qa_outputs(_decoder_states(model, module, x, i))
  return logits[..., 0], logits[..., 1]


def _decoder_classification(model, module, x, i: _HeadInputs):
  """The decoder state at each row's last EOS of the input (transformers requires one in every row)."""
  h = _decoder_states(model, module, x, i)
  length = i.input_ids.shape[-1]
  last_eos = length - 1 - jnp.argmax((i.input_ids == model.cfg.eos_token_id)[:, ::-1], axis=-1)
  return module.classification_head(jnp.take_along_axis(h, last_eos[:, None, None], axis=1), i.rng)


def _pooled_classification(model, module, x, i: _HeadInputs):
  pooled = mean_pool(x, i.attention_mask).astype(x.dtype)
  return module(pooled[:, None, :], i.rng)  # the head reads position 0


def _pooled_choices(model, module, x, i: _HeadInputs):
  return module(mean_pool(x, i.attention_mask).astype(x.dtype), i.rng).reshape(i.choices_shape)


def _token_output(model, module, x, i: _HeadInputs):
  return module(x, i.rng)


# mT5 head kind -> its record; "encoder" (no head) gives the encoder's states. A new head is one entry.
MT5_HEADS: dict[str, MT5Head] = {
    "seq2seq": MT5Head(_decoder_head("lm"), _lm_logits, generates=True),
    "classification": MT5Head(_encoder_head, _pooled_classification),
    "tagging": MT5Head(_encoder_head, _token_output),
    "span": MT5Head(_encoder_head, _token_output),
    "multiple_choice": MT5Head(_encoder_head, _pooled_choices, choices=True),
    # transformers' MT5ForSequenceClassification and MT5ForQuestionAnswering
    "seq2seq_classification": MT5Head(_decoder_head("classification"), _decoder_classification),
    "seq2seq_span": MT5Head(_decoder_head("span"), _decoder_span),
}
MT5_HEAD_KINDS = ("encoder", *MT5_HEADS)


def _make_mt5_head(cfg: MT5Config, spec: HeadSpec, dtype, rngs: nnx.Rngs):
  if spec.kind not in MT5_HEADS:
    raise ValueError(f"unknown mT5 head kind {spec.kind!r}; expected one of {MT5_HEAD_KINDS[1:]}")
  return MT5_HEADS[spec.kind].build(cfg, spec, dtype, rngs)


class MT5Model(WithHeads, nnx.Module):
  """One mT5 encoder and any number of named heads, called like `XLMRModel`.

  `model(ids, mask)`: the only head's output (the encoder's last hidden state with no head);
  a seq2seq head also takes `decoder_input_ids` (and `decoder_attention_mask`) and gives LM
  logits [B, T, V] with teacher forcing. Multiple-choice inputs are [B, K, S] and give [B, K].
  The seq2seq_classification and seq2seq_span heads (transformers' MT5ForSequenceClassification
  and MT5ForQuestionAnswering) feed the decoder the input shifted right unless given
  `decoder_input_ids`.
  `options` is XLM-R's `ModelOptions` (how the model computes): remat applies; the attention
  kernel choice does not (the position bias needs the plain path); scan_layers is refused.
  """

  make_head = staticmethod(_make_mt5_head)

  def __init__(
      self,
      cfg: MT5Config,
      heads: Mapping[str, HeadSpec] | None = None,
      dtype=jnp.float32,
      *,
      rngs: nnx.Rngs,
      options: Any = None,
  ):
    self.cfg, self.dtype, self.options = cfg, dtype, options
    self.encoder = MT5Encoder(cfg, dtype, options, rngs=rngs)
    self._init_heads(heads, rngs)

  def resolve_head(self, head: Optional[str]) -> tuple[Optional[str], str]:
    """(head name or None, its kind) for a `head=` argument."""
    if head is None:
      if len(self.head_specs) > 1:
        raise ValueError(f"this model has heads {sorted(self.head_specs)}: name one with head=")
      head = next(iter(self.head_specs), None)
    if head is not None and head not in self.head_specs:
      raise ValueError(f"the model has no head {head!r} (heads: {sorted(self.head_specs)})")
    return head, (self.head_specs[head].kind if head is not None else "encoder")

  def __call__(
      self,
      input_ids,
      attention_mask,
      decoder_input_ids=None,
      decoder_attention_mask=None,
      *,
      head: Optional[str] = None,
      dropout_rng: Optional[jax.Array] = None,
      output_hidden_states: bool = False,
  ):
    head, kind = self.resolve_head(head)
    rng = _RngSplitter(dropout_rng)
    record = MT5_HEADS.get(kind)  # None: no head, the encoder's states
    choices_shape = None
    if record is not None and record.choices:
      choices_shape = input_ids.shape[:2]
      input_ids = input_ids.reshape(-1, input_ids.shape[-1])
      attention_mask = attention_mask.reshape(-1, attention_mask.shape[-1])
    x, hidden_states = self.encoder(input_ids, attention_mask, rng=rng, output_hidden_states=output_hidden_states)
    if record is None:
      return (x, hidden_states) if output_hidden_states else x
    inputs = _HeadInputs(head, input_ids, attention_mask, decoder_input_ids, decoder_attention_mask, rng, choices_shape)
    out = record.output(self, self.heads[head], x, inputs)
    return (out, hidden_states) if output_hidden_states else out


def shift_right(labels: jax.Array, decoder_start_token_id: int, pad_token_id: int) -> jax.Array:
  """Teacher-forcing decoder inputs: the start token, then labels[:-1]; -100 becomes padding."""
  shifted = jnp.concatenate(
      [jnp.full(labels.shape[:-1] + (1,), decoder_start_token_id, labels.dtype), labels[..., :-1]], axis=-1
  )
  return jnp.where(shifted == -100, pad_token_id, shifted)


def greedy_decode(model: MT5Model, input_ids, attention_mask, max_length: int, head: Optional[str] = None) -> jax.Array:
  """Greedy decoding with a key-value cache: [B, max_length] ids, as transformers' `generate`.

  Position 0 holds the decoder start token; each step appends the arg-max token; a row that
  has produced EOS continues with padding. The loop (a `lax.while_loop`) stops when every row
  is done or the length is reached; `max_length` is static, so jit it with
  `nnx.jit(greedy_decode, static_argnames=("max_length", "head"))`.
  """
  head, kind = model.resolve_head(head)
  if kind not in MT5_HEADS or not MT5_HEADS[kind].generates:
    raise ValueError(f"greedy_decode needs a seq2seq head; head {head!r} is {kind!r}")
  cfg, decoder = model.cfg, model.heads[head]
  encoded, _ = model.encoder(input_ids, attention_mask, rng=_RngSplitter(None))
  memory = decoder.memory(encoded)
  batch = input_ids.shape[0]
  shape = (batch, max_length, cfg.num_heads, cfg.d_kv)
  cache = [(jnp.zeros(shape, model.dtype), jnp.zeros(shape, model.dtype)) for _ in decoder.blocks]
  tokens = jnp.full((batch, max_length), cfg.pad_token_id, jnp.int32)
  tokens = tokens.at[:, 0].set(cfg.decoder_start_token_id)
  done = jnp.zeros((batch,), bool)

  def cond(carry):
    position, _, done, _ = carry
    return (position < max_length - 1) & ~jnp.all(done)

  def body(carry):
    position, tokens, done, cache = carry
    token = jax.lax.dynamic_index_in_dim(tokens, position, axis=1, keepdims=False)
    logits, cache = decoder.step(token, position, cache, memory, attention_mask, model.encoder.embed, max_length)
    nxt = jnp.argmax(logits.astype(jnp.float32), axis=-1).astype(jnp.int32)
    nxt = jnp.where(done, cfg.pad_token_id, nxt)
    tokens = jax.lax.dynamic_update_slice_in_dim(tokens, nxt[:, None], position + 1, axis=1)
    return position + 1, tokens, done | (nxt == cfg.eos_token_id), cache

  _, tokens, _, _ = jax.lax.while_loop(cond, body, (jnp.int32(0), tokens, done, cache))
  return tokens


def sequence_loss(logits: jax.Array, labels: jax.Array, label_mask: jax.Array):
  """(summed token cross-entropy, token count) where `label_mask`: exact under accumulation.

  The train step divides the summed loss over micro-batches by the summed count, so the loss
  is the mean over all target tokens of the whole batch (T5X's "loss per all target tokens").
  """
  import optax

  valid = label_mask.astype(bool) & (labels >= 0)
  losses = optax.softmax_cross_entropy_with_integer_labels(logits.astype(jnp.float32), jnp.where(valid, labels, 0))
  return jnp.sum(jnp.where(valid, losses, 0.0)), jnp.sum(valid)


def count_params(model: nnx.Module) -> int:
  return sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
