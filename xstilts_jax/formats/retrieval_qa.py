"""XTREME-R's LAReQA: language-agnostic answer retrieval with a dual encoder.

Trained and evaluated by the dual-encoder path (train/dual_encoder.py,
evaluation/dual_encoder.py); its prediction files are the question and candidate encodings.
"""

from xstilts_jax.evaluation.score_retrieval import score_retrieval_files
from xstilts_jax.formats.base import Format


def score_dual_encoder(spec, predictions_path, gold_path, language=None, strict=False) -> dict:
  return score_retrieval_files(spec, predictions_path, gold_path, language)


FORMAT = Format(name="retrieval_qa", head_kind="dual_encoder", score=score_dual_encoder)
