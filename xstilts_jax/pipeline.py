"""One X-STILTs experiment as resumable phases; the only place that wires train/ and evaluation/.

  (pretrain) the embedded default only: build a small XLM-R and a tokenizer, pretrain by MLM
  0  continued masked-LM training on chosen languages           -> <root>/phases/mlm/encoder
  1  intermediate training, one task or several (+ MLM beside)  -> <exp>/phases/intermediate/encoder
  2  each target: English fine-tuning, fresh head, early stop   -> <exp>/phases/target-<task>/model
  3  zero-shot evaluation of every language of every target      -> <exp>/eval/<task>.json
     (BUCC and Tatoeba straight from the phase-1 encoder)
  -> <exp>/results.json, <exp>/results.md

Every phase writes a Hugging Face checkpoint when done and is skipped when it exists; a phase
cut short resumes from its orbax checkpoint. With `baseline`, the same experiment without
phase 1 runs beside the main one (<root>/baseline) and the final table compares the two.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
from pathlib import Path
from typing import Any, Callable, Optional

from flax import nnx
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from xstilts_jax import atomic, paths
from xstilts_jax import backbones as BB
from xstilts_jax import sharding as shd
from xstilts_jax.atomic import read_json
from xstilts_jax.data import batches as B
from xstilts_jax.data import features as F
from xstilts_jax.data.examples import SentenceExample
from xstilts_jax.data.loading import DataSource
from xstilts_jax.data.readers import ReadReport
from xstilts_jax.data.sources import data_subset, load_examples
from xstilts_jax.data.tokenizer import load_tokenizer, train_tokenizer
from xstilts_jax.errors import ConfigError
from xstilts_jax.evaluation import metrics as M
from xstilts_jax.evaluation import results as R
from xstilts_jax.evaluation.dual_encoder import DualEncoder
from xstilts_jax.evaluation.steps import Predictor
from xstilts_jax.evaluation.text_to_text import GENERATING_KINDS, Generator
from xstilts_jax.formats import (
    check_trainable,
    evaluate_task,
    example_texts,
    get_format,
    load_task,
    prediction_file_name,
    write_predictions,
)
from xstilts_jax.models import HeadSpec, XLMRModel, export_hf, load_hf, num_layers
from xstilts_jax.models.hf import read_hf_config, reexport_hf, resolve_checkpoint
from xstilts_jax.models.pooling import check_pooling
from xstilts_jax.models.xlmr import ModelOptions
from xstilts_jax.tasks import get_task
from xstilts_jax.tasks.registry import train_recipe
from xstilts_jax.tasks.spec import TaskSpec
from xstilts_jax.train import loop, optim, taskemb
from xstilts_jax.workdir import lock_workdir

log = logging.getLogger("xstilts")
DONE = "DONE"
UDPOS_NO_DEV = ("kk", "th", "tl", "yo")


# ----------------------------------------------------------------------------- small helpers


def is_main() -> bool:
  return jax.process_index() == 0


def sync(name: str) -> None:
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices(name)


def write_json_atomic(path: Path, obj: Any) -> None:
  """Whole or not at all (a crash never leaves half a file), and by process 0 only."""
  if is_main():
    atomic.write_json(path, obj)


def is_done(path: Path, fingerprint: Optional[str] = None, stage: str = "") -> bool:
  """True when the phase in `path` finished; an error when it finished under another config."""
  marker = path / DONE
  if not marker.exists():
    return False
  if fingerprint is None:
    return True
  try:
    saved = json.loads(marker.read_text() or "{}").get("fingerprint")
  except (json.JSONDecodeError, AttributeError, UnicodeDecodeError):
    saved = None
  if saved != fingerprint:
    raise ConfigError(
        f"{marker}: this phase finished under another config ({_differences(marker, fingerprint)}); "
        f"run with --restart={stage} to redo it and what follows, or with the config it was made with"
    )
  return True


def _differences(marker: Path, fingerprint: str) -> str:
  """'differs in a.b, c' from the config values a DONE marker saved, where it saved them."""
  try:
    saved = json.loads(marker.read_text()).get("config")
  except (json.JSONDecodeError, AttributeError, UnicodeDecodeError, OSError):
    saved = None
  mine = getattr(fingerprint, "values", None)
  if not isinstance(saved, dict) or mine is None:
    return "its stage or an earlier one had other settings"
  diff = sorted(k for k in set(saved) | set(mine) if saved.get(k) != mine.get(k))
  return "differs in " + ", ".join(diff[:5]) + (" ..." if len(diff) > 5 else "")


def mark_done(path: Path, fingerprint: str) -> None:
  write_json_atomic(path / DONE, {"fingerprint": fingerprint, "config": getattr(fingerprint, "values", {})})


def banner(text: str) -> None:
  if is_main():
    print(f"\n== {text}", flush=True)


@dataclasses.dataclass(frozen=True)
class RunContext:
  """What every phase of a run shares, built once before the first phase and never changed."""

  config: ml_collections.ConfigDict
  root: Path
  partitioner: shd.Partitioner  # the mesh and rule table every phase trains and predicts with
  data: DataSource  # data_dir is the synthetic data's folder when the run writes it
  tokenizer: Any
  base_checkpoint: str  # XLM-R (or mT5) to start from; the embedded default's is <root>/pretrained
  fingerprints: dict  # stage -> what the run-level stages' outputs (data, pretrain, mlm) depend on
  max_length: int  # the model's position budget
  synthetic_languages: Optional[dict] = None  # code -> distance to English and features (the demo's)

  @property
  def dtype(self):
    return jnp.bfloat16 if self.config.model.dtype == "bfloat16" else jnp.float32

  @property
  def options(self) -> ModelOptions:
    return ModelOptions.from_config(self.config.model)

  def batch_rows(self, n: int) -> int:
    """`n` rounded up to what the batch axes divide; the extra rows are padding (mask 0)."""
    unit = self.partitioner.batch_divisor()
    return int(math.ceil(n / unit) * unit)


@dataclasses.dataclass(frozen=True)
class Experiment:
  """One experiment of a run (the main one or its baseline without phase 1)."""

  name: str
  dir: Path
  intermediate: tuple[str, ...]  # phase-1 tasks; empty for the baseline
  start: str  # the checkpoint phase 1 (or phase 2) starts from
  fingerprints: dict  # stage -> what this experiment's outputs depend on
  read_report: ReadReport  # rows skipped while reading this experiment's data (it fills as phases read)


def parse_task_name(name: str) -> tuple[str, str]:
  """'squad_v1' -> (squad_v1, en); 'translate_train_squad:de' -> (translate_train_squad, de)."""
  task, _, language = name.partition(":")
  return task, language or "en"


def optimizer_name(config: ml_collections.ConfigDict) -> str:
  """adamw unless the config names another (mT5 configs set optimizer.name; XLM-R configs
  leave it out, so that their stage fingerprints stay those of workdirs made before it)."""
  return config.optimizer.get("name", "adamw")


def check_config(config: ml_collections.ConfigDict) -> None:
  """Fail fast, before any work, on what can be checked without data or devices."""
  for name in list(config.intermediate.tasks) + list(config.targets.tasks):
    get_task(parse_task_name(name)[0])
  for task in config.targets.per_task.keys():  # settings for targets not run this time are fine, typos not
    get_task(task)
  if config.data.source not in ("local", "hub", "tfds"):
    raise ConfigError(f"data.source {config.data.source!r} is not one of local, hub, tfds")
  if config.model.dtype not in ("float32", "bfloat16"):
    raise ConfigError(f"model.dtype {config.model.dtype!r} is not one of float32, bfloat16")
  try:
    ModelOptions.from_config(config.model)
    optim.scale_by_adam(0.9, 0.999, 1e-8, config.optimizer.moments_dtype)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  if not config.model.checkpoint and not config.model.build.enabled:
    raise ConfigError("model.checkpoint is empty: name a hub id or a local Hugging Face directory")
  BB.protocol(config)  # a known backbone and protocol, the protocol one that runs on the backbone
  for key, names in (("intermediate.tasks", config.intermediate.tasks), ("targets.tasks", config.targets.tasks)):
    for name in names:  # each trained task has a format under the protocol (text-to-text: not all yet)
      spec = get_task(parse_task_name(name)[0])
      BB.protocol_spec(config, spec, key)
      if spec.train_task:
        BB.protocol_spec(config, get_task(spec.train_task), f"{key} ({name} trains on it)")
  try:
    check_pooling(dual_encoder_pooling(config))
  except ConfigError as e:
    raise ConfigError(f"targets.dual_encoder_pooling: {e}") from None
  for prefix, hp, key in active_phases(config):
    check_phase(key, hp)
    try:
      optim.OptimizerConfig.from_phase(hp, 1, optimizer_name(config), config.optimizer.moments_dtype)
    except ValueError as e:
      raise ConfigError(f"{prefix}: {e}") from None
  for task, length in config.intermediate.task_max_seq_length.items():
    _require(f"intermediate.task_max_seq_length.{task}", length, int, lambda v: v > 0, "must be positive")
  if config.intermediate.tasks:
    if config.intermediate.sampler not in ("proportional", "temperature", "uniform"):
      raise ConfigError(
          f"intermediate.sampler {config.intermediate.sampler!r} is not one of proportional, " "temperature, uniform"
      )
    _require(
        "intermediate.sampler_temperature",
        config.intermediate.sampler_temperature,
        (int, float),
        lambda v: math.isfinite(v) and v > 0,
        "must be a positive number",
    )
    _require("intermediate.sampler_cap", config.intermediate.sampler_cap, int, lambda v: v >= 0, "must be 0 or more")
  _require("eval.batch_size", config.eval.batch_size, int, lambda v: v > 0, "must be positive")
  _require(
      "eval.retrieval_max_seq_length",
      config.eval.retrieval_max_seq_length,
      int,
      lambda v: v >= 0,
      "must be 0 (the task's) or positive",
  )
  _require("mlm.tokens_per_language", config.mlm.tokens_per_language, int, lambda v: v >= 0, "must be 0 or more")
  _require("log_every", config.log_every, int, lambda v: v > 0, "must be positive")
  _require("save_every", config.save_every, int, lambda v: v > 0, "must be positive")
  if config.model.build.enabled:
    b = config.model.build
    for key in (
        "vocab_size",
        "hidden_size",
        "num_hidden_layers",
        "num_attention_heads",
        "intermediate_size",
        "max_position_embeddings",
    ):
      _require(f"model.build.{key}", b[key], int, lambda v: v > 0, "must be positive")
    if b.hidden_size % b.num_attention_heads:
      raise ConfigError(
          f"model.build.hidden_size {b.hidden_size} is not divisible by "
          f"model.build.num_attention_heads {b.num_attention_heads}"
      )


def _require(key: str, value: Any, kind, ok: Callable[[Any], bool], what: str) -> None:
  if isinstance(value, bool) or not isinstance(value, kind) or not ok(value):
    raise ConfigError(f"{key} {what} (it is {value!r})")


def active_phases(config: ml_collections.ConfigDict) -> list[tuple[str, Any, Callable[[str], str]]]:
  """(key prefix, hyper-parameters, the config key of each hyper-parameter) of every training
  phase this config runs; a target's hyper-parameters are its target_hparams, each named by the
  key that set it (targets.per_task.TASK.NAME or targets.defaults.NAME)."""
  block = lambda prefix: lambda name: f"{prefix}.{name}"
  out = []
  if config.model.build.enabled:
    out.append(("model.build.pretrain", config.model.build.pretrain, block("model.build.pretrain")))
  if config.mlm.languages and not config.intermediate.mlm_beside:
    out.append(("mlm.phase", config.mlm.phase, block("mlm.phase")))
  if config.intermediate.tasks:
    out.append(("intermediate", config.intermediate, block("intermediate")))
  for target in config.targets.tasks:
    if not get_format(get_task(target).format).encoder_only:
      prefix = f"targets.per_task.{target}" if target in config.targets.per_task else "targets.defaults"
      try:
        hp = target_hparams(config, target)
      except TypeError as e:  # a per-task value of another type than its default
        raise ConfigError(f"{prefix}: {e}") from None
      out.append((prefix, hp, lambda name, target=target: target_key(config, target, name)))
  return out


def target_key(config: ml_collections.ConfigDict, target: str, name: str) -> str:
  """The config key that sets hyper-parameter `name` of `target`: its per-task one, else the default."""
  own = config.targets.per_task[target] if target in config.targets.per_task else {}
  return f"targets.per_task.{target}.{name}" if name in own else f"targets.defaults.{name}"


def check_phase(key: Callable[[str], str], hp) -> None:
  """Hyper-parameters of one phase; each message names its key (`intermediate.batch_size ...`)."""
  positive_int = (int, lambda v: v > 0, "must be a positive integer")
  non_negative_int = (int, lambda v: v >= 0, "must be 0 or a positive integer")
  finite = lambda lo, hi: (
      (int, float),
      lambda v: math.isfinite(v) and lo <= v <= hi,
      f"must be a finite number in [{lo}, {hi}]",
  )
  rules = {
      "batch_size": positive_int,
      "accum_steps": positive_int,
      "max_seq_length": positive_int,
      "max_steps": non_negative_int,
      "eval_every": non_negative_int,
      "eval_subset": non_negative_int,
      "early_stopping_patience": non_negative_int,
      "train_examples_cap": non_negative_int,
      "taskemb_examples": non_negative_int,
      "epochs": ((int, float), lambda v: math.isfinite(v) and v > 0, "must be a positive number"),
      "learning_rate": ((int, float), lambda v: math.isfinite(v) and v >= 0, "must be a finite number >= 0"),
      "weight_decay": ((int, float), lambda v: math.isfinite(v) and v >= 0, "must be a finite number >= 0"),
      "warmup_fraction": finite(0, 1),
      "adam_eps": ((int, float), lambda v: math.isfinite(v) and v > 0, "must be a positive number"),
      "adam_b1": finite(0, 1),
      "adam_b2": finite(0, 1),
      "grad_clip_norm": finite(0, 1e9),
  }
  for name, (kind, ok, what) in rules.items():
    _require(key(name), hp[name], kind, ok, what)


def check_data_dir(config: ml_collections.ConfigDict) -> None:
  """The local data folder exists (its files are named when read)."""
  if config.data.source == "local" and not config.data.synthetic.enabled:
    tasks = ", ".join(list(config.intermediate.tasks) + list(config.targets.tasks))
    if not config.data.data_dir:
      raise ConfigError(f"data.data_dir is empty: name the folder of the original files (for {tasks})")
    if not paths.as_path(config.data.data_dir).is_dir():
      raise ConfigError(f"data.data_dir {config.data.data_dir}: no such folder (the original files of {tasks})")


def model_positions(config: ml_collections.ConfigDict) -> tuple[int, str]:
  """(the longest input the model takes, where that number comes from): XLM-R numbers positions
  from pad_token_id + 1, so max_position_embeddings - pad_token_id - 1 tokens (512 of 514)."""
  bb = BB.backbone(config)
  if config.model.build.enabled:
    return bb.built_positions(config.model.build), "model.build.max_position_embeddings"
  ckpt = resolve_checkpoint(config.model.checkpoint)
  return bb.positions(read_hf_config(ckpt)), f"{ckpt / 'config.json'}"


def check_lengths(config: ml_collections.ConfigDict, budget: int, source: str) -> None:
  """Every sequence length the run will use fits the model's positions and holds what its task's
  format puts before the text it cuts (a span-QA window: the question and special tokens)."""
  lengths = [(key("max_seq_length"), hp.max_seq_length) for _, hp, key in active_phases(config)]
  if config.intermediate.tasks:
    lengths += [
        (f"intermediate.task_max_seq_length.{t}", n) for t, n in config.intermediate.task_max_seq_length.items()
    ]
  for target in config.targets.tasks:
    spec = get_task(target)
    if get_format(spec.format).encoder_only:
      n = config.eval.retrieval_max_seq_length
      lengths.append(
          ("eval.retrieval_max_seq_length" + ("" if n else f" (0: {target}'s own)"), n or spec.max_seq_length)
      )
  for key, n in lengths:
    if n > budget:
      raise ConfigError(
          f"{key}={n} is longer than the model's {budget} positions ({source}); " f"set it to {budget} or less"
      )
  for key, n, task in _trained_lengths(config):
    fmt = get_format(BB.protocol_spec(config, get_task(parse_task_name(task)[0])).format)  # the protocol's format
    if n < fmt.shortest_seq_length:
      raise ConfigError(
          f"{key}={n} is too short for {task}: {fmt.shortest_why}; set it to {fmt.shortest_seq_length} or more"
      )


def _trained_lengths(config: ml_collections.ConfigDict) -> list[tuple[str, int, str]]:
  """(config key, its value, the task it builds features for) of every sequence length of a
  trained task (a target's length serves its training task and itself)."""
  out = []
  hp = config.intermediate
  for name in hp.tasks:
    if name in hp.task_max_seq_length:
      out.append((f"intermediate.task_max_seq_length.{name}", hp.task_max_seq_length[name], name))
    else:
      out.append(("intermediate.max_seq_length", hp.max_seq_length, name))
  for target in config.targets.tasks:
    spec = get_task(target)
    if get_format(spec.format).encoder_only:
      continue
    key, n = target_key(config, target, "max_seq_length"), target_hparams(config, target).max_seq_length
    trained = target_recipe(config, target)  # fine-tuned on them, then evaluated on the target: one length
    out += [(key, n, t) for t in dict.fromkeys((*trained, target))]
  return out


def loop_config(ctx: RunContext, hp, total_steps: int, fingerprint: str, **sampler) -> loop.LoopConfig:
  """The loop of phase `hp` in this run: the run's optimizer, seed and intervals; its checkpoints
  carry `fingerprint` (the config its stage depends on)."""
  return loop.LoopConfig.from_phase(
      hp,
      total_steps,
      optimizer_name(ctx.config),
      fingerprint,
      moments_dtype=ctx.config.optimizer.moments_dtype,
      seed=ctx.config.seed,
      log_every=ctx.config.log_every,
      save_every=ctx.config.save_every,
      **sampler,
  )


def host_copy(model: XLMRModel) -> XLMRModel:
  """The model with every parameter gathered to host memory (all processes must call it)."""
  graphdef, state = nnx.split(model)
  return nnx.merge(graphdef, jax.tree.map(shd.to_host, state))


def export(
    model: XLMRModel,
    out: Path,
    ctx: RunContext,
    fingerprint: str,
    head: Optional[str] = None,
    label_names=None,
    extra: Optional[dict] = None,
    checkpoints: Optional[Path] = None,
) -> None:
  """A Hugging Face checkpoint + tokenizer, then the DONE marker (a phase's proof of completion,
  holding the fingerprint of the config that made it); the phase's orbax checkpoints, now
  redundant, are removed (XLM-R Large: ~7 GB a phase)."""
  model = host_copy(model)
  if is_main():
    with paths.staged_dir(out) as local:  # gs://: written locally (save_pretrained, safetensors), then uploaded
      export_hf(model, str(local), tokenizer=ctx.tokenizer, head=head, label_names=label_names)
    write_json_atomic(out / "xstilts.json", extra or {})
    mark_done(out, fingerprint)
    if checkpoints is not None and checkpoints.exists():
      paths.rmtree(checkpoints)
  sync(f"export:{out}")


# ----------------------------------------------------------------------------- training data


def train_task(
    ctx: RunContext, report: ReadReport, name: str, hp, head: str, seed: int
) -> tuple[loop.TrainTask, TaskSpec, tuple]:
  """A TrainTask over the English (or translated) training split of task `name`; rows skipped
  while reading go to `report`."""
  task_name, language = parse_task_name(name)
  spec = BB.protocol_spec(ctx.config, get_task(task_name))
  fmt = get_format(spec.format)
  if fmt.any_language and language not in spec.languages:  # masked LM takes text in any language
    spec = get_task(task_name, [language])
  if fmt.labels_from_data and not spec.labels:  # an open tag set (CCG): the tags of train and dev
    tags = {
        t
        for split in ("train", "dev")
        for ex in load_examples(spec, language, split, ctx.data.source, ctx.data.data_dir)
        for t in ex.labels
    }
    spec = dataclasses.replace(spec, labels=tuple(sorted(tags)))
  examples, feats = load_task(
      spec,
      language,
      "train",
      ctx.tokenizer,
      ctx.data,
      hp.max_seq_length,
      report,
      limit=hp.train_examples_cap,
      seed=seed,
  )
  check_trainable(spec, language, "train", ctx.data, examples, feats)
  labels = spec.labels
  feats = {k: feats[k] for k in fmt.train_keys}
  kind = fmt.head_kind
  prepare = fmt.host_prepare(ctx.tokenizer, seed) if fmt.host_prepare else None
  batches = B.TrainBatches(feats, hp.batch_size * hp.accum_steps, seed)
  task = loop.TrainTask(
      name,
      head,
      kind,
      batches,
      B.num_rows(feats),
      hp.accum_steps,
      prepare,
      rows_per_micro=ctx.batch_rows(hp.batch_size),
  )
  return task, spec, labels


def lm_task(ctx: RunContext, report: ReadReport, language: str, hp, seed: int) -> loop.TrainTask:
  """Masked-LM text of `language` as the backbone's LM head learns it (XLM-R: masked LM; mT5:
  denoising through its seq2seq head; backbones.py)."""
  bb = BB.backbone(ctx.config)
  task = train_task(ctx, report, f"mlm:{language}", hp, bb.lm_head, seed)[0]
  return dataclasses.replace(task, kind=bb.lm_head, prepare=bb.lm_prepare(ctx.tokenizer, seed))


def within_token_budget(task: loop.TrainTask, tokens: int, seed: int, where: str) -> tuple[loop.TrainTask, int]:
  """`task` on a seeded sample of its rows holding `tokens` real tokens (the last row may pass it),
  and the tokens kept; a corpus with fewer is an error naming `where` (the arms would not be equal)."""
  features = task.batches.features
  lengths = np.asarray(features["attention_mask"]).sum(axis=1)
  if lengths.sum() < tokens:
    raise ConfigError(f"{where}: {task.name} has {int(lengths.sum())} tokens, fewer than the {tokens} asked for")
  order = np.random.default_rng([seed, tokens]).permutation(len(lengths))
  keep = np.sort(order[: int(np.searchsorted(np.cumsum(lengths[order]), tokens)) + 1])
  batches = B.TrainBatches({k: v[keep] for k, v in features.items()}, task.batches.batch_size, seed)
  return dataclasses.replace(task, batches=batches, num_examples=len(keep)), int(lengths[keep].sum())


def predictor(ctx: RunContext, model) -> Predictor:
  """What predicts with `model` in evaluation: a Generator where a head writes text, else a Predictor."""
  generates = any(spec.kind in GENERATING_KINDS for spec in model.head_specs.values())
  return (Generator if generates else Predictor)(model, ctx.partitioner, ctx.batch_rows(ctx.config.eval.batch_size))


def fisher_task_embeddings(model, tasks: list[loop.TrainTask], examples: int) -> dict[str, list[float]]:
  """TaskEmb (Vu et al. 2020) of each task of a phase with a head of its own: the diagonal Fisher
  of its loss with respect to the encoder, taken on the model the phase has just trained (its
  heads), over the first `examples` rows of its training features, sketched (train/taskemb.py).
  Vu et al. take the Fisher of a model fine-tuned on the task alone; after multi-task phase-1
  training each task's Fisher is that of the shared encoder through its own head."""
  chosen = [t for t in tasks if t.kind in taskemb.FISHER_KINDS]
  if not examples or not chosen:
    return {}
  model = host_copy(model)  # every process computes the same vectors on its own device
  out = {}
  for task in chosen:
    first = {k: v[:examples] for k, v in task.batches.features.items()}
    out[task.name] = taskemb.model_task_embedding(model, task.head, task.kind, B.eval_batches(first, 8))
  return out


def head_spec(spec: TaskSpec, labels: tuple) -> HeadSpec:
  fmt = get_format(spec.format)
  return HeadSpec(fmt.head_kind, len(labels) if fmt.labelled else 0)


def total_steps(tasks: list[loop.TrainTask], hp) -> int:
  steps = sum(loop.steps_for(t.num_examples, hp.epochs, t.batches.batch_size) for t in tasks)
  return min(steps, hp.max_steps) if hp.max_steps else steps


# ----------------------------------------------------------------------------- the phases


def phase_data(config: ml_collections.ConfigDict, root: Path, fingerprint: str) -> tuple[Path, dict]:
  """The embedded default's data: synthetic languages written in the original formats
  -> (their folder, {code: distance to English and features})."""
  data_dir = root / "data"
  made = is_done(data_dir, fingerprint, "data")
  if is_main() and not made:
    if data_dir.exists():  # a write cut short: start it over
      paths.rmtree(data_dir)
    banner("writing the synthetic languages' data in the original formats")
    from xstilts_jax.demo.synthetic import write_synthetic_data

    with paths.staged_dir(data_dir) as local:  # gs://: written locally, then uploaded
      write_synthetic_data(
          local,
          seed=config.data.synthetic.seed,
          sizes=dict(config.data.synthetic.sizes),
          languages=list(config.data.synthetic.languages),
      )
    mark_done(data_dir, fingerprint)
  sync("synthetic-data")
  manifest = read_json(data_dir / "manifest.json")
  languages = {
      code: {"distance_to_en": lang["distance_to_en"], "features": lang["features"]}
      for code, lang in manifest["languages"].items()
  }
  return data_dir, languages


def phase_tokenizer(config: ml_collections.ConfigDict, root: Path, data: DataSource, fingerprint: str) -> Path:
  """The embedded default's tokenizer, trained on the MLM text of every language."""
  out = root / "tokenizer"
  if is_done(out, fingerprint, "pretrain"):
    return out
  if is_main():
    languages = list(config.data.synthetic.languages)
    spec = get_task("mlm", languages)
    texts = [line for lang in languages for line in _mlm_lines(data, spec, lang)]
    train_tokenizer(texts, config.model.build.vocab_size, out)
    mark_done(out, fingerprint)
  sync("tokenizer")
  return out


def phase_pretrain(ctx: RunContext) -> str:
  """The embedded default's stand-in for XLM-R: a small model pretrained by MLM -> ctx.base_checkpoint."""
  out = paths.as_path(ctx.base_checkpoint)  # a local path or gs://
  fingerprint = ctx.fingerprints["pretrain"]
  if is_done(out, fingerprint, "pretrain"):
    return str(out)
  bb = BB.backbone(ctx.config)
  banner(f"pretraining a small {bb.title} on every language ({bb.lm_objective}), standing in for {bb.title}")
  b = ctx.config.model.build
  languages = list(ctx.config.data.synthetic.languages)
  model = bb.build(b, ctx.tokenizer, ctx.dtype, ctx.options, ctx.config.seed)
  report = ReadReport()
  tasks = [lm_task(ctx, report, lang, b.pretrain, ctx.config.seed + i) for i, lang in enumerate(languages)]
  steps = total_steps(tasks, b.pretrain)
  result = loop.train(
      model, tasks, loop_config(ctx, b.pretrain, steps, fingerprint), ctx.root, ctx.partitioner, "pretrain"
  )
  export(
      result.model,
      out,
      ctx,
      fingerprint,
      head=bb.lm_head,
      extra={"steps": result.step, "languages": languages},
      checkpoints=ctx.root / "checkpoints" / "pretrain",
  )
  return str(out)


def _mlm_lines(data: DataSource, spec: TaskSpec, lang: str) -> list[str]:
  return [ex.text for ex in load_examples(spec, lang, "train", "local", data.data_dir)]


def phase_mlm(ctx: RunContext) -> str:
  """Phase 0: continued masked LM on chosen languages, from the base checkpoint."""
  languages = list(ctx.config.mlm.languages)
  out = ctx.root / "phases" / ("mlm-" + "+".join(languages))
  fingerprint = ctx.fingerprints["mlm"]
  if is_done(out, fingerprint, "mlm"):
    return str(out)
  banner(f"phase 0: continued masked LM on {', '.join(languages)}")
  hp = ctx.config.mlm.phase
  lm_head = BB.backbone(ctx.config).lm_head
  model = load_hf(ctx.base_checkpoint, head=lm_head, dtype=ctx.dtype, seed=ctx.config.seed, options=ctx.options)
  report = ReadReport()
  tasks = [lm_task(ctx, report, lang, hp, ctx.config.seed + i) for i, lang in enumerate(languages)]
  tokens = {}
  if ctx.config.mlm.tokens_per_language:
    for i, lang in enumerate(languages):
      tasks[i], tokens[lang] = within_token_budget(
          tasks[i], ctx.config.mlm.tokens_per_language, ctx.config.seed + i, "mlm.tokens_per_language"
      )
  result = loop.train(
      model, tasks, loop_config(ctx, hp, total_steps(tasks, hp), fingerprint), ctx.root, ctx.partitioner, phase=out.name
  )
  export(
      result.model,
      out,
      ctx,
      fingerprint,
      head=lm_head,
      extra={"steps": result.step, "languages": languages, "tokens": tokens},
      checkpoints=ctx.root / "checkpoints" / out.name,
  )
  return str(out)


def phase_intermediate(ctx: RunContext, ex: Experiment) -> str:
  """Phase 1: one or several intermediate tasks (one head each, shared by name), MLM optionally beside."""
  out = ex.dir / "phases" / "intermediate"
  fingerprint = ex.fingerprints["intermediate"]
  if is_done(out, fingerprint, "intermediate"):
    return str(out)
  hp = ctx.config.intermediate
  names = list(ex.intermediate)
  banner(f"phase 1: intermediate training on {', '.join(names)}" + (" + MLM" if hp.mlm_beside else ""))
  with_mlm = hp.mlm_beside and ctx.config.mlm.languages
  lm_head = BB.backbone(ctx.config).lm_head
  shared = BB.protocol(ctx.config).shared_lm_head  # text-to-text: every task through the LM head
  model = load_hf(
      ex.start,
      head=lm_head if with_mlm or shared else "encoder",
      dtype=ctx.dtype,
      seed=ctx.config.seed,
      options=ctx.options,
  )
  tasks, rngs = [], nnx.Rngs(ctx.config.seed + 1)
  for i, name in enumerate(names):
    spec = get_task(parse_task_name(name)[0])
    task_hp = hp
    if name in hp.task_max_seq_length:  # e.g. short multiple-choice inputs beside long QA windows
      task_hp = ml_collections.ConfigDict({**hp.to_dict(), "max_seq_length": hp.task_max_seq_length[name]})
    head = lm_head if shared else spec.head_name
    task, spec, labels = train_task(ctx, ex.read_report, name, task_hp, head, ctx.config.seed + 10 + i)
    if task.head not in model.head_specs:
      model.add_head(task.head, head_spec(spec, labels), rngs=rngs)
    tasks.append(task)
  if with_mlm:
    tasks += [
        lm_task(ctx, ex.read_report, lang, hp, ctx.config.seed + 100 + i)
        for i, lang in enumerate(ctx.config.mlm.languages)
    ]
  steps = total_steps(tasks, hp)
  result = loop.train(
      model,
      tasks,
      loop_config(
          ctx,
          hp,
          steps,
          fingerprint,
          sampler=hp.sampler,
          sampler_cap=hp.sampler_cap,
          sampler_temperature=hp.sampler_temperature,
      ),
      ex.dir,
      ctx.partitioner,
      phase="intermediate",
  )
  fisher = fisher_task_embeddings(result.model, tasks, hp.taskemb_examples)
  export(
      result.model if shared else _encoder_of(result.model),  # text-to-text passes the decoder on
      out,
      ctx,
      fingerprint,
      head=lm_head if shared else None,
      extra={"steps": result.step, "tasks": names, "task_embeddings_fisher": fisher},
      checkpoints=ex.dir / "checkpoints" / "intermediate",
  )
  return str(out)


def _encoder_of(model: XLMRModel) -> XLMRModel:
  """The same encoder without heads (what phase 2 and retrieval start from)."""
  graphdef, state = nnx.split(model)
  bare = nnx.eval_shape(lambda: type(model)(model.cfg, {}, dtype=model.dtype, rngs=nnx.Rngs(0), options=model.options))
  bare_graphdef, bare_state = nnx.split(bare)
  nnx.replace_by_pure_dict(bare_state, {"encoder": nnx.to_pure_dict(state["encoder"]), "heads": {}})
  return nnx.merge(bare_graphdef, bare_state)


def target_groups(config: ml_collections.ConfigDict) -> list[list[str]]:
  """Targets grouped by what trains them: xquad and mlqa both fine-tune on SQuAD v1.1 once,
  unless their hyper-parameters differ."""
  groups: dict[tuple, list[str]] = {}
  for target in config.targets.tasks:
    spec = get_task(target)
    if not get_format(spec.format).encoder_only:
      key = (target_recipe(config, target), json.dumps(target_hparams(config, target).to_dict(), sort_keys=True))
      groups.setdefault(key, []).append(target)
  return list(groups.values())


def target_recipe(config: ml_collections.ConfigDict, target: str) -> tuple[str, ...]:
  """The English tasks that fine-tune `target`, in order, under config.benchmark: its training
  task alone, or a recipe of the registry (XTREME-R's XCOPA: SIQA, then COPA)."""
  return train_recipe(target, config.benchmark)


def dual_encoder_pooling(config: ml_collections.ConfigDict) -> str:
  """How the dual encoder's towers pool (models/pooling.py), in training and evaluation alike:
  targets.dual_encoder_pooling where a config sets it (the demo: "mean", since a small model's
  `<s>` barely depends on its input), else XTREME-R's "pooler". Read with a default so that
  configs without it keep their stage fingerprints."""
  return config.targets.get("dual_encoder_pooling", "pooler")


def target_dir(exp: Path, targets: list[str]) -> Path:
  return exp / "phases" / ("target-" + "+".join(targets))


def target_hparams(config: ml_collections.ConfigDict, target: str) -> ml_collections.ConfigDict:
  """A target's hyper-parameters: targets.defaults updated by targets.per_task[target]."""
  hp = ml_collections.ConfigDict(config.targets.defaults.to_dict())
  if target in config.targets.per_task:
    hp.update(dict(config.targets.per_task[target]))
  return hp


def phase_target(ctx: RunContext, ex: Experiment, start: str, targets: list[str]) -> Path:
  """Phase 2: fine-tune on the English training data of a target, fresh head, early stopping
  on the training task's English dev set; the best checkpoint is kept. A recipe of several
  tasks (XTREME-R's XCOPA: SIQA, then COPA) trains them one after the other with the same head
  and settings, each with a fresh optimizer; only the last one stops early."""
  recipe = target_recipe(ctx.config, targets[0])
  train_name = recipe[-1]
  out = target_dir(ex.dir, targets)
  fingerprint = ex.fingerprints["target"]
  if is_done(out, fingerprint, "target"):
    return out
  hp = target_hparams(ctx.config, targets[0])
  banner(f"phase 2: fine-tuning on English {' then '.join(recipe)} for {', '.join(targets)}")
  # text-to-text: the LM head that pretraining (and phase 1) trained, named "target"; else a fresh head
  shared = BB.protocol(ctx.config).shared_lm_head
  model = load_hf(
      start,
      head=BB.backbone(ctx.config).lm_head if shared else "encoder",
      head_name="target",
      dtype=ctx.dtype,
      seed=ctx.config.seed,
      options=ctx.options,
  )
  task, train_spec, labels = train_task(ctx, ex.read_report, train_name, hp, "target", ctx.config.seed + 1000)
  eval_spec = dataclasses.replace(train_spec, labels=labels) if labels != train_spec.labels else train_spec
  # XTREME-R's dual encoder (LAReQA, Mewsli-X): no head, the in-batch loss trains the encoder
  # alone, exported bare; no dev-set early stopping (its training tasks have no pooled dev set).
  towers = get_format(train_spec.format).dual_encoder
  if towers:
    task = dataclasses.replace(task, forward_options={"pooling": dual_encoder_pooling(ctx.config)})
  if not shared and not towers:
    model.add_head("target", head_spec(train_spec, labels), rngs=nnx.Rngs(ctx.config.seed + 2))
  stages = []  # (task, its loop's checkpoint folder, steps) of the recipe's tasks before the last
  for i, name in enumerate(recipe[:-1]):
    first, first_spec, first_labels = train_task(ctx, ex.read_report, name, hp, "target", ctx.config.seed + 1001 + i)
    if head_spec(first_spec, first_labels) != head_spec(train_spec, labels):  # the head's kind and width
      raise ConfigError(
          f"{targets[0]}: training recipe {'+'.join(recipe)}: {name} and {train_name} need different heads"
      )
    stage = f"{out.name}.{name}"
    trained = loop.train(
        model, [first], loop_config(ctx, hp, total_steps([first], hp), fingerprint), ex.dir, ctx.partitioner, stage
    )
    model = trained.model
    stages.append((name, ex.dir / "checkpoints" / stage, trained.step))
  if not towers:
    dev_split = "dev" if "dev" in train_spec.eval_splits else train_spec.eval_splits[0]
    dev = load_task(
        eval_spec, "en", dev_split, ctx.tokenizer, ctx.data, hp.max_seq_length, ex.read_report, limit=hp.eval_subset
    )

  def score(current: XLMRModel, step: int) -> float:
    result, _ = evaluate_task(
        predictor(ctx, current), eval_spec, dev[0], dev[1], "en", "target", tokenizer=ctx.tokenizer
    )
    return M.main_score(eval_spec.metric, result)

  steps = total_steps([task], hp)
  result = loop.train(
      model,
      [task],
      loop_config(ctx, hp, steps, fingerprint),
      ex.dir,
      ctx.partitioner,
      phase=out.name,
      score_fn=score if hp.eval_every and not towers else None,
  )
  fisher = fisher_task_embeddings(result.model, [task], hp.taskemb_examples)
  export(
      result.model,
      out,
      ctx,
      fingerprint,
      head=None if towers else "target",
      label_names=labels or None,
      extra={
          "steps": result.step,
          "best_dev_score": result.best_score,
          "stopped_early": result.stopped_early,
          "train_task": train_name,
          "recipe": [{"task": name, "steps": steps} for name, _, steps in stages]
          + [{"task": train_name, "steps": result.step}],
          "targets": targets,
          "labels": list(labels),
          "task_embeddings_fisher": fisher,
      },
      checkpoints=ex.dir / "checkpoints" / out.name,
  )
  if is_main():  # the earlier tasks' checkpoints, redundant now as the last one's
    for _, folder, _ in stages:
      if folder.exists():
        paths.rmtree(folder)
  return out


def eval_split(spec: TaskSpec, wanted: str) -> str:
  return wanted if wanted in spec.eval_splits else spec.eval_splits[-1]


def phase_eval(ctx: RunContext, ex: Experiment, target: str, model_dir: Optional[Path], encoder_dir: str) -> dict:
  """Phase 3: zero-shot evaluation of one target in every language -> {lang: metrics}."""
  out = ex.dir / "eval" / f"{target}.json"
  if out.exists():
    return check_record(out, read_json(out), ex.fingerprints["eval"], "eval")
  langs = ctx.config.targets.languages.get(target, None)
  spec = BB.protocol_spec(ctx.config, get_task(target, list(langs) if langs else None))
  split = eval_split(spec, ctx.config.eval.split)
  fmt = get_format(spec.format)
  retrieval = fmt.encoder_only
  if retrieval:
    model = load_hf(encoder_dir, head="encoder", dtype=ctx.dtype, options=ctx.options)
    layer = min(ctx.config.model.retrieval_layer, num_layers(model.cfg))
  elif fmt.dual_encoder:  # the bare encoder phase 2 trained with the in-batch loss (both towers)
    model, layer = load_hf(str(model_dir), head="encoder", dtype=ctx.dtype, options=ctx.options), None
  else:
    info = read_json(model_dir / "xstilts.json")
    if info.get("labels"):
      spec = dataclasses.replace(spec, labels=tuple(info["labels"]))
    model = load_hf(
        str(model_dir),
        head=fmt.head_kind,
        head_name="target",
        num_labels=len(spec.labels) if fmt.labelled and spec.labels else None,
        dtype=ctx.dtype,
        options=ctx.options,
    )
    layer = None
  length = (
      (ctx.config.eval.retrieval_max_seq_length or None)
      if retrieval
      else target_hparams(ctx.config, target).max_seq_length
  )
  if fmt.dual_encoder:  # both towers embedded by one jit-compiled, sharded step, pooled as phase 2 trained them
    predict = DualEncoder(
        model, ctx.partitioner, ctx.batch_rows(ctx.config.eval.batch_size), dual_encoder_pooling(ctx.config)
    )
  else:
    predict = predictor(ctx, model)
  languages = [l for l in spec.languages if not (retrieval and l == "en")]
  results, skipped = {}, {}
  from tqdm.auto import tqdm

  for lang in tqdm(languages, desc=f"eval {target} ({split})", unit="lang", disable=not is_main()):
    if target == "udpos" and split == "dev" and lang in UDPOS_NO_DEV:
      skipped[lang] = "UDPOS has no dev set in this language"
      continue
    threshold = None
    if spec.metric == "bucc_f1" and split != "dev":  # the threshold chosen on dev is reused on test
      corpus, feats = load_task(spec, lang, "dev", ctx.tokenizer, ctx.data, length, ex.read_report)
      threshold = evaluate_task(predict, spec, corpus, feats, lang, retrieval_layer=layer)[0]["threshold"]
    examples, feats = load_task(spec, lang, split, ctx.tokenizer, ctx.data, length, ex.read_report, evaluation=True)
    metrics, predictions = evaluate_task(
        predict,
        spec,
        examples,
        feats,
        lang,
        head="target",
        retrieval_layer=layer,
        bucc_threshold=threshold,
        qa_answer_text=ctx.config.eval.qa_answer_text,
        tokenizer=ctx.tokenizer,
    )
    results[lang] = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    if ctx.config.eval.write_predictions and is_main():
      write_predictions(ex.dir / "predictions" / target / prediction_file_name(spec, lang, split), spec, predictions)
  record = {
      "split": split,
      "metric": spec.metric,
      "languages": results,
      "skipped": skipped,
      "fingerprint": ex.fingerprints["eval"],
  }
  write_json_atomic(out, record)
  sync(f"eval:{out}")
  return record


# ----------------------------------------------------------------------------- results


def task_embeddings(
    ctx: RunContext, report: ReadReport, names: list[str], cache: dict, limit: int = 256
) -> dict[str, list[float]]:
  """TextEmb (Vu et al. 2020): the mean-pooled last-layer embedding of up to `limit` English
  training examples of each task, from the base encoder (before any phase-1 training). `cache`
  (task -> embedding) keeps those computed for the main experiment for its baseline."""
  missing = [n for n in names if n not in cache and not get_format(get_task(parse_task_name(n)[0]).format).encoder_only]
  if missing:
    model = load_hf(ctx.base_checkpoint, head="encoder", dtype=ctx.dtype, options=ctx.options)
    predictor = Predictor(model, ctx.partitioner, ctx.batch_rows(ctx.config.eval.batch_size))
  for name in missing:
    task_name, language = parse_task_name(name)
    length = min(128, ctx.max_length)
    spec = get_task(task_name)
    examples, _ = load_task(spec, language, "train", ctx.tokenizer, ctx.data, length, report, limit=limit)
    sentences = [SentenceExample(str(i), t) for i, t in enumerate(example_texts(spec, examples))]
    feats = F.retrieval_features(sentences, ctx.tokenizer, length)
    cache[name] = np.asarray(predictor(feats, "retrieval")).mean(axis=0).tolist()
  return {n: cache[n] for n in names if n in cache}


def task_diversity(ctx: RunContext, report: ReadReport, names: list[str], limit: int = 2000) -> dict[str, dict]:
  from xstilts_jax.data.diversity import text_diversity

  out = {}
  for name in names:
    task_name, language = parse_task_name(name)
    spec = get_task(task_name)
    examples, _ = load_task(
        spec, language, "train", ctx.tokenizer, ctx.data, min(128, ctx.max_length), report, limit=limit
    )
    out[name] = text_diversity(example_texts(spec, examples))
  return out


def experiment(ctx: RunContext, name: str, intermediate: list[str], start: str) -> Experiment:
  """Experiment `name` of this run, its config checked against (or written to) its config.json."""
  exp = ctx.root / name
  paths.mkdirs(exp)
  resolved = check_saved_config(exp / "config.json", experiment_config(ctx.config, name, intermediate))
  return Experiment(name, exp, tuple(intermediate), start, stage_fingerprints(resolved), ReadReport())


def run_experiment(ctx: RunContext, ex: Experiment, embedding_cache: dict) -> dict:
  """Phases 1 to 3 of experiment `ex` -> its results (also written to <exp>/results.json)."""
  if (ex.dir / "results.json").exists():
    return check_record(
        ex.dir / "results.json", read_json(ex.dir / "results.json"), ex.fingerprints["results"], "results"
    )

  encoder = phase_intermediate(ctx, ex) if ex.intermediate else ex.start
  models = {}
  for targets in target_groups(ctx.config):
    model_dir = phase_target(ctx, ex, encoder, targets)
    models.update({t: model_dir for t in targets})

  banner(f"phase 3: zero-shot evaluation ({ex.name})")
  records = {target: phase_eval(ctx, ex, target, models.get(target), encoder) for target in ctx.config.targets.tasks}
  trained = list(ex.intermediate) + [
      name
      for t in ctx.config.targets.tasks
      if not get_format(get_task(t).format).encoder_only
      for name in target_recipe(ctx.config, t)
  ]
  # What this run did, not what the config asked of the experiment (a baseline does no MLM beside).
  mlm_first = list(ctx.config.mlm.languages) if ex.start != ctx.base_checkpoint else []
  beside = bool(ex.intermediate) and ctx.config.intermediate.mlm_beside
  embeddings = task_embeddings(ctx, ex.read_report, sorted(set(trained)), embedding_cache)
  phase_dirs = ([paths.as_path(encoder)] if ex.intermediate else []) + list(dict.fromkeys(models.values()))
  fisher = {
      k: v for d in phase_dirs for k, v in read_json(d / "xstilts.json").get("task_embeddings_fisher", {}).items()
  }
  diversity = task_diversity(ctx, ex.read_report, list(ex.intermediate))  # both read data: their skips count below
  results = R.experiment_results(
      ex.name,
      records,
      intermediate=list(ex.intermediate),
      mlm_first=mlm_first,
      mlm_beside=list(ctx.config.mlm.languages) if beside else [],
      seed=ctx.config.seed,
      model=ctx.config.model.checkpoint or "built: " + str(ctx.root / "pretrained"),
      synthetic_languages=ctx.synthetic_languages,
      task_embeddings=embeddings,
      task_embeddings_fisher=fisher,
      task_diversity=diversity,
      skipped_rows=dict(ex.read_report.skipped),
      qa_answer_text=ctx.config.eval.qa_answer_text,
      benchmark=ctx.config.benchmark,
      backbone=ctx.config.model.get("backbone", "xlmr"),
      protocol=ctx.config.get("protocol", "heads"),
      data_subset=data_subset(ctx.config.data.data_dir) if ctx.config.data.data_dir else None,
      fingerprint=ex.fingerprints["results"],
  )
  if is_main():
    R.write_results(ex.dir, results)
  return results


# ----------------------------------------------------------------------------- what made what

# The stages of a workdir in order, and the config keys each one's outputs depend on beyond
# those of the stages before it. Keys of no stage (mesh, log_every, report...) do not change
# results; `results` stands for them.
STAGES = ("data", "pretrain", "mlm", "intermediate", "target", "eval", "results")
STAGE_KEYS = {
    "data": ("data.source", "data.synthetic"),
    "pretrain": ("seed", "model"),
    "mlm": ("mlm", "intermediate.mlm_beside"),
    "intermediate": ("intermediate", "protocol"),  # text-to-text trains phase 1 through the LM head
    "target": ("targets", "benchmark"),  # the benchmark picks a target's training recipe
    "eval": ("eval",),
    "results": (),
}
RESTART_MARKER = "RESTART.json"
# Keys that do not change any result: a run may resume with other values (on another mesh, say);
# config.json is then updated, and the run says so.
NEUTRAL_KEYS = (
    "workdir",
    "mesh",
    "sharding_rules",
    "distributed",
    "log_every",
    "save_every",
    "report",
    "data.cache_dir",
    "data.data_dir",
    "data.tfds_data_dir",
)


def _under(key: str, prefixes) -> bool:
  return any(key == p or key.startswith(p + ".") for p in prefixes)


def stage_of(key: str) -> str:
  """The earliest stage whose outputs depend on config key `key`."""
  return next((s for s in STAGES if _under(key, STAGE_KEYS[s])), "results")


class Fingerprint(str):
  """A hash of config values (a str), carrying the values it hashes (`.values`, flat keys)."""

  values: dict


def stage_fingerprints(resolved: dict) -> dict[str, Fingerprint]:
  """stage -> a hash of every config value its outputs depend on (its keys and earlier stages')."""
  flat, out, keys = _flat(resolved), {}, []
  for stage in STAGES:
    keys += STAGE_KEYS[stage]
    picked = {k: v for k, v in flat.items() if _under(k, keys) or (stage == "results" and not _under(k, NEUTRAL_KEYS))}
    out[stage] = Fingerprint(hashlib.sha256(json.dumps(picked, sort_keys=True, default=str).encode()).hexdigest()[:16])
    out[stage].values = picked
  return out


def check_record(path: Path, record: Any, fingerprint: str, stage: str) -> dict:
  """A saved JSON result (eval/<task>.json, results.json) made under this config, or an error."""
  if not isinstance(record, dict) or record.get("fingerprint") != fingerprint:
    raise ConfigError(
        f"{path}: made under another config; run with --restart={stage} to redo it, "
        "or with the config it was made with"
    )
  return record


def check_saved_config(path: Path, config: ml_collections.ConfigDict) -> dict:
  """The config of a workdir is written once; a different one on resume is an error, not an
  overwrite (`--restart=STAGE` removes it with the outputs it no longer describes)."""
  resolved = json.loads(config.to_json_best_effort())
  resolved.pop("workdir", None)
  if path.exists():
    saved = read_json(path)
    if not isinstance(saved, dict):
      raise ConfigError(f"{path}: not a config (a JSON object expected); remove it to rewrite it")
    saved.pop("workdir", None)
    if saved != resolved:
      a, b = _flat(saved), _flat(resolved)
      diff = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
      changed = [k for k in diff if not _under(k, NEUTRAL_KEYS)]
      if changed:
        first = min((stage_of(k) for k in changed), key=STAGES.index)
        raise ConfigError(
            f"{path}: this workdir was started with another config (differs in "
            f"{', '.join(changed[:5])}); run with --restart={first} to redo the work from there, "
            "or use a new --workdir"
        )
      banner(f"{path}: updated {', '.join(diff[:5])} (settings that do not change results)")
      write_json_atomic(path, resolved)
  else:
    write_json_atomic(path, resolved)
  return resolved


def experiment_config(config: ml_collections.ConfigDict, name: str, intermediate: list[str]):
  out = ml_collections.ConfigDict(config.to_dict())
  out.intermediate.tasks = intermediate
  out.name = name
  return out


def _resolved(config: ml_collections.ConfigDict) -> dict:
  resolved = json.loads(config.to_json_best_effort())
  resolved.pop("workdir", None)
  return resolved


def verify_workdir(root: Path, config: ml_collections.ConfigDict) -> None:
  """Every finished output already in the workdir was made under this config (the config.json
  files may be gone); the first that was not is an error naming it and the --restart to use."""
  fp = stage_fingerprints(_resolved(config))
  is_done(root / "data", fp["data"], "data")
  is_done(root / "pretrained", fp["pretrain"], "pretrain")
  for d in sorted(root.glob("phases/mlm-*")):
    is_done(d, fp["mlm"], "mlm")
  experiments = [(config.name, list(config.intermediate.tasks))]
  if config.baseline and config.intermediate.tasks:
    experiments.append(("baseline", []))
  for name, intermediate in experiments:
    exp = root / name
    fp = stage_fingerprints(_resolved(experiment_config(config, name, intermediate)))
    is_done(exp / "phases" / "intermediate", fp["intermediate"], "intermediate")
    for d in sorted(exp.glob("phases/target-*")):
      is_done(d, fp["target"], "target")
    for f in sorted(exp.glob("eval/*.json")):
      check_record(f, read_json(f), fp["eval"], "eval")
    if (exp / "results.json").exists():
      check_record(exp / "results.json", read_json(exp / "results.json"), fp["results"], "results")


def _experiments(root: Path) -> list[Path]:
  shared = {"data", "tokenizer", "pretrained", "checkpoints", "phases", "cache", "report", "tensorboard"}
  return [
      d
      for d in sorted(root.iterdir())
      if d.is_dir()
      and d.name not in shared
      and any((d / n).exists() for n in ("config.json", "results.json", "eval", "phases", "checkpoints"))
  ]


def _stage_outputs(root: Path, stage: str) -> list[Path]:
  exps = _experiments(root)
  if stage == "data":
    return [root / "data"]
  if stage == "pretrain":
    return [root / "pretrained", root / "tokenizer", root / "checkpoints" / "pretrain"]
  if stage == "mlm":
    return sorted(root.glob("phases/mlm-*")) + sorted(root.glob("checkpoints/mlm-*"))
  if stage == "intermediate":
    return [e / sub / "intermediate" for e in exps for sub in ("phases", "checkpoints")]
  if stage == "target":
    return [p for e in exps for p in sorted(e.glob("phases/target-*")) + sorted(e.glob("checkpoints/target-*"))]
  if stage == "eval":
    return [p for e in exps for p in (e / "eval", e / "predictions")]
  return [p for e in exps for p in (e / "results.json", e / "results.md", e / "config.json")] + [
      root / "comparison.md",
      root / "report",
      root / "config.json",
  ]


def restart(root: Path, stage: str, resolved: dict) -> None:
  """`--restart=STAGE`: remove what STAGE and every later stage saved, and the config.json
  files, so the run redoes them under the config given. `all` empties the workdir. The
  restart is recorded: the same command run again (after a preemption) resumes it instead
  of starting it over; the record goes when the run finishes."""
  if stage not in ("all",) + STAGES:
    raise ConfigError(f"--restart={stage}: expected all or one of {', '.join(STAGES)}")
  marker = root / RESTART_MARKER
  record = {"stage": stage, "config": stage_fingerprints(resolved)["results"]}
  if marker.exists() and read_json(marker) == record:
    banner(f"--restart={stage} was begun by an earlier run with this config: resuming it")
    return
  if stage == "all":
    doomed = [p for p in root.iterdir() if p.name not in ("LOCK", RESTART_MARKER)]
  else:
    doomed = [p for s in STAGES[STAGES.index(stage) :] for p in _stage_outputs(root, s)]
  if is_main():
    removed = []
    for p in doomed:
      if p.is_dir():
        paths.rmtree(p)
      elif p.exists():
        p.unlink()
      else:
        continue
      removed.append(str(p.relative_to(root)))
    banner(f"--restart={stage}: removed {', '.join(removed) or 'nothing (nothing was there)'}")
    atomic.write_json(marker, record)
  sync("restart")


def _flat(d: dict, prefix: str = "") -> dict:
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flat(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def run(config: ml_collections.ConfigDict, workdir: str, restart_stage: str = "", take_over_lock: bool = False) -> dict:
  """Run the experiment of `config` (and its baseline when asked) in `workdir`; returns results.

  Everything that can be checked (keys, values, mesh against the devices, lengths against the
  model) is checked before anything is written; then the workdir is locked for this run."""
  check_config(config)
  paths.as_path(workdir)  # a local path or gs://bucket/prefix; another URL is refused here
  if restart_stage and restart_stage not in ("all",) + STAGES:
    raise ConfigError(f"--restart={restart_stage}: expected all or one of {', '.join(STAGES)}")
  d = config.distributed
  shd.maybe_initialize_distributed(
      d.coordinator or None, d.num_processes or None, d.process_id if d.process_id >= 0 else None
  )
  partitioner = shd.Partitioner.from_config(dict(config.mesh), config.sharding_rules)
  budget, source = model_positions(config)
  check_lengths(config, budget, source)
  check_data_dir(config)
  root = paths.as_path(workdir)
  if root.exists() and not root.is_dir():
    raise ConfigError(f"workdir {root}: exists and is not a directory")
  lock = lock_workdir(root, take_over_lock) if is_main() else None
  try:
    results = _run(config, root, partitioner, budget, restart_stage)
    if is_main() and (root / RESTART_MARKER).exists():
      (root / RESTART_MARKER).unlink()
    return results
  finally:
    if lock is not None:
      lock.release()


def _run(
    config: ml_collections.ConfigDict, root: Path, partitioner: shd.Partitioner, budget: int, restart_stage: str
) -> dict:
  resolved = _resolved(config)
  if restart_stage:
    restart(root, restart_stage, resolved)
  verify_workdir(root, config)  # before config.json is written: a refused run leaves no trace
  check_saved_config(root / "config.json", config)  # before any phase, shared ones included
  fingerprints = stage_fingerprints(resolved)
  data = DataSource(
      config.data.source, config.data.data_dir, config.data.tfds_data_dir, config.data.cache_dir or str(root / "cache")
  )
  synthetic_languages = None
  if config.data.synthetic.enabled:
    data_dir, synthetic_languages = phase_data(config, root, fingerprints["data"])
    data = dataclasses.replace(data, data_dir=str(data_dir))
  if config.model.build.enabled:
    tokenizer = phase_tokenizer(config, root, data, fingerprints["pretrain"])
    base_checkpoint = str(root / "pretrained")
  else:
    tokenizer = _local_dir(config.model.tokenizer or config.model.checkpoint)
    base_checkpoint = config.model.checkpoint
  ctx = RunContext(
      config,
      root,
      partitioner,
      data,
      load_tokenizer(tokenizer),
      base_checkpoint,
      fingerprints,
      max_length=budget,
      synthetic_languages=synthetic_languages,
  )

  if config.model.build.enabled:
    phase_pretrain(ctx)
  start = phase_mlm(ctx) if config.mlm.languages and not config.intermediate.mlm_beside else ctx.base_checkpoint

  intermediate = list(config.intermediate.tasks)
  embedding_cache: dict = {}  # the baseline's target tasks are the main experiment's
  main = run_experiment(ctx, experiment(ctx, config.name, intermediate, start), embedding_cache)
  baseline = None
  if config.baseline and intermediate:
    baseline = run_experiment(ctx, experiment(ctx, "baseline", [], start), embedding_cache)
  if is_main():
    print("\n" + R.write_tables(root, config.name, main, baseline), flush=True)
  if config.report and baseline and is_main():
    from xstilts_jax.analysis.report import build_report

    path = build_report([root / config.name], root / "baseline", root / "report")
    print(f"report: {path}")
  return main


def _local_dir(name: str) -> str:
  """A local directory for a hub id or path (tokenizer files come with the checkpoint)."""
  if paths.is_remote(name) or Path(name).is_dir():  # load_tokenizer copies a gs:// one locally
    return name
  return str(resolve_checkpoint(name))


def finished_phase_dir(workdir: Path, phase: str, experiment: str = "") -> Path:
  """The Hugging Face checkpoint of a finished phase (`intermediate` or `target:TASK`) under a
  workdir: of its one experiment that has it, or of `experiment`."""
  experiments = [p for p in [workdir, *workdir.iterdir()] if (p / "phases").is_dir()] if workdir.is_dir() else []
  if experiment:
    experiments = [e for e in experiments if e.name == experiment]
  if not experiments:
    raise ConfigError(f"{workdir}: no experiment{' ' + experiment if experiment else ''} with phases here")
  if phase == "intermediate":
    found = [e / "phases" / "intermediate" for e in experiments]
  elif phase.startswith("target:"):
    task = phase.split(":", 1)[1]
    found = [
        d
        for e in experiments
        for d in sorted((e / "phases").glob("target-*"))
        if (d / "xstilts.json").exists() and task in read_json(d / "xstilts.json").get("targets", [])
    ]
  else:
    raise ConfigError(f"--phase {phase!r}: expected intermediate or target:TASK")
  found = [d for d in found if (d / DONE).exists()]
  if not found:
    raise ConfigError(f"{workdir}: phase {phase} has not finished in any experiment here")
  if len(found) > 1:
    names = ", ".join(d.parents[1].name for d in found)
    raise ConfigError(
        f"{workdir}: phase {phase} finished in several experiments ({names}); " "choose one with --experiment NAME"
    )
  return found[0]


def export_phase(workdir: str, phase: str, out: str, experiment: str = "", overwrite: bool = False) -> tuple[Path, str]:
  """`xstilts export`: the Hugging Face checkpoint of a finished phase of `workdir` (local or
  gs://), re-exported whole to the local directory `out`; returns (the phase's folder, the
  architecture written)."""
  if paths.is_remote(out):
    raise ConfigError(f"--out {out}: give a local directory (copy it to a bucket afterwards)")
  source = finished_phase_dir(paths.as_path(workdir), phase, experiment)
  return source, reexport_hf(source, Path(out), load_tokenizer=load_tokenizer, overwrite=overwrite)
