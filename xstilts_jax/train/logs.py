"""Training logs: `<workdir>/metrics.jsonl`, clu writers (TensorBoard + console) and progress.

Only process 0 writes files; every process may call the methods.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Mapping, Optional

import jax


class MetricLogger:

  def __init__(self, workdir: str | Path, phase: str, total_steps: int, tensorboard: bool = True,
               progress: bool = True):
    self.phase, self.total_steps = phase, total_steps
    self.is_main = jax.process_index() == 0
    self.path = Path(workdir) / "metrics.jsonl"
    self._writer = None
    self._report = None
    if self.is_main and tensorboard:
      from clu import metric_writers, periodic_actions
      self._writer = metric_writers.create_default_writer(
          str(Path(workdir) / "tensorboard" / phase), just_logging=False, asynchronous=False)
      self._report = periodic_actions.ReportProgress(num_train_steps=total_steps, writer=self._writer,
                                                     every_secs=None, every_steps=None)
    self._bar = None
    if self.is_main and progress:
      from tqdm.auto import tqdm
      self._bar = tqdm(total=total_steps, desc=phase, unit="step", dynamic_ncols=True, leave=True)
    self._t0, self._tokens, self._last_step = time.perf_counter(), 0, None

  def start(self, step: int) -> None:
    if self._bar is not None:
      self._bar.n = step
      self._bar.refresh()
    self._last_step = step
    self._t0 = time.perf_counter()

  def step(self, step: int, tokens: int) -> None:
    self._tokens += tokens
    if self._bar is not None:
      self._bar.update(1)
    if self._report is not None:
      self._report(step)

  def log(self, step: int, task: str, scalars: Mapping[str, float], extra: Optional[dict] = None) -> None:
    if not self.is_main:
      return
    now = time.perf_counter()
    steps_done = max(step - (self._last_step or 0), 1)
    rate = {"steps_per_sec": steps_done / max(now - self._t0, 1e-9),
            "tokens_per_sec": self._tokens / max(now - self._t0, 1e-9)}
    rate["eta_sec"] = (self.total_steps - step) / max(rate["steps_per_sec"], 1e-9)
    self._t0, self._tokens, self._last_step = now, 0, step
    record = {"phase": self.phase, "step": step, "task": task,
              **{k: float(v) for k, v in scalars.items()}, **rate, **(extra or {})}
    with open(self.path, "a") as f:
      f.write(json.dumps(record) + "\n")
    if self._writer is not None:
      self._writer.write_scalars(step, {f"{task}/{k}": float(v) for k, v in scalars.items()})
    if self._bar is not None:
      self._bar.set_postfix({"task": task, **{k: f"{float(v):.4f}" for k, v in scalars.items() if k in ("loss", "score")}})

  def close(self) -> None:
    if self._bar is not None:
      self._bar.close()
    if self._writer is not None:
      self._writer.flush()
      self._writer.close()
