"""Text diversity: hand-computed values, size fairness, the word-class proxy, determinism."""

import math
import random

import pytest

from xstilts_jax.data.diversity import text_diversity, tokenize, word_class
from xstilts_jax.errors import DataError


def test_hand_computed_values():
  result = text_diversity(["the cat the cat"], sample_tokens=100, ttr_window=2)
  assert result["distinct_1"] == pytest.approx(2 / 4)
  assert result["distinct_2"] == pytest.approx(2 / 3)  # (the cat) (cat the) (the cat)
  assert result["distinct_3"] == pytest.approx(2 / 2)
  assert result["unigram_entropy"] == pytest.approx(1.0)  # two words, equally often
  assert result["type_token_ratio"] == pytest.approx(1.0)  # every 2-token window has 2 types
  assert result["sample_tokens"] == 4 and result["sample_complete"] is False


def test_ngrams_do_not_cross_texts():
  result = text_diversity(["a b", "a b"], sample_tokens=100)
  assert result["distinct_2"] == pytest.approx(1 / 2)  # 2 bigrams (a b), not 3


def test_word_classes():
  tokens = tokenize("John saw 12 ships in Paris, running quickly.")
  classes = [word_class(t, i == 0) for i, t in enumerate(tokens)]
  assert classes == ["WORD", "WORD", "NUM", "S", "in", "CAP", ",", "ING", "LY", "."]
  assert word_class("Because", text_initial=True) == "because"
  assert word_class("nation") == "NOUN_SUFFIX" and word_class("careful") == "ADJ_SUFFIX"


def _corpus(n_texts, vocabulary, templates, seed):
  rng = random.Random(seed)
  words = [f"w{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}{chr(97 + i // 676)}" for i in range(vocabulary)]
  texts = []
  for _ in range(n_texts):
    template = rng.choice(templates)
    texts.append(" ".join(rng.choice(words) if slot == "X" else slot for slot in template.split()))
  return texts


ONE_TEMPLATE = ["the X X the X ."]
MANY_TEMPLATES = [
    "the X X the X .",
    "did the X X a X ?",
    "X X in the X with X .",
    "what X the X X ?",
    "X , X and X X near a X .",
    "a X was X by the X .",
]


def test_sample_makes_sizes_comparable():
  large = _corpus(20_000, 3000, ONE_TEMPLATE, seed=1)
  small = _corpus(1_500, 3000, ONE_TEMPLATE, seed=2)
  a = text_diversity(large, sample_tokens=5000)
  b = text_diversity(small, sample_tokens=5000)
  assert a["sample_complete"] and b["sample_complete"]
  assert a["distinct_1"] == pytest.approx(b["distinct_1"], abs=0.02)
  assert a["unigram_entropy"] == pytest.approx(b["unigram_entropy"], abs=0.1)


def test_lexical_variety_orders_vocabularies():
  rich = text_diversity(_corpus(3000, 3000, ONE_TEMPLATE, seed=3), sample_tokens=5000)
  poor = text_diversity(_corpus(3000, 50, ONE_TEMPLATE, seed=3), sample_tokens=5000)
  for key in ("distinct_1", "distinct_2", "unigram_entropy", "type_token_ratio"):
    assert rich[key] > poor[key], key


def test_word_class_entropy_sees_structure_not_words():
  varied = text_diversity(_corpus(3000, 200, MANY_TEMPLATES, seed=4), sample_tokens=5000)
  fixed = text_diversity(_corpus(3000, 200, ONE_TEMPLATE, seed=4), sample_tokens=5000)
  assert varied["word_class_entropy"] > fixed["word_class_entropy"] + 1.0
  assert varied["word_class_distinct_3"] > fixed["word_class_distinct_3"]
  # One template: class trigrams are the 4 inside the template (the WORD WORD ...) at most.
  assert fixed["word_class_entropy"] <= math.log2(4) + 1e-9


def test_deterministic_and_seeded():
  texts = _corpus(2000, 500, MANY_TEMPLATES, seed=5)
  assert text_diversity(texts, sample_tokens=1000) == text_diversity(texts, sample_tokens=1000)
  assert text_diversity(texts, sample_tokens=1000, seed=1) != text_diversity(texts, sample_tokens=1000, seed=2)


def test_bad_input():
  with pytest.raises(DataError):
    text_diversity("just one string")
  with pytest.raises(DataError, match="no tokens"):
    text_diversity(["", "   "])
  assert text_diversity(["", "a b c"], sample_tokens=10)["empty_texts"] == 1
