"""Runs as the unit of inference: the primary tests, their calibration on simulated sweeps,
provenance of conditions, sweep roots, and a report that stays readable at 40 conditions."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as scipy_stats

from xstilts_jax.analysis import calibrate, questions, stats
from xstilts_jax.analysis.report import build_report, main_report
from xstilts_jax.analysis.results import Condition, Run, load_run
from xstilts_jax.analysis.study import Study
from xstilts_jax.errors import DataError

# --- the primary statistics ---------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_welch_matches_an_independent_implementation(seed):
  rng = np.random.default_rng(seed)
  a, b = rng.normal(1, 1, 3 + seed), rng.normal(0, 2, 3)
  ours = stats.welch(a, b)
  reference = scipy_stats.ttest_ind(a, b, equal_var=False)
  interval = reference.confidence_interval(0.95)
  assert ours.estimate == pytest.approx(a.mean() - b.mean())
  assert ours.p_value == pytest.approx(reference.pvalue, rel=1e-9)
  assert (ours.ci_low, ours.ci_high) == pytest.approx((interval.low, interval.high), rel=1e-9)


def test_welch_with_one_run_gives_an_estimate_only():
  result = stats.welch([1.0], [0.0, 0.5, 0.2])
  assert result.estimate == pytest.approx(1.0 - 0.7 / 3)
  assert math.isnan(result.p_value) and math.isnan(result.ci_low)


def test_welch_without_run_variance_tests_nothing():
  result = stats.welch([2.0, 2.0, 2.0], [1.0, 1.0, 1.0])
  assert result.estimate == pytest.approx(1.0) and math.isnan(result.p_value)


def test_holm_by_hand():
  # Sorted: 0.005 x 4 = 0.02, 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, 0.04 x 1 = 0.04 -> max 0.06.
  adjusted = stats.holm([0.01, 0.04, 0.03, 0.005, math.nan])
  assert adjusted[:4] == pytest.approx([0.03, 0.06, 0.06, 0.02])
  assert math.isnan(adjusted[4])
  assert stats.holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])


def test_centred_cosine_removes_the_common_component():
  # Three task vectors sharing a large component: raw cosines ~0.99, centred ones 0 and -0.5.
  vectors = {"a": np.array([10.0, 1, 0]), "b": np.array([10.0, 0, 1]), "c": np.array([10.0, -1, -1])}
  raw = questions._cosine(vectors["a"], vectors["b"])
  assert raw > 0.98
  centre = np.mean(list(vectors.values()), axis=0)  # [10, 0, 0]
  assert questions._cosine(vectors["a"] - centre, vectors["b"] - centre) == pytest.approx(0.0)
  # (1, 0) against (-1, -1): -1 / sqrt(2).
  assert questions._cosine(vectors["a"] - centre, vectors["c"] - centre) == pytest.approx(-1 / math.sqrt(2))


# --- calibration: no effect, run-level noise; planted effects, 3 runs per arm ---------


def test_null_sweeps_claim_a_direction_at_most_5_percent_of_the_time():
  rates = calibrate.false_claim_rate(n_sweeps=200, n_runs=3, seed=0, small=True)
  print("false-claim rates on 200 null sweeps (14 conditions, 3 runs each):", rates)
  assert set(rates) == {"q1", "q2", "q3", "q4", "q5"}
  for key, rate in rates.items():
    assert rate <= 0.05, (key, rate)


def test_language_as_unit_would_have_claimed_effects_on_the_same_sweeps():
  """The defect this design fixes: a test over languages ignores run noise shared by them."""
  rng = np.random.default_rng(3)
  claims = 0
  for _ in range(40):
    sweep = calibrate.simulate(rng, 3, small=True)
    study = Study(sweep.runs, sweep.baseline)
    mnli = Condition(("mnli",))
    deltas = study.deltas(mnli)["xcopa"]
    languages = study.targets(study.languages["xcopa"])
    p = scipy_stats.ttest_1samp([deltas[l] for l in languages], 0).pvalue
    claims += p < 0.05
  assert claims / 40 > 0.2  # far above 5%: why languages cannot be the unit


# Planted sizes as in calibrate.PLANTED; floors a little under what 50 sweeps measured
# (q1 0.94, q2 0.70, q3 0.34, q4 0.26, q5 0.32 on the 14-condition grid).
POWER_FLOORS = {"q1": 0.75, "q2": 0.55, "q3": 0.2, "q4": 0.1, "q5": 0.15}


@pytest.mark.parametrize("key", sorted(POWER_FLOORS))
def test_planted_effects_are_found(key):
  found = calibrate.power(key, n_sweeps=50, n_runs=3, seed=1, small=True)
  text, size = calibrate.PLANTED[key]
  print(f"{key}: power {found:.2f} with 3 runs per arm; planted: {text.format(size=size)}")
  assert found >= POWER_FLOORS[key]


def test_fewer_than_three_runs_give_an_estimate_and_no_decision():
  rng = np.random.default_rng(0)
  sweep = calibrate.simulate(rng, 3, small=True, planted="q4", size=20.0, runs_per_condition={"baseline": 2})
  answers = questions.answer_all(Study(sweep.runs, sweep.baseline))
  by_key = {a.key: a for a in answers}
  q4 = by_key["q4"]
  assert q4.decision == "cannot_answer" and q4.p_adjusted is None
  assert "fewer than 3 runs" in q4.reason and q4.estimate is not None
  for answer in answers:
    assert not answer.claims, answer.key


# --- provenance and labels ------------------------------------------------------------


def _results(path: Path, **fields) -> Path:
  path.mkdir(parents=True)
  data = {
      "schema": 1,
      "seed": 0,
      "intermediate": [],
      "tasks": {"xnli": {"metric": "accuracy", "languages": {"sw": {"accuracy": 50.0}}}},
  }
  data.update(fields)
  (path / "results.json").write_text(json.dumps(data))
  return path


def test_conditions_say_what_each_run_did(tmp_path):
  # An old baseline beside an MLM-beside run copied the config: it did no MLM at all.
  legacy_base = load_run(_results(tmp_path / "a", mlm_languages=["sw"], mlm_beside=True))
  assert legacy_base.condition == Condition()
  assert legacy_base.condition.label == "no intermediate"
  assert legacy_base.provenance.startswith("derived")
  legacy_beside = load_run(_results(tmp_path / "b", intermediate=["mnli"], mlm_languages=["sw"], mlm_beside=True))
  assert legacy_beside.condition.label == "mnli (MLM beside on sw)"
  legacy_first = load_run(_results(tmp_path / "c", intermediate=["mnli"], mlm_languages=["sw"]))
  assert legacy_first.condition.label == "mnli (MLM first on sw)"
  recorded = load_run(
      _results(
          tmp_path / "d",
          intermediate=["mnli"],
          mlm_languages=["sw"],
          mlm_beside=True,
          mlm={"first": [], "beside": ["sw"]},
      )
  )
  assert recorded.condition.mlm_beside == ("sw",) and not recorded.condition.mlm_first
  assert recorded.provenance == "recorded"
  with pytest.raises(DataError, match=r"e/results.json: 'mlm' should be"):
    load_run(_results(tmp_path / "e", mlm={"first": []}))


# --- a sweep in, a report out ---------------------------------------------------------


def test_sweep_root_at_any_depth_with_duplicate_seeds_and_unfinished_runs(tmp_path, capsys):
  rng = np.random.default_rng(0)
  sweep = calibrate.simulate(rng, 3, small=True)
  root = tmp_path / "sweep"
  calibrate.write_sweep(sweep, root)
  # A baseline run beside an experiment (config.baseline): same condition and seed as one of
  # the sweep's baseline runs, so it must not count as a fourth baseline run.
  source = root / "baseline" / "seed0" / "baseline" / "results.json"
  twin = root / "mnli" / "seed0" / "baseline"
  twin.mkdir(parents=True)
  twin.joinpath("results.json").write_text(source.read_text())
  # An experiment that has not finished: config.json and phases, no results.json.
  unfinished = root / "ccg" / "seed3" / "ccg"
  (unfinished / "phases").mkdir(parents=True)
  (unfinished / "config.json").write_text("{}")
  out = tmp_path / "report"
  assert main_report([str(root), "--out", str(out)]) == 0
  markdown = (out / "report.md").read_text()
  assert "| no intermediate | baseline | 3 runs (seeds 0, 1, 2) |" in markdown
  assert "seed 0 is in 2 workdirs" in markdown and "count as one replicate" in markdown
  assert "1 experiment directories have no results.json yet" in markdown
  answers = json.loads((out / "answers.json").read_text())
  assert answers["q4"]["runs"]["no intermediate (baseline)"] == 3
  empty = tmp_path / "nothing-here"
  empty.mkdir()
  with pytest.raises(DataError, match="nothing-here: no results.json at or below it"):
    build_report([root, empty], None, tmp_path / "x")


def test_a_report_on_40_conditions_is_small_and_readable(tmp_path):
  from PIL import Image

  rng = np.random.default_rng(7)
  sweep = calibrate.simulate(rng, 3, n_conditions=41, planted="q4", size=30.0)
  calibrate.write_sweep(sweep, tmp_path / "sweep")
  out = tmp_path / "report"
  report = build_report(tmp_path / "sweep", None, out)
  size = report.stat().st_size
  print(f"report.md of 40 conditions: {size / 1024:.1f} KB")
  assert size < 60 * 1024
  answers = json.loads((out / "answers.json").read_text())
  assert list(answers) == ["q1", "q2", "q3", "q4", "q5"]
  for entry in answers.values():
    assert set(entry) == {"question", "primary_test", "estimate", "ci", "p_adjusted", "decision", "reason", "runs"}
  # 30 points on XCOPA for mnli survives Holm over 40 conditions with 3 runs per arm.
  assert answers["q4"]["decision"] == "helps" and "mnli" in answers["q4"]["reason"]
  assert answers["q4"]["p_adjusted"] < 0.05 and len(answers["q4"]["runs"]) == 41
  pngs = sorted(out.glob("*.png"))
  assert {p.name for p in pngs} == {
      "overall_gain.png",
      "gain_by_task.png",
      "gain_by_resource_class.png",
      "gain_vs_distance.png",
  }
  for png in pngs:
    image = Image.open(png)
    assert image.height < 2000 and image.width < 2000, (png.name, image.size)
  html = (out / "report.html").read_text()
  assert "Appendix: per-language deltas" in html and "Appendix: per-language deltas" in (report.read_text())
  assert "| task | en |" not in report.read_text()  # per-language tables: report.html only


def test_several_baselines_that_differ_are_refused(tmp_path):
  a = _results(tmp_path / "a")
  b = _results(tmp_path / "b", intermediate=["mnli"])
  with pytest.raises(DataError, match="baseline workdirs differ"):
    build_report([a, b], [a, b], tmp_path / "out")


# --- Q5's design ----------------------------------------------------------------------


def _study(tasks: dict[str, list[str]], n_runs: int = 3) -> Study:
  runs = []
  for condition in (Condition(), Condition(("mnli",))):
    for seed in range(n_runs):
      scores = {t: {l: 50.0 + seed + (len(condition.intermediate) * 0.1) for l in ls} for t, ls in tasks.items()}
      runs.append(
          Run(
              Path(f"/x/{condition.label}/{seed}"),
              "x",
              condition,
              seed,
              "m",
              "xtreme",
              {t: "accuracy" for t in tasks},
              scores,
              {},
              {},
              {},
              {},
          )
      )
  return Study(runs[n_runs:], runs[:n_runs])


def test_q5_says_when_the_languages_cannot_separate_resource_from_script():
  # Low-resource te ml my are all non-Latin, high-resource de es fr all Latin.
  design = questions.resource_design(_study({"xnli": ["en", "te", "ml", "my", "de", "es", "fr"]}))
  assert design["adjusted"] is None
  assert "cannot separate resource class from distance and script" in design["reason"]
  # Unadjusted contrast: mean of the 3 low minus mean of the 3 high, by hand.
  low = {l for (_, l), x in zip(design["cells"], design["low"]) if x == 1}
  assert low == {"te", "ml", "my"} and len(design["cells"]) == 6  # English left out
  assert design["unadjusted"] == pytest.approx([1 / 3 if x else -1 / 3 for x in design["low"]])


def test_q5_adjusts_when_the_languages_allow_it():
  languages = ["sw", "yo", "mr", "te", "wo", "de", "ar", "tr", "ja", "hi", "fr", "ru"]
  study = _study({"xnli": languages, "panx": languages})
  design = questions.resource_design(study)
  assert design["adjusted"] is not None and design["vif"] < questions.VIF_LIMIT
  # The adjusted weights recover a planted low-resource shift exactly, whatever the covariates.
  cells = design["cells"]
  low = design["low"]
  distance = np.array([study.info[l].distance for _, l in cells])
  y = 3.0 * low + 7.0 * distance + 2.0
  assert float(design["adjusted"] @ y) == pytest.approx(3.0)
