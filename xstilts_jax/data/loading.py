"""Examples and their cached features for one (task, language, split), from any source."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Optional, Sequence

import numpy as np

from xstilts_jax.data import features as F
from xstilts_jax.data.examples import RetrievalCorpus
from xstilts_jax.data.readers import ReadReport
from xstilts_jax.data.sources import load_examples, local_paths
from xstilts_jax.errors import DataError
from xstilts_jax.tasks.spec import TaskSpec


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
    *,
    featurize: Callable[[Sequence, int], dict],
    variant: str = "",
) -> tuple[Any, dict]:
  """(examples, features); retrieval gives (corpus, {"source": features, "target": features}).

  `featurize(examples, max_seq_length)` builds the features (the task format's builder, see
  xstilts_jax.formats.load_task); `variant` names another builder of the same format (the dual
  encoder's evaluation sides), which the cache keeps apart.

  `limit` keeps a seeded random sample of N examples, in file order (0: all); files such
  as SQuAD's are sorted by article, so their first N would not be a fair sample. Features
  are cached on disk, keyed by all they depend on (task, format, labels, language, split,
  tokenizer, length, the data files, the sample).
  """
  examples = load_examples(spec, language, split, src.source, src.data_dir or None, src.tfds_data_dir or None, report)
  if limit and not isinstance(examples, RetrievalCorpus) and len(examples) > limit:
    keep = np.sort(np.random.default_rng([seed, limit]).choice(len(examples), limit, replace=False))
    examples = [examples[i] for i in keep]
  length = max_seq_length or spec.max_seq_length
  key = dict(
      task=spec.name,
      format=spec.format,  # one task has several (mT5's text-to-text protocol)
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
  if variant:  # absent otherwise: the keys, and so the caches, of every other task stay as they were
    key["variant"] = variant

  def build(side=None):
    items = examples if side is None else getattr(examples, side)
    return lambda: featurize(items, length)

  cache = src.cache_dir
  if isinstance(examples, RetrievalCorpus):
    feats = {
        side: (F.cached_features(cache, {**key, "side": side}, build(side)) if cache else build(side)())
        for side in ("source", "target")
    }
  else:
    feats = F.cached_features(cache, key, build()) if cache else build()()
  return examples, feats


def _where(spec: TaskSpec, language: str, split: str, src: DataSource) -> str:
  if src.source == "local":
    try:
      return ", ".join(str(p) for p in local_paths(spec, language, split, src.data_dir))
    except Exception:  # the reader has already named a missing file
      pass
  return f"{src.source}:{spec.name}/{language}/{split}"


def check_trainable(
    spec: TaskSpec, language: str, split: str, src: DataSource, examples, count: int, nothing: str = "no labels"
) -> None:
  """A training split must teach something: `count` (the examples the loss learns from, by the
  task's format) of 0 (a test file, a TSV without its label column, tags separated by spaces
  instead of tabs) is an error naming the file; `nothing` says what was missing."""
  if count > 0:
    return
  raise DataError(
      f"{_where(spec, language, split, src)}: the {split} split of {spec.name} ({language}) has "
      f"{nothing} in {len(examples)} examples, so there is nothing to train on (a test file? a label "
      "column missing, or fields not separated by tabs?)"
  )
