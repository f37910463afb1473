"""`xstilts plan`: compile every step of an experiment for a Cloud TPU slice that is not here.

libtpu's compile-only client describes the devices of a real slice
(`jax.experimental.topologies.get_topology_desc`); a mesh over them, abstract arguments
(`jax.ShapeDtypeStruct` with shardings: nothing is allocated) and the project's own layout,
state shardings, train step and eval step give XLA:TPU's memory plan and cost model for each
step on a CPU-only machine, as MaxText's train_compile.py does before a slice is rented.

Per step: memory per chip (arguments, outputs not aliased to arguments, temporaries, code)
against the chip's HBM, compile time, and a roofline step time: XLA's own flop and byte
counts per chip against the chip's published peak bf16 FLOP/s and HBM bandwidth, whichever
takes longer. XLA's `optimal_seconds` is not used (it can come out negative). XLA counts a
loop body once, so where its flops fall short of the model's analytic matmul FLOPs (gradient
accumulation, scanned layers) both counts are scaled by the shortfall (`loop_scale`). The
tokens/s and model FLOP utilisation (analytic FLOPs over the chips' peak) follow from that time.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from typing import Any, Optional

import ml_collections

from xstilts_jax.errors import ConfigError

GIB = 1024**3


@dataclasses.dataclass(frozen=True)
class Chip:
  """A Cloud TPU chip's published figures (Cloud TPU documentation, "System architecture")."""

  name: str
  hbm_gib: float  # HBM per chip
  peak_bf16_flops: float  # peak bf16 FLOP/s per chip
  hbm_bytes_per_s: float  # HBM bandwidth per chip
  slices: tuple[tuple[str, str], ...]  # (slice name, topology) of the common shapes
  libtpu_kwargs: tuple = ()  # extra get_topology_desc arguments (v4: one device per chip)


CHIPS = {
    "v4": Chip(
        "v4",
        32.0,
        275e12,
        1228e9,
        (("v4-8", "2x2x1"), ("v4-16", "2x2x2"), ("v4-32", "2x2x4"), ("v4-64", "2x4x4"), ("v4-128", "4x4x4")),
        (("chip_config_name", "megacore"),),
    ),
    "v5e": Chip(
        "v5e",
        16.0,
        197e12,
        819e9,
        (
            ("v5e-1", "1x1"),
            ("v5e-4", "2x2"),
            ("v5e-8", "2x4"),
            ("v5e-16", "4x4"),
            ("v5e-32", "4x8"),
            ("v5e-64", "8x8"),
            ("v5e-128", "8x16"),
            ("v5e-256", "16x16"),
        ),
    ),
    "v5p": Chip(
        "v5p",
        95.0,
        459e12,
        2765e9,
        (("v5p-8", "2x2x1"), ("v5p-16", "2x2x2"), ("v5p-32", "2x2x4"), ("v5p-64", "2x4x4"), ("v5p-128", "4x4x4")),
    ),
    "v6e": Chip(
        "v6e",
        32.0,
        918e12,
        1640e9,
        (
            ("v6e-1", "1x1"),
            ("v6e-4", "2x2"),
            ("v6e-8", "2x4"),
            ("v6e-16", "4x4"),
            ("v6e-32", "4x8"),
            ("v6e-64", "8x8"),
            ("v6e-128", "8x16"),
            ("v6e-256", "16x16"),
        ),
    ),
}
# Hub checkpoints whose shapes are known without reading them (plan never downloads).
KNOWN_MODELS = {
    "FacebookAI/xlm-roberta-large": dict(
        vocab_size=250002, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096
    ),
    "FacebookAI/xlm-roberta-base": dict(
        vocab_size=250002, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072
    ),
}
KNOWN_MODELS.update({k.split("/")[1]: v for k, v in list(KNOWN_MODELS.items())})
# mT5's published sizes (models/mt5.py's mt5_config), by hub id and short name.
KNOWN_MT5 = {f"google/mt5-{size}": size for size in ("small", "base", "large", "xl", "xxl")}
KNOWN_MT5.update({k.split("/")[1]: v for k, v in list(KNOWN_MT5.items())})


def parse_topology(name: str) -> tuple[Chip, str]:
  """`v5e:2x4` or a slice name (`v5e-8`, `v4-8`, `v5p-8`) -> (chip, shape such as 2x4)."""
  generation, sep, shape = name.partition(":")
  if not sep:
    for chip in CHIPS.values():
      for slice_name, topo in chip.slices:
        if slice_name == name:
          return chip, topo
    known = ", ".join(s for c in CHIPS.values() for s, _ in c.slices)
    raise ConfigError(f"--topology {name!r}: give GENERATION:SHAPE (v5e:2x4) or a slice name ({known})")
  if generation not in CHIPS:
    raise ConfigError(f"--topology {name!r}: unknown TPU generation {generation!r} (known: {', '.join(CHIPS)})")
  dims = shape.split("x")
  if not dims or not all(d.isdigit() and int(d) > 0 for d in dims):
    raise ConfigError(f"--topology {name!r}: the shape {shape!r} is not like 2x4 or 2x2x1")
  return CHIPS[generation], shape


def topology_devices(chip: Chip, shape: str) -> list:
  """The devices of one slice, from libtpu's compile-only client (no TPU needed)."""
  os.environ.setdefault("TPU_SKIP_MDS_QUERY", "1")  # never look for a GCE metadata server
  # Any JAX process here may hold libtpu's lockfile for a moment (it probes for a TPU at start).
  os.environ.setdefault("ALLOW_MULTIPLE_LIBTPU_LOAD", "1")
  try:
    from jax.experimental import topologies
    import libtpu  # noqa: F401  (only to say what is missing)
  except ImportError:
    raise ConfigError(
        "xstilts plan compiles with libtpu's compile-only client: "
        "pip install 'xstilts_jax[tpu]' (or jax[tpu] at the installed jax version)"
    ) from None
  kwargs = dict(chip.libtpu_kwargs)
  chips = math.prod(int(d) for d in shape.split("x"))
  if chips == 1:
    kwargs["chips_per_host_bounds"] = (1, 1, 1)
  try:
    topo = topologies.get_topology_desc(platform="tpu", topology_name=f"{chip.name}:{shape}", **kwargs)
  except Exception as e:  # libtpu's own message says which shape it refused
    raise ConfigError(f"--topology {chip.name}:{shape}: libtpu refused it ({' '.join(str(e).split())[:300]})") from None
  return list(topo.devices)


# ----------------------------------------------------------------------------- what a config runs


@dataclasses.dataclass(frozen=True)
class StepSpec:
  """One compiled step of a run: its model (heads), the head it runs and its input shapes."""

  phase: str
  task: str
  mode: str  # train | eval
  head_kind: str  # classification | span | ... | retrieval
  head: Optional[str]
  heads: tuple  # ((name, HeadSpec), ...) of the model it runs on
  micro_rows: int  # rows per micro-batch (padded to the batch axes)
  accum: int
  seq: int
  choices: int = 0  # multiple choice: inputs are [rows, choices, seq]
  layer: Optional[int] = None  # retrieval: the hidden state pooled
  hparams: Any = None  # the phase's hyper-parameters (train steps)

  @property
  def rows(self) -> int:
    return self.micro_rows * self.accum

  @property
  def tokens(self) -> int:
    return self.rows * max(self.choices, 1) * self.seq

  def key(self) -> tuple:
    return (
        self.mode,
        self.head_kind,
        self.head,
        self.heads,
        self.micro_rows,
        self.accum,
        self.seq,
        self.choices,
        self.layer,
    )


def model_config(config: ml_collections.ConfigDict):
  """The XLMRConfig or MT5Config a run would build or load, from the config alone (no download)."""
  from xstilts_jax import backbones
  from xstilts_jax.data.tokenizer import SPECIAL_TOKENS
  from xstilts_jax.models.mt5 import mt5_config
  from xstilts_jax.models.xlmr import XLMRConfig

  m = config.model
  if m.build.enabled:  # the backbone's small model, with the demo tokenizer's special ids
    pad, eos = SPECIAL_TOKENS.index("<pad>"), SPECIAL_TOKENS.index("</s>")
    return backbones.backbone(config).built_config(m.build, m.build.vocab_size, pad, eos)
  if m.checkpoint in KNOWN_MODELS:
    return XLMRConfig(**KNOWN_MODELS[m.checkpoint])
  if m.checkpoint in KNOWN_MT5:
    return mt5_config(KNOWN_MT5[m.checkpoint])
  from pathlib import Path

  from xstilts_jax.models.hf import read_model_config

  path = Path(m.checkpoint).expanduser()
  if not path.is_dir():
    known = [k for k in [*KNOWN_MODELS, *KNOWN_MT5] if "/" in k]
    raise ConfigError(
        f"model.checkpoint {m.checkpoint!r}: plan reads shapes from a local checkpoint directory "
        f"or knows them for {', '.join(known)}"
    )
  return read_model_config(path)


def _is_mt5(cfg) -> bool:
  from xstilts_jax.models.mt5 import MT5Config

  return isinstance(cfg, MT5Config)


def run_steps(config: ml_collections.ConfigDict, batch_unit: int) -> list[StepSpec]:
  """Every train and eval step that `xstilts run` with this config compiles, in run order."""
  from xstilts_jax import backbones, pipeline
  from xstilts_jax.formats import get_format
  from xstilts_jax.models import num_layers
  from xstilts_jax.models.xlmr import HeadSpec
  from xstilts_jax.tasks import get_task

  pad = lambda n: int(math.ceil(n / batch_unit) * batch_unit)
  parse = pipeline.parse_task_name
  mcfg = model_config(config)
  steps: list[StepSpec] = []

  def spec_of(name: str):
    spec = get_task(parse(name)[0])
    fmt = get_format(spec.format)
    return spec, HeadSpec(fmt.head_kind, max(spec.num_labels, 1) if fmt.labelled else 0)

  def train(phase, task, head, heads, hp):
    spec, hs = spec_of(task)
    steps.append(
        StepSpec(
            phase,
            task,
            "train",
            heads[head].kind,  # masked LM trains through the backbone's LM head (mT5: seq2seq)
            head,
            tuple(heads.items()),
            pad(hp.batch_size),
            hp.accum_steps,
            hp.max_seq_length,
            spec.num_choices,
            hparams=hp,
        )
    )

  def evaluate(phase, task, head, heads, seq, kind=None, layer=None, choices=0):
    kind = kind or spec_of(task)[1].kind
    steps.append(
        StepSpec(
            phase, task, "eval", kind, head, tuple(heads.items()), pad(config.eval.batch_size), 1, seq, choices, layer
        )
    )

  lm_head = backbones.backbone(config).lm_head
  mlm = {lm_head: HeadSpec(lm_head)}
  if config.model.build.enabled:
    for lang in list(config.data.synthetic.languages)[:1]:  # one head, one shape for every language
      train("pretrain", f"mlm:{lang}", lm_head, mlm, config.model.build.pretrain)
  if config.mlm.languages and not config.intermediate.mlm_beside:
    train("mlm", f"mlm:{config.mlm.languages[0]}", lm_head, mlm, config.mlm.phase)

  hp = config.intermediate
  if hp.tasks:
    heads = {}
    for name in hp.tasks:
      spec, hs = spec_of(name)
      heads.setdefault(spec.head_name, hs)
    with_mlm = hp.mlm_beside and config.mlm.languages
    if with_mlm:
      heads[lm_head] = HeadSpec(lm_head)
    for name in hp.tasks:
      task_hp = hp
      if name in hp.task_max_seq_length:
        task_hp = ml_collections.ConfigDict({**hp.to_dict(), "max_seq_length": hp.task_max_seq_length[name]})
      train("intermediate", name, get_task(parse(name)[0]).head_name, heads, task_hp)
    if with_mlm:
      train("intermediate", f"mlm:{config.mlm.languages[0]}", lm_head, heads, hp)

  for group in pipeline.target_groups(config):
    recipe = pipeline.target_recipe(config, group[0])
    train_name = recipe[-1]
    thp = pipeline.target_hparams(config, group[0])
    _, hs = spec_of(train_name)
    heads = {"target": hs}
    for name in recipe:  # XTREME-R's XCOPA: SIQA, then COPA, through the one head
      train(f"target:{'+'.join(group)}", name, "target", heads, thp)
    choices = get_task(train_name).num_choices
    if thp.eval_every:
      evaluate(f"target:{'+'.join(group)} dev", train_name, "target", heads, thp.max_seq_length, choices=choices)
    for target in group:
      t_choices = get_task(target).num_choices
      evaluate(
          "eval", target, "target", heads, pipeline.target_hparams(config, target).max_seq_length, choices=t_choices
      )

  layer = min(config.model.retrieval_layer, num_layers(mcfg))
  for target in config.targets.tasks:
    spec = get_task(target)
    if get_format(spec.format).encoder_only:
      seq = config.eval.retrieval_max_seq_length or spec.max_seq_length
      evaluate("eval", target, None, {}, seq, kind="retrieval", layer=layer)
  if hp.tasks or config.targets.tasks:  # the results' task embeddings: last layer at length 128
    evaluate("results", "task embeddings", None, {}, 128, kind="retrieval", layer=-1)
  return steps


# ----------------------------------------------------------------------------- compiling one step


def model_flops(cfg, tokens: int, seq: int, train: bool) -> float:
  """Matmul FLOPs of the encoder: 2 x (non-embedding parameters) x tokens plus attention
  scores and values, forward; x3 with the backward pass. mT5's layer: q, k, v, o of
  num_heads x d_kv and a gated feed-forward (wi_0, wi_1, wo)."""
  if _is_mt5(cfg):
    h, layers, inner = cfg.d_model, cfg.num_layers, cfg.inner_dim
    per_token = 4 * h * inner + 3 * h * cfg.d_ff
  else:
    h, layers, inner = cfg.hidden_size, cfg.num_hidden_layers, cfg.hidden_size
    per_token = 4 * h * h + 2 * h * cfg.intermediate_size
  forward = 2.0 * layers * per_token * tokens + 4.0 * layers * inner * seq * tokens
  return 3.0 * forward if train else forward


def _abstract(tree, shardings):
  import jax

  return jax.tree.map(lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=s), tree, shardings)


def _batch(step: StepSpec, sharding) -> dict:
  import jax
  import numpy as np

  from xstilts_jax.train.steps import LABEL_KEYS

  rows = step.rows
  tokens = (rows, step.choices, step.seq) if step.choices else (rows, step.seq)
  shapes = {"input_ids": tokens, "attention_mask": tokens}
  if step.mode == "train":
    shapes["mask"] = (rows,)
    for key, per in LABEL_KEYS[step.head_kind].items():
      shapes[key] = (rows,) if per == "row" else (rows, step.seq)
  return {k: jax.ShapeDtypeStruct(s, np.int32, sharding=sharding) for k, s in shapes.items()}


def compile_step(
    step: StepSpec,
    cfg,
    partitioner,
    dtype,
    options,
    seed: int = 0,
    moments_dtype: str = "float32",
    optimizer: str = "adamw",
):
  """jit(...).lower(abstract args).compile() of one step, through the code a run uses."""
  from flax import nnx
  import jax

  from xstilts_jax.evaluation.steps import make_eval_step
  from xstilts_jax.models.mt5 import MT5Model
  from xstilts_jax.models.xlmr import XLMRModel
  from xstilts_jax.train import optim
  from xstilts_jax.train import state as train_state
  from xstilts_jax.train import steps as train_steps

  model_class = MT5Model if _is_mt5(cfg) else XLMRModel
  model = nnx.eval_shape(lambda: model_class(cfg, dict(step.heads), dtype=dtype, rngs=nnx.Rngs(seed), options=options))
  batch = _batch(step, partitioner.batch_sharding())
  if step.mode == "train":
    hp = step.hparams
    try:
      ocfg = optim.OptimizerConfig.from_phase(hp, 1000, optimizer, moments_dtype)
    except ValueError as e:
      raise ConfigError(f"{step.phase}: {e}") from None
    tx = optim.make_transform(ocfg)
    layout = train_state.ModelLayout.of(model)
    abstract = jax.eval_shape(lambda p: train_state.init_state(layout, p, tx), layout.flat(model))
    shardings = train_state.state_shardings(layout, abstract, partitioner)
    fn = train_steps.jit_train_step(
        train_steps.make_train_step(
            layout,
            step.head,
            step.head_kind,
            tx,
            optim.make_schedule(ocfg),
            hp.grad_clip_norm,
            step.accum,
            partitioner,
            seed,
        ),
        shardings,
        partitioner,
    )
    args = (_abstract(abstract, shardings), batch)
  else:
    graphdef, state = nnx.split(model)
    shardings = partitioner.param_shardings(state, nnx.get_partition_spec(state))
    fn = make_eval_step(graphdef, step.head_kind, step.head, step.layer, partitioner)
    args = (_abstract(state, shardings), {k: batch[k] for k in ("input_ids", "attention_mask")})
  start = time.perf_counter()
  compiled = fn.lower(*args).compile()
  return compiled, time.perf_counter() - start


def step_report(step: StepSpec, compiled, compile_s: float, chip: Chip, chips: int, cfg) -> dict:
  """The memory plan and roofline of one compiled step, as plain numbers."""
  mem = compiled.memory_analysis()
  cost = compiled.cost_analysis()
  if isinstance(cost, (list, tuple)):  # older jax: one dict per program
    cost = cost[0] if cost else {}
  cost = cost or {}
  arguments = mem.argument_size_in_bytes
  outputs = mem.output_size_in_bytes - mem.alias_size_in_bytes  # donated state is reused in place
  temporaries = mem.temp_size_in_bytes
  code = mem.generated_code_size_in_bytes
  total = arguments + outputs + temporaries + code
  flops = float(cost.get("flops", 0.0))
  bytes_accessed = float(cost.get("bytes accessed", 0.0))
  analytic = model_flops(cfg, step.tokens, step.seq, step.mode == "train")
  # XLA's cost model counts a while loop's body once (the micro-batch scan of accumulation,
  # scanned layers): where its flops fall short of the model's own matmul count, both of its
  # counts are scaled up by the shortfall rather than reported optimistically.
  loop_scale = max(1.0, analytic / chips / flops) if flops > 0 else 1.0
  compute_s = flops * loop_scale / chip.peak_bf16_flops
  memory_s = bytes_accessed * loop_scale / chip.hbm_bytes_per_s
  roofline_s = max(compute_s, memory_s)
  return {
      **_step_fields(step),
      "per_chip_gib": total / GIB,
      "arguments_gib": arguments / GIB,
      "outputs_gib": outputs / GIB,
      "temporaries_gib": temporaries / GIB,
      "code_gib": code / GIB,
      "fits": total <= chip.hbm_gib * GIB,
      "compile_s": compile_s,
      "xla_flops_per_chip": flops,
      "xla_bytes_per_chip": bytes_accessed,
      "loop_scale": loop_scale,
      "roofline_s": roofline_s,
      "bound": "compute" if compute_s >= memory_s else "memory",
      "tokens_per_s": step.tokens / roofline_s if roofline_s > 0 else None,
      "model_flops": analytic,
      "mfu": analytic / (roofline_s * chips * chip.peak_bf16_flops) if roofline_s > 0 else None,
  }


def _step_fields(step: StepSpec) -> dict:
  """What a step is, as the report names it (the same in a fitting and an out-of-memory row)."""
  return {
      "phase": step.phase,
      "task": step.task,
      "kind": step.mode,
      "head": step.head_kind,
      "batch": step.rows,
      "micro_batch": step.micro_rows,
      "accum": step.accum,
      "seq": step.seq,
      "choices": step.choices,
      "tokens": step.tokens,
  }


def oom_report(step: StepSpec, message: str, compile_s: float, cfg) -> dict:
  """A step XLA refused for want of HBM: what it said it needed (GiB), and no timing."""
  import re

  needed = re.search(r"required[^(]*\(([\d.]+)([KMGT])\)", message)
  scale = {"K": 2**-20, "M": 2**-10, "G": 1.0, "T": 1024.0}
  gib = float(needed.group(1)) * scale[needed.group(2)] if needed else None
  return {
      **_step_fields(step),
      "per_chip_gib": gib,
      "arguments_gib": None,
      "outputs_gib": None,
      "temporaries_gib": None,
      "code_gib": None,
      "fits": False,
      "compile_s": compile_s,
      "xla_flops_per_chip": None,
      "xla_bytes_per_chip": None,
      "loop_scale": None,
      "roofline_s": None,
      "bound": None,
      "tokens_per_s": None,
      "model_flops": model_flops(cfg, step.tokens, step.seq, step.mode == "train"),
      "mfu": None,
      "error": " ".join(message.split())[:400],
      "per_chip_gib_is_lower_bound": True,  # what XLA named (often the temporaries alone)
  }


# ----------------------------------------------------------------------------- the command


def plan(config: ml_collections.ConfigDict, topology: str, log=None) -> dict:
  """Compile every step of `config` for `topology`; the JSON object `xstilts plan --json` prints."""
  import jax.numpy as jnp

  from xstilts_jax import pipeline
  from xstilts_jax import sharding as shd
  from xstilts_jax.models.xlmr import ModelOptions

  chip, shape = parse_topology(topology)
  pipeline.check_config(config)
  protocol = config.get("protocol", "heads")
  if protocol != "heads":
    raise ConfigError(
        f"protocol {protocol!r}: plan compiles the heads protocol only (its text-to-text steps are not planned yet)"
    )
  optimizer = config.optimizer.get("name", "adamw")
  try:
    options = ModelOptions.from_config(config.model)
  except ValueError as e:
    raise ConfigError(str(e)) from None
  devices = topology_devices(chip, shape)
  partitioner = shd.Partitioner.from_config(dict(config.mesh), config.sharding_rules, devices=devices)
  dtype = jnp.bfloat16 if config.model.dtype == "bfloat16" else jnp.float32
  cfg = model_config(config)
  out = {
      "topology": f"{chip.name}:{shape}",
      "chips": len(devices),
      "hbm_gib_per_chip": chip.hbm_gib,
      "peak_bf16_tflops_per_chip": chip.peak_bf16_flops / 1e12,
      "hbm_gb_per_s_per_chip": chip.hbm_bytes_per_s / 1e9,
      "mesh": dict(partitioner.mesh.shape),
      "dtype": config.model.dtype,
      "remat": options.remat,
      "scan_layers": options.scan_layers,
      "attention": options.attention,
      "backbone": "mt5" if _is_mt5(cfg) else "xlmr",
      "optimizer": optimizer,
      "moments_dtype": config.optimizer.moments_dtype,
      "steps": [],
  }
  done: dict[tuple, dict] = {}
  for step in run_steps(config, partitioner.batch_divisor()):
    key = step.key()
    if key not in done:
      start = time.perf_counter()
      try:
        compiled, seconds = compile_step(
            step, cfg, partitioner, dtype, options, config.seed, config.optimizer.moments_dtype, optimizer
        )
        done[key] = step_report(step, compiled, seconds, chip, len(devices), cfg)
      except Exception as e:  # XLA:TPU refuses a program that cannot fit: that is the answer
        if "RESOURCE_EXHAUSTED" not in str(e):
          raise
        done[key] = oom_report(step, str(e), time.perf_counter() - start, cfg)
      record = done[key]
    else:  # the same program: jit's cache would not compile it again either
      record = {**done[key], "phase": step.phase, "task": step.task, "compile_s": 0.0, "cached": True}
    out["steps"].append(record)
    if log:
      log(record)
  out["fits"] = all(s["fits"] for s in out["steps"])
  return out


def _row(s: dict) -> str:
  shape = f"{s['batch']}x{s['choices']}x{s['seq']}" if s["choices"] else f"{s['batch']}x{s['seq']}"
  num = lambda v, fmt: format(v, fmt) if v is not None else "-"
  return (
      f"{s['phase'][:26]:26s} {s['task'][:18]:18s} {s['kind']:5s} {shape:>12s} "
      f"{num(s['arguments_gib'], '6.2f'):>6s} {num(s['temporaries_gib'], '6.2f'):>6s} "
      f"{num(s['per_chip_gib'], '6.2f'):>6s} {'yes' if s['fits'] else 'NO':>4s} {s['compile_s']:7.1f} "
      f"{num(s['roofline_s'] and 1e3 * s['roofline_s'], '9.1f'):>9s} {num(s['tokens_per_s'], '9.0f'):>9s} "
      f"{num(s['mfu'] and 100 * s['mfu'], '4.0f'):>4s}%"
  )


def main(config: ml_collections.ConfigDict, topology: str, as_json: bool = False) -> int:
  """Print the plan (a table, or one JSON object); 1 when a step does not fit, else 0."""
  header = (
      f"{'phase':26s} {'task':18s} {'kind':5s} {'batch x seq':>12s} {'args':>6s} {'temps':>6s} "
      f"{'GiB':>6s} {'fits':>4s} {'compile':>7s} {'step ms':>9s} {'tokens/s':>9s} {'MFU':>5s}"
  )
  started = []

  def log(record):
    if as_json:
      return
    if not started:
      print(header, flush=True)
      started.append(True)
    print(_row(record), flush=True)

  result = plan(config, topology, log)
  if as_json:
    print(json.dumps(result, indent=1))
  else:
    print(
        f"\n{result['topology']}: {result['chips']} chips, {result['hbm_gib_per_chip']:g} GiB HBM, "
        f"{result['peak_bf16_tflops_per_chip']:g} bf16 TFLOP/s and {result['hbm_gb_per_s_per_chip']:g} GB/s "
        f"per chip; mesh {result['mesh']}; step time = roofline of XLA's flop and byte counts"
    )
    if not result["fits"]:
      bad = [s for s in result["steps"] if not s["fits"]]
      need = bad[0]["per_chip_gib"]
      print(
          f"xstilts plan: {len(bad)} step(s) do not fit in {result['hbm_gib_per_chip']:g} GiB per chip "
          f"(first: {bad[0]['phase']} {bad[0]['task']}, "
          f"{'%.2f GiB' % need if need is not None else bad[0].get('error', '')})",
          file=sys.stderr,
      )
  return 0 if result["fits"] else 1
