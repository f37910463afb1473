"""Paths of `xstilts run` the embedded demo does not take, on one tiny real-data run: masked LM
beside the intermediate task (`mlm_beside`), and XQuAD and MLQA sharing one SQuAD fine-tuning."""

import json
import os
from pathlib import Path
import subprocess
import sys

import numpy as np
import pytest

CONFIG = '''
"""Intermediate SQuAD v1.1 with masked LM on German beside it; XQuAD and MLQA as targets."""

from xstilts_jax.configs import xstilts


def get_config(arg=None):
  c = xstilts.get_config("intermediate=squad_v1,mlm=de,mlm_beside,target=xquad+mlqa,baseline")
  c.model.checkpoint = {checkpoint!r}
  c.data.data_dir = {data!r}
  c.model.retrieval_layer = 2
  c.intermediate.update(dict(max_steps=8, batch_size=8, learning_rate=1e-3, max_seq_length=128, sampler="uniform"))
  c.targets.defaults.update(dict(max_steps=4, eval_every=0, learning_rate=1e-3))
  for task in ("xquad", "mlqa"):  # the same settings: one fine-tuning serves both
    c.targets.per_task[task] = dict(epochs=1.0, batch_size=8, accum_steps=1, max_seq_length=128)
  c.targets.languages = dict(xquad=["en", "de"], mlqa=["en"])  # the slices hold MLQA's en-en file only
  c.log_every = 1
  return c
'''


def _env():
  """One CPU device (an installed libtpu would log to stderr otherwise)."""
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  env["JAX_PLATFORMS"] = "cpu"
  return env


def _german_lines(shared_data: Path) -> list[str]:
  """Sentences of the German XQuAD contexts: real text for the masked LM."""
  data = json.loads((shared_data / "xquad" / "xquad.de.json").read_text(encoding="utf-8"))
  lines = []
  for article in data["data"]:
    for paragraph in article["paragraphs"]:
      lines += [s.strip() + "." for s in paragraph["context"].split(". ") if len(s.split()) > 3]
  return lines


@pytest.fixture(scope="module")
def paths_run(shared_data, tmp_path_factory):
  """The run of CONFIG on the real slices, with a tiny random XLM-R (masked-LM head included)."""
  import torch
  import transformers as T

  from xstilts_jax.data.tokenizer import train_tokenizer

  root = tmp_path_factory.mktemp("paths")
  data = root / "data"
  data.mkdir()
  for name in ("squad_v1.1", "xquad", "mlqa"):
    (data / name).symlink_to(shared_data / name)
  german = _german_lines(shared_data)
  (data / "mlm" / "de").mkdir(parents=True)
  (data / "mlm" / "de" / "train.txt").write_text("\n".join(german[20:]) + "\n", encoding="utf-8")
  (data / "mlm" / "de" / "dev.txt").write_text("\n".join(german[:20]) + "\n", encoding="utf-8")

  texts = []
  for path in [shared_data / "squad_v1.1" / "train-v1.1.json", *sorted((shared_data / "xquad").glob("xquad.*.json"))]:
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
      for paragraph in article["paragraphs"]:
        texts += [paragraph["context"]] + [qa["question"] for qa in paragraph["qas"]]
  ckpt = root / "ckpt"
  tok = train_tokenizer(texts, 1500, ckpt)
  cfg = T.XLMRobertaConfig(
      vocab_size=len(tok),
      hidden_size=32,
      num_hidden_layers=2,
      num_attention_heads=4,
      intermediate_size=64,
      max_position_embeddings=130,
  )
  torch.manual_seed(0)
  T.XLMRobertaForMaskedLM(cfg).save_pretrained(ckpt)

  config = root / "paths_config.py"
  config.write_text(CONFIG.format(checkpoint=str(ckpt), data=str(data)))
  workdir = root / "w"
  out = subprocess.run(
      [sys.executable, "-m", "xstilts_jax.cli", "run", "--config", str(config), "--workdir", str(workdir)],
      env=_env(),
      capture_output=True,
      text=True,
      timeout=900,
  )
  assert out.returncode == 0, out.stderr[-4000:]
  return workdir


def _metrics(exp: Path) -> list[dict]:
  return [json.loads(line) for line in (exp / "metrics.jsonl").read_text().splitlines()]


def test_mlm_beside_trains_masked_lm_with_the_intermediate_task_and_records_it(paths_run):
  workdir = paths_run
  exp = workdir / "squad_v1"
  # no phase 0: the masked LM runs inside phase 1, which starts from the checkpoint itself
  assert not list(workdir.glob("phases/mlm-*")) and not list(workdir.glob("checkpoints/mlm-*"))
  rows = [r for r in _metrics(exp) if r["phase"] == "intermediate"]
  assert [r["step"] for r in rows] == list(range(1, 9))  # log_every=1, max_steps=8
  tasks = [r["task"] for r in rows]
  assert set(tasks) == {"squad_v1", "mlm:de"}, tasks  # both tasks took optimizer steps
  for r in rows:
    assert np.isfinite(r["loss"]) and r["loss"] > 0 and r["count"] > 0, r
  # a masked-LM loss starts near ln(vocabulary) for a random model; SQuAD's span loss near 2 ln(64)
  vocab = json.loads((workdir / "squad_v1" / "phases" / "intermediate" / "config.json").read_text())["vocab_size"]
  first_mlm = next(r for r in rows if r["task"] == "mlm:de")
  assert first_mlm["loss"] == pytest.approx(np.log(vocab), rel=0.15), (first_mlm, vocab)
  info = json.loads((exp / "phases" / "intermediate" / "xstilts.json").read_text())
  assert info["steps"] == 8 and info["tasks"] == ["squad_v1"]
  results = json.loads((exp / "results.json").read_text())
  assert results["intermediate"] == ["squad_v1"]
  assert results["mlm_beside"] is True and results["mlm_languages"] == ["de"]
  assert results["mlm"] == {"first": [], "beside": ["de"]}
  # the baseline has no phase 1, so no masked LM at all
  baseline = json.loads((workdir / "baseline" / "results.json").read_text())
  assert baseline["intermediate"] == [] and not (workdir / "baseline" / "phases" / "intermediate").exists()
  assert baseline["mlm_beside"] is False and baseline["mlm_languages"] == []
  assert baseline["mlm"] == {"first": [], "beside": []}
  assert not [r for r in _metrics(workdir / "baseline") if r["task"].startswith("mlm")]


def test_xquad_and_mlqa_share_one_squad_fine_tuning(paths_run):
  workdir = paths_run
  for exp in (workdir / "squad_v1", workdir / "baseline"):
    targets = sorted(p.name for p in (exp / "phases").glob("target-*"))
    assert targets == ["target-xquad+mlqa"], (exp, targets)
    info = json.loads((exp / "phases" / "target-xquad+mlqa" / "xstilts.json").read_text())
    assert info["train_task"] == "squad_v1" and info["targets"] == ["xquad", "mlqa"] and info["steps"] == 4
    rows = [r for r in _metrics(exp) if r["phase"].startswith("target")]
    assert [(r["phase"], r["step"], r["task"]) for r in rows] == [
        ("target-xquad+mlqa", step, "squad_v1") for step in range(1, 5)
    ]  # one fine-tuning, four steps, not two
    results = json.loads((exp / "results.json").read_text())
    assert set(results["tasks"]) == {"xquad", "mlqa"}
    assert set(results["tasks"]["xquad"]["languages"]) == {"en", "de"}
    assert set(results["tasks"]["mlqa"]["languages"]) == {"en"}
    for task in ("xquad", "mlqa"):
      scores = results["tasks"][task]["languages"]
      assert all({"f1", "exact_match"} <= set(s) for s in scores.values()), (task, scores)
      assert (exp / "eval" / f"{task}.json").is_file()
    assert results["tasks"]["mlqa"]["metric"] == "mlqa" and results["tasks"]["xquad"]["metric"] == "squad_v1"
    assert sorted(results["task_embeddings"]) == ["squad_v1"]  # every task trained on: SQuAD only
    assert (exp / "predictions" / "mlqa" / "test-en.json").is_file()
    assert (exp / "predictions" / "xquad" / "test-de.json").is_file()


def _grouping(**per_task) -> list[list[str]]:
  from xstilts_jax.configs import xstilts

  from xstilts_jax import pipeline

  config = xstilts.get_config("target=xquad+mlqa+tydiqa+xnli")
  for task, settings in per_task.items():
    config.targets.per_task[task] = {**dict(config.targets.per_task[task]), **settings}
  return pipeline.target_groups(config)


def test_targets_trained_on_the_same_data_with_the_same_settings_share_a_fine_tuning():
  # XQuAD and MLQA train on SQuAD v1.1 (the XTREME recipe); TyDiQA on its own English training set.
  assert _grouping() == [["xquad", "mlqa"], ["tydiqa"], ["xnli"]]
  # settings that differ make two fine-tunings, each with its own
  assert _grouping(mlqa=dict(learning_rate=3e-5)) == [["xquad"], ["mlqa"], ["tydiqa"], ["xnli"]]
  assert _grouping(xquad=dict(epochs=3.0)) == [["xquad"], ["mlqa"], ["tydiqa"], ["xnli"]]


def test_an_mlm_token_budget_keeps_a_seeded_sample_of_that_many_real_tokens():
  from xstilts_jax import pipeline
  from xstilts_jax.data.batches import TrainBatches
  from xstilts_jax.errors import ConfigError
  from xstilts_jax.train.loop import TrainTask

  rng = np.random.default_rng(0)
  lengths = rng.integers(3, 20, size=50)
  mask = (np.arange(24)[None, :] < lengths[:, None]).astype(np.int32)
  ids = np.where(mask == 1, np.arange(50)[:, None] + 10, 1).astype(np.int32)  # row r's tokens are r + 10
  task = TrainTask("mlm:qs", "mlm", "mlm", TrainBatches({"input_ids": ids, "attention_mask": mask}, 8, 0), 50)
  cut, tokens = pipeline.within_token_budget(task, 200, seed=3, where="mlm.tokens_per_language")
  rows = sorted({int(r) - 10 for r in cut.batches.features["input_ids"][:, 0]})
  kept = int(lengths[rows].sum())
  assert tokens == kept and 200 <= kept < 200 + lengths.max()  # reaches the budget, by less than one more line
  assert cut.num_examples == len(rows) < 50 and cut.batches.batch_size == 8
  again, _ = pipeline.within_token_budget(task, 200, seed=3, where="x")
  assert np.array_equal(again.batches.features["input_ids"], cut.batches.features["input_ids"])  # seeded
  other, _ = pipeline.within_token_budget(task, 200, seed=4, where="x")
  assert not np.array_equal(other.batches.features["input_ids"], cut.batches.features["input_ids"])
  with pytest.raises(ConfigError, match=r"^mlm.tokens_per_language: mlm:qs has \d+ tokens, fewer than the 100000"):
    pipeline.within_token_budget(task, 100_000, seed=3, where="mlm.tokens_per_language")
