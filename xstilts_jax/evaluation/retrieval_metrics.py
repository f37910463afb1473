"""Sentence-retrieval metrics: BUCC 2018 bitext mining and Tatoeba, as XTREME computes them.

BUCC (XTREME `utils_retrieve.py`): identical sentences are merged before mining, the
embeddings L2-normalised, k=4 nearest neighbours found in both directions, every pair scored
by the ratio margin cos(x, y) / ((mean k-NN cos of x + mean k-NN cos of y) / 2), and the
forward and backward best matches pooled ("max" retrieval) and de-duplicated greedily by
descending score, keeping scores > 0. Sentences whose text occurs more than once on a side
cannot be mapped back to one id and are dropped from the candidates, as in the reference.
The threshold that maximises F1 on dev gold is then applied to test.

Exact nearest neighbours use blocked numpy matmuls in float32 (faiss's precision); BUCC's
full test split (~400K sentences a side) costs two passes of 400K x 400K dot products.

Ties: where candidates have exactly the same similarity, faiss's choice is
implementation-defined; here the lowest index wins everywhere, so results do not depend on
block size or numpy version: k-NN lists are ordered by descending similarity then ascending
index (also where the k-th place is tied), a sentence's best margin-scored neighbour is the
first of its list, the greedy BUCC pass takes equal scores forward candidates first (by
source index), then backward ones (by target index), and Tatoeba takes the lowest index.
"""

from __future__ import annotations

from typing import Iterable, Mapping, Optional, Sequence

import numpy as np

from xstilts_jax.errors import ConfigError, DataError

Pair = tuple[str, str]


def l2_normalize(embeddings: np.ndarray) -> np.ndarray:
  """Rows scaled to unit length (all-zero rows stay zero), as float32."""
  x = np.asarray(embeddings, dtype=np.float32)
  norms = np.linalg.norm(x, axis=1, keepdims=True)
  return x / np.where(norms > 0, norms, 1.0)


def _top_k(values: np.ndarray, indices: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
  """The k largest values of each row and their indices, by descending value, then ascending
  index: on equal similarity the lowest index wins, also for the last of the k places.

  values, indices: [rows, n] with k <= n. faiss leaves such ties implementation-defined.
  """
  top = np.argpartition(-values, k - 1, axis=1)[:, :k]
  kth = np.take_along_axis(values, top, 1).min(axis=1, keepdims=True)
  above, at = values > kth, values == kth
  for r in np.flatnonzero(at.sum(axis=1) > k - above.sum(axis=1)):  # a tie across the k-th place
    candidates = np.flatnonzero(above[r] | at[r])
    order = np.lexsort((indices[r, candidates], -values[r, candidates]))
    top[r] = candidates[order[:k]]
  top_values = np.take_along_axis(values, top, 1)
  top_indices = np.take_along_axis(indices, top, 1)
  order = np.lexsort((top_indices, -top_values), axis=1)
  return np.take_along_axis(top_values, order, 1), np.take_along_axis(top_indices, order, 1)


def nearest_neighbours(x: np.ndarray, y: np.ndarray, k_forward: int, k_backward: int, block_size: int = 1024):
  """Top-k inner products both ways in one blocked pass over x @ y.T.

  Returns (fwd_sim [nx,kf], fwd_ind, bwd_sim [ny,kb], bwd_ind), each row sorted by
  descending similarity: fwd for each x over y, bwd for each y over x. Equal similarities
  are ordered, and cut at the k-th place, by the lowest index first (see `_top_k`).
  """
  nx, ny = len(x), len(y)
  fwd_sim = np.empty((nx, k_forward), np.float32)
  fwd_ind = np.empty((nx, k_forward), np.int64)
  bwd_sim = np.full((ny, 0), -np.inf, np.float32)  # each y's best x so far
  bwd_ind = np.zeros((ny, 0), np.int64)
  for start in range(0, nx, block_size):
    stop = min(start + block_size, nx)
    sims = x[start:stop] @ y.T
    fwd_sim[start:stop], fwd_ind[start:stop] = _top_k(sims, np.broadcast_to(np.arange(ny), sims.shape), k_forward)
    pool_sim = np.concatenate([bwd_sim, sims.T], axis=1)
    pool_ind = np.concatenate([bwd_ind, np.broadcast_to(np.arange(start, stop), (ny, stop - start))], axis=1)
    bwd_sim, bwd_ind = _top_k(pool_sim, pool_ind, min(k_backward, pool_sim.shape[1]))
  return fwd_sim, fwd_ind, bwd_sim, bwd_ind


def _unique_side(embeddings, ids, texts, side: str):
  """Merges identical texts; returns (unique embeddings, id of each unique row or None)."""
  embeddings = np.asarray(embeddings)
  ids = [str(i) for i in ids]
  if embeddings.ndim != 2 or len(embeddings) != len(ids):
    raise DataError(f"BUCC {side}: {len(ids)} ids but embeddings of shape {embeddings.shape}")
  if len(set(ids)) != len(ids):
    raise DataError(f"BUCC {side}: sentence ids are not unique")
  if texts is None:
    return embeddings, ids
  if len(texts) != len(ids):
    raise DataError(f"BUCC {side}: {len(ids)} ids but {len(texts)} texts")
  row_of_text, count = {}, {}
  for row, text in enumerate(texts):
    row_of_text[text] = row  # the reference keeps the last occurrence's embedding
    count[text] = count.get(text, 0) + 1
  order = list(dict.fromkeys(texts))  # first-occurrence order
  unique_ids = [ids[row_of_text[t]] if count[t] == 1 else None for t in order]
  return embeddings[[row_of_text[t] for t in order]], unique_ids


def mine_candidates(
    source_embeddings: np.ndarray,
    target_embeddings: np.ndarray,
    source_ids: Sequence[str],
    target_ids: Sequence[str],
    source_texts: Optional[Sequence[str]] = None,
    target_texts: Optional[Sequence[str]] = None,
    k: int = 4,
    block_size: int = 1024,
) -> dict[Pair, float]:
  """Margin-scored candidate pairs {(source id, target id): score} by "max" retrieval.

  With texts, identical sentences are merged first (see the module docstring).
  """
  x, x_ids = _unique_side(source_embeddings, source_ids, source_texts, "source")
  y, y_ids = _unique_side(target_embeddings, target_ids, target_texts, "target")
  if len(x) == 0 or len(y) == 0:
    return {}
  x, y = l2_normalize(x), l2_normalize(y)
  fwd_sim, fwd_ind, bwd_sim, bwd_ind = nearest_neighbours(x, y, min(len(y), k), min(len(x), k), block_size)
  x_mean, y_mean = fwd_sim.mean(axis=1), bwd_sim.mean(axis=1)
  with np.errstate(divide="ignore", invalid="ignore"):
    fwd_scores = fwd_sim / ((x_mean[:, None] + y_mean[fwd_ind]) / 2)
    bwd_scores = bwd_sim / ((y_mean[:, None] + x_mean[bwd_ind]) / 2)
  fwd_best = fwd_ind[np.arange(len(x)), fwd_scores.argmax(axis=1)]
  bwd_best = bwd_ind[np.arange(len(y)), bwd_scores.argmax(axis=1)]
  src = np.concatenate([np.arange(len(x)), bwd_best])
  trg = np.concatenate([fwd_best, np.arange(len(y))])
  scores = np.concatenate([fwd_scores.max(axis=1), bwd_scores.max(axis=1)])

  candidates: dict[Pair, float] = {}
  seen_src, seen_trg = set(), set()
  for i in np.argsort(-scores, kind="stable"):
    s, t = int(src[i]), int(trg[i])
    if s in seen_src or t in seen_trg:
      continue
    seen_src.add(s)
    seen_trg.add(t)
    if scores[i] > 0 and x_ids[s] is not None and y_ids[t] is not None:
      candidates[(x_ids[s], y_ids[t])] = float(scores[i])
  return candidates


def best_threshold(candidates: Mapping[Pair, float], gold: Iterable[Pair]) -> float:
  """The score threshold with the best F1 against gold (the reference's `bucc_optimize`).

  Walks candidates by descending score; where F1 improves, the threshold is the midpoint to
  the next score. If the best cut is after the last candidate (where the reference would
  fail) the threshold is that candidate's score. 0 when no candidate is correct.
  """
  gold = set(gold)
  items = sorted(candidates.items(), key=lambda item: -item[1])
  threshold, best_f1, correct = 0.0, 0.0, 0
  for i, (pair, score) in enumerate(items):
    correct += pair in gold
    if correct:
      precision, recall = correct / (i + 1), correct / len(gold)
      f1 = 2 * precision * recall / (precision + recall)
      if f1 > best_f1:
        best_f1 = f1
        threshold = (score + items[i + 1][1]) / 2 if i + 1 < len(items) else score
  return threshold


def extract_pairs(candidates: Mapping[Pair, float], threshold: float) -> set[Pair]:
  """The candidate pairs scoring at least `threshold`."""
  return {pair for pair, score in candidates.items() if score >= threshold}


def pairs_f1(predicted: Iterable[Pair], gold: Iterable[Pair]) -> dict:
  """Set F1/precision/recall of predicted pairs against gold pairs (XTREME `bucc_f1`)."""
  predicted, gold = set(predicted), set(gold)
  correct = len(predicted & gold)
  if correct == 0:
    return {"f1": 0.0, "precision": 0.0, "recall": 0.0}
  precision, recall = correct / len(predicted), correct / len(gold)
  return {
      "f1": 100.0 * 2 * precision * recall / (precision + recall),
      "precision": 100.0 * precision,
      "recall": 100.0 * recall,
  }


def bucc_mine(
    source_embeddings: np.ndarray,
    target_embeddings: np.ndarray,
    source_ids: Sequence[str],
    target_ids: Sequence[str],
    gold: Iterable[Pair],
    threshold: Optional[float] = None,
    source_texts: Optional[Sequence[str]] = None,
    target_texts: Optional[Sequence[str]] = None,
    k: int = 4,
) -> tuple[dict, set[Pair]]:
  """(the scores of `bucc_f1`, the mined pairs at the threshold)."""
  gold = {(str(s), str(t)) for s, t in gold}
  if not gold:
    raise DataError("BUCC: no gold pairs")
  candidates = mine_candidates(
      source_embeddings, target_embeddings, source_ids, target_ids, source_texts, target_texts, k
  )
  if threshold is None:
    threshold = best_threshold(candidates, gold)
  pairs = extract_pairs(candidates, threshold)
  result = pairs_f1(pairs, gold)
  return {**result, "threshold": float(threshold), "num_candidates": len(candidates)}, pairs


def bucc_f1(
    source_embeddings: np.ndarray,
    target_embeddings: np.ndarray,
    source_ids: Sequence[str],
    target_ids: Sequence[str],
    gold: Iterable[Pair],
    threshold: Optional[float] = None,
    source_texts: Optional[Sequence[str]] = None,
    target_texts: Optional[Sequence[str]] = None,
    k: int = 4,
) -> dict:
  """Mines pairs and scores them -> {f1, precision, recall, threshold, num_candidates}.

  threshold None chooses the best one against `gold` (dev); pass dev's to score test.
  """
  return bucc_mine(
      source_embeddings, target_embeddings, source_ids, target_ids, gold, threshold, source_texts, target_texts, k
  )[0]


TATOEBA_QUERIES = ("english", "source")


def tatoeba_predictions(
    source_embeddings: np.ndarray, english_embeddings: np.ndarray, query: str = "english"
) -> np.ndarray:
  """Top-1 cosine neighbour of each query sentence on the other side (indices).

  query="english" is what XTREME's and jiant's code do (faiss index over the non-English
  sentences, searched with each English sentence); "source" searches the other way.
  On exactly equal similarity the lowest index wins (argmax's first maximum).
  """
  if query not in TATOEBA_QUERIES:
    raise ConfigError(f"tatoeba query side {query!r} (expected one of {TATOEBA_QUERIES})")
  x, y = l2_normalize(source_embeddings), l2_normalize(english_embeddings)
  queries, index = (y, x) if query == "english" else (x, y)
  return (queries @ index.T).argmax(axis=1) if len(index) else np.zeros(len(queries), np.int64)


def tatoeba_accuracy(
    source_embeddings: np.ndarray,
    english_embeddings: np.ndarray,
    gold: Optional[Sequence[int]] = None,
    query: str = "english",
) -> dict:
  """Share of queries whose top-1 neighbour is the gold one -> {accuracy}.

  gold[i] is the index on the searched side aligned with query i; default i (line i of the
  source file is the translation of line i of the English file).
  """
  predictions = tatoeba_predictions(source_embeddings, english_embeddings, query)
  if len(predictions) == 0:
    raise DataError("Tatoeba: no sentences")
  gold = np.arange(len(predictions)) if gold is None else np.asarray(gold)
  if gold.shape != predictions.shape:
    raise DataError(f"Tatoeba: {len(predictions)} query sentences but {len(gold)} gold indices")
  return {"accuracy": 100.0 * float(np.mean(predictions == gold))}
