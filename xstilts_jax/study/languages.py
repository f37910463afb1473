"""Question 1's language sets: which languages the continued-MLM arms train on.

From candidate languages (analysis/languages.csv: Joshi class, URIEL distances) this picks,
for one k and one URIEL distance kind:

  diverse       k low-resource languages (Joshi 0-2) spread as far apart as possible:
                greedy farthest-point (max-min) selection, started from the farthest pair
  non_diverse   k low-resource languages close to each other: greedy nearest-point
                (min-sum) selection, started from the closest pair
  high_resource k high-resource languages (Joshi 4-5, English excluded), spread as the
                diverse set is, so that it differs from it in resource level, not spread

Pairwise distances come from study/uriel_pairwise.csv (URIEL+ 1.3.2, angular distance
over features observed for both languages, as analysis/SOURCES.md describes for the
distances to English; rebuilt by study/build_pairwise.py). Ties are broken by language
code, so a selection is deterministic. A candidate with no distance to some other
candidate (no feature observed for both) cannot be placed and is refused by name.
By default the languages whose URIEL syntax is mostly imputed (languages.csv
`typology_mostly_imputed`: af gu ht jv kk ml) are not candidates: their distances rest on a
handful of features (ht-jv is 0.0), and `describe` names them as left out.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
from importlib import resources
import io
import itertools
from typing import Mapping, Optional, Sequence

from xstilts_jax.analysis.languages import LanguageInfo, language_table
from xstilts_jax.errors import ConfigError, DataError

KINDS = ("syntactic", "genetic", "geographic", "featural")
PAIRWISE_FILE = "uriel_pairwise.csv"
LOW_RESOURCE_MAX_JOSHI = 2
HIGH_RESOURCE_MIN_JOSHI = 4

Distances = Mapping[frozenset, float]  # {a, b} -> distance


@functools.lru_cache(maxsize=None)
def pairwise_distances(kind: str = "syntactic") -> dict[frozenset, float]:
  """URIEL distances of one kind between the 50 XTREME / XTREME-R languages (vendored)."""
  if kind not in KINDS:
    raise ConfigError(f"unknown distance kind {kind!r} (expected one of {', '.join(KINDS)})")
  text = resources.files("xstilts_jax.study").joinpath(PAIRWISE_FILE).read_text("utf-8")
  table = {}
  for line_no, row in enumerate(csv.DictReader(io.StringIO(text)), start=2):
    if row[kind].strip():
      try:
        table[frozenset((row["lang_a"], row["lang_b"]))] = float(row[kind])
      except ValueError as e:
        raise DataError(f"{PAIRWISE_FILE}:{line_no}: {kind} is not a number: {row[kind]!r}") from e
  return table


@dataclasses.dataclass(frozen=True)
class LanguageSet:
  """One arm's languages, in the order they were picked, and their pairwise distances."""

  name: str
  languages: tuple[str, ...]
  distances: dict[tuple[str, str], float]  # (a, b) with a < b

  @property
  def mean_distance(self) -> float:
    return sum(self.distances.values()) / len(self.distances)

  @property
  def min_distance(self) -> float:
    return min(self.distances.values())


def _pair_table(languages: Sequence[str], distances: Distances) -> dict[tuple[str, str], float]:
  return {(a, b): distances[frozenset((a, b))] for a, b in itertools.combinations(sorted(languages), 2)}


def _check(candidates: Sequence[str], k: int, distances: Distances, what: str) -> list[str]:
  candidates = sorted(set(candidates))
  if k < 2:
    raise ConfigError(f"k must be at least 2 to have a spread (got {k})")
  if k > len(candidates):
    raise ConfigError(f"k={k} is more than the {len(candidates)} {what} candidates " f"({' '.join(candidates)})")
  for a, b in itertools.combinations(candidates, 2):
    if frozenset((a, b)) not in distances:
      raise DataError(f"no distance between {what} candidates {a} and {b}; " "leave one of them out of the candidates")
  return candidates


def farthest_point(candidates: Sequence[str], k: int, distances: Distances, what: str = "") -> tuple[str, ...]:
  """Greedy max-min: the farthest pair, then each time the candidate whose nearest chosen
  language is farthest (ties: the larger sum of distances to the chosen, then the code)."""
  pool = _check(candidates, k, distances, what)
  d = lambda a, b: distances[frozenset((a, b))]
  # max() keeps the first of equals: pairs and candidates come in code order.
  chosen = list(max(itertools.combinations(pool, 2), key=lambda p: d(*p)))
  while len(chosen) < k:
    rest = [c for c in pool if c not in chosen]
    chosen.append(max(rest, key=lambda c: (min(d(c, x) for x in chosen), sum(d(c, x) for x in chosen))))
  return tuple(chosen)


def nearest_point(candidates: Sequence[str], k: int, distances: Distances, what: str = "") -> tuple[str, ...]:
  """Greedy min-sum: the closest pair, then each time the candidate with the smallest sum
  of distances to the chosen (ties: the smaller largest distance, then the code)."""
  pool = _check(candidates, k, distances, what)
  d = lambda a, b: distances[frozenset((a, b))]
  chosen = list(min(itertools.combinations(pool, 2), key=lambda p: (d(*p), p)))
  while len(chosen) < k:
    rest = [c for c in pool if c not in chosen]
    chosen.append(min(rest, key=lambda c: (sum(d(c, x) for x in chosen), max(d(c, x) for x in chosen), c)))
  return tuple(chosen)


def candidates_by_resource(
    table: Optional[Mapping[str, LanguageInfo]] = None, include_imputed: bool = False
) -> tuple[list[str], list[str]]:
  """(low-resource, high-resource) codes of the table; English is never a candidate, nor
  (unless include_imputed) a language whose typology is mostly imputed."""
  table = language_table() if table is None else table
  usable = {
      c: i
      for c, i in table.items()
      if c != "en" and i.joshi_class is not None and (include_imputed or not i.mostly_imputed)
  }
  low = sorted(c for c, i in usable.items() if i.joshi_class <= LOW_RESOURCE_MAX_JOSHI)
  high = sorted(c for c, i in usable.items() if i.joshi_class >= HIGH_RESOURCE_MIN_JOSHI)
  return low, high


def left_out_imputed() -> list[str]:
  """Languages that are not candidates by default (typology mostly imputed)."""
  return sorted(c for c, i in language_table().items() if i.mostly_imputed)


def select_language_sets(
    k: int,
    kind: str = "syntactic",
    low: Optional[Sequence[str]] = None,
    high: Optional[Sequence[str]] = None,
    distances: Optional[Distances] = None,
    include_imputed: bool = False,
) -> list[LanguageSet]:
  """The diverse, non-diverse and high-resource sets of question 1 (see the module docstring)."""
  distances = pairwise_distances(kind) if distances is None else distances
  default_low, default_high = candidates_by_resource(include_imputed=include_imputed)
  low = default_low if low is None else low
  high = default_high if high is None else high
  sets = [
      ("diverse", farthest_point(low, k, distances, "low-resource")),
      ("non_diverse", nearest_point(low, k, distances, "low-resource")),
      ("high_resource", farthest_point(high, k, distances, "high-resource")),
  ]
  return [LanguageSet(name, langs, _pair_table(langs, distances)) for name, langs in sets]


def resource_contrast(benchmark: str = "xtreme") -> dict[str, dict[str, list[str]]]:
  """Q5's within-task contrast: per task of the benchmark, its test languages (English left
  out) that are low-resource (Joshi 0-2) and high-resource (4-5): {"low": [...], "high": [...]}."""
  column = {"xtreme": "xtreme_tasks", "xtreme-r": "xtreme_r_tasks"}.get(benchmark)
  if column is None:
    raise ConfigError(f"unknown benchmark {benchmark!r} (expected xtreme or xtreme-r)")
  out: dict[str, dict[str, list[str]]] = {}
  for code, info in sorted(language_table().items()):
    if code == "en" or info.joshi_class is None:
      continue
    for task in getattr(info, column):
      groups = out.setdefault(task, {"low": [], "high": []})
      if info.joshi_class <= LOW_RESOURCE_MAX_JOSHI:
        groups["low"].append(code)
      elif info.joshi_class >= HIGH_RESOURCE_MIN_JOSHI:
        groups["high"].append(code)
  return out


def describe(sets: Sequence[LanguageSet], kind: str = "syntactic", include_imputed: bool = False) -> str:
  """The sets as text: languages, Joshi classes, spread, and every pairwise distance."""
  table = language_table()
  lines = [f"URIEL {kind} distance (URIEL+ 1.3.2, angular, observed features only)"]
  if not include_imputed:
    lines.append("not candidates (typology mostly imputed): " + " ".join(left_out_imputed()))
  for s in sets:
    classes = " ".join(f"{c}({table[c].joshi_class})" if c in table else c for c in s.languages)
    lines.append(f"{s.name}: {classes}  mean pairwise {s.mean_distance:.4f}  " f"min pairwise {s.min_distance:.4f}")
    lines.extend(f"  {a}-{b} {v:.4f}" for (a, b), v in s.distances.items())
  return "\n".join(lines)


if __name__ == "__main__":  # python -m xstilts_jax.study.languages K [KIND]
  import sys

  k_arg, kind_arg = int(sys.argv[1]) if len(sys.argv) > 1 else 5, (sys.argv[2:] or ["syntactic"])[0]
  print(describe(select_language_sets(k_arg, kind_arg), kind_arg))
