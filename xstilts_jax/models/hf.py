"""Hugging Face checkpoints in and out: `load_hf` and `export_hf`.

The parameter names are transformers' own (XLMRobertaModel and the XLMRobertaFor... classes),
so a checkpoint written here loads in transformers with no missing or unexpected keys, and
any XLM-R checkpoint from the hub or a local directory loads here. The encoder's weights are
required: a checkpoint that lacks them is an error, never a silently random encoder (the
trap behind jiant PR #1329).
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
from pathlib import Path
import shutil
import tempfile
from typing import Any, Callable, Iterable, Optional

from flax import nnx
import jax
import jax.numpy as jnp
import numpy as np

from xstilts_jax import atomic, paths
from xstilts_jax.errors import ModelError, disk_full, is_disk_full
from xstilts_jax.models.xlmr import (
    HEAD_KINDS,
    SUPPORTED_ACTIVATIONS,
    HeadSpec,
    ModelOptions,
    XLMRConfig,
    XLMRModel,
    _dense,
    _make_head,
)

_WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_HUB_PATTERNS = [
    "config.json",
    "*.safetensors",
    "*.safetensors.index.json",
    "pytorch_model.bin*",
    "tokenizer*",
    "sentencepiece.bpe.model",
    "special_tokens_map.json",
]

# (transformers name, path in the NNX state, transpose?) for one module of each kind.
_LINEAR = ((".weight", ("kernel",), True), (".bias", ("bias",), False))
_NORM = ((".weight", ("scale",), False), (".bias", ("bias",), False))
_EMBED = ((".weight", ("embedding",), False),)


def _entries(hf: str, path: tuple, kind) -> list[tuple[str, tuple, bool]]:
  return [(hf + suffix, path + leaf, transpose) for suffix, leaf, transpose in kind]


def _encoder_entries(cfg: XLMRConfig, prefix: str, with_pooler: bool, scanned: bool = False) -> list:
  """Encoder entries; a scanned model's block parameters are stacked, so each layer's entry
  ends in its index into the stacked array's first axis."""
  e = prefix + "embeddings."
  out = (
      _entries(e + "word_embeddings", ("encoder", "embeddings", "word_embeddings"), _EMBED)
      + _entries(e + "position_embeddings", ("encoder", "embeddings", "position_embeddings"), _EMBED)
      + _entries(e + "token_type_embeddings", ("encoder", "embeddings", "token_type_embeddings"), _EMBED)
      + _entries(e + "LayerNorm", ("encoder", "embeddings", "layer_norm"), _NORM)
  )
  for i in range(cfg.num_hidden_layers):
    h, p = f"{prefix}encoder.layer.{i}.", ("encoder", "layers") if scanned else ("encoder", "layers", i)
    layer = []
    for name in ("query", "key", "value"):
      layer += _entries(h + f"attention.self.{name}", p + ("attention", name), _LINEAR)
    layer += (
        _entries(h + "attention.output.dense", p + ("attention", "output"), _LINEAR)
        + _entries(h + "attention.output.LayerNorm", p + ("attention", "layer_norm"), _NORM)
        + _entries(h + "intermediate.dense", p + ("intermediate",), _LINEAR)
        + _entries(h + "output.dense", p + ("output",), _LINEAR)
        + _entries(h + "output.LayerNorm", p + ("layer_norm",), _NORM)
    )
    out += [(hf, path + (i,), t) for hf, path, t in layer] if scanned else layer
  if with_pooler:
    out += _entries(prefix + "pooler.dense", ("encoder", "pooler"), _LINEAR)
  return out


@dataclasses.dataclass(frozen=True)
class HFHead:
  """How transformers stores one head kind: the architecture, the head's weights as entries
  (transformers name, path in the NNX state, transpose?) for a head at `path`, whether the
  architecture keeps the encoder's pooler, the weight whose rows are the labels (labelled
  heads: its label names go into config.json) and the prefix of the encoder's weight names."""

  architecture: str
  entries: Callable[[tuple], list] = lambda path: []
  pooler: bool = False
  labels_weight: Optional[str] = None
  prefix: str = "roberta."

  @property
  def labelled(self) -> bool:
    return self.labels_weight is not None


# Head kind (models.xlmr.HEAD_KINDS) -> its transformers form; a new head is one entry here.
HF_HEADS = {
    "encoder": HFHead("XLMRobertaModel", pooler=True, prefix=""),
    "classification": HFHead(
        "XLMRobertaForSequenceClassification",
        lambda p: _entries("classifier.dense", p + ("dense",), _LINEAR)
        + _entries("classifier.out_proj", p + ("out_proj",), _LINEAR),
        labels_weight="classifier.out_proj.weight",
    ),
    "tagging": HFHead(
        "XLMRobertaForTokenClassification",
        lambda p: _entries("classifier", p + ("classifier",), _LINEAR),
        labels_weight="classifier.weight",
    ),
    "span": HFHead("XLMRobertaForQuestionAnswering", lambda p: _entries("qa_outputs", p + ("qa_outputs",), _LINEAR)),
    "multiple_choice": HFHead(
        "XLMRobertaForMultipleChoice", lambda p: _entries("classifier", p + ("classifier",), _LINEAR), pooler=True
    ),
    "mlm": HFHead(
        "XLMRobertaForMaskedLM",
        lambda p: _entries("lm_head.dense", p + ("dense",), _LINEAR)
        + _entries("lm_head.layer_norm", p + ("layer_norm",), _NORM)
        + [("lm_head.bias", p + ("bias",), False)],
    ),
}
ARCHITECTURES = {kind: h.architecture for kind, h in HF_HEADS.items()}
_KIND_OF_ARCHITECTURE = {v: k for k, v in ARCHITECTURES.items()}


def _param_map(cfg: XLMRConfig, kind: str, head_name: str, prefix: str, scanned: bool = False) -> tuple[list, list]:
  """The encoder entries and the head entries for one exported / imported architecture."""
  hf_head = HF_HEADS[kind]
  encoder = _encoder_entries(cfg, prefix, with_pooler=hf_head.pooler, scanned=scanned)
  return encoder, hf_head.entries(("heads", head_name))


# ----------------------------------------------------------------------------- reading


def resolve_checkpoint(path_or_hub_id: str) -> Path:
  """A local directory for a checkpoint path or hub id (fetched through huggingface_hub)."""
  if paths.is_remote(path_or_hub_id):  # gs://: safetensors and transformers read local files, so a local copy
    return paths.local_copy(path_or_hub_id)
  path = Path(path_or_hub_id).expanduser()
  if path.is_dir():
    return path
  if path.exists() or path_or_hub_id.startswith((".", "/", "~")) or path_or_hub_id.count("/") > 1:
    raise ModelError(f"{path_or_hub_id}: not a checkpoint directory")
  try:
    import huggingface_hub

    return Path(huggingface_hub.snapshot_download(path_or_hub_id, allow_patterns=_HUB_PATTERNS))
  except Exception as e:  # offline, unknown id, gated repo: one line for the user.
    raise ModelError(
        f"cannot get {path_or_hub_id!r} from the Hugging Face hub ({type(e).__name__}); "
        "pass a local checkpoint directory, or download it first where there is network "
        "(HF_HUB_OFFLINE=1 uses the local cache)"
    ) from None


BACKBONE_MODEL_TYPES = ("xlm-roberta", "mt5")  # config.json's model_type of each backbone


def read_hf_config(ckpt_dir: Path, model_types: tuple[str, ...] = BACKBONE_MODEL_TYPES) -> dict:
  """A checkpoint's config.json as a dict, refused (one line) unless its model_type is one of
  `model_types`; `read_model_config` gives the backbone's own config class."""
  f = ckpt_dir / "config.json"
  if not f.exists():
    raise ModelError(f"{ckpt_dir}: no config.json")
  try:
    cfg = json.loads(f.read_text())
  except json.JSONDecodeError as e:
    raise ModelError(f"{f}:{e.lineno}: invalid JSON ({e.msg})") from None
  if not isinstance(cfg, dict) or cfg.get("model_type") not in model_types:
    got = cfg.get("model_type") if isinstance(cfg, dict) else None
    arch = cfg.get("architectures") if isinstance(cfg, dict) else None
    raise ModelError(f"{f}: model_type is {got!r}, not one of {', '.join(model_types)} (architectures {arch})")
  return cfg


def read_model_config(ckpt_dir: Path):
  """The backbone config of a checkpoint: an XLMRConfig (xlm-roberta) or an MT5Config (mt5)."""
  hf_cfg = read_hf_config(ckpt_dir)
  try:
    if hf_cfg["model_type"] == "mt5":
      from xstilts_jax.models.mt5 import MT5Config

      return MT5Config.from_hf_dict(hf_cfg)
    return XLMRConfig.from_hf_dict(hf_cfg)
  except (TypeError, ValueError) as e:
    raise ModelError(f"{ckpt_dir / 'config.json'}: {e}") from None


def read_hf_weights(ckpt_dir: Path) -> dict[str, np.ndarray]:
  """All tensors of a checkpoint as float32 numpy arrays (safetensors, sharded or not, or .bin)."""
  found = [n for n in _WEIGHT_FILES if (ckpt_dir / n).exists()]
  if not found:
    raise ModelError(f"{ckpt_dir}: no weights (looked for {', '.join(_WEIGHT_FILES)})")
  name = found[0]
  if name.endswith(".index.json"):
    try:
      shards = sorted(set(json.loads((ckpt_dir / name).read_text())["weight_map"].values()))
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
      raise ModelError(f"{ckpt_dir / name}: not a weight index ({type(e).__name__}: {e})") from None
    files = [ckpt_dir / s for s in shards]
  else:
    files = [ckpt_dir / name]
  tensors = {}
  for f in files:
    if not f.is_file():
      raise ModelError(f"{f}: missing (named by {ckpt_dir / name})")
    if f.suffix == ".safetensors":
      from safetensors.numpy import load_file

      try:
        tensors.update(load_file(f))
      except Exception as e:  # SafetensorError, or numpy's on a truncated buffer: name the file
        raise ModelError(
            f"{f}: unreadable safetensors file ({_one_line(e)}); " "remove the phase's folder to redo it"
        ) from None
    else:
      try:
        import torch
      except ImportError:
        raise ModelError(f"{f}: reading pytorch_model.bin needs torch (pip install torch)") from None
      try:
        state = torch.load(f, map_location="cpu", weights_only=True)
      except Exception as e:
        raise ModelError(f"{f}: unreadable PyTorch weights ({_one_line(e)})") from None
      tensors.update({k: v.float().numpy() for k, v in state.items()})
  return {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}


def _one_line(e: BaseException) -> str:
  text = " ".join(str(e).split())
  return f"{type(e).__name__}: {text[:200]}"


def _prefix_of(weights: dict) -> str:
  if any(k.startswith("roberta.") for k in weights):
    return "roberta."
  if any(k.startswith("xlm-roberta.") for k in weights):
    return "xlm-roberta."
  return ""


def _checkpoint_head_labels(kind: str, weights: dict) -> Optional[int]:
  key = HF_HEADS[kind].labels_weight
  return weights[key].shape[0] if key in weights else None


def _set(state_dict: dict, path: tuple, value: np.ndarray, name: str) -> None:
  layer = None
  if isinstance(path[-1], int):  # one layer of a scanned model's stacked parameter
    path, layer = path[:-1], path[-1]
  node = state_dict
  for p in path[:-1]:
    node = node[p]
  old = node[path[-1]]
  shape = tuple(old.shape) if layer is None else tuple(old.shape[1:])
  if shape != tuple(value.shape):
    raise ModelError(f"{name}: checkpoint shape {tuple(value.shape)} != model shape {shape}")
  if layer is None:
    node[path[-1]] = np.asarray(value, dtype=old.dtype)
    return
  if not isinstance(old, np.ndarray):  # the abstract model's placeholder: the stack starts here
    node[path[-1]] = old = np.zeros(old.shape, old.dtype)
  old[layer] = value


def load_hf(
    path_or_hub_id: str,
    head: str = "encoder",
    num_labels: Optional[int] = None,
    dtype: Any = jnp.float32,
    seed: int = 0,
    head_name: Optional[str] = None,
    options: Optional[ModelOptions] = None,
) -> XLMRModel:
  """An XLMRModel with the checkpoint's weights and one head of the given kind.

  The head (named `head_name`, default the kind) takes its weights from the checkpoint when
  the checkpoint has that head, and is freshly initialised otherwise. An mT5 checkpoint
  (config.json's model_type) gives an MT5Model instead (models/mt5_hf.py).
  """
  from xstilts_jax.models import mt5_hf  # the backbone is the checkpoint's model_type

  if mt5_hf.read_model_type(mt5_dir := resolve_checkpoint(path_or_hub_id)) in mt5_hf.MODEL_TYPES:
    return mt5_hf.load_mt5(mt5_dir, head, num_labels, dtype, seed, head_name)
  if head not in HEAD_KINDS:
    raise ModelError(f"head {head!r} is not one of {', '.join(HEAD_KINDS)}")
  ckpt_dir = resolve_checkpoint(path_or_hub_id)
  hf_cfg = read_hf_config(ckpt_dir)
  cfg = XLMRConfig.from_hf_dict(hf_cfg)
  if cfg.hidden_act not in SUPPORTED_ACTIVATIONS:
    raise ModelError(
        f"{ckpt_dir}/config.json: hidden_act {cfg.hidden_act!r} is not supported "
        f"({', '.join(SUPPORTED_ACTIVATIONS)})"
    )
  weights = read_hf_weights(ckpt_dir)
  prefix = _prefix_of(weights)

  in_ckpt = _checkpoint_head_labels(head, weights)
  if HF_HEADS[head].labelled:
    if num_labels is None:
      num_labels = in_ckpt or len(hf_cfg.get("id2label") or {}) or None
    if num_labels is None:
      raise ModelError(f"{ckpt_dir}: head {head!r} needs num_labels")
    if in_ckpt is not None and in_ckpt != num_labels:
      raise ModelError(
          f"{ckpt_dir}: the checkpoint's {head} head has {in_ckpt} labels, " f"but num_labels={num_labels} was asked"
      )
  name = head_name or head
  heads = {} if head == "encoder" else {name: HeadSpec(head, num_labels or 0)}
  # The model's shapes only: weights go from the file to host arrays and from there straight
  # to their shards (train.state.create_state), never through a whole copy on one device.
  abstract = nnx.eval_shape(
      lambda: XLMRModel(cfg, heads, dtype=dtype, rngs=nnx.Rngs(seed), options=options or ModelOptions())
  )
  graphdef, params, rest = nnx.split(abstract, nnx.Param, ...)
  values = nnx.to_pure_dict(params)
  encoder_entries, head_entries = _param_map(cfg, head, name, prefix, scanned=bool(options and options.scan_layers))
  pooler = [e for e in encoder_entries if ".pooler." in e[0]]
  encoder_entries = [e for e in encoder_entries if e not in pooler]
  missing = [hf for hf, _, _ in encoder_entries if hf not in weights]
  if missing:
    raise ModelError(
        f"{ckpt_dir}: {len(missing)} encoder weights missing (e.g. {missing[0]}); " f"is this an XLM-R checkpoint?"
    )
  head_present = [hf for hf, _, _ in head_entries if hf in weights]
  if head_present and len(head_present) != len(head_entries):
    absent = [hf for hf, _, _ in head_entries if hf not in weights]
    raise ModelError(f"{ckpt_dir}: the {head} head is incomplete (missing {', '.join(absent)})")
  pooler_present = bool(pooler) and all(hf in weights for hf, _, _ in pooler)
  for hf, path, transpose in (
      encoder_entries + (pooler if pooler_present else []) + (head_entries if head_present else [])
  ):
    w = weights[hf]
    _set(values, path, w.T if transpose else w, hf)
  # What the checkpoint lacks (a new head, a pooler) starts fresh, as transformers would.
  rngs = nnx.Rngs(seed)
  if not pooler_present:
    values["encoder"]["pooler"] = _host(_dense(cfg, cfg.hidden_size, cfg.hidden_size, ("embed", None), dtype, rngs))
  if heads and not head_present:
    values["heads"][name] = _host(_make_head(cfg, heads[name], dtype, rngs))
  nnx.replace_by_pure_dict(params, values)
  return nnx.merge(graphdef, params, rest)


def _host(module: nnx.Module) -> dict:
  return jax.tree.map(np.asarray, nnx.to_pure_dict(nnx.state(module, nnx.Param)))


# ----------------------------------------------------------------------------- writing


def hf_state_dict(model: XLMRModel, head: Optional[str] = None) -> tuple[str, dict[str, np.ndarray]]:
  """(architecture, {transformers name: array}) for the encoder and one head of the model."""
  specs = model.head_specs
  if head is None and len(specs) > 1:
    raise ModelError(f"the model has heads {sorted(specs)}: name the one to export")
  if head is None:
    head = next(iter(specs), None)
  if head is not None and head not in specs:
    raise ModelError(f"the model has no head {head!r} (heads: {sorted(specs)})")
  kind = specs[head].kind if head is not None else "encoder"
  prefix = HF_HEADS[kind].prefix
  encoder_entries, head_entries = _param_map(model.cfg, kind, head, prefix, scanned=model.options.scan_layers)
  return ARCHITECTURES[kind], gather_hf_tensors(model, encoder_entries + head_entries)


def gather_hf_tensors(model: nnx.Module, entries) -> dict[str, np.ndarray]:
  """transformers' float32 tensors of a model, from (HF name, parameter path, transpose) entries."""
  values = nnx.to_pure_dict(nnx.state(model, nnx.Param))
  out = {}
  for hf, path, transpose in entries:
    node = values
    for p in path:
      node = node[p]
    w = np.asarray(jax.device_get(node), dtype=np.float32)
    out[hf] = np.ascontiguousarray(w.T if transpose else w)
  return out


def label_names_config(label_names: Optional[Iterable[str]], num_labels: int) -> dict:
  """config.json's id2label/label2id for a head of num_labels (LABEL_i when no names are given)."""
  names = list(label_names) if label_names is not None else [f"LABEL_{i}" for i in range(num_labels)]
  if len(names) != num_labels:
    raise ModelError(f"{len(names)} label names for a head with {num_labels} labels")
  return {"id2label": dict(enumerate(names)), "label2id": {l: i for i, l in enumerate(names)}}


def write_hf_checkpoint(out_dir: str, tensors: dict, hf_cfg, tokenizer=None) -> Path:
  """config.json, model.safetensors and (when given) the tokenizer files in out_dir, each file
  appearing whole or not at all, with the permissions the umask gives."""
  from safetensors.numpy import save_file

  out = Path(out_dir)
  if out.exists() and not out.is_dir():
    raise ModelError(f"{out}: exists and is not a directory")
  try:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".export-") as tmp:
      save_file(tensors, os.path.join(tmp, "model.safetensors"), metadata={"format": "pt"})
      hf_cfg.save_pretrained(tmp)
      if tokenizer is not None:
        tokenizer.save_pretrained(tmp)
      mode = 0o666 & ~atomic.current_umask()  # mkdtemp's 0700 is not what the user's umask says
      for f in os.listdir(tmp):  # each file appears whole or not at all
        os.chmod(os.path.join(tmp, f), mode)
        os.replace(os.path.join(tmp, f), out / f)
  except OSError as e:
    if is_disk_full(e):
      raise disk_full("a Hugging Face checkpoint", out) from None
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOTDIR, errno.EEXIST):
      raise ModelError(f"{out}: cannot write the checkpoint there ({e.strerror})") from None
    raise
  return out


def export_hf(
    model: XLMRModel,
    out_dir: str,
    tokenizer=None,
    head: Optional[str] = None,
    label_names: Optional[Iterable[str]] = None,
) -> Path:
  """Write config.json, model.safetensors and (when given) the tokenizer files to out_dir."""
  if not isinstance(model, XLMRModel):  # an MT5Model: models/mt5_hf.py
    from xstilts_jax.models.mt5_hf import export_mt5

    return export_mt5(model, out_dir, tokenizer, head, label_names)
  from transformers import XLMRobertaConfig

  architecture, tensors = hf_state_dict(model, head)
  kind = _KIND_OF_ARCHITECTURE[architecture]
  extra = {}
  if HF_HEADS[kind].labelled:
    extra = label_names_config(label_names, model.head_specs[head or next(iter(model.head_specs))].num_labels)
  hf_cfg = XLMRobertaConfig(**model.cfg.to_hf_dict(), architectures=[architecture], **extra)
  return write_hf_checkpoint(out_dir, tensors, hf_cfg, tokenizer)


def reexport_hf(source: Path, out: Path, load_tokenizer=None, overwrite: bool = False) -> str:
  """Re-exports the Hugging Face checkpoint in `source` (a finished phase) to `out`, whole.

  The head comes from the checkpoint's architecture; `load_tokenizer(source)`, when given,
  supplies the tokenizer saved beside it (called after the checkpoint's config is read, so a
  broken config.json is named as such). A non-empty `out` is refused unless
  `overwrite`; then it is replaced whole (written beside it, then swapped in), never mixed
  with the new files. Returns the architecture written.
  """
  if out.exists() and not out.is_dir():
    raise ModelError(f"--out {out}: exists and is not a directory")
  if out.is_dir() and any(out.iterdir()) and not overwrite:
    raise ModelError(
        f"--out {out}: not empty; choose an empty or new directory, or pass --overwrite " "to replace it whole"
    )
  config = read_hf_config(source, ("xlm-roberta",))  # mT5 phases: not run by the pipeline yet
  architecture = (config.get("architectures") or [ARCHITECTURES["encoder"]])[0]
  kind = _KIND_OF_ARCHITECTURE.get(architecture, "encoder")
  model = load_hf(str(source), head=kind)
  labels = [config["id2label"][str(i)] for i in range(len(config["id2label"]))] if HF_HEADS[kind].labelled else None
  tokenizer = load_tokenizer(source) if load_tokenizer else None
  _write_dir_whole(out, lambda tmp: export_hf(model, str(tmp), tokenizer=tokenizer, label_names=labels))
  return architecture


def _write_dir_whole(out: Path, write) -> None:
  """Runs write(tmp) on a new sibling folder, then puts it in place of `out` whole."""
  parent = out.absolute().parent
  try:
    parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=parent, prefix=f".{out.name}.export-"))
  except OSError as e:
    if is_disk_full(e):
      raise disk_full("the exported checkpoint", parent) from None
    raise ModelError(f"--out {out}: cannot write in {parent} ({e.strerror})") from None
  try:
    write(tmp)
    os.chmod(tmp, 0o777 & ~atomic.current_umask())
    if out.exists():
      old = parent / f".{out.name}.old-{os.getpid()}"
      os.replace(out, old)
      os.replace(tmp, out)
      shutil.rmtree(old)
    else:
      os.replace(tmp, out)
  except OSError as e:
    if is_disk_full(e):
      raise disk_full("the exported checkpoint", parent) from None
    raise ModelError(f"--out {out}: cannot write there ({e.strerror})") from None
  finally:
    if tmp.exists():
      shutil.rmtree(tmp, ignore_errors=True)
