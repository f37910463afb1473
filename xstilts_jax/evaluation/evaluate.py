"""One task in one language: model outputs -> decoded predictions -> the official metric.

`evaluate_task` returns (metrics, predictions); `write_predictions` writes predictions in the
layout of XTREME's submission files (classification: a label per line; tagging: a tag per
line, a blank line between sentences; QA: JSON {id: answer}; BUCC: `src_id<TAB>trg_id` per
line; Tatoeba: an index per line), which `xstilts score` reads back.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Optional

import numpy as np

from xstilts_jax import atomic
from xstilts_jax.data.examples import RetrievalCorpus
from xstilts_jax.errors import DataError
from xstilts_jax.evaluation import decode, metrics
from xstilts_jax.evaluation.retrieval_metrics import bucc_mine, tatoeba_predictions
from xstilts_jax.evaluation.steps import Predictor
from xstilts_jax.tasks.spec import TaskSpec


def evaluate_task(
    predict: Predictor,
    spec: TaskSpec,
    examples,
    features: Mapping[str, Any],
    language: str,
    head: Optional[str] = None,
    retrieval_layer: Optional[int] = None,
    bucc_threshold: Optional[float] = None,
    qa_answer_text: str = "offsets",
    tokenizer: Any = None,
) -> tuple[dict, Any]:
  """(metrics, predictions) for the examples of one task in one language.

  For retrieval, `examples` is a RetrievalCorpus and `features` holds {"source": ..., "target": ...}.
  qa_answer_text: how span-QA answers are written, "offsets" (the exact text) or "xtreme"
  (XTREME's `get_final_text`, which needs `tokenizer`); see decode.decode_spans.
  """
  head = head or spec.head_name
  fmt = spec.format
  if fmt == "classification":
    labels = decode.decode_classification(predict(features, "classification", head), spec.labels)
    gold = [ex.label for ex in examples]
    return metrics.METRICS[spec.metric](labels, gold), labels
  if fmt == "multiple_choice":
    choices = decode.decode_multiple_choice(predict(features, "multiple_choice", head))
    return metrics.METRICS[spec.metric](choices, [ex.label for ex in examples]), choices
  if fmt == "span_qa":
    start, end = predict(features, "span", head)
    answers = decode.decode_spans(
        examples,
        features,
        start,
        end,
        version_2=spec.metric == "squad_v2",
        answer_text=qa_answer_text,
        tokenizer=tokenizer,
    )
    references = {ex.id: [a.text for a in ex.answers] or [""] for ex in examples}
    if spec.metric == "mlqa":
      return metrics.METRICS["mlqa"](answers, references, language), answers
    return metrics.METRICS[spec.metric](answers, references), answers
  if fmt == "tagging":
    logits = predict(features, "tagging", head)
    tags = decode.decode_tags(features, logits, spec.labels, [len(ex.words) for ex in examples])
    return metrics.METRICS[spec.metric](tags, [list(ex.labels) for ex in examples]), tags
  if fmt == "retrieval":
    return _retrieval(predict, spec, examples, features, retrieval_layer, bucc_threshold)
  raise DataError(f"task {spec.name}: cannot evaluate format {fmt!r}")


def _retrieval(predict: Predictor, spec: TaskSpec, corpus: RetrievalCorpus, features, layer, threshold):
  source = predict(features["source"], "retrieval", layer=layer)
  target = predict(features["target"], "retrieval", layer=layer)
  source_ids = [s.id for s in corpus.source]
  target_ids = [t.id for t in corpus.target]
  if spec.metric == "bucc_f1":
    source_texts = [s.text for s in corpus.source]
    target_texts = [t.text for t in corpus.target]
    result, pairs = bucc_mine(
        source, target, source_ids, target_ids, corpus.gold, threshold, source_texts, target_texts
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


def write_predictions(path: str | Path, spec: TaskSpec, predictions: Any) -> Path:
  path = Path(path)
  if spec.format == "span_qa":
    text = json.dumps(predictions, ensure_ascii=False, indent=1)
  elif spec.format == "tagging":
    text = "\n\n".join("\n".join(tags) for tags in predictions) + "\n"
  elif spec.format == "retrieval" and spec.metric == "bucc_f1":
    text = "".join(f"{s}\t{t}\n" for s, t in predictions)
  else:
    text = "".join(f"{p}\n" for p in predictions)
  atomic.write_text(path, text)
  return path


def prediction_file_name(spec: TaskSpec, language: str, split: str = "test") -> str:
  """XTREME's submission names: test-{lang}.tsv (test-{lang}.json for QA); dev-... for dev."""
  suffix = "json" if spec.format == "span_qa" else "tsv"
  return f"{split}-{language}.{suffix}"
