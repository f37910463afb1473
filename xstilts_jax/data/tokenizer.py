"""Loading the XLM-R tokenizer from a local directory, and training a small compatible one offline.

`train_tokenizer` builds what tests and the offline demo use in place of the hub's
xlm-roberta tokenizer: a SentencePiece-style Unigram model behind XLM-R's Metaspace
pre-tokenizer, with XLM-R's special-token layout (`<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3,
`<mask>` last) and RoBERTa pairs (`<s> A </s></s> B </s>`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

import tokenizers
from tokenizers import decoders, models, pre_tokenizers, processors, trainers, Regex
import transformers

from xstilts_jax.errors import ConfigError, DataError

# Any one of these marks a directory as holding a tokenizer.
TOKENIZER_FILES = ("tokenizer.json", "sentencepiece.bpe.model", "tokenizer_config.json")
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")  # ids 0..3, as in XLM-R
MASK_TOKEN = "<mask>"
MODEL_MAX_LENGTH = 512  # XLM-R's position budget


def load_tokenizer(path: str | os.PathLike) -> transformers.PreTrainedTokenizerBase:
  """Loads a fast tokenizer from a local directory (no network)."""
  path = Path(path)
  if not path.is_dir():
    raise DataError(f"{path}: tokenizer directory does not exist")
  if not any((path / name).is_file() for name in TOKENIZER_FILES):
    raise DataError(f"{path}: no tokenizer files (expected one of {', '.join(TOKENIZER_FILES)})")
  try:
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
  except (OSError, ValueError) as e:
    raise DataError(f"{path}: cannot load tokenizer: {e}") from e
  if not tokenizer.is_fast:
    raise DataError(f"{path}: not a fast (tokenizers-backed) tokenizer; offsets need one")
  return tokenizer


def _xlmr_pre_tokenizer() -> pre_tokenizers.PreTokenizer:
  # What transformers' XLMRobertaTokenizer builds: split on whitespace, then prefix "▁".
  return pre_tokenizers.Sequence([
      pre_tokenizers.WhitespaceSplit(),
      pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always"),
  ])


def _training_pre_tokenizer() -> pre_tokenizers.PreTokenizer:
  # XLM-R's pipeline, then cuts between letters, digit runs and punctuation, so that no piece
  # mixes them (what SentencePiece's split_by_unicode_script / split_by_number do). Without
  # it the trainer learns pieces like "s." and answer spans could not end before a period.
  # Only training sees the cuts; the saved tokenizer uses XLM-R's pipeline unchanged.
  return pre_tokenizers.Sequence([
      _xlmr_pre_tokenizer(),
      pre_tokenizers.Split(Regex(r"▁?\p{N}+|▁?[^\p{L}\p{M}\p{N}▁]+"), behavior="isolated"),
  ])


def _canonical_order(pieces: list[tuple[str, float]]) -> list[tuple[str, float]]:
  """The trained pieces in an order (and with scores) that does not change from run to run.

  The trainer breaks ties in hash-set order and its scores wobble in the last bits, so
  scores are rounded and ties sorted by text. Characters it must keep but did not learn
  get made-up scores stepping by 1e-4 below every learned piece, handed out in hash-set
  order; they get the same scores, handed out in character order.
  """
  pieces = [(piece, round(score, 8)) for piece, score in pieces]
  lowest_learned = min((score for piece, score in pieces if len(piece) > 1), default=0.0)
  is_filler = [len(piece) == 1 and score < lowest_learned - 0.5 for piece, score in pieces]
  learned = [p for p, f in zip(pieces, is_filler) if not f]
  filler = sorted(p for p, f in zip(pieces, is_filler) if f)
  scores = sorted((score for _, score in filler), reverse=True)
  filler = [(piece, score) for (piece, _), score in zip(filler, scores)]
  return sorted(learned, key=lambda p: (-p[1], p[0])) + filler


def train_tokenizer(texts: Iterable[str], vocab_size: int,
                    out_dir: str | os.PathLike) -> transformers.PreTrainedTokenizerBase:
  """Trains an XLM-R-compatible Unigram tokenizer on `texts`, saves it to out_dir, returns it.

  The vocabulary may come out smaller than `vocab_size` on a small corpus; `<mask>` is
  always the last id, so `len(tokenizer)` is the model's vocabulary size.
  """
  if vocab_size <= len(SPECIAL_TOKENS) + 1:
    raise ConfigError(f"vocab_size {vocab_size} is too small "
                      f"(need more than {len(SPECIAL_TOKENS) + 1})")
  backend = tokenizers.Tokenizer(models.Unigram())
  backend.pre_tokenizer = _training_pre_tokenizer()
  trainer = trainers.UnigramTrainer(
      vocab_size=vocab_size - 1,  # room for <mask>
      special_tokens=list(SPECIAL_TOKENS),
      unk_token="<unk>",
      show_progress=False)
  backend.train_from_iterator(texts, trainer)

  pieces = [tuple(p) for p in json.loads(backend.to_str())["model"]["vocab"]]
  specials, learned = pieces[:len(SPECIAL_TOKENS)], pieces[len(SPECIAL_TOKENS):]
  if [p[0] for p in specials] != list(SPECIAL_TOKENS):
    raise DataError("tokenizer training did not place the special tokens first")
  pieces = [*specials, *_canonical_order(learned), (MASK_TOKEN, 0.0)]

  tokenizer = tokenizers.Tokenizer(models.Unigram(pieces, unk_id=SPECIAL_TOKENS.index("<unk>"),
                                                  byte_fallback=False))
  tokenizer.pre_tokenizer = _xlmr_pre_tokenizer()
  tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
  tokenizer.post_processor = processors.TemplateProcessing(
      single="<s> $A </s>",
      pair="<s> $A </s> </s> $B </s>",
      special_tokens=[("<s>", 0), ("</s>", 2)])
  wrapped = transformers.XLMRobertaTokenizerFast(
      tokenizer_object=tokenizer,
      mask_token=tokenizers.AddedToken(MASK_TOKEN, lstrip=True, special=True),
      model_max_length=MODEL_MAX_LENGTH)
  out_dir = Path(out_dir)
  out_dir.mkdir(parents=True, exist_ok=True)
  wrapped.save_pretrained(str(out_dir))
  # Return what a later run will load, so both see the very same tokenizer.
  return load_tokenizer(out_dir)
