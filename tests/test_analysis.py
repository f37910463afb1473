"""Analysis: statistics with known answers, the language table, and reports on fabricated workdirs."""

import json
from pathlib import Path
import random

import numpy as np
import pytest

from xstilts_jax.analysis import stats
from xstilts_jax.analysis.languages import language_table
from xstilts_jax.analysis.report import build_report, main_report
from xstilts_jax.analysis.results import Condition, load_runs
from xstilts_jax.analysis.study import Study
from xstilts_jax.errors import DataError
from xstilts_jax.tasks import registry

FAST = dict(n_bootstrap=500, n_permutations=500)

# --- statistics ----------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_planted_correlation_is_found(seed):
  rng = np.random.default_rng(seed)
  x = rng.normal(size=30)
  y = x + 0.5 * rng.normal(size=30)
  estimate = stats.spearman(x, y, seed=seed, **FAST)
  assert estimate.n == 30
  assert estimate.ci_low > 0 and estimate.p_value < 0.01
  assert estimate.ci_low <= estimate.estimate <= estimate.ci_high


def test_no_correlation_where_none_was_planted():
  false_positives = 0
  for seed in range(20):
    rng = np.random.default_rng(100 + seed)
    estimate = stats.spearman(rng.normal(size=25), rng.normal(size=25), seed=seed, **FAST)
    false_positives += estimate.ci_excludes_zero
  assert false_positives <= 3  # about 1 expected at 95%


def test_permutation_p_values_are_calibrated():
  rng = np.random.default_rng(7)
  p_values = []
  for i in range(200):
    a, b = rng.normal(size=10), rng.normal(size=10)
    p_values.append(stats.spearman(a, b, n_bootstrap=50, n_permutations=300, seed=i).p_value)
  rejected = np.mean(np.array(p_values) < 0.05)
  assert 0.01 <= rejected <= 0.10
  assert 0.4 <= np.mean(p_values) <= 0.6  # null p-values are roughly uniform


def test_exact_small_sample_p_values():
  # 4 pairs in perfect rank order: 2 of the 24 pairings reach |rho| = 1.
  assert stats.spearman([1, 2, 3, 4], [10, 20, 30, 40]).p_value == pytest.approx(2 / 24)


def test_too_few_units_give_no_interval():
  assert np.isnan(stats.spearman([1, 2], [2, 1]).ci_low)
  with pytest.raises(DataError):
    stats.spearman([1, 2, 3], [1, 2])


# --- the language table ---------------------------------------------------------


def test_language_table_agrees_with_task_registry():
  table = language_table()
  assert len(table) == 50
  # Two independent transcriptions of evaluate.py: the registry's lists and the CSV's columns.
  assert sorted(l for l, i in table.items() if "xcopa" in i.xtreme_r_tasks) == sorted(registry.XCOPA_LANGUAGES)
  assert sorted(l for l, i in table.items() if "xnli" in i.xtreme_tasks) == sorted(registry.XNLI_LANGUAGES)
  assert table["en"].distance == 0.0
  assert all(0 < i.distance <= 1 for l, i in table.items() if l != "en")
  assert {l for l, i in table.items() if i.mostly_imputed} == {"af", "gu", "ht", "jv", "kk", "ml"}
  assert table["qu"].low_resource and not table["de"].low_resource


# --- reports on fabricated workdirs ------------------------------------------------

SYNTHETIC_DISTANCE = {"en": 0.0, "qn": 0.0625, "qv": 0.375, "qs": 0.625, "qc": 0.6875}
SYNTHETIC_TASKS = {"xnli": "accuracy", "xquad": "squad_v1", "panx": "seqeval_f1"}


def _metric_values(metric, score):
  if metric == "squad_v1":
    return {"f1": score + 4, "exact_match": score - 4}
  if metric == "seqeval_f1":
    return {"f1": score, "precision": score + 1, "recall": score - 1}
  return {"accuracy": score}


def write_run(
    root: Path,
    name,
    intermediate,
    gain,
    seed,
    languages=SYNTHETIC_DISTANCE,
    tasks=SYNTHETIC_TASKS,
    mlm=(),
    data="synthetic",
    facts=None,
    beside=False,
    legacy=False,
    run_offset=0.0,
    fisher=None,
):
  """A results.json following the pipeline's schema; score = 80 - 40 d + gain(task, lang, d)."""
  rng = random.Random(f"{name}/{seed}")
  facts = facts or {l: d for l, d in languages.items()}
  results = {}
  for task, metric in tasks.items():
    task_languages = metric[1] if isinstance(metric, tuple) else list(languages)
    metric = metric[0] if isinstance(metric, tuple) else metric
    per_language = {}
    for language in task_languages:
      d = facts[language]
      score = 80 - 40 * d + gain(task, language, d) + rng.gauss(0, 0.2) + run_offset
      per_language[language] = _metric_values(metric, score)
    results[task] = {"metric": metric, "languages": per_language, "average": {}}
  vectors = random.Random(1)
  # As the pipeline: intermediate tasks and the targets' English training tasks.
  embeddings = {t: [vectors.gauss(0, 1) for _ in range(8)] for t in ("mnli", "squad_v1", "hellaswag", "panx", "copa")}
  diversity = {"mnli": 6.0, "squad_v1": 8.0, "hellaswag": 7.0}
  workdir = root / f"{name}-seed{seed}"
  workdir.mkdir(parents=True)
  record = {} if legacy else {"mlm": {"first": [] if beside else list(mlm), "beside": list(mlm) if beside else []}}
  (workdir / "results.json").write_text(
      json.dumps(
          {
              "schema": 1,
              "experiment": name,
              "intermediate": list(intermediate),
              "mlm_languages": list(mlm),
              "mlm_beside": beside,
              "translated": False,
              "seed": seed,
              **record,
              "model": "tiny-xlmr",
              "data": data,
              "eval_split": {t: "test" for t in tasks},
              "tasks": results,
              "xtreme": {
                  "tasks": {},
                  "overall": 60.0 + gain("xnli", "en", 0.0),
                  "categories": {"classification": 70.0},
                  "missing_tasks": ["pawsx"],
                  "missing_languages": {},
                  "ignored_languages": {},
              },
              "languages": (
                  {
                      l: {"distance_to_en": d, "features": {"script": "Cyrl" if l == "qc" else "Latn"}}
                      for l, d in languages.items()
                      if l != "en"
                  }
                  if data == "synthetic"
                  else {}
              ),
              "task_embeddings": embeddings,
              "task_diversity": {t: {"word_class_entropy": diversity[t], "distinct_2": 0.5} for t in intermediate},
              **({"task_embeddings_fisher": fisher} if fisher is not None else {}),
          }
      )
  )
  return workdir


@pytest.fixture
def synthetic_runs(tmp_path):
  root = tmp_path / "runs"
  baseline = [write_run(root, "base", [], lambda t, l, d: 0.0, s) for s in (0, 1)]
  grows = [write_run(root, "mnli", ["mnli"], lambda t, l, d: 1 + 10 * d, s) for s in (0, 1)]
  shrinks = [write_run(root, "squad", ["squad_v1"], lambda t, l, d: 4 - 5 * d, 0)]
  flat = [write_run(root, "hella", ["hellaswag"], lambda t, l, d: 1.0, 0)]
  mlm = [
      write_run(
          root, "mlm", ["mnli"], lambda t, l, d: 1 + 10 * d + (4 if l in ("qs", "qc") else 2), 0, mlm=("qs", "qc")
      )
  ]
  control = [write_run(root, "mlm-en", ["mnli"], lambda t, l, d: 1.5 + 10 * d, 0, mlm=("en",))]
  return baseline, grows + shrinks + flat + mlm + control


SECTIONS = [
    "Answers to the five questions",
    "Conventions",
    "Runs",
    "Q1:",
    "Q2:",
    "Q3:",
    "Q4:",
    "Q5:",
    "Exploratory: overall transfer gain per condition",
    "Exploratory: mean gain per condition and task",
    "Exploratory: XTREME score",
    "Exploratory: cross-lingual transfer gap",
    "Exploratory: gains by language group",
    "By resource class",
    "By family",
    "By script",
    "Exploratory: gain vs typological distance to English",
    "Appendix: per-language deltas against the baseline",
]


def _images(markdown: str) -> list[str]:
  return [line.split("](")[1].rstrip(")") for line in markdown.splitlines() if line.startswith("![")]


def test_report_on_synthetic_runs(synthetic_runs, tmp_path):
  from PIL import Image

  baseline, others = synthetic_runs
  out = tmp_path / "report"
  path = build_report(others, baseline, out)
  markdown = path.read_text()
  html = (out / "report.html").read_text()
  for section in SECTIONS:
    assert f"## {section}" in markdown or f"### {section}" in markdown, section
    assert section.rstrip(":") in html
  images = _images(markdown)
  assert len(images) >= 9  # 5 heatmaps, overall gain, gain by task, distance, resource class
  assert {"gain_vs_distance.png", "gain_by_resource_class.png", "overall_gain.png", "gain_by_task.png"} <= set(images)
  for name in images:
    assert f'src="{name}"' in html
    pixels = np.asarray(Image.open(out / name).convert("L"), dtype=float)
    assert pixels.var() > 0, name
  assert "| no intermediate | baseline | 2 runs (seeds 0, 1) |" in markdown
  # Planted: the mnli gain grows with distance, the squad_v1 gain shrinks (rank correlation).
  assert "| mnli | +1.00 |" in markdown and "| squad_v1 | -1.00 |" in markdown
  answers = json.loads((out / "answers.json").read_text())
  # Q2 and Q4: no subset, XTREME-R or mT5 arms; the answers name the runs they need.
  q2, q4 = answers["q2"], answers["q4"]
  assert q2["decision"] == "cannot_answer" and q2["subset_pairs"] == []
  assert [m["condition"] for m in q2["missing_runs"]] == [
      "mnli (diverse subset of mnli, N examples)",
      "mnli (random subset of mnli, N examples)",
  ]
  assert "mnli (random subset of mnli, N examples): seeds 0, 1, 2" in q2["reason"]
  assert q4["decision"] == "cannot_answer"
  needed = {m["condition"]: m["add_seeds"] for m in q4["missing_runs"]}
  # mnli has seeds 0 and 1: its XTREME-R and mT5 twins need those and a third; mnli itself seed 2.
  assert needed["mnli (XTREME-R)"] == [0, 1, 2] and needed["no intermediate (XTREME-R)"] == [0, 1, 2]
  assert needed["mnli (mt5 text-to-text)"] == [0, 1, 2] and needed["mnli"] == [2]
  assert "mnli (XTREME-R): seeds 0, 1, 2" in q4["reason"]
  assert [g["condition"] for g in q4["gains"]] == ["hellaswag", "mnli", "squad_v1"]
  assert "need languages with a known resource class" in answers["q5"]["reason"]
  # One run per arm: an estimate, no direction.
  q1 = answers["q1"]
  assert q1["decision"] == "cannot_answer" and q1["p_adjusted"] is None
  # Planted: MLM adds 4 on qs, qc (the MLM set) and 2 on qn, qv, the languages outside it.
  assert q1["estimate"] == pytest.approx(2.0, abs=0.3)
  assert "fewer than 3 runs" in q1["reason"]
  assert q1["runs"] == {"mnli (MLM first on qs,qc)": 1, "mnli": 2}


def test_deltas_average_seeds_and_qa_metrics(synthetic_runs):
  baseline, others = synthetic_runs
  study = Study(load_runs(others), load_runs(baseline))
  mnli = Condition(intermediate=("mnli",))
  deltas = study.deltas(mnli)
  for task in SYNTHETIC_TASKS:
    for language, d in SYNTHETIC_DISTANCE.items():
      assert deltas[task][language] == pytest.approx(1 + 10 * d, abs=0.8), (task, language)
  # QA's main score is (F1 + EM) / 2: F1 and EM were written as score +- 4.
  scores = study.mean_scores(study.baseline)
  assert scores["xquad"]["qs"] == pytest.approx(80 - 40 * 0.625, abs=0.5)
  assert len(study.runs_of(mnli)) == 2


def test_report_on_real_languages_answers_q5(tmp_path):
  table = language_table()
  facts = {l: i.distance for l, i in table.items()}
  tasks = {
      "xnli": ("accuracy", "en de es hi sw th tr vi zh ur".split()),
      "xcopa": ("accuracy", "et ht id it qu sw ta th tr vi zh".split()),
  }

  def gain(task, language, d):  # low-resource languages gain 5 points more
    return 1 + (5 if table[language].joshi_class <= 2 else 0)

  root = tmp_path / "runs"
  baseline = [
      write_run(root, "base", [], lambda t, l, d: 0.0, s, tasks=tasks, data="xtreme", facts=facts, run_offset=0.3 * s)
      for s in (0, 1, 2)
  ]
  runs = [
      write_run(root, "mnli", ["mnli"], gain, s, tasks=tasks, data="xtreme", facts=facts, run_offset=-0.2 * s)
      for s in (0, 1, 2)
  ]
  markdown = build_report(runs, baseline, tmp_path / "out").read_text()
  answers = json.loads((tmp_path / "out" / "answers.json").read_text())
  # Q4's gain of mnli on XTREME with XLM-R: per task the mean over its non-English languages,
  # then over the two tasks, of the planted gain, minus the run offsets' means (-0.2 against +0.3).
  planted = np.mean([np.mean([gain(t, l, 0) for l in ls if l != "en"]) for t, (_, ls) in tasks.items()]) - 0.5
  (mnli,) = answers["q4"]["gains"]
  assert mnli["condition"] == "mnli" and mnli["gain"]["estimate"] == pytest.approx(planted, abs=0.2)
  assert answers["q4"]["decision"] == "cannot_answer"  # no XTREME-R or mT5 arm
  assert answers["q5"]["decision"] == "low_resource_gain_more", answers["q5"]
  assert answers["q5"]["estimate"] == pytest.approx(5.0, abs=0.5)
  assert "Sensitivity: other distances" in markdown
  assert "syntactic (observed only)" in markdown


def test_missing_results_json_is_one_line_error(synthetic_runs, tmp_path):
  baseline, others = synthetic_runs
  empty = tmp_path / "not-a-run"
  empty.mkdir()
  with pytest.raises(DataError) as error:
    build_report(others + [empty], baseline, tmp_path / "out")
  message = str(error.value)
  assert str(empty) in message and "results.json" in message and "\n" not in message
  assert not (tmp_path / "out" / "report.md").exists()


def test_malformed_results_json_names_the_file(tmp_path):
  workdir = tmp_path / "broken"
  workdir.mkdir()
  (workdir / "results.json").write_text(
      '{"schema": 1, "seed": 0, "tasks": {"xnli": ' '{"metric": "accuracy", "languages": {"en": {"f1": 1}}}}}'
  )
  with pytest.raises(DataError, match=r"broken/results.json: tasks.xnli.languages.en: no numeric 'accuracy'"):
    build_report([workdir], workdir, tmp_path / "out")


def test_mismatched_languages_use_the_intersection(synthetic_runs, tmp_path):
  baseline, _ = synthetic_runs
  fewer = {l: d for l, d in SYNTHETIC_DISTANCE.items() if l != "qc"}
  run = write_run(tmp_path / "other", "mnli", ["mnli"], lambda t, l, d: 2.0, 0, languages=fewer)
  markdown = build_report([run], baseline, tmp_path / "out").read_text()
  assert "languages not in every run were left out (the report uses the intersection): qc" in markdown
  assert "| task | en | qn | qv | qs |" in markdown  # qc is gone from the tables


def test_disjoint_language_sets_are_an_error(synthetic_runs, tmp_path):
  baseline, _ = synthetic_runs
  run = write_run(
      tmp_path / "other", "mnli", ["mnli"], lambda t, l, d: 2.0, 0, languages={"xx": 0.5}, facts={"xx": 0.5}
  )
  with pytest.raises(DataError, match="no \\(task, language\\) in common"):
    build_report([run], baseline, tmp_path / "out")


def test_cli_glue(synthetic_runs, tmp_path, capsys):
  from xstilts_jax import cli

  baseline, others = synthetic_runs
  argv = (
      ["report"]
      + [str(p) for p in others[:2]]
      + ["--baseline", str(baseline[0]), "--baseline", str(baseline[1]), "--out", str(tmp_path / "cli")]
  )
  assert cli.main(argv) == 0
  assert (tmp_path / "cli" / "report.md").is_file() and (tmp_path / "cli" / "report.html").is_file()
  assert "report.md" in capsys.readouterr().out
  # Both --baseline values count: the baseline has 2 runs, not only the last one given.
  markdown = (tmp_path / "cli" / "report.md").read_text()
  assert "| no intermediate | baseline | 2 runs (seeds 0, 1) |" in markdown
  assert main_report([str(others[0]), "--baseline", str(baseline[0]), "--out", str(tmp_path / "one")]) == 0
  one = (tmp_path / "one" / "report.md").read_text()
  assert "| no intermediate | baseline | 1 run (seed 0) |" in one


def test_subset_benchmark_and_backbone_keep_runs_apart(tmp_path):
  """Runs that differ only in their data subset, benchmark or backbone are other conditions
  (labelled as such), and results.json files written before those keys read as XLM-R on XTREME
  with whole data; a malformed value names the file and key."""
  from xstilts_jax.analysis.results import Condition, group_by_condition, load_run

  def run(name, **extra):
    workdir = write_run(tmp_path, name, ("mnli",), lambda *a: 0.0, 0)
    data = json.loads((workdir / "results.json").read_text())
    (workdir / "results.json").write_text(json.dumps({**data, **extra}))
    return workdir

  plain = load_run(run("plain"))
  diverse = load_run(run("diverse", data_subset={"task": "mnli", "subset": "diverse", "size": 600}))
  random_ = load_run(run("random", data_subset={"task": "mnli", "subset": "random", "size": 600}))
  xtreme_r = load_run(run("xr", benchmark="xtreme-r"))
  mt5 = load_run(run("mt5", backbone="mt5", protocol="text-to-text"))
  assert plain.condition == Condition(("mnli",))  # no keys: the defaults
  conditions = [r.condition for r in (plain, diverse, random_, xtreme_r, mt5)]
  assert len(group_by_condition([plain, diverse, random_, xtreme_r, mt5])) == 5
  assert [c.label for c in conditions] == [
      "mnli",
      "mnli (diverse subset of mnli, 600 examples)",
      "mnli (random subset of mnli, 600 examples)",
      "mnli (XTREME-R)",
      "mnli (mt5 text-to-text)",
  ]
  assert diverse.condition.data_subset == "diverse:mnli:600"
  # Two sizes of one subset are two arms.
  smaller = load_run(run("small", data_subset={"task": "mnli", "subset": "diverse", "size": 300}))
  assert smaller.condition != diverse.condition and smaller.condition.label.endswith("300 examples)")
  with pytest.raises(DataError, match=r"bads-seed0/results.json: 'data_subset.size' should be an integer"):
    load_run(run("bads", data_subset={"task": "mnli", "subset": "diverse", "size": "600"}))
  with pytest.raises(DataError, match=r"bad-seed0/results.json: 'data_subset' should be"):
    load_run(run("bad", data_subset="diverse"))
  with pytest.raises(DataError, match=r"badb-seed0/results.json: 'backbone' should be a non-empty string"):
    load_run(run("badb", backbone=""))


def _q3_runs(root, fisher):
  """Three single-task conditions and a baseline, two seeds each; `fisher(seed)` -> that run's TaskEmb."""
  runs = [write_run(root, "base", [], lambda t, l, d: 0.0, s, fisher=fisher(s)) for s in (0, 1, 2)]
  for name, gain in (("mnli", 2.0), ("squad_v1", 1.0), ("hellaswag", 0.5)):
    runs += [write_run(root, name, [name], lambda t, l, d, g=gain: g, s, fisher=fisher(s)) for s in (0, 1, 2)]
  return runs[:3], runs[3:]


@pytest.mark.parametrize(
    "coverage, expected",
    [
        (("mnli", "squad_v1", "hellaswag", "panx", "copa"), "TaskEmb"),  # covers what TextEmb covers: preferred
        (("mnli", "copa"), "TextEmb"),  # covers fewer (condition, task) pairs: TextEmb answers
        ((), "TextEmb"),  # runs made before TaskEmb
    ],
)
def test_q3_says_which_task_vectors_it_uses(tmp_path, coverage, expected):
  rng = np.random.default_rng(0)
  fixed = {t: rng.normal(size=6).tolist() for t in coverage}
  baseline, others = _q3_runs(tmp_path / "runs", lambda seed: fixed if coverage else None)
  build_report(others, baseline, tmp_path / "report")
  answers = json.loads((tmp_path / "report" / "answers.json").read_text())
  assert answers["q3"]["similarity"] == expected
  markdown = (tmp_path / "report" / "report.md").read_text()
  q3 = markdown.split("Q3:")[1].split("Q4:")[0]
  assert f"cosine of {expected} (" in q3


def test_taskemb_is_averaged_over_the_runs_that_trained_the_task(tmp_path):
  from xstilts_jax.analysis import questions

  vectors = {0: {"mnli": [1.0, 0.0], "copa": [0.0, 2.0], "panx": [0.0, 0.0]}, 1: {"mnli": [3.0, 2.0]}, 2: {}}
  baseline, others = _q3_runs(tmp_path / "runs", lambda seed: vectors[seed])
  got = questions.task_vectors(Study(load_runs(others), load_runs(baseline)), "task_embeddings_fisher")
  # Each seed's vectors are in as many runs as the other's: the mean over runs is the mean over seeds.
  np.testing.assert_allclose(got["mnli"], [2.0, 1.0])
  np.testing.assert_allclose(got["copa"], [0.0, 2.0])
  assert set(got) == {"mnli", "copa"}  # panx's all-zero Fisher has no direction to compare
