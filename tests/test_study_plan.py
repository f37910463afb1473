"""`xstilts study`: plans expand into runs, finished runs are skipped, launch lines printed.

A stub stands in for `xstilts run` and for the report: nothing is trained here.
"""

import json
import shlex

import pytest

from xstilts_jax import cli
from xstilts_jax.errors import ConfigError
from xstilts_jax.study import plan as sp


def _stub(calls, fail_on=None):
  def run(r):
    calls.append((r.arm, r.seed))
    if (r.arm, r.seed) == fail_on:
      return 3
    (sp.Path(r.workdir) / "exp").mkdir(parents=True, exist_ok=True)
    (sp.Path(r.workdir) / "exp" / "results.json").write_text("{}")
    return 0

  return run


def test_demo_plan_expands_to_three_seeds_per_arm(tmp_path):
  plan = sp.load_plan("demo")
  runs = plan.runs(str(tmp_path))
  arms = [a.name for a in plan.arms]
  assert len(runs) == 3 * len(arms) and "baseline" in arms
  assert {(r.arm, r.seed) for r in runs} == {(a, s) for a in arms for s in (0, 1, 2)}
  assert len({r.workdir for r in runs}) == len(runs)
  for r in runs:
    assert r.workdir == f"{tmp_path}/{r.arm}/seed{r.seed}"
  # Every question has arms; every arm's overrides apply to its config.
  assert set(sp.QUESTIONS) <= {q for a in plan.arms for q in a.questions}
  for arm in plan.arms:
    config = cli.apply_overrides(cli.load_config(arm.config), list(arm.overrides))
    assert config.baseline is False
  base = cli.apply_overrides(
      cli.load_config("demo:quick"), list(next(a for a in plan.arms if a.name == "baseline").overrides)
  )
  assert list(base.intermediate.tasks) == [] and list(base.mlm.languages) == []
  far = next(a for a in plan.arms if a.name == "mlm_far")
  far_config = cli.apply_overrides(cli.load_config(far.config), list(far.overrides))
  assert list(far_config.mlm.languages) == ["qs", "qc"]


def test_full_plan_arms_load(tmp_path):
  plan = sp.load_plan("full", "/data")
  names = {a.name for a in plan.arms}
  assert {
      "baseline",
      "squad",
      "mlm_diverse",
      "mlm_non_diverse",
      "mlm_high_resource",
      "mnli_diverse",
      "mnli_random",
      "xtremer_squad",
  } <= names
  for arm in plan.arms:
    config = cli.apply_overrides(cli.load_config(arm.config), list(arm.overrides))
    assert config.data.data_dir.startswith("/data")
  mlm = {
      a.name: cli.apply_overrides(cli.load_config(a.config), list(a.overrides))
      for a in plan.arms
      if a.name.startswith("mlm_")
  }
  assert len({tuple(c.mlm.languages) for c in mlm.values()}) == 3
  assert {c.mlm.tokens_per_language for c in mlm.values()} == {20_000_000}  # equal MLM budget (tokens)
  assert {len(c.mlm.languages) for c in mlm.values()} == {5}  # ... of as many languages in every arm


def test_runs_in_sequence_skips_finished_and_resumes(tmp_path):
  plan = sp.load_plan("demo")
  root = str(tmp_path / "study")
  first = plan.runs(root)[1]
  (sp.Path(first.workdir) / "exp").mkdir(parents=True)
  (sp.Path(first.workdir) / "exp" / "results.json").write_text("{}")
  calls, reports, lines = [], [], []
  stop = (plan.arms[1].name, 0)
  code = sp.study(
      plan, root, run_fn=_stub(calls, fail_on=stop), report_fn=lambda *a: reports.append(a), out=lines.append
  )
  assert code == 3 and not reports  # a failed run stops the study before the report
  assert calls == [("baseline", 0), ("baseline", 2), stop]
  assert any("finished, skipped" in l for l in lines)
  calls.clear()
  code = sp.study(plan, root, run_fn=_stub(calls), report_fn=lambda *a: reports.append(a) or 0, out=lines.append)
  assert code == 0 and reports == [([f"{root}/{a.name}" for a in plan.arms], f"{root}/baseline", f"{root}/report")]
  expected = [(r.arm, r.seed) for r in plan.runs(root)][3:]
  assert calls == expected  # only what had not finished, in order
  saved = json.loads((tmp_path / "study" / "plan.json").read_text())
  assert len(saved["runs"]) == 3 * len(plan.arms) and saved["seeds"] == [0, 1, 2]
  calls.clear()
  sp.study(plan, root, run_fn=_stub(calls), report_fn=lambda *a: 0, out=lines.append)
  assert calls == []


@pytest.mark.parametrize("launcher", ["gpu", "tpu"])
def test_print_commands(tmp_path, launcher):
  plan = sp.load_plan("demo")
  lines = []
  calls = []
  assert sp.study(plan, "gs://bucket/study", True, launcher, run_fn=_stub(calls), out=lines.append) == 0
  assert calls == [] and not (tmp_path / "plan.json").exists()
  commands = [l for l in lines if not l.startswith("#")]
  assert len(commands) == 3 * len(plan.arms) + 1
  for line, run in zip(commands, plan.runs("gs://bucket/study")):
    words = shlex.split(line)
    assert words[0] == f"launch/{launcher}_run.sh"
    after = words[words.index("--") + 1 :]
    assert words[words.index("--workdir") + 1] == run.workdir and "--workdir" not in after
    assert after[:2] == ["--config", "demo:quick"] and f"--config.seed={run.seed}" in after
  arms = " ".join(f"gs://bucket/study/{a.name}" for a in plan.arms)
  assert commands[-1] == (
      f"xstilts report {arms} --baseline gs://bucket/study/baseline " "--out gs://bucket/study/report"
  )


def test_plan_file_and_errors(tmp_path):
  good = {
      "name": "mine",
      "seeds": [0, 1, 2],
      "arms": [
          {"name": "baseline", "config": "demo:quick", "questions": ["q5"]},
          {"name": "other", "config": "demo:quick", "overrides": ["baseline=false"]},
      ],
  }
  path = tmp_path / "plan.json"
  path.write_text(json.dumps(good))
  assert [r.arm for r in sp.load_plan(str(path)).runs("r")] == ["baseline"] * 3 + ["other"] * 3
  for bad, what in (
      ({**good, "seeds": [0, 1]}, "at least 3"),
      ({**good, "arms": [*good["arms"], {"name": "x", "config": "c", "report": "r"}]}, "no baseline arm"),
      ({**good, "arms": good["arms"][1:]}, "baseline"),
      ({"name": "x"}, "need"),
  ):
    path.write_text(json.dumps(bad))
    with pytest.raises(ConfigError, match=what) as e:
      sp.load_plan(str(path))
    assert "\n" not in str(e.value)
  path.write_text("{oops")
  with pytest.raises(ConfigError, match="plan.json:1"):
    sp.load_plan(str(path))
  with pytest.raises(ConfigError):
    sp.load_plan("nonesuch")


def test_cli_study_print_commands(capsys):
  assert cli.main(["study", "demo", "--root", "/r", "--print-commands"]) == 0
  assert "launch/gpu_run.sh --workdir /r/baseline/seed0" in capsys.readouterr().out


def test_full_plan_prepares_the_q2_selection_once(tmp_path):
  data = str(tmp_path / "data")
  plan = sp.load_plan("full", data)
  (step,) = plan.prepare
  args = cli.build_parser().parse_args(list(step.argv[1:]))
  assert (args.command, args.task, args.data_dir) == ("select", "mnli", data)
  q2_arms = [a for a in plan.arms if a.name.startswith("mnli_")]
  assert sorted(o for a in q2_arms for o in a.overrides) == [
      f"data.data_dir={data}-q2/diverse",
      f"data.data_dir={data}-q2/random",
  ]
  lines = []
  sp.study(plan, "/r", True, out=lines.append)
  commands = [l for l in lines if not l.startswith("#")]
  assert commands[0].startswith("xstilts select --task mnli") and len(commands) == len(plan.runs("/r")) + 1 + 1
  # One report: it tells the subset and XTREME-R arms apart from mnli and squad (results.json's
  # data_subset and benchmark), and Q4 needs the XTREME-R baseline beside the XTREME one.
  ((paths, base, out),) = plan.reports("/r")
  assert (base, out) == ("/r/baseline", "/r/report")
  assert {
      "/r/mnli",
      "/r/mlm_diverse",
      "/r/mnli_diverse",
      "/r/mnli_random",
      "/r/xtremer_squad",
      "/r/xtremer_baseline",
  } <= set(paths)
  args = cli.build_parser().parse_args(shlex.split(commands[-1])[1:])
  assert args.command == "report" and args.baseline == ["/r/baseline"]
  prepared, calls = [], []

  def prepare(s):
    prepared.append(s)
    sp.Path(s.creates).parent.mkdir(parents=True)
    sp.Path(s.creates).write_text("{}")
    return 0

  root = str(tmp_path / "study")
  assert sp.study(plan, root, run_fn=_stub(calls), report_fn=lambda *a: 0, out=lines.append, prepare_fn=prepare) == 0
  assert prepared == [step] and len(calls) == len(plan.runs(root))
  sp.study(plan, root, run_fn=_stub(calls), report_fn=lambda *a: 0, out=lines.append, prepare_fn=prepare)
  assert prepared == [step]  # done once
