"""A small English UPOS tagger that runs offline: a greedy averaged perceptron, pure Python.

The tagger of Collins (2002) as spaCy's early English tagger had it: left to right, one
tag per word from sparse features of the word, its neighbours and the two previous tags,
weights averaged over every update; frequent words seen with one tag >= 97% of the time
are tagged from a dictionary. Training visits sentences in a seeded shuffle, so a tagger
is a function of (sentences, iterations, seed). Trained on the UD English-EWT train file
through the project's CoNLL-U reader (XTREME's conversion), it tags UD's 17 UPOS tags.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
import random
from typing import Iterable, Sequence, Union

from xstilts_jax.data.readers import read_conllu

START = ("-START-", "-START2-")


def _shape(word: str) -> str:
  if word.isdigit():
    return "d"
  out = []
  for ch in word[:6]:
    kind = "X" if ch.isupper() else "x" if ch.isalpha() else "d" if ch.isdigit() else ch
    if not out or out[-1] != kind:
      out.append(kind)
  return "".join(out)


def _features(i: int, words: Sequence[str], prev: str, prev2: str) -> list[str]:
  w = words[i]
  low = w.lower()
  before = words[i - 1].lower() if i > 0 else "-START-"
  after = words[i + 1].lower() if i + 1 < len(words) else "-END-"
  return [
      "bias",
      "w " + low,
      "s3 " + low[-3:],
      "s2 " + low[-2:],
      "p1 " + low[:1],
      "shape " + _shape(w),
      "t-1 " + prev,
      "t-2 " + prev2,
      "t-1t-2 " + prev + " " + prev2,
      "t-1w " + prev + " " + low,
      "w-1 " + before,
      "w-1s3 " + before[-3:],
      "w+1 " + after,
      "w+1s3 " + after[-3:],
      "first " + str(i == 0),
  ]


class PerceptronTagger:
  """Greedy averaged-perceptron tagger (see the module docstring)."""

  def __init__(self):
    self.weights: dict[str, dict[str, float]] = {}
    self.tagdict: dict[str, str] = {}
    self.classes: tuple[str, ...] = ()

  def _predict(self, features: Iterable[str]) -> str:
    scores = defaultdict(float)
    for f in features:
      for tag, weight in self.weights.get(f, {}).items():
        scores[tag] += weight
    return max(self.classes, key=lambda t: (scores[t], t))

  def tag(self, words: Sequence[str]) -> list[str]:
    prev, prev2 = START
    tags = []
    for i, word in enumerate(words):
      tag = self.tagdict.get(word.lower()) or self._predict(_features(i, words, prev, prev2))
      tags.append(tag)
      prev2, prev = prev, tag
    return tags

  def train(
      self, sentences: Sequence[tuple[Sequence[str], Sequence[str]]], iterations: int = 8, seed: int = 0
  ) -> "PerceptronTagger":
    """Fit on (words, tags) sentences; returns self."""
    self.classes = tuple(sorted({t for _, tags in sentences for t in tags}))
    self._make_tagdict(sentences)
    weights = defaultdict(lambda: defaultdict(float))
    totals = defaultdict(float)  # (feature, tag) -> summed weight over steps so far
    stamps = defaultdict(int)  # (feature, tag) -> step of its last change
    self.weights = weights
    step = 0
    order = list(range(len(sentences)))
    rng = random.Random(seed)
    for _ in range(iterations):
      rng.shuffle(order)
      for index in order:
        words, gold = sentences[index]
        prev, prev2 = START
        for i, word in enumerate(words):
          guess = self.tagdict.get(word.lower())
          if guess is None:
            features = _features(i, words, prev, prev2)
            guess = self._predict(features)
            if guess != gold[i]:
              for f in features:
                for tag, delta in ((gold[i], 1.0), (guess, -1.0)):
                  key = (f, tag)
                  totals[key] += (step - stamps[key]) * weights[f][tag]
                  stamps[key] = step
                  weights[f][tag] += delta
          step += 1
          prev2, prev = prev, gold[i]
    averaged = {}
    for f, row in weights.items():
      kept = {}
      for tag, weight in row.items():
        total = totals[(f, tag)] + (step - stamps[(f, tag)]) * weight
        if total:
          kept[tag] = total / step
      if kept:
        averaged[f] = kept
    self.weights = averaged
    return self

  def _make_tagdict(self, sentences, min_count: int = 10, min_share: float = 0.97) -> None:
    counts = defaultdict(lambda: defaultdict(int))
    for words, tags in sentences:
      for word, tag in zip(words, tags):
        counts[word.lower()][tag] += 1
    self.tagdict = {}
    for word, by_tag in counts.items():
      tag, n = max(by_tag.items(), key=lambda kv: (kv[1], kv[0]))
      total = sum(by_tag.values())
      if total >= min_count and n / total >= min_share:
        self.tagdict[word] = tag

  def accuracy(self, sentences: Sequence[tuple[Sequence[str], Sequence[str]]]) -> float:
    right = total = 0
    for words, gold in sentences:
      right += sum(p == g for p, g in zip(self.tag(words), gold))
      total += len(gold)
    return right / total


def conllu_sentences(paths: Union[str, Path, Sequence]) -> list[tuple[tuple, tuple]]:
  """(words, UPOS tags) of CoNLL-U files, read by the project's reader."""
  return [(e.words, e.labels) for e in read_conllu(paths)]


def train_ud_tagger(train_path: Union[str, Path], iterations: int = 8, seed: int = 0) -> PerceptronTagger:
  """A tagger trained on a UD English train file (e.g. en_ewt-ud-train.conllu)."""
  return PerceptronTagger().train(conllu_sentences(train_path), iterations, seed)
