"""Lexical and syntactic variety of a task's English text, comparable across task sizes.

`text_diversity` draws a seeded sample of whole texts (in a shuffled order, the last
one cut) until it holds `sample_tokens` tokens, so a large and a small task are
measured on the same amount of text. Tokens are words (`\\w+`) and single
punctuation marks; lexical measures use them lowercased.

Lexical measures, on the sample:
  distinct_1/2/3      distinct n-grams / n-grams (n-grams never cross a text boundary);
                      distinct_1 is the type-token ratio of the sample
  unigram_entropy     Shannon entropy (bits) of the word distribution
  type_token_ratio    moving-average TTR (MATTR): the mean TTR of every window of
                      `ttr_window` consecutive tokens, which does not fall with length

Syntactic proxy (no tagger is needed offline): every token becomes a coarse word class,
and the measure is the entropy (bits) of word-class trigrams, `word_class_entropy`,
with `word_class_distinct_3` the share of distinct class trigrams. It stands in for
the entropy of POS n-grams. The classes:
  - closed-class English words (determiners, pronouns, prepositions, conjunctions,
    auxiliaries and modals, negation, wh-words, `to`, `there`): the word itself
  - punctuation marks: the mark itself
  - numbers (contain a digit): NUM
  - capitalised words not at the start of a text: CAP (mostly names)
  - other words by suffix: -ing ING, -ed ED, -ly LY, -tion/-sion/-ment/-ness/-ity
    NOUN_SUFFIX, -able/-ible/-al/-ful/-ive/-less/-ous ADJ_SUFFIX, -s S, else WORD
"""

from __future__ import annotations

from collections import Counter
import math
import random
import re
from typing import Sequence

from xstilts_jax.errors import DataError

_TOKEN = re.compile(r"\w+|[^\w\s]")
CLOSED_CLASS = frozenset("""
a an the this that these those some any no every each all both either neither another
i me my mine you your yours he him his she her hers it its we us our ours they them their
theirs myself yourself himself herself itself ourselves themselves one
of in on at by for with from to into onto over under about after before between through
during without within against among across behind beyond near since until upon off out up
down than like as
and or but nor so yet if because while although though whether unless when where
what who whom whose which why how whatever whoever
be am is are was were been being have has had having do does did doing
will would shall should can could may might must
not n't never there
""".split())
_SUFFIX_CLASSES = (
    ("ING", ("ing",)),
    ("ED", ("ed",)),
    ("LY", ("ly",)),
    ("NOUN_SUFFIX", ("tion", "sion", "ment", "ness", "ity")),
    ("ADJ_SUFFIX", ("able", "ible", "al", "ful", "ive", "less", "ous")),
    ("S", ("s",)),
)


def tokenize(text: str) -> list[str]:
  """Words and single punctuation marks, case kept."""
  return _TOKEN.findall(text)


def word_class(token: str, text_initial: bool = False) -> str:
  """The coarse class of one token (see the module docstring)."""
  lower = token.lower()
  if lower in CLOSED_CLASS:
    return lower
  if not re.match(r"\w", token):
    return token
  if any(c.isdigit() for c in token):
    return "NUM"
  if token[0].isupper() and not text_initial:
    return "CAP"
  for name, suffixes in _SUFFIX_CLASSES:
    if len(lower) > 3 and lower.endswith(suffixes):
      return name
  return "WORD"


def _ngrams(texts: list[list[str]], n: int) -> list[tuple[str, ...]]:
  return [tuple(t[i : i + n]) for t in texts for i in range(len(t) - n + 1)]


def _entropy(counts: Counter) -> float:
  total = sum(counts.values())
  return max(0.0, -sum(c / total * math.log2(c / total) for c in counts.values())) if total else 0.0


def _distinct(texts: list[list[str]], n: int) -> float:
  grams = _ngrams(texts, n)
  return len(set(grams)) / len(grams) if grams else 0.0


def _mattr(tokens: list[str], window: int) -> float:
  if len(tokens) <= window:
    return len(set(tokens)) / len(tokens) if tokens else 0.0
  counts = Counter(tokens[:window])
  total = len(counts)
  for i in range(window, len(tokens)):
    counts[tokens[i]] += 1
    old = tokens[i - window]
    counts[old] -= 1
    if not counts[old]:
      del counts[old]
    total += len(counts)
  return total / window / (len(tokens) - window + 1)


def _sample(texts: Sequence[str], sample_tokens: int, seed: int) -> list[list[str]]:
  order = list(range(len(texts)))
  random.Random(seed).shuffle(order)
  sample, size = [], 0
  for i in order:
    if size >= sample_tokens:
      break
    tokens = tokenize(texts[i])[: sample_tokens - size]
    if tokens:
      sample.append(tokens)
      size += len(tokens)
  return sample


def text_diversity(texts: Sequence[str], sample_tokens: int = 10_000, ttr_window: int = 500, seed: int = 0) -> dict:
  """Lexical variety and a word-class proxy for syntactic variety of `texts`.

  Returns the measures of the module docstring and, to judge them by: sample_tokens
  (tokens measured; fewer than asked when the texts hold fewer, and then measures are
  not comparable with full samples), texts (given), texts_sampled, empty_texts (texts
  with no token, never sampled), sample_complete (the sample reached `sample_tokens`).
  """
  if isinstance(texts, str):
    raise DataError("text_diversity needs a list of texts, not one string")
  if sample_tokens < 3 or ttr_window < 1:
    raise DataError(f"sample_tokens must be >= 3 and ttr_window >= 1 " f"(got {sample_tokens}, {ttr_window})")
  empty = sum(1 for t in texts if not _TOKEN.search(t))
  if empty == len(texts):
    raise DataError(f"no tokens in any of the {len(texts)} texts")
  sample = _sample(texts, sample_tokens, seed)
  lower = [[t.lower() for t in text] for text in sample]
  classes = [[word_class(t, i == 0) for i, t in enumerate(text)] for text in sample]
  flat = [t for text in lower for t in text]
  class_trigrams = Counter(_ngrams(classes, 3))
  return {
      "distinct_1": _distinct(lower, 1),
      "distinct_2": _distinct(lower, 2),
      "distinct_3": _distinct(lower, 3),
      "unigram_entropy": _entropy(Counter(flat)),
      "type_token_ratio": _mattr(flat, ttr_window),
      "word_class_entropy": _entropy(class_trigrams),
      "word_class_distinct_3": (len(class_trigrams) / sum(class_trigrams.values()) if class_trigrams else 0.0),
      "sample_tokens": len(flat),
      "texts": len(texts),
      "texts_sampled": len(sample),
      "empty_texts": empty,
      "sample_complete": len(flat) >= sample_tokens,
  }
