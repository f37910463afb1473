"""Faults a careful user meets: each one ends with exit 2 (75 for a preemption), ONE line on
stderr naming the file, key or step, no traceback, and no result file written or changed.
Also the workdir lock, the file modes, the checkpoint's own faults and the retrieval pooling
against transformers."""

import errno
import json
import os
from pathlib import Path
import socket
import subprocess
import sys

import numpy as np
import pytest

from xstilts_jax import atomic
from xstilts_jax import workdir as W
from xstilts_jax.errors import DataError, DiskFullError

REPO = Path(__file__).resolve().parents[1]


def _env():
  """The CLI's environment: one CPU device (an installed libtpu would log to stderr otherwise)."""
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  env["JAX_PLATFORMS"] = "cpu"
  return env


def xstilts(*args, cwd=None, timeout=900):
  env = _env()
  return subprocess.run(
      [sys.executable, "-m", "xstilts_jax.cli", *args],
      env=env,
      capture_output=True,
      text=True,
      timeout=timeout,
      cwd=cwd,
  )


def error_after_progress(out, *fragments, code=2):
  """A run that failed after it had started work: progress bars and library logs may come first,
  then exactly one error line, the last, holding every fragment; no traceback."""
  assert out.returncode == code, (out.returncode, out.stderr[-3000:])
  lines = out.stderr.strip().splitlines()
  assert "Traceback" not in out.stderr and sum("xstilts:" in l for l in lines) == 1, out.stderr[-3000:]
  assert lines[-1].startswith("xstilts: error: "), out.stderr[-3000:]
  for fragment in fragments:
    assert str(fragment) in lines[-1], (fragment, lines[-1])
  return lines[-1]


def one_line_error(out, *fragments, code=2):
  """The process failed with `code` and printed exactly one line holding every fragment."""
  assert out.returncode == code, (out.returncode, out.stderr[-3000:])
  lines = out.stderr.strip().splitlines()
  assert "Traceback" not in out.stderr and len(lines) == 1, out.stderr[-3000:]
  for fragment in fragments:
    assert str(fragment) in lines[0], (fragment, lines[0])
  return lines[0]


def snapshot(root: Path) -> dict:
  """Every file under root with its bytes (to prove a refused run changed nothing)."""
  return (
      {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
      if root.exists()
      else {}
  )


# ----------------------------------------------------------------------------- a tiny real-data setup


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
  """A tiny random XLM-R saved by transformers, with a tokenizer: a local model.checkpoint."""
  import torch
  import transformers as T

  from xstilts_jax.data.tokenizer import train_tokenizer

  ckpt = tmp_path_factory.mktemp("ckpt")
  cfg = T.XLMRobertaConfig(
      vocab_size=60,
      hidden_size=16,
      num_hidden_layers=1,
      num_attention_heads=2,
      intermediate_size=32,
      max_position_embeddings=514,
  )
  torch.manual_seed(0)
  T.XLMRobertaModel(cfg).save_pretrained(ckpt)
  train_tokenizer(["a small text to learn a vocabulary from, with some words"] * 20, 50, ckpt)
  return ckpt


MNLI_HEADER = [
    "index",
    "promptID",
    "pairID",
    "genre",
    "sentence1_binary_parse",
    "sentence2_binary_parse",
    "sentence1_parse",
    "sentence2_parse",
    "sentence1",
    "sentence2",
    "label1",
    "gold_label",
]


def _mnli_rows(n, with_label=True):
  header = MNLI_HEADER if with_label else MNLI_HEADER[:-2]
  rows = ["\t".join(header)]
  for i in range(n):
    fields = [str(i), "1", f"{i}e", "fiction", "x", "x", "x", "x", f"a man walks {i}", f"a man moves {i}"]
    rows.append("\t".join(fields + (["entailment", "entailment"] if with_label else [])))
  return "\n".join(rows) + "\n"


def test_mnli_train_without_gold_label_is_an_error_naming_the_file(tiny_checkpoint, tmp_path):
  data = tmp_path / "data"
  (data / "mnli" / "MNLI").mkdir(parents=True)
  train = data / "mnli" / "MNLI" / "train.tsv"
  train.write_text(_mnli_rows(12, with_label=False))
  out = xstilts(
      "run",
      "--config",
      "xstilts:intermediate=mnli,target=xnli",
      f"--config.model.checkpoint={tiny_checkpoint}",
      f"--config.data.data_dir={data}",
      "--config.intermediate.max_seq_length=32",
      "--workdir",
      str(tmp_path / "w"),
  )
  one_line_error(out, train, "no labels", "nothing to train on")
  assert not list((tmp_path / "w").rglob("results.json")) and not list((tmp_path / "w").rglob("DONE"))


def test_panx_train_with_spaces_instead_of_tabs_is_an_error_naming_the_file(tiny_checkpoint, tmp_path):
  data = tmp_path / "data"
  (data / "panx" / "xtreme_format").mkdir(parents=True)
  train = data / "panx" / "xtreme_format" / "train-en.tsv"
  train.write_text("John B-PER\nlives O\nin O\nParis B-LOC\n\nMary B-PER\nsings O\n")
  out = xstilts(
      "run",
      "--config",
      "xstilts:target=panx",
      f"--config.model.checkpoint={tiny_checkpoint}",
      f"--config.data.data_dir={data}",
      "--config.targets.defaults.max_seq_length=32",
      "--workdir",
      str(tmp_path / "w"),
  )
  one_line_error(out, train, "no labels")
  assert not list((tmp_path / "w").rglob("results.json")) and not list((tmp_path / "w").rglob("DONE"))


# ----------------------------------------------------------------------------- validation before any write


@pytest.mark.parametrize(
    "override,fragments",
    [
        ("--config.intermediate.max_seq_length=1000", ["intermediate.max_seq_length=1000", "128 positions"]),
        ("--config.targets.per_task.xquad.max_seq_length=200", ["targets.per_task.xquad.max_seq_length=200"]),
        ("--config.eval.retrieval_max_seq_length=129", ["eval.retrieval_max_seq_length=129"]),
        ("--config.intermediate.batch_size=0", ["intermediate.batch_size must be a positive integer"]),
        ("--config.targets.defaults.accum_steps=-1", ["targets.defaults.accum_steps must be"]),
        ("--config.intermediate.learning_rate=nan", ["intermediate.learning_rate must be a finite number"]),
        ("--config.mlm.phase.epochs=0", ["mlm.phase.epochs must be a positive number"]),
        ("--config.eval.batch_size=0", ["eval.batch_size must be positive"]),
        ("--config.mesh.data=3", ["mesh", "3"]),
        # Span QA (squad_v1, and xquad's training on it): 64 question tokens + 4 special tokens + 1 context token.
        ("--config.intermediate.max_seq_length=16", ["intermediate.max_seq_length=16", "squad_v1", "69 or more"]),
        ("--config.targets.per_task.xquad.max_seq_length=68", ["targets.per_task.xquad.max_seq_length=68", "69"]),
    ],
)
def test_bad_values_are_refused_before_anything_is_written(override, fragments, tmp_path):
  workdir = tmp_path / "w"
  out = xstilts("run", "--config", "demo:quick", override, "--workdir", str(workdir))
  one_line_error(out, *fragments)
  assert not workdir.exists(), sorted(workdir.rglob("*"))  # no config.json to poison the next run


def test_span_qa_length_check_is_the_feature_builders_own_limit(small_tokenizer):
  """69 = 64 question tokens (span_qa_features' max_query_length) + `<s> q </s></s> c </s>`'s 4 +
  one context token: the up-front check refuses exactly the lengths the feature builder cannot use."""
  from xstilts_jax import cli, pipeline
  from xstilts_jax.data.examples import Answer, SpanQAExample
  from xstilts_jax.data.features import span_qa_features
  from xstilts_jax.errors import ConfigError

  question = " ".join(["where is the river that runs past the old town"] * 12)  # well over 64 tokens
  assert len(small_tokenizer(question, add_special_tokens=False)["input_ids"]) > 64
  example = SpanQAExample("q", question, "The river runs past Paris.", (Answer("Paris", 20),))
  with pytest.raises(ConfigError, match="no room for the context"):
    span_qa_features([example], small_tokenizer, max_seq_length=68)
  assert len(span_qa_features([example], small_tokenizer, max_seq_length=69)["input_ids"][0]) == 69

  def check(*overrides):
    pipeline.check_lengths(cli.apply_overrides(cli.load_config("demo:quick"), list(overrides)), 128, "test")

  with pytest.raises(ConfigError, match=r"^intermediate\.task_max_seq_length\.squad_v1=68 .*69 or more"):
    check("intermediate.task_max_seq_length={'hellaswag': 64, 'squad_v1': 68}")
  with pytest.raises(ConfigError, match=r"^targets\.defaults\.max_seq_length=68 .*squad_v1"):
    check("targets.tasks=['xquad']", "targets.per_task={}", "targets.defaults.max_seq_length=68")
  check("intermediate.max_seq_length=69", "targets.per_task.xquad.max_seq_length=69")  # the shortest that fits
  check("intermediate.tasks=['hellaswag']", "intermediate.max_seq_length=16")  # multiple choice: no such limit


def test_missing_data_dir_is_refused_before_anything_is_written(tiny_checkpoint, tmp_path):
  out = xstilts(
      "run",
      "--config",
      "xstilts:intermediate=mnli,target=xnli",
      f"--config.model.checkpoint={tiny_checkpoint}",
      "--config.data.data_dir=/nonexistent/data",
      "--workdir",
      str(tmp_path / "w"),
  )
  one_line_error(out, "data.data_dir /nonexistent/data: no such folder", "mnli")
  assert not (tmp_path / "w").exists()


# ----------------------------------------------------------------------------- config files


@pytest.mark.parametrize(
    "source,fragments",
    [
        ("def get_config(arg=None):\n  raise RuntimeError('boom')\n", ["cfg.py:2", "RuntimeError: boom"]),
        ("def get_config(arg=None)\n  return 1\n", ["cfg.py:1", "syntax error"]),
        ("import no_such_module_here\n", ["cfg.py:1", "no_such_module_here"]),
        ("x = 1\n", ["cfg.py", "no get_config"]),
        ("def get_config(arg=None):\n  return {'name': 'x'}\n", ["cfg.py", "returned dict"]),
        ("x = 1 / 0\n", ["cfg.py:1", "ZeroDivisionError"]),
    ],
)
def test_broken_config_file_is_one_line_naming_file_and_line(source, fragments, tmp_path):
  path = tmp_path / "cfg.py"
  path.write_text(source)
  out = xstilts("run", "--config", str(path), "--workdir", str(tmp_path / "w"))
  one_line_error(out, *fragments)
  assert not (tmp_path / "w").exists()


# ----------------------------------------------------------------------------- corrupt files


def test_garbage_config_json_in_workdir_is_one_line(tmp_path):
  workdir = tmp_path / "w"
  workdir.mkdir()
  (workdir / "config.json").write_text("{not json")
  before = snapshot(workdir)
  out = xstilts("run", "--config", "demo:quick", "--workdir", str(workdir))
  one_line_error(out, workdir / "config.json", "invalid JSON")
  assert snapshot(workdir) == before  # the lock is gone again, nothing else written


def _fake_phase(tiny_checkpoint, workdir: Path) -> Path:
  """A finished phase-1 folder as the pipeline leaves it (a Hugging Face checkpoint + DONE)."""
  import shutil

  phase = workdir / "exp" / "phases" / "intermediate"
  shutil.copytree(tiny_checkpoint, phase)
  (phase / "xstilts.json").write_text("{}")
  (phase / "DONE").write_text("{}")
  return phase


def test_garbage_safetensors_is_one_line_naming_the_file(tiny_checkpoint, tmp_path):
  phase = _fake_phase(tiny_checkpoint, tmp_path / "w")
  (phase / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00garbage!")
  out = xstilts("export", "--workdir", str(tmp_path / "w"), "--phase", "intermediate", "--out", str(tmp_path / "o"))
  one_line_error(out, phase / "model.safetensors", "unreadable")
  assert not (tmp_path / "o").exists()


def test_garbage_hf_config_json_is_one_line_naming_the_file(tiny_checkpoint, tmp_path):
  phase = _fake_phase(tiny_checkpoint, tmp_path / "w")
  (phase / "config.json").write_text('{"model_type": "xlm-roberta",')
  out = xstilts("export", "--workdir", str(tmp_path / "w"), "--phase", "intermediate", "--out", str(tmp_path / "o"))
  one_line_error(out, phase / "config.json", "invalid JSON")


@pytest.mark.parametrize(
    "mutate,fragment",
    [
        (
            lambda d: d["data"][0]["paragraphs"][0]["qas"][0].__setitem__("answers", {"text": "x", "answer_start": 0}),
            "'answers' is dict",
        ),
        (lambda d: d["data"][0].__setitem__("paragraphs", 3), "'paragraphs' is int"),
        (lambda d: d["data"][0]["paragraphs"][0]["qas"][0].__setitem__("answers", ["x"]), "an answer is str"),
        (lambda d: d["data"][0]["paragraphs"][0].__setitem__("context", ["x"]), "'context' is list"),
    ],
)
def test_squad_json_with_wrong_types_is_one_line(mutate, fragment, tmp_path):
  gold = {
      "version": "1.1",
      "data": [
          {
              "title": "t",
              "paragraphs": [
                  {
                      "context": "Paris is in France.",
                      "qas": [
                          {
                              "id": "q1",
                              "question": "Where is Paris?",
                              "answers": [{"text": "France", "answer_start": 12}],
                          }
                      ],
                  }
              ],
          }
      ],
  }
  mutate(gold)
  (tmp_path / "gold.json").write_text(json.dumps(gold))
  (tmp_path / "pred.json").write_text(json.dumps({"q1": "France"}))
  out = xstilts(
      "score",
      "--task",
      "xquad",
      "--predictions",
      str(tmp_path / "pred.json"),
      "--gold",
      str(tmp_path / "gold.json"),
      "--language",
      "en",
  )
  one_line_error(out, tmp_path / "gold.json", fragment)


# ----------------------------------------------------------------------------- export


def test_export_refuses_a_non_empty_out_and_overwrite_replaces_it_whole(tiny_checkpoint, tmp_path):
  _fake_phase(tiny_checkpoint, tmp_path / "w")
  out_dir = tmp_path / "o"
  out_dir.mkdir()
  (out_dir / "special_tokens_map.json").write_text("old")
  (out_dir / "config.json").write_text("old")
  before = snapshot(out_dir)
  args = ["export", "--workdir", str(tmp_path / "w"), "--phase", "intermediate", "--out", str(out_dir)]
  one_line_error(xstilts(*args), out_dir, "not empty", "--overwrite")
  assert snapshot(out_dir) == before
  done = xstilts(*args, "--overwrite")
  assert done.returncode == 0, done.stderr
  fresh = xstilts("export", "--workdir", str(tmp_path / "w"), "--phase", "intermediate", "--out", str(tmp_path / "f"))
  assert fresh.returncode == 0, fresh.stderr
  assert sorted(p.name for p in out_dir.iterdir()) == sorted(p.name for p in (tmp_path / "f").iterdir())
  assert (out_dir / "model.safetensors").read_bytes() == (tmp_path / "f" / "model.safetensors").read_bytes()
  assert (out_dir / "config.json").read_text() != "old"
  import transformers as T

  _, info = T.XLMRobertaModel.from_pretrained(out_dir, output_loading_info=True)
  assert not info["missing_keys"] and not info["unexpected_keys"]
  # replaced whole: nothing of the old folder is left that the export did not write
  (out_dir / "stale.txt").write_text("old")
  assert xstilts(*args, "--overwrite").returncode == 0
  assert not (out_dir / "stale.txt").exists()


def test_export_to_a_file_or_unwritable_dir_is_one_line(tiny_checkpoint, tmp_path, monkeypatch, capsys):
  _fake_phase(tiny_checkpoint, tmp_path / "w")
  target = tmp_path / "a_file"
  target.write_text("x")
  out = xstilts("export", "--workdir", str(tmp_path / "w"), "--phase", "intermediate", "--out", str(target))
  one_line_error(out, target, "not a directory")
  assert target.read_text() == "x"
  # An unwritable parent (root ignores file modes, so the refusal is made by the OS call itself).
  import tempfile

  from xstilts_jax import cli

  def refuse(*a, **k):
    raise PermissionError(errno.EACCES, "Permission denied")

  monkeypatch.setattr(tempfile, "mkdtemp", refuse)
  rc = cli.main(
      ["export", "--workdir", str(tmp_path / "w"), "--phase", "intermediate", "--out", str(tmp_path / "ro" / "out")]
  )
  err = capsys.readouterr().err.strip().splitlines()
  assert rc == 2 and len(err) == 1 and "Permission denied" in err[0] and "ro" in err[0], err


# ----------------------------------------------------------------------------- the workdir lock


def _dead_pid() -> int:
  proc = subprocess.Popen([sys.executable, "-c", "pass"])
  proc.wait()
  return proc.pid


def test_lock_is_exclusive_names_its_holder_and_is_released(tmp_path):
  first = W.lock_workdir(tmp_path)
  record = json.loads((tmp_path / "LOCK").read_text())
  assert record["host"] == socket.gethostname() and record["pid"] == os.getpid()
  with pytest.raises(W.LockHeld) as e:
    W.lock_workdir(tmp_path)
  assert f"pid {os.getpid()}" in str(e.value) and record["started"] in str(e.value)
  with pytest.raises(W.LockHeld, match="live run"):  # a live holder is never taken over
    W.lock_workdir(tmp_path, take_over=True)
  first.release()
  assert not (tmp_path / "LOCK").exists()
  W.lock_workdir(tmp_path).release()


def _race_for_the_lock(path: str, start, results) -> None:
  start.wait()
  store = W.LocalLockStore(path)
  won = store.create(json.dumps({"pid": os.getpid()}))
  results.put((os.getpid(), won, None if won else store.read()))


def test_a_lock_file_never_appears_without_its_holder(tmp_path):
  """Eight processes create the lock at once, five times over: one wins each round, and every
  loser, reading right after its failed create, finds the winner's whole record (an O_EXCL create
  followed by a write showed losers an empty file in about half the rounds)."""
  import multiprocessing

  ctx = multiprocessing.get_context("fork")
  for round_ in range(5):
    where = tmp_path / str(round_)
    where.mkdir()
    start, results = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_race_for_the_lock, args=(str(where / "LOCK"), start, results)) for _ in range(8)]
    for p in procs:
      p.start()
    start.set()
    outcomes = [results.get(timeout=60) for _ in procs]
    for p in procs:
      p.join(timeout=60)
    winners = [pid for pid, won, _ in outcomes if won]
    assert len(winners) == 1
    assert all(json.loads(text) == {"pid": winners[0]} for _, won, text in outcomes if not won), outcomes
    assert [p.name for p in where.iterdir()] == ["LOCK"]  # no temporary file left beside it


def test_a_lock_on_a_file_system_without_hard_links_is_still_exclusive(tmp_path, monkeypatch):
  def no_links(*_):
    raise PermissionError(1, "Operation not permitted")

  monkeypatch.setattr(os, "link", no_links)
  store = W.LocalLockStore(tmp_path / "LOCK")
  assert store.create("first") and not store.create("second")
  assert store.read() == "first" and [p.name for p in tmp_path.iterdir()] == ["LOCK"]


def test_stale_lock_needs_the_flag_and_is_then_taken_over(tmp_path):
  pid = _dead_pid()
  (tmp_path / "LOCK").write_text(json.dumps({"host": socket.gethostname(), "pid": pid, "started": "then"}))
  with pytest.raises(W.LockHeld) as e:
    W.lock_workdir(tmp_path)
  assert "gone" in str(e.value) and W.TAKE_OVER_FLAG in str(e.value) and f"pid {pid}" in str(e.value)
  lock = W.lock_workdir(tmp_path, take_over=True)
  assert json.loads((tmp_path / "LOCK").read_text())["pid"] == os.getpid()
  lock.release()


def test_a_lock_of_another_host_is_taken_over_only_with_the_flag(tmp_path):
  (tmp_path / "LOCK").write_text(json.dumps({"host": "preempted-vm", "pid": 1, "started": "then"}))
  with pytest.raises(W.LockHeld, match="host preempted-vm, pid 1, started then"):
    W.lock_workdir(tmp_path)
  W.lock_workdir(tmp_path, take_over=True).release()


def test_release_leaves_a_lock_taken_over_by_another_run(tmp_path):
  lock = W.lock_workdir(tmp_path)
  (tmp_path / "LOCK").write_text(json.dumps({"host": "other", "pid": 1, "started": "now", "token": "x"}))
  lock.release()
  assert json.loads((tmp_path / "LOCK").read_text())["host"] == "other"


def test_a_second_run_on_a_locked_workdir_is_refused_at_once(tmp_path):
  lock = W.lock_workdir(tmp_path / "w")
  out = xstilts("run", "--config", "demo:quick", "--workdir", str(tmp_path / "w"), timeout=120)
  one_line_error(out, "in use by another run", f"pid {os.getpid()}", socket.gethostname())
  assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["LOCK"]
  lock.release()


# ----------------------------------------------------------------------------- files


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_files_respect_the_umask(umask, mode, tmp_path):
  old = os.umask(umask)
  try:
    path = atomic.write_json(tmp_path / "r.json", {"a": 1})
  finally:
    os.umask(old)
  assert path.stat().st_mode & 0o777 == mode


def test_full_disk_in_the_cache_writer_is_one_line_saying_what_and_how_much_is_left(tmp_path, monkeypatch):
  def full(fd, *a, **k):
    os.close(fd)
    raise OSError(errno.ENOSPC, "No space left on device")

  monkeypatch.setattr(atomic.os, "fdopen", full)
  with pytest.raises(DiskFullError) as e:
    atomic.write_bytes(tmp_path / "cache" / "x.npz", b"123", what="the tokenized-feature cache")
  text = str(e.value)
  assert "the tokenized-feature cache" in text and "free" in text and str(tmp_path / "cache") in text
  assert "\n" not in text
  assert not [p for p in (tmp_path / "cache").iterdir()]  # the temporary file is gone


def test_skipped_rows_are_counted_once_per_file(tmp_path):
  from xstilts_jax.data.readers import ReadReport, read_glue_mnli

  path = tmp_path / "train.tsv"
  text = _mnli_rows(3)
  lines = text.splitlines()
  lines[2] = lines[2].rsplit("\t", 1)[0] + "\t-"  # one pair without a gold label
  path.write_text("\n".join(lines) + "\n")
  report = ReadReport()
  for _ in range(3):
    assert len(read_glue_mnli(path, report=report)) == 2
  assert report.total_skipped == 1


def test_squad_reader_names_the_location_of_a_wrong_type(tmp_path):
  from xstilts_jax.data.readers import read_squad_json

  path = tmp_path / "s.json"
  path.write_text(json.dumps({"data": [{"paragraphs": [{"context": "c", "qas": 5}]}]}))
  with pytest.raises(DataError, match=r"data\[0\].paragraphs\[0\]: 'qas' is int"):
    read_squad_json(path)


def test_full_disk_in_orbax_is_one_line_and_unfinished_saves_are_removed_next_time(tmp_path):
  import jax.numpy as jnp

  from xstilts_jax.train.checkpoint import Checkpointer

  directory = tmp_path / "checkpoints" / "p"
  (directory / "3.orbax-checkpoint-tmp-1700000000").mkdir(parents=True)
  (directory / "3.orbax-checkpoint-tmp-1700000000" / "x").write_text("half")
  ckpt = Checkpointer(directory, save_every=1, keep_best=0, async_save=False)
  assert not (directory / "3.orbax-checkpoint-tmp-1700000000").exists()

  def full(*a, **k):
    raise ValueError("Save failed: RESOURCE_EXHAUSTED: Error writing to file: No space left on device")

  ckpt._manager.save = full
  with pytest.raises(DiskFullError) as e:
    ckpt.save(4, {"w": jnp.ones(3)}, {}, force=True)
  text = str(e.value)
  assert "checkpoint step 4" in text and str(directory) in text and "free" in text and "\n" not in text
  ckpt.close()


# ----------------------------------------------------------------------------- runs that must not finish


def test_a_non_finite_loss_stops_the_run_with_one_line_naming_phase_task_and_step(tmp_path):
  workdir = tmp_path / "w"
  out = xstilts(
      "run", "--config", "demo:quick", "--config.model.build.pretrain.learning_rate=1e30", "--workdir", str(workdir)
  )
  line = error_after_progress(out, "pretrain: ", " at step ", "(task mlm:")
  assert "is nan" in line or "is inf" in line, line
  assert not (workdir / "pretrained" / "DONE").exists() and not list(workdir.rglob("results.json"))
  assert not [p for p in (workdir / "checkpoints" / "pretrain").glob("*") if p.name.isdigit()]


def test_two_runs_started_together_on_an_empty_workdir_one_runs_one_is_refused(tmp_path):
  import signal
  import time

  env = _env()
  runs = [
      subprocess.Popen(
          [sys.executable, "-m", "xstilts_jax.cli", "run", "--config", "demo:quick", "--workdir", str(tmp_path / "w")],
          env=env,
          stdout=subprocess.PIPE,
          stderr=subprocess.PIPE,
          text=True,
      )
      for _ in range(2)
  ]
  try:
    start = time.time()
    while all(r.poll() is None for r in runs) and time.time() - start < 300:
      time.sleep(0.1)
    loser = next(r for r in runs if r.poll() is not None)
    winner = next(r for r in runs if r is not loser)
    _, err = loser.communicate()
    assert loser.returncode == 2 and len(err.strip().splitlines()) == 1, err[-3000:]
    assert f"pid {winner.pid}" in err and "in use by another run" in err and "Traceback" not in err
    time.sleep(2)
    assert winner.poll() is None  # the other one is still at work
    assert json.loads((tmp_path / "w" / "LOCK").read_text())["pid"] == winner.pid
  finally:
    for r in runs:
      if r.poll() is None:
        r.send_signal(signal.SIGKILL)
      r.communicate()


# ----------------------------------------------------------------------------- learning, checked from outside

WORDS = {"yes": "entailment", "no": "contradiction", "maybe": "neutral"}
NOUNS = ["cat", "dog", "bird", "car", "tree", "house", "boat", "lamp"]
ADJS = ["red", "big", "old", "new", "small", "green", "fast", "cold"]


def _nli_pairs(n, seed):
  rng = np.random.default_rng(seed)
  out = []
  for _ in range(n):
    noun, adj, word = rng.choice(NOUNS), rng.choice(ADJS), rng.choice(list(WORDS))
    out.append((f"the {noun} is {adj}", f"{word} {word} {word} , the {noun} is {adj}", WORDS[word]))
  return out


@pytest.fixture(scope="module")
def learnable_run(tmp_path_factory):
  """A tiny random XLM-R fine-tuned on an NLI task whose label is the first word of the
  hypothesis (yes / no / maybe), then evaluated on XNLI files built the same way."""
  import torch
  import transformers as T

  from xstilts_jax.data.tokenizer import train_tokenizer
  from xstilts_jax.tasks import get_task

  root = tmp_path_factory.mktemp("learnable")
  ckpt = root / "ckpt"
  texts = [f"{a} {b}" for a, b, _ in _nli_pairs(200, 0)]
  tok = train_tokenizer(texts, 60, ckpt)
  cfg = T.XLMRobertaConfig(
      vocab_size=len(tok),
      hidden_size=32,
      num_hidden_layers=2,
      num_attention_heads=4,
      intermediate_size=64,
      max_position_embeddings=66,
  )
  torch.manual_seed(0)
  T.XLMRobertaModel(cfg).save_pretrained(ckpt)
  data = root / "data"
  (data / "mnli" / "MNLI").mkdir(parents=True)
  (data / "xnli" / "XNLI-1.0").mkdir(parents=True)
  for name, n, seed in (("train.tsv", 400, 1), ("dev_matched.tsv", 40, 2)):
    rows = ["\t".join(MNLI_HEADER)] + [
        "\t".join([str(i), "1", "1", "g", "x", "x", "x", "x", a, b, lab, lab])
        for i, (a, b, lab) in enumerate(_nli_pairs(n, seed))
    ]
    (data / "mnli" / "MNLI" / name).write_text("\n".join(rows) + "\n")
  languages = get_task("xnli").languages
  rows = ["language\tgold_label\tsentence1\tsentence2"]
  for i, lang in enumerate(languages):
    rows += [f"{lang}\t{lab}\t{a}\t{b}" for a, b, lab in _nli_pairs(30, 100 + i)]
  (data / "xnli" / "XNLI-1.0" / "xnli.test.tsv").write_text("\n".join(rows) + "\n")
  workdir = root / "w"
  out = xstilts(
      "run",
      "--config",
      "xstilts:target=xnli",
      f"--config.model.checkpoint={ckpt}",
      f"--config.data.data_dir={data}",
      "--config.targets.per_task.xnli.max_seq_length=32",
      "--config.targets.per_task.xnli.epochs=20",
      "--config.targets.per_task.xnli.batch_size=16",
      "--config.targets.per_task.xnli.accum_steps=1",
      "--config.targets.defaults.learning_rate=0.003",
      "--config.targets.defaults.eval_every=0",
      "--config.model.retrieval_layer=2",
      "--workdir",
      str(workdir),
  )
  assert out.returncode == 0, out.stderr[-4000:]
  return workdir, data, languages


def test_a_tiny_model_learns_a_trivial_task_and_the_scores_are_those_of_its_checkpoint(learnable_run):
  import torch
  import transformers as T

  workdir, data, languages = learnable_run
  results = json.loads((workdir / "baseline" / "results.json").read_text())
  scores = results["tasks"]["xnli"]["languages"]
  assert set(scores) == set(languages)
  assert min(s["accuracy"] for s in scores.values()) >= 90.0, scores  # chance: 33.3
  # the same numbers from the exported checkpoint, evaluated by transformers' PyTorch model
  phase = workdir / "baseline" / "phases" / "target-xnli"
  model = T.XLMRobertaForSequenceClassification.from_pretrained(phase).eval()
  tok = T.AutoTokenizer.from_pretrained(phase)
  rows = [l.split("\t") for l in (data / "xnli" / "XNLI-1.0" / "xnli.test.tsv").read_text().splitlines()[1:]]
  for lang in languages:
    mine = [r for r in rows if r[0] == lang]
    enc = tok(
        [r[2] for r in mine],
        [r[3] for r in mine],
        truncation="longest_first",
        max_length=32,
        padding=True,
        return_tensors="pt",
    )
    with torch.no_grad():
      predicted = model(**enc).logits.argmax(-1).tolist()
    accuracy = 100.0 * np.mean([p == model.config.label2id[r[1]] for p, r in zip(predicted, mine)])
    assert scores[lang]["accuracy"] == pytest.approx(accuracy, abs=1e-6), lang


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_retrieval_embeddings_are_transformers_hidden_states_mean_pooled(tmp_path, layer):
  """Masked mean pooling of hidden_states[layer] (0 = the embeddings), computed here from
  transformers' PyTorch model, equals what the evaluation's retrieval step returns."""
  import jax
  import torch
  import transformers as T

  from xstilts_jax import load_hf
  from xstilts_jax import sharding as shd
  from xstilts_jax.evaluation.steps import Predictor

  cfg = T.XLMRobertaConfig(
      vocab_size=50,
      hidden_size=16,
      num_hidden_layers=2,
      num_attention_heads=2,
      intermediate_size=32,
      max_position_embeddings=40,
  )
  torch.manual_seed(1)
  T.XLMRobertaModel(cfg).eval().save_pretrained(tmp_path)
  reference = T.XLMRobertaModel.from_pretrained(tmp_path).eval()
  rng = np.random.default_rng(0)
  ids = rng.integers(4, 50, size=(5, 12)).astype(np.int32)
  ids[:, 0] = 0
  mask = np.ones_like(ids)
  for row, length in enumerate([12, 9, 5, 3, 7]):  # padded rows of different lengths
    ids[row, length - 1], ids[row, length:], mask[row, length:] = 2, 1, 0
  with torch.no_grad():
    hidden = (
        reference(torch.tensor(ids, dtype=torch.long), attention_mask=torch.tensor(mask), output_hidden_states=True)
        .hidden_states[layer]
        .numpy()
    )
  expected = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
  partitioner = shd.Partitioner.from_config({"data": 1, "fsdp": 1, "tensor": 1}, devices=jax.devices()[:1])
  predictor = Predictor(load_hf(str(tmp_path), head="encoder"), partitioner, 4)
  got = predictor({"input_ids": ids, "attention_mask": mask}, "retrieval", layer=layer)
  np.testing.assert_allclose(got, expected, atol=2e-5)
  assert np.abs(expected[0] - expected[3]).max() > 1e-3  # the rows differ: padding is not averaged in
