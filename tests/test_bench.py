"""`xstilts bench` runs both sides and reports its figures (speed is never asserted here)."""
import json
import os
import subprocess
import sys


def test_bench_tiny_reports_both_sides():
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  out = subprocess.run([sys.executable, "-m", "xstilts_jax.cli", "bench", "--size", "tiny", "--batch", "4", "--seq", "32",
                        "--steps", "2"], env=env, capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  report = json.loads(out.stdout)
  for key in ("jax_tokens_per_sec", "torch_tokens_per_sec", "ratio_jax_over_torch", "mfu_vs_matmul",
              "matmul_tflops_per_sec"):
    assert report[key] > 0, key
  assert abs(report["ratio_jax_over_torch"] - report["torch_step_ms"] / report["jax_step_ms"]) < 1e-9
  assert report["size"] == "tiny" and report["batch"] == 4 and report["seq"] == 32
