"""Examples -> fixed-shape numpy features, one builder per task format.

Every builder returns a dict of int32 numpy arrays that share a leading feature axis N.
For span QA and tagging one example may give several features (windows); their
`example_index` points back into the list of examples. Padding positions have
attention_mask 0 and the tokenizer's pad id.
"""

from __future__ import annotations

import collections
import hashlib
import io
import json
import logging
import os
from pathlib import Path
import re
from typing import Any, Callable, Mapping, Optional, Sequence
import zipfile

import numpy as np

from xstilts_jax import atomic, paths
from xstilts_jax.data.examples import (
    ClassificationExample,
    MultipleChoiceExample,
    SentenceExample,
    SpanQAExample,
    TaggingExample,
)
from xstilts_jax.errors import ConfigError, DataError
from xstilts_jax.tasks.spec import IGNORE_LABEL

Features = dict[str, np.ndarray]

NO_LABEL = -1  # classification / multiple choice example without a label
NO_OFFSET = -1  # span QA offsets of tokens outside the context

log = logging.getLogger(__name__)


def _int32(values, shape: tuple[int, ...]) -> np.ndarray:
  return np.asarray(values, dtype=np.int32).reshape(shape)


def _label_index(labels: Sequence[str], label: Optional[str], example_id: str) -> int:
  if label is None:
    return NO_LABEL
  try:
    return labels.index(label)
  except ValueError:
    raise DataError(
        f"example {example_id}: unknown label {label!r} " f"(expected one of {', '.join(labels)})"
    ) from None


def _encode(tokenizer, texts_a: list[str], texts_b: Optional[list[str]], max_seq_length: int) -> tuple[list, list]:
  enc = tokenizer(texts_a, texts_b, truncation="longest_first", max_length=max_seq_length, padding="max_length")
  return enc["input_ids"], enc["attention_mask"]


def encode_mixed_pairs(
    tokenizer, texts_a: list[str], texts_b: list[Optional[str]], max_seq_length: int
) -> tuple[np.ndarray, np.ndarray]:
  """Encodes single sentences and pairs in one list, keeping the order."""
  n = len(texts_a)
  input_ids = np.zeros((n, max_seq_length), np.int32)
  attention_mask = np.zeros((n, max_seq_length), np.int32)
  pairs = [i for i in range(n) if texts_b[i] is not None]
  singles = [i for i in range(n) if texts_b[i] is None]
  for rows, with_b in ((pairs, True), (singles, False)):
    if not rows:
      continue
    ids, mask = _encode(
        tokenizer, [texts_a[i] for i in rows], [texts_b[i] for i in rows] if with_b else None, max_seq_length
    )
    input_ids[rows] = ids
    attention_mask[rows] = mask
  return input_ids, attention_mask


def classification_features(
    examples: Sequence[ClassificationExample], tokenizer, labels: Sequence[str], max_seq_length: int = 128
) -> Features:
  """input_ids/attention_mask [N,T] and label [N] (index into `labels`, -1 when unlabeled).

  Pairs are truncated longest side first.
  """
  labels = list(labels)
  label = [_label_index(labels, ex.label, ex.id) for ex in examples]
  input_ids, attention_mask = encode_mixed_pairs(
      tokenizer, [ex.text_a for ex in examples], [ex.text_b for ex in examples], max_seq_length
  )
  return {"input_ids": input_ids, "attention_mask": attention_mask, "label": _int32(label, (len(examples),))}


def multiple_choice_features(
    examples: Sequence[MultipleChoiceExample], tokenizer, num_choices: int, max_seq_length: int = 128
) -> Features:
  """input_ids/attention_mask [N,K,T], label [N]; choice k is encoded as (context, choice k)."""
  contexts, choices, label = [], [], []
  for ex in examples:
    if len(ex.choices) != num_choices:
      raise DataError(f"example {ex.id}: {len(ex.choices)} choices (expected {num_choices})")
    if ex.label is not None and not 0 <= ex.label < num_choices:
      raise DataError(f"example {ex.id}: label {ex.label} out of range 0..{num_choices - 1}")
    contexts.extend([ex.context] * num_choices)
    choices.extend(ex.choices)
    label.append(NO_LABEL if ex.label is None else ex.label)
  shape = (len(examples), num_choices, max_seq_length)
  if not examples:
    return {
        "input_ids": np.zeros(shape, np.int32),
        "attention_mask": np.zeros(shape, np.int32),
        "label": np.zeros((0,), np.int32),
    }
  ids, mask = _encode(tokenizer, contexts, choices, max_seq_length)
  return {
      "input_ids": _int32(ids, shape),
      "attention_mask": _int32(mask, shape),
      "label": _int32(label, (len(examples),)),
  }


def _questions_within(tokenizer, questions: list[str], max_query_length: int) -> tuple[list, list]:
  """Cuts each question to at most max_query_length tokens; returns texts and token counts."""
  questions = [q.lstrip() for q in questions]  # some SQuAD questions start with runs of spaces
  if not questions:
    return [], []
  lengths = [len(ids) for ids in tokenizer(questions, add_special_tokens=False)["input_ids"]]
  for i, n in enumerate(lengths):
    while n > max_query_length:
      enc = tokenizer(questions[i], add_special_tokens=False, return_offsets_mapping=True)
      cut = enc["offset_mapping"][max_query_length - 1][1]
      # Cutting at a token end can re-segment the last word into more pieces: loop, always shorter.
      questions[i] = questions[i][: min(cut, len(questions[i]) - 1)].rstrip()
      n = len(tokenizer(questions[i], add_special_tokens=False)["input_ids"])
    lengths[i] = n
  return questions, lengths


def _context_offsets(context_is_space: np.ndarray, offsets, sequence_ids, max_seq_length: int) -> np.ndarray:
  """[T,2] character offsets of context tokens, -1 elsewhere, without surrounding whitespace."""
  out = np.asarray(offsets, np.int32).reshape(max_seq_length, 2).copy()
  in_context = np.array([s == 1 for s in sequence_ids])
  out[~in_context] = NO_OFFSET
  if context_is_space.size:
    last = context_is_space.size - 1
    starts, ends = np.minimum(out[:, 0], last), np.clip(out[:, 1] - 1, 0, last)
    spaced = context_is_space[starts] | context_is_space[ends]
    padded = in_context & (out[:, 0] < out[:, 1]) & spaced
    for j in np.flatnonzero(padded):  # rare: tokenizers that keep a space in the offsets
      start, end = out[j]
      while start < end and context_is_space[start]:
        start += 1
      while end > start and context_is_space[end - 1]:
        end -= 1
      out[j] = start, end
  return out


def _answer_tokens(offsets: np.ndarray, start_char: int, end_char: int) -> tuple[int, int]:
  """Token span of the answer [start_char, end_char) in one window, or (0, 0) if not inside."""
  in_context = np.flatnonzero(offsets[:, 0] >= 0)
  if in_context.size == 0:
    return 0, 0
  first, last = in_context[0], in_context[-1]
  if offsets[first, 0] > start_char or offsets[last, 1] < end_char:
    return 0, 0
  ctx = offsets[in_context]
  # The tokens that overlap the answer (a lone "▁" token shares its offsets with the next).
  start = np.flatnonzero(ctx[:, 1] > start_char)[0]
  end = np.flatnonzero(ctx[:, 0] < end_char)[-1]
  return int(in_context[start]), int(in_context[max(start, end)])


def _first_answer(ex: SpanQAExample) -> Optional[tuple[int, int]]:
  if ex.is_impossible or not ex.answers:
    return None
  answer = ex.answers[0]
  start, end = answer.answer_start, answer.answer_start + len(answer.text)
  if not answer.text or ex.context[start:end] != answer.text:
    raise DataError(
        f"example {ex.id}: answer {answer.text!r} does not match the context at "
        f"character {start} ({ex.context[start:end]!r})"
    )
  return start, end


SPAN_QA_MAX_QUERY_LENGTH = 64  # a question is cut to this many tokens (XTREME's max_query_length)


def span_qa_features(
    examples: Sequence[SpanQAExample],
    tokenizer,
    max_seq_length: int = 384,
    doc_stride: int = 128,
    max_query_length: int = SPAN_QA_MAX_QUERY_LENGTH,
) -> Features:
  """Sliding windows over each context, question first (`<s> q </s></s> context </s>`).

  `doc_stride` is the distance between the starts of consecutive windows, in context
  tokens (as in BERT's, jiant's and XTREME's SQuAD code), not the overlap.
  Keys: input_ids, attention_mask [N,T]; start_positions, end_positions [N] (0, the `<s>`
  token, when the answer is outside the window or there is none); example_index [N];
  offsets [N,T,2], character offsets into the context for context tokens and -1 for every
  other token, so `context[offsets[s,0]:offsets[e,1]]` is the text of the span s..e.
  """
  if doc_stride <= 0 or max_query_length <= 0:
    raise ConfigError(f"doc_stride ({doc_stride}) and max_query_length ({max_query_length}) " "must be positive")
  added = tokenizer.num_special_tokens_to_add(pair=True)
  questions, question_lengths = _questions_within(tokenizer, [ex.question for ex in examples], max_query_length)
  by_question_length = collections.defaultdict(list)  # one tokenizer call per overlap value
  for i, n in enumerate(question_lengths):
    by_question_length[n].append(i)
  is_space = {}  # context -> which characters are whitespace

  windows = []
  for n, indices in by_question_length.items():
    budget = max_seq_length - n - added
    if budget <= 0:
      raise ConfigError(
          f"max_seq_length {max_seq_length} leaves no room for the context " f"after a {n}-token question"
      )
    overlap = max(budget - doc_stride, 0)
    enc = tokenizer(
        [questions[i] for i in indices],
        [examples[i].context for i in indices],
        truncation="only_second",
        max_length=max_seq_length,
        stride=overlap,
        return_overflowing_tokens=True,
        return_offsets_mapping=True,
        padding="max_length",
    )
    for f, local in enumerate(enc["overflow_to_sample_mapping"]):
      i = indices[local]
      ex = examples[i]
      if ex.context not in is_space:
        is_space[ex.context] = np.fromiter((c.isspace() for c in ex.context), bool, len(ex.context))
      offsets = _context_offsets(is_space[ex.context], enc["offset_mapping"][f], enc.sequence_ids(f), max_seq_length)
      answer = _first_answer(ex)
      start, end = _answer_tokens(offsets, *answer) if answer else (0, 0)
      windows.append(
          {
              "example_index": i,
              "input_ids": enc["input_ids"][f],
              "attention_mask": enc["attention_mask"][f],
              "start_positions": start,
              "end_positions": end,
              "offsets": offsets,
          }
      )
  windows.sort(key=lambda w: w["example_index"])  # stable: windows keep their context order

  shapes = {
      "input_ids": (max_seq_length,),
      "attention_mask": (max_seq_length,),
      "start_positions": (),
      "end_positions": (),
      "example_index": (),
      "offsets": (max_seq_length, 2),
  }
  return {k: _int32([w[k] for w in windows], (len(windows), *shape)) for k, shape in shapes.items()}


def special_tokens_around(tokenizer) -> tuple[list[int], list[int]]:
  """The special token ids a tokenizer puts before and after one sequence: XLM-R's ([<s>], [</s>]),
  T5's ([], [</s>]); read off the tokenizer's own encoding of a word."""
  plain = tokenizer("a", add_special_tokens=False)["input_ids"]
  wrapped = tokenizer("a")["input_ids"]
  start = next(i for i in range(len(wrapped) - len(plain) + 1) if wrapped[i : i + len(plain)] == plain)
  return wrapped[:start], wrapped[start + len(plain) :]


def tagging_features(
    examples: Sequence[TaggingExample], tokenizer, labels: Sequence[str], max_seq_length: int = 128
) -> Features:
  """Word-aligned tagging features; over-long sentences are split at word boundaries.

  Keys: input_ids, attention_mask [N,T]; label_ids [N,T] (tag index on the first sub-token
  of each word, -100 elsewhere and everywhere when unlabeled); word_index [N,T] (the
  word's index in its example on its first sub-token, -1 elsewhere); example_index [N].
  Every word appears exactly once. A word with no tokens (e.g. a lone no-break space) is
  given one `<unk>`; a single word longer than a window keeps its first sub-tokens only.
  """
  labels = list(labels)
  budget = max_seq_length - tokenizer.num_special_tokens_to_add(pair=False)
  if budget <= 0:
    raise ConfigError(f"max_seq_length {max_seq_length} leaves no room for words")
  flat_words = [w for ex in examples for w in ex.words]
  word_pieces = tokenizer(flat_words, add_special_tokens=False)["input_ids"] if flat_words else []

  windows = []  # per window: example index, then token ids, tags, word indices without <s> </s>
  cut_words = 0
  flat = 0
  for i, ex in enumerate(examples):
    if ex.labels is not None and len(ex.labels) != len(ex.words):
      raise DataError(f"example {ex.id}: {len(ex.words)} words but {len(ex.labels)} labels")
    tags = [IGNORE_LABEL] * len(ex.words) if ex.labels is None else [_label_index(labels, t, ex.id) for t in ex.labels]
    window = (i, [], [], [])
    windows.append(window)
    for w, tag in enumerate(tags):
      pieces = word_pieces[flat] or [tokenizer.unk_token_id]
      flat += 1
      if len(pieces) > budget:
        pieces, cut_words = pieces[:budget], cut_words + 1
      if len(window[1]) + len(pieces) > budget:
        window = (i, [], [], [])
        windows.append(window)
      window[1].extend(pieces)
      window[2].extend([tag] + [IGNORE_LABEL] * (len(pieces) - 1))
      window[3].extend([w] + [-1] * (len(pieces) - 1))
  if cut_words:
    log.warning(
        "tagging: %d word(s) longer than a %d-token window kept only their first " "sub-tokens",
        cut_words,
        max_seq_length,
    )

  prefix, suffix = special_tokens_around(tokenizer)
  first = len(prefix)
  n = len(windows)
  input_ids = np.full((n, max_seq_length), tokenizer.pad_token_id, np.int32)
  attention_mask = np.zeros((n, max_seq_length), np.int32)
  label_ids = np.full((n, max_seq_length), IGNORE_LABEL, np.int32)
  word_index = np.full((n, max_seq_length), -1, np.int32)
  for r, (_, ids, tags, words) in enumerate(windows):
    wrapped = [*prefix, *ids, *suffix]
    input_ids[r, : len(wrapped)] = wrapped
    attention_mask[r, : len(wrapped)] = 1
    label_ids[r, first : first + len(ids)] = tags
    word_index[r, first : first + len(ids)] = words
  return {
      "input_ids": input_ids,
      "attention_mask": attention_mask,
      "label_ids": label_ids,
      "word_index": word_index,
      "example_index": _int32([w[0] for w in windows], (n,)),
  }


def _single_text_features(texts: Sequence[str], tokenizer, max_seq_length: int) -> Features:
  shape = (len(texts), max_seq_length)
  if not texts:
    return {"input_ids": np.zeros(shape, np.int32), "attention_mask": np.zeros(shape, np.int32)}
  ids, mask = _encode(tokenizer, list(texts), None, max_seq_length)
  return {"input_ids": _int32(ids, shape), "attention_mask": _int32(mask, shape)}


def retrieval_features(sentences: Sequence[SentenceExample], tokenizer, max_seq_length: int = 512) -> Features:
  """input_ids/attention_mask [N,T] for one side of a retrieval corpus, truncated to T."""
  return _single_text_features([s.text for s in sentences], tokenizer, max_seq_length)


def mlm_features(lines: Sequence[str | SentenceExample], tokenizer, max_seq_length: int = 128) -> Features:
  """input_ids/attention_mask [N,T] of text lines, truncated to T; mask with `mask_tokens`."""
  texts = [l.text if isinstance(l, SentenceExample) else l for l in lines]
  return _single_text_features(texts, tokenizer, max_seq_length)


def mask_tokens(
    input_ids: np.ndarray,
    attention_mask: np.ndarray,
    rng: np.random.Generator,
    vocab_size: int,
    mask_id: int,
    special_ids: Sequence[int],
    prob: float = 0.15,
) -> tuple[np.ndarray, np.ndarray]:
  """BERT masking: picks each non-special, non-padding token with probability `prob`.

  Of the picked tokens 80% become `mask_id`, 10% a uniformly random id in [0, vocab_size),
  10% stay. Returns (masked_ids, mlm_labels), labels -100 where nothing is predicted.
  Deterministic given the generator's state.
  """
  input_ids = np.asarray(input_ids)
  candidates = (np.asarray(attention_mask) == 1) & ~np.isin(input_ids, list(special_ids))
  picked = candidates & (rng.random(input_ids.shape) < prob)
  choice = rng.random(input_ids.shape)
  random_ids = rng.integers(0, vocab_size, size=input_ids.shape)
  masked = np.where(picked & (choice < 0.8), mask_id, input_ids)
  masked = np.where(picked & (choice >= 0.8) & (choice < 0.9), random_ids, masked)
  labels = np.where(picked, input_ids, IGNORE_LABEL)
  return masked.astype(np.int32), labels.astype(np.int32)


# Bump when a builder changes what it writes, so old caches are not reused.
FEATURES_VERSION = 1


def tokenizer_fingerprint(tokenizer) -> str:
  """The tokenizer's name and a hash of its full serialisation (vocabulary and pipeline);
  computed once per tokenizer object (serialising a 250k vocabulary is not free)."""
  cached = getattr(tokenizer, "_xstilts_fingerprint", None)
  if cached is None:
    digest = hashlib.sha256(tokenizer.backend_tokenizer.to_str().encode()).hexdigest()[:16]
    cached = f"{Path(str(tokenizer.name_or_path)).name or 'tokenizer'}:{digest}"
    tokenizer._xstilts_fingerprint = cached
  return cached


def file_fingerprint(path: str | os.PathLike) -> list[tuple[str, int, int]]:
  """(path, size, mtime_ns) of a data file, or of every file under a data directory."""
  path = Path(path)
  files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
  if not files or not files[0].exists():
    raise DataError(f"{path}: data file does not exist")
  return [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files]


def cache_path(cache_dir: str | os.PathLike, key_parts: Mapping[str, Any]) -> Path:
  """Where the features for `key_parts` live: a readable prefix and a hash of every part."""
  text = json.dumps({"features_version": FEATURES_VERSION, **key_parts}, sort_keys=True, default=str)
  digest = hashlib.sha256(text.encode()).hexdigest()[:24]
  readable = [str(key_parts[k]) for k in ("task", "language", "split") if k in key_parts]
  prefix = re.sub(r"[^A-Za-z0-9_.-]+", "_", "-".join(readable + ["features"]))
  return paths.as_path(cache_dir) / f"{prefix}-{digest}.npz"  # a local path or gs://


def cached_features(
    cache_dir: str | os.PathLike, key_parts: Mapping[str, Any], build_fn: Callable[[], Features]
) -> Features:
  """Loads features from the .npz cache entry of `key_parts`, or builds and saves them.

  key_parts should name all that the features depend on, e.g. task, language, split,
  `tokenizer_fingerprint(tok)`, max_seq_length and `file_fingerprint(data_file)`; any
  change gives a new entry. Writes go to a temporary file renamed into place, so a
  crashed or concurrent writer never leaves a half-written entry.
  """
  path = cache_path(cache_dir, key_parts)
  if path.exists():
    try:
      with np.load(io.BytesIO(path.read_bytes()), allow_pickle=False) as stored:  # local or gs://
        return {k: stored[k] for k in stored.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
      log.warning("%s: unreadable feature cache (%s); rebuilding", path, e)
  features = build_fn()
  buffer = io.BytesIO()
  np.savez(buffer, **features)
  atomic.write_bytes(path, buffer.getvalue(), what="the tokenized-feature cache")
  return features


def text_to_text_classification_features(
    examples: Sequence[ClassificationExample],
    tokenizer,
    labels: Sequence[str],
    max_seq_length: int,
    prefix: str,
    fields: tuple[str, str, str] = ("sentence", "sentence1", "sentence2"),
) -> Features:
  """Classification as text to text (T5's "xnli premise: ... hypothesis: ..." inputs).

  input_ids/attention_mask [N, T]: "{prefix} {single}: {a}" or "{prefix} {first}: {a}
  {second}: {b}", `fields` = (single, first, second), truncated from the end with the EOS
  kept (the tokenizer appends it, as T5's append_eos_after_trim). labels [N, L]: the label
  name's ids and EOS, IGNORE_LABEL after it and in every position of an unlabelled example;
  L fits the longest label name, so every split of a task has the same target width.
  """
  labels = list(labels)
  if not labels:
    raise ConfigError(f"text-to-text classification with prefix {prefix!r}: the task has no label names")
  for ex in examples:
    _label_index(labels, ex.label, ex.id)  # an unknown label is an error naming the example
  single, first, second = fields
  sources = [
      f"{prefix} {single}: {ex.text_a}" if ex.text_b is None else f"{prefix} {first}: {ex.text_a} {second}: {ex.text_b}"
      for ex in examples
  ]
  enc = tokenizer(sources, truncation=True, max_length=max_seq_length, padding="max_length")
  words = tokenizer(labels)["input_ids"]
  width = max(len(w) for w in words)
  targets = np.full((len(examples), width), IGNORE_LABEL, np.int32)
  for row, ex in enumerate(examples):
    if ex.label is not None:
      ids = words[labels.index(ex.label)]
      targets[row, : len(ids)] = ids
  n = len(examples)
  return {
      "input_ids": _int32(enc["input_ids"], (n, max_seq_length)),
      "attention_mask": _int32(enc["attention_mask"], (n, max_seq_length)),
      "labels": targets,
  }


# The target width of text-to-text QA: an answer's tokens with the tokenizer's special tokens (EOS),
# longer answers cut with the EOS kept. Fixed, so the evaluation's greedy decode has one static length.
TEXT_QA_ANSWER_LENGTH = 32


def text_to_text_span_qa_features(
    examples: Sequence[SpanQAExample], tokenizer, max_seq_length: int, answer_length: int = TEXT_QA_ANSWER_LENGTH
) -> Features:
  """Extractive QA as text to text (T5's SQuAD inputs, as mT5 fine-tunes XQuAD, MLQA, TyDiQA).

  input_ids/attention_mask [N, T]: "question: {question} context: {context}", truncated from the
  end with the EOS kept. There are no windows: context beyond T tokens is never seen (a warning
  counts the labelled examples whose first answer is cut off that way). Unlike T5's preprocessor
  the texts are not re-spaced around punctuation, so the metric compares the decoded text with the
  gold answers as written. labels [N, answer_length]: the first gold answer's ids and EOS (a
  longer answer cut, the EOS kept; counted in a warning), IGNORE_LABEL after them; a question
  without an answer (SQuAD 2.0) targets the empty text, the EOS alone; an example with neither
  answers nor is_impossible (a test file) is IGNORE_LABEL throughout. A max_seq_length or
  answer_length with no room for a token beside the special tokens is a ConfigError.
  """
  added = tokenizer.num_special_tokens_to_add(pair=False)
  for key, n in (("max_seq_length", max_seq_length), ("answer_length", answer_length)):
    if n <= added:
      raise ConfigError(f"text-to-text QA: {key} {n} leaves no room for text beside {added} special token(s)")
  n = len(examples)
  features = {
      "input_ids": np.full((n, max_seq_length), tokenizer.pad_token_id, np.int32),
      "attention_mask": np.zeros((n, max_seq_length), np.int32),
      "labels": np.full((n, answer_length), IGNORE_LABEL, np.int32),
  }
  if not examples:
    return features
  heads = [f"question: {ex.question.strip()} context: " for ex in examples]
  enc = tokenizer(
      [h + ex.context for h, ex in zip(heads, examples)],
      truncation=True,
      max_length=max_seq_length,
      padding="max_length",
      return_offsets_mapping=True,
  )
  features["input_ids"][:] = enc["input_ids"]
  features["attention_mask"][:] = enc["attention_mask"]
  answers = [ex.answers[0].text if ex.answers else "" for ex in examples]
  targets = tokenizer(answers, truncation=True, max_length=answer_length)["input_ids"]
  lengths = [len(ids) for ids in tokenizer(answers)["input_ids"]]
  cut_inputs = cut_answers = 0
  for row, ex in enumerate(examples):
    if not ex.answers and not ex.is_impossible:
      continue
    features["labels"][row, : len(targets[row])] = targets[row]
    if ex.answers:
      cut_answers += lengths[row] > answer_length
      seen = max(end for _, end in enc["offset_mapping"][row])  # special tokens and padding: (0, 0)
      start = ex.answers[0].answer_start
      cut_inputs += start >= 0 and len(heads[row]) + start + len(answers[row]) > seen
  if cut_inputs or cut_answers:
    log.warning(
        "text-to-text QA: of %d examples, %d have their first answer past the %d-token input and %d an answer "
        "longer than %d tokens (cut)",
        n,
        cut_inputs,
        max_seq_length,
        cut_answers,
        answer_length,
    )
  return features
