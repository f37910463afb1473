"""The workdir lock on gs:// (xstilts_jax/workdir.py's GcsLockStore) against the emulator."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from xstilts_jax import paths
from xstilts_jax import workdir as W


def _dead_pid() -> int:
  proc = subprocess.Popen([sys.executable, "-c", "pass"])
  proc.wait()
  return proc.pid


def test_create_if_absent_is_refused_when_the_object_exists(gs):
  first, second = W.GcsLockStore(gs + "/LOCK"), W.GcsLockStore(gs + "/LOCK")
  assert first.read() is None
  assert first.create("one") and not second.create("two")  # 412 from the generation precondition
  assert second.read() == "one" and first.name() == gs + "/LOCK"
  second.delete()
  assert first.read() is None and second.create("two") and first.read() == "two"
  first.delete()
  first.delete()  # gone already: no error


def test_a_second_run_is_refused_naming_the_holder(gs):
  lock = W.lock_workdir(gs)
  record = json.loads(paths.as_path(gs + "/LOCK").read_text())
  assert record["host"] == socket.gethostname() and record["pid"] == os.getpid()
  with pytest.raises(W.LockHeld) as e:
    W.lock_workdir(gs + "/")
  message = str(e.value)
  assert "\n" not in message and message.startswith(f"{gs}/LOCK: the workdir is in use")
  assert f"pid {os.getpid()}" in message and record["started"] in message
  with pytest.raises(W.LockHeld, match="live run"):  # a live holder is never taken over
    W.lock_workdir(gs, take_over=True)
  lock.release()
  assert not paths.as_path(gs + "/LOCK").exists()
  W.lock_workdir(gs).release()


def test_a_stale_claim_needs_the_flag_and_is_then_taken_over(gs):
  pid = _dead_pid()
  paths.as_path(gs + "/LOCK").write_text(
      json.dumps({"host": socket.gethostname(), "pid": pid, "started": "then", "token": "old"})
  )
  with pytest.raises(W.LockHeld) as e:
    W.lock_workdir(gs)
  assert "gone" in str(e.value) and W.TAKE_OVER_FLAG in str(e.value) and f"pid {pid}" in str(e.value)
  lock = W.lock_workdir(gs, take_over=True)
  assert json.loads(paths.as_path(gs + "/LOCK").read_text())["pid"] == os.getpid()
  lock.release()
  assert not paths.as_path(gs + "/LOCK").exists()


def test_a_claim_from_another_host_is_taken_over_only_with_the_flag(gs):
  paths.as_path(gs + "/LOCK").write_text(json.dumps({"host": "preempted-vm", "pid": 1, "started": "then"}))
  with pytest.raises(W.LockHeld, match=f"host preempted-vm, pid 1, started then.*{W.TAKE_OVER_FLAG}"):
    W.lock_workdir(gs)
  W.lock_workdir(gs, take_over=True).release()


def test_of_two_processes_racing_exactly_one_gets_the_lock(gs):
  script = (
      "import sys, time; from xstilts_jax import workdir as W\n"
      "t = float(sys.argv[2])\n"
      "while time.time() < t: pass\n"
      "try:\n  W.lock_workdir(sys.argv[1]); print('got')\n"
      "except W.LockHeld: print('refused')\n"
  )
  import time

  start = time.time() + 8
  procs = [
      subprocess.Popen([sys.executable, "-c", script, gs, str(start)], stdout=subprocess.PIPE, text=True)
      for _ in range(3)
  ]
  outs = sorted(p.communicate(timeout=120)[0].strip() for p in procs)
  assert outs == ["got", "refused", "refused"], outs
