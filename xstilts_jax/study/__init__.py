"""The study: the experimental arms of the five research questions (the package's top layer
beside pipeline.py; it reads analysis/, data/, tasks/ and configs, nothing imports it).

  languages  question 1's language sets (diverse / non-diverse low-resource, high-resource)
  select     question 2's data arms (`xstilts select`): POS-diverse and random subsets
  tagger     the offline UPOS tagger select measures with
  plan       `xstilts study PLAN --root DIR`: a plan's runs, run or printed, then the report

Only argparse here, so that `xstilts` starts without importing the study's modules.
"""

from __future__ import annotations


def add_select_arguments(p) -> None:
  """`xstilts select` options."""
  p.add_argument("--task", required=True, help="a task with a local TSV / SQuAD / CoNLL-U file")
  p.add_argument("--size", type=int, required=True)
  p.add_argument("--out", required=True, help="writes OUT/diverse/<task's path>, OUT/random/<...>, OUT/selection.json")
  p.add_argument("--data-dir", required=True)
  p.add_argument("--split", default="train")
  p.add_argument(
      "--ud-train",
      help="UD English train .conllu for the POS tagger " "(without it: the word-class proxy, named in the summary)",
  )
  p.add_argument("--ud-dev", help="UD English dev .conllu: the tagger's accuracy in the summary")
  p.add_argument("--seed", type=int, default=0)
  p.set_defaults(fn=run_select)


def run_select(args, _=None) -> int:
  from xstilts_jax.study.select import run_from_args

  return run_from_args(args)


def add_study_arguments(p) -> None:
  """`xstilts study` options."""
  p.add_argument("plan", metavar="PLAN", help="demo, full, or a JSON plan file")
  p.add_argument("--root", required=True, help="the runs' workdirs go under ROOT/<arm>/seed<S>")
  p.add_argument(
      "--print-commands", action="store_true", help="print one launch command per run instead of running them here"
  )
  p.add_argument("--launcher", default="gpu", choices=["gpu", "tpu"])
  p.add_argument("--data-dir", help="the real data's root (plan full)")
  p.set_defaults(fn=run_study)


def run_study(args, _=None) -> int:
  from xstilts_jax.study.plan import run_from_args

  return run_from_args(args)
