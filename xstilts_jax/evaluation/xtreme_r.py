"""The XTREME-R score: ten tasks in four categories, as google-research/xtreme's evaluate.py
(xtreme_version "xtreme-r") and the XTREME-R paper (Ruder et al. 2021) compute it.

Per task: the mean over its XTREME-R test languages of its metric (accuracy for XNLI, XCOPA
and Tatoeba; F1 for UD-POS and WikiANN; (mean F1 + mean exact match) / 2 for XQuAD, MLQA
and TyDiQA-GoldP; mAP@20 for Mewsli-X and LAReQA). LAReQA's mAP@20 is one number over the
pooled questions of all languages: per-language results that carry "num_questions" are
averaged weighted by it (exactly the pooled mean), else unweighted (the same for XQuAD-R's
parallel questions). Overall: the unweighted mean of the task scores; each category
likewise over its tasks. Categories follow the paper: classification (XNLI, XCOPA),
structured prediction (UD-POS, WikiANN), QA (XQuAD, MLQA, TyDiQA-GoldP), retrieval
(Tatoeba, Mewsli-X, LAReQA). XTREME-R's evaluate.py leaves LAReQA out of its "retrieval"
group because the benchmark's label files carry none for it; the paper counts it.
"""
from __future__ import annotations

from typing import Mapping, Optional, Sequence

import numpy as np

from xstilts_jax.errors import DataError
from xstilts_jax.tasks.registry import BENCHMARKS

XTREME_R_LANGUAGES: dict[str, tuple[str, ...]] = dict(BENCHMARKS["xtreme-r"])
XTREME_R_CATEGORIES: dict[str, tuple[str, ...]] = {
    "classification": ("xnli", "xcopa"),
    "structured": ("udpos", "panx"),
    "qa": ("xquad", "mlqa", "tydiqa"),
    "retrieval": ("tatoeba", "mewslix", "lareqa"),
}
_KEYS = {"xnli": ("accuracy",), "xcopa": ("accuracy",), "tatoeba": ("accuracy",),
         "udpos": ("f1",), "panx": ("f1",), "xquad": ("f1", "exact_match"),
         "mlqa": ("f1", "exact_match"), "tydiqa": ("f1", "exact_match"),
         "mewslix": ("map@20",), "lareqa": ("map@20",)}
ALIASES = {"tydiqa_goldp": "tydiqa", "pan_x": "panx", "wikiann": "panx", "mewsli_x": "mewslix"}


def _value(task: str, language: str, scores: Mapping[str, float], key: str) -> float:
  if key == "exact_match" and key not in scores and "exact" in scores:
    key = "exact"
  if key not in scores:
    raise DataError(f"results[{task!r}][{language!r}] has no {key!r} "
                    f"(has {', '.join(scores) or 'nothing'})")
  return float(scores[key])


def _task_score(task: str, per_language: Mapping[str, Mapping[str, float]],
                languages: Sequence[str]) -> float:
  if task == "lareqa" and all("num_questions" in per_language[l] for l in languages):
    weights = np.array([float(per_language[l]["num_questions"]) for l in languages])
    values = np.array([_value(task, l, per_language[l], "map@20") for l in languages])
    if weights.sum() <= 0:
      raise DataError("results['lareqa'] count no questions")
    return float((weights * values).sum() / weights.sum())
  return float(np.mean([np.mean([_value(task, l, per_language[l], key) for l in languages])
                        for key in _KEYS[task]]))


def xtreme_r_score(results: Mapping[str, Mapping[str, Mapping[str, float]]],
                   languages: Optional[Mapping[str, Sequence[str]]] = None) -> dict:
  """The XTREME-R score of {task: {language: {metric: value}}}.

  Returns {tasks, overall, categories, missing_tasks, missing_languages, ignored_languages,
  complete}, as `metrics.xtreme_score`: a task counts with the XTREME-R languages it has
  (others are ignored and listed); overall is None when no XTREME-R task is present;
  `complete` says all ten tasks and all their languages are there. Other tasks (PAWS-X,
  BUCC, intermediate tasks) are ignored. `languages` replaces a task's language list.
  """
  language_lists = {**XTREME_R_LANGUAGES,
                    **{t: tuple(l) for t, l in (languages or {}).items()
                       if t in XTREME_R_LANGUAGES}}
  tasks, missing_languages, ignored_languages = {}, {}, {}
  for name, per_language in results.items():
    task = ALIASES.get(name, name)
    if task not in language_lists:
      continue
    if task in tasks:
      raise DataError(f"results hold task {task!r} twice (as {name!r} and an alias)")
    present = [l for l in language_lists[task] if l in per_language]
    extra = sorted(set(per_language) - set(present))
    if extra:
      ignored_languages[task] = extra
    missing = [l for l in language_lists[task] if l not in per_language]
    if missing:
      missing_languages[task] = missing
    if present:
      tasks[task] = _task_score(task, per_language, present)
  categories = {}
  for category, members in XTREME_R_CATEGORIES.items():
    scores = [tasks[t] for t in members if t in tasks]
    if scores:
      categories[category] = float(np.mean(scores))
  missing_tasks = [t for t in XTREME_R_LANGUAGES if t not in tasks]
  return {"tasks": tasks, "overall": float(np.mean(list(tasks.values()))) if tasks else None,
          "categories": categories, "missing_tasks": missing_tasks,
          "missing_languages": missing_languages, "ignored_languages": ignored_languages,
          "complete": not missing_tasks and not missing_languages}
