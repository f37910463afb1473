"""One task in one language: model outputs -> decoded predictions -> the official metric.

One evaluator per task format returns (metrics, predictions), and one text writer per format
lays predictions out as XTREME's submission files (classification: a label per line; tagging:
a tag per line, a blank line between sentences; QA: JSON {id: answer}; BUCC:
`src_id<TAB>trg_id` per line; Tatoeba: an index per line), which `xstilts score` reads back.
The format modules (xstilts_jax.formats) say which evaluator and writer a task uses.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Optional

import numpy as np

from xstilts_jax import atomic, paths
from xstilts_jax.data.examples import RetrievalCorpus
from xstilts_jax.errors import DataError
from xstilts_jax.evaluation import decode, metrics
from xstilts_jax.evaluation.retrieval_metrics import bucc_mine, tatoeba_predictions
from xstilts_jax.evaluation.steps import Predictor
from xstilts_jax.tasks.spec import TaskSpec


@dataclasses.dataclass(frozen=True)
class EvalOptions:
  """How one evaluation runs, beyond the task: the head to read (default the task's),
  retrieval's hidden layer and BUCC's threshold (None: chosen on this data), and how span-QA
  answers are written: "offsets" (the exact text) or "xtreme" (XTREME's `get_final_text`,
  which needs `tokenizer`; see decode.decode_spans)."""

  head: Optional[str] = None
  retrieval_layer: Optional[int] = None
  bucc_threshold: Optional[float] = None
  qa_answer_text: str = "offsets"
  tokenizer: Any = None


# Each evaluator: (predict, spec, examples, features, language, options) -> (metrics, predictions).


def evaluate_classification(predict: Predictor, spec: TaskSpec, examples, features, language: str, opts: EvalOptions):
  labels = decode.decode_classification(predict(features, "classification", opts.head or spec.head_name), spec.labels)
  return metrics.METRICS[spec.metric](labels, [ex.label for ex in examples]), labels


def evaluate_multiple_choice(predict: Predictor, spec: TaskSpec, examples, features, language: str, opts: EvalOptions):
  choices = decode.decode_multiple_choice(predict(features, "multiple_choice", opts.head or spec.head_name))
  return metrics.METRICS[spec.metric](choices, [ex.label for ex in examples]), choices


def evaluate_span_qa(predict: Predictor, spec: TaskSpec, examples, features, language: str, opts: EvalOptions):
  start, end = predict(features, "span", opts.head or spec.head_name)
  answers = decode.decode_spans(
      examples,
      features,
      start,
      end,
      version_2=spec.metric == "squad_v2",
      answer_text=opts.qa_answer_text,
      tokenizer=opts.tokenizer,
  )
  return score_answers(spec, examples, answers, language), answers


def score_answers(spec: TaskSpec, examples, answers: dict[str, str], language: str) -> dict:
  """The task's official QA metric of {question id: answer text} against every gold answer of
  each example (none: the empty text), with MLQA's normalisation of `language` for MLQA."""
  references = {ex.id: [a.text for a in ex.answers] or [""] for ex in examples}
  if spec.metric == "mlqa":
    return metrics.METRICS["mlqa"](answers, references, language)
  return metrics.METRICS[spec.metric](answers, references)


def evaluate_tagging(predict: Predictor, spec: TaskSpec, examples, features, language: str, opts: EvalOptions):
  logits = predict(features, "tagging", opts.head or spec.head_name)
  tags = decode.decode_tags(features, logits, spec.labels, [len(ex.words) for ex in examples])
  return metrics.METRICS[spec.metric](tags, [list(ex.labels) for ex in examples]), tags


def evaluate_retrieval(
    predict: Predictor, spec: TaskSpec, corpus: RetrievalCorpus, features, language: str, opts: EvalOptions
):
  """BUCC (bitext mining, F1) or Tatoeba (accuracy); `features` holds {"source": ..., "target": ...}."""
  layer = opts.retrieval_layer
  source = predict(features["source"], "retrieval", layer=layer)
  target = predict(features["target"], "retrieval", layer=layer)
  source_ids = [s.id for s in corpus.source]
  target_ids = [t.id for t in corpus.target]
  if spec.metric == "bucc_f1":
    source_texts = [s.text for s in corpus.source]
    target_texts = [t.text for t in corpus.target]
    result, pairs = bucc_mine(
        source, target, source_ids, target_ids, corpus.gold, opts.bucc_threshold, source_texts, target_texts
    )
    return result, sorted(pairs)
  # Tatoeba: each English sentence searches the other side (as XTREME's code does).
  source_index = {sid: i for i, sid in enumerate(source_ids)}
  english_index = {tid: i for i, tid in enumerate(target_ids)}
  gold = np.full(len(target_ids), -1)
  for sid, tid in corpus.gold:
    gold[english_index[tid]] = source_index[sid]
  if (gold < 0).any():
    raise DataError(f"{spec.name}: {int((gold < 0).sum())} English sentences have no gold pair")
  result = metrics.METRICS["tatoeba_accuracy"](source, target, gold)
  return result, tatoeba_predictions(source, target).tolist()


# Submission files: (spec, predictions) -> the file's text.


def lines_text(spec: TaskSpec, predictions: Any) -> str:
  """One prediction per line (labels, choice indices, Tatoeba indices)."""
  return "".join(f"{p}\n" for p in predictions)


def tags_text(spec: TaskSpec, predictions: Any) -> str:
  """A tag per line, a blank line between sentences."""
  return "\n\n".join("\n".join(tags) for tags in predictions) + "\n"


def answers_text(spec: TaskSpec, predictions: Any) -> str:
  """JSON {question id: answer text}."""
  return json.dumps(predictions, ensure_ascii=False, indent=1)


def retrieval_text(spec: TaskSpec, predictions: Any) -> str:
  """BUCC: `source id<TAB>target id` per line; Tatoeba: an index per line."""
  if spec.metric == "bucc_f1":
    return "".join(f"{s}\t{t}\n" for s, t in predictions)
  return lines_text(spec, predictions)


def write_text(path: str | Path, text: str) -> Path:
  """Writes a prediction file atomically."""
  path = paths.as_path(path)  # a local path or gs://
  atomic.write_text(path, text)
  return path
