"""Token tagging (UD-POS, PAN-X, CCG): a label on the first piece of each word."""

import numpy as np

from xstilts_jax.data import features as F
from xstilts_jax.evaluation import evaluate, score
from xstilts_jax.formats.base import Format

FORMAT = Format(
    name="tagging",
    head_kind="tagging",
    features=lambda spec, examples, tokenizer, length: F.tagging_features(examples, tokenizer, spec.labels, length),
    train_keys=("input_ids", "attention_mask", "label_ids"),
    trainable=lambda examples, feats: int((np.asarray(feats["label_ids"]) != F.IGNORE_LABEL).any(axis=-1).sum()),
    text=lambda ex: " ".join(ex.words),
    evaluate=evaluate.evaluate_tagging,
    write=evaluate.tags_text,
    score=score.score_tags,
    labelled=True,
    labels_from_data=True,
)
