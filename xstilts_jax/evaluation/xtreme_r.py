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

from xstilts_jax.evaluation.metrics import Benchmark, benchmark_score
from xstilts_jax.tasks.registry import BENCHMARKS

XTREME_R_LANGUAGES: dict[str, tuple[str, ...]] = dict(BENCHMARKS["xtreme-r"])
XTREME_R = Benchmark(
    name="xtreme-r",
    languages=XTREME_R_LANGUAGES,
    categories={
        "classification": ("xnli", "xcopa"),
        "structured": ("udpos", "panx"),
        "qa": ("xquad", "mlqa", "tydiqa"),
        "retrieval": ("tatoeba", "mewslix", "lareqa"),
    },
    keys={
        "xnli": ("accuracy",),
        "xcopa": ("accuracy",),
        "tatoeba": ("accuracy",),
        "udpos": ("f1",),
        "panx": ("f1",),
        "xquad": ("f1", "exact_match"),
        "mlqa": ("f1", "exact_match"),
        "tydiqa": ("f1", "exact_match"),
        "mewslix": ("map@20",),
        "lareqa": ("map@20",),
    },
    aliases={"tydiqa_goldp": "tydiqa", "pan_x": "panx", "wikiann": "panx", "mewsli_x": "mewslix"},
    pooled=("lareqa",),
)


def xtreme_r_score(
    results: Mapping[str, Mapping[str, Mapping[str, float]]], languages: Optional[Mapping[str, Sequence[str]]] = None
) -> dict:
  """The XTREME-R score of {task: {language: {metric: value}}}; see `metrics.benchmark_score`.

  All ten tasks and their languages make it `complete`; PAWS-X, BUCC and intermediate
  tasks are ignored.
  """
  return benchmark_score(results, XTREME_R, languages)
