"""Examples and their cached features for one (task, language, split), from any source."""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

import numpy as np

from xstilts_jax.data import features as F
from xstilts_jax.data.examples import (
    ClassificationExample,
    MultipleChoiceExample,
    RetrievalCorpus,
    SentenceExample,
    SpanQAExample,
    TaggingExample,
)
from xstilts_jax.data.readers import ReadReport
from xstilts_jax.data.sources import load_examples, local_paths
from xstilts_jax.errors import DataError
from xstilts_jax.tasks.spec import TaskSpec

# What a train step reads of each format's features (the rest stays on the host).
TRAIN_KEYS = {
    "classification": ("input_ids", "attention_mask", "label"),
    "multiple_choice": ("input_ids", "attention_mask", "label"),
    "span_qa": ("input_ids", "attention_mask", "start_positions", "end_positions"),
    "tagging": ("input_ids", "attention_mask", "label_ids"),
    "mlm": ("input_ids", "attention_mask"),
}


@dataclasses.dataclass(frozen=True)
class DataSource:
  source: str = "local"
  data_dir: str = ""
  tfds_data_dir: str = ""
  cache_dir: str = ""


def _fingerprint(spec: TaskSpec, language: str, split: str, src: DataSource) -> Any:
  if src.source != "local":
    return [src.source, spec.name, language, split]
  # Called after the examples were read, so the files exist (a missing one was reported there).
  return [F.file_fingerprint(p) for p in local_paths(spec, language, split, src.data_dir)]


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
) -> tuple[Any, dict]:
  """(examples, features); retrieval gives (corpus, {"source": features, "target": features}).

  `limit` keeps a seeded random sample of N examples, in file order (0: all); files such
  as SQuAD's are sorted by article, so their first N would not be a fair sample. Features
  are cached on disk, keyed by all they depend on (task, labels, language, split,
  tokenizer, length, the data files, the sample).
  """
  examples = load_examples(spec, language, split, src.source, src.data_dir or None, src.tfds_data_dir or None, report)
  if limit and not isinstance(examples, RetrievalCorpus) and len(examples) > limit:
    keep = np.sort(np.random.default_rng([seed, limit]).choice(len(examples), limit, replace=False))
    examples = [examples[i] for i in keep]
  length = max_seq_length or spec.max_seq_length
  key = dict(
      task=spec.name,
      labels=list(spec.labels),
      language=language,
      split=split,
      length=length,
      limit=limit,
      sample_seed=seed if limit else None,
      tokenizer=F.tokenizer_fingerprint(tokenizer),
      data=_fingerprint(spec, language, split, src),
      version=F.FEATURES_VERSION,
  )

  def build(side=None):
    items = examples if side is None else getattr(examples, side)
    return lambda: F.task_features(spec, items, tokenizer, length)

  cache = src.cache_dir
  if isinstance(examples, RetrievalCorpus):
    feats = {
        side: (F.cached_features(cache, {**key, "side": side}, build(side)) if cache else build(side)())
        for side in ("source", "target")
    }
  else:
    feats = F.cached_features(cache, key, build()) if cache else build()()
  return examples, feats


def example_texts(examples) -> list[str]:
  """The plain text of examples of any format (for task embeddings and diversity)."""
  out = []
  for ex in examples:
    if isinstance(ex, ClassificationExample):
      out.append(ex.text_a if ex.text_b is None else f"{ex.text_a} {ex.text_b}")
    elif isinstance(ex, MultipleChoiceExample):
      out.append(f"{ex.context} {ex.choices[ex.label or 0]}")
    elif isinstance(ex, SpanQAExample):
      out.append(f"{ex.question} {ex.context}")
    elif isinstance(ex, TaggingExample):
      out.append(" ".join(ex.words))
    elif isinstance(ex, SentenceExample):
      out.append(ex.text)
  return out


def _where(spec: TaskSpec, language: str, split: str, src: DataSource) -> str:
  if src.source == "local":
    try:
      return ", ".join(str(p) for p in local_paths(spec, language, split, src.data_dir))
    except Exception:  # the reader has already named a missing file
      pass
  return f"{src.source}:{spec.name}/{language}/{split}"


def trainable_count(spec: TaskSpec, examples, feats: dict) -> int:
  """How many examples (feature rows for tagging and MLM) give the loss something to learn."""
  fmt = spec.format
  if fmt in ("classification", "multiple_choice"):
    return int((np.asarray(feats["label"]) >= 0).sum())
  if fmt == "tagging":
    return int((np.asarray(feats["label_ids"]) != F.IGNORE_LABEL).any(axis=-1).sum())
  if fmt == "span_qa":
    return sum(1 for ex in examples if ex.answers or ex.is_impossible)
  if fmt == "mlm":
    return int((np.asarray(feats["attention_mask"]).sum(axis=-1) > 2).sum())  # more than <s> </s>
  return len(examples)


def check_trainable(spec: TaskSpec, language: str, split: str, src: DataSource, examples, feats: dict) -> None:
  """A training split must teach something: a file without labels (a test file, a TSV without
  its label column, tags separated by spaces instead of tabs) is an error naming the file."""
  if trainable_count(spec, examples, feats) > 0:
    return
  what = {"mlm": "no text", "span_qa": "no question with an answer"}.get(spec.format, "no labels")
  raise DataError(
      f"{_where(spec, language, split, src)}: the {split} split of {spec.name} ({language}) has "
      f"{what} in {len(examples)} examples, so there is nothing to train on (a test file? a label "
      "column missing, or fields not separated by tabs?)"
  )
