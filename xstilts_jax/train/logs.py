"""Training logs: `<workdir>/metrics.jsonl`, clu writers (TensorBoard + console) and progress.

Only process 0 writes files; every process may call the methods. On a `gs://` workdir (no append
there) `metrics.jsonl` is rewritten whole at each record, so no logged line is lost, and the
TensorBoard event files are written to a local directory and copied to the workdir at each
record and at the end (clu's writer goes through TensorFlow's GCS client, which the tests here
cannot reach).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import shutil
import tempfile
import time
from typing import Mapping, Optional

import jax

from xstilts_jax import paths


class JsonLines:
  """A JSON-lines file that is only ever added to: appended locally; on gs:// the object is
  rewritten whole with the new line (its earlier content read once, when first added to)."""

  def __init__(self, path: str | os.PathLike):
    self.path = paths.as_path(path)
    self.remote = paths.is_remote(self.path)
    self._text: Optional[str] = None  # the object's content, gs:// only

  def add(self, record: dict) -> None:
    line = json.dumps(record) + "\n"
    if not self.remote:
      with open(self.path, "a") as f:
        f.write(line)
      return
    if self._text is None:
      self._text = self.path.read_text() if self.path.exists() else ""
      if self._text and not self._text.endswith("\n"):
        self._text += "\n"
    self._text += line
    self.path.write_text(self._text)


class MetricLogger:

  def __init__(
      self, workdir: str | Path, phase: str, total_steps: int, tensorboard: bool = True, progress: bool = True
  ):
    self.phase, self.total_steps = phase, total_steps
    self.is_main = jax.process_index() == 0
    workdir = paths.as_path(workdir)
    self.path = workdir / "metrics.jsonl"
    self._lines = JsonLines(self.path)
    self._writer = None
    self._report = None
    self._tb_dir = workdir / "tensorboard" / phase
    self._tb_local: Optional[Path] = None  # events written here first when the workdir is gs://
    if self.is_main and tensorboard:
      from clu import metric_writers, periodic_actions

      if paths.is_remote(workdir):
        self._tb_local = Path(tempfile.mkdtemp(prefix=f"xstilts-tensorboard-{phase}-"))
      self._writer = metric_writers.create_default_writer(
          str(self._tb_local or self._tb_dir), just_logging=False, asynchronous=False
      )
      self._report = periodic_actions.ReportProgress(
          num_train_steps=total_steps, writer=self._writer, every_secs=None, every_steps=None
      )
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
    rate = {
        "steps_per_sec": steps_done / max(now - self._t0, 1e-9),
        "tokens_per_sec": self._tokens / max(now - self._t0, 1e-9),
    }
    rate["eta_sec"] = (self.total_steps - step) / max(rate["steps_per_sec"], 1e-9)
    self._t0, self._tokens, self._last_step = now, 0, step
    record = {
        "phase": self.phase,
        "step": step,
        "task": task,
        **{k: float(v) for k, v in scalars.items()},
        **rate,
        **(extra or {}),
    }
    self._lines.add(record)
    if self._writer is not None:
      self._writer.write_scalars(step, {f"{task}/{k}": float(v) for k, v in scalars.items()})
      self._copy_events()
    if self._bar is not None:
      self._bar.set_postfix(
          {"task": task, **{k: f"{float(v):.4f}" for k, v in scalars.items() if k in ("loss", "score")}}
      )

  def close(self) -> None:
    if self._bar is not None:
      self._bar.close()
    if self._writer is not None:
      self._writer.flush()
      self._writer.close()
      self._copy_events(flushed=True)
      if self._tb_local is not None:
        shutil.rmtree(self._tb_local, ignore_errors=True)

  def _copy_events(self, flushed: bool = False) -> None:
    """Copy the local event files to the gs:// workdir (nothing to do for a local workdir)."""
    if self._tb_local is None:
      return
    if not flushed:
      self._writer.flush()
    paths.copy_tree(self._tb_local, self._tb_dir)
