"""The task formats: one module per format, one registry.

A format (`base.Format`) says all a task format means: how its examples become features,
the batch keys a train step reads, its head and loss, decoding and metric, its submission
file and that file's scorer. Code above the data, train and evaluation layers asks
`get_format(spec.format)` instead of branching on the format's name. Adding a format is one
module beside these plus one line in FORMATS.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional, Sequence, Union

from xstilts_jax.data.features import Features
from xstilts_jax.data.loading import DataSource
from xstilts_jax.data.loading import check_trainable as _check_trainable
from xstilts_jax.data.loading import load_task as _load_task
from xstilts_jax.data.readers import ReadReport
from xstilts_jax.errors import ConfigError
from xstilts_jax.evaluation.evaluate import EvalOptions, write_text
from xstilts_jax.evaluation.steps import Predictor
from xstilts_jax.formats import (
    classification,
    entity_retrieval,
    mlm,
    multiple_choice,
    retrieval,
    retrieval_qa,
    span_qa,
    tagging,
    text_to_text_classification,
    text_to_text_span_qa,
)
from xstilts_jax.formats.base import Format
from xstilts_jax.tasks import registry
from xstilts_jax.tasks.spec import TaskSpec

FORMATS: dict[str, Format] = {
    m.FORMAT.name: m.FORMAT
    for m in (
        classification,
        multiple_choice,
        span_qa,
        tagging,
        retrieval,
        mlm,
        retrieval_qa,
        entity_retrieval,
        text_to_text_classification,
        text_to_text_span_qa,
    )
}


def get_format(name: str) -> Format:
  """The registered format `name`; an unknown name is a one-line ConfigError."""
  if name not in FORMATS:
    raise ConfigError(f"unknown task format {name!r} (formats: {', '.join(FORMATS)})")
  return FORMATS[name]


def _needs(spec: TaskSpec, what: str, value: Any) -> Any:
  if value is None:
    raise ConfigError(f"task {spec.name}: format {spec.format!r} has no {what}")
  return value


# --- data -----------------------------------------------------------------------------------


def task_features(
    spec: TaskSpec, examples: Sequence, tokenizer, max_seq_length: Optional[int] = None, evaluation: bool = False
) -> Features:
  """Features for the examples of one task, by its format (retrieval: one side's sentences);
  `evaluation`: of an evaluation set (the format's eval_features where it has them)."""
  fmt = get_format(spec.format)
  build = _needs(spec, "feature builder", (evaluation and fmt.eval_features) or fmt.features)
  return build(spec, examples, tokenizer, max_seq_length or spec.max_seq_length)


def load_task(
    spec: TaskSpec,
    language: str,
    split: str,
    tokenizer,
    src: DataSource,
    max_seq_length: Optional[int] = None,
    report: Optional[ReadReport] = None,
    limit: int = 0,
    seed: int = 0,
    evaluation: bool = False,
) -> tuple[Any, dict]:
  """data.loading.load_task with the features of the task's format (`evaluation`: its
  eval_features where it has them: the dual encoder's query and candidate sides)."""
  featurize = lambda examples, length: task_features(spec, examples, tokenizer, length, evaluation)
  variant = "eval" if evaluation and get_format(spec.format).eval_features else ""  # other features, other cache
  return _load_task(
      spec, language, split, tokenizer, src, max_seq_length, report, limit, seed, featurize=featurize, variant=variant
  )


def check_trainable(spec: TaskSpec, language: str, split: str, src: DataSource, examples, feats: dict) -> None:
  """A training split must teach something (data.loading.check_trainable, counted by format)."""
  fmt = get_format(spec.format)
  _check_trainable(spec, language, split, src, examples, fmt.trainable(examples, feats), fmt.nothing_to_learn)


def example_texts(spec: TaskSpec, examples: Sequence) -> list[str]:
  """The plain text of each example (for task embeddings and diversity)."""
  text = _needs(spec, "plain text of its examples", get_format(spec.format).text)
  return [text(ex) for ex in examples]


# --- evaluation -----------------------------------------------------------------------------


def evaluate_task(
    predict: Predictor,
    spec: TaskSpec,
    examples,
    features,
    language: str,
    head: Optional[str] = None,
    retrieval_layer: Optional[int] = None,
    bucc_threshold: Optional[float] = None,
    qa_answer_text: str = "offsets",
    tokenizer: Any = None,
) -> tuple[dict, Any]:
  """(metrics, predictions) for the examples of one task in one language (see EvalOptions).

  For retrieval, `examples` is a RetrievalCorpus and `features` holds {"source": ..., "target": ...}.
  """
  evaluate = _needs(spec, "evaluator", get_format(spec.format).evaluate)
  options = EvalOptions(head, retrieval_layer, bucc_threshold, qa_answer_text, tokenizer)
  return evaluate(predict, spec, examples, features, language, options)


def write_predictions(path: Union[str, os.PathLike], spec: TaskSpec, predictions: Any) -> Path:
  """The predictions in XTREME's submission layout for the task's format, written atomically
  (a folder of files for a format with write_dir: LAReQA's encodings)."""
  fmt = get_format(spec.format)
  if fmt.write_dir is not None:
    return fmt.write_dir(path, spec, predictions)
  return write_text(path, fmt.write(spec, predictions))


def prediction_file_name(spec: TaskSpec, language: str, split: str = "test") -> str:
  """XTREME's submission names: test-{lang}.tsv (test-{lang}.json for QA); dev-... for dev;
  a format without a suffix (a folder of files: LAReQA) gives test-{lang}."""
  suffix = get_format(spec.format).suffix
  return f"{split}-{language}" + (f".{suffix}" if suffix else "")


def score_files(
    task: Union[str, TaskSpec],
    predictions_path: Union[str, os.PathLike],
    gold_path: Union[str, os.PathLike],
    language: Optional[str] = None,
    strict: bool = False,
) -> dict:
  """`xstilts score`: one prediction file -> the metric's dict plus num_examples.

  Span QA: a gold question id without a prediction scores 0 and counts in the total (as
  XTREME's SQuAD v1.1 and MLQA scripts do; SQuAD v2.0 leaves it out of the totals as its
  official script does), with a warning; the output says how many in
  `missing_predictions`. strict=True refuses such a file instead.

  task: a TaskSpec or a registered task name. language: picks the rows of a multi-language
  gold file (XNLI, TyDiQA-GoldP) and is MLQA's answer language (else read from the gold
  file name, `*-context-xx-question-yy.json`).
  Malformed or mismatched files raise a DataError that says what is wrong and where.
  """
  spec = task if isinstance(task, TaskSpec) else registry.get_task(task)
  scorer = get_format(spec.format).score
  if scorer is None:
    raise ConfigError(
        f"task {spec.name}: cannot score prediction files of format {spec.format!r} with metric {spec.metric!r}"
    )
  return scorer(spec, predictions_path, gold_path, language, strict)
