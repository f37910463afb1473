"""The training loop, one readable function: single- or multi-task, resumable, preemption-safe.

Each optimizer step samples one task (examples-proportional, capped, or by temperature; the
choice is a function of the seed and the step, so a resumed run makes the same choices),
draws `accum_steps` micro-batches of it and runs that task's compiled step. Every
`eval_every` steps a score callback from the caller (the pipeline passes the dev-set
evaluation; train/ never imports evaluation/) decides the best checkpoint and early stopping.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
import signal
from typing import Callable, Iterator, Optional, Sequence
import zlib

import jax
import numpy as np

from xstilts_jax import paths
from xstilts_jax.data import batches as B
from xstilts_jax.errors import ConfigError, Preempted, TrainingError
from xstilts_jax.models.xlmr import XLMRModel
from xstilts_jax.sharding import Partitioner
from xstilts_jax.train import optim
from xstilts_jax.train.checkpoint import Checkpointer, abstract_like
from xstilts_jax.train.logs import MetricLogger
from xstilts_jax.train.state import create_state
from xstilts_jax.train.steps import jit_train_step, make_train_step


@dataclasses.dataclass
class TrainTask:
  """One task of a run: its head, and an iterator of global batches with state()/restore()."""

  name: str
  head: str
  kind: str
  batches: Iterator[dict]
  num_examples: int
  accum_steps: int = 1
  prepare: Optional[Callable[[dict, int], dict]] = None  # e.g. MLM masking, seeded by step
  rows_per_micro: int = 0  # pad each micro-batch to this many rows (0: no padding)
  forward_options: dict = dataclasses.field(default_factory=dict)  # train.steps.FORWARDS options (pooling)


@dataclasses.dataclass(frozen=True)
class LoopConfig:
  total_steps: int
  optimizer: optim.OptimizerConfig
  seed: int = 0
  sampler: str = "proportional"  # proportional | temperature | uniform
  sampler_cap: Optional[int] = None  # examples-proportional to min(N, cap)
  sampler_temperature: float = 1.0
  log_every: int = 10
  save_every: int = 500
  eval_every: int = 0  # 0: no evaluation during training
  early_stopping_patience: int = 0  # evaluations without improvement; 0: never stop early
  keep_latest: int = 2  # the one before the latest survives a corrupt latest
  async_checkpoints: bool = True
  fingerprint: str = ""  # what produced the run (config hash): a checkpoint of another is refused

  @classmethod
  def from_phase(
      cls,
      hp,
      total_steps: int,
      optimizer: str = "adamw",
      fingerprint: str = "",
      *,
      moments_dtype: str = "float32",
      seed: int = 0,
      log_every: int = 10,
      save_every: int = 500,
      sampler: str = "proportional",
      sampler_cap: Optional[int] = None,
      sampler_temperature: float = 1.0,
  ) -> "LoopConfig":
    """The loop of one phase's hyper-parameters (a config's `intermediate`, `targets.defaults`, ...
    block: eval_every, early_stopping_patience and the optimizer's, see OptimizerConfig.from_phase);
    the rest is the run's (seed, logging and saving intervals, the fingerprint) or, for several
    tasks, the sampler's (a cap of 0 or None: no cap)."""
    return cls(
        total_steps=total_steps,
        seed=seed,
        optimizer=optim.OptimizerConfig.from_phase(hp, total_steps, optimizer, moments_dtype),
        sampler=sampler,
        sampler_cap=sampler_cap or None,
        sampler_temperature=sampler_temperature,
        log_every=log_every,
        save_every=save_every,
        eval_every=hp.eval_every,
        early_stopping_patience=hp.early_stopping_patience,
        fingerprint=fingerprint,
    )


@dataclasses.dataclass
class TrainResult:
  model: XLMRModel
  step: int
  best_score: Optional[float]
  stopped_early: bool


def task_probabilities(sizes: Sequence[int], method: str, cap: Optional[int], temperature: float) -> np.ndarray:
  sizes = np.asarray(sizes, dtype=np.float64)
  if cap:
    sizes = np.minimum(sizes, cap)
  if method == "uniform":
    p = np.ones_like(sizes)
  elif method == "proportional":
    p = sizes
  elif method == "temperature":
    p = sizes ** (1.0 / temperature)
  else:
    raise ConfigError(f"sampler {method!r} is not one of proportional, temperature, uniform")
  return p / p.sum()


class _Preemption:
  """SIGTERM (what a spot/preemptible VM gets first) becomes a save-and-exit at the next step."""

  def __init__(self):
    self.requested = False
    self._previous = signal.signal(signal.SIGTERM, self._handle)

  def _handle(self, *_):
    self.requested = True

  def restore(self):
    signal.signal(signal.SIGTERM, self._previous)


def check_finite(metrics: dict, phase: str, task: str, step: int) -> None:
  """A non-finite loss or gradient norm ends the run (big_vision's check, on the host)."""
  for key in ("loss", "grad_norm"):
    if key in metrics and not np.isfinite(np.asarray(metrics[key])).all():
      raise TrainingError(
          f"{phase}: {key} is {float(np.asarray(metrics[key]))} at step {step} "
          f"(task {task}); check the learning rate and the data of that task"
      )


def train(
    model: XLMRModel,
    tasks: Sequence[TrainTask],
    cfg: LoopConfig,
    workdir: str | Path,
    partitioner: Partitioner,
    phase: str,
    score_fn: Optional[Callable[[XLMRModel, int], float]] = None,
) -> TrainResult:
  workdir = paths.as_path(workdir)  # a local path or a gs:// URL
  by_name = {t.name: t for t in tasks}
  if len(by_name) != len(tasks):
    raise ConfigError(f"{phase}: a task appears twice in {[t.name for t in tasks]}")
  probs = task_probabilities([t.num_examples for t in tasks], cfg.sampler, cfg.sampler_cap, cfg.sampler_temperature)

  seed = cfg.seed ^ zlib.crc32(phase.encode())  # each phase draws its own dropout masks and task order
  tx = optim.make_transform(cfg.optimizer)
  schedule = optim.make_schedule(cfg.optimizer)
  layout, state, shardings = create_state(model, tx, partitioner)
  steps = {}  # head -> compiled step, built on first use

  ckpt = Checkpointer(
      workdir / "checkpoints" / phase,
      cfg.save_every,
      cfg.keep_latest,
      keep_best=1 if score_fn else 0,
      async_save=cfg.async_checkpoints,
  )
  meta = {
      "batches": {},
      "best_score": None,
      "evals_without_improvement": 0,
      "done": False,
      "fingerprint": cfg.fingerprint,
  }
  start = ckpt.latest_step()
  if start is not None:
    state, meta = ckpt.restore(start, abstract_like(state, shardings))
    if meta.get("fingerprint", "") != cfg.fingerprint:
      raise ConfigError(
          f"{ckpt.directory / str(start)}: checkpoint step {start} of phase {phase} was "
          "written under another config; redo the phase with --restart (xstilts run --help), or run "
          "with the config it was made with"
      )
    for t in tasks:
      t.batches.restore(meta["batches"][t.name])
    logging.info("%s: resumed at step %d", phase, start)
  start = start or 0

  logger = MetricLogger(workdir, phase, cfg.total_steps)
  logger.start(start)
  preemption = _Preemption()
  step = start
  pending = None  # (metrics, task, step) of the previous step, checked once the next is dispatched
  try:
    while step < cfg.total_steps and not meta["done"]:
      task = tasks[np.random.default_rng([seed, step]).choice(len(tasks), p=probs)]
      batch = next(task.batches)
      if task.prepare is not None:
        batch = task.prepare(batch, step)
      real_rows = B.num_rows(batch) // task.accum_steps
      batch = B.micro_batches(batch, task.accum_steps, task.rows_per_micro or real_rows)
      if task.head not in steps:
        steps[task.head] = jit_train_step(
            make_train_step(
                layout,
                task.head,
                task.kind,
                tx,
                schedule,
                cfg.optimizer.grad_clip_norm,
                task.accum_steps,
                partitioner,
                seed,
                task.forward_options,
            ),
            shardings,
            partitioner,
        )
      state, metrics = steps[task.head](state, partitioner.global_batch(batch))
      step += 1
      # The previous step's numbers are ready by now: reading them does not wait for this step.
      if pending is not None:
        check_finite(jax.device_get(pending[0]), phase, pending[1], pending[2])
      pending = (metrics, task.name, step)
      # tokens seen: every attention mask of the batch (the dual encoder's two towers have one each)
      logger.step(step, int(sum(np.asarray(v).sum() for k, v in batch.items() if k.endswith("attention_mask"))))
      if step % cfg.log_every == 0 or step == cfg.total_steps:
        values = jax.device_get(metrics)
        check_finite(values, phase, task.name, step)
        logger.log(step, task.name, values)

      score = None
      if score_fn is not None and cfg.eval_every and (step % cfg.eval_every == 0 or step == cfg.total_steps):
        score = float(score_fn(layout.model(state["params"]), step))
        logger.log(step, "dev", {"score": score})
        if meta["best_score"] is None or score > meta["best_score"]:
          meta["best_score"], meta["evals_without_improvement"] = score, 0
        else:
          meta["evals_without_improvement"] += 1
          if cfg.early_stopping_patience and meta["evals_without_improvement"] >= cfg.early_stopping_patience:
            logging.info("%s: early stop at step %d (best dev score %.4f)", phase, step, meta["best_score"])
            meta["done"] = True
      meta["done"] = meta["done"] or step >= cfg.total_steps
      meta["batches"] = {t.name: t.batches.state() for t in tasks}
      # One host's SIGTERM cannot stop the others; on several hosts orbax's synced check decides.
      preempted = ckpt.reached_preemption(step) or (preemption.requested and jax.process_count() == 1)
      if ckpt.should_save(step) or meta["done"] or preempted or score is not None:
        check_finite(jax.device_get(metrics), phase, task.name, step)  # never save a broken state
      # A scored step is always saved, so the best checkpoint can be any evaluated one.
      ckpt.save(step, state, meta, score=score, force=meta["done"] or preempted or score is not None)
      if preempted:
        ckpt.wait()
        raise Preempted(f"{phase}: preempted at step {step}; checkpoint saved, run the same command to resume")
    ckpt.wait()

    if score_fn is not None and ckpt.best_step() not in (None, step):
      best = ckpt.best_step()
      logging.info("%s: restoring the best checkpoint (step %d, dev score %.4f)", phase, best, meta["best_score"])
      state, _ = ckpt.restore(best, abstract_like(state, shardings))
    return TrainResult(layout.model(state["params"]), step, meta["best_score"], stopped_early=step < cfg.total_steps)
  finally:
    preemption.restore()
    logger.close()
    ckpt.close()


def steps_for(num_examples: int, epochs: float, batch_rows: int) -> int:
  """jiant's count: epochs x ceil(N / effective batch)."""
  return int(math.ceil(epochs * math.ceil(num_examples / batch_rows)))
