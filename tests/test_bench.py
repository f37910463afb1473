"""`xstilts bench` runs both sides and reports its figures (speed is never asserted here);
the PyTorch peer also runs in a fresh process that loads no JAX."""

import json
import os
import subprocess
import sys


def test_bench_tiny_reports_both_sides():
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  out = subprocess.run(
      [
          sys.executable,
          "-m",
          "xstilts_jax.cli",
          "bench",
          "--size",
          "tiny",
          "--batch",
          "4",
          "--seq",
          "32",
          "--steps",
          "2",
      ],
      env=env,
      capture_output=True,
      text=True,
      timeout=600,
  )
  assert out.returncode == 0, out.stderr[-3000:]
  report = json.loads(out.stdout)
  for key in (
      "jax_tokens_per_sec",
      "torch_tokens_per_sec",
      "ratio_jax_over_torch",
      "mfu_vs_matmul",
      "matmul_tflops_per_sec",
      "torch_fresh_tokens_per_sec",
      "ratio_jax_over_torch_fresh",
  ):
    assert report[key] > 0, key
  assert abs(report["ratio_jax_over_torch"] - report["torch_step_ms"] / report["jax_step_ms"]) < 1e-9
  assert abs(report["ratio_jax_over_torch_fresh"] - report["torch_fresh_step_ms"] / report["jax_step_ms"]) < 1e-9
  assert abs(report["torch_fresh_tokens_per_sec"] - 4 * 32 / (report["torch_fresh_step_ms"] / 1e3)) < 1e-6
  assert report["size"] == "tiny" and report["batch"] == 4 and report["seq"] == 32


def test_fresh_peer_loads_no_jax():
  from xstilts_jax import bench_torch

  out = subprocess.run(
      [
          sys.executable,
          bench_torch.__file__,
          "--model",
          json.dumps(
              dict(
                  vocab_size=100,
                  hidden_size=16,
                  num_hidden_layers=1,
                  num_attention_heads=2,
                  intermediate_size=32,
                  max_position_embeddings=40,
              )
          ),
          "--batch",
          "2",
          "--seq",
          "8",
          "--steps",
          "1",
      ],
      capture_output=True,
      text=True,
      timeout=300,
  )
  assert out.returncode == 0, out.stderr[-3000:]
  report = json.loads(out.stdout)
  assert report["jax_loaded"] is False and report["step_s"] > 0
