"""Masked language modelling: intermediate training on raw text in any language."""

from typing import Callable

import numpy as np

from xstilts_jax.data import features as F
from xstilts_jax.formats.base import Format


def masking(tokenizer, seed: int) -> Callable:
  """prepare(batch, step): masks the batch's tokens as BERT does, seeded by (seed, step)."""
  special = np.asarray(tokenizer.all_special_ids)

  def prepare(batch, step):
    rng = np.random.default_rng([seed, step, 7])
    ids, labels = F.mask_tokens(
        batch["input_ids"], batch["attention_mask"], rng, len(tokenizer), tokenizer.mask_token_id, special
    )
    return {**batch, "input_ids": ids, "mlm_labels": labels}

  return prepare


FORMAT = Format(
    name="mlm",
    head_kind="mlm",
    features=lambda spec, examples, tokenizer, length: F.mlm_features(examples, tokenizer, length),
    train_keys=("input_ids", "attention_mask"),
    # A row teaches something when it holds more than <s> </s>.
    trainable=lambda examples, feats: int((np.asarray(feats["attention_mask"]).sum(axis=-1) > 2).sum()),
    nothing_to_learn="no text",
    text=lambda ex: ex.text,
    any_language=True,
    host_prepare=masking,
)
