"""The whole `xstilts run` as two jax.distributed processes (gloo CPU collectives over loopback)
gives what one process gives: results.json, every phase's exported weights and the prediction
files. Both runs see two devices (one process with two, or two with one each) so the mesh and
the per-device programs are the same and the results are expected to be identical."""

import json
import os
from pathlib import Path
import socket
import subprocess
import sys

import numpy as np

# The quick demo with fewer steps and targets, still through every phase: synthetic data and
# tokenizer, pretraining, phase 0 (MLM), phase 1 (two tasks), phase 2 with dev evaluations,
# and phase 3 with classification, span QA and both retrieval tasks (BUCC's dev threshold).
ARGS = [
    "run",
    "--config",
    "demo:quick",
    "--config.baseline=false",
    "--config.report=false",
    "--config.targets.tasks=xnli,xquad,tatoeba,bucc2018",
    "--config.model.build.pretrain.max_steps=12",
    "--config.mlm.phase.max_steps=6",
    "--config.intermediate.max_steps=12",
    "--config.targets.defaults.max_steps=8",
    "--config.targets.defaults.eval_every=4",
    "--config.save_every=4",
]


def _env(devices: int) -> dict:
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"
  env["JAX_PLATFORMS"] = "cpu"
  return env


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def _start(workdir: Path, devices: int, *distributed: str) -> subprocess.Popen:
  return subprocess.Popen(
      [sys.executable, "-m", "xstilts_jax.cli", *ARGS, *distributed, "--workdir", str(workdir)],
      env=_env(devices),
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
  )


def _finish(proc: subprocess.Popen) -> str:
  out, err = proc.communicate(timeout=1200)
  assert proc.returncode == 0, err[-4000:]
  return out


def _tensors(path: Path) -> dict:
  from safetensors.numpy import load_file

  return load_file(str(path))


def test_two_processes_run_the_whole_pipeline_to_the_results_of_one(tmp_path):
  one, two = tmp_path / "one", tmp_path / "two"
  _finish(_start(one, 2))
  port = _free_port()
  procs = [
      _start(
          two,
          1,
          f"--config.distributed.coordinator=127.0.0.1:{port}",
          "--config.distributed.num_processes=2",
          f"--config.distributed.process_id={i}",
      )
      for i in range(2)
  ]
  outs = [_finish(p) for p in procs]
  assert "| xnli (accuracy) |" in outs[0] and "| xnli (accuracy) |" not in outs[1]  # process 0 reports

  a = json.loads((one / "demo" / "results.json").read_text())
  b = json.loads((two / "demo" / "results.json").read_text())
  for results, root in ((a, one), (b, two)):
    assert results.pop("model") == f"built: {root / 'pretrained'}"
    del results["fingerprint"]  # it covers the workdir paths
  assert set(a["tasks"]) == {"xnli", "xquad", "tatoeba", "bucc2018"}
  assert a == b

  assert (one / "tokenizer" / "tokenizer.json").read_bytes() == (two / "tokenizer" / "tokenizer.json").read_bytes()
  phases = ["pretrained", "phases/mlm-qs+qc", "demo/phases/intermediate", "demo/phases/target-xnli"]
  phases.append("demo/phases/target-xquad")
  for phase in phases:
    assert (two / phase / "DONE").exists(), phase
    x, y = _tensors(one / phase / "model.safetensors"), _tensors(two / phase / "model.safetensors")
    assert x.keys() == y.keys(), phase
    for name in x:
      np.testing.assert_array_equal(x[name], y[name], err_msg=f"{phase}: {name}")
    info = json.loads((two / phase / "xstilts.json").read_text())
    assert info == json.loads((one / phase / "xstilts.json").read_text()), phase
  # the training steps and dev scores logged along the way are the same too
  keep = ("phase", "step", "task", "loss", "grad_norm", "score")
  for log in ("metrics.jsonl", "demo/metrics.jsonl"):  # pretraining and phase 0; phases 1 and 2
    rows = [{k: r.get(k) for k in keep} for r in map(json.loads, (one / log).read_text().splitlines())]
    assert rows == [{k: r.get(k) for k in keep} for r in map(json.loads, (two / log).read_text().splitlines())]
  assert any(r["task"] == "dev" for r in rows)  # dev evaluations ran in the fine-tunings
  for path in sorted((one / "demo" / "predictions").rglob("*")):
    if path.is_file():
      assert path.read_bytes() == (two / path.relative_to(one)).read_bytes(), path
