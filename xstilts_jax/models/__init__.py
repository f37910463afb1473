"""The NNX XLM-R and its Hugging Face import and export."""
from xstilts_jax.models.hf import export_hf, load_hf
from xstilts_jax.models.xlmr import HEAD_KINDS, HeadSpec, XLMRConfig, XLMRModel, mean_pool

__all__ = ["export_hf", "load_hf", "HEAD_KINDS", "HeadSpec", "XLMRConfig", "XLMRModel", "mean_pool"]
