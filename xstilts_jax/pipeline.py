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
import json
import logging
import math
import shutil
from pathlib import Path
from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from flax import nnx

from xstilts_jax import atomic, sharding as shd
from xstilts_jax.data import batches as B
from xstilts_jax.data import features as F
from xstilts_jax.data.examples import SentenceExample
from xstilts_jax.data.loading import TRAIN_KEYS, DataSource, example_texts, load_task
from xstilts_jax.data.readers import ReadReport
from xstilts_jax.data.sources import load_examples
from xstilts_jax.data.tokenizer import load_tokenizer, train_tokenizer
from xstilts_jax.errors import ConfigError
from xstilts_jax.evaluation import metrics as M
from xstilts_jax.evaluation.evaluate import evaluate_task, prediction_file_name, write_predictions
from xstilts_jax.evaluation.steps import Predictor
from xstilts_jax.atomic import read_json
from xstilts_jax.models import HeadSpec, XLMRConfig, XLMRModel, export_hf, load_hf
from xstilts_jax.models.hf import resolve_checkpoint
from xstilts_jax.tasks import get_task
from xstilts_jax.tasks.spec import HEAD_OF_FORMAT, TaskSpec
from xstilts_jax.train import loop, optim

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


def write_text_atomic(path: Path, text: str) -> None:
  if is_main():
    atomic.write_text(path, text)


def is_done(path: Path) -> bool:
  return (path / DONE).exists()


def banner(text: str) -> None:
  if is_main():
    print(f"\n== {text}", flush=True)


@dataclasses.dataclass
class Context:
  """What every phase of a run shares."""
  config: ml_collections.ConfigDict
  root: Path
  mesh: Any
  rules: Any
  data: DataSource
  tokenizer: Any = None
  base_checkpoint: str = ""
  read_report: ReadReport = dataclasses.field(default_factory=ReadReport)
  synthetic_languages: Optional[dict] = None
  task_embeddings: dict = dataclasses.field(default_factory=dict)  # shared by the main run and the baseline

  @property
  def dtype(self):
    return jnp.bfloat16 if self.config.model.dtype == "bfloat16" else jnp.float32

  def batch_rows(self, n: int) -> int:
    """`n` rounded up to what the batch axes divide; the extra rows are padding (mask 0)."""
    unit = shd.batch_divisor(self.mesh)
    return int(math.ceil(n / unit) * unit)


def parse_task_name(name: str) -> tuple[str, str]:
  """'squad_v1' -> (squad_v1, en); 'translate_train_squad:de' -> (translate_train_squad, de)."""
  task, _, language = name.partition(":")
  return task, language or "en"


def check_config(config: ml_collections.ConfigDict) -> None:
  """Fail fast, before any work, on what can be checked without data."""
  for name in list(config.intermediate.tasks) + list(config.targets.tasks):
    get_task(parse_task_name(name)[0])
  for task in config.targets.per_task.keys():  # settings for targets not run this time are fine, typos not
    get_task(task)
  if config.data.source not in ("local", "hub", "tfds"):
    raise ConfigError(f"data.source {config.data.source!r} is not one of local, hub, tfds")
  if config.model.dtype not in ("float32", "bfloat16"):
    raise ConfigError(f"model.dtype {config.model.dtype!r} is not one of float32, bfloat16")
  if not config.model.checkpoint and not config.model.build.enabled:
    raise ConfigError("model.checkpoint is empty: name a hub id or a local Hugging Face directory")


def optimizer_config(hp, total_steps: int) -> optim.OptimizerConfig:
  return optim.OptimizerConfig(
      learning_rate=hp.learning_rate, warmup_fraction=hp.warmup_fraction, total_steps=total_steps,
      b1=hp.adam_b1, b2=hp.adam_b2, eps=hp.adam_eps, weight_decay=hp.weight_decay,
      grad_clip_norm=hp.grad_clip_norm)


def loop_config(ctx: Context, hp, total_steps: int, sampler=("proportional", 0, 1.0)) -> loop.LoopConfig:
  return loop.LoopConfig(
      total_steps=total_steps, optimizer=optimizer_config(hp, total_steps), seed=ctx.config.seed,
      sampler=sampler[0], sampler_cap=sampler[1] or None, sampler_temperature=sampler[2],
      log_every=ctx.config.log_every, save_every=ctx.config.save_every, eval_every=hp.eval_every,
      early_stopping_patience=hp.early_stopping_patience)


def host_copy(model: XLMRModel) -> XLMRModel:
  """The model with every parameter gathered to host memory (all processes must call it)."""
  graphdef, state = nnx.split(model)
  return nnx.merge(graphdef, jax.tree.map(shd.to_host, state))


def export(model: XLMRModel, out: Path, ctx: Context, head: Optional[str] = None, label_names=None,
           extra: Optional[dict] = None, checkpoints: Optional[Path] = None) -> None:
  """A Hugging Face checkpoint + tokenizer, then the DONE marker (a phase's proof of completion);
  the phase's orbax checkpoints, now redundant, are removed (XLM-R Large: ~7 GB a phase)."""
  model = host_copy(model)
  if is_main():
    export_hf(model, str(out), tokenizer=ctx.tokenizer, head=head, label_names=label_names)
    write_json_atomic(out / "xstilts.json", extra or {})
    (out / DONE).write_text("")
    if checkpoints is not None and checkpoints.exists():
      shutil.rmtree(checkpoints)
  sync(f"export:{out}")


# ----------------------------------------------------------------------------- training data


def train_task(ctx: Context, name: str, hp, head: str, seed: int) -> tuple[loop.TrainTask, TaskSpec, tuple]:
  """A TrainTask over the English (or translated) training split of task `name`."""
  task_name, language = parse_task_name(name)
  spec = get_task(task_name)
  if spec.format == "mlm" and language not in spec.languages:  # masked LM takes text in any language
    spec = get_task(task_name, [language])
  if spec.format == "tagging" and not spec.labels:  # an open tag set (CCG): the tags of train and dev
    tags = {t for split in ("train", "dev") for ex in load_examples(spec, language, split, ctx.data.source,
                                                                     ctx.data.data_dir) for t in ex.labels}
    spec = dataclasses.replace(spec, labels=tuple(sorted(tags)))
  _, feats = load_task(spec, language, "train", ctx.tokenizer, ctx.data, hp.max_seq_length,
                       ctx.read_report, limit=hp.train_examples_cap, seed=seed)
  labels = spec.labels
  feats = {k: feats[k] for k in TRAIN_KEYS[spec.format]}
  kind = HEAD_OF_FORMAT[spec.format]
  prepare = mlm_prepare(ctx, seed) if spec.format == "mlm" else None
  batches = B.TrainBatches(feats, hp.batch_size * hp.accum_steps, seed)
  task = loop.TrainTask(name, head, kind, batches, B.num_rows(feats), hp.accum_steps, prepare,
                        rows_per_micro=ctx.batch_rows(hp.batch_size))
  return task, spec, labels


def mlm_prepare(ctx: Context, seed: int) -> Callable:
  tok = ctx.tokenizer
  special = np.asarray(tok.all_special_ids)

  def prepare(batch, step):
    rng = np.random.default_rng([seed, step, 7])
    ids, labels = F.mask_tokens(batch["input_ids"], batch["attention_mask"], rng, len(tok), tok.mask_token_id,
                                special)
    return {**batch, "input_ids": ids, "mlm_labels": labels}

  return prepare


def head_spec(spec: TaskSpec, labels: tuple) -> HeadSpec:
  kind = HEAD_OF_FORMAT[spec.format]
  return HeadSpec(kind, len(labels) if kind in ("classification", "tagging") else 0)


def total_steps(tasks: list[loop.TrainTask], hp) -> int:
  steps = sum(loop.steps_for(t.num_examples, hp.epochs, t.batches.batch_size) for t in tasks)
  return min(steps, hp.max_steps) if hp.max_steps else steps


# ----------------------------------------------------------------------------- the phases


def phase_pretrain(ctx: Context) -> str:
  """The embedded default's stand-in for XLM-R: a tokenizer and a small model pretrained by MLM."""
  out = ctx.root / "pretrained"
  if is_done(out):
    ctx.tokenizer = load_tokenizer(out)
    return str(out)
  banner("pretraining a small XLM-R on every language (masked LM), standing in for XLM-R")
  b = ctx.config.model.build
  languages = list(ctx.config.data.synthetic.languages)
  spec = get_task("mlm", languages)
  texts = []
  for lang in languages:
    texts += _mlm_lines(ctx, spec, lang)
  if is_main():
    train_tokenizer(texts, b.vocab_size, ctx.root / "tokenizer")
  sync("tokenizer")
  ctx.tokenizer = load_tokenizer(ctx.root / "tokenizer")
  cfg = XLMRConfig(vocab_size=len(ctx.tokenizer), hidden_size=b.hidden_size, num_hidden_layers=b.num_hidden_layers,
                   num_attention_heads=b.num_attention_heads, intermediate_size=b.intermediate_size,
                   max_position_embeddings=b.max_position_embeddings, pad_token_id=ctx.tokenizer.pad_token_id)
  model = XLMRModel(cfg, {"mlm": HeadSpec("mlm")}, dtype=ctx.dtype, rngs=nnx.Rngs(ctx.config.seed))
  tasks = [train_task(ctx, f"mlm:{lang}", b.pretrain, "mlm", ctx.config.seed + i)[0]
           for i, lang in enumerate(languages)]
  steps = total_steps(tasks, b.pretrain)
  result = loop.train(model, tasks, loop_config(ctx, b.pretrain, steps), ctx.root, ctx.mesh, ctx.rules, "pretrain")
  export(result.model, out, ctx, head="mlm", extra={"steps": result.step, "languages": languages},
         checkpoints=ctx.root / "checkpoints" / "pretrain")
  return str(out)


def _mlm_lines(ctx: Context, spec: TaskSpec, lang: str) -> list[str]:
  return [ex.text for ex in load_examples(spec, lang, "train", "local", ctx.data.data_dir)]


def phase_mlm(ctx: Context) -> str:
  """Phase 0: continued masked LM on chosen languages, from the base checkpoint."""
  languages = list(ctx.config.mlm.languages)
  out = ctx.root / "phases" / ("mlm-" + "+".join(languages))
  if is_done(out):
    return str(out)
  banner(f"phase 0: continued masked LM on {', '.join(languages)}")
  hp = ctx.config.mlm.phase
  model = load_hf(ctx.base_checkpoint, head="mlm", dtype=ctx.dtype, seed=ctx.config.seed)
  tasks = [train_task(ctx, f"mlm:{lang}", hp, "mlm", ctx.config.seed + i)[0] for i, lang in enumerate(languages)]
  result = loop.train(model, tasks, loop_config(ctx, hp, total_steps(tasks, hp)), ctx.root, ctx.mesh, ctx.rules,
                      phase=out.name)
  export(result.model, out, ctx, head="mlm", extra={"steps": result.step, "languages": languages},
         checkpoints=ctx.root / "checkpoints" / out.name)
  return str(out)


def phase_intermediate(ctx: Context, exp: Path, start: str) -> str:
  """Phase 1: one or several intermediate tasks (one head each, shared by name), MLM optionally beside."""
  out = exp / "phases" / "intermediate"
  if is_done(out):
    return str(out)
  hp = ctx.config.intermediate
  names = list(hp.tasks)
  banner(f"phase 1: intermediate training on {', '.join(names)}" + (" + MLM" if hp.mlm_beside else ""))
  with_mlm = hp.mlm_beside and ctx.config.mlm.languages
  model = load_hf(start, head="mlm" if with_mlm else "encoder", dtype=ctx.dtype, seed=ctx.config.seed)
  tasks, rngs = [], nnx.Rngs(ctx.config.seed + 1)
  for i, name in enumerate(names):
    spec = get_task(parse_task_name(name)[0])
    task_hp = hp
    if name in hp.task_max_seq_length:  # e.g. short multiple-choice inputs beside long QA windows
      task_hp = ml_collections.ConfigDict({**hp.to_dict(), "max_seq_length": hp.task_max_seq_length[name]})
    task, spec, labels = train_task(ctx, name, task_hp, spec.head_name, ctx.config.seed + 10 + i)
    if task.head not in model.head_specs:
      model.add_head(task.head, head_spec(spec, labels), rngs=rngs)
    tasks.append(task)
  if with_mlm:
    tasks += [train_task(ctx, f"mlm:{lang}", hp, "mlm", ctx.config.seed + 100 + i)[0]
              for i, lang in enumerate(ctx.config.mlm.languages)]
  steps = total_steps(tasks, hp)
  result = loop.train(model, tasks, loop_config(ctx, hp, steps, (hp.sampler, hp.sampler_cap, hp.sampler_temperature)),
                      exp, ctx.mesh, ctx.rules, phase="intermediate")
  export(_encoder_of(result.model), out, ctx, extra={"steps": result.step, "tasks": names},
         checkpoints=exp / "checkpoints" / "intermediate")
  return str(out)


def _encoder_of(model: XLMRModel) -> XLMRModel:
  """The same encoder without heads (what phase 2 and retrieval start from)."""
  graphdef, state = nnx.split(model)
  bare = nnx.eval_shape(lambda: XLMRModel(model.cfg, {}, dtype=model.dtype, rngs=nnx.Rngs(0)))
  bare_graphdef, bare_state = nnx.split(bare)
  nnx.replace_by_pure_dict(bare_state, {"encoder": nnx.to_pure_dict(state["encoder"]), "heads": {}})
  return nnx.merge(bare_graphdef, bare_state)


def target_groups(ctx: Context) -> list[list[str]]:
  """Targets grouped by what trains them: xquad and mlqa both fine-tune on SQuAD v1.1 once,
  unless their hyper-parameters differ."""
  groups: dict[tuple, list[str]] = {}
  for target in ctx.config.targets.tasks:
    spec = get_task(target)
    if spec.format != "retrieval":
      key = (spec.train_task or spec.name, json.dumps(target_hparams(ctx, target).to_dict(), sort_keys=True))
      groups.setdefault(key, []).append(target)
  return list(groups.values())


def target_dir(exp: Path, targets: list[str]) -> Path:
  return exp / "phases" / ("target-" + "+".join(targets))


def target_hparams(ctx: Context, target: str):
  hp = ml_collections.ConfigDict(ctx.config.targets.defaults.to_dict())
  if target in ctx.config.targets.per_task:
    hp.update(dict(ctx.config.targets.per_task[target]))
  return hp


def phase_target(ctx: Context, exp: Path, start: str, targets: list[str]) -> Path:
  """Phase 2: fine-tune on the English training data of a target, fresh head, early stopping
  on the training task's English dev set; the best checkpoint is kept."""
  spec = get_task(targets[0])
  train_name = spec.train_task or spec.name
  out = target_dir(exp, targets)
  if is_done(out):
    return out
  hp = target_hparams(ctx, targets[0])
  banner(f"phase 2: fine-tuning on English {train_name} for {', '.join(targets)}")
  model = load_hf(start, head="encoder", dtype=ctx.dtype, seed=ctx.config.seed)
  task, train_spec, labels = train_task(ctx, train_name, hp, "target", ctx.config.seed + 1000)
  eval_spec = dataclasses.replace(train_spec, labels=labels) if labels != train_spec.labels else train_spec
  model.add_head("target", head_spec(train_spec, labels), rngs=nnx.Rngs(ctx.config.seed + 2))
  dev_split = "dev" if "dev" in train_spec.eval_splits else train_spec.eval_splits[0]
  dev = load_task(eval_spec, "en", dev_split, ctx.tokenizer, ctx.data, hp.max_seq_length, ctx.read_report,
                  limit=hp.eval_subset)

  def score(current: XLMRModel, step: int) -> float:
    predictor = Predictor(current, ctx.mesh, ctx.batch_rows(ctx.config.eval.batch_size), ctx.rules)
    result, _ = evaluate_task(predictor, eval_spec, dev[0], dev[1], "en", head="target")
    return M.main_score(eval_spec.metric, result)

  steps = total_steps([task], hp)
  result = loop.train(model, [task], loop_config(ctx, hp, steps), exp, ctx.mesh, ctx.rules,
                      phase=out.name, score_fn=score if hp.eval_every else None)
  export(result.model, out, ctx, head="target", label_names=labels or None,
         extra={"steps": result.step, "best_dev_score": result.best_score, "stopped_early": result.stopped_early,
                "train_task": train_name, "targets": targets, "labels": list(labels)},
         checkpoints=exp / "checkpoints" / out.name)
  return out


def eval_split(spec: TaskSpec, wanted: str) -> str:
  return wanted if wanted in spec.eval_splits else spec.eval_splits[-1]


def phase_eval(ctx: Context, exp: Path, target: str, model_dir: Path, encoder_dir: str) -> dict:
  """Phase 3: zero-shot evaluation of one target in every language -> {lang: metrics}."""
  out = exp / "eval" / f"{target}.json"
  if out.exists():
    return read_json(out)
  langs = ctx.config.targets.languages.get(target, None)
  spec = get_task(target, list(langs) if langs else None)
  split = eval_split(spec, ctx.config.eval.split)
  retrieval = spec.format == "retrieval"
  if retrieval:
    model = load_hf(encoder_dir, head="encoder", dtype=ctx.dtype)
    layer = min(ctx.config.model.retrieval_layer, model.cfg.num_hidden_layers)
  else:
    info = read_json(model_dir / "xstilts.json")
    if info.get("labels"):
      spec = dataclasses.replace(spec, labels=tuple(info["labels"]))
    model = load_hf(str(model_dir), head=HEAD_OF_FORMAT[spec.format], head_name="target", dtype=ctx.dtype)
    layer = None
  length = (ctx.config.eval.retrieval_max_seq_length or None) if retrieval else target_hparams(ctx, target).max_seq_length
  predictor = Predictor(model, ctx.mesh, ctx.batch_rows(ctx.config.eval.batch_size), ctx.rules)
  languages = [l for l in spec.languages if not (retrieval and l == "en")]
  results, skipped = {}, {}
  from tqdm.auto import tqdm
  for lang in tqdm(languages, desc=f"eval {target} ({split})", unit="lang", disable=not is_main()):
    if target == "udpos" and split == "dev" and lang in UDPOS_NO_DEV:
      skipped[lang] = "UDPOS has no dev set in this language"
      continue
    threshold = None
    if spec.metric == "bucc_f1" and split != "dev":  # the threshold chosen on dev is reused on test
      corpus, feats = load_task(spec, lang, "dev", ctx.tokenizer, ctx.data, length, ctx.read_report)
      threshold = evaluate_task(predictor, spec, corpus, feats, lang, retrieval_layer=layer)[0]["threshold"]
    examples, feats = load_task(spec, lang, split, ctx.tokenizer, ctx.data, length, ctx.read_report)
    metrics, predictions = evaluate_task(predictor, spec, examples, feats, lang, head="target",
                                         retrieval_layer=layer, bucc_threshold=threshold,
                                         qa_answer_text=ctx.config.eval.qa_answer_text, tokenizer=ctx.tokenizer)
    results[lang] = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    if ctx.config.eval.write_predictions and is_main():
      write_predictions(exp / "predictions" / target / prediction_file_name(spec, lang, split), spec, predictions)
  record = {"split": split, "metric": spec.metric, "languages": results, "skipped": skipped}
  write_json_atomic(out, record)
  sync(f"eval:{out}")
  return record


# ----------------------------------------------------------------------------- results


def task_embeddings(ctx: Context, names: list[str], limit: int = 256) -> dict[str, list[float]]:
  """TextEmb (Vu et al. 2020): the mean-pooled last-layer embedding of up to `limit` English
  training examples of each task, from the base encoder (before any phase-1 training)."""
  missing = [n for n in names if n not in ctx.task_embeddings and get_task(parse_task_name(n)[0]).format != "retrieval"]
  if missing:
    model = load_hf(ctx.base_checkpoint, head="encoder", dtype=ctx.dtype)
    predictor = Predictor(model, ctx.mesh, ctx.batch_rows(ctx.config.eval.batch_size), ctx.rules)
  for name in missing:
    task_name, language = parse_task_name(name)
    examples, _ = load_task(get_task(task_name), language, "train", ctx.tokenizer, ctx.data, 128, ctx.read_report,
                            limit=limit)
    sentences = [SentenceExample(str(i), t) for i, t in enumerate(example_texts(examples))]
    feats = F.retrieval_features(sentences, ctx.tokenizer, 128)
    ctx.task_embeddings[name] = np.asarray(predictor(feats, "retrieval")).mean(axis=0).tolist()
  return {n: ctx.task_embeddings[n] for n in names if n in ctx.task_embeddings}


def task_diversity(ctx: Context, names: list[str], limit: int = 2000) -> dict[str, dict]:
  try:
    from xstilts_jax.data.diversity import text_diversity
  except ImportError:
    return {}
  out = {}
  for name in names:
    task_name, language = parse_task_name(name)
    spec = get_task(task_name)
    examples, _ = load_task(spec, language, "train", ctx.tokenizer, ctx.data, 128, ctx.read_report, limit=limit)
    out[name] = text_diversity(example_texts(examples))
  return out


def results_table(results: dict, baseline: Optional[dict] = None) -> str:
  """Markdown: one row per target task, one column per language, the task's main number."""
  lines = []
  for task, rec in results["tasks"].items():
    langs = list(rec["languages"])
    head = f"| {task} ({rec['metric']}) | " + " | ".join(langs) + " | avg |"
    lines += [head, "|" + "---|" * (len(langs) + 2)]

    def row(r, name):
      vals = [M.main_score(r["metric"], r["languages"][l]) if l in r["languages"] else float("nan") for l in langs]
      return f"| {name} | " + " | ".join(f"{v:.1f}" for v in vals) + f" | {np.nanmean(vals):.1f} |", vals

    text, mine = row(rec, results["experiment"])
    lines.append(text)
    if baseline and task in baseline["tasks"]:
      btext, base = row(baseline["tasks"][task], "baseline")
      delta = [a - b for a, b in zip(mine, base)]
      lines += [btext, "| delta | " + " | ".join(f"{d:+.1f}" for d in delta) + f" | {np.nanmean(delta):+.1f} |"]
    lines.append("")
  score = results["xtreme"]["overall"]
  lines.append(f"XTREME-style score over these tasks and languages: {score:.1f}" if score is not None else "")
  if baseline and baseline["xtreme"]["overall"] is not None and score is not None:
    lines.append(f"baseline: {baseline['xtreme']['overall']:.1f}  (delta {score - baseline['xtreme']['overall']:+.1f})")
  return "\n".join(lines) + "\n"


def run_experiment(ctx: Context, name: str, exp: Path, intermediate: list[str], start: str) -> dict:
  exp.mkdir(parents=True, exist_ok=True)
  config = ml_collections.ConfigDict(ctx.config.to_dict())
  config.intermediate.tasks = intermediate
  config.name = name
  check_saved_config(exp / "config.json", config)
  if (exp / "results.json").exists():
    return read_json(exp / "results.json")
  ctx.read_report = ReadReport()  # rows skipped while reading this experiment's data

  encoder = phase_intermediate(ctx, exp, start) if intermediate else start
  models = {}
  for targets in target_groups(ctx):
    model_dir = phase_target(ctx, exp, encoder, targets)
    models.update({t: model_dir for t in targets})

  banner(f"phase 3: zero-shot evaluation ({name})")
  tasks, splits = {}, {}
  for target in ctx.config.targets.tasks:
    rec = phase_eval(ctx, exp, target, models.get(target), encoder)
    average = {}
    for key in {k for scores in rec["languages"].values() for k in scores}:
      average[key] = float(np.mean([s[key] for s in rec["languages"].values() if key in s]))
    tasks[target] = {"metric": rec["metric"], "languages": rec["languages"], "average": average,
                     "skipped": rec.get("skipped", {})}
    splits[target] = rec["split"]
  languages = {t: list(r["languages"]) for t, r in tasks.items()} if ctx.synthetic_languages else None
  xtreme = M.xtreme_score({t: r["languages"] for t, r in tasks.items()}, languages)
  trained = list(intermediate) + [get_task(t).train_task or t for t in ctx.config.targets.tasks
                                  if get_task(t).format != "retrieval"]
  # What this run did, not what the config asked of the experiment (a baseline does no MLM beside).
  mlm_first = list(ctx.config.mlm.languages) if start != ctx.base_checkpoint else []
  beside = bool(intermediate) and ctx.config.intermediate.mlm_beside
  mlm_beside = list(ctx.config.mlm.languages) if beside else []
  results = {
      "schema": 1, "experiment": name, "intermediate": list(intermediate),
      "mlm_languages": mlm_first + mlm_beside, "mlm_beside": bool(mlm_beside),
      "mlm": {"first": mlm_first, "beside": mlm_beside},
      "translated": any(":" in t for t in intermediate), "seed": ctx.config.seed,
      "model": ctx.config.model.checkpoint or "built: " + str(ctx.root / "pretrained"),
      "data": "synthetic" if ctx.synthetic_languages else "xtreme", "eval_split": splits, "tasks": tasks,
      "xtreme": xtreme, "languages": ctx.synthetic_languages or {},
      "task_embeddings": task_embeddings(ctx, sorted(set(trained))),
      "task_diversity": task_diversity(ctx, list(intermediate)),
      "skipped_rows": dict(ctx.read_report.skipped),
      "qa_answer_text": ctx.config.eval.qa_answer_text,  # span-QA answer text: offsets | xtreme
  }
  write_json_atomic(exp / "results.json", results)
  return results


def check_saved_config(path: Path, config: ml_collections.ConfigDict) -> None:
  """The config of a workdir is written once; a different one on resume is an error, not an overwrite."""
  resolved = json.loads(config.to_json_best_effort())
  resolved.pop("workdir", None)
  if path.exists():
    saved = json.loads(path.read_text())
    saved.pop("workdir", None)
    if saved != resolved:
      diff = sorted(k for k in set(_flat(saved)) | set(_flat(resolved)) if _flat(saved).get(k) != _flat(resolved).get(k))
      raise ConfigError(f"{path}: this workdir was started with another config (differs in {', '.join(diff[:5])}); "
                        "use a new --workdir")
  else:
    write_json_atomic(path, resolved)


def _flat(d: dict, prefix: str = "") -> dict:
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flat(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def run(config: ml_collections.ConfigDict, workdir: str) -> dict:
  """Run the experiment of `config` (and its baseline when asked) in `workdir`; returns results."""
  check_config(config)
  if "://" in workdir:
    raise ConfigError(f"workdir {workdir}: give a directory path; for a bucket, mount it (gcsfuse, as "
                      "launch/tpu_setup.sh --bucket does) and pass the mount path")
  root = Path(workdir)
  root.mkdir(parents=True, exist_ok=True)
  check_saved_config(root / "config.json", config)  # before any phase, shared ones included
  d = config.distributed
  shd.maybe_initialize_distributed(d.coordinator or None, d.num_processes or None,
                                   d.process_id if d.process_id >= 0 else None)
  mesh = shd.make_mesh(dict(config.mesh))
  rules = tuple((name, tuple(axes)) for name, axes in config.sharding_rules)
  data = DataSource(config.data.source, config.data.data_dir, config.data.tfds_data_dir,
                    config.data.cache_dir or str(root / "cache"))
  ctx = Context(config, root, mesh, rules, data)

  if config.data.synthetic.enabled:
    data_dir = root / "data"
    if is_main() and not (data_dir / "manifest.json").exists():
      banner("writing the synthetic languages' data in the original formats")
      from xstilts_jax.demo.synthetic import write_synthetic_data
      write_synthetic_data(data_dir, seed=config.data.synthetic.seed, sizes=dict(config.data.synthetic.sizes),
                           languages=list(config.data.synthetic.languages))
    sync("synthetic-data")
    manifest = read_json(data_dir / "manifest.json")
    ctx.data = dataclasses.replace(ctx.data, data_dir=str(data_dir))
    ctx.synthetic_languages = {code: {"distance_to_en": lang["distance_to_en"], "features": lang["features"]}
                               for code, lang in manifest["languages"].items()}

  if config.model.build.enabled:
    ctx.base_checkpoint = phase_pretrain(ctx)
  else:
    ctx.base_checkpoint = config.model.checkpoint
    ctx.tokenizer = load_tokenizer(_local_dir(config.model.tokenizer or config.model.checkpoint))
  start = phase_mlm(ctx) if config.mlm.languages and not config.intermediate.mlm_beside else ctx.base_checkpoint

  intermediate = list(config.intermediate.tasks)
  main = run_experiment(ctx, config.name, root / config.name, intermediate, start)
  baseline = None
  if config.baseline and intermediate:
    baseline = run_experiment(ctx, "baseline", root / "baseline", [], start)
  table = results_table(main, baseline)
  write_text_atomic(root / config.name / "results.md", table)
  if baseline:
    write_text_atomic(root / "comparison.md", table)
  if is_main():
    print("\n" + table, flush=True)
  if config.report and baseline and is_main():
    try:
      from xstilts_jax.analysis.report import build_report
      path = build_report([root / config.name], root / "baseline", root / "report")
      print(f"report: {path}")
    except ImportError:
      log.warning("analysis package not available; no report written")
  return main


def _local_dir(name: str) -> str:
  """A local directory for a hub id or path (tokenizer files come with the checkpoint)."""
  if Path(name).is_dir():
    return name
  return str(resolve_checkpoint(name))
