"""The embedded default: the whole X-STILTs procedure, offline, on a 2-core CPU in minutes.

  xstilts run                                   # = xstilts run --config demo --workdir workdirs/demo
  xstilts run --config demo:quick               # a smaller, faster variant (what the tests run)
  xstilts run --config demo:quick,mt5           # the same with a small mT5 (encoder + the project's heads)
  xstilts run --config demo:quick,retrieval     # + LAReQA (XTREME-R's dual encoder) on XQuAD-R-style files
  xstilts run --config demo:quick,mt5,protocol=text-to-text --config.targets.tasks=xnli \
      --config.intermediate.tasks=mnli   # text-to-text on XNLI (MNLI: label words)

A small XLM-R-shaped model and its tokenizer are built and pretrained (masked LM on every
language) by the project itself, standing in for XLM-R. The data are synthetic languages
(xstilts_jax.demo.synthetic) that differ from English in word order, morphology, vocabulary
and script by known amounts, written as files in the real formats and read by the real
readers. Then: phase 0, continued masked LM on the two most distant languages; phase 1,
multi-task intermediate training on HellaSwag- and SQuAD-style English data; phase 2,
English fine-tuning of XNLI (pair classification, on MNLI), XQuAD (span QA, on SQuAD),
PAN-X (tagging) and XCOPA (multiple choice, on COPA); phase 3, zero-shot evaluation in
every language, with Tatoeba and BUCC (retrieval) from the phase-1 encoder. The same
experiment without phase 1 runs beside it as the baseline, and the table compares them.
"""

from xstilts_jax.configs import common

LANGUAGES = ["en", "qn", "qv", "qs", "qc"]
TARGETS = ["xnli", "xquad", "panx", "xcopa", "tatoeba", "bucc2018"]


def get_config(arg=None):
  arg = common.parse_arg(arg, quick=False, mt5=False, protocol="heads", retrieval=False)
  c = common.base_config()
  c.name = "demo"
  c.model.checkpoint = ""
  c.model.retrieval_layer = 2
  c.model.build.enabled = True
  c.data.synthetic.enabled = True
  c.data.synthetic.languages = LANGUAGES
  c.data.synthetic.sizes = dict(squad_train=600, udpos_train=200)  # UD-POS is not among the demo's targets
  c.mesh = dict(data=-1, fsdp=1, tensor=1)

  c.mlm.languages = ["qs", "qc"]
  c.mlm.phase = common.train_phase(epochs=1.0, batch_size=32, learning_rate=5e-4, max_seq_length=48)

  c.model.build.vocab_size = 3000
  c.model.build.pretrain = common.train_phase(
      epochs=2.0, batch_size=32, learning_rate=1e-3, max_seq_length=48, warmup_fraction=0.05
  )
  c.intermediate = common.train_phase(epochs=1.0, batch_size=16, learning_rate=5e-4, max_seq_length=128)
  c.intermediate.update(
      dict(
          tasks=["hellaswag", "squad_v1"],
          mlm_beside=False,
          sampler="proportional",
          sampler_cap=0,
          sampler_temperature=1.0,
          task_max_seq_length={"hellaswag": 64},
      )
  )

  c.targets.tasks = TARGETS
  c.targets.languages = {t: LANGUAGES for t in TARGETS}
  c.targets.defaults = common.train_phase(
      epochs=2.0,
      batch_size=32,
      learning_rate=5e-4,
      max_seq_length=64,
      eval_every=50,
      eval_subset=200,
      early_stopping_patience=3,
  )
  c.targets.per_task = {"xquad": dict(max_seq_length=128)}
  c.eval.batch_size = 32
  c.eval.split = "test"
  c.eval.retrieval_max_seq_length = 64
  c.baseline = True
  c.report = True
  c.log_every = 20
  c.save_every = 200

  if arg.quick:  # the tests' version: fewer examples and steps, same road
    c.data.synthetic.sizes = dict(
        mnli_train=400,
        nli_eval=40,
        squad_train=120,
        qa_eval=12,
        panx_train=300,
        udpos_train=40,
        tagging_eval=40,
        paws_train=40,
        paws_eval=20,
        copa_train=200,
        copa_eval=30,
        hellaswag_train=300,
        hellaswag_eval=40,
        tatoeba=40,
        bucc_gold=30,
        bucc_extra=30,
        mlm_train=300,
        mlm_eval=40,
    )
    c.model.build.vocab_size = 1500
    c.model.build.hidden_size = 32
    c.model.build.intermediate_size = 64
    c.model.build.pretrain.epochs = 1.0
    c.targets.defaults.epochs = 1.0
    c.targets.defaults.batch_size = 16
    c.targets.defaults.eval_every = 20
    c.intermediate.taskemb_examples = c.targets.defaults.taskemb_examples = 0  # TextEmb only: the tests' time
  if arg.mt5:  # a small mT5 instead (xstilts_jax/backbones.py: built, then pretrained by denoising)
    c.model.backbone = "mt5"
  if arg.protocol != "heads":  # text-to-text: classification as label words, QA as answer text
    c.protocol = arg.protocol
  if arg.retrieval:  # + XTREME-R's LAReQA: a dual encoder fine-tuned on squad_retrieval, mAP@20 over the pool
    c.targets.tasks = list(c.targets.tasks) + ["lareqa"]
    c.targets.languages = {**c.targets.languages.to_dict(), "lareqa": LANGUAGES}
    # questions and (answer sentence, paragraph) candidates fit 96 tokens; no dev-set early stopping
    c.targets.per_task = {**c.targets.per_task.to_dict(), "lareqa": dict(max_seq_length=96, eval_every=0, epochs=6.0)}
    # the towers' mean token state: this small model's `<s>` (XTREME-R's pooler input) barely depends
    # on the text, and the in-batch loss then collapses to log(batch size); the mean learns in a minute
    c.targets.dual_encoder_pooling = "mean"
  return c
