"""`xstilts study PLAN --root DIR`: the runs that answer the research questions, run or printed.

A plan names its questions, its scale, its seeds (at least 3, the baseline's included) and
its arms; an arm is one condition: a config, `--config.KEY=VALUE` overrides and the
questions it serves. The plan expands into runs, one per (arm, seed), each with its own
workdir ROOT/<arm>/seed<S>, listed in ROOT/plan.json. `xstilts study` then either runs
them one after another here (a workdir that holds a results.json is finished and skipped,
so the same command resumes), or with --print-commands prints one launch command per run
(launch/gpu_run.sh or launch/tpu_run.sh form); last it writes the reports from whatever
has finished: ROOT/report over the arms of the main report against ROOT/baseline, and
ROOT/report-<name> for each separate report (arms whose runs the report could not tell
apart from others, as it knows a run only by its intermediate tasks and MLM: a data subset
of the same task, another benchmark), each against its own baseline arm.

Plans: `demo` (the embedded synthetic setup, demo:quick, offline), `full` (XLM-R Large on
the real data under --data-dir), or a JSON file {"name", "scale", "questions", "seeds",
"arms": [{"name", "config", "overrides", "questions", "note"}], "notes"}.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
import shlex
import subprocess
import sys
from typing import Callable, Optional, Sequence

from xstilts_jax.atomic import write_text
from xstilts_jax.errors import ConfigError

QUESTIONS = ("q1", "q2", "q3", "q4", "q5")
MIN_SEEDS = 3
LAUNCHERS = ("gpu", "tpu")
NO_INTERMEDIATE = ("intermediate.tasks=[]", "mlm.languages=[]", "baseline=false")


@dataclasses.dataclass(frozen=True)
class Arm:
  """One condition of the study."""

  name: str
  config: str
  overrides: tuple[str, ...] = ()
  questions: tuple[str, ...] = ()
  note: str = ""
  report: str = ""  # a separate report's name; "" for the main report


@dataclasses.dataclass(frozen=True)
class PlannedRun:
  """One seed of one arm, in its own workdir."""

  arm: str
  seed: int
  config: str
  overrides: tuple[str, ...]
  workdir: str

  def run_args(self, workdir: bool = True) -> list[str]:
    """The arguments of `xstilts run` for this run (the launch scripts add --workdir)."""
    return (
        ["--config", self.config]
        + (["--workdir", self.workdir] if workdir else [])
        + [f"--config.seed={self.seed}", *(f"--config.{o}" for o in self.overrides)]
    )


@dataclasses.dataclass(frozen=True)
class Step:
  """A command the runs need first (e.g. `xstilts select`); done once `creates` exists."""

  creates: str
  argv: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class Plan:
  name: str
  scale: str
  questions: tuple[str, ...]
  arms: tuple[Arm, ...]
  seeds: tuple[int, ...] = (0, 1, 2)
  notes: tuple[str, ...] = ()
  prepare: tuple[Step, ...] = ()
  baselines: tuple[tuple[str, str], ...] = ()  # (separate report, its baseline arm)

  def __post_init__(self):
    if len(set(self.seeds)) < MIN_SEEDS:
      raise ConfigError(f"plan {self.name}: {len(set(self.seeds))} seeds; every arm needs at " f"least {MIN_SEEDS}")
    names = [a.name for a in self.arms]
    if len(set(names)) != len(names):
      raise ConfigError(f"plan {self.name}: arm names repeat: {' '.join(names)}")
    if "baseline" not in names:
      raise ConfigError(f"plan {self.name}: no arm named 'baseline'")
    baselines = {"": "baseline", **dict(self.baselines)}
    for report, base in baselines.items():
      if base not in names:
        raise ConfigError(f"plan {self.name}: report {report or 'main'!r} has no arm {base!r}")
    for arm in self.arms:
      if arm.report not in baselines:
        raise ConfigError(
            f"plan {self.name}, arm {arm.name}: report {arm.report!r} has no " "baseline arm (plan baselines)"
        )
      unknown = [q for q in arm.questions if q not in QUESTIONS]
      if unknown or not arm.name or "/" in arm.name:
        raise ConfigError(
            f"plan {self.name}, arm {arm.name!r}: bad name or question " f"{unknown} (questions: {' '.join(QUESTIONS)})"
        )

  def runs(self, root: str) -> list[PlannedRun]:
    root = root.rstrip("/")
    return [
        PlannedRun(a.name, s, a.config, a.overrides, f"{root}/{a.name}/seed{s}") for a in self.arms for s in self.seeds
    ]

  def reports(self, root: str) -> list[tuple[list[str], str, str]]:
    """(arm workdirs, baseline workdir, out) of every report."""
    root = root.rstrip("/")
    out = []
    for report, base in {"": "baseline", **dict(self.baselines)}.items():
      arms = [a.name for a in self.arms if a.report == report and a.name != base]
      out.append(
          (
              [f"{root}/{base}"] + [f"{root}/{a}" for a in arms],
              f"{root}/{base}",
              f"{root}/report" + (f"-{report}" if report else ""),
          )
      )
    return out

  def to_json(self, root: str) -> dict:
    return {
        "name": self.name,
        "scale": self.scale,
        "questions": list(self.questions),
        "seeds": list(self.seeds),
        "notes": list(self.notes),
        "prepare": [dataclasses.asdict(p) for p in self.prepare],
        "reports": [{"paths": p, "baseline": b, "out": o} for p, b, o in self.reports(root)],
        "arms": [dataclasses.asdict(a) for a in self.arms],
        "runs": [dataclasses.asdict(r) for r in self.runs(root)],
    }


# ----------------------------------------------------------------------------- the plans


def demo_plan() -> Plan:
  """The toy plan on the embedded synthetic languages (configs/demo.py, quick variant)."""
  c = "demo:quick"
  arms = (
      Arm("baseline", c, NO_INTERMEDIATE, QUESTIONS, "no MLM, no intermediate task"),
      Arm(
          "xstilts",
          c,
          ("mlm.languages=[]", "baseline=false"),
          QUESTIONS,
          "intermediate hellaswag + squad_v1, no MLM (the English-only X-STILTs arm)",
      ),
      Arm(
          "mlm_far",
          c,
          ("baseline=false", "mlm.languages=qs,qc"),
          ("q1",),
          "MLM on the two synthetic languages farthest from English, then X-STILTs",
      ),
      Arm(
          "mlm_near",
          c,
          ("baseline=false", "mlm.languages=qn,qv"),
          ("q1",),
          "MLM on the two nearest, same MLM phase (steps by epochs over equal-sized corpora)",
      ),
      Arm(
          "hellaswag",
          c,
          ("mlm.languages=[]", "baseline=false", "intermediate.tasks=hellaswag"),
          ("q3",),
          "one intermediate task",
      ),
      Arm(
          "squad",
          c,
          ("mlm.languages=[]", "baseline=false", "intermediate.tasks=squad_v1"),
          ("q3",),
          "one intermediate task",
      ),
  )
  notes = (
      "Q1: the demo's synthetic languages have no resource classes yet, so the toy arms "
      "contrast far against near languages, not diverse low-resource against high-resource.",
      "Q2 (selected vs random intermediate data) and Q4 (XTREME-R, mT5) have no toy arms "
      "yet: `xstilts select` works on real files; the synthetic generator and the mT5 "
      "pipeline are not wired into this plan.",
  )
  return Plan("demo", "toy (synthetic, demo:quick)", QUESTIONS, arms, notes=notes)


def full_plan(data_dir: str = "DATA_DIR", k: int = 5, mlm_tokens: int = 20_000_000, q2_size: int = 50000) -> Plan:
  """XLM-R Large on real data: every arm of Q1-Q5 (see the research-questions note)."""
  from xstilts_jax.study.languages import resource_contrast, select_language_sets

  sets = {s.name: "+".join(s.languages) for s in select_language_sets(k)}
  contrast = {b: resource_contrast(b) for b in ("xtreme", "xtreme-r")}
  both = lambda g: min(len(g["low"]), len(g["high"])) >= 2
  q5 = "; ".join(
      f"{b}: "
      + ", ".join(f"{t} ({len(g['low'])} low, {len(g['high'])} high)" for t, g in sorted(c.items()) if both(g))
      + "; not separable within task: "
      + ", ".join(t for t, g in sorted(c.items()) if not both(g))
      for b, c in contrast.items()
  )
  c = "configs/xstilts.py"
  data = (f"data.data_dir={data_dir}",)
  mlm_budget = (f"mlm.tokens_per_language={mlm_tokens}",)  # k languages each: equal tokens in every arm
  q2 = f"{data_dir.rstrip('/')}-q2"  # made by the plan's preparation step
  ud = f"{data_dir.rstrip('/')}/udpos/UD_English-EWT/en_ewt-ud-"
  select = Step(
      f"{q2}/selection.json",
      (
          "xstilts",
          "select",
          "--task",
          "mnli",
          "--size",
          str(q2_size),
          "--data-dir",
          data_dir,
          "--out",
          q2,
          "--ud-train",
          ud + "train.conllu",
          "--ud-dev",
          ud + "dev.conllu",
      ),
  )
  arms = [
      Arm("baseline", c, data, QUESTIONS, "XLM-R Large, English fine-tuning only"),
      Arm("squad", f"{c}:intermediate=squad_v1", data, QUESTIONS, "X-STILTs, English-only"),
      Arm("mnli", f"{c}:intermediate=mnli", data, ("q2", "q3", "q5"), ""),
      Arm("hellaswag", f"{c}:intermediate=hellaswag", data, ("q3", "q5"), ""),
      Arm("commonsenseqa", f"{c}:intermediate=commonsenseqa", data, ("q3",), ""),
  ]
  for name, langs in sets.items():
    arms.append(
        Arm(
            f"mlm_{name}",
            f"{c}:intermediate=squad_v1,mlm={langs}",
            data + mlm_budget,
            ("q1",),
            f"MLM on {langs} ({mlm_tokens:,} tokens of each), then X-STILTs",
        )
    )
  for subset in ("diverse", "random"):
    arms.append(
        Arm(
            f"mnli_{subset}",
            f"{c}:intermediate=mnli",
            (f"data.data_dir={q2}/{subset}",),
            ("q2",),
            f"MNLI {subset} subset (xstilts select)",
        )
    )
  for name, arg in (("xtremer_baseline", ""), ("xtremer_squad", "intermediate=squad_v1,")):
    arms.append(Arm(name, f"{c}:{arg}benchmark=xtreme-r", data, ("q4",), "XTREME-R"))
  notes = (
      f"Q1 language sets (k={k}, URIEL syntactic): "
      + "; ".join(f"{n} {l}" for n, l in sets.items())
      + f"; equal MLM budget: {mlm_tokens:,} tokens of each of the {k} languages, one epoch, in every arm.",
      f"Q2: MNLI subsets of {q2_size} examples (POS-trigram diverse, random) by `xstilts "
      f"select`, in {q2}/diverse and {q2}/random (the rest of {data_dir} linked).",
      "Q2's arms are in the main report: a run records its data subset (results.json "
      "data_subset), so the report keeps them apart from mnli and compares diverse with random "
      "(gain difference, and the difference of the gains' slopes on typological distance).",
      "Q5: tasks whose test languages hold at least 2 low- (Joshi 0-2) and 2 high-resource "
      f"(Joshi 4-5) languages besides English, where a within-task contrast can conclude: {q5}.",
      "Q4: the XTREME-R runs are in the main report, the XTREME-R gain measured against the "
      "XTREME-R baseline on XTREME-R's tasks; an mT5 arm needs the mT5 pipeline wiring "
      "(another issue) and is not in this plan.",
  )
  return Plan(
      "full",
      "XLM-R Large, real data",
      QUESTIONS,
      tuple(arms),
      notes=notes,
      prepare=(select,),
  )


def load_plan(name: str, data_dir: Optional[str] = None) -> Plan:
  """`demo`, `full`, or a JSON plan file."""
  if name == "demo":
    return demo_plan()
  if name == "full":
    return full_plan(data_dir or "DATA_DIR")
  path = Path(name)
  if not path.is_file():
    raise ConfigError(f"plan {name!r}: not demo, full, or an existing JSON file")
  try:
    raw = json.loads(path.read_text("utf-8"))
    arms = tuple(
        Arm(
            a["name"],
            a["config"],
            tuple(a.get("overrides", ())),
            tuple(a.get("questions", ())),
            a.get("note", ""),
            a.get("report", ""),
        )
        for a in raw["arms"]
    )
    return Plan(
        raw["name"],
        raw.get("scale", ""),
        tuple(raw.get("questions", QUESTIONS)),
        arms,
        tuple(raw.get("seeds", (0, 1, 2))),
        tuple(raw.get("notes", ())),
        baselines=tuple(tuple(b) for b in raw.get("baselines", {}).items()),
    )
  except json.JSONDecodeError as e:
    raise ConfigError(f"{path}:{e.lineno}: not JSON ({e.msg})") from None
  except (KeyError, TypeError) as e:
    raise ConfigError(f"{path}: a plan needs name and arms, each arm name and config " f"({e})") from None


# ----------------------------------------------------------------------------- running


def finished(workdir: str) -> bool:
  """A run is finished when its workdir holds a results.json (at any depth)."""
  path = Path(workdir)
  return path.is_dir() and any(path.rglob("results.json"))


def launch_command(run: PlannedRun, launcher: str = "gpu") -> str:
  """One launch line; TPU lines leave the TPU's name and zone as $TPU_NAME and $ZONE."""
  args = " ".join(shlex.quote(a) for a in run.run_args(workdir=False))
  if launcher == "gpu":
    return f"launch/gpu_run.sh --workdir {shlex.quote(run.workdir)} -- {args}"
  if launcher == "tpu":
    return (
        f'launch/tpu_run.sh "$TPU_NAME" --zone "$ZONE" --workdir {shlex.quote(run.workdir)} '
        f"--run-name {run.arm}-seed{run.seed} -- {args}"
    )
  raise ConfigError(f"unknown launcher {launcher!r} (expected one of {', '.join(LAUNCHERS)})")


def run_locally(run: PlannedRun) -> int:
  """`xstilts run` for one run, in its own process (each run gets fresh memory)."""
  return subprocess.call([sys.executable, "-m", "xstilts_jax.cli", "run", *run.run_args()])


def report(paths: Sequence[str], baseline: str, out: str) -> int:
  """`xstilts report PATHS... --baseline BASELINE --out OUT`."""
  from xstilts_jax.analysis.report import build_report

  print(f"wrote {build_report(list(paths), [baseline], out)}")
  return 0


def study(
    plan: Plan,
    root: str,
    print_commands: bool = False,
    launcher: str = "gpu",
    run_fn: Callable[[PlannedRun], int] = run_locally,
    report_fn: Callable[[Sequence[str], str, str], int] = report,
    out=print,
    prepare_fn: Optional[Callable[[Step], int]] = None,
) -> int:
  """Write ROOT/plan.json; then print the launch commands, or run what is not finished and
  report. Returns an exit status (a failed run's, which stops the study)."""
  runs = plan.runs(root)
  if print_commands:
    for note in plan.notes:
      out(f"# {note}")
    for step in plan.prepare:
      out(" ".join(shlex.quote(a) for a in step.argv))
    for run in runs:
      out(launch_command(run, launcher))
    for paths, base, where in plan.reports(root):
      out(
          f"xstilts report {' '.join(map(shlex.quote, paths))} --baseline {shlex.quote(base)} "
          f"--out {shlex.quote(where)}"
      )
    return 0
  prepare_fn = prepare_fn or (lambda step: subprocess.call([sys.executable, "-m", "xstilts_jax.cli", *step.argv[1:]]))
  Path(root).mkdir(parents=True, exist_ok=True)
  write_text(Path(root) / "plan.json", json.dumps(plan.to_json(root), indent=1) + "\n")
  for step in plan.prepare:
    if not Path(step.creates).exists():
      out("preparing: " + " ".join(step.argv))
      status = prepare_fn(step)
      if status != 0:
        out(f"preparation failed (exit {status}): {' '.join(step.argv)}")
        return status
  for i, run in enumerate(runs, 1):
    if finished(run.workdir):
      out(f"[{i}/{len(runs)}] {run.arm} seed {run.seed}: finished, skipped")
      continue
    out(f"[{i}/{len(runs)}] {run.arm} seed {run.seed}: running in {run.workdir}")
    status = run_fn(run)
    if status != 0:
      out(f"{run.arm} seed {run.seed} failed (exit {status}); run the same command to resume")
      return status
  status = 0
  for paths, base, where in plan.reports(root):
    status = status or report_fn(paths, base, where)
  return status


def run_from_args(args) -> int:
  plan = load_plan(args.plan, args.data_dir)
  return study(plan, args.root, args.print_commands, args.launcher)
