"""Sentence(-pair) classification (XNLI, PAWS-X, the GLUE-style intermediate tasks)."""

import numpy as np

from xstilts_jax.data import features as F
from xstilts_jax.evaluation import evaluate, score
from xstilts_jax.formats.base import Format


def _text(ex) -> str:
  return ex.text_a if ex.text_b is None else f"{ex.text_a} {ex.text_b}"


FORMAT = Format(
    name="classification",
    head_kind="classification",
    features=lambda spec, examples, tokenizer, length: F.classification_features(
        examples, tokenizer, spec.labels, length
    ),
    train_keys=("input_ids", "attention_mask", "label"),
    trainable=lambda examples, feats: int((np.asarray(feats["label"]) >= 0).sum()),
    text=_text,
    evaluate=evaluate.evaluate_classification,
    write=evaluate.lines_text,
    score=score.score_labels,
    labelled=True,
)
