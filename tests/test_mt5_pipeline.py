"""`xstilts run` with mT5 (issue 17): the demo's tiny mT5 under the heads protocol through every
phase, the text-to-text protocol on XNLI and on XQuAD checked against transformers' own greedy
`generate` on the exported checkpoint, and the one-line refusals before anything is written.

Each run is the demo's quick variant cut to a few targets and steps (about a minute and a half
each on 2 cores).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import transformers as T

SMALL = [
    "--config.baseline=false",
    "--config.report=false",
    "--config.save_every=1000",
    "--config.model.build.pretrain.max_steps=30",
    "--config.mlm.phase.max_steps=5",
    "--config.intermediate.max_steps=10",
]


def xstilts(*args):
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}  # one CPU device
  env["JAX_PLATFORMS"] = "cpu"
  return subprocess.run(
      [sys.executable, "-m", "xstilts_jax.cli", *args], env=env, capture_output=True, text=True, timeout=900
  )


def _xnli_rows(data):
  rows = [l.split("\t") for l in (data / "xnli" / "XNLI-1.0" / "xnli.test.tsv").read_text().splitlines()]
  header, rows = rows[0], rows[1:]
  col = {c: header.index(c) for c in ("language", "gold_label", "sentence1", "sentence2")}
  return col, rows


def test_demo_with_a_tiny_mt5_runs_every_phase(tmp_path):
  """Pretraining (denoising through the seq2seq head), phase 0, phase 1, phase 2 with the
  project's heads on the mT5 encoder, phase 3, results.json with backbone mt5; the exported
  checkpoints are transformers' classes, and the heads transformers has no class for come back
  from the file beside the encoder."""
  import torch

  from xstilts_jax.models import load_hf
  from xstilts_jax.models.mt5_hf import HEAD_FILE

  workdir = tmp_path / "w"
  done = xstilts(
      "run",
      "--config",
      "demo:quick,mt5",
      "--workdir",
      str(workdir),
      *SMALL,
      "--config.targets.tasks=xnli,panx,tatoeba",
      "--config.targets.defaults.max_steps=10",
  )
  assert done.returncode == 0, done.stderr[-4000:]
  assert "pretraining a small mT5 on every language (MLM-style denoising" in done.stdout
  for phase in ("phase 0", "phase 1", "phase 2", "phase 3"):
    assert f"== {phase}" in done.stdout
  results = json.loads((workdir / "demo" / "results.json").read_text())
  assert (results["backbone"], results["protocol"]) == ("mt5", "heads")
  assert set(results["tasks"]) == {"xnli", "panx", "tatoeba"}
  for task in ("xnli", "panx", "tatoeba"):
    assert (workdir / "demo" / "eval" / f"{task}.json").is_file()
  phases = workdir / "demo" / "phases"
  architecture = lambda d: json.loads((d / "config.json").read_text())["architectures"]
  assert architecture(workdir / "pretrained") == ["MT5ForConditionalGeneration"]
  assert architecture(next((workdir / "phases").glob("mlm-*"))) == ["MT5ForConditionalGeneration"]
  assert architecture(phases / "intermediate") == ["MT5EncoderModel"]
  assert architecture(phases / "target-panx") == ["MT5ForTokenClassification"]
  assert architecture(phases / "target-xnli") == ["MT5EncoderModel"]
  assert (phases / "target-xnli" / HEAD_FILE).is_file()
  _, info = T.MT5EncoderModel.from_pretrained(phases / "target-xnli", output_loading_info=True)
  assert not info["missing_keys"] and not info["unexpected_keys"]
  assert (
      load_hf(str(phases / "target-xnli"), head="classification", head_name="target").head_specs["target"].num_labels
      == 3
  )

  # PAN-X's accuracy-free check: the exported tagger in PyTorch tags like the project's model.
  tok = T.AutoTokenizer.from_pretrained(phases / "target-panx")
  enc = tok(["a few words here", "and more"], padding=True, return_tensors="pt")
  torch_model = T.MT5ForTokenClassification.from_pretrained(phases / "target-panx").eval()
  with torch.no_grad():
    expected = torch_model(**enc).logits.numpy()
  ours = load_hf(str(phases / "target-panx"), head="tagging")
  got = np.asarray(ours(enc["input_ids"].numpy(), enc["attention_mask"].numpy()))
  np.testing.assert_allclose(got, expected, atol=1e-4)


@pytest.fixture(scope="module")
def text_to_text_run(tmp_path_factory):
  """One protocol=text-to-text run for both tests below: phase 1 on MNLI (label words) and
  SQuAD (answer text) through the one seq2seq head, phase 2 and 3 for XNLI and XQuAD."""
  workdir = tmp_path_factory.mktemp("t2t") / "w"
  done = xstilts(
      "run",
      "--config",
      "demo:quick,mt5,protocol=text-to-text",
      "--workdir",
      str(workdir),
      *SMALL,
      "--config.mlm.languages=",
      "--config.intermediate.tasks=mnli,squad_v1",
      "--config.targets.tasks=xnli,xquad",
      "--config.model.build.pretrain.learning_rate=3e-3",
      "--config.targets.defaults.learning_rate=3e-3",
      "--config.targets.defaults.max_steps=60",
      "--config.targets.defaults.epochs=3.0",
  )
  assert done.returncode == 0, done.stderr[-4000:]
  return workdir


def test_text_to_text_on_xnli_scores_transformers_generate(text_to_text_run):
  """protocol=text-to-text: phase 1 and phase 2 through the seq2seq head; eval/xnli.json's
  accuracies equal those of transformers' greedy `generate` on the exported phase-2 checkpoint,
  over the gold file parsed here (a decoded text that is no label word counts as wrong)."""
  import torch

  workdir = text_to_text_run
  results = json.loads((workdir / "demo" / "results.json").read_text())
  assert (results["backbone"], results["protocol"], set(results["tasks"])) == ("mt5", "text-to-text", {"xnli", "xquad"})
  record = json.loads((workdir / "demo" / "eval" / "xnli.json").read_text())
  phases = workdir / "demo" / "phases"
  assert json.loads((phases / "intermediate" / "config.json").read_text())["architectures"] == [
      "MT5ForConditionalGeneration"
  ]

  phase = phases / "target-xnli"
  model = T.MT5ForConditionalGeneration.from_pretrained(phase).eval()
  tok = T.AutoTokenizer.from_pretrained(phase)
  labels = ("entailment", "neutral", "contradiction")
  width = max(len(ids) for ids in tok(list(labels))["input_ids"])
  col, rows = _xnli_rows(workdir / "data")
  decoded_labels = set()
  for lang, scores in record["languages"].items():
    mine = [r for r in rows if r[col["language"]] == lang]
    sources = [f"mnli premise: {r[col['sentence1']]} hypothesis: {r[col['sentence2']]}" for r in mine]
    enc = tok(sources, truncation=True, max_length=64, padding=True, return_tensors="pt")
    with torch.no_grad():
      out = model.generate(**enc, do_sample=False, num_beams=1, max_length=width + 1, min_length=0)
    texts = [t.strip() for t in tok.batch_decode(out, skip_special_tokens=True)]
    predicted = [t if t in labels else None for t in texts]
    decoded_labels |= {p for p in predicted if p}
    accuracy = 100.0 * np.mean([p == r[col["gold_label"]] for p, r in zip(predicted, mine)])
    assert scores["accuracy"] == pytest.approx(accuracy, abs=1e-6), lang
    assert scores["num_unknown"] == sum(p is None for p in predicted), lang
    lines = (workdir / "demo" / "predictions" / "xnli" / f"test-{lang}.tsv").read_text().splitlines()
    assert lines == [p or "<unknown>" for p in predicted], lang
  assert decoded_labels  # the run taught it label words: the comparison is not of empty decodes


def test_text_to_text_on_xquad_scores_transformers_generate_after_squad(text_to_text_run):
  """protocol=text-to-text with span QA: phase 1 (SQuAD as generated answer text) and phase 2
  through the seq2seq head; eval/xquad.json's F1/EM equal the official SQuAD v1.1 rules
  (qa_metrics.squad_v1) applied to transformers' greedy `generate` on the exported phase-2
  checkpoint, against every gold answer of the XQuAD file parsed here; the prediction files hold
  those texts and `xstilts score`'s reader scores them the same."""
  import torch

  from xstilts_jax import formats
  from xstilts_jax.data.features import TEXT_QA_ANSWER_LENGTH
  from xstilts_jax.evaluation.qa_metrics import squad_v1

  workdir = text_to_text_run
  record = json.loads((workdir / "demo" / "eval" / "xquad.json").read_text())
  phase = workdir / "demo" / "phases" / "target-xquad"
  model = T.MT5ForConditionalGeneration.from_pretrained(phase).eval()
  tok = T.AutoTokenizer.from_pretrained(phase)
  texts_seen = set()
  assert set(record["languages"]) == {"en", "qn", "qv", "qs", "qc"}
  for lang, scores in record["languages"].items():
    gold_path = workdir / "data" / "xquad" / f"xquad.{lang}.json"
    qas = [
        (qa["id"], f"question: {qa['question'].strip()} context: {p['context']}", [a["text"] for a in qa["answers"]])
        for article in json.loads(gold_path.read_text())["data"]
        for p in article["paragraphs"]
        for qa in p["qas"]
    ]
    enc = tok([q[1] for q in qas], truncation=True, max_length=128, padding=True, return_tensors="pt")
    with torch.no_grad():
      out = model.generate(**enc, do_sample=False, num_beams=1, max_length=TEXT_QA_ANSWER_LENGTH + 1, min_length=0)
    texts = {q[0]: t.strip() for q, t in zip(qas, tok.batch_decode(out, skip_special_tokens=True))}
    texts_seen |= set(texts.values())
    expected = squad_v1(texts, {q[0]: q[2] for q in qas})
    assert (scores["exact_match"], scores["f1"]) == pytest.approx((expected["exact_match"], expected["f1"])), lang
    assert scores["total"] == len(qas), lang
    pred = workdir / "demo" / "predictions" / "xquad" / f"test-{lang}.json"
    assert json.loads(pred.read_text()) == texts, lang
    scored = formats.score_files("xquad", pred, gold_path)
    assert (scored["exact_match"], scored["f1"]) == pytest.approx((expected["exact_match"], expected["f1"])), lang
  assert texts_seen - {""}  # the run taught it to write something: the comparison is not of empty decodes


@pytest.mark.parametrize(
    "config,overrides,message",
    [
        (
            "demo:quick,mt5,protocol=text-to-text",
            ["--config.intermediate.tasks=mnli"],
            "targets.tasks: panx (tagging) has no text-to-text format yet (text-to-text runs classification, "
            "span_qa tasks); drop it or use protocol=heads",
        ),
        (
            "demo:quick,protocol=text-to-text",
            [],
            "protocol 'text-to-text' runs on mt5, not model.backbone 'xlmr'",
        ),
    ],
)
def test_what_text_to_text_cannot_run_is_refused_in_one_line(tmp_path, config, overrides, message):
  done = xstilts("run", "--config", config, "--workdir", str(tmp_path / "w"), *overrides)
  assert done.returncode == 2
  assert done.stderr.strip() == f"xstilts: error: {message}"
  assert not (tmp_path / "w").exists()


def test_denoising_masks_the_input_and_targets_the_original_text(tmp_path):
  """mT5's pretraining batches (backbones.denoising) with a T5 tokenizer, which has no mask token:
  T5's first sentinel masks; the target is the unmasked input, -100 at padding; same step, same masks."""
  import sentencepiece as spm

  from xstilts_jax.backbones import denoising

  sentences = ["the cat sat on the mat", "a dog runs in the park", "it rains and the street is wet"]
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(sentences * 20),
      model_prefix=str(tmp_path / "sp"),
      vocab_size=40,
      pad_id=0,
      eos_id=1,
      unk_id=2,
      bos_id=-1,
      hard_vocab_limit=False,
      minloglevel=2,
  )
  sp = spm.SentencePieceProcessor(model_file=str(tmp_path / "sp.model"))
  tok = T.T5TokenizerFast(vocab=[(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())], extra_ids=1)
  assert tok.mask_token_id is None
  sentinel = tok.convert_tokens_to_ids("<extra_id_0>")
  rows = [sp.encode(s) + [1] for s in sentences * 8]
  width = max(map(len, rows)) + 2
  ids = np.array([r + [0] * (width - len(r)) for r in rows], np.int32)
  mask = (np.arange(width)[None] < np.array([len(r) for r in rows])[:, None]).astype(np.int32)
  prepare = denoising(tok, seed=3)
  out = prepare({"input_ids": ids, "attention_mask": mask}, 5)
  np.testing.assert_array_equal(out["labels"], np.where(mask == 1, ids, -100))
  changed = out["input_ids"] != ids
  assert changed.any() and not (changed & (mask == 0)).any() and not (changed & (ids == 1)).any()
  assert (out["input_ids"][changed] == sentinel).mean() > 0.5  # 80% of the picked tokens
  np.testing.assert_array_equal(prepare({"input_ids": ids, "attention_mask": mask}, 5)["input_ids"], out["input_ids"])
  assert (prepare({"input_ids": ids, "attention_mask": mask}, 6)["input_ids"] != out["input_ids"]).any()
