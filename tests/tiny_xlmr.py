"""The tiny XLM-R the engine and dual-encoder step tests train: dimensions a (2, 2, 2) mesh
divides, so its parameters really are split there; no dropout, so steps are comparable (and
numpy can follow them)."""

from xstilts_jax.models.xlmr import XLMRConfig

TINY_XLMR = XLMRConfig(
    vocab_size=64,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=64,
    max_position_embeddings=40,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
)
