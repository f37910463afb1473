"""Metrics by name, as XTREME's official scripts compute them, and the XTREME score.

Every metric returns a dict of floats; scores are percentages (0-100). `main_score`
picks the one number a metric is ranked by. The registry's signatures:

  accuracy(predictions, labels) -> {accuracy}
      Equal-length sequences of labels (names or indices). XNLI, PAWS-X, MNLI, multiple choice.
  accuracy_f1(predictions, labels, positive_label="1") -> {accuracy, f1, accuracy_f1}
      Binary F1 of `positive_label` (compared as str); accuracy_f1 is their mean (QQP).
  seqeval_f1(predictions, labels) -> {f1, precision, recall}
      Lists of tag sequences, scored by seqeval's default (legacy) chunking. Tags without a
      B-/I- prefix (UPOS) are chunked too, merging runs of one tag: that is what XTREME
      reports for UDPOS. PAN-X and UDPOS.
  squad_v1(predictions, references) -> {exact_match, f1, total, missing}
  squad_v2(predictions, references) -> {exact, f1, total, HasAns_*, NoAns_*, exact_match, missing}
  mlqa(predictions, references, language) -> {exact_match, f1, total, missing}
      predictions {question id: text}; references {question id: [gold texts]}. See
      qa_metrics. XQuAD and TyDiQA-GoldP use squad_v1; MLQA's language is the context's.
  bucc_f1(source_embeddings, target_embeddings, source_ids, target_ids, gold,
          threshold=None, source_texts=None, target_texts=None, k=4)
      -> {f1, precision, recall, threshold, num_candidates}; see retrieval_metrics.
  tatoeba_accuracy(source_embeddings, english_embeddings, gold=None, query="english")
      -> {accuracy}; see retrieval_metrics for the query direction.
  token_accuracy(predictions, labels) -> {accuracy}
      Lists of tag sequences; share of tokens tagged right (CCG).
  mlm_accuracy(predicted_ids, label_ids, ignore_index=-100) -> {accuracy, num_predicted}
      Arrays of one shape; positions whose label is ignore_index are not scored.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Sequence
import warnings

import numpy as np
from seqeval import metrics as seqeval_metrics

from xstilts_jax.data.features import IGNORE_LABEL
from xstilts_jax.errors import ConfigError, DataError
from xstilts_jax.evaluation.qa_metrics import mlqa, squad_v1, squad_v2
from xstilts_jax.evaluation.retrieval_metrics import bucc_f1, tatoeba_accuracy


def _check_lengths(predictions: Sequence, labels: Sequence, what: str = "examples") -> None:
  if len(predictions) != len(labels):
    raise DataError(f"{len(predictions)} predictions but {len(labels)} gold {what}")
  if not labels:
    raise DataError(f"no {what} to score")


def accuracy(predictions: Sequence, labels: Sequence) -> dict:
  _check_lengths(predictions, labels)
  correct = sum(p == l for p, l in zip(predictions, labels))
  return {"accuracy": 100.0 * correct / len(labels)}


def accuracy_f1(predictions: Sequence, labels: Sequence, positive_label: Any = "1") -> dict:
  _check_lengths(predictions, labels)
  positive = str(positive_label)
  pairs = [(str(p) == positive, str(l) == positive) for p, l in zip(predictions, labels)]
  true_pos = sum(p and l for p, l in pairs)
  false_pos = sum(p and not l for p, l in pairs)
  false_neg = sum(l and not p for p, l in pairs)
  f1 = 200.0 * true_pos / (2 * true_pos + false_pos + false_neg) if true_pos else 0.0
  acc = accuracy(predictions, labels)["accuracy"]
  return {"accuracy": acc, "f1": f1, "accuracy_f1": (acc + f1) / 2}


def _check_sequences(predictions: Sequence[Sequence[str]], labels: Sequence[Sequence[str]]) -> None:
  _check_lengths(predictions, labels, "sentences")
  for i, (p, l) in enumerate(zip(predictions, labels)):
    if len(p) != len(l):
      raise DataError(f"sentence {i}: {len(p)} predicted tags but {len(l)} gold tags")


def seqeval_f1(predictions: Sequence[Sequence[str]], labels: Sequence[Sequence[str]]) -> dict:
  _check_sequences(predictions, labels)
  y_true = [list(l) for l in labels]
  y_pred = [list(p) for p in predictions]
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # "X seems not to be NE tag", undefined precision
    return {
        "f1": 100.0 * seqeval_metrics.f1_score(y_true, y_pred),
        "precision": 100.0 * seqeval_metrics.precision_score(y_true, y_pred),
        "recall": 100.0 * seqeval_metrics.recall_score(y_true, y_pred),
    }


def token_accuracy(predictions: Sequence[Sequence[str]], labels: Sequence[Sequence[str]]) -> dict:
  _check_sequences(predictions, labels)
  flat_pred = [t for p in predictions for t in p]
  flat_gold = [t for l in labels for t in l]
  return accuracy(flat_pred, flat_gold)


def mlm_accuracy(predicted_ids: np.ndarray, label_ids: np.ndarray, ignore_index: int = IGNORE_LABEL) -> dict:
  predicted_ids, label_ids = np.asarray(predicted_ids), np.asarray(label_ids)
  if predicted_ids.shape != label_ids.shape:
    raise DataError(f"predictions of shape {predicted_ids.shape} but labels of shape " f"{label_ids.shape}")
  scored = label_ids != ignore_index
  n = int(scored.sum())
  correct = int((predicted_ids[scored] == label_ids[scored]).sum())
  return {"accuracy": 100.0 * correct / n if n else 0.0, "num_predicted": n}


METRICS: dict[str, Callable[..., dict]] = {
    "accuracy": accuracy,
    "accuracy_f1": accuracy_f1,
    "seqeval_f1": seqeval_f1,
    "squad_v1": squad_v1,
    "squad_v2": squad_v2,
    "mlqa": mlqa,
    "bucc_f1": bucc_f1,
    "tatoeba_accuracy": tatoeba_accuracy,
    "token_accuracy": token_accuracy,
    "mlm_accuracy": mlm_accuracy,
}

_QA_METRICS = ("squad_v1", "squad_v2", "mlqa")
_MAIN_KEY = {
    "accuracy": "accuracy",
    "accuracy_f1": "accuracy_f1",
    "seqeval_f1": "f1",
    "bucc_f1": "f1",
    "tatoeba_accuracy": "accuracy",
    "token_accuracy": "accuracy",
    "mlm_accuracy": "accuracy",
    "lareqa_map": "map@20",  # evaluation/retrieval_qa.py (XTREME-R's mAP@20, x 100)
    "mewslix_map": "map@20",
}


def main_score(metric: str, result: Mapping[str, float]) -> float:
  """The number a metric's result is ranked by; QA: (F1 + exact match) / 2, as jiant and XTREME."""
  if metric in _QA_METRICS:
    return (result["f1"] + result["exact_match"]) / 2
  if metric not in _MAIN_KEY:
    raise ConfigError(f"unknown metric {metric!r} (expected one of {', '.join(METRICS)})")
  return result[_MAIN_KEY[metric]]


# XTREME's test languages per task (evaluate.py TASK2LANGS) and its categories.
XTREME_TEST_LANGUAGES: dict[str, tuple[str, ...]] = {
    "pawsx": tuple("de en es fr ja ko zh".split()),
    "xnli": tuple("ar bg de el en es fr hi ru sw th tr ur vi zh".split()),
    "udpos": tuple(
        "af ar bg de el en es et eu fa fi fr he hi hu id it ja kk ko mr nl pt ru ta " "te th tl tr ur vi yo zh".split()
    ),
    "panx": tuple(
        "ar he vi id jv ms tl eu ml ta te af nl en de el bn hi mr ur fa fr it pt es bg "
        "ru ja ka ko th sw yo my zh kk tr et fi hu".split()
    ),
    "xquad": tuple("en es de el ru tr ar vi th zh hi".split()),
    "mlqa": tuple("en es de ar hi vi zh".split()),
    "tydiqa": tuple("en ar bn fi id ko ru sw te".split()),
    "bucc2018": tuple("de fr ru zh".split()),
    "tatoeba": tuple(
        "ar he vi id jv tl eu ml ta te af nl de el bn hi mr ur fa fr it pt es bg ru "
        "ja ka ko th sw zh kk tr et fi hu".split()
    ),
}
XTREME_CATEGORIES: dict[str, tuple[str, ...]] = {
    "classification": ("pawsx", "xnli"),
    "structured": ("udpos", "panx"),
    "qa": ("xquad", "mlqa", "tydiqa"),
    "retrieval": ("bucc2018", "tatoeba"),
}


@dataclasses.dataclass(frozen=True)
class Benchmark:
  """What a benchmark score is made of (XTREME here; XTREME-R in evaluation/xtreme_r.py).

  languages: each task's test languages; categories: category -> tasks; keys: the metric(s)
  a task's per-language dict must hold (several are averaged: QA's F1 and exact match);
  aliases: other names of a task; pooled: tasks scored as one pool of questions, whose
  per-language results are averaged weighted by their "num_questions" where all have it.
  """

  name: str
  languages: Mapping[str, tuple[str, ...]]
  categories: Mapping[str, tuple[str, ...]]
  keys: Mapping[str, tuple[str, ...]]
  aliases: Mapping[str, str]
  pooled: tuple[str, ...] = ()


XTREME = Benchmark(
    name="xtreme",
    languages=XTREME_TEST_LANGUAGES,
    categories=XTREME_CATEGORIES,
    keys={
        "pawsx": ("accuracy",),
        "xnli": ("accuracy",),
        "tatoeba": ("accuracy",),
        "udpos": ("f1",),
        "panx": ("f1",),
        "bucc2018": ("f1",),
        "xquad": ("f1", "exact_match"),
        "mlqa": ("f1", "exact_match"),
        "tydiqa": ("f1", "exact_match"),
    },
    aliases={"bucc": "bucc2018", "tydiqa_goldp": "tydiqa", "paws_x": "pawsx", "pan_x": "panx"},
)


def _language_metric(task: str, language: str, scores: Mapping[str, float], key: str) -> float:
  if key == "exact_match" and key not in scores and "exact" in scores:
    key = "exact"
  if key not in scores:
    raise DataError(f"results[{task!r}][{language!r}] has no {key!r} " f"(has {', '.join(scores) or 'nothing'})")
  return float(scores[key])


def _task_score(
    benchmark: Benchmark, task: str, per_language: Mapping[str, Mapping[str, float]], languages: Sequence[str]
) -> float:
  if task in benchmark.pooled and all("num_questions" in per_language[l] for l in languages):
    weights = np.array([float(per_language[l]["num_questions"]) for l in languages])
    if weights.sum() <= 0:
      raise DataError(f"results[{task!r}] count no questions")
    (key,) = benchmark.keys[task]
    values = np.array([_language_metric(task, l, per_language[l], key) for l in languages])
    return float((weights * values).sum() / weights.sum())
  return float(
      np.mean(
          [
              np.mean([_language_metric(task, l, per_language[l], key) for l in languages])
              for key in benchmark.keys[task]
          ]
      )
  )


def benchmark_score(
    results: Mapping[str, Mapping[str, Mapping[str, float]]],
    benchmark: Benchmark,
    languages: Mapping[str, Sequence[str]] | None = None,
) -> dict:
  """A benchmark's score of {task: {language: {metric: value}}}.

  Per task: the mean over its test languages present (others are ignored and listed); QA
  tasks (mean F1 + mean exact match) / 2. Overall: the unweighted mean of the task scores
  present; categories likewise. Returns {tasks, overall, categories, missing_tasks,
  missing_languages, ignored_languages, complete}; overall is None when none of the
  benchmark's tasks is present, and `complete` says all its tasks and languages are.
  Other tasks in `results` (e.g. intermediate ones) are ignored. `languages` replaces the
  benchmark's language list of the tasks it names (e.g. a run on synthetic languages).
  """
  language_lists = {
      **benchmark.languages,
      **{t: tuple(l) for t, l in (languages or {}).items() if t in benchmark.languages},
  }
  tasks, missing_languages, ignored_languages = {}, {}, {}
  for name, per_language in results.items():
    task = benchmark.aliases.get(name, name)
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
      tasks[task] = _task_score(benchmark, task, per_language, present)
  categories = {}
  for category, members in benchmark.categories.items():
    present_scores = [tasks[t] for t in members if t in tasks]
    if present_scores:
      categories[category] = float(np.mean(present_scores))
  missing_tasks = [t for t in benchmark.languages if t not in tasks]
  return {
      "tasks": tasks,
      "overall": float(np.mean(list(tasks.values()))) if tasks else None,
      "categories": categories,
      "missing_tasks": missing_tasks,
      "missing_languages": missing_languages,
      "ignored_languages": ignored_languages,
      "complete": not missing_tasks and not missing_languages,
  }


def xtreme_score(
    results: Mapping[str, Mapping[str, Mapping[str, float]]], languages: Mapping[str, Sequence[str]] | None = None
) -> dict:
  """The XTREME score (all 9 tasks make it `complete`); see `benchmark_score`."""
  return benchmark_score(results, XTREME, languages)
