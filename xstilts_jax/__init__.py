"""xstilts_jax: X-STILTs (English intermediate-task training for zero-shot cross-lingual
transfer, Phang et al. 2020) in JAX/Flax, for Cloud TPU VMs and GPU machines."""

from xstilts_jax.models import export_hf, load_hf

__version__ = "0.1.0"
__all__ = ["load_hf", "export_hf", "__version__"]
