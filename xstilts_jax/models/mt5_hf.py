"""mT5 checkpoints in and out in transformers' names, reached through hf.load_hf / hf.export_hf.

Architectures: MT5EncoderModel (head "encoder"), MT5ForConditionalGeneration ("seq2seq"),
MT5ForTokenClassification ("tagging"), and the encoder-decoder task classes
MT5ForSequenceClassification ("seq2seq_classification") and MT5ForQuestionAnswering
("seq2seq_span"). The encoder's weights are required whatever the head:
a checkpoint that lacks any is an error, never a silently random encoder. The encoder loads
from any mT5 checkpoint (MT5Model, MT5ForQuestionAnswering and MT5ForSequenceClassification
included); a head the checkpoint does not have starts fresh, as in transformers. The
classification, span and multiple-choice heads of the encoder-with-heads protocol have no
transformers class (its MT5ForSequenceClassification and MT5ForQuestionAnswering read the
decoder's states): such a model exports as MT5EncoderModel (transformers loads it with no
missing or unexpected keys) and its head goes beside it, in the project's parameter names, to
HEAD_FILE (safetensors; metadata: the head's kind and label count), which load_hf reads back
when asked for that kind of head. Without that file such a head starts fresh.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np

from xstilts_jax.errors import ModelError
from xstilts_jax.models.hf import gather_hf_tensors, label_names_config, write_hf_checkpoint
from xstilts_jax.models.mt5 import MT5_HEAD_KINDS, MT5Config, MT5Model, _make_mt5_head
from xstilts_jax.models.xlmr import HeadSpec

MODEL_TYPES = ("mt5",)
HEAD_FILE = "xstilts_head.safetensors"  # a head no transformers class holds, beside MT5EncoderModel
_LINEAR = ("kernel",)


def _attention(hf: str, path: tuple) -> list:
  return [(f"{hf}.{n}.weight", path + (n, "kernel"), True) for n in ("q", "k", "v", "o")]


def _ffn(hf: str, path: tuple) -> list:
  return [(f"{hf}.{n}.weight", path + (n, "kernel"), True) for n in ("wi_0", "wi_1", "wo")]


def _norm(hf: str, path: tuple) -> list:
  return [(f"{hf}.weight", path + ("scale",), False)]


def encoder_entries(cfg: MT5Config, prefix: str) -> list[tuple[str, tuple, bool]]:
  """(transformers name, path in the NNX state, transpose?) for the shared table and encoder."""
  e, p = prefix + "encoder.", ("encoder",)
  out = [
      (prefix + "shared.weight", p + ("shared", "embedding"), False),
      (
          e + "block.0.layer.0.SelfAttention.relative_attention_bias.weight",
          p + ("relative_attention_bias", "embedding"),
          False,
      ),
  ]
  for i in range(cfg.num_layers):
    h, b = f"{e}block.{i}.", p + ("blocks", i)
    out += (
        _attention(h + "layer.0.SelfAttention", b + ("attention",))
        + _norm(h + "layer.0.layer_norm", b + ("attention_norm",))
        + _ffn(h + "layer.1.DenseReluDense", b + ("ffn",))
        + _norm(h + "layer.1.layer_norm", b + ("ffn_norm",))
    )
  return out + _norm(e + "final_layer_norm", p + ("final_layer_norm",))


def decoder_entries(cfg: MT5Config, name: str, prefix: str = "") -> list[tuple[str, tuple, bool]]:
  """The decoder stack of a decoder head called `name` (its output layer not included)."""
  p = ("heads", name)
  out = [
      (
          prefix + "decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight",
          p + ("relative_attention_bias", "embedding"),
          False,
      )
  ]
  for i in range(cfg.num_decoder_layers):
    h, b = f"{prefix}decoder.block.{i}.", p + ("blocks", i)
    out += (
        _attention(h + "layer.0.SelfAttention", b + ("attention",))
        + _norm(h + "layer.0.layer_norm", b + ("attention_norm",))
        + _attention(h + "layer.1.EncDecAttention", b + ("cross_attention",))
        + _norm(h + "layer.1.layer_norm", b + ("cross_attention_norm",))
        + _ffn(h + "layer.2.DenseReluDense", b + ("ffn",))
        + _norm(h + "layer.2.layer_norm", b + ("ffn_norm",))
    )
  return out + _norm(prefix + "decoder.final_layer_norm", p + ("final_layer_norm",))


def _linear_with_bias(hf: str, path: tuple) -> list:
  return [(hf + ".weight", path + ("kernel",), True), (hf + ".bias", path + ("bias",), False)]


@dataclasses.dataclass(frozen=True)
class MT5HFHead:
  """How transformers stores one mT5 head kind: its architecture (None: transformers has no
  class for it, so it is not exported), the head's weights as entries (transformers name, path
  in the NNX state, transpose?) for a head named `name`, the weight whose rows are the labels
  (its label names go into config.json), whether the head needs a label count even when the
  checkpoint has no labels, the prefix of the shared table, encoder and decoder, and whether
  the head's weight may be tied to the shared embedding (dropped from the checkpoint then)."""

  architecture: Optional[str]
  entries: Callable[[MT5Config, str], list] = lambda cfg, name: []
  labels_weight: Optional[str] = None
  needs_labels: bool = False
  prefix: str = ""
  tied_to_embedding: Optional[str] = None


def _classification_entries(cfg: MT5Config, name: str) -> list:
  c = ("heads", name, "classification_head")
  return (
      decoder_entries(cfg, name, "transformer.")
      + _linear_with_bias("classification_head.dense", c + ("dense",))
      + _linear_with_bias("classification_head.out_proj", c + ("out_proj",))
  )


def _tagging_entries(cfg: MT5Config, name: str) -> list:
  p = ("heads", name, "classifier")
  return [("classifier.weight", p + ("kernel",), True), ("classifier.bias", p + ("bias",), False)]


# mT5 head kind (models.mt5.MT5_HEADS) -> its transformers form; a new head is one entry here.
HF_HEADS: dict[str, MT5HFHead] = {
    "encoder": MT5HFHead("MT5EncoderModel"),
    "seq2seq": MT5HFHead(
        "MT5ForConditionalGeneration",
        lambda cfg, n: decoder_entries(cfg, n) + [("lm_head.weight", ("heads", n, "lm_head", "kernel"), True)],
        tied_to_embedding="lm_head.weight",
    ),
    "tagging": MT5HFHead(
        "MT5ForTokenClassification", _tagging_entries, labels_weight="classifier.weight", prefix="transformer."
    ),
    "seq2seq_classification": MT5HFHead(
        "MT5ForSequenceClassification",
        _classification_entries,
        labels_weight="classification_head.out_proj.weight",
        prefix="transformer.",
    ),
    "seq2seq_span": MT5HFHead(
        "MT5ForQuestionAnswering",
        lambda cfg, n: decoder_entries(cfg, n) + _linear_with_bias("qa_outputs", ("heads", n, "qa_outputs")),
    ),
    # XLM-R's head shapes on the mT5 encoder: no transformers class holds them.
    "classification": MT5HFHead(None, needs_labels=True),
    "span": MT5HFHead(None),
    "multiple_choice": MT5HFHead(None),
}
ARCHITECTURES = {kind: h.architecture for kind, h in HF_HEADS.items() if h.architecture}
_KIND_OF_ARCHITECTURE = {v: k for k, v in ARCHITECTURES.items()}


def head_entries(cfg: MT5Config, kind: str, name: str) -> list[tuple[str, tuple, bool]]:
  return HF_HEADS[kind].entries(cfg, name)


def _prefix_of(weights: dict) -> str:
  return "transformer." if any(k.startswith("transformer.") for k in weights) else ""


def read_model_type(ckpt_dir: Path) -> Optional[str]:
  """config.json's model_type, or None when it cannot be read (the caller reports that)."""
  try:
    return json.loads((ckpt_dir / "config.json").read_text()).get("model_type")
  except (OSError, ValueError, AttributeError):
    return None


def _set(values: dict, path: tuple, value: np.ndarray, name: str) -> None:
  node = values
  for p in path[:-1]:
    node = node[p]
  old = node[path[-1]]
  if tuple(old.shape) != tuple(value.shape):
    raise ModelError(f"{name}: checkpoint shape {tuple(value.shape)} " f"!= model shape {tuple(old.shape)}")
  node[path[-1]] = np.asarray(value, dtype=old.dtype)


def _host(module: nnx.Module) -> dict:
  return jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(module, nnx.Param)))


def load_mt5(
    ckpt_dir: Path,
    head: str = "encoder",
    num_labels: Optional[int] = None,
    dtype: Any = jnp.float32,
    seed: int = 0,
    head_name: Optional[str] = None,
) -> MT5Model:
  """An MT5Model with the checkpoint's weights and one head of the given kind."""
  from xstilts_jax.models.hf import read_hf_weights

  if head not in MT5_HEAD_KINDS:
    raise ModelError(f"head {head!r} is not one of {', '.join(MT5_HEAD_KINDS)} for mT5")
  config_file = ckpt_dir / "config.json"
  try:
    hf_cfg = json.loads(config_file.read_text())
  except json.JSONDecodeError as e:
    raise ModelError(f"{config_file}:{e.lineno}: invalid JSON ({e.msg})") from None
  try:
    cfg = MT5Config.from_hf_dict(hf_cfg)
  except (TypeError, ValueError) as e:
    raise ModelError(f"{config_file}: {e}") from None
  weights = read_hf_weights(ckpt_dir)
  prefix = _prefix_of(weights)
  hf_head = HF_HEADS[head]
  if hf_head.labels_weight is not None:
    label_key = hf_head.labels_weight
    in_ckpt = weights[label_key].shape[0] if label_key in weights else None
    if num_labels is None:
      num_labels = in_ckpt or len(hf_cfg.get("id2label") or {}) or None
    if num_labels is None:
      raise ModelError(f"{ckpt_dir}: head {head!r} needs num_labels")
    if in_ckpt is not None and in_ckpt != num_labels:
      raise ModelError(
          f"{ckpt_dir}: the checkpoint's {head} head has {in_ckpt} labels, " f"but num_labels={num_labels} was asked"
      )
  side = _read_head_file(ckpt_dir, head) if hf_head.architecture is None and head != "encoder" else None
  if side is not None:
    in_file = int(side[1].get("num_labels", "0")) or None
    if num_labels is None:
      num_labels = in_file
    if in_file is not None and in_file != num_labels:
      raise ModelError(
          f"{ckpt_dir / HEAD_FILE}: the {head} head has {in_file} labels, but num_labels={num_labels} was asked"
      )
  if hf_head.labels_weight is None and hf_head.needs_labels and num_labels is None:
    raise ModelError(f"{ckpt_dir}: head {head!r} needs num_labels")
  name = head_name or head
  heads = {} if head == "encoder" else {name: HeadSpec(head, num_labels or 0)}
  abstract = nnx.eval_shape(lambda: MT5Model(cfg, heads, dtype=dtype, rngs=nnx.Rngs(seed)))
  graphdef, params, rest = nnx.split(abstract, nnx.Param, ...)
  values = nnx.to_pure_dict(params)

  enc = encoder_entries(cfg, prefix)
  if enc[0][0] not in weights and prefix + "encoder.embed_tokens.weight" in weights:
    enc[0] = (prefix + "encoder.embed_tokens.weight",) + enc[0][1:]
  missing = [hf for hf, _, _ in enc if hf not in weights]
  if missing:
    raise ModelError(
        f"{ckpt_dir}: {len(missing)} encoder weights missing (e.g. {missing[0]}); " "is this an mT5 checkpoint?"
    )
  hd = head_entries(cfg, head, name)
  tied = hf_head.tied_to_embedding
  if (
      tied is not None
      and tied not in weights
      and "shared.weight" in weights
      and any(hf in weights for hf, _, _ in hd)
      and hf_cfg.get("tie_word_embeddings", False)
  ):
    # A checkpoint saved with tied embeddings (transformers drops the tied weight then).
    weights = {**weights, tied: weights["shared.weight"]}
  present = [hf for hf, _, _ in hd if hf in weights]
  if present and len(present) != len(hd):
    absent = [hf for hf, _, _ in hd if hf not in weights]
    raise ModelError(f"{ckpt_dir}: the {head} head is incomplete ({len(absent)} weights missing, " f"e.g. {absent[0]})")
  for hf, path, transpose in enc + (hd if present else []):
    w = weights[hf]
    _set(values, path, w.T if transpose else w, hf)
  if side is not None:  # the head beside the encoder (HEAD_FILE), every weight of it
    expected = {".".join(str(k) for k in path): path for path in _paths(values["heads"][name])}
    if set(side[0]) != set(expected):
      raise ModelError(
          f"{ckpt_dir / HEAD_FILE}: the {head} head's weights are {sorted(side[0])}, expected {sorted(expected)}"
      )
    for key, value in side[0].items():
      _set(values, ("heads", name, *expected[key]), value, f"{HEAD_FILE}:{key}")
  elif heads and not present:  # a head the checkpoint lacks starts fresh, as transformers would
    values["heads"][name] = _host(_make_mt5_head(cfg, heads[name], dtype, nnx.Rngs(seed)))
  nnx.replace_by_pure_dict(params, values)
  return nnx.merge(graphdef, params, rest)


def _paths(tree: dict, prefix: tuple = ()) -> list[tuple]:
  out = []
  for k, v in tree.items():
    out += _paths(v, prefix + (k,)) if isinstance(v, dict) else [prefix + (k,)]
  return out


def _read_head_file(ckpt_dir: Path, kind: str) -> Optional[tuple[dict, dict]]:
  """({parameter path: array}, metadata) of HEAD_FILE when it holds a head of `kind`, else None."""
  from safetensors import safe_open

  path = ckpt_dir / HEAD_FILE
  if not path.is_file():
    return None
  try:
    with safe_open(str(path), framework="numpy") as f:
      metadata = f.metadata() or {}
      if metadata.get("kind") != kind:
        return None
      return {k: f.get_tensor(k) for k in f.keys()}, metadata
  except (OSError, ValueError) as e:
    raise ModelError(f"{path}: unreadable ({e})") from None


def _head_file_bytes(model: MT5Model, head: str, kind: str) -> bytes:
  from safetensors.numpy import save

  values = jax.tree.map(lambda x: np.asarray(jax.device_get(x), np.float32), _host(model.heads[head]))
  tensors = {}
  for path in _paths(values):
    node = values
    for p in path:
      node = node[p]
    tensors[".".join(str(p) for p in path)] = np.ascontiguousarray(node)
  metadata = {"kind": kind, "name": head, "num_labels": str(model.head_specs[head].num_labels)}
  return save(tensors, metadata=metadata)


def hf_state_dict(model: MT5Model, head: Optional[str] = None) -> tuple[str, dict[str, np.ndarray]]:
  """(architecture, {transformers name: array}) for the encoder and one head of the model."""
  try:
    head, kind = model.resolve_head(head)
  except ValueError as e:
    raise ModelError(str(e)) from None
  if kind not in ARCHITECTURES:
    raise ModelError(
        f"head {head!r} ({kind}) has no transformers mT5 class to export to "
        f"(exportable: {', '.join(ARCHITECTURES)})"
    )
  entries = encoder_entries(model.cfg, HF_HEADS[kind].prefix) + head_entries(model.cfg, kind, head)
  return ARCHITECTURES[kind], gather_hf_tensors(model, entries)


def export_mt5(
    model: MT5Model,
    out_dir: str,
    tokenizer=None,
    head: Optional[str] = None,
    label_names: Optional[Iterable[str]] = None,
) -> Path:
  """config.json, model.safetensors and (when given) the tokenizer files, each written whole."""
  from transformers import MT5Config as HFMT5Config

  from xstilts_jax import atomic

  try:
    name, kind = model.resolve_head(head)
  except ValueError as e:
    raise ModelError(str(e)) from None
  side = None
  if name is not None and HF_HEADS[kind].architecture is None:  # the encoder, and the head beside it
    side = _head_file_bytes(model, name, kind)
    architecture, tensors = ARCHITECTURES["encoder"], gather_hf_tensors(model, encoder_entries(model.cfg, ""))
  else:
    architecture, tensors = hf_state_dict(model, head)
  extra = {}
  if HF_HEADS[_KIND_OF_ARCHITECTURE[architecture]].labels_weight is not None:
    extra = label_names_config(label_names, model.head_specs[model.resolve_head(head)[0]].num_labels)
  hf_cfg = HFMT5Config(**model.cfg.to_hf_dict(), architectures=[architecture], **extra)
  hf_cfg.tie_word_embeddings = False  # mT5's LM head is its own matrix
  out = write_hf_checkpoint(out_dir, tensors, hf_cfg, tokenizer)
  if side is not None:
    atomic.write_bytes(out / HEAD_FILE, side, what="the head beside the mT5 encoder")
  elif (out / HEAD_FILE).exists():  # a head of an earlier export is not this checkpoint's
    (out / HEAD_FILE).unlink()
  return out
