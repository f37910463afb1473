"""Maintainer script: rebuild analysis/languages.csv (not imported by the package).

Copies the facts the report needs from the survey table (shared/data/languages.csv)
and adds typological distances to English computed from URIEL, as SOURCES.md
describes. Needs `urielplus==1.3.2` and `lang2vec==1.1.2`, which work offline but are
not dependencies of xstilts_jax; lang2vec 1.1.2 imports pkg_resources, so run this in
a separate venv with setuptools<82:

  python -m venv /tmp/uriel && /tmp/uriel/bin/pip install urielplus==1.3.2 \
      lang2vec==1.1.2 "setuptools<82"
  /tmp/uriel/bin/python xstilts_jax/analysis/build_languages_csv.py \
      SURVEY_languages.csv xstilts_jax/analysis/languages.csv
"""

from __future__ import annotations

import csv
import logging
import sys

COPIED = (
    "iso639_1",
    "iso639_3",
    "name",
    "family",
    "genus",
    "script",
    "joshi_class",
    "wikipedia_size_articles",
    "in_xlmr_pretraining",
    "cc100_size_gib",
    "xtreme_tasks",
    "xtreme_r_tasks",
)
URIEL_KINDS = ("syntactic", "genetic", "geographic", "featural", "phonological", "inventory")
SYNTAX_FEATURES = 103
MOSTLY_IMPUTED_BELOW = SYNTAX_FEATURES // 2 + 1  # fewer than half of the features observed


def _cosine_distance(u, v) -> float:
  import numpy as np

  u, v = np.asarray(u, float), np.asarray(v, float)
  return float(1.0 - u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))


def _shared_syntax_features(uriel, lang: str, other: str = "eng") -> int:
  import numpy as np

  feats, langs, data = uriel.feats[1], list(map(str, uriel.langs[1])), uriel.data[1]
  a, b = data[langs.index(lang)], data[langs.index(other)]
  return sum(
      1 for i, f in enumerate(feats) if str(f).startswith("S_") and not np.all(a[i] == -1) and not np.all(b[i] == -1)
  )


def build(source: str, out: str) -> None:
  import lang2vec.lang2vec as l2v
  from urielplus import urielplus

  logging.disable(logging.INFO)
  rows = list(csv.DictReader(open(source, encoding="utf-8")))
  codes = [r["iso639_3"] for r in rows]
  uriel = urielplus.URIELPlus()  # URIEL's own data only; angular distance, union over sources
  knn = l2v.get_features(codes, "syntax_knn")
  average = l2v.get_features(codes, "syntax_average")
  columns = (
      list(COPIED)
      + [f"{k}_distance_en" for k in URIEL_KINDS]
      + ["syntactic_shared_features_en", "syntax_knn_cosine_en", "syntax_observed", "typology_mostly_imputed"]
  )
  with open(out, "w", encoding="utf-8", newline="") as f:
    writer = csv.DictWriter(f, columns, lineterminator="\n")
    writer.writeheader()
    for row, code in zip(rows, codes):
      record = {c: row[c] for c in COPIED}
      for kind in URIEL_KINDS:
        try:
          record[f"{kind}_distance_en"] = f"{float(uriel.new_distance(kind, 'eng', code)):.4f}"
        except ValueError:  # no feature observed for both languages
          record[f"{kind}_distance_en"] = ""
      observed = sum(v != "--" for v in average[code])
      record.update(
          syntactic_shared_features_en=_shared_syntax_features(uriel, code),
          syntax_knn_cosine_en=f"{abs(_cosine_distance(knn['eng'], knn[code])):.4f}",
          syntax_observed=observed,
          typology_mostly_imputed="yes" if observed < MOSTLY_IMPUTED_BELOW else "no",
      )
      writer.writerow(record)


if __name__ == "__main__":
  if len(sys.argv) != 3:
    sys.exit(__doc__)
  build(sys.argv[1], sys.argv[2])
