"""The gs:// tests (tests/gcs/gcs_*.py), each run against a GCS emulator inside a network
namespace that has only loopback (`unshare -n`, as root), so that no client can reach anything
but 127.0.0.1 whatever it is configured to do. The inner files fail, never skip, outside it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
import re
import shlex
import subprocess
import sys

import pytest

REPO = Path(__file__).resolve().parents[1]
INNER = sorted((REPO / "tests" / "gcs").glob("gcs_*.py"))
# Compared with the session's local demo:quick run (tests/conftest.py), which it is given.
PIPELINE = "gcs_pipeline.py"


def _run_in_namespace(script: str, timeout: int) -> subprocess.CompletedProcess:
  return subprocess.run(
      ["unshare", "-n", "bash", "-c", f"ip link set lo up && {script}"],
      cwd=REPO,
      capture_output=True,
      text=True,
      timeout=timeout,
  )


def _counts(output: str) -> dict[str, int]:
  """pytest's summary line as {outcome: count}."""
  last = [line for line in output.splitlines() if re.search(r"\d+ (passed|failed|error)", line)]
  return {k: int(n) for n, k in re.findall(r"(\d+) (\w+)", last[-1])} if last else {}


def test_the_inner_files_exist():
  assert [p.name for p in INNER] == [
      "gcs_checkpoint.py",
      "gcs_lock.py",
      "gcs_paths.py",
      "gcs_pipeline.py",
      "gcs_train.py",
  ]


def _run_inner(inner: str, timeout: int = 900, env: str = "") -> None:
  """Run one inner file in the namespace; every one of its tests must pass."""
  path = REPO / "tests" / "gcs" / inner
  expected = len(re.findall(r"^def test_", path.read_text(), flags=re.M))
  proc = _run_in_namespace(
      f"{env} exec {sys.executable} -m pytest -q -p no:cacheprovider -rs tests/gcs/{inner}", timeout=timeout
  )
  out = proc.stdout + proc.stderr
  assert proc.returncode == 0, out[-6000:]
  counts = _counts(proc.stdout)
  assert counts.get("passed") == expected and set(counts) <= {"passed", "warning", "warnings"}, out[-3000:]


@pytest.mark.parametrize("inner", [p.name for p in INNER if p.name != PIPELINE])
def test_gcs_in_a_loopback_only_namespace(inner):
  _run_inner(inner)


def test_the_pipeline_on_gs_in_a_loopback_only_namespace(demo_quick_run):
  """`xstilts run/export/report` on gs:// (tests/gcs/gcs_pipeline.py), against the local run."""
  workdir, _ = demo_quick_run
  _run_inner(PIPELINE, timeout=1800, env=f"XSTILTS_LOCAL_DEMO={shlex.quote(str(workdir))}")


def test_the_guard_sees_an_interface_that_is_up():
  """The inner files' guard (tests/gcs/conftest.py): a veth interface brought up inside a fresh
  namespace is reported, loopback alone is not."""
  spec = importlib.util.spec_from_file_location("gcs_conftest", REPO / "tests" / "gcs" / "conftest.py")
  assert spec is not None
  code = (
      f"import importlib.util, sys; s = importlib.util.spec_from_file_location('c', "
      f"'{spec.origin}'); m = importlib.util.module_from_spec(s); s.loader.exec_module(m); "
      "print(m.interfaces_up())"
  )
  alone = _run_in_namespace(f'{sys.executable} -c "{code}"', timeout=120)
  assert alone.returncode == 0 and alone.stdout.strip() == "[]", alone.stderr[-2000:]
  dummy = _run_in_namespace(
      f"ip link add xs0 type veth peer name xs1 && ip link set xs0 up && " f'{sys.executable} -c "{code}"', timeout=120
  )
  assert dummy.returncode == 0 and dummy.stdout.strip() == "['xs0']", dummy.stderr[-2000:]


def test_an_inner_file_fails_outside_the_namespace_with_an_interface_up():
  """Run in a namespace with a veth interface up, an inner file fails before any client starts."""
  proc = _run_in_namespace(
      f"ip link add xs0 type veth peer name xs1 && ip link set xs0 up && exec "
      f"{sys.executable} -m pytest -q -p no:cacheprovider tests/gcs/gcs_paths.py",
      timeout=300,
  )
  assert proc.returncode != 0 and "network interfaces ['xs0'] are up" in proc.stdout, proc.stdout[-3000:]
