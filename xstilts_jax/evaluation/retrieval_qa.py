"""XTREME-R's language-agnostic retrieval metrics: LAReQA and Mewsli-X mAP@20.

LAReQA (XTREME-R `third_party/utils_lareqa.py`, `mean_avg_prec_at_k` with k=20, as
`evaluate_retrieval.py` calls it): every question of every language is scored against the
whole multilingual candidate pool by inner product; its candidates are ranked by descending
score and AP@k = (sum over the gold candidates within the top k of precision at their rank)
/ min(#gold, k). mAP@20 is the mean over all questions of all languages (one number; the
per-language means are reported beside it).

Mewsli-X (`utils_mewslix.py`, `evaluate` with k=20): each mention has one gold entity, so
AP@20 is the reciprocal rank of the gold entity among the top 20 predictions (0 when absent
or when the mention has no predictions); the task score is the unweighted mean over its
languages (XTREME-R reports mAP@20 x 100).

Ranking: exact inner products in float32, ties broken by the lowest candidate index (the
project's rule, see retrieval_metrics). XTREME-R ranks with numpy's argsort (LAReQA) and
faiss IndexFlatIP (Mewsli-X), whose order among exactly equal scores is
implementation-defined; on distinct scores the rankings are the same.
`search="faiss"` uses faiss-cpu's exact IndexFlatIP for large pools (optional dependency).
"""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np

from xstilts_jax.errors import ConfigError, DataError
from xstilts_jax.evaluation.retrieval_metrics import _top_k, l2_normalize

TOP_K = 20
MEWSLIX_LANGUAGES = tuple("ar de en es fa ja pl ro ta tr uk".split())


def exact_top_k(
    queries: np.ndarray, candidates: np.ndarray, k: int, block_size: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
  """(scores [Q, k], indices [Q, k]): the k largest inner products of each query over the
  candidates, by descending score then ascending index; k is capped at the pool size."""
  queries = np.asarray(queries, np.float32)
  candidates = np.asarray(candidates, np.float32)
  if queries.ndim != 2 or candidates.ndim != 2 or queries.shape[1] != candidates.shape[1]:
    raise DataError(f"embeddings must be [n, d] with equal d, got {queries.shape} and " f"{candidates.shape}")
  k = min(k, len(candidates))
  if k < 1:
    raise DataError("retrieval needs k >= 1 and a non-empty candidate pool")
  scores = np.empty((len(queries), k), np.float32)
  indices = np.empty((len(queries), k), np.int64)
  index_row = np.arange(len(candidates))
  for start in range(0, len(queries), block_size):
    sims = queries[start : start + block_size] @ candidates.T
    scores[start : start + block_size], indices[start : start + block_size] = _top_k(
        sims, np.broadcast_to(index_row, sims.shape), k
    )
  return scores, indices


def faiss_top_k(queries: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
  """The same search with faiss's exact inner-product index (IndexFlatIP), as XTREME-R's
  Mewsli-X evaluation; ties among equal scores are faiss's to order."""
  try:
    import faiss  # pylint: disable=import-outside-toplevel
  except ImportError:
    raise ConfigError("search='faiss' needs faiss-cpu (pip install faiss-cpu)") from None
  candidates = np.ascontiguousarray(candidates, np.float32)
  index = faiss.IndexFlatIP(candidates.shape[1])
  index.add(candidates)
  k = min(k, len(candidates))
  scores, indices = index.search(np.ascontiguousarray(queries, np.float32), k)
  return scores, indices.astype(np.int64)


def top_k(queries: np.ndarray, candidates: np.ndarray, k: int, search: str = "exact") -> tuple[np.ndarray, np.ndarray]:
  """Nearest candidates by inner product: search = "exact" (numpy) or "faiss"."""
  if search == "exact":
    return exact_top_k(queries, candidates, k)
  if search == "faiss":
    return faiss_top_k(queries, candidates, k)
  raise ConfigError(f"unknown retrieval search {search!r} (exact | faiss)")


def average_precision_at_k(gold: Sequence[int], ranking: Sequence[int], k: Optional[int] = TOP_K) -> float:
  """AP@k of one ranked list: sum of precision@i at each gold hit within the first k
  (a repeated prediction counts once), divided by min(#gold, k) (#gold when k is None)."""
  gold = set(int(g) for g in gold)
  if not gold:
    raise DataError("average precision needs at least one gold candidate")
  ranking = [int(r) for r in ranking]
  if k:
    ranking = ranking[:k]
  hits, total, seen = 0, 0.0, set()
  for i, prediction in enumerate(ranking):
    if prediction in gold and prediction not in seen:
      hits += 1
      total += hits / (i + 1)
    seen.add(prediction)
  return total / (min(len(gold), k) if k else len(gold))


def lareqa_map(
    question_embeddings: np.ndarray,
    candidate_embeddings: np.ndarray,
    gold: Sequence[Sequence[int]],
    question_languages: Sequence[str] = (),
    k: int = TOP_K,
    search: str = "exact",
) -> dict:
  """LAReQA mAP@k of question and candidate encodings over the whole pool.

  Returns {"map@20": mean over all questions x 100, "per_language": {lang: mean x 100},
  "num_questions", "num_candidates"} (the key names k). Embeddings are used as given
  (XTREME-R's towers L2-normalise them: the inner product is the cosine).
  """
  if len(gold) != len(question_embeddings):
    raise DataError(f"{len(gold)} gold lists for {len(question_embeddings)} questions")
  if question_languages and len(question_languages) != len(gold):
    raise DataError(f"{len(question_languages)} question languages for {len(gold)} questions")
  _, ranking = top_k(question_embeddings, candidate_embeddings, k, search)
  ap = np.array([average_precision_at_k(g, r, k) for g, r in zip(gold, ranking)])
  result = {f"map@{k}": float(ap.mean() * 100), "num_questions": len(ap), "num_candidates": len(candidate_embeddings)}
  if question_languages:
    languages = np.asarray(question_languages)
    result["per_language"] = {str(l): float(ap[languages == l].mean() * 100) for l in dict.fromkeys(question_languages)}
  return result


def mewslix_mrr(gold: Mapping[str, str], predictions: Mapping[str, Sequence[str]], k: int = TOP_K) -> dict:
  """One Mewsli-X language: mean reciprocal rank of each example's gold entity id within
  its top-k predicted ids (= AP@k with one gold), over every gold example; examples
  missing from `predictions` score 0 and are counted, as are predictions without gold.

  Returns {"map@20": x 100, "missing", "unexpected", "num_examples"}.
  """
  if not gold:
    raise DataError("Mewsli-X scoring needs at least one gold example")
  total = 0.0
  for example_id, entity_id in gold.items():
    for rank, predicted in enumerate(list(predictions.get(example_id, ()))[:k], start=1):
      if predicted == entity_id:
        total += 1.0 / rank
        break
  return {
      f"map@{k}": total / len(gold) * 100,
      "missing": len(set(gold) - set(predictions)),
      "unexpected": len(set(predictions) - set(gold)),
      "num_examples": len(gold),
  }


def mewslix_predictions(
    query_embeddings: np.ndarray,
    entity_embeddings: np.ndarray,
    entity_ids: Sequence[str],
    example_ids: Sequence[str],
    k: int = TOP_K,
    search: str = "exact",
) -> dict[str, list[str]]:
  """{example_id: top-k entity ids}: XTREME-R's prediction file for one language.
  Entity encodings are L2-normalised first (faiss.normalize_L2 in XTREME-R); queries are
  used as given (their norm does not change a ranking)."""
  if len(entity_ids) != len(entity_embeddings) or len(example_ids) != len(query_embeddings):
    raise DataError("ids and embeddings differ in number")
  _, ranking = top_k(query_embeddings, l2_normalize(entity_embeddings), k, search)
  return {e: [entity_ids[i] for i in row] for e, row in zip(example_ids, ranking)}


def mewslix_score(
    per_language: Mapping[str, Mapping[str, float]], languages: Sequence[str] = MEWSLIX_LANGUAGES, k: int = TOP_K
) -> float:
  """The Mewsli-X task score: the unweighted mean of map@k over `languages` (all must be
  present, as XTREME-R's evaluate_all requires a file per language)."""
  missing = [l for l in languages if l not in per_language]
  if missing:
    raise DataError(f"Mewsli-X results lack languages {', '.join(missing)}")
  return float(np.mean([per_language[l][f"map@{k}"] for l in languages]))
