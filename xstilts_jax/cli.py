"""`xstilts`: run | score | export | report | bench | plan | sweep | tasks.

  xstilts run                                              # the embedded default (configs/demo.py)
  xstilts run --config configs/xstilts.py:intermediate=squad_v1 --workdir DIR --config.intermediate.learning_rate=2e-5
  xstilts score --task xquad --predictions preds.json --gold xquad.de.json
  xstilts export --workdir DIR --phase target:xnli --out HF_DIR [--overwrite]
  xstilts report SWEEP_ROOT --out REPORT_DIR                  # or: DIR1 DIR2 --baseline DIR0 ...
  xstilts bench --size base --batch 8 --seq 128
  xstilts plan --topology v5e:2x4 --config configs/xstilts.py:intermediate=squad_v1,tpu=v5e-8
  xstilts sweep --config configs/xstilts.py --workdir-root gs://bucket/xstilts

A problem with the input (config, data, checkpoint), a full disk or a workdir in use by another
run ends with one line on stderr and exit 2. A run stopped by SIGTERM (a preemption) saves a
checkpoint and exits with 75 (EX_TEMPFAIL): run the same command again to resume.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import difflib
import importlib
import importlib.util
import json
import logging
import os
from pathlib import Path
import sys
from typing import Optional, Sequence

from xstilts_jax.errors import EXIT_PREEMPTED, ConfigError, Preempted, XstiltsError, disk_full, is_disk_full

# ----------------------------------------------------------------------------- configs


def load_config(spec: str):
  """`NAME[:ARG]` (a file of xstilts_jax.configs) or `PATH.py[:ARG]` -> get_config(ARG)."""
  import ml_collections

  target, _, arg = spec.partition(":")
  if target.endswith(".py"):
    path = Path(target)
    if not path.is_file():
      raise ConfigError(f"config file {target} does not exist")
    file = path.resolve()
    name = f"xstilts_jax.configs.{path.stem}"
    if path.resolve().parent == _package_config_dir():
      module = _config_step(file, lambda: importlib.import_module(name))
    else:
      loader = importlib.util.spec_from_file_location(f"xstilts_user_config_{path.stem}", path)
      module = importlib.util.module_from_spec(loader)
      _config_step(file, lambda: loader.loader.exec_module(module))
  else:
    file = _package_config_dir() / f"{target}.py"
    try:
      module = _config_step(file, lambda: importlib.import_module(f"xstilts_jax.configs.{target}"))
    except ModuleNotFoundError as e:
      if e.name != f"xstilts_jax.configs.{target}":
        raise
      known = sorted(p.stem for p in _package_config_dir().glob("*.py") if not p.stem.startswith("_"))
      raise ConfigError(
          f"no config named {target!r} (known: {', '.join(known)}; or give a path to a .py file)"
      ) from None
  get_config = getattr(module, "get_config", None)
  if not callable(get_config):
    raise ConfigError(f"{file}: no get_config(arg) function")
  try:
    config = _config_step(file, lambda: get_config(arg or None), reraise=(ValueError,))
  except ValueError as e:
    raise ConfigError(f"{spec}: {e}") from None
  if not isinstance(config, ml_collections.ConfigDict):
    raise ConfigError(f"{file}: get_config returned {type(config).__name__}, expected an " "ml_collections.ConfigDict")
  return config


def _config_step(file: Path, fn, reraise=()):
  """Run `fn` (import a config file, call its get_config); an error in the file becomes one
  line naming the file and the line where it happened."""
  try:
    return fn()
  except reraise:
    raise
  except SyntaxError as e:
    raise ConfigError(f"{e.filename or file}:{e.lineno}: syntax error ({e.msg})") from None
  except ModuleNotFoundError as e:
    if e.name and e.name.startswith("xstilts_jax.configs.") and not file.exists():
      raise
    raise ConfigError(f"{file}:{_line_in(e, file)}: {type(e).__name__}: {e}") from None
  except Exception as e:  # the config file's own code raised
    raise ConfigError(f"{file}:{_line_in(e, file)}: {type(e).__name__}: {' '.join(str(e).split())}") from None


def _line_in(e: BaseException, file: Path) -> str:
  """The line of `file` in the traceback of `e` nearest the error ('?' when absent)."""
  import traceback

  lines = [f.lineno for f in traceback.extract_tb(e.__traceback__) if Path(f.filename).resolve() == file]
  return str(lines[-1]) if lines else "?"


def _package_config_dir() -> Path:
  import xstilts_jax.configs

  return Path(xstilts_jax.configs.__file__).resolve().parent


def _all_keys(config, prefix="") -> list[str]:
  import ml_collections

  out = []
  for k, v in config.items():
    out.append(prefix + k)
    if isinstance(v, ml_collections.ConfigDict):
      out += _all_keys(v, prefix + k + ".")
  return out


def _coerce(raw: str, current):
  if isinstance(current, bool):
    if raw.lower() in ("true", "1", "yes"):
      return True
    if raw.lower() in ("false", "0", "no"):
      return False
    raise ValueError(f"expected true or false, got {raw!r}")
  if isinstance(current, int):
    return int(raw)
  if isinstance(current, float):
    return float(raw)
  if isinstance(current, (list, tuple)):
    value = ast.literal_eval(raw) if raw.startswith("[") else [v for v in raw.split(",") if v]
    return list(value)
  if isinstance(current, str) or current is None:
    return raw
  return ast.literal_eval(raw)


def apply_overrides(config, overrides: Sequence[str]):
  """`--config.a.b=value` for each item: the key must exist; the value takes the key's type."""
  import ml_collections

  for item in overrides:
    key, sep, raw = item.partition("=")
    if not sep:
      raise ConfigError(f"--config.{key}: give a value as --config.{key}=VALUE")
    node, parts = config, key.split(".")
    for i, part in enumerate(parts):
      container = isinstance(node, ml_collections.ConfigDict)
      if not container or part not in node:
        close = difflib.get_close_matches(key, _all_keys(config), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise ConfigError(f"--config.{key}: the config has no key {key!r}{hint}")
      if i < len(parts) - 1:
        node = node[part]
    try:
      value = _coerce(raw, node[parts[-1]])
    except (ValueError, SyntaxError) as e:
      raise ConfigError(f"--config.{key}={raw}: {e}") from None
    with node.unlocked() if hasattr(node, "unlocked") else contextlib.nullcontext():
      node[parts[-1]] = value
  return config


# ----------------------------------------------------------------------------- commands


def cmd_run(args, overrides) -> int:
  from xstilts_jax import pipeline

  config = apply_overrides(load_config(args.config), overrides)
  workdir = args.workdir or config.workdir or str(Path("workdirs") / config.name)
  config.workdir = workdir
  pipeline.run(config, workdir, restart_stage=args.restart or "", take_over_lock=args.take_over_lock)
  return 0


def cmd_score(args, _) -> int:
  from xstilts_jax.formats import score_files

  print(json.dumps(score_files(args.task, args.predictions, args.gold, args.language, args.strict), indent=1))
  return 0


def cmd_export(args, _) -> int:
  from xstilts_jax.pipeline import export_phase

  source, architecture = export_phase(args.workdir, args.phase, args.out, args.experiment or "", args.overwrite)
  print(f"{Path(args.out)}: {architecture} from {source}")
  return 0


def cmd_report(args, _) -> int:
  from xstilts_jax.analysis.report import run_from_args

  return run_from_args(args)


def cmd_bench(args, _) -> int:
  from xstilts_jax.bench import main as bench_main

  print(json.dumps(bench_main(args.size, args.batch, args.seq, args.steps), indent=1))
  return 0


def cmd_plan(args, overrides) -> int:
  from xstilts_jax.plan import main as plan_main

  return plan_main(apply_overrides(load_config(args.config), overrides), args.topology, args.json)


def cmd_sweep(args, _) -> int:
  from xstilts_jax.sweep import grid

  for line in grid(args.config, args.workdir_root, args.seeds):
    print(line)
  return 0


def cmd_tasks(args, _) -> int:
  from xstilts_jax.tasks import TASK_GROUPS, TASKS
  from xstilts_jax.tasks.registry import benchmark_languages, benchmark_tasks

  targets = set(benchmark_tasks(args.benchmark))
  for name, spec in TASKS.items():
    languages = benchmark_languages(name, args.benchmark)
    mark = f"{args.benchmark} target" if name in targets else ""
    print(f"{name:24s} {spec.format:16s} {spec.metric:17s} {mark:17s} {spec.description}")
    print(f"{'':24s} {len(languages)} languages: {' '.join(languages)}")
  for name, members in TASK_GROUPS.items():
    print(f"{name:24s} group: {' + '.join(members)}")
  return 0


def build_parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="xstilts", description=__doc__.split("\n")[0])
  sub = p.add_subparsers(dest="command")
  r = sub.add_parser("run", help="run an experiment (default: the embedded demo)")
  r.add_argument("--config", default="demo", help="NAME[:ARG] or PATH.py[:ARG] (default: demo)")
  r.add_argument("--workdir", default="", help="default: workdirs/<config name>")
  r.add_argument(
      "--restart",
      metavar="STAGE",
      default="",
      help="redo STAGE and every later one under this config: all, data, pretrain, mlm, "
      "intermediate, target, eval or results (their saved outputs are removed)",
  )
  r.add_argument(
      "--take-over-lock",
      action="store_true",
      help="take the workdir's lock from a run that is gone (its process no longer exists)",
  )
  r.set_defaults(fn=cmd_run)
  s = sub.add_parser("score", help="score a prediction file against gold, as XTREME's scripts do")
  s.add_argument("--task", required=True)
  s.add_argument("--predictions", required=True)
  s.add_argument("--gold", required=True)
  s.add_argument("--language")
  s.add_argument(
      "--strict",
      action="store_true",
      help="refuse a QA prediction file that misses question ids (default: they score 0)",
  )
  s.set_defaults(fn=cmd_score)
  e = sub.add_parser("export", help="write a finished phase's model as a Hugging Face checkpoint")
  e.add_argument("--workdir", required=True)
  e.add_argument("--phase", required=True, help="intermediate | target:TASK")
  e.add_argument("--out", required=True)
  e.add_argument("--experiment", help="the experiment's folder name when the workdir holds several")
  e.add_argument("--overwrite", action="store_true", help="replace a non-empty --out whole")
  e.set_defaults(fn=cmd_export)
  rep = sub.add_parser("report", help="answer the research questions from experiment workdirs")
  from xstilts_jax.analysis import add_report_arguments

  add_report_arguments(rep)
  rep.set_defaults(fn=cmd_report)
  b = sub.add_parser("bench", help="train-step throughput against transformers' PyTorch model")
  b.add_argument("--size", default="tiny", choices=["tiny", "base", "large"])
  b.add_argument("--batch", type=int, default=8)
  b.add_argument("--seq", type=int, default=128)
  b.add_argument("--steps", type=int, default=5)
  b.set_defaults(fn=cmd_bench)
  pl = sub.add_parser("plan", help="compile every step for a Cloud TPU slice: memory per chip, step time")
  pl.add_argument("--topology", required=True, help="v5e:2x4, v4:2x2x1, ... or a slice name (v5e-8)")
  pl.add_argument("--config", default="demo", help="as for `xstilts run`, with --config.KEY=VALUE")
  pl.add_argument("--json", action="store_true", help="print one JSON object")
  pl.set_defaults(fn=cmd_plan)
  w = sub.add_parser("sweep", help="print the commands of the whole experimental grid")
  w.add_argument("--config", default="configs/xstilts.py")
  w.add_argument("--workdir-root", default="workdirs")
  w.add_argument("--seeds", type=int, default=1)
  w.set_defaults(fn=cmd_sweep)
  from xstilts_jax import study

  study.add_select_arguments(sub.add_parser("select", help="Q2: a POS-diverse and a random subset"))
  study.add_study_arguments(sub.add_parser("study", help="the research questions' runs, then the report"))
  t = sub.add_parser("tasks", help="list the registered tasks and their languages")
  t.add_argument("--benchmark", default="xtreme", help="xtreme or xtreme-r: whose test languages to list")
  t.set_defaults(fn=cmd_tasks)
  return p


def main(argv: Optional[Sequence[str]] = None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  overrides = [a[len("--config.") :] for a in argv if a.startswith("--config.")]
  argv = [a for a in argv if not a.startswith("--config.")]
  parser = build_parser()
  commands = {"run", "score", "export", "report", "bench", "plan", "sweep", "tasks", "select", "study", "-h", "--help"}
  if not argv or argv[0] not in commands:  # `xstilts`, `xstilts --config demo:quick`: run
    argv = ["run", *argv]
  args = parser.parse_args(argv)
  if overrides and args.command not in ("run", "plan"):
    parser.error("--config.KEY=VALUE overrides belong to `xstilts run`")
  logging.basicConfig(
      level=logging.INFO if os.environ.get("XSTILTS_VERBOSE") else logging.WARNING,
      format="%(levelname)s %(name)s: %(message)s",
  )
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
  try:
    return args.fn(args, overrides)
  except XstiltsError as e:
    print(f"xstilts: error: {_one_line(str(e))}", file=sys.stderr)
    return 2
  except Preempted as e:
    print(f"xstilts: {e.message}", file=sys.stderr)
    return EXIT_PREEMPTED
  except OSError as e:
    if not is_disk_full(e):
      raise
    print(f"xstilts: error: {disk_full(_what_of(e), e.filename or os.getcwd())}", file=sys.stderr)
    return 2
  except KeyboardInterrupt:
    print("xstilts: interrupted; run the same command again to resume", file=sys.stderr)
    return 130


def _one_line(text: str) -> str:
  return " ".join(text.split())


def _what_of(e: OSError) -> str:
  return f"{Path(e.filename).name}" if e.filename else "a file"


if __name__ == "__main__":
  sys.exit(main())
