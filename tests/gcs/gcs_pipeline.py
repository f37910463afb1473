"""`xstilts run --config demo:quick` on a gs:// workdir (the emulator) equals the same run on a
local workdir; `xstilts export --workdir gs://...` and `xstilts report gs://...` read from the
bucket; a run stopped by SIGTERM on gs:// resumes there to the same results. The local run is the
suite's (tests/conftest.py's demo_quick_run), whose folder tests/test_gcs.py passes in
XSTILTS_LOCAL_DEMO."""

from __future__ import annotations

import json
import os
from pathlib import Path
import subprocess
import sys
import time

import numpy as np
import pytest
from resume_check import assert_same_results
from safetensors.numpy import load as load_safetensors

from xstilts_jax import paths
from xstilts_jax.train.checkpoint import COMMIT_MARK

QUICK = ["run", "--config", "demo:quick", "--config.save_every=10", "--config.report=false"]
WORKDIR = "gs://xstilts-test/demo-quick"  # the bucket tests/gcs/conftest.py makes


@pytest.fixture(scope="module")
def mirror(tmp_path_factory) -> Path:
  """The local copies of gs:// objects the runs make (paths.local_copy), kept out of /tmp."""
  return tmp_path_factory.mktemp("mirror")


def xstilts(mirror: Path, *args: str, timeout: int = 300, cwd=None) -> subprocess.CompletedProcess:
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  env.update(JAX_PLATFORMS="cpu", XSTILTS_GS_MIRROR=str(mirror))
  return subprocess.run(
      [sys.executable, "-m", "xstilts_jax.cli", *args],
      env=env,
      capture_output=True,
      text=True,
      timeout=timeout,
      cwd=cwd,
  )


@pytest.fixture(scope="module")
def local_demo() -> Path:
  where = os.environ.get("XSTILTS_LOCAL_DEMO", "")
  if not where or not (Path(where) / "demo" / "results.json").is_file():
    pytest.fail(
        f"XSTILTS_LOCAL_DEMO={where!r}: not a finished local demo:quick run (tests/test_gcs.py passes one)",
        pytrace=False,
    )
  return Path(where)


@pytest.fixture(scope="module")
def gs_demo(mirror, tmp_path_factory) -> str:
  cwd = tmp_path_factory.mktemp("cwd")
  done = xstilts(mirror, *QUICK, "--workdir", WORKDIR, timeout=1500, cwd=cwd)
  assert done.returncode == 0, done.stderr[-4000:]
  # nothing went to a local folder named after the URL (pathlib.Path of an epath gs:// path is /gs/...)
  assert not any(cwd.iterdir()) and not Path("/gs/xstilts-test/demo-quick").exists()
  return WORKDIR


def _gs(url: str) -> paths.AnyPath:
  return paths.as_path(url)


def test_demo_on_gs_equals_the_local_run(gs_demo, local_demo):
  """A second fresh run (its own data, tokenizer, pretraining), in another process and on
  gs://, equals the session's local run number for number: one seed, one result (this is also
  the suite's "two fresh runs give the same results.json" test; only the paths differ)."""
  root = _gs(gs_demo)
  for exp in ("demo", "baseline"):
    local = json.loads((local_demo / exp / "results.json").read_text())
    remote = json.loads((root / exp / "results.json").read_text())
    assert local.pop("model") == f"built: {local_demo / 'pretrained'}"
    assert remote.pop("model") == f"built: {gs_demo}/pretrained"
    del local["fingerprint"], remote["fingerprint"]  # it covers the paths
    assert remote == local, exp
  assert (root / "demo" / "results.md").read_text() == (local_demo / "demo" / "results.md").read_text()
  assert (root / "comparison.md").read_text() == (local_demo / "comparison.md").read_text()
  # the files the run wrote through the path layer: tokenizer, data, exports, predictions, cache
  for rel in (
      "tokenizer/tokenizer.json",
      "data/manifest.json",
      "data/xnli/XNLI-1.0/xnli.test.tsv",
      "demo/predictions/xnli/test-qs.tsv",
      "demo/predictions/xquad/test-qc.json",
      "demo/eval/panx.json",
  ):
    assert (root / rel).read_bytes() == (local_demo / rel).read_bytes(), rel
  for phase in ("pretrained", "phases/mlm-qs+qc", "demo/phases/intermediate", "demo/phases/target-xnli"):
    assert (root / phase / "DONE").exists(), phase
    assert (root / phase / "tokenizer.json").read_bytes() == (local_demo / phase / "tokenizer.json").read_bytes()
  # the feature cache: the same entries (their hashes cover the data files' local paths)
  cached = sorted(p.name.rsplit("-", 1)[0] for p in (root / "cache").iterdir())
  assert cached and cached == sorted(p.name.rsplit("-", 1)[0] for p in (local_demo / "cache").iterdir())
  assert not (root / "LOCK").exists()
  # every logged step (losses, learning rates, dev scores); the speeds are the machine's
  logged = [_without_speed(root / "demo" / "metrics.jsonl"), _without_speed(local_demo / "demo" / "metrics.jsonl")]
  assert logged[0] and logged[0] == logged[1]


def _without_speed(path) -> list[dict]:
  speed = ("steps_per_sec", "tokens_per_sec", "eta_sec")
  return [{k: v for k, v in json.loads(l).items() if k not in speed} for l in path.read_text().splitlines()]


def test_export_reads_a_gs_workdir(gs_demo, mirror, tmp_path):
  out = tmp_path / "hf"
  done = xstilts(
      mirror, "export", "--workdir", gs_demo, "--phase", "target:xnli", "--experiment", "demo", "--out", str(out)
  )
  assert done.returncode == 0, done.stderr[-3000:]
  phase = _gs(gs_demo) / "demo" / "phases" / "target-xnli"
  assert done.stdout.strip().endswith(f"from {phase}"), done.stdout
  written = load_safetensors((out / "model.safetensors").read_bytes())
  saved = load_safetensors((phase / "model.safetensors").read_bytes())
  assert written.keys() == saved.keys()
  for k in saved:
    np.testing.assert_array_equal(written[k], saved[k], err_msg=k)
  assert json.loads((out / "config.json").read_text())["id2label"]["0"] == "contradiction"
  assert (out / "tokenizer.json").read_bytes() == (phase / "tokenizer.json").read_bytes()
  refused = xstilts(mirror, "export", "--workdir", gs_demo, "--phase", "intermediate", "--out", f"{gs_demo}/x")
  assert refused.returncode == 2 and "give a local directory" in refused.stderr, refused.stderr[-2000:]


def test_report_reads_and_writes_gs(gs_demo, local_demo, mirror, tmp_path):
  local_out, remote_out = tmp_path / "local", f"{gs_demo}/report"
  for workdir, out in ((str(local_demo), str(local_out)), (gs_demo, remote_out)):
    done = xstilts(mirror, "report", f"{workdir}/demo", "--baseline", f"{workdir}/baseline", "--out", out)
    assert done.returncode == 0, done.stderr[-3000:]
  answers = json.loads((_gs(remote_out) / "answers.json").read_text())
  assert answers == json.loads((local_out / "answers.json").read_text())
  assert sorted(answers) == ["q1", "q2", "q3", "q4", "q5"]
  assert "hellaswag+squad_v1" in (_gs(remote_out) / "report.md").read_text()
  assert sorted(p.name for p in _gs(remote_out).glob("*.png")) == sorted(p.name for p in local_out.glob("*.png"))
  # a sweep root on gs:// (results.json found at any depth below it)
  done = xstilts(mirror, "report", gs_demo, "--baseline", f"{gs_demo}/baseline", "--out", str(tmp_path / "root"))
  assert done.returncode == 0, done.stderr[-3000:]
  assert json.loads((tmp_path / "root" / "answers.json").read_text()) == answers


def _committed(url: str) -> list[int]:
  """The checkpoint steps orbax finished (commit_success.txt) under `url`."""
  root = _gs(url)
  if not root.exists():
    return []
  return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit() and (p / COMMIT_MARK).exists())


def test_killed_on_gs_then_taken_over_resumes_to_the_same_results(gs_demo, local_demo, mirror):
  """SIGKILL in phase 1 on a gs:// workdir, after a checkpoint is committed there: the run's claim
  stays behind, so the same command is refused naming the dead holder and --take-over-lock; with
  the flag it resumes from the checkpoint to the local run's results (SIGTERM's save-and-exit 75
  is the same code on any workdir: tests/test_pipeline.py and tests/test_train.py). Phase 1's inputs are the gs:// run's (data,
  tokenizer, pretrained model, phase 0), copied object by object, with its finished baseline experiment (phase 1
  does not touch it: the resumed run checks its fingerprints and keeps it)."""
  import gcsfs

  workdir = f"{gs_demo}-resumed"
  fs = gcsfs.GCSFileSystem()
  for name in ("data", "tokenizer", "pretrained", "phases", "baseline", "config.json"):
    src = f"{gs_demo}/{name}"[len("gs://") :]
    for obj in fs.find(src):
      fs.copy(obj, workdir[len("gs://") :] + obj[len(gs_demo) - len("gs://") :])
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  env.update(JAX_PLATFORMS="cpu", XSTILTS_GS_MIRROR=str(mirror))
  proc = subprocess.Popen(
      [sys.executable, "-m", "xstilts_jax.cli", *QUICK, "--workdir", workdir],
      env=env,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
  )
  ckpts = f"{workdir}/demo/checkpoints/intermediate"
  deadline = time.time() + 600
  while time.time() < deadline and proc.poll() is None and not _committed(ckpts):
    time.sleep(0.5)
  assert proc.poll() is None, "the run ended before a phase-1 checkpoint was committed"
  proc.kill()
  proc.communicate(timeout=60)
  root = _gs(workdir)
  assert _committed(ckpts), "no phase-1 checkpoint on gs:// before the kill"
  assert not (root / "demo" / "phases" / "intermediate" / "DONE").exists(), "phase 1 finished before the kill"
  assert (root / "LOCK").exists(), "a killed run cannot release its claim"
  refused = xstilts(mirror, *QUICK, "--workdir", workdir, timeout=300)
  assert refused.returncode == 2 and f"pid {proc.pid}" in refused.stderr, refused.stderr[-3000:]
  assert "--take-over-lock" in refused.stderr.strip().splitlines()[-1]
  done = xstilts(mirror, *QUICK, "--workdir", workdir, "--take-over-lock", timeout=1200)
  assert done.returncode == 0, done.stderr[-4000:]
  assert_same_results(local_demo, root)
