"""XTREME-R's Mewsli-X: entity retrieval for mentions in context, with a dual encoder.

Trained headless (the in-batch softmax loss, train/dual_encoder.py) on mewslix_wikipedia's
(mention in context, entity description) pairs; evaluated by evaluation/dual_encoder.py
(mAP@20 = MRR@20 per language); its prediction file is JSON {example id: top-20 entity ids}.
"""

import json

from xstilts_jax.data.retrieval_qa import entity_features, pair_features
from xstilts_jax.formats.base import Format
from xstilts_jax.formats.retrieval_qa import TRAIN_KEYS, evaluate_dual_encoder, flat_sides, score_dual_encoder

FORMAT = Format(
    name="entity_retrieval",
    head_kind="dual_encoder",
    features=lambda spec, pairs, tokenizer, length: pair_features(pairs, tokenizer, length, length),
    eval_features=lambda spec, data, tokenizer, length: flat_sides(entity_features(data, tokenizer, length)),
    train_keys=TRAIN_KEYS,
    nothing_to_learn="no mention-entity pair",
    text=lambda pair: f"{pair.query} {pair.candidate}",
    evaluate=evaluate_dual_encoder,
    write=lambda spec, predictions: json.dumps(predictions, ensure_ascii=False, indent=1),
    suffix="json",
    score=score_dual_encoder,
    dual_encoder=True,
)
