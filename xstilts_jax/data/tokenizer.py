"""Loading the XLM-R tokenizer from a local directory, and training a small compatible one offline.

`train_tokenizer` builds what tests and the offline demo use in place of the hub's
xlm-roberta tokenizer: a Unigram model (trained by SentencePiece, deterministically) behind
XLM-R's Metaspace pre-tokenizer, with XLM-R's special-token layout (`<s>`=0, `<pad>`=1, `</s>`=2, `<unk>`=3,
`<mask>` last) and RoBERTa pairs (`<s> A </s></s> B </s>`).
"""

from __future__ import annotations

import collections
import io
import os
from pathlib import Path
import tempfile
from typing import Iterable

import sentencepiece
from sentencepiece import sentencepiece_model_pb2
import tokenizers
from tokenizers import Regex, decoders, models, pre_tokenizers, processors
import transformers

from xstilts_jax import paths
from xstilts_jax.errors import ConfigError, DataError

# Any one of these marks a directory as holding a tokenizer.
TOKENIZER_FILES = ("tokenizer.json", "sentencepiece.bpe.model", "tokenizer_config.json")
SPECIAL_TOKENS = ("<s>", "<pad>", "</s>", "<unk>")  # ids 0..3, as in XLM-R
MASK_TOKEN = "<mask>"
MODEL_MAX_LENGTH = 512  # XLM-R's position budget


def load_tokenizer(path: str | os.PathLike) -> transformers.PreTrainedTokenizerBase:
  """Loads a fast tokenizer from a local directory or a gs:// prefix (no network otherwise)."""
  where = paths.as_path(path)
  if not where.is_dir():
    raise DataError(f"{where}: tokenizer directory does not exist")
  if not any((where / name).is_file() for name in TOKENIZER_FILES):
    raise DataError(f"{where}: no tokenizer files (expected one of {', '.join(TOKENIZER_FILES)})")
  path = paths.local_copy(where)  # transformers reads local files only: a gs:// one is copied here
  try:
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
  except (OSError, ValueError) as e:
    raise DataError(f"{where}: cannot load tokenizer: {e}") from e
  if not tokenizer.is_fast:
    raise DataError(f"{where}: not a fast (tokenizers-backed) tokenizer; offsets need one")
  return tokenizer


def _xlmr_pre_tokenizer() -> pre_tokenizers.PreTokenizer:
  # What transformers' XLMRobertaTokenizer builds: split on whitespace, then prefix "▁".
  return pre_tokenizers.Sequence(
      [
          pre_tokenizers.WhitespaceSplit(),
          pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always"),
      ]
  )


def _training_pre_tokenizer() -> pre_tokenizers.PreTokenizer:
  # XLM-R's pipeline, then cuts between letters, digit runs and punctuation, so that no piece
  # mixes them. Without it the trainer learns pieces like "s." and answer spans could not
  # end before a period. Only training sees the cuts; the saved tokenizer uses XLM-R's
  # pipeline unchanged.
  return pre_tokenizers.Sequence(
      [
          _xlmr_pre_tokenizer(),
          pre_tokenizers.Split(Regex(r"▁?\p{N}+|▁?[^\p{L}\p{M}\p{N}▁]+"), behavior="isolated"),
      ]
  )


def _train_unigram_pieces(texts: Iterable[str], size: int) -> list[tuple[str, float]]:
  """SentencePiece's Unigram trainer on the pre-tokenized words, made deterministic.

  HF tokenizers' Unigram trainer breaks ties in hash order, which differs between processes;
  SentencePiece with one thread, fed the word counts in sorted order, gives the same pieces
  and scores in every process. Each word is one SentencePiece "sentence" whose "▁" is the
  word's own, so pieces never cross the cuts of `_training_pre_tokenizer`.
  """
  pre_tokenizer = _training_pre_tokenizer()
  counts = collections.Counter()
  for text in texts:
    counts.update(word for word, _ in pre_tokenizer.pre_tokenize_str(text))
  if not counts:
    raise DataError("no text to train a tokenizer on")
  model = io.BytesIO()
  with tempfile.TemporaryDirectory() as tmp:
    words = Path(tmp) / "words.tsv"
    words.write_text("".join(f"{w}\t{n}\n" for w, n in sorted(counts.items())), encoding="utf-8")
    sentencepiece.SentencePieceTrainer.train(
        input=str(words),
        input_format="tsv",
        model_writer=model,
        model_type="unigram",
        vocab_size=size + 1,
        hard_vocab_limit=False,
        unk_id=0,
        bos_id=-1,
        eos_id=-1,
        pad_id=-1,
        normalization_rule_name="identity",
        add_dummy_prefix=False,
        remove_extra_whitespaces=False,
        character_coverage=1.0,
        byte_fallback=False,
        split_by_unicode_script=False,
        split_by_number=False,
        split_by_whitespace=True,
        num_threads=1,
        minloglevel=2,
    )
  proto = sentencepiece_model_pb2.ModelProto()
  proto.ParseFromString(model.getvalue())
  # Piece 0 is SentencePiece's own <unk>; XLM-R's specials are added by the caller.
  return [(p.piece, p.score) for p in proto.pieces[1:]]


def train_tokenizer(
    texts: Iterable[str], vocab_size: int, out_dir: str | os.PathLike
) -> transformers.PreTrainedTokenizerBase:
  """Trains an XLM-R-compatible Unigram tokenizer on `texts`, saves it to out_dir, returns it.

  Training is deterministic: the same texts give the same tokenizer in every process.
  The vocabulary may come out smaller than `vocab_size` on a small corpus; `<mask>` is
  always the last id, so `len(tokenizer)` is the model's vocabulary size.
  """
  if vocab_size <= len(SPECIAL_TOKENS) + 1:
    raise ConfigError(f"vocab_size {vocab_size} is too small " f"(need more than {len(SPECIAL_TOKENS) + 1})")
  pieces = [(token, 0.0) for token in SPECIAL_TOKENS]
  pieces += _train_unigram_pieces(texts, vocab_size - len(SPECIAL_TOKENS) - 1)  # room for <mask>
  pieces.append((MASK_TOKEN, 0.0))

  tokenizer = tokenizers.Tokenizer(models.Unigram(pieces, unk_id=SPECIAL_TOKENS.index("<unk>"), byte_fallback=False))
  tokenizer.pre_tokenizer = _xlmr_pre_tokenizer()
  tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
  tokenizer.post_processor = processors.TemplateProcessing(
      single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
  )
  wrapped = transformers.XLMRobertaTokenizerFast(
      tokenizer_object=tokenizer,
      mask_token=tokenizers.AddedToken(MASK_TOKEN, lstrip=True, special=True),
      model_max_length=MODEL_MAX_LENGTH,
  )
  with paths.staged_dir(out_dir) as local:  # save_pretrained writes local files: gs:// gets them uploaded
    local.mkdir(parents=True, exist_ok=True)
    wrapped.save_pretrained(str(local))
  # Return what a later run will load, so both see the very same tokenizer.
  return load_tokenizer(out_dir)
