"""What a run does differently per backbone (XLM-R, mT5) and per fine-tuning protocol, as two
tables: `BACKBONES` (config.model.backbone) and `PROTOCOLS` (config.protocol). The pipeline
reads their fields; it has no branch on a backbone's or a protocol's name.

Pretraining of the embedded default (the demo's small model standing in for XLM-R or mT5):
  - XLM-R: BERT's masked LM through the "mlm" head (formats/mlm.py's masking).
  - mT5: MLM-style denoising through the "seq2seq" head (our choice among the two the issue
    allows, simpler than T5's span corruption and on the same masking): the encoder reads the
    text with BERT's masking (15% of the tokens picked; of those 80% <mask>, 10% a random
    token, 10% kept) and the decoder writes the whole original text, every token scored
    (BART's reconstruction objective). Continued masked LM (phase 0, MLM beside phase 1) is
    the same objective.

Protocols:
  - heads: every task in its own format, the project's heads on the encoder (both backbones).
  - text-to-text (mT5 only): trained tasks in their text-to-text format (classification as label
    words, extractive QA as generated answer text), all through the one seq2seq head that
    pretraining trained, so phase 1 passes on the decoder with the encoder; phase 2 fine-tunes
    that head (teacher-forced sequence loss), scores dev by greedy decoding, and phase 3 decodes.
    Retrieval targets (Tatoeba, BUCC) read the encoder alone under either protocol. A task with
    no text-to-text format yet is refused before the run starts.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, Optional

from flax import nnx
import numpy as np

from xstilts_jax.data import features as F
from xstilts_jax.errors import ConfigError
from xstilts_jax.formats import get_format
from xstilts_jax.formats.mlm import masking
from xstilts_jax.models import HeadSpec, XLMRConfig, XLMRModel
from xstilts_jax.models.mt5 import MT5Config, MT5Model
from xstilts_jax.tasks.spec import IGNORE_LABEL, TaskSpec

# The position budget of a model without a position table (mT5's relative positions): the
# longest input the project lets a phase ask for.
RELATIVE_POSITION_BUDGET = 1024


def denoising(tokenizer, seed: int) -> Callable:
  """prepare(batch, step) for a seq2seq head: BERT's masking of the input (seeded by (seed,
  step), as formats/mlm.py's), the unmasked text as the target (IGNORE_LABEL at padding). The
  mask is the tokenizer's mask token, else T5's first sentinel (mT5's tokenizers have no mask)."""
  mask_id = tokenizer.mask_token_id
  if mask_id is None and "<extra_id_0>" in tokenizer.get_vocab():
    mask_id = tokenizer.convert_tokens_to_ids("<extra_id_0>")
  if mask_id is None:
    raise ConfigError(f"tokenizer {tokenizer.name_or_path}: no mask token and no <extra_id_0> to denoise with")
  special = np.asarray(tokenizer.all_special_ids)

  def prepare(batch, step):
    ids = np.asarray(batch["input_ids"])
    labels = np.where(np.asarray(batch["attention_mask"]) == 1, ids, IGNORE_LABEL).astype(np.int32)
    rng = np.random.default_rng([seed, step, 7])
    masked, _ = F.mask_tokens(ids, batch["attention_mask"], rng, len(tokenizer), mask_id, special)
    return {**batch, "input_ids": masked, "labels": labels}

  return prepare


def _xlmr_config(b, vocab_size: int, pad_id: int, eos_id: int) -> XLMRConfig:
  del eos_id  # XLM-R's </s> is not a config field
  return XLMRConfig(
      vocab_size=vocab_size,
      hidden_size=b.hidden_size,
      num_hidden_layers=b.num_hidden_layers,
      num_attention_heads=b.num_attention_heads,
      intermediate_size=b.intermediate_size,
      max_position_embeddings=b.max_position_embeddings,
      pad_token_id=pad_id,
  )


def _mt5_config(b, vocab_size: int, pad_id: int, eos_id: int) -> MT5Config:
  """T5 v1.1's shape at the build's sizes; the decoder starts from padding, as T5's."""
  return MT5Config(
      vocab_size=vocab_size,
      d_model=b.hidden_size,
      d_kv=b.hidden_size // b.num_attention_heads,
      d_ff=b.intermediate_size,
      num_layers=b.num_hidden_layers,
      num_heads=b.num_attention_heads,
      pad_token_id=pad_id,
      eos_token_id=eos_id,
      decoder_start_token_id=pad_id,
  )


def _xlmr_positions(hf: Mapping) -> int:
  """XLM-R numbers positions from pad_token_id + 1: max_position_embeddings - pad - 1 (512 of 514)."""
  return int(hf.get("max_position_embeddings", 514)) - int(hf.get("pad_token_id", 1)) - 1


@dataclasses.dataclass(frozen=True)
class Backbone:
  """name: config.model.backbone. title: its name in messages. built_config(model.build,
  vocab_size, pad_id, eos_id) and model_class: the embedded default's small model (`build`
  makes it, `xstilts plan` reads its shapes). lm_head: its LM head's kind, what pretraining
  and continued MLM train and export. lm_prepare(tokenizer, seed): the per-step transform of
  a masked-LM batch for that head. lm_objective: the pretraining in words.
  positions(config.json): the longest input the model takes. built_positions(model.build):
  the same for the embedded default."""

  name: str
  title: str
  built_config: Callable[..., Any]
  model_class: type
  lm_head: str
  lm_prepare: Callable[[Any, int], Callable]
  lm_objective: str
  positions: Callable[[Mapping], int]
  built_positions: Callable[[Any], int]

  def build(self, b, tokenizer, dtype, options, seed: int):
    """The embedded default's small model with its LM head (named as the kind), sized by
    `model.build`, its vocabulary and special ids the tokenizer's."""
    cfg = self.built_config(b, len(tokenizer), tokenizer.pad_token_id, tokenizer.eos_token_id)
    heads = {self.lm_head: HeadSpec(self.lm_head)}
    return self.model_class(cfg, heads, dtype=dtype, rngs=nnx.Rngs(seed), options=options)


BACKBONES: dict[str, Backbone] = {
    "xlmr": Backbone(
        "xlmr",
        "XLM-R",
        _xlmr_config,
        XLMRModel,
        "mlm",
        masking,
        "masked LM",
        _xlmr_positions,
        lambda b: b.max_position_embeddings - 2,
    ),
    "mt5": Backbone(
        "mt5",
        "mT5",
        _mt5_config,
        MT5Model,
        "seq2seq",
        denoising,
        "MLM-style denoising: the masked text in, the original text out",
        lambda hf: RELATIVE_POSITION_BUDGET,
        lambda b: b.max_position_embeddings - 2,  # the demo's lengths, whatever the backbone
    ),
}


@dataclasses.dataclass(frozen=True)
class Protocol:
  """name: config.protocol. backbones: those it runs. formats: a trained task's format -> the
  format it trains and evaluates in (None: every format as it is). shared_lm_head: trained
  tasks use the backbone's LM head (loaded with its weights) instead of heads of their own,
  and phase 1 exports it with the encoder."""

  name: str
  backbones: tuple[str, ...]
  formats: Optional[Mapping[str, str]] = None
  shared_lm_head: bool = False


PROTOCOLS: dict[str, Protocol] = {
    "heads": Protocol("heads", tuple(BACKBONES)),
    "text-to-text": Protocol(
        "text-to-text",
        ("mt5",),
        {"classification": "text_to_text_classification", "span_qa": "text_to_text_span_qa"},
        shared_lm_head=True,
    ),
}


def backbone(config) -> Backbone:
  name = config.model.get("backbone", "xlmr")
  if name not in BACKBONES:
    raise ConfigError(f"model.backbone {name!r} is not one of {', '.join(BACKBONES)}")
  return BACKBONES[name]


def protocol(config) -> Protocol:
  name = config.get("protocol", "heads")
  if name not in PROTOCOLS:
    raise ConfigError(f"protocol {name!r} is not one of {', '.join(PROTOCOLS)}")
  p = PROTOCOLS[name]
  if backbone(config).name not in p.backbones:
    raise ConfigError(
        f"protocol {name!r} runs on {', '.join(p.backbones)}, not model.backbone {backbone(config).name!r}"
    )
  return p


def protocol_spec(config, spec: TaskSpec, key: str = "") -> TaskSpec:
  """`spec` in the format the run's protocol trains and evaluates it in; a trained task the
  protocol has no format for is an error naming it (and `key`, the config key that asked)."""
  p = protocol(config)
  fmt = get_format(spec.format)
  if p.formats is None or fmt.encoder_only or fmt.any_language:
    return spec
  if spec.format not in p.formats:
    where = f"{key}: " if key else ""
    runs = ", ".join(sorted(p.formats))
    raise ConfigError(
        f"{where}{spec.name} ({spec.format}) has no {p.name} format yet ({p.name} runs {runs} tasks); "
        f"drop it or use protocol=heads"
    )
  return dataclasses.replace(spec, format=p.formats[spec.format])
