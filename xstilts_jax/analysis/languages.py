"""Facts about languages for the report: the package table (languages.csv) or a run's own knowledge.

Real languages come from `languages.csv` (see SOURCES.md): family, script, Joshi class,
pretraining sizes and URIEL distances to English. Synthetic languages come from the
`languages` block of results.json (the generator's distance and features); they have
no resource class.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
from importlib import resources
import io
import math
from typing import Mapping, Optional

from xstilts_jax.errors import DataError

# Distances in languages.csv; the first is the report's main one.
DISTANCE_COLUMNS = {
    "syntactic": "syntactic_distance_en",
    "syntactic_knn": "syntax_knn_cosine_en",
    "genetic": "genetic_distance_en",
    "geographic": "geographic_distance_en",
    "featural": "featural_distance_en",
}
MAIN_DISTANCE = "syntactic"
RESOURCE_GROUPS = ("low (Joshi 0-2)", "mid (Joshi 3)", "high (Joshi 4-5)")
UNKNOWN = "unknown"


@dataclasses.dataclass(frozen=True)
class LanguageInfo:
  code: str
  name: str = ""
  family: str = UNKNOWN
  script: str = UNKNOWN
  joshi_class: Optional[int] = None
  cc100_size_gib: Optional[float] = None
  in_xlmr_pretraining: Optional[bool] = None
  distances: Mapping[str, float] = dataclasses.field(default_factory=dict)  # kind -> to English
  mostly_imputed: bool = False  # URIEL typology mostly imputed (few observed features)
  synthetic: bool = False
  xtreme_tasks: tuple[str, ...] = ()
  xtreme_r_tasks: tuple[str, ...] = ()

  @property
  def resource_group(self) -> str:
    if self.joshi_class is None:
      return UNKNOWN
    if self.joshi_class <= 2:
      return RESOURCE_GROUPS[0]
    return RESOURCE_GROUPS[1] if self.joshi_class == 3 else RESOURCE_GROUPS[2]

  @property
  def low_resource(self) -> Optional[bool]:
    """Joshi class 0-2 (XLM-R's unseen XTREME-R languages yo, qu, wo, ht all are); None when unknown."""
    return None if self.joshi_class is None else self.joshi_class <= 2

  @property
  def distance(self) -> Optional[float]:
    return self.distances.get(MAIN_DISTANCE)


def _number(value: str) -> Optional[float]:
  return float(value) if value.strip() else None


@functools.lru_cache(maxsize=1)
def language_table() -> dict[str, LanguageInfo]:
  """The 50 XTREME / XTREME-R languages by ISO 639-1 code, from the package's languages.csv."""
  text = resources.files("xstilts_jax.analysis").joinpath("languages.csv").read_text("utf-8")
  table = {}
  for row in csv.DictReader(io.StringIO(text)):
    distances = {kind: _number(row[column]) for kind, column in DISTANCE_COLUMNS.items()}
    table[row["iso639_1"]] = LanguageInfo(
        code=row["iso639_1"],
        name=row["name"],
        family=row["family"],
        script=row["script"],
        joshi_class=int(row["joshi_class"]) if row["joshi_class"] else None,
        cc100_size_gib=_number(row["cc100_size_gib"]),
        in_xlmr_pretraining={"yes": True, "no": False}.get(row["in_xlmr_pretraining"]),
        distances={k: v for k, v in distances.items() if v is not None},
        mostly_imputed=row["typology_mostly_imputed"] == "yes",
        xtreme_tasks=tuple(row["xtreme_tasks"].split()),
        xtreme_r_tasks=tuple(row["xtreme_r_tasks"].split()),
    )
  return table


def synthetic_info(code: str, block: Mapping) -> LanguageInfo:
  """A synthetic language from its results.json entry {distance_to_en, features}."""
  distance = block.get("distance_to_en")
  if not isinstance(distance, (int, float)) or math.isnan(distance):
    raise DataError(f"languages[{code!r}] has no numeric distance_to_en")
  features = block.get("features") or {}
  joshi = block.get("joshi_class")
  return LanguageInfo(
      code=code,
      name=str(block.get("name", code)),
      family="synthetic",
      script=str(features.get("script", UNKNOWN)),
      joshi_class=int(joshi) if isinstance(joshi, int) else None,
      distances={MAIN_DISTANCE: float(distance)},
      synthetic=True,
  )


def language_info(code: str, results_languages: Optional[Mapping] = None, synthetic_data: bool = False) -> LanguageInfo:
  """Facts about `code`: the run's own languages block first, else the package table.

  With synthetic data, English missing from the block is the generator's English
  (distance 0, Latin script), not the real one.
  """
  if results_languages and code in results_languages:
    return synthetic_info(code, results_languages[code])
  if synthetic_data and code == "en":
    return synthetic_info("en", {"distance_to_en": 0.0, "name": "English", "features": {"script": "Latn"}})
  return language_table().get(code, LanguageInfo(code=code))
