"""Small-sample statistics for the report: estimates with bootstrap CIs and permutation p-values.

Every function returns an `Estimate` (estimate, CI, two-sided p-value, n). Units are
what is resampled: languages for correlations over languages, pairs for paired
differences, members of each group for group differences. CIs are percentile
bootstrap intervals; p-values come from permutation tests (scipy), exact when the
number of permutations is at most `n_permutations`. Resamples on which a statistic is
undefined (a constant vector for a correlation) are dropped and counted in `dropped`.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import numpy as np
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

  def format(self, digits: int = 2) -> str:
    """E.g. '0.62 [0.21, 0.88], p = 0.031, n = 12'."""
    def num(x: float) -> str:
      return "n/a" if math.isnan(x) else f"{x:+.{digits}f}"
    ci = ("no CI" if math.isnan(self.ci_low)
          else f"{self.confidence:.0%} CI [{num(self.ci_low)}, {num(self.ci_high)}]")
    p = "p n/a" if math.isnan(self.p_value) else f"p = {self.p_value:.3g}"
    return f"{num(self.estimate)} ({ci}, {p}, n = {self.n})"


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


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """Spearman rho of each row pair of x and y (2-D); nan where a row is constant."""
  rx = scipy_stats.rankdata(x, axis=1)
  ry = scipy_stats.rankdata(y, axis=1)
  rx -= rx.mean(axis=1, keepdims=True)
  ry -= ry.mean(axis=1, keepdims=True)
  denominator = np.sqrt((rx ** 2).sum(axis=1) * (ry ** 2).sum(axis=1))
  with np.errstate(invalid="ignore", divide="ignore"):
    rho = (rx * ry).sum(axis=1) / denominator
  rho[denominator == 0] = np.nan
  return rho


def spearman(x: Sequence[float], y: Sequence[float], n_bootstrap: int = N_BOOTSTRAP,
             n_permutations: int = N_PERMUTATIONS, confidence: float = CONFIDENCE,
             seed: int = 0) -> Estimate:
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
      (x, y), lambda a, b, axis=-1: _spearman_along(a, b, axis), permutation_type="pairings",
      vectorized=True, n_resamples=n_permutations, alternative="two-sided", random_state=seed + 1)
  return Estimate(rho, low, high, float(test.pvalue), n, method, confidence, dropped)


def _spearman_along(a: np.ndarray, b: np.ndarray, axis: int) -> np.ndarray:
  a, b = np.moveaxis(a, axis, -1), np.moveaxis(b, axis, -1)
  shape = np.broadcast_shapes(a.shape, b.shape)
  a2 = np.broadcast_to(a, shape).reshape(-1, shape[-1])
  b2 = np.broadcast_to(b, shape).reshape(-1, shape[-1])
  return np.nan_to_num(_spearman_rows(a2, b2), nan=0.0).reshape(shape[:-1])


def _mean_along(a: np.ndarray, axis: int = -1) -> np.ndarray:
  return np.mean(a, axis=axis)


def bootstrap_mean(values: Sequence[float], n_bootstrap: int = N_BOOTSTRAP,
                   n_permutations: int = N_PERMUTATIONS, confidence: float = CONFIDENCE,
                   seed: int = 0) -> Estimate:
  """Mean of `values` (e.g. per-language gains); p: sign-flip test of mean = 0."""
  x = _as_array(values, "values")
  n = x.size
  method = "mean; bootstrap over units; sign-flip permutation p"
  if n == 0:
    return Estimate(math.nan, math.nan, math.nan, math.nan, 0, method, confidence)
  mean = float(x.mean())
  if n < MIN_UNITS:
    return Estimate(mean, math.nan, math.nan, math.nan, n, method, confidence)
  rng = np.random.default_rng(seed)
  boot = x[rng.integers(0, n, size=(n_bootstrap, n))].mean(axis=1)
  low, high = _percentile_ci(boot, confidence)
  test = scipy_stats.permutation_test(
      (x,), _mean_along, permutation_type="samples", vectorized=True,
      n_resamples=n_permutations, alternative="two-sided", random_state=seed + 1)
  return Estimate(mean, low, high, float(test.pvalue), n, method, confidence)


def paired_difference(a: Sequence[float], b: Sequence[float], n_bootstrap: int = N_BOOTSTRAP,
                      n_permutations: int = N_PERMUTATIONS, confidence: float = CONFIDENCE,
                      seed: int = 0) -> Estimate:
  """Mean of a - b over pairs (paired bootstrap CI, sign-flip permutation p)."""
  a, b = _as_array(a, "a"), _as_array(b, "b")
  if a.size != b.size:
    raise DataError(f"paired test needs pairs: {a.size} values against {b.size}")
  result = bootstrap_mean(a - b, n_bootstrap, n_permutations, confidence, seed)
  return dataclasses.replace(result, method="paired mean difference; bootstrap over pairs; "
                                            "sign-flip permutation p")


def group_difference(a: Sequence[float], b: Sequence[float], n_bootstrap: int = N_BOOTSTRAP,
                     n_permutations: int = N_PERMUTATIONS, confidence: float = CONFIDENCE,
                     seed: int = 0) -> Estimate:
  """mean(a) - mean(b) of two independent groups; n = len(a) + len(b).

  CI: each group resampled on its own; p: permutation of the group labels.
  """
  a, b = _as_array(a, "a"), _as_array(b, "b")
  n = a.size + b.size
  method = "difference of group means; bootstrap within groups; label permutation p"
  if a.size == 0 or b.size == 0:
    return Estimate(math.nan, math.nan, math.nan, math.nan, n, method, confidence)
  difference = float(a.mean() - b.mean())
  if a.size < 2 or b.size < 2 or n < MIN_UNITS:
    return Estimate(difference, math.nan, math.nan, math.nan, n, method, confidence)
  rng = np.random.default_rng(seed)
  boot = (a[rng.integers(0, a.size, size=(n_bootstrap, a.size))].mean(axis=1)
          - b[rng.integers(0, b.size, size=(n_bootstrap, b.size))].mean(axis=1))
  low, high = _percentile_ci(boot, confidence)
  test = scipy_stats.permutation_test(
      (a, b), lambda u, v, axis=-1: np.mean(u, axis=axis) - np.mean(v, axis=axis),
      permutation_type="independent", vectorized=True, n_resamples=n_permutations,
      alternative="two-sided", random_state=seed + 1)
  return Estimate(difference, low, high, float(test.pvalue), n, method, confidence)


def slope(x: Sequence[float], y: Sequence[float], n_bootstrap: int = N_BOOTSTRAP,
          n_permutations: int = N_PERMUTATIONS, confidence: float = CONFIDENCE,
          seed: int = 0) -> Estimate:
  """Least-squares slope of y on x; CI bootstrap over units, p permutation of the pairing."""
  x, y = _as_array(x, "x"), _as_array(y, "y")
  if x.size != y.size:
    raise DataError(f"slope needs pairs: {x.size} x values but {y.size} y values")
  n = x.size
  method = "least-squares slope; bootstrap over units; permutation p"
  if n < MIN_UNITS or np.ptp(x) == 0:
    return Estimate(math.nan, math.nan, math.nan, math.nan, n, method, confidence)
  estimate = float(_slopes(x[None], y[None])[0])
  rng = np.random.default_rng(seed)
  index = rng.integers(0, n, size=(n_bootstrap, n))
  boot = _slopes(x[index], y[index])
  low, high = _percentile_ci(boot, confidence)
  test = scipy_stats.permutation_test(
      (x, y), lambda a, b, axis=-1: _slopes_along(a, b, axis), permutation_type="pairings",
      vectorized=True, n_resamples=n_permutations, alternative="two-sided", random_state=seed + 1)
  return Estimate(estimate, low, high, float(test.pvalue), n, method, confidence,
                  int(np.isnan(boot).sum()))


def _slopes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  dx = x - x.mean(axis=-1, keepdims=True)
  dy = y - y.mean(axis=-1, keepdims=True)
  sxx = (dx ** 2).sum(axis=-1)
  with np.errstate(invalid="ignore", divide="ignore"):
    result = (dx * dy).sum(axis=-1) / sxx
  return np.where(sxx > 0, result, np.nan)


def _slopes_along(a: np.ndarray, b: np.ndarray, axis: int) -> np.ndarray:
  a, b = np.moveaxis(a, axis, -1), np.moveaxis(b, axis, -1)
  a, b = np.broadcast_arrays(a, b)
  return np.nan_to_num(_slopes(a, b))
