"""What the T5 family's fine-tuning recipe adds to the engine, as pure functions.

- `seq2seq_loss`: the teacher-forced sequence loss of a text-to-text batch as the train step
  wants it, (summed token cross-entropy, token count), so accumulation over micro-batches is
  exact (T5X's loss normalised by all target tokens of the batch).
- `text_to_text_batch` / `target_ids`: the batch keys of that loss from token ids (EOS
  appended, truncation that keeps the EOS, right padding), and the target tokens back from
  decoded ids (start, padding and everything from the first EOS on removed).

Adafactor as T5X fine-tunes is train/optim.py's `OptimizerConfig.adafactor`. The loss belongs
beside the losses of train/steps.py; it lives here until that module has a "seq2seq" head kind.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional, Sequence

import jax
import numpy as np

from xstilts_jax.models.mt5 import sequence_loss


def seq2seq_loss(model: Any, batch: Mapping[str, jax.Array], head: str, dropout_rng: Optional[jax.Array] = None):
  """(summed loss, count) for one micro-batch of a seq2seq head.

  Batch keys: input_ids, attention_mask (the source), decoder_input_ids (the target shifted
  right after the start token), decoder_attention_mask, labels (the target; -100 or a 0 in
  decoder_attention_mask marks positions without loss) and mask (real rows).
  """
  logits = model(
      batch["input_ids"],
      batch["attention_mask"],
      decoder_input_ids=batch["decoder_input_ids"],
      decoder_attention_mask=batch["decoder_attention_mask"],
      head=head,
      dropout_rng=dropout_rng,
  )
  valid = batch["mask"].astype(bool)[:, None] & batch["decoder_attention_mask"].astype(bool)
  return sequence_loss(logits, batch["labels"], valid & (batch["labels"] >= 0))


def text_to_text_batch(
    sources: Sequence[Sequence[int]],
    targets: Sequence[Sequence[int]],
    max_source: int,
    max_target: int,
    pad_id: int = 0,
    eos_id: int = 1,
    decoder_start_id: int = 0,
) -> dict[str, np.ndarray]:
  """The keys `seq2seq_loss` reads, for token ids without EOS (T5's tokenizers append it).

  A sequence longer than its maximum keeps its first max - 1 tokens and the EOS, as the
  tokenizer's truncation does; labels are -100 past the target's end.
  """
  if len(sources) != len(targets):
    raise ValueError(f"{len(sources)} sources but {len(targets)} targets")
  rows = len(sources)
  ids = np.full((rows, max_source), pad_id, np.int32)
  source_mask = np.zeros((rows, max_source), np.int32)
  labels = np.full((rows, max_target), -100, np.int32)
  for r, (src, tgt) in enumerate(zip(sources, targets)):
    src = list(src)[: max_source - 1] + [eos_id]
    tgt = list(tgt)[: max_target - 1] + [eos_id]
    ids[r, : len(src)], source_mask[r, : len(src)] = src, 1
    labels[r, : len(tgt)] = tgt
  shifted = np.where(labels == -100, pad_id, labels)[:, :-1]
  decoder_input_ids = np.concatenate([np.full((rows, 1), decoder_start_id, np.int32), shifted], 1)
  return {
      "input_ids": ids,
      "attention_mask": source_mask,
      "decoder_input_ids": decoder_input_ids,
      "decoder_attention_mask": (labels != -100).astype(np.int32),
      "labels": labels,
      "mask": np.ones(rows, np.int32),
  }


def target_ids(decoded: np.ndarray, pad_id: int = 0, eos_id: int = 1) -> list[list[int]]:
  """Each row of `greedy_decode`'s output as the target's tokens: position 0 (the start token)
  dropped, cut at the first EOS, padding removed; the tokenizer turns them into text."""
  out = []
  for row in np.asarray(decoded)[:, 1:]:
    tokens = []
    for t in row.tolist():
      if t == eos_id:
        break
      if t != pad_id:
        tokens.append(t)
    out.append(tokens)
  return out
