"""What every experiment config shares: the defaults of one X-STILTs experiment and `parse_arg`.

The defaults are jiant's X-STILTs settings (../shared/reference/xstilts.md section 4):
AdamW lr 1e-5, eps 1e-8, weight decay 0.01 off for biases and LayerNorm, 10% linear warmup
then linear decay, clipping at 1.0; intermediate tasks 3 epochs, batch 4, length 256.
"""

from __future__ import annotations

import ml_collections

from xstilts_jax.sharding import DEFAULT_RULES


def parse_arg(arg: str | None, **spec):
  """big_vision style: "a=1,b=x,flag" -> ConfigDict, typed by the defaults in `spec`.

  A bare key means True. Lists are separated by '+' (intermediate=mnli+squad_v1).
  """
  out = ml_collections.ConfigDict(spec)
  for item in filter(None, (arg or "").split(",")):
    key, _, value = item.partition("=")
    if key not in spec:
      raise ValueError(f"config argument {key!r} is not one of {sorted(spec)}")
    default = spec[key]
    if not _:
      out[key] = True
    elif isinstance(default, bool):
      out[key] = value.lower() in ("1", "true", "yes")
    elif isinstance(default, int):
      out[key] = int(value)
    elif isinstance(default, float):
      out[key] = float(value)
    elif isinstance(default, (list, tuple)):
      out[key] = [v for v in value.split("+") if v]
    else:
      out[key] = value
  return out


def train_phase(**overrides) -> ml_collections.ConfigDict:
  """Hyper-parameters of one training phase (defaults: jiant's)."""
  c = ml_collections.ConfigDict(
      dict(
          epochs=3.0,
          max_steps=0,  # 0: epochs decide; else a cap on optimizer steps
          batch_size=4,  # rows per micro-batch (global, all hosts)
          accum_steps=1,  # micro-batches per optimizer step
          learning_rate=1e-5,
          warmup_fraction=0.1,
          weight_decay=0.01,
          adam_eps=1e-8,
          adam_b1=0.9,
          adam_b2=0.999,
          grad_clip_norm=1.0,
          max_seq_length=256,
          eval_every=0,  # steps between dev evaluations (0: none)
          eval_subset=500,  # dev examples scored at each evaluation (jiant's eval_subset_num)
          early_stopping_patience=0,
          train_examples_cap=0,  # 0: all; else at most this many training examples per task
          taskemb_examples=64,  # TaskEmb (Fisher) of each trained task over this many rows; 0: none
      )
  )
  c.update(overrides)
  return c


def base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.name = "xstilts"
  c.seed = 0
  # Which benchmark's target languages (and XCOPA training recipe) apply: "xtreme" or
  # "xtreme-r" (xstilts_jax.tasks.registry.BENCHMARKS, train_recipe).
  c.benchmark = "xtreme"
  c.workdir = ""  # `--workdir` on the command line sets it

  c.model = ml_collections.ConfigDict(
      dict(
          checkpoint="FacebookAI/xlm-roberta-large",  # hub id or local HF directory
          tokenizer="",  # default: the checkpoint's
          dtype="float32",  # compute dtype; bfloat16 on TPU (weights stay float32)
          retrieval_layer=14,  # hidden_states index pooled for BUCC / Tatoeba (14 of 24 for Large)
          remat="none",  # none | dots | full: activations recomputed in the backward pass
          attention="auto",  # auto | xla | cudnn | plain: the kernel when no attention dropout
          scan_layers=False,  # the blocks as one scanned block over stacked parameters
      )
  )
  c.optimizer = ml_collections.ConfigDict(dict(moments_dtype="float32"))  # float32 | bfloat16
  # The embedded default builds its own small model instead of loading one.
  c.model.build = ml_collections.ConfigDict(
      dict(
          enabled=False,
          vocab_size=4000,
          hidden_size=64,
          num_hidden_layers=2,
          num_attention_heads=4,
          intermediate_size=128,
          max_position_embeddings=130,
          pretrain=train_phase(epochs=1.0, batch_size=32, learning_rate=1e-3, max_seq_length=64, warmup_fraction=0.05),
      )
  )

  c.data = ml_collections.ConfigDict(
      dict(
          source="local",  # local | hub | tfds
          data_dir="",  # root of the original files (layout of each release)
          tfds_data_dir="",
          cache_dir="",  # tokenized features; default <workdir>/cache
      )
  )
  c.data.synthetic = ml_collections.ConfigDict(dict(enabled=False, seed=0, languages=[], sizes={}))

  c.mesh = ml_collections.ConfigDict(dict(data=-1, fsdp=1, tensor=1))
  c.sharding_rules = [list(r) for r in DEFAULT_RULES]
  c.distributed = ml_collections.ConfigDict(dict(coordinator="", num_processes=0, process_id=-1))

  # Phase 0: continued masked-LM training on chosen languages (skipped when empty).
  c.mlm = ml_collections.ConfigDict(
      dict(
          languages=[],
          phase=train_phase(epochs=1.0, max_seq_length=128),
          # Phase 0 reads this many real tokens of each language (a seeded sample of its lines; 0: all),
          # so arms with as many languages train on as many tokens (Q1's equal MLM budget).
          tokens_per_language=0,
      )
  )

  # Phase 1: intermediate training. Tasks run multi-task when there are several; `task:lang`
  # names translated training data; empty = the baseline.
  c.intermediate = train_phase()
  c.intermediate.tasks = []
  c.intermediate.task_max_seq_length = ml_collections.ConfigDict()  # task -> length, where it differs
  c.intermediate.mlm_beside = False  # masked LM on c.mlm.languages as one more task
  c.intermediate.sampler = "proportional"  # proportional | temperature | uniform
  c.intermediate.sampler_cap = 0
  c.intermediate.sampler_temperature = 1.0

  # Phase 2: per target task, fine-tuning on English with early stopping on the English dev set.
  c.targets = ml_collections.ConfigDict()
  c.targets.tasks = []
  c.targets.languages = ml_collections.ConfigDict()  # task -> languages, overriding the registry's
  c.targets.defaults = train_phase(eval_every=1000, early_stopping_patience=30)
  c.targets.per_task = ml_collections.ConfigDict()  # task -> overrides of the defaults

  # Phase 3: zero-shot evaluation of every language of every target.
  c.eval = ml_collections.ConfigDict(
      dict(split="test", batch_size=32, write_predictions=True, retrieval_max_seq_length=0)
  )  # 0: the task's (512 for BUCC, Tatoeba)
  # Span-QA answer text: "offsets" (the exact context text) or "xtreme" (XTREME's get_final_text,
  # to reproduce published numbers: it returns whole whitespace chunks for Chinese).
  c.eval.qa_answer_text = "offsets"

  c.baseline = False  # also run the same experiment without phase 1, beside it
  c.report = False  # write the analysis report comparing the runs at the end
  c.log_every = 50
  c.save_every = 1000
  return c
