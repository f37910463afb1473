"""XLM-R in Flax NNX: the encoder and the task heads, weight for weight as in transformers.

Every parameter carries logical axis names in its `out_sharding` metadata (vocab, embed,
heads, mlp, ...). The model knows nothing of meshes: `xstilts_jax.sharding` maps the names
to mesh axes with the rule table from the config. Eager sharding is off per variable, so
building a model never needs a mesh.

Dropout is functional: pass `dropout_rng` to train, leave it None to run deterministically.

`ModelOptions` says how the model computes, never what: rematerialisation of each block's
activations (`remat`), which attention kernel runs when no dropout touches the attention
probabilities (`attention`), and whether the blocks run as one scanned block over stacked
parameters (`scan_layers`). Every choice gives the same outputs and gradients.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
from typing import Any, Callable, Iterator, Mapping, Optional

from flax import nnx
import jax
import jax.numpy as jnp

SUPPORTED_ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu")
# none: keep every activation for the backward pass; dots: keep only the outputs of matmuls
# without batch dimensions (the projections; attention scores and the rest are recomputed);
# full: keep only each block's input and recompute the block.
REMAT_POLICIES = ("none", "dots", "full")
# auto: jax.nn.dot_product_attention picks (cuDNN on GPU when it can, else XLA); xla, cudnn:
# that implementation; plain: the einsum-softmax path always. Attention-probability dropout
# always takes the plain path (the fused kernels have no dropout on the probabilities).
ATTENTION_KINDS = ("auto", "xla", "cudnn", "plain")


@dataclasses.dataclass(frozen=True)
class ModelOptions:
  """How the model computes (config keys model.remat, model.attention, model.scan_layers)."""

  remat: str = "none"
  attention: str = "auto"
  scan_layers: bool = False

  def __post_init__(self):
    if self.remat not in REMAT_POLICIES:
      raise ValueError(f"model.remat {self.remat!r} is not one of {', '.join(REMAT_POLICIES)}")
    if self.attention not in ATTENTION_KINDS:
      raise ValueError(f"model.attention {self.attention!r} is not one of {', '.join(ATTENTION_KINDS)}")

  @classmethod
  def from_config(cls, model_config: Mapping[str, Any]) -> "ModelOptions":
    """The options among a config's `model` keys (absent keys keep their defaults)."""
    get = model_config.get
    return cls(
        remat=get("remat", "none"), attention=get("attention", "auto"), scan_layers=bool(get("scan_layers", False))
    )

  def remat_policy(self):
    if self.remat == "dots":
      return jax.checkpoint_policies.dots_with_no_batch_dims_saveable
    return jax.checkpoint_policies.nothing_saveable


@dataclasses.dataclass(frozen=True)
class XLMRConfig:
  """The fields of transformers' XLMRobertaConfig that the forward pass uses."""

  vocab_size: int = 250002
  hidden_size: int = 1024
  num_hidden_layers: int = 24
  num_attention_heads: int = 16
  intermediate_size: int = 4096
  max_position_embeddings: int = 514
  type_vocab_size: int = 1
  layer_norm_eps: float = 1e-5
  pad_token_id: int = 1
  hidden_dropout_prob: float = 0.1
  attention_probs_dropout_prob: float = 0.1
  classifier_dropout: Optional[float] = None
  initializer_range: float = 0.02
  hidden_act: str = "gelu"

  @classmethod
  def from_hf_dict(cls, d: Mapping[str, Any]) -> "XLMRConfig":
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in d.items() if k in names})

  def to_hf_dict(self) -> dict:
    return dataclasses.asdict(self)

  @property
  def head_dim(self) -> int:
    return self.hidden_size // self.num_attention_heads


# Activations are named by logical axes too (MaxText's activation_* names); a step that knows
# the mesh says how to lay them out (`activation_sharding`), and the model, which knows no
# mesh, constrains them through it. Outside such a context the names are ignored.
_ACTIVATION_LAYOUT: contextvars.ContextVar = contextvars.ContextVar("activation_layout", default=None)


@contextlib.contextmanager
def activation_sharding(constrain: Callable[[jax.Array, tuple], jax.Array]) -> Iterator[None]:
  """Within it, the model passes each named activation through `constrain(x, names)`."""
  token = _ACTIVATION_LAYOUT.set(constrain)
  try:
    yield
  finally:
    _ACTIVATION_LAYOUT.reset(token)


def _constrain(x: jax.Array, *names: Optional[str]) -> jax.Array:
  constrain = _ACTIVATION_LAYOUT.get()
  return x if constrain is None else constrain(x, names)


def _axes(*names: Optional[str]) -> dict:
  return {"out_sharding": names, "eager_sharding": False}


def _dropout(x: jax.Array, rate: float, rng: Optional[jax.Array]) -> jax.Array:
  if rng is None or rate == 0.0:
    return x
  keep = jax.random.bernoulli(rng, 1.0 - rate, x.shape)
  return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))


def _activation(name: str):
  if name == "gelu":
    return lambda x: jax.nn.gelu(x, approximate=False)
  if name in ("gelu_new", "gelu_pytorch_tanh"):
    return lambda x: jax.nn.gelu(x, approximate=True)
  if name == "relu":
    return jax.nn.relu
  raise ValueError(f"hidden_act {name!r} is not supported (gelu, gelu_new, relu)")


class _RngSplitter:
  """Hands out a fresh dropout key per call site; None stays None (deterministic)."""

  def __init__(self, rng: Optional[jax.Array]):
    self._rng, self._count = rng, 0

  def __call__(self) -> Optional[jax.Array]:
    if self._rng is None:
      return None
    self._count += 1
    return jax.random.fold_in(self._rng, self._count)


def _dense(cfg: XLMRConfig, n_in: int, n_out: int, axes: tuple, dtype, rngs: nnx.Rngs) -> nnx.Linear:
  return nnx.Linear(
      n_in,
      n_out,
      dtype=dtype,
      param_dtype=jnp.float32,
      rngs=rngs,
      kernel_init=nnx.initializers.normal(cfg.initializer_range),
      kernel_metadata=_axes(*axes),
      bias_metadata=_axes(axes[1]),
  )


def _layer_norm(cfg: XLMRConfig, rngs: nnx.Rngs) -> nnx.LayerNorm:
  # Normalisation runs in float32 whatever the compute dtype: bf16 variance is too coarse.
  return nnx.LayerNorm(
      cfg.hidden_size,
      epsilon=cfg.layer_norm_eps,
      dtype=jnp.float32,
      param_dtype=jnp.float32,
      rngs=rngs,
      scale_metadata=_axes("embed"),
      bias_metadata=_axes("embed"),
  )


def _embed(cfg: XLMRConfig, n: int, axes: tuple, rngs: nnx.Rngs) -> nnx.Embed:
  return nnx.Embed(
      n,
      cfg.hidden_size,
      param_dtype=jnp.float32,
      rngs=rngs,
      embedding_init=nnx.initializers.normal(cfg.initializer_range),
      embedding_metadata=_axes(*axes),
  )


class Embeddings(nnx.Module):

  def __init__(self, cfg: XLMRConfig, *, rngs: nnx.Rngs):
    self.cfg = cfg
    self.word_embeddings = _embed(cfg, cfg.vocab_size, ("vocab", "embed"), rngs)
    self.position_embeddings = _embed(cfg, cfg.max_position_embeddings, (None, "embed"), rngs)
    self.token_type_embeddings = _embed(cfg, cfg.type_vocab_size, (None, "embed"), rngs)
    self.layer_norm = _layer_norm(cfg, rngs)

  def __call__(self, input_ids, token_type_ids, rng: _RngSplitter):
    # RoBERTa position ids: count real tokens from padding_idx + 1; padding keeps padding_idx.
    pad = self.cfg.pad_token_id
    is_token = (input_ids != pad).astype(jnp.int32)
    position_ids = jnp.cumsum(is_token, axis=-1) * is_token + pad
    x = (
        self.word_embeddings(input_ids)
        + self.position_embeddings(position_ids)
        + self.token_type_embeddings(token_type_ids)
    )
    return _dropout(self.layer_norm(x), self.cfg.hidden_dropout_prob, rng())


def _plain_attention(q, k, v, mask, rate: float, rng: Optional[jax.Array]):
  """softmax(q k^T / sqrt(d)) v with dropout on the probabilities, in float32 softmax."""
  logits = jnp.einsum("btnh,bsnh->bnts", q, k) / jnp.sqrt(q.shape[-1]).astype(q.dtype)
  logits = jnp.where(mask, logits, jnp.finfo(logits.dtype).min)
  probs = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(q.dtype)
  probs = _dropout(probs, rate, rng)
  return jnp.einsum("bnts,bsnh->btnh", probs, v)


class SelfAttention(nnx.Module):

  def __init__(self, cfg: XLMRConfig, dtype, options: ModelOptions = ModelOptions(), *, rngs: nnx.Rngs):
    self.cfg, self.dtype, self.impl = cfg, dtype, options.attention
    h = cfg.hidden_size
    self.query = _dense(cfg, h, h, ("embed", "heads"), dtype, rngs)
    self.key = _dense(cfg, h, h, ("embed", "heads"), dtype, rngs)
    self.value = _dense(cfg, h, h, ("embed", "heads"), dtype, rngs)
    self.output = _dense(cfg, h, h, ("heads", "embed"), dtype, rngs)
    self.layer_norm = _layer_norm(cfg, rngs)

  def __call__(self, x, attention_mask, rng: _RngSplitter):
    cfg = self.cfg
    split = lambda t: t.reshape(*t.shape[:-1], cfg.num_attention_heads, cfg.head_dim)
    heads = lambda t: _constrain(split(t), "activation_batch", "activation_length", "activation_heads", None)
    q, k, v = heads(self.query(x)), heads(self.key(x)), heads(self.value(x))
    mask = attention_mask[:, None, None, :].astype(bool)  # [B, 1, 1, S]: keys that are real tokens
    attn_rng = rng()
    rate = cfg.attention_probs_dropout_prob
    if (attn_rng is not None and rate > 0.0) or self.impl == "plain":
      context = _plain_attention(q, k, v, mask, rate, attn_rng)
    else:
      implementation = None if self.impl == "auto" else self.impl
      context = jax.nn.dot_product_attention(q, k, v, mask=mask, implementation=implementation)
    out = self.output(context.reshape(*x.shape[:-1], cfg.hidden_size))
    out = _dropout(out, cfg.hidden_dropout_prob, rng())
    return self.layer_norm(out + x)


class TransformerBlock(nnx.Module):
  """Post-LN block: attention + residual + LN, then MLP + residual + LN."""

  def __init__(self, cfg: XLMRConfig, dtype, options: ModelOptions = ModelOptions(), *, rngs: nnx.Rngs):
    self.cfg = cfg
    self.attention = SelfAttention(cfg, dtype, options, rngs=rngs)
    self.intermediate = _dense(cfg, cfg.hidden_size, cfg.intermediate_size, ("embed", "mlp"), dtype, rngs)
    self.output = _dense(cfg, cfg.intermediate_size, cfg.hidden_size, ("mlp", "embed"), dtype, rngs)
    self.layer_norm = _layer_norm(cfg, rngs)

  def __call__(self, x, attention_mask, rng: _RngSplitter):
    x = self.attention(x, attention_mask, rng)
    h = _constrain(self.intermediate(x), "activation_batch", "activation_length", "activation_mlp")
    y = self.output(_activation(self.cfg.hidden_act)(h))
    y = _dropout(y, self.cfg.hidden_dropout_prob, rng())
    return _constrain(self.layer_norm(y + x), "activation_batch", "activation_length", "activation_embed")


def _run_block(block: TransformerBlock, x, attention_mask, key: Optional[jax.Array]):
  """One block with its own dropout key (so a rematerialised block redraws the same masks)."""
  return block(x, attention_mask, _RngSplitter(key)).astype(x.dtype)


class Encoder(nnx.Module):
  """Embeddings, the blocks, and the `<s>` pooler (dense + tanh) that XLMRobertaModel carries.

  With `options.scan_layers` the blocks are one TransformerBlock whose parameters carry a
  leading layer axis (logical name "layers"), run by nnx.scan: XLA compiles one block
  instead of num_hidden_layers copies. Dropout keys per layer are those of the unscanned
  model, so both give the same outputs.
  """

  def __init__(self, cfg: XLMRConfig, dtype=jnp.float32, options: ModelOptions = ModelOptions(), *, rngs: nnx.Rngs):
    self.cfg, self.dtype, self.options = cfg, dtype, options
    self.embeddings = Embeddings(cfg, rngs=rngs)
    if options.scan_layers:

      @nnx.split_rngs(splits=cfg.num_hidden_layers)
      @nnx.vmap(in_axes=(0,), out_axes=0, transform_metadata={nnx.PARTITION_NAME: "layers"})
      def stacked(rngs: nnx.Rngs) -> TransformerBlock:
        return TransformerBlock(cfg, dtype, options, rngs=rngs)

      self.layers = stacked(rngs)
    else:
      self.layers = nnx.List([TransformerBlock(cfg, dtype, options, rngs=rngs) for _ in range(cfg.num_hidden_layers)])
    self.pooler = _dense(cfg, cfg.hidden_size, cfg.hidden_size, ("embed", None), dtype, rngs)

  def __call__(
      self, input_ids, attention_mask, token_type_ids=None, *, rng: _RngSplitter, output_hidden_states: bool = False
  ):
    if token_type_ids is None:
      token_type_ids = jnp.zeros_like(input_ids)
    x = self.embeddings(input_ids, token_type_ids, rng).astype(self.dtype)
    x = _constrain(x, "activation_batch", "activation_length", "activation_embed")
    run = _run_block
    if self.options.remat != "none":
      run = nnx.remat(_run_block, policy=self.options.remat_policy(), prevent_cse=True)
    if self.options.scan_layers:
      return self._scan(run, x, attention_mask, rng, output_hidden_states)
    hidden_states = [x]
    for layer in self.layers:
      x = run(layer, x, attention_mask, rng())
      hidden_states.append(x)
    return (x, tuple(hidden_states)) if output_hidden_states else (x, None)

  def _scan(self, run, x, attention_mask, rng: _RngSplitter, output_hidden_states: bool):
    keys = [rng() for _ in range(self.cfg.num_hidden_layers)]
    keys = None if keys[0] is None else jnp.stack(keys)

    @nnx.scan(in_axes=(nnx.Carry, 0, None, 0 if keys is not None else None), out_axes=(nnx.Carry, 0))
    def body(h, block, mask, key):
      h = run(block, h, mask, key)
      return h, (h if output_hidden_states else None)

    embedded = x
    x, ys = body(x, self.layers, attention_mask, keys)
    if not output_hidden_states:
      return x, None
    return x, (embedded,) + tuple(ys[i] for i in range(self.cfg.num_hidden_layers))

  def pool(self, x):
    return jnp.tanh(self.pooler(x[:, 0]))


def head_dropout_rate(cfg: XLMRConfig) -> float:
  """transformers' dropout before a task head: classifier_dropout, else hidden_dropout_prob."""
  return cfg.classifier_dropout if cfg.classifier_dropout is not None else cfg.hidden_dropout_prob


class TaskHead(nnx.Module):
  """A head on the encoder. `read` takes what the head needs from the encoder's output.

  `choices`: the inputs are [B, K, T], flattened for the encoder, and the outputs [B, K].
  """

  choices = False

  def read(self, encoder: "Encoder", x: jax.Array, rng: _RngSplitter):
    return self(x, rng)


class ClassificationHead(TaskHead):
  """RoBERTa's head on `<s>`: dropout, dense, tanh, dropout, out_proj."""

  def __init__(self, cfg: XLMRConfig, num_labels: int, dtype, *, rngs: nnx.Rngs):
    self.rate = head_dropout_rate(cfg)
    self.dense = _dense(cfg, cfg.hidden_size, cfg.hidden_size, ("embed", None), dtype, rngs)
    self.out_proj = _dense(cfg, cfg.hidden_size, num_labels, (None, "labels"), dtype, rngs)

  def __call__(self, x, rng: _RngSplitter):
    x = _dropout(x[:, 0], self.rate, rng())
    x = _dropout(jnp.tanh(self.dense(x)), self.rate, rng())
    return self.out_proj(x)


class TaggingHead(TaskHead):

  def __init__(self, cfg: XLMRConfig, num_labels: int, dtype, *, rngs: nnx.Rngs):
    self.rate = head_dropout_rate(cfg)
    self.classifier = _dense(cfg, cfg.hidden_size, num_labels, ("embed", "labels"), dtype, rngs)

  def __call__(self, x, rng: _RngSplitter):
    return self.classifier(_dropout(x, self.rate, rng()))


class SpanHead(TaskHead):

  def __init__(self, cfg: XLMRConfig, num_labels: int, dtype, *, rngs: nnx.Rngs):
    del num_labels  # always two outputs: start and end
    self.qa_outputs = _dense(cfg, cfg.hidden_size, 2, ("embed", None), dtype, rngs)

  def __call__(self, x, rng: _RngSplitter):
    logits = self.qa_outputs(x)
    return logits[..., 0], logits[..., 1]


class MultipleChoiceHead(TaskHead):
  """transformers' XLMRobertaForMultipleChoice: the encoder's pooler, dropout, one score per choice."""

  choices = True

  def __init__(self, cfg: XLMRConfig, num_labels: int, dtype, *, rngs: nnx.Rngs):
    del num_labels  # one score per choice
    self.rate = head_dropout_rate(cfg)
    self.classifier = _dense(cfg, cfg.hidden_size, 1, ("embed", None), dtype, rngs)

  def __call__(self, pooled, rng: _RngSplitter):
    return self.classifier(_dropout(pooled, self.rate, rng()))[..., 0]

  def read(self, encoder: "Encoder", x: jax.Array, rng: _RngSplitter):
    return self(encoder.pool(x), rng)


class MaskedLMHead(TaskHead):
  """dense, gelu, LayerNorm, then the decoder tied to the word embeddings, plus a bias."""

  def __init__(self, cfg: XLMRConfig, num_labels: int, dtype, *, rngs: nnx.Rngs):
    del num_labels  # one output per vocabulary entry
    self.dense = _dense(cfg, cfg.hidden_size, cfg.hidden_size, ("embed", None), dtype, rngs)
    self.layer_norm = _layer_norm(cfg, rngs)
    self.bias = nnx.Param(jnp.zeros((cfg.vocab_size,), jnp.float32), **_axes("vocab"))
    self.dtype = dtype

  def __call__(self, x, word_embeddings: jax.Array):
    x = self.layer_norm(jax.nn.gelu(self.dense(x), approximate=False)).astype(self.dtype)
    return x @ word_embeddings.astype(self.dtype).T + self.bias[...].astype(self.dtype)

  def read(self, encoder: "Encoder", x: jax.Array, rng: _RngSplitter):
    return self(x, encoder.embeddings.word_embeddings.embedding[...])


# Head kind -> its module. "encoder" (no head: the encoder's output) is the other kind a model
# runs as; a new head is one class and one entry here (and its weight names in models/hf.py).
HEADS: dict[str, type[TaskHead]] = {
    "classification": ClassificationHead,
    "tagging": TaggingHead,
    "span": SpanHead,
    "multiple_choice": MultipleChoiceHead,
    "mlm": MaskedLMHead,
}
HEAD_KINDS = ("encoder",) + tuple(HEADS)


@dataclasses.dataclass(frozen=True)
class HeadSpec:
  kind: str
  num_labels: int = 0


def _make_head(cfg: XLMRConfig, spec: HeadSpec, dtype, rngs: nnx.Rngs) -> TaskHead:
  if spec.kind not in HEADS:
    raise ValueError(f"unknown head kind {spec.kind!r}; expected one of {tuple(HEADS)}")
  return HEADS[spec.kind](cfg, spec.num_labels, dtype, rngs=rngs)


class WithHeads:
  """Named task heads beside an encoder, shared by the backbones: `make_head(cfg, spec, dtype,
  rngs)` builds one; specs live in a tuple, since static attributes must be hashable."""

  make_head = None  # set by each backbone

  def _init_heads(self, heads: Optional[Mapping[str, HeadSpec]], rngs: nnx.Rngs) -> None:
    heads = dict(heads or {})
    self._head_specs = tuple(heads.items())
    self.heads = nnx.Dict(
        {name: type(self).make_head(self.cfg, spec, self.dtype, rngs) for name, spec in heads.items()}
    )

  @property
  def head_specs(self) -> dict[str, HeadSpec]:
    return dict(self._head_specs)

  def add_head(self, name: str, spec: HeadSpec, *, rngs: nnx.Rngs) -> None:
    if name in self.head_specs:
      raise ValueError(f"head {name!r} exists already")
    self._head_specs = self._head_specs + ((name, spec),)
    self.heads[name] = type(self).make_head(self.cfg, spec, self.dtype, rngs)


class XLMRModel(WithHeads, nnx.Module):
  """One XLM-R encoder and any number of named heads (one per task; tasks may share a head).

  `model(input_ids, attention_mask)` calls the only head (or returns the last hidden state
  when there is none); with several heads, name one: `model(ids, mask, head="mnli")`.
  Multiple-choice inputs are [B, K, T] and give [B, K]; span heads give (start, end).
  """

  make_head = staticmethod(_make_head)

  def __init__(
      self,
      cfg: XLMRConfig,
      heads: Mapping[str, HeadSpec] | None = None,
      dtype=jnp.float32,
      *,
      rngs: nnx.Rngs,
      options: ModelOptions = ModelOptions(),
  ):
    self.cfg, self.dtype, self.options = cfg, dtype, options
    self.encoder = Encoder(cfg, dtype, options, rngs=rngs)
    self._init_heads(heads, rngs)

  def __call__(
      self,
      input_ids,
      attention_mask,
      token_type_ids=None,
      *,
      head: Optional[str] = None,
      dropout_rng: Optional[jax.Array] = None,
      output_hidden_states: bool = False,
  ):
    if head is None:
      if len(self.head_specs) > 1:
        raise ValueError(f"this model has heads {sorted(self.head_specs)}: name one with head=")
      head = next(iter(self.head_specs), None)
    module = self.heads[head] if head is not None else None
    rng = _RngSplitter(dropout_rng)

    choices_shape = None
    if module is not None and module.choices:
      choices_shape = input_ids.shape[:2]
      flat = lambda t: None if t is None else t.reshape(-1, t.shape[-1])
      input_ids, attention_mask, token_type_ids = map(flat, (input_ids, attention_mask, token_type_ids))

    x, hidden_states = self.encoder(
        input_ids, attention_mask, token_type_ids, rng=rng, output_hidden_states=output_hidden_states
    )
    if module is None:
      return (x, hidden_states) if output_hidden_states else x
    out = module.read(self.encoder, x, rng)
    if choices_shape is not None:
      out = out.reshape(choices_shape)
    return (out, hidden_states) if output_hidden_states else out


def encode(
    model: XLMRModel, input_ids, attention_mask, dropout_rng: Optional[jax.Array] = None
) -> tuple[jax.Array, tuple]:
  """The encoder alone, whatever heads the model has: (last hidden state, all hidden states);
  deterministic unless `dropout_rng` is given (training the dual encoder's towers)."""
  return model.encoder(input_ids, attention_mask, rng=_RngSplitter(dropout_rng), output_hidden_states=True)


def mean_pool(hidden: jax.Array, attention_mask: jax.Array) -> jax.Array:
  """Mean over positions where the mask is 1 (special tokens included, as XTREME and jiant do)."""
  m = attention_mask.astype(jnp.float32)[..., None]
  return (hidden.astype(jnp.float32) * m).sum(-2) / jnp.maximum(m.sum(-2), 1.0)


def count_params(model: nnx.Module) -> int:
  return sum(x.size for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
