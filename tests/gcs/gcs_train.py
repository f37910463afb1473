"""Training into a gs:// workdir (the emulator) with the project's loop (tests/train_job.py):
SIGKILL mid-phase then resume equals an uninterrupted local run, in one process and in two
`jax.distributed` processes (gloo) sharing the workdir; metrics.jsonl keeps every logged step."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from xstilts_jax import paths
from xstilts_jax.train.checkpoint import COMMIT_MARK

JOB = Path(__file__).resolve().parents[1] / "train_job.py"
STEPS = 10


def _job(workdir: str, *args: str) -> subprocess.Popen:
  env = {**os.environ}
  env.pop("XLA_FLAGS", None)
  return subprocess.Popen(
      [sys.executable, str(JOB), workdir, "--steps", str(STEPS), *args],
      env=env,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
  )


def _finish(proc: subprocess.Popen, timeout: int = 400) -> list[float]:
  """The losses process 0 prints on its last line ([] for another process)."""
  out, err = proc.communicate(timeout=timeout)
  assert proc.returncode == 0, err[-3000:]
  last = out.strip().splitlines()[-1] if out.strip() else ""
  return json.loads(last) if last.startswith("[") and not last.startswith("[Gloo]") else []


def _final(workdir: str) -> dict:
  return dict(np.load(io.BytesIO((paths.as_path(workdir) / "final.npz").read_bytes())))


def _committed(workdir: str) -> list[int]:
  root = paths.as_path(workdir) / "checkpoints" / "intermediate"
  if not root.exists():
    return []
  return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit() and (p / COMMIT_MARK).exists())


def _kill_after_a_checkpoint(procs: list[subprocess.Popen], workdir: str) -> list[int]:
  deadline = time.time() + 300
  while time.time() < deadline and not any(s >= 4 for s in _committed(workdir)):
    assert all(p.poll() is None for p in procs), [p.communicate()[1][-2000:] for p in procs]
    time.sleep(0.5)
  for p in procs:
    p.send_signal(signal.SIGKILL)
    p.communicate()
  saved = _committed(workdir)
  assert saved and max(saved) < STEPS, f"the run was not killed mid-way (checkpoints {saved})"
  return saved


def _logged_steps(workdir: str) -> list[int]:
  text = (paths.as_path(workdir) / "metrics.jsonl").read_text()
  return [r["step"] for r in map(json.loads, text.splitlines()) if "loss" in r]


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory):
  """The same phase uninterrupted, one process, on a local workdir."""
  workdir = str(tmp_path_factory.mktemp("uninterrupted"))
  losses = _finish(_job(workdir, "--devices", "4", "--mesh", "2,2,1"))
  return losses, dict(np.load(Path(workdir) / "final.npz"))


def _assert_same_params(final: dict, reference: dict, atol: float) -> None:
  assert final.keys() == reference.keys()
  for k, v in reference.items():
    np.testing.assert_allclose(final[k], v, atol=atol, err_msg=k)


def test_sigkill_then_resume_on_gs_equals_uninterrupted(reference_run, gs):
  ref_losses, ref_params = reference_run
  saved = _kill_after_a_checkpoint([_job(gs, "--devices", "4", "--mesh", "2,2,1", "--step-sleep", "0.7")], gs)
  before = _logged_steps(gs)
  assert before and max(before) >= max(saved)  # the killed run's lines are on gs:// already
  resumed = _finish(_job(gs, "--devices", "4", "--mesh", "2,2,1"))
  _assert_same_params(_final(gs), ref_params, 1e-6)
  steps = _logged_steps(gs)
  assert steps[: len(before)] == before and set(steps) == set(range(1, STEPS + 1)), steps
  np.testing.assert_allclose(resumed[-(STEPS - max(saved)) :], ref_losses[max(saved) :], rtol=1e-5)


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _two(gs: str, *extra: str) -> list[subprocess.Popen]:
  port = _free_port()
  return [
      _job(
          gs,
          "--devices",
          "2",
          "--mesh",
          "2,2,1",
          "--coordinator",
          f"127.0.0.1:{port}",
          "--num-processes",
          "2",
          "--process-id",
          str(i),
          *extra,
      )
      for i in range(2)
  ]


def test_two_processes_train_into_one_gs_workdir_and_resume(reference_run, gs):
  ref_losses, ref_params = reference_run
  saved = _kill_after_a_checkpoint(_two(gs, "--step-sleep", "0.7"), gs)
  procs = _two(gs)
  outs = [_finish(p) for p in procs]
  _assert_same_params(_final(gs), ref_params, 1e-5)
  np.testing.assert_allclose(outs[0][-(STEPS - max(saved)) :], ref_losses[max(saved) :], rtol=1e-5)
  assert set(_logged_steps(gs)) == set(range(1, STEPS + 1))
