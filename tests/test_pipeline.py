"""`xstilts run` end to end on the embedded default (quick variant), resume after SIGKILL,
the export, the scorer on the run's own prediction files, and one-line errors."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from resume_check import assert_same_results
import transformers as T

QUICK = ["run", "--config", "demo:quick", "--config.save_every=10", "--config.report=false"]


def _env():
  """One CPU device (an installed libtpu would log to stderr otherwise)."""
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  env["JAX_PLATFORMS"] = "cpu"
  return env


def xstilts(*args, **kw):
  env = _env()
  return subprocess.run(
      [sys.executable, "-m", "xstilts_jax.cli", *args],
      env=env,
      capture_output=True,
      text=True,
      timeout=kw.pop("timeout", 900),
      **kw,
  )


def popen(*args):
  env = _env()
  return subprocess.Popen(
      [sys.executable, "-m", "xstilts_jax.cli", *args],
      env=env,
      stdout=subprocess.PIPE,
      stderr=subprocess.PIPE,
      text=True,
  )


@pytest.fixture(scope="module")
def demo_run(demo_quick_run):
  """The session's local demo:quick run (tests/conftest.py: the arguments of QUICK)."""
  return demo_quick_run


def test_demo_runs_every_phase_and_prints_the_table(demo_run):
  workdir, stdout = demo_run
  for exp in ("demo", "baseline"):
    results = json.loads((workdir / exp / "results.json").read_text())
    assert set(results["tasks"]) == {"xnli", "xquad", "panx", "xcopa", "tatoeba", "bucc2018"}
    for task, rec in results["tasks"].items():
      expected = {"qn", "qv", "qs", "qc"} | (set() if task in ("tatoeba", "bucc2018") else {"en"})
      assert set(rec["languages"]) == expected, task
    assert results["intermediate"] == (["hellaswag", "squad_v1"] if exp == "demo" else [])
    assert results["languages"]["qs"]["distance_to_en"] > results["languages"]["qn"]["distance_to_en"]
    assert results["xtreme"]["overall"] is not None
    assert len(results["task_embeddings"]["mnli"]) == 32  # the quick model's hidden size
  # every phase left its Hugging Face checkpoint
  for phase in ("intermediate", "target-xnli", "target-xquad", "target-panx", "target-xcopa"):
    assert (workdir / "demo" / "phases" / phase / "DONE").exists(), phase
  assert not (workdir / "baseline" / "phases" / "intermediate").exists()
  assert (workdir / "pretrained" / "DONE").exists() and (workdir / "phases" / "mlm-qs+qc" / "DONE").exists()
  # the table compares the two runs
  assert "| xnli (accuracy) | en | qn | qv | qs | qc | avg |" in stdout and "| delta |" in stdout
  metrics = [json.loads(l) for l in (workdir / "demo" / "metrics.jsonl").read_text().splitlines()]
  assert {"step", "task", "loss", "learning_rate"} <= set(metrics[0])
  for line in (workdir / "demo" / "predictions" / "xnli" / "test-qs.tsv").read_text().splitlines():
    assert line in ("contradiction", "entailment", "neutral")


def test_prediction_files_score_like_the_run(demo_run):
  """The scorer reads the run's XTREME-layout prediction files and the gold files through its
  own path (file parsing, readers) and must give the numbers the run recorded."""
  workdir, _ = demo_run
  results = json.loads((workdir / "demo" / "results.json").read_text())
  data = workdir / "data"
  cases = [
      ("xnli", "qs", data / "xnli/XNLI-1.0/xnli.test.tsv", "accuracy"),
      ("xquad", "qc", data / "xquad/xquad.qc.json", "f1"),
      ("panx", "qv", data / "panx/xtreme_format/test-qv.tsv", "f1"),
  ]
  for task, lang, gold, key in cases:
    pred = workdir / "demo" / "predictions" / task / f"test-{lang}.{'json' if task == 'xquad' else 'tsv'}"
    out = xstilts("score", "--task", task, "--predictions", str(pred), "--gold", str(gold), "--language", lang)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)[key] == pytest.approx(results["tasks"][task]["languages"][lang][key], abs=1e-6)


def test_export_loads_in_transformers(demo_run, tmp_path):
  workdir, _ = demo_run
  out = xstilts("export", "--workdir", str(workdir), "--phase", "target:xnli", "--out", str(tmp_path / "hf"))
  assert out.returncode == 2, out.stderr
  assert (
      "several experiments (baseline, demo)" in out.stderr or "several experiments (demo, baseline)" in out.stderr
  ), out.stderr
  out = xstilts(
      "export",
      "--workdir",
      str(workdir),
      "--phase",
      "target:xnli",
      "--experiment",
      "demo",
      "--out",
      str(tmp_path / "hf"),
  )
  assert out.returncode == 0, out.stderr
  model, info = T.XLMRobertaForSequenceClassification.from_pretrained(tmp_path / "hf", output_loading_info=True)
  assert not info["missing_keys"] and not info["unexpected_keys"]
  assert model.config.id2label[0] == "contradiction"
  tok = T.AutoTokenizer.from_pretrained(tmp_path / "hf")
  assert tok("a b")["input_ids"][0] == 0
  out = xstilts("export", "--workdir", str(workdir), "--phase", "intermediate", "--out", str(tmp_path / "enc"))
  assert out.returncode == 0, out.stderr
  _, info = T.XLMRobertaModel.from_pretrained(tmp_path / "enc", output_loading_info=True)
  assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"], info


@pytest.mark.parametrize(
    "args,message",
    [
        (["run", "--config", "xstilts:intermediate=mnlii"], "unknown task 'mnlii'"),
        (["run", "--config", "demo", "--config.intermediate.lerning_rate=1"], "no key 'intermediate.lerning_rate'"),
        (["run", "--config", "nosuchconfig"], "no config named 'nosuchconfig'"),
        (
            ["run", "--config", "xstilts:intermediate=mnli", "--config.model.checkpoint=FacebookAI/not-here"],
            "cannot get 'FacebookAI/not-here' from the Hugging Face hub",
        ),
        (
            ["run", "--config", "xstilts:intermediate=mnli", "--config.model.checkpoint=/nonexistent/dir"],
            "not a checkpoint directory",
        ),
        (
            ["score", "--task", "xnli", "--predictions", "/nonexistent/p.tsv", "--gold", "/nonexistent/g.tsv"],
            "/nonexistent",
        ),
    ],
)
def test_bad_input_is_one_line_without_traceback(args, message, tmp_path):
  out = xstilts(*args, "--workdir", str(tmp_path)) if args[0] == "run" else xstilts(*args)
  assert out.returncode == 2, out.stderr
  lines = out.stderr.strip().splitlines()
  assert "Traceback" not in out.stderr and len(lines) == 1, out.stderr
  assert message in lines[0]


def test_missing_data_file_is_one_line(tmp_path):
  """A real-data config pointing at an empty data_dir: the first missing file is named."""
  (tmp_path / "ckpt").mkdir()
  T.XLMRobertaConfig(
      vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32
  ).save_pretrained(tmp_path / "ckpt")
  import torch

  from xstilts_jax.data.tokenizer import train_tokenizer

  torch.manual_seed(0)
  T.XLMRobertaModel(T.XLMRobertaConfig.from_pretrained(tmp_path / "ckpt")).save_pretrained(tmp_path / "ckpt")
  train_tokenizer(["a small text to learn a vocabulary from"] * 20, 40, tmp_path / "ckpt")
  (tmp_path / "empty").mkdir()
  out = xstilts(
      "run",
      "--config",
      "xstilts:intermediate=mnli,target=xnli",
      f"--config.model.checkpoint={tmp_path / 'ckpt'}",
      f"--config.data.data_dir={tmp_path / 'empty'}",
      "--workdir",
      str(tmp_path / "w"),
  )
  assert out.returncode == 2
  assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1, out.stderr
  assert "mnli" in out.stderr and str(tmp_path / "empty") in out.stderr


def test_resumed_workdir_with_another_config_is_refused(demo_run):
  workdir, _ = demo_run
  out = xstilts(*QUICK, "--workdir", str(workdir), "--config.intermediate.learning_rate=0.1")
  assert out.returncode == 2 and "another config" in out.stderr


def test_sweep_lists_the_grid():
  out = xstilts("sweep", "--config", "configs/xstilts.py", "--workdir-root", "gs://b/x", "--seeds", "2")
  lines = out.stdout.strip().splitlines()
  assert out.returncode == 0
  assert any("intermediate=hellaswag'" in l or "intermediate=hellaswag " in l for l in lines)
  assert sum("/baseline/seed" in l for l in lines) == 2
  assert len(lines) == len(set(lines))


def _run_until_a_phase_one_checkpoint(reference, workdir):
  """A run on `workdir`, started from the reference run's phase-1 inputs (data, tokenizer,
  pretrained model, phase 0) and its finished baseline experiment (which phase 1 does not touch:
  the resumed run checks its fingerprints and keeps it), once a phase-1 checkpoint is on disk (or
  it ended, or 10 minutes passed): (the process, the phase-1 checkpoint folder)."""
  for name in ("data", "tokenizer", "pretrained", "phases", "baseline", "config.json"):
    copy = shutil.copytree if (reference / name).is_dir() else shutil.copy
    copy(reference / name, workdir / name)
  proc = popen(*QUICK, "--workdir", str(workdir))
  ckpts = workdir / "demo" / "checkpoints" / "intermediate"
  deadline = time.time() + 600
  while time.time() < deadline and proc.poll() is None and not any(p.name.isdigit() for p in ckpts.glob("*")):
    time.sleep(0.1)
  return proc, ckpts


def test_killed_in_phase_one_then_resumed_gives_the_same_results(demo_run, tmp_path):
  reference, _ = demo_run
  proc, ckpts = _run_until_a_phase_one_checkpoint(reference, tmp_path)
  proc.send_signal(signal.SIGKILL)
  proc.communicate()
  assert not (tmp_path / "demo" / "phases" / "intermediate" / "DONE").exists(), "phase 1 finished before the kill"
  assert any(p.name.isdigit() for p in ckpts.glob("*")), "no phase-1 checkpoint was written before the kill"
  # the killed run's lock is left behind: refused, naming the dead holder, until taken over
  refused = xstilts(*QUICK, "--workdir", str(tmp_path))
  assert refused.returncode == 2 and f"pid {proc.pid}" in refused.stderr and "--take-over-lock" in refused.stderr
  done = xstilts(*QUICK, "--workdir", str(tmp_path), "--take-over-lock")
  assert done.returncode == 0, done.stderr[-4000:]
  assert_same_results(reference, tmp_path)


def test_sigterm_exits_75_then_of_two_runs_one_resumes_to_the_same_results(demo_run, tmp_path):
  """SIGTERM in phase 1 saves and exits 75; then two runs start together on the half-done
  workdir: one is refused at once naming the other, the other finishes with the undisturbed
  run's results."""
  reference, _ = demo_run
  proc, ckpts = _run_until_a_phase_one_checkpoint(reference, tmp_path)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=300)
  assert proc.returncode == 75, err[-3000:]
  assert "preempted at step" in err.strip().splitlines()[-1] and "Traceback" not in err
  assert not (tmp_path / "demo" / "phases" / "intermediate" / "DONE").exists(), "phase 1 finished before SIGTERM"
  assert not (tmp_path / "LOCK").exists()

  runs = [popen(*QUICK, "--workdir", str(tmp_path)) for _ in range(2)]
  start = time.time()
  while all(r.poll() is None for r in runs) and time.time() - start < 300:
    time.sleep(0.1)
  loser = next(r for r in runs if r.poll() is not None)
  winner = next(r for r in runs if r is not loser)
  _, err = loser.communicate()
  assert loser.returncode == 2 and len(err.strip().splitlines()) == 1, err[-3000:]
  assert f"pid {winner.pid}" in err and "in use by another run" in err
  _, err = winner.communicate(timeout=900)
  assert winner.returncode == 0, err[-3000:]
  assert_same_results(reference, tmp_path)


def test_a_workdir_made_under_another_config_refuses_even_without_its_config_json(demo_run, tmp_path):
  """The three config.json files deleted, another learning rate: the finished phase 1 says it was
  made under another config (and nothing is written); the original config gets its results back;
  --restart=eval redoes the evaluation to the same numbers."""
  reference, _ = demo_run
  workdir = tmp_path / "w"
  shutil.copytree(reference, workdir, ignore=shutil.ignore_patterns("cache"))
  for f in ("config.json", "demo/config.json", "baseline/config.json"):
    (workdir / f).unlink()
  before = {p: p.read_bytes() for p in sorted(workdir.rglob("*")) if p.is_file()}
  out = xstilts(*QUICK, "--workdir", str(workdir), "--config.intermediate.learning_rate=0.001")
  assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1, out.stderr[-3000:]
  assert str(workdir / "demo" / "phases" / "intermediate" / "DONE") in out.stderr
  assert "--restart=intermediate" in out.stderr and "Traceback" not in out.stderr
  assert {p: p.read_bytes() for p in sorted(workdir.rglob("*")) if p.is_file()} == before
  # a changed config.json is refused too, naming the stage to restart
  same = xstilts(*QUICK, "--workdir", str(workdir))
  assert same.returncode == 0, same.stderr[-3000:]
  assert json.loads((workdir / "config.json").read_text()) == json.loads((reference / "config.json").read_text())
  out = xstilts(*QUICK, "--workdir", str(workdir), "--config.targets.defaults.learning_rate=0.001")
  assert out.returncode == 2 and "--restart=target" in out.stderr, out.stderr[-3000:]
  # a deliberate restart of phase 3: eval files and results are remade, to the same numbers
  redo = xstilts(*QUICK, "--workdir", str(workdir), "--restart=eval")
  assert redo.returncode == 0, redo.stderr[-3000:]
  assert "--restart=eval: removed" in redo.stdout and "eval" in redo.stdout
  assert not (workdir / "RESTART.json").exists()
  assert (workdir / "demo" / "eval" / "xnli.json").stat().st_mtime > (
      reference / "demo" / "eval" / "xnli.json"
  ).stat().st_mtime
  assert_same_results(reference, workdir)


def test_results_are_those_of_the_exported_models(demo_run):
  """The XNLI and XCOPA accuracies in results.json equal an independent evaluation of the exported
  phase-2 checkpoints by transformers' PyTorch models, on the gold files parsed here."""
  import torch

  workdir, _ = demo_run
  results = json.loads((workdir / "demo" / "results.json").read_text())
  data = workdir / "data"

  phase = workdir / "demo" / "phases" / "target-xnli"
  model = T.XLMRobertaForSequenceClassification.from_pretrained(phase).eval()
  tok = T.AutoTokenizer.from_pretrained(phase)
  rows = [l.split("\t") for l in (data / "xnli" / "XNLI-1.0" / "xnli.test.tsv").read_text().splitlines()]
  header, rows = rows[0], rows[1:]
  col = {c: header.index(c) for c in ("language", "gold_label", "sentence1", "sentence2")}
  for lang, scores in results["tasks"]["xnli"]["languages"].items():
    mine = [r for r in rows if r[col["language"]] == lang]
    enc = tok(
        [r[col["sentence1"]] for r in mine],
        [r[col["sentence2"]] for r in mine],
        truncation="longest_first",
        max_length=64,
        padding=True,
        return_tensors="pt",
    )
    with torch.no_grad():
      predicted = model(**enc).logits.argmax(-1).tolist()
    gold = [model.config.label2id[r[col["gold_label"]]] for r in mine]
    assert scores["accuracy"] == pytest.approx(100.0 * np.mean(np.equal(predicted, gold)), abs=1e-6), lang

  phase = workdir / "demo" / "phases" / "target-xcopa"
  model = T.XLMRobertaForMultipleChoice.from_pretrained(phase).eval()
  tok = T.AutoTokenizer.from_pretrained(phase)
  question = {"cause": "What was the cause of this?", "effect": "What happened as a result?"}
  accuracies = []
  for lang, scores in results["tasks"]["xcopa"]["languages"].items():
    rows = [json.loads(l) for l in (data / "xcopa" / "data" / lang / f"test.{lang}.jsonl").read_text().splitlines()]
    contexts = [f"{r['premise']} {question[r['question']]}" for r in rows for _ in range(2)]
    choices = [r[k] for r in rows for k in ("choice1", "choice2")]
    enc = tok(contexts, choices, truncation="longest_first", max_length=64, padding=True, return_tensors="pt")
    with torch.no_grad():
      logits = model(**{k: v.view(len(rows), 2, -1) for k, v in enc.items()}).logits
    accuracy = 100.0 * np.mean(np.equal(logits.argmax(-1).tolist(), [r["label"] for r in rows]))
    assert scores["accuracy"] == pytest.approx(accuracy, abs=1e-6), lang
    accuracies.append(accuracy)
  assert len(set(accuracies)) > 1  # not a constant predictor: the numbers tell models apart


def test_tasks_lists_every_task_with_its_benchmark_languages():
  from xstilts_jax.tasks.registry import BENCHMARKS, TASKS

  for benchmark in ("xtreme", "xtreme-r"):
    out = xstilts("tasks", "--benchmark", benchmark)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    for name in TASKS:
      (i,) = [k for k, line in enumerate(lines) if line.split()[:1] == [name]]
      expected = BENCHMARKS[benchmark].get(name, TASKS[name].languages)
      assert lines[i + 1].split(":", 1)[1].split() == list(expected), (benchmark, name)
      assert (f"{benchmark} target" in lines[i]) == (name in BENCHMARKS[benchmark]), (benchmark, name)
  # XTREME-R's UD-POS gains languages over XTREME's (the registry is checked against languages.csv elsewhere).
  assert set(BENCHMARKS["xtreme"]["udpos"]) < set(BENCHMARKS["xtreme-r"]["udpos"])
  # Written out from the XTREME paper (Hu et al. 2020, table 1 and appendix) and XTREME-R (Ruder et
  # al. 2021): the targets each benchmark marks and their languages, as `tasks` prints them.
  xtreme = _listed(xstilts("tasks", "--benchmark", "xtreme").stdout)
  assert sorted(t for t, (target, _) in xtreme.items() if target) == sorted(
      "xnli pawsx udpos panx xquad mlqa tydiqa bucc2018 tatoeba".split()
  )
  assert xtreme["xnli"][1] == "ar bg de el en es fr hi ru sw th tr ur vi zh".split()
  assert xtreme["pawsx"][1] == "de en es fr ja ko zh".split()
  assert xtreme["xquad"][1] == "ar de el en es hi ru th tr vi zh".split()
  assert xtreme["mlqa"][1] == "ar de en es hi vi zh".split()
  assert xtreme["tydiqa"][1] == "ar bn en fi id ko ru sw te".split()
  assert xtreme["bucc2018"][1] == "de fr ru zh".split()
  assert len(xtreme["panx"][1]) == 40 and len(xtreme["udpos"][1]) == 33 and len(xtreme["tatoeba"][1]) == 36
  xtreme_r = _listed(xstilts("tasks", "--benchmark", "xtreme-r").stdout)
  assert sorted(t for t, (target, _) in xtreme_r.items() if target) == sorted(
      "xnli xcopa udpos panx xquad mlqa tydiqa tatoeba mewslix lareqa".split()
  )
  assert xtreme_r["xcopa"][1] == "et ht id it qu sw ta th tr vi zh".split()
  assert len(xtreme_r["panx"][1]) == 48 and len(xtreme_r["udpos"][1]) == 38


def _listed(stdout: str) -> dict[str, tuple[bool, list[str]]]:
  """`xstilts tasks` output -> {task: (marked as a target, its languages)}; groups left out."""
  lines, out = stdout.splitlines(), {}
  for line, following in zip(lines, lines[1:] + [""]):
    if line and not line[0].isspace() and "languages:" in following:
      out[line.split()[0]] = (" target " in line, following.split(":", 1)[1].split())
  return out
  bad = xstilts("tasks", "--benchmark", "xtreme-s")
  assert bad.returncode == 2 and "unknown benchmark 'xtreme-s'" in bad.stderr


def test_report_on_the_demo_run(demo_run, tmp_path):
  """The report reads a real run (not hand-made results.json) and answers every question."""
  workdir, _ = demo_run
  out = xstilts("report", str(workdir / "demo"), "--baseline", str(workdir / "baseline"), "--out", str(tmp_path))
  assert out.returncode == 0, out.stderr[-3000:]
  answers = json.loads((tmp_path / "answers.json").read_text())
  assert sorted(answers) == ["q1", "q2", "q3", "q4", "q5"]
  for answer in answers.values():
    assert answer["decision"] and answer["reason"]
    # one run per arm: the report may estimate but never claims a direction
    assert answer["decision"] in ("no_clear_effect", "cannot_answer"), answer
  report = (tmp_path / "report.md").read_text()
  assert "hellaswag+squad_v1" in report and list(tmp_path.glob("*.png"))


def _bucc_side(path):
  """`id<TAB>sentence` lines of one side of a BUCC split."""
  return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


def _mean_pooled(tok, model, texts, layer, length):
  """transformers' hidden_states[layer], mean-pooled over real tokens, in float64."""
  import torch

  enc = tok(texts, truncation=True, max_length=length, padding=True, return_tensors="pt")
  with torch.no_grad():
    hidden = model(**enc, output_hidden_states=True).hidden_states[layer].numpy().astype(np.float64)
  mask = enc["attention_mask"].numpy()[..., None]
  return (hidden * mask).sum(1) / mask.sum(1)


def _mined(x, y, k=4):
  """XTREME's BUCC mining written out: cosine k-NN both ways, ratio margin, forward and
  backward best candidates pooled and taken greedily by score -> {(src row, trg row): score}."""
  x = x / np.linalg.norm(x, axis=1, keepdims=True)
  y = y / np.linalg.norm(y, axis=1, keepdims=True)
  sims = x @ y.T
  fwd = np.argsort(-sims, axis=1, kind="stable")[:, :k]
  bwd = np.argsort(-sims.T, axis=1, kind="stable")[:, :k]
  x_mean = np.take_along_axis(sims, fwd, 1).mean(1)
  y_mean = np.take_along_axis(sims.T, bwd, 1).mean(1)
  margin = sims / ((x_mean[:, None] + y_mean[None, :]) / 2)
  pool = [(margin[i, j], i, j) for i in range(len(x)) for j in [max(fwd[i], key=lambda j: margin[i, j])]]
  pool += [(margin[i, j], i, j) for j in range(len(y)) for i in [max(bwd[j], key=lambda i: margin[i, j])]]
  out, seen_x, seen_y = {}, set(), set()
  for score, i, j in sorted(pool, key=lambda c: -c[0]):
    if i not in seen_x and j not in seen_y:
      seen_x.add(i)
      seen_y.add(j)
      if score > 0:
        out[(i, j)] = score
  return out


def _f1_threshold(candidates, gold):
  """XTREME's bucc_optimize: the midpoint below the prefix of best F1 by descending score."""
  items = sorted(candidates.items(), key=lambda c: -c[1])
  best, threshold, correct = 0.0, 0.0, 0
  for n, (pair, score) in enumerate(items, 1):
    correct += pair in gold
    if correct:
      f1 = 2 * correct / (n + len(gold))
      if f1 > best:
        best, threshold = f1, (score + items[n][1]) / 2 if n < len(items) else score
  return threshold


def test_bucc_threshold_is_chosen_on_dev_and_reused_on_test(demo_run):
  """For each experiment and language, the threshold and scores of BUCC test in results.json are
  those of an independent mining (transformers' encoder of the run, XTREME's algorithm written
  out here) with the threshold that is best on dev, not on test; the prediction file holds
  exactly the test pairs scoring at least that threshold."""
  workdir, _ = demo_run
  config = json.loads((workdir / "config.json").read_text())
  layer, length = config["model"]["retrieval_layer"], config["eval"]["retrieval_max_seq_length"]
  encoders = {"demo": workdir / "demo" / "phases" / "intermediate", "baseline": workdir / "phases" / "mlm-qs+qc"}
  retuned_would_differ = 0
  for exp, encoder in encoders.items():
    tok, model = T.AutoTokenizer.from_pretrained(encoder), T.XLMRobertaModel.from_pretrained(encoder).eval()
    recorded = json.loads((workdir / exp / "results.json").read_text())["tasks"]["bucc2018"]["languages"]
    assert set(recorded) == {"qn", "qv", "qs", "qc"}
    for lang, scores in recorded.items():
      mined = {}
      for split in ("sample", "training"):  # XTREME's dev and test
        stem = workdir / "data" / "bucc2018" / f"{lang}-en" / f"{lang}-en.{split}"
        src, trg = _bucc_side(stem.with_name(f"{stem.name}.{lang}")), _bucc_side(stem.with_name(f"{stem.name}.en"))
        for side in (src, trg):  # no duplicate sentences, so no merging is needed here
          assert len({text for _, text in side}) == len(side)
        row_x, row_y = {sid: i for i, (sid, _) in enumerate(src)}, {tid: i for i, (tid, _) in enumerate(trg)}
        gold = {(row_x[s], row_y[t]) for s, t in _bucc_side(stem.with_name(f"{stem.name}.gold"))}
        x = _mean_pooled(tok, model, [text for _, text in src], layer, length)
        y = _mean_pooled(tok, model, [text for _, text in trg], layer, length)
        mined[split] = (_mined(x, y), gold, src, trg)
      dev_threshold = _f1_threshold(*mined["sample"][:2])
      candidates, gold, src, trg = mined["training"]
      picked = {pair for pair, score in candidates.items() if score >= dev_threshold}
      correct = len(picked & gold)
      f1 = 100.0 * 2 * correct / (len(picked) + len(gold))
      assert scores["threshold"] == pytest.approx(dev_threshold, rel=1e-5, abs=1e-9), (exp, lang)
      assert scores["f1"] == pytest.approx(f1, abs=1e-9), (exp, lang)
      assert scores["num_candidates"] == len(candidates), (exp, lang)
      lines = (workdir / exp / "predictions" / "bucc2018" / f"test-{lang}.tsv").read_text().splitlines()
      assert sorted(lines) == sorted(f"{src[i][0]}\t{trg[j][0]}" for i, j in picked), (exp, lang)
      # the test could tell: a threshold re-tuned on test would have scored otherwise
      test_threshold = _f1_threshold(candidates, gold)
      retuned = {pair for pair, score in candidates.items() if score >= test_threshold}
      retuned_would_differ += 2 * len(retuned & gold) / (len(retuned) + len(gold)) * 100.0 != pytest.approx(f1)
  assert retuned_would_differ >= 2, retuned_would_differ
