"""Multiple choice (COPA, SIQA, HellaSwag, ...): one score per choice, the best one wins."""

import numpy as np

from xstilts_jax.data import features as F
from xstilts_jax.evaluation import evaluate, score
from xstilts_jax.formats.base import Format

FORMAT = Format(
    name="multiple_choice",
    head_kind="multiple_choice",
    features=lambda spec, examples, tokenizer, length: F.multiple_choice_features(
        examples, tokenizer, spec.num_choices, length
    ),
    train_keys=("input_ids", "attention_mask", "label"),
    trainable=lambda examples, feats: int((np.asarray(feats["label"]) >= 0).sum()),
    text=lambda ex: f"{ex.context} {ex.choices[ex.label or 0]}",
    evaluate=evaluate.evaluate_multiple_choice,
    write=evaluate.lines_text,
    score=score.score_choices,
)
