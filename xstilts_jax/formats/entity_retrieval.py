"""XTREME-R's Mewsli-X: entity retrieval for mentions in context, with a dual encoder.

Trained and evaluated by the dual-encoder path (train/dual_encoder.py,
evaluation/dual_encoder.py); its prediction file is JSON {example id: top-20 entity ids}.
"""

from xstilts_jax.formats.base import Format
from xstilts_jax.formats.retrieval_qa import score_dual_encoder

FORMAT = Format(name="entity_retrieval", head_kind="dual_encoder", score=score_dual_encoder)
