"""Question 1's language-set selector: spread, determinism, errors, the vendored distances."""

import csv
import itertools
from pathlib import Path

import pytest

from xstilts_jax.errors import ConfigError
from xstilts_jax.study import languages as sl

STUDY_DIR = Path(sl.__file__).parent
ANALYSIS_CSV = STUDY_DIR.parent / "analysis" / "languages.csv"


def _csv_distances(kind="syntactic"):
  """The vendored table read directly, without the module under test."""
  with open(STUDY_DIR / "uriel_pairwise.csv", encoding="utf-8") as f:
    return {frozenset((r["lang_a"], r["lang_b"])): float(r[kind]) for r in csv.DictReader(f) if r[kind]}


def _mean_pairwise(langs, d):
  pairs = list(itertools.combinations(langs, 2))
  return sum(d[frozenset(p)] for p in pairs) / len(pairs)


def test_vendored_distances_to_english_match_languages_csv():
  d = _csv_distances()
  with open(ANALYSIS_CSV, encoding="utf-8") as f:
    rows = [r for r in csv.DictReader(f) if r["iso639_1"] != "en"]
  assert len(rows) == 49
  for r in rows:
    assert d[frozenset(("en", r["iso639_1"]))] == float(r["syntactic_distance_en"]), r["iso639_1"]
  assert len(d) == 50 * 49 // 2  # every pair has a syntactic distance


@pytest.mark.parametrize("k", [3, 4, 5])
def test_diverse_set_spreads_more_than_non_diverse(k):
  d = _csv_distances()
  sets = {s.name: s for s in sl.select_language_sets(k)}
  diverse, close, high = sets["diverse"], sets["non_diverse"], sets["high_resource"]
  assert len(diverse.languages) == len(close.languages) == len(high.languages) == k
  assert _mean_pairwise(diverse.languages, d) > _mean_pairwise(close.languages, d) + 0.1
  with open(ANALYSIS_CSV, encoding="utf-8") as f:
    rows = {r["iso639_1"]: r for r in csv.DictReader(f)}
  for code in diverse.languages + close.languages:
    assert int(rows[code]["joshi_class"]) <= 2 and rows[code]["typology_mostly_imputed"] == "no"
  for code in high.languages:
    assert int(rows[code]["joshi_class"]) >= 4 and code != "en"
  for s in sets.values():  # the printed distances are the table's
    for (a, b), v in s.distances.items():
      assert v == d[frozenset((a, b))]


def test_greedy_rules_on_a_line():
  # Points on a line at 0, 1.5, 3.5, 10, 10.8; distance = |x - y|.
  at = {"a": 0.0, "b": 1.5, "c": 3.5, "d": 10.0, "e": 10.8}
  d = {frozenset((x, y)): abs(at[x] - at[y]) for x, y in itertools.combinations(at, 2)}
  # Farthest pair a-e; then c (min distance 3.5 beats b 1.5 and d 0.8); then b (1.5 vs d 0.8).
  assert sl.farthest_point(list(at), 3, d) == ("a", "e", "c")
  assert sl.farthest_point(list(at), 4, d) == ("a", "e", "c", "b")
  # Closest pair d-e (0.8); then c (sum 6.5 + 7.3) beats b and a.
  assert sl.nearest_point(list(at), 3, d) == ("d", "e", "c")


def test_deterministic_and_order_free():
  first = sl.select_language_sets(4)
  low, high = sl.candidates_by_resource()
  again = sl.select_language_sets(4, low=list(reversed(low)), high=list(reversed(high)))
  assert [s.languages for s in first] == [s.languages for s in again]


def test_k_larger_than_candidates_is_one_line_error():
  low, _ = sl.candidates_by_resource()
  with pytest.raises(ConfigError) as e:
    sl.select_language_sets(len(low) + 1)
  assert "\n" not in str(e.value) and f"k={len(low) + 1}" in str(e.value)
  with pytest.raises(ConfigError):
    sl.select_language_sets(1)


def test_imputed_languages_left_out_and_named():
  low, high = sl.candidates_by_resource()
  assert not set(low + high) & {"af", "gu", "ht", "jv", "kk", "ml"}
  low_all, _ = sl.candidates_by_resource(include_imputed=True)
  assert {"gu", "ht", "jv", "ml"} <= set(low_all)
  text = sl.describe(sl.select_language_sets(3))
  assert "af gu ht jv kk ml" in text and "diverse:" in text and "non_diverse:" in text


def test_resource_contrast_by_hand():
  # XCOPA's test languages (research-questions note): et ht id it qu sw ta th tr vi zh; Joshi
  # classes in languages.csv: ht 2, qu 1, sw 2 (low); it tr vi 4, zh 5 (high); et id ta th 3.
  xr = sl.resource_contrast("xtreme-r")
  assert xr["xcopa"] == {"low": ["ht", "qu", "sw"], "high": ["it", "tr", "vi", "zh"]}
  x = sl.resource_contrast("xtreme")
  assert x["xnli"]["low"] == ["sw"] and "xcopa" not in x and x["mlqa"]["low"] == []
  assert all("en" not in g["high"] for g in x.values())
  with pytest.raises(ConfigError):
    sl.resource_contrast("glue")
