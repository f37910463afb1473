"""Features of XTREME-R's dual-encoder formats (retrieval_qa: LAReQA; entity_retrieval:
Mewsli-X): each side tokenised on its own, `<s> text </s>` padded to a fixed length.

Lengths follow XTREME-R's scripts: LAReQA questions 96 tokens and candidates (sentence +
paragraph) 256 (train_lareqa.sh / run_eval_lareqa.sh); Mewsli-X 64 for both sides
(train_mewslix.sh). Training pairs give query_* and candidate_* arrays, row i of one side
matching row i of the other (in-batch negatives are the other rows).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from xstilts_jax.data.examples import SentenceExample
from xstilts_jax.data.features import encode_mixed_pairs, retrieval_features
from xstilts_jax.data.retrieval_examples import EntityRetrievalSet, RetrievalPair, RetrievalQAPool

LAREQA_QUERY_LENGTH = 96
LAREQA_CANDIDATE_LENGTH = 256
MEWSLIX_LENGTH = 64

Features = dict[str, np.ndarray]


def text_features(texts: Sequence[str], tokenizer, max_seq_length: int) -> Features:
  """input_ids / attention_mask [N, T] of one tower's texts, truncated to T tokens."""
  return retrieval_features([SentenceExample(str(i), t) for i, t in enumerate(texts)], tokenizer, max_seq_length)


def pool_features(
    pool: RetrievalQAPool,
    tokenizer,
    max_query_length: int = LAREQA_QUERY_LENGTH,
    max_candidate_length: int = LAREQA_CANDIDATE_LENGTH,
) -> dict[str, Features]:
  """{"queries": features of the questions, "candidates": of sentence + paragraph}."""
  return {
      "queries": text_features([q.text for q in pool.questions], tokenizer, max_query_length),
      "candidates": text_features([c.text for c in pool.candidates], tokenizer, max_candidate_length),
  }


def entity_features(data: EntityRetrievalSet, tokenizer, max_seq_length: int = MEWSLIX_LENGTH) -> dict[str, Features]:
  """{"queries": the mentions in context, "candidates": the entity descriptions}."""
  return {
      "queries": text_features([m.text for m in data.mentions], tokenizer, max_seq_length),
      "candidates": text_features([e.text for e in data.entities], tokenizer, max_seq_length),
  }


def pair_features(
    pairs: Sequence[RetrievalPair], tokenizer, max_query_length: int, max_candidate_length: int
) -> Features:
  """Training features: query_input_ids / query_attention_mask [N, Tq] and candidate_*
  [N, Tc] of (query, candidate) pairs; a candidate with a `candidate_context` is encoded as the
  pair (candidate, context), truncated longest side first."""
  queries = text_features([p.query for p in pairs], tokenizer, max_query_length)
  contexts = [p.candidate_context or None for p in pairs]
  ids, mask = encode_mixed_pairs(tokenizer, [p.candidate for p in pairs], contexts, max_candidate_length)
  candidates = {"input_ids": ids, "attention_mask": mask}
  return {**{f"query_{k}": v for k, v in queries.items()}, **{f"candidate_{k}": v for k, v in candidates.items()}}
