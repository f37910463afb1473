"""X-STILTs as the paper ran it: XLM-R Large, English intermediate task(s), then each XTREME
target fine-tuned on English and evaluated zero-shot on every language.

  xstilts run --config configs/xstilts.py:intermediate=squad_v1 --workdir gs://bucket/xstilts/squad_v1
  xstilts run --config configs/xstilts.py:intermediate=all --workdir ...              # multi-task, 8 public tasks
  xstilts run --config configs/xstilts.py:intermediate=mnli+squad_v1,target=xnli+xquad --workdir ...
  xstilts run --config configs/xstilts.py:intermediate=mnli,mlm=sw+ur,mlm_beside --workdir ...
  xstilts run --config configs/xstilts.py --workdir ...                                # the baseline
  xstilts plan --topology v5e-8 --config configs/xstilts.py:intermediate=squad_v1,tpu=v5e-8  # before renting it
  --config.intermediate.learning_rate=2e-5 and any other key override from the command line.

Arguments: intermediate (tasks joined by '+', 'all' = all_intermediate_public, 'anli_plus'),
target (default: the 7 trainable XTREME tasks + BUCC + Tatoeba), mlm (languages of continued
masked-LM training: phase 0, or beside phase 1 with mlm_beside), model (large | base | mt5-small |
mt5-base | mt5-large | a checkpoint path or hub id), protocol (heads | text-to-text: mT5's encoder
with the project's heads, or mT5 as the mT5 paper fine-tunes it: classification targets as label
words, extractive QA as generated answer text, other trained tasks refused; Adafactor for mT5;
`xstilts plan` compiles the heads protocol), source (local | hub | tfds), baseline (also run the
baseline beside it), runlocal (tiny smoke run), benchmark (xtreme | xtreme-r: XTREME-R's targets and test languages).
tpu (a slice such as v5e-8, v4-8, v5p-8: pure FSDP over its chips, bfloat16 compute, and each
phase's effective batch (jiant's batch x accumulation) as one micro-batch where the chips divide it).
Hyper-parameters: jiant's XTREME runscripts (xstilts.md section 4.1); the paper's own
intermediate-training values are not public, jiant's simple-API defaults stand in.
"""

import math

from xstilts_jax.configs import common

from xstilts_jax.tasks import TASK_GROUPS, registry

TARGETS = ["xnli", "pawsx", "udpos", "panx", "xquad", "mlqa", "tydiqa", "bucc2018", "tatoeba"]
# epochs, batch size, gradient accumulation (jiant's d_write_configs.sh)
TARGET_HPARAMS = {
    "xnli": (2, 4, 8),
    "pawsx": (5, 4, 8),
    "udpos": (10, 4, 8),
    "panx": (10, 4, 8),
    "xquad": (2, 4, 4),
    "mlqa": (2, 4, 4),
    "tydiqa": (2, 4, 4),
}
MODELS = {"large": ("FacebookAI/xlm-roberta-large", 14), "base": ("FacebookAI/xlm-roberta-base", 7)}
# mT5 (Xue et al. 2021): the retrieval layer at XLM-R Large's depth fraction, 14 of 24.
MT5_MODELS = {
    "mt5-small": ("google/mt5-small", 5),
    "mt5-base": ("google/mt5-base", 7),
    "mt5-large": ("google/mt5-large", 14),
}
PROTOCOLS = ("heads", "text-to-text")
# T5X's fine-tuning (t5x/configs/runs/finetune.gin, the mT5 gins): Adafactor at a constant 1e-3,
# no warmup, no weight decay, no global-norm clipping (Adafactor clips its updates).
T5X_FINETUNE = dict(learning_rate=1e-3, warmup_fraction=0.0, weight_decay=0.0, grad_clip_norm=0.0)


def get_config(arg=None):
  arg = common.parse_arg(
      arg,
      intermediate=[],
      target=TARGETS,
      mlm=[],
      mlm_beside=False,
      model="large",
      source="local",
      baseline=False,
      runlocal=False,
      benchmark="xtreme",
      tpu="",
      protocol="heads",
  )
  c = common.base_config()
  tasks = []
  for name in arg.intermediate:
    tasks += TASK_GROUPS["all_intermediate_public"] if name == "all" else TASK_GROUPS.get(name, [name])
  c.intermediate.tasks = tasks
  c.name = "+".join(arg.intermediate) if arg.intermediate else "baseline"
  c.model.checkpoint, c.model.retrieval_layer = {**MODELS, **MT5_MODELS}.get(arg.model, (arg.model, 14))
  c.model.backbone = backbone_of(arg.model)
  if arg.protocol not in PROTOCOLS:
    raise ValueError(f"config argument protocol={arg.protocol!r} is not one of {', '.join(PROTOCOLS)}")
  if arg.protocol == "text-to-text" and c.model.backbone != "mt5":
    raise ValueError(f"config argument protocol=text-to-text needs an mT5 model ({', '.join(MT5_MODELS)})")
  c.protocol = arg.protocol
  c.data.source = arg.source
  c.mlm.languages = list(arg.mlm)
  c.intermediate.mlm_beside = arg.mlm_beside
  c.baseline = arg.baseline

  c.targets.tasks = list(arg.target)
  c.benchmark = registry.check_benchmark(arg.benchmark)
  if arg.benchmark != "xtreme":  # its tasks (unless target= names them) and languages
    if list(arg.target) == TARGETS:
      c.targets.tasks = list(registry.benchmark_tasks(arg.benchmark))
    for task in c.targets.tasks:
      c.targets.languages[task] = list(registry.benchmark_languages(task, arg.benchmark))
  for task, (epochs, batch, accum) in TARGET_HPARAMS.items():
    qa = task in ("xquad", "mlqa", "tydiqa")
    c.targets.per_task[task] = dict(
        epochs=float(epochs), batch_size=batch, accum_steps=accum, max_seq_length=384 if qa else 256
    )
  if c.model.backbone == "mt5":
    c.optimizer.name = "adafactor"
    for phase in (c.intermediate, c.mlm.phase, c.targets.defaults):
      phase.update(T5X_FINETUNE)
  if arg.tpu:
    tpu_preset(c, arg.tpu)
  if arg.runlocal:  # a smoke run of the same code path: small steps and subsets
    c.intermediate.max_steps = 20
    c.targets.defaults.max_steps = 20
    c.targets.defaults.eval_every = 10
    c.eval.batch_size = 8
  return c


def backbone_of(model: str) -> str:
  """The backbone, xlmr or mt5, of a model= value: a named size, a checkpoint directory (its
  config.json's model_type) or a hub id; anything else is refused, naming the choices."""
  import json
  from pathlib import Path

  if model in MODELS:
    return "xlmr"
  if model in MT5_MODELS:
    return "mt5"
  names = ", ".join([*MODELS, *MT5_MODELS])
  path = Path(model).expanduser()
  if path.is_dir():
    try:
      model_type = json.loads((path / "config.json").read_text()).get("model_type")
    except (OSError, ValueError, AttributeError):
      return "xlmr"  # loading the checkpoint names what is wrong with it
    return "mt5" if model_type == "mt5" else "xlmr"
  if "/" not in model or model.startswith("mt5-"):
    raise ValueError(f"config argument model={model!r} is not one of {names}, a checkpoint directory or a hub id")
  return "mt5" if "mt5" in model.split("/")[-1].lower() else "xlmr"


def tpu_preset(c, slice_name: str) -> None:
  """Pure FSDP over the slice's chips, bfloat16 compute, and micro-batches that fill the mesh.

  jiant's effective batch (batch x accumulation) is kept: where the chips divide it, it runs
  as one micro-batch (4 x 8 -> 32 x 1 on 8 chips: no padding rows, no accumulation loop);
  where they do not (the intermediate phase's 4 rows on 8 chips), it stays as it is and the
  micro-batch is padded, as on any mesh.
  """
  from xstilts_jax.plan import parse_topology

  chip, shape = parse_topology(slice_name)
  chips = math.prod(int(d) for d in shape.split("x"))
  c.mesh = dict(data=1, fsdp=-1, tensor=1)
  c.model.dtype = "bfloat16"

  def fill(hp) -> dict:
    rows = hp["batch_size"] * hp.get("accum_steps", 1)
    return dict(batch_size=rows, accum_steps=1) if rows % chips == 0 else {}

  c.intermediate.update(fill(c.intermediate))
  c.mlm.phase.update(fill(c.mlm.phase))
  c.targets.defaults.update(fill(c.targets.defaults))
  for task in list(c.targets.per_task.keys()):
    settings = dict(c.targets.per_task[task])
    c.targets.per_task[task] = {**settings, **fill({**c.targets.defaults.to_dict(), **settings})}
  c.eval.batch_size = max(c.eval.batch_size, chips)
