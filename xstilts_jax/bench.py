"""`xstilts bench`: train-step throughput of the JAX model against transformers' PyTorch one.

Both sides train XLMRobertaForSequenceClassification-shaped models of the same size on the
same batch, with AdamW, dropout on (JAX on every local device, torch on every core). The
PyTorch peer is timed twice: in a fresh process of its own (xstilts_jax/bench_torch.py run
by path, no JAX loaded: the fair figure, `ratio_jax_over_torch_fresh`) and in this process after JAX
(whose runtime threads slow it: `ratio_jax_over_torch`). Model FLOP utilisation is measured
against a plain float32 matmul timed in the same run, so the figure is comparable across
machines without a datasheet peak.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time

from flax import nnx
import jax
import jax.numpy as jnp

from xstilts_jax import bench_torch
from xstilts_jax import sharding as shd
from xstilts_jax.bench_torch import MODEL_FIELDS, make_batch
from xstilts_jax.errors import ConfigError
from xstilts_jax.models.xlmr import HeadSpec, XLMRConfig, XLMRModel, count_params
from xstilts_jax.train import optim
from xstilts_jax.train import state as train_state
from xstilts_jax.train import steps as train_steps

SIZES = {
    "tiny": dict(vocab_size=8000, hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512),
    "base": dict(
        vocab_size=250002, hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072
    ),
    "large": dict(
        vocab_size=250002, hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096
    ),
}


def train_flops(cfg: XLMRConfig, batch: int, seq: int) -> float:
  """6 x (non-embedding parameters) x tokens, plus attention scores and values (forward + backward)."""
  h, layers = cfg.hidden_size, cfg.num_hidden_layers
  per_layer = 4 * h * h + 2 * h * cfg.intermediate_size
  tokens = batch * seq
  return 6.0 * layers * per_layer * tokens + 12.0 * layers * h * seq * tokens


def _timed(fn, steps: int) -> float:
  start = time.perf_counter()
  for _ in range(steps):
    fn()
  return (time.perf_counter() - start) / steps


def matmul_flops_per_sec(n: int = 1024, repeats: int = 10) -> float:
  a = jnp.ones((n, n), jnp.float32)
  f = jax.jit(lambda x: x @ x)
  f(a).block_until_ready()
  seconds = _timed(lambda: f(a).block_until_ready(), repeats)
  return 2.0 * n**3 / seconds


def _batch(cfg: XLMRConfig, batch: int, seq: int):
  return make_batch(cfg.vocab_size, batch, seq)


def jax_step_seconds(cfg: XLMRConfig, batch: int, seq: int, steps: int) -> tuple[float, float]:
  # No activation constraints: the step timed is the one this benchmark has always timed.
  partitioner = shd.Partitioner.from_config({"data": -1, "fsdp": 1, "tensor": 1}, constrain_activations=False)
  if batch % partitioner.batch_divisor():
    raise ConfigError(f"--batch {batch} does not split over {partitioner.batch_divisor()} devices")
  model = XLMRModel(cfg, {"cls": HeadSpec("classification", 3)}, rngs=nnx.Rngs(0))
  ocfg = optim.OptimizerConfig(learning_rate=1e-5, total_steps=1000)
  tx = optim.make_transform(ocfg)
  layout, state, shardings = train_state.create_state(model, tx, partitioner)
  step = train_steps.jit_train_step(
      train_steps.make_train_step(layout, "cls", "classification", tx, optim.make_schedule(ocfg), 1.0, 1, partitioner),
      shardings,
      partitioner,
  )
  data = partitioner.global_batch(_batch(cfg, batch, seq))
  box = {"state": state}

  def one():
    box["state"], metrics = step(box["state"], data)
    metrics["loss"].block_until_ready()

  start = time.perf_counter()
  one()  # compiles
  compile_seconds = time.perf_counter() - start
  one()
  return _timed(one, steps), compile_seconds


def _torch_missing() -> ConfigError:
  return ConfigError("the benchmark's peer is transformers' PyTorch model: pip install torch==2.13.0")


def torch_step_seconds(cfg: XLMRConfig, batch: int, seq: int, steps: int) -> float:
  """The PyTorch peer in this process (after JAX has run here)."""
  try:
    from xstilts_jax.bench_torch import torch_step_seconds as peer

    return peer({k: getattr(cfg, k) for k in MODEL_FIELDS}, batch, seq, steps)
  except ImportError:
    raise _torch_missing() from None


def torch_fresh_step_seconds(cfg: XLMRConfig, batch: int, seq: int, steps: int) -> float:
  """The PyTorch peer in a fresh process that never loads JAX."""
  fields = json.dumps({k: getattr(cfg, k) for k in MODEL_FIELDS})
  out = subprocess.run(
      [
          sys.executable,
          bench_torch.__file__,
          "--model",
          fields,
          "--batch",
          str(batch),
          "--seq",
          str(seq),
          "--steps",
          str(steps),
      ],
      capture_output=True,
      text=True,
  )
  if out.returncode != 0:
    if "ModuleNotFoundError" in out.stderr and ("torch" in out.stderr or "transformers" in out.stderr):
      raise _torch_missing()
    raise RuntimeError(f"the fresh-process PyTorch peer failed (exit {out.returncode}): {out.stderr[-2000:]}")
  report = json.loads(out.stdout.strip().splitlines()[-1])
  if report["jax_loaded"]:
    raise RuntimeError("the fresh-process PyTorch peer loaded JAX")
  return float(report["step_s"])


def main(size: str, batch: int, seq: int, steps: int = 5) -> dict:
  if size not in SIZES:
    raise ConfigError(f"--size {size!r} is not one of {', '.join(SIZES)}")
  cfg = XLMRConfig(**SIZES[size], max_position_embeddings=max(514, seq + 2))
  fresh_seconds = torch_fresh_step_seconds(cfg, batch, seq, steps)  # first, while nothing else runs
  jax_seconds, compile_seconds = jax_step_seconds(cfg, batch, seq, steps)
  torch_seconds = torch_step_seconds(cfg, batch, seq, steps)
  tokens = batch * seq
  flops = train_flops(cfg, batch, seq)
  matmul = matmul_flops_per_sec()
  return {
      "size": size,
      "batch": batch,
      "seq": seq,
      "steps_timed": steps,
      "devices": jax.device_count(),
      "backend": jax.default_backend(),
      "params": count_params(XLMRModel(cfg, {"cls": HeadSpec("classification", 3)}, rngs=nnx.Rngs(0)))
      if size == "tiny"
      else None,
      "jax_step_ms": 1e3 * jax_seconds,
      "jax_compile_s": compile_seconds,
      "jax_tokens_per_sec": tokens / jax_seconds,
      "torch_step_ms": 1e3 * torch_seconds,
      "torch_tokens_per_sec": tokens / torch_seconds,
      "ratio_jax_over_torch": torch_seconds / jax_seconds,
      "torch_fresh_step_ms": 1e3 * fresh_seconds,
      "torch_fresh_tokens_per_sec": tokens / fresh_seconds,
      "ratio_jax_over_torch_fresh": fresh_seconds / jax_seconds,
      "model_tflops_per_sec": flops / jax_seconds / 1e12,
      "matmul_tflops_per_sec": matmul / 1e12,
      "mfu_vs_matmul": flops / jax_seconds / matmul,
      "torch_mfu_vs_matmul": flops / torch_seconds / matmul,
      "torch_fresh_mfu_vs_matmul": flops / fresh_seconds / matmul,
  }
