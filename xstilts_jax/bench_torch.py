"""The PyTorch peer of `xstilts bench`: transformers' XLM-R train step, with no JAX in sight.

This file imports nothing of JAX (nor the xstilts_jax package, whose __init__ does), so
`python xstilts_jax/bench_torch.py ...`, run by path, measures the peer in a fresh process
away from the JAX runtime's threads, which slow a torch step that shares their process. It
prints one JSON object: {"step_s": seconds per step, "jax_loaded": false}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

MODEL_FIELDS = (
    "vocab_size",
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "max_position_embeddings",
)


def make_batch(vocab_size: int, batch: int, seq: int) -> dict[str, np.ndarray]:
  """The benchmark's batch (both sides train on this one): random tokens after `<s>`, 3 labels."""
  rng = np.random.default_rng(0)
  ids = rng.integers(4, vocab_size, size=(batch, seq)).astype(np.int32)
  ids[:, 0] = 0
  return {
      "input_ids": ids,
      "attention_mask": np.ones_like(ids),
      "label": rng.integers(0, 3, batch).astype(np.int32),
      "mask": np.ones(batch, np.int32),
  }


def torch_step_seconds(model_fields: dict, batch: int, seq: int, steps: int) -> float:
  """Seconds per train step of XLMRobertaForSequenceClassification: AdamW with jiant's
  no-decay groups, global-norm clipping, dropout on, on every core."""
  import torch
  import transformers

  torch.set_num_threads(os.cpu_count() or 1)
  torch.manual_seed(0)
  hf = transformers.XLMRobertaConfig(**model_fields, num_labels=3, type_vocab_size=1)
  model = transformers.XLMRobertaForSequenceClassification(hf).train()
  no_decay = [p for n, p in model.named_parameters() if n.endswith("bias") or "LayerNorm" in n]
  decay = [p for n, p in model.named_parameters() if not (n.endswith("bias") or "LayerNorm" in n)]
  opt = torch.optim.AdamW(
      [{"params": decay, "weight_decay": 0.01}, {"params": no_decay, "weight_decay": 0.0}], lr=1e-5, eps=1e-8
  )
  b = make_batch(model_fields["vocab_size"], batch, seq)
  inputs = dict(
      input_ids=torch.tensor(b["input_ids"], dtype=torch.long),
      attention_mask=torch.tensor(b["attention_mask"], dtype=torch.long),
      labels=torch.tensor(b["label"], dtype=torch.long),
  )

  def one():
    loss = model(**inputs).loss
    opt.zero_grad()
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()

  one()
  one()
  start = time.perf_counter()
  for _ in range(steps):
    one()
  return (time.perf_counter() - start) / steps


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--model", required=True, help="JSON object of " + ", ".join(MODEL_FIELDS))
  p.add_argument("--batch", type=int, required=True)
  p.add_argument("--seq", type=int, required=True)
  p.add_argument("--steps", type=int, required=True)
  args = p.parse_args()
  seconds = torch_step_seconds(json.loads(args.model), args.batch, args.seq, args.steps)
  print(json.dumps({"step_s": seconds, "jax_loaded": "jax" in sys.modules}))


if __name__ == "__main__":
  main()
