"""Maintainer script: rebuild study/uriel_pairwise.csv (not imported by the package).

The pairwise URIEL distances between the 50 languages of analysis/languages.csv, computed
exactly as that file's distances to English (analysis/SOURCES.md): URIEL+ 1.3.2 on URIEL's
own data, angular distance, sources combined by union, only over features observed for
both languages, rounded to 4 digits; an empty cell where no feature is observed for both.
Needs `urielplus==1.3.2`, which works offline but is not a dependency of xstilts_jax:

  python -m venv /tmp/uriel && /tmp/uriel/bin/pip install urielplus==1.3.2 "setuptools<82"
  /tmp/uriel/bin/python xstilts_jax/study/build_pairwise.py \
      xstilts_jax/analysis/languages.csv xstilts_jax/study/uriel_pairwise.csv
"""

from __future__ import annotations

import csv
import itertools
import logging
import sys

KINDS = ("syntactic", "genetic", "geographic", "featural")


def build(languages_csv: str, out: str) -> None:
  from urielplus import urielplus

  logging.disable(logging.INFO)
  rows = list(csv.DictReader(open(languages_csv, encoding="utf-8")))
  codes = sorted((r["iso639_1"], r["iso639_3"]) for r in rows)
  uriel = urielplus.URIELPlus()
  with open(out, "w", encoding="utf-8", newline="") as f:
    writer = csv.DictWriter(f, ["lang_a", "lang_b", *KINDS], lineterminator="\n")
    writer.writeheader()
    for (a, a3), (b, b3) in itertools.combinations(codes, 2):
      record = {"lang_a": a, "lang_b": b}
      for kind in KINDS:
        try:
          record[kind] = f"{float(uriel.new_distance(kind, a3, b3)):.4f}"
        except ValueError:  # no feature observed for both languages
          record[kind] = ""
      writer.writerow(record)


if __name__ == "__main__":
  if len(sys.argv) != 3:
    sys.exit(__doc__)
  build(sys.argv[1], sys.argv[2])
