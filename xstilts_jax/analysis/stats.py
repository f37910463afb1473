"""Small-sample statistics for the report: estimates with CIs and p-values.

Every function returns an `Estimate` (estimate, CI, two-sided p-value, n). The primary
tests use `welch` (runs are the unit: one summary per run, Welch's t between two arms,
t interval) and `welch_contrast` (the same for a contrast over several arms, e.g. a
difference of two gains), `holm` (the correction within a question) and `mean_within_correlation`
(Q3: rank correlations within strata, units permuted jointly, bootstrap over units).
`spearman` (bootstrap CI, permutation p over its units) serves Q2, whose units are
intermediate tasks. Resamples on which a statistic is undefined (a constant vector for
a correlation) are dropped and counted in `dropped`.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from typing import Sequence
import warnings

import numpy as np
from scipy import special
from scipy import stats as scipy_stats

from xstilts_jax.errors import DataError

N_BOOTSTRAP = 2000
N_PERMUTATIONS = 5000
CONFIDENCE = 0.95
MIN_UNITS = 3  # below this no CI or p-value is given


@dataclasses.dataclass(frozen=True)
class Estimate:
  """One statistic with its uncertainty. p_value and the CI are nan when n is too small."""

  estimate: float
  ci_low: float
  ci_high: float
  p_value: float
  n: int
  method: str
  confidence: float = CONFIDENCE
  dropped: int = 0  # bootstrap resamples on which the statistic was undefined

  @property
  def ci_excludes_zero(self) -> bool:
    return bool(self.ci_low > 0 or self.ci_high < 0)


def _as_array(values: Sequence[float], what: str) -> np.ndarray:
  array = np.asarray(values, dtype=float)
  if array.ndim != 1:
    raise DataError(f"{what} must be a flat list of numbers, got shape {array.shape}")
  if np.isnan(array).any():
    raise DataError(f"{what} holds {int(np.isnan(array).sum())} NaN value(s)")
  return array


def _percentile_ci(samples: np.ndarray, confidence: float) -> tuple[float, float]:
  samples = samples[~np.isnan(samples)]
  if samples.size == 0:
    return math.nan, math.nan
  alpha = (1 - confidence) / 2
  low, high = np.quantile(samples, [alpha, 1 - alpha])
  return float(low), float(high)


def _ranks(x: np.ndarray) -> np.ndarray:
  """Average ranks along the last axis (scipy's rankdata, which is slow, only with ties)."""
  x = np.asarray(x, float)
  if (np.diff(np.sort(x, axis=-1), axis=-1) == 0).any():
    return scipy_stats.rankdata(x, axis=-1)
  return np.argsort(np.argsort(x, axis=-1), axis=-1).astype(float) + 1


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """Spearman rho of each row pair of x and y (2-D); nan where a row is constant."""
  rx, ry = _ranks(x), _ranks(y)
  rx -= rx.mean(axis=1, keepdims=True)
  ry -= ry.mean(axis=1, keepdims=True)
  denominator = np.sqrt((rx**2).sum(axis=1) * (ry**2).sum(axis=1))
  with np.errstate(invalid="ignore", divide="ignore"):
    rho = (rx * ry).sum(axis=1) / denominator
  rho[denominator == 0] = np.nan
  return rho


def spearman(
    x: Sequence[float],
    y: Sequence[float],
    n_bootstrap: int = N_BOOTSTRAP,
    n_permutations: int = N_PERMUTATIONS,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> Estimate:
  """Spearman rho of paired values (one pair per unit, e.g. per language).

  CI: bootstrap over units; p: permutation of the pairing (exact up to n! <= n_permutations).
  """
  x, y = _as_array(x, "x"), _as_array(y, "y")
  if x.size != y.size:
    raise DataError(f"spearman needs pairs: {x.size} x values but {y.size} y values")
  n = x.size
  method = "Spearman rho; bootstrap over units; permutation p"
  if n < MIN_UNITS:
    return Estimate(math.nan, math.nan, math.nan, math.nan, n, method, confidence)
  rho = float(_spearman_rows(x[None], y[None])[0])
  if math.isnan(rho):  # a constant variable
    return Estimate(math.nan, math.nan, math.nan, math.nan, n, method, confidence)
  rng = np.random.default_rng(seed)
  index = rng.integers(0, n, size=(n_bootstrap, n))
  boot = _spearman_rows(x[index], y[index])
  dropped = int(np.isnan(boot).sum())
  low, high = _percentile_ci(boot, confidence)
  test = scipy_stats.permutation_test(
      (x, y),
      lambda a, b, axis=-1: _spearman_along(a, b, axis),
      permutation_type="pairings",
      vectorized=True,
      n_resamples=n_permutations,
      alternative="two-sided",
      random_state=seed + 1,
  )
  return Estimate(rho, low, high, float(test.pvalue), n, method, confidence, dropped)


def _spearman_along(a: np.ndarray, b: np.ndarray, axis: int) -> np.ndarray:
  a, b = np.moveaxis(a, axis, -1), np.moveaxis(b, axis, -1)
  shape = np.broadcast_shapes(a.shape, b.shape)
  a2 = np.broadcast_to(a, shape).reshape(-1, shape[-1])
  b2 = np.broadcast_to(b, shape).reshape(-1, shape[-1])
  return np.nan_to_num(_spearman_rows(a2, b2), nan=0.0).reshape(shape[:-1])


# --- runs as the unit: the primary tests ----------------------------------------------


def welch(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> Estimate:
  """mean(a) - mean(b) of two independent groups of runs, Welch's t (unequal variances).

  Each value is one run's summary (e.g. its mean score over the languages of a question),
  so the run is the unit; the CI is the t interval with Welch-Satterthwaite degrees of
  freedom. With fewer than 2 runs in a group there is no variance, so no CI and no p.
  """
  a, b = _as_array(a, "a"), _as_array(b, "b")
  n = a.size + b.size
  method = "difference of run means; Welch t (runs are the unit)"
  if a.size == 0 or b.size == 0:
    return Estimate(math.nan, math.nan, math.nan, math.nan, n, method, confidence)
  difference = float(a.mean() - b.mean())
  if a.size < 2 or b.size < 2:
    return Estimate(difference, math.nan, math.nan, math.nan, n, method, confidence)
  va, vb = a.var(ddof=1) / a.size, b.var(ddof=1) / b.size
  se = math.sqrt(va + vb)
  if se == 0:  # identical runs within each arm: no run-to-run variance to test against
    return Estimate(difference, math.nan, math.nan, math.nan, n, method, confidence)
  df = (va + vb) ** 2 / ((va**2 / (a.size - 1) if va else 0.0) + (vb**2 / (b.size - 1) if vb else 0.0))
  t = difference / se
  p = float(2 * special.stdtr(df, -abs(t)))
  half = float(special.stdtrit(df, 0.5 + confidence / 2)) * se
  return Estimate(difference, difference - half, difference + half, p, n, method, confidence)


def welch_contrast(
    groups: Sequence[Sequence[float]], weights: Sequence[float], confidence: float = CONFIDENCE
) -> Estimate:
  """sum_i w_i mean(group_i) over independent groups of runs: Welch's t for a linear contrast.

  The difference of two gains, (arm A - its baseline) - (arm B - its baseline), is the contrast
  (1, -1, -1, 1) over four groups of runs; `welch(a, b)` is (1, -1) over two. Standard error
  sqrt(sum w_i^2 s_i^2 / n_i), degrees of freedom by Welch-Satterthwaite. A group with fewer
  than 2 runs has no variance: estimate only, no CI and no p.
  """
  arrays = [_as_array(g, f"group {i}") for i, g in enumerate(groups)]
  weights = [float(w) for w in weights]
  if len(weights) != len(arrays):
    raise DataError(f"welch_contrast: {len(arrays)} groups but {len(weights)} weights")
  used = [(w, a) for w, a in zip(weights, arrays) if w != 0]
  n = sum(a.size for _, a in used)
  method = "contrast of run means over independent arms; Welch-Satterthwaite t (runs are the unit)"
  if any(a.size == 0 for _, a in used):
    return Estimate(math.nan, math.nan, math.nan, math.nan, n, method, confidence)
  estimate = float(sum(w * a.mean() for w, a in used))
  if any(a.size < 2 for _, a in used):
    return Estimate(estimate, math.nan, math.nan, math.nan, n, method, confidence)
  parts = [(w * w * a.var(ddof=1) / a.size, a.size) for w, a in used]
  variance = sum(v for v, _ in parts)
  if variance == 0:
    return Estimate(estimate, math.nan, math.nan, math.nan, n, method, confidence)
  se = math.sqrt(variance)
  df = variance**2 / sum(v * v / (k - 1) for v, k in parts if v)
  p = float(2 * special.stdtr(df, -abs(estimate / se)))
  half = float(special.stdtrit(df, 0.5 + confidence / 2)) * se
  return Estimate(estimate, estimate - half, estimate + half, p, n, method, confidence)


def holm(p_values: Sequence[float]) -> list[float]:
  """Holm's step-down adjusted p-values (family-wise error), in the order given; nan stays nan."""
  p = np.asarray(p_values, dtype=float)
  adjusted = np.full(p.shape, math.nan)
  index = np.flatnonzero(~np.isnan(p))
  m = index.size
  running = 0.0
  for rank, i in enumerate(index[np.argsort(p[index], kind="stable")]):
    running = max(running, min(1.0, (m - rank) * p[i]))
    adjusted[i] = running
  return [float(x) for x in adjusted]


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """Spearman rho of each row pair of x and y (2-D arrays); nan where a row is constant."""
  return _spearman_rows(np.asarray(x, float), np.asarray(y, float))


def mean_within_correlation(
    similarity: np.ndarray,
    gain: np.ndarray,
    n_bootstrap: int = N_BOOTSTRAP,
    n_permutations: int = N_PERMUTATIONS,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> Estimate:
  """Mean over strata (rows) of Spearman rho(similarity, gain) across units (columns).

  Units are permuted jointly in every stratum (one permutation of the unit labels for all
  rows), which keeps what a unit shares across strata: the valid null when a unit's gains
  are correlated across strata. CI: units resampled jointly (percentile bootstrap).
  """
  similarity, gain = np.asarray(similarity, float), np.asarray(gain, float)
  if similarity.shape != gain.shape or similarity.ndim != 2:
    raise DataError(f"similarity {similarity.shape} and gain {gain.shape} must be equal 2-D")
  strata, n = similarity.shape
  method = (
      f"mean over {strata} strata of Spearman rho across units; joint permutation of " "units; bootstrap over units"
  )
  if n < MIN_UNITS or strata == 0:
    return Estimate(math.nan, math.nan, math.nan, math.nan, n, method, confidence)
  observed = float(np.nanmean(_spearman_rows(similarity, gain)))
  if math.isnan(observed):
    return Estimate(math.nan, math.nan, math.nan, math.nan, n, method, confidence)
  rng = np.random.default_rng(seed)

  def statistic(order: np.ndarray) -> np.ndarray:  # order: (k, n) unit indices for gain
    k = order.shape[0]
    sims = np.repeat(similarity[None], k, axis=0).reshape(k * strata, n)
    gains = gain[:, order].transpose(1, 0, 2).reshape(k * strata, n)
    rows = _spearman_rows(sims, gains).reshape(k, strata)
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", RuntimeWarning)
      return np.nanmean(rows, axis=1)

  if math.factorial(n) <= n_permutations:
    orders = np.array(list(itertools.permutations(range(n))))
    null = statistic(orders)
    p = float(np.mean(np.abs(null) >= abs(observed) - 1e-12))
  else:
    orders = np.argsort(rng.random((n_permutations, n)), axis=1)
    null = statistic(orders)
    p = float((1 + np.sum(np.abs(null) >= abs(observed) - 1e-12)) / (n_permutations + 1))
  index = rng.integers(0, n, size=(n_bootstrap, n))
  sims = similarity[:, index].transpose(1, 0, 2).reshape(n_bootstrap * strata, n)
  gains = gain[:, index].transpose(1, 0, 2).reshape(n_bootstrap * strata, n)
  rows = _spearman_rows(sims, gains).reshape(n_bootstrap, strata)
  with np.errstate(invalid="ignore"), warnings.catch_warnings():
    warnings.simplefilter("ignore", RuntimeWarning)  # a resample where every stratum is constant
    boot = np.nanmean(rows, axis=1)
  low, high = _percentile_ci(boot, confidence)
  return Estimate(observed, low, high, p, n, method, confidence, int(np.isnan(boot).sum()))
