"""The NNX backbones (XLM-R, mT5) and their Hugging Face import and export."""

from xstilts_jax.models.hf import export_hf, load_hf
from xstilts_jax.models.mt5 import MT5Config, MT5Model, greedy_decode, mt5_config
from xstilts_jax.models.xlmr import HEAD_KINDS, HeadSpec, XLMRConfig, XLMRModel, mean_pool


def num_layers(cfg) -> int:
  """The encoder's layer count of an XLMRConfig or an MT5Config."""
  return cfg.num_layers if isinstance(cfg, MT5Config) else cfg.num_hidden_layers


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
    "num_layers",
]
