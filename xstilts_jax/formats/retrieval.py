"""Sentence retrieval (BUCC, Tatoeba): mean-pooled embeddings of the encoder, no head."""

from xstilts_jax.data import features as F
from xstilts_jax.evaluation import evaluate, score
from xstilts_jax.formats.base import Format

FORMAT = Format(
    name="retrieval",
    head_kind="encoder",
    # Called once per side of the corpus, on its sentences.
    features=lambda spec, sentences, tokenizer, length: F.retrieval_features(sentences, tokenizer, length),
    text=lambda ex: ex.text,
    evaluate=evaluate.evaluate_retrieval,
    write=evaluate.retrieval_text,
    score=score.score_retrieval,
    encoder_only=True,
)
