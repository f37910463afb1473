"""The dual encoder's eval step: one jit-compiled step embeds either tower's inputs with the
shared encoder (question and candidate towers are the same weights, as XTREME-R's
BertForRetrieval / XLMRobertaForRetrieval), pooled and L2-normalised.

Pooling (models/pooling.py, shared with the train step): "pooler" = the `<s>` pooler,
XTREME-R's baseline; "cls" = the raw `<s>` hidden state; "mean" = a layer's masked mean.
Batches are padded and sharded as `steps.Predictor` does, so 8 devices give what 1 gives.
"""

from __future__ import annotations

import functools
import io
from pathlib import Path
from typing import Any, Callable, Mapping, Optional

from flax import nnx
import jax
import numpy as np

from xstilts_jax import atomic
from xstilts_jax.data.batches import eval_batches
from xstilts_jax.data.retrieval_examples import EntityRetrievalSet, RetrievalQAPool
from xstilts_jax.errors import ConfigError, DataError
from xstilts_jax.evaluation import retrieval_qa
from xstilts_jax.models.pooling import POOLINGS, check_pooling, pool_and_normalise  # noqa: F401 (re-exported)
from xstilts_jax.models.xlmr import XLMRModel
from xstilts_jax.sharding import Partitioner, to_host

_INPUTS = ("input_ids", "attention_mask")


@functools.lru_cache(maxsize=16)
def make_embed_step(graphdef, pooling: str = "pooler", layer: Optional[int] = None) -> Callable:
  """step(state, batch) -> [B, H] normalised embeddings; cached by model structure."""
  check_pooling(pooling)

  def step(state, batch):
    model = nnx.merge(graphdef, state)
    return pool_and_normalise(model, batch["input_ids"], batch["attention_mask"], pooling, layer)

  return jax.jit(step)


class DualEncoder:
  """Embeds feature sets with one model placed by a partitioner; `embed` is either tower."""

  def __init__(
      self,
      model: XLMRModel,
      partitioner: Partitioner,
      batch_size: int,
      pooling: str = "pooler",
      layer: Optional[int] = None,
  ):
    self.graphdef, state = nnx.split(model)
    self.state = jax.device_put(state, partitioner.param_shardings(state, nnx.get_partition_spec(state)))
    self.partitioner, self.batch_size = partitioner, batch_size
    self.step = make_embed_step(self.graphdef, pooling, layer)

  def embed(self, features: Mapping[str, np.ndarray]) -> np.ndarray:
    """[N, H] float32 embeddings of input_ids / attention_mask [N, T], in row order."""
    inputs = {k: features[k] for k in _INPUTS}
    out = []
    for batch in eval_batches(inputs, self.batch_size):
      real = batch.pop("mask").astype(bool)
      out.append(to_host(self.step(self.state, self.partitioner.global_batch(batch)))[real])
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def evaluate_lareqa(
    encoder: DualEncoder, pool: RetrievalQAPool, features: Mapping[str, Mapping[str, np.ndarray]], search: str = "exact"
) -> dict:
  """mAP@20 of `pool` (features from data.retrieval_qa.pool_features)."""
  q = encoder.embed(features["queries"])
  c = encoder.embed(features["candidates"])
  return retrieval_qa.lareqa_map(q, c, pool.gold, [x.language for x in pool.questions], search=search)


def evaluate_mewslix(
    encoder: DualEncoder,
    data: EntityRetrievalSet,
    features: Mapping[str, Mapping[str, np.ndarray]],
    search: str = "exact",
) -> tuple[dict, dict[str, list[str]]]:
  """(map@20 result, predictions {example_id: top-20 entity ids}) of one language."""
  predictions = retrieval_qa.mewslix_predictions(
      encoder.embed(features["queries"]),
      encoder.embed(features["candidates"]),
      [e.entity_id for e in data.entities],
      [m.example_id for m in data.mentions],
      search=search,
  )
  gold = {m.example_id: m.entity_id for m in data.mentions if m.entity_id is not None}
  return retrieval_qa.mewslix_mrr(gold, predictions), predictions


def evaluate_dual_encoder_task(
    encoder: DualEncoder,
    metric: str,
    examples: Any,
    features: Mapping[str, Mapping[str, np.ndarray]],
    search: str = "exact",
) -> tuple[dict, Any]:
  """(result, predictions) of one language of lareqa ("lareqa_map": predictions are the
  (question, candidate) encodings) or mewslix ("mewslix_map": {example_id: top-20 ids})."""
  if metric == "lareqa_map":
    q, c = encoder.embed(features["queries"]), encoder.embed(features["candidates"])
    result = retrieval_qa.lareqa_map(q, c, examples.gold, [x.language for x in examples.questions], search=search)
    return result, (q, c)
  if metric == "mewslix_map":
    return evaluate_mewslix(encoder, examples, features, search)
  raise ConfigError(f"no dual-encoder evaluation for metric {metric!r}")


def _npy_bytes(array: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  np.save(buffer, np.asarray(array, np.float32))
  return buffer.getvalue()


def write_lareqa_encodings(
    directory: str | Path, pool: RetrievalQAPool, questions: np.ndarray, candidates: np.ndarray
) -> Path:
  """XTREME-R's LAReQA output (what `xstilts score --task lareqa` reads): numpy arrays in
  question_encodings.npz / candidate_encodings_sentences_and_contexts.npz (np.save format,
  XTREME-R's names) beside question_uids.txt / candidate_uids.txt, each written atomically."""
  if len(questions) != len(pool.questions) or len(candidates) != len(pool.candidates):
    raise DataError("encodings and the pool differ in number")
  directory = Path(directory)
  atomic.write_bytes(directory / "question_encodings.npz", _npy_bytes(questions))
  atomic.write_text(directory / "question_uids.txt", "".join(q.uid + "\n" for q in pool.questions))
  atomic.write_bytes(directory / "candidate_encodings_sentences_and_contexts.npz", _npy_bytes(candidates))
  atomic.write_text(directory / "candidate_uids.txt", "".join(c.uid + "\n" for c in pool.candidates))
  return directory
