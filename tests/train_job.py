"""A tiny two-task training run used by the tests as a separate process (kill/resume, multi-host).

python tests/train_job.py WORKDIR --devices 4 --mesh 2,2,1 --steps 12 --save-every 2 [--coordinator 127.0.0.1:PORT --num-processes 2 --process-id 0]
Writes WORKDIR/final.npz with every parameter and prints the step losses as JSON on the last line.
A project error (XstiltsError) is also written to WORKDIR/error.txt, so a test can read it whole:
orbax's background threads may write to stderr at the same moment and split the line there.
"""

import argparse
import json
import os
import sys


def main():
  p = argparse.ArgumentParser()
  p.add_argument("workdir")
  p.add_argument("--devices", type=int, default=1)
  p.add_argument("--mesh", default="1,1,1")
  p.add_argument("--steps", type=int, default=12)
  p.add_argument("--save-every", type=int, default=2)
  p.add_argument("--coordinator")
  p.add_argument("--num-processes", type=int)
  p.add_argument("--process-id", type=int)
  p.add_argument("--step-sleep", type=float, default=0.0)
  p.add_argument("--async-checkpoints", action="store_true")
  p.add_argument("--lr", type=float, default=1e-3)
  a = p.parse_args()
  os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={a.devices}"

  from flax import nnx
  import jax
  import numpy as np

  from xstilts_jax import sharding as shd
  from xstilts_jax.data.batches import TrainBatches
  from xstilts_jax.models.xlmr import HeadSpec, XLMRConfig, XLMRModel
  from xstilts_jax.train import loop, optim

  shd.maybe_initialize_distributed(
      a.coordinator, a.num_processes, a.process_id, cpu_collectives="gloo" if a.coordinator else None
  )
  cfg = XLMRConfig(
      vocab_size=64,
      hidden_size=32,
      num_hidden_layers=2,
      num_attention_heads=4,
      intermediate_size=64,
      max_position_embeddings=40,
  )  # dropout 0.1: keys must line up too
  model = XLMRModel(cfg, {"cls": HeadSpec("classification", 3), "tag": HeadSpec("tagging", 5)}, rngs=nnx.Rngs(0))

  rng = np.random.default_rng(0)
  ids = rng.integers(3, 64, size=(40, 16)).astype(np.int32)
  ids[:, 0], ids[:, -4:] = 0, 1
  mask = (ids != 1).astype(np.int32)
  cls_features = {"input_ids": ids, "attention_mask": mask, "label": rng.integers(0, 3, 40).astype(np.int32)}
  tag_features = {
      "input_ids": ids,
      "attention_mask": mask,
      "label_ids": np.where(mask == 1, rng.integers(0, 5, ids.shape), -100).astype(np.int32),
  }

  import time

  class Slow(TrainBatches):  # lets the kill test catch the run between checkpoints

    def __next__(self):
      time.sleep(a.step_sleep)
      return super().__next__()

  tasks = [
      loop.TrainTask("cls", "cls", "classification", Slow(cls_features, 8, seed=1), 40),
      loop.TrainTask("tag", "tag", "tagging", Slow(tag_features, 4, seed=2), 20, accum_steps=2),
  ]
  partitioner = shd.Partitioner.from_config(dict(zip(shd.MESH_AXES, map(int, a.mesh.split(",")))))
  cfg_loop = loop.LoopConfig(
      total_steps=a.steps,
      optimizer=optim.OptimizerConfig(learning_rate=a.lr, total_steps=a.steps),
      seed=3,
      log_every=1,
      save_every=a.save_every,
      async_checkpoints=a.async_checkpoints,
  )
  result = loop.train(model, tasks, cfg_loop, a.workdir, partitioner, phase="intermediate")
  from xstilts_jax.train.state import ModelLayout

  layout = ModelLayout.of(result.model)
  params = {n: shd.to_host(v) for n, v in layout.flat(result.model).items()}
  if jax.process_index() == 0:
    import io

    from xstilts_jax import paths  # the workdir may be a gs:// URL

    buffer = io.BytesIO()
    np.savez(buffer, **params)
    (paths.as_path(a.workdir) / "final.npz").write_bytes(buffer.getvalue())
    text = (paths.as_path(a.workdir) / "metrics.jsonl").read_text()
    losses = [json.loads(l)["loss"] for l in text.splitlines() if '"loss"' in l]
    print(json.dumps(losses))
  sys.stdout.flush()


if __name__ == "__main__":
  try:
    main()
  except Exception as e:
    from xstilts_jax.errors import XstiltsError

    if not isinstance(e, XstiltsError):
      raise
    from xstilts_jax import paths

    (paths.as_path(sys.argv[1]) / "error.txt").write_text(f"{type(e).__name__}: {e}\n")
    raise
