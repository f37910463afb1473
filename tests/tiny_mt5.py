"""The tiny mT5 the engine, Adafactor and text-to-text tests train: dimensions that a (2, 2, 2)
mesh divides, so its parameters really are split there; no dropout, so steps are comparable."""

from xstilts_jax.models.mt5 import MT5Config

TINY_MT5 = MT5Config(
    vocab_size=96,
    d_model=16,
    d_kv=4,
    num_heads=4,
    d_ff=32,
    num_layers=2,
    num_decoder_layers=2,
    relative_attention_num_buckets=8,
    relative_attention_max_distance=20,
    dropout_rate=0.0,
)
