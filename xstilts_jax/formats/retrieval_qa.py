"""XTREME-R's LAReQA: language-agnostic answer retrieval with a dual encoder.

Trained headless (the in-batch softmax loss, train/dual_encoder.py) on (question, answer
sentence + paragraph) pairs of squad_retrieval; evaluated by evaluation/dual_encoder.py on
one language's questions against the whole multilingual pool (mAP@20). Its prediction
output is a folder of the question and candidate encodings (XTREME-R's file names), which
`xstilts score --task lareqa` reads.
"""

from __future__ import annotations

from pathlib import Path

from xstilts_jax.data.retrieval_qa import LAREQA_QUERY_LENGTH, pair_features, pool_features
from xstilts_jax.evaluation.dual_encoder import evaluate_dual_encoder_task, write_lareqa_encodings
from xstilts_jax.evaluation.score_retrieval import score_retrieval_files
from xstilts_jax.formats.base import Format

TRAIN_KEYS = ("query_input_ids", "query_attention_mask", "candidate_input_ids", "candidate_attention_mask")


def score_dual_encoder(spec, predictions_path, gold_path, language=None, strict=False) -> dict:
  return score_retrieval_files(spec, predictions_path, gold_path, language)


def flat_sides(sides: dict) -> dict:
  """{"queries": f, "candidates": g} -> query_* / candidate_* arrays (one flat, cacheable dict)."""
  return {
      **{f"query_{k}": v for k, v in sides["queries"].items()},
      **{f"candidate_{k}": v for k, v in sides["candidates"].items()},
  }


def sides(features: dict) -> dict:
  """The inverse of flat_sides: what evaluation.dual_encoder reads."""
  pick = lambda prefix: {k[len(prefix) :]: v for k, v in features.items() if k.startswith(prefix)}
  return {"queries": pick("query_"), "candidates": pick("candidate_")}


def evaluate_dual_encoder(encoder, spec, examples, features, language, options) -> tuple[dict, object]:
  """`encoder` is an evaluation.dual_encoder.DualEncoder (the pipeline builds one for the
  formats with `dual_encoder`); LAReQA's predictions are (pool, question and candidate encodings)."""
  result, predictions = evaluate_dual_encoder_task(encoder, spec.metric, examples, sides(features))
  if spec.metric == "lareqa_map":
    return result, (examples, *predictions)
  return result, predictions


def _write_encodings(path, spec, predictions) -> Path:
  pool, questions, candidates = predictions
  return write_lareqa_encodings(path, pool, questions, candidates)


FORMAT = Format(
    name="retrieval_qa",
    head_kind="dual_encoder",
    # questions at most XTREME-R's 96 tokens; candidates (sentence, paragraph) the phase's length
    features=lambda spec, pairs, tokenizer, length: pair_features(
        pairs, tokenizer, min(LAREQA_QUERY_LENGTH, length), length
    ),
    eval_features=lambda spec, pool, tokenizer, length: flat_sides(
        pool_features(pool, tokenizer, min(LAREQA_QUERY_LENGTH, length), length)
    ),
    train_keys=TRAIN_KEYS,
    nothing_to_learn="no question with an answer sentence",
    text=lambda pair: f"{pair.query} {pair.candidate}",
    evaluate=evaluate_dual_encoder,
    write_dir=_write_encodings,
    suffix="",
    score=score_dual_encoder,
    dual_encoder=True,
)
