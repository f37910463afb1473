"""The NNX backbones (XLM-R, mT5) and their Hugging Face import and export."""

from xstilts_jax.models.hf import export_hf, load_hf
from xstilts_jax.models.mt5 import MT5Config, MT5Model, greedy_decode, mt5_config
from xstilts_jax.models.xlmr import HEAD_KINDS, HeadSpec, XLMRConfig, XLMRModel, mean_pool

__all__ = [
    "export_hf",
    "load_hf",
    "HEAD_KINDS",
    "HeadSpec",
    "XLMRConfig",
    "XLMRModel",
    "mean_pool",
    "MT5Config",
    "MT5Model",
    "greedy_decode",
    "mt5_config",
]
