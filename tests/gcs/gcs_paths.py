"""The path layer, the atomic writer and the metrics writer on gs:// (the emulator)."""

from __future__ import annotations

import json

from etils import epath
import pytest

from xstilts_jax import atomic, paths
from xstilts_jax.errors import DataError
from xstilts_jax.train import logs


def _names(url: str) -> list[str]:
  """Every object under `url`, as names relative to it, listed by gcsfs (not by epath)."""
  import gcsfs

  fs = gcsfs.GCSFileSystem()
  fs.invalidate_cache()
  root = url[len("gs://") :]
  return sorted(p[len(root) + 1 :] for p in fs.find(root))


def test_as_path_gives_epath_for_gs_and_pathlib_locally(tmp_path):
  assert isinstance(paths.as_path("gs://b/x"), epath.Path) and paths.is_remote("gs://b/x")
  assert str(paths.as_path("gs://b/x") / "y") == "gs://b/x/y"
  assert paths.as_path(tmp_path) == tmp_path and not paths.is_remote(tmp_path)
  with pytest.raises(Exception, match="only local paths and gs:// URLs"):
    paths.as_path("s3://b/x")


def test_epath_read_write_glob_exists_rmtree(gs):
  root = paths.as_path(gs)
  (root / "a" / "one.txt").write_text("1")
  (root / "a" / "two.json").write_bytes(b"{}")
  (root / "b" / "three.txt").write_text("3")
  assert (root / "a" / "one.txt").read_text() == "1" and (root / "a" / "one.txt").exists()
  assert (root / "a").is_dir() and not (root / "a").is_file() and not (root / "c").exists()
  assert sorted(p.name for p in root.glob("*/*.txt")) == ["one.txt", "three.txt"]
  assert sorted(p.name for p in root.iterdir()) == ["a", "b"]
  assert paths.size(root / "a" / "one.txt") == 1
  paths.rmtree(root / "a")
  assert _names(gs) == ["b/three.txt"]
  paths.rmtree(root / "a")  # gone already: no error
  with pytest.raises(FileNotFoundError):
    paths.rmtree(root / "a", missing_ok=False)


def test_copy_tree_uploads_new_and_grown_files_only(gs, tmp_path):
  (tmp_path / "d").mkdir()
  (tmp_path / "d" / "ev").write_bytes(b"ab")
  (tmp_path / "top").write_bytes(b"x")
  assert paths.copy_tree(tmp_path, gs) == ["d/ev", "top"]
  assert paths.copy_tree(tmp_path, gs) == []
  (tmp_path / "d" / "ev").write_bytes(b"abcd")
  assert paths.copy_tree(tmp_path, gs) == ["d/ev"]
  assert paths.as_path(gs + "/d/ev").read_bytes() == b"abcd" and _names(gs) == ["d/ev", "top"]


def test_epath_append_overwrites_on_gs(gs):
  """Why metrics.jsonl is not appended to on gs://: `open('a')` replaces the object."""
  p = paths.as_path(gs + "/f")
  p.write_text("first\n")
  with p.open("a") as f:
    f.write("second\n")
  assert p.read_text() == "second\n"


def test_atomic_writer_writes_the_final_name_only(gs):
  obj = {"score": 0.5, "name": "ü"}
  out = atomic.write_json(gs + "/run/results.json", obj)
  assert str(out) == gs + "/run/results.json"
  assert _names(gs) == ["run/results.json"]  # no temporary object left beside it
  assert json.loads(paths.as_path(gs + "/run/results.json").read_text()) == obj
  assert atomic.read_json(gs + "/run/results.json") == obj
  atomic.write_text(gs + "/run/results.json", "{}\n")  # replaced whole
  assert atomic.read_json(gs + "/run/results.json") == {}


def test_read_json_errors_name_the_object(gs):
  with pytest.raises(DataError, match=f"^{gs}/missing.json: missing$"):
    atomic.read_json(gs + "/missing.json")
  paths.as_path(gs + "/bad.json").write_text('{"a": 1,\n')
  with pytest.raises(DataError, match=f"^{gs}/bad.json:2: invalid JSON"):
    atomic.read_json(gs + "/bad.json")


def test_jsonlines_keeps_every_line_across_writers(gs):
  first = logs.JsonLines(gs + "/metrics.jsonl")
  for i in range(3):
    first.add({"step": i})
  second = logs.JsonLines(gs + "/metrics.jsonl")  # a resumed run: a new writer
  second.add({"step": 3})
  lines = paths.as_path(gs + "/metrics.jsonl").read_text().splitlines()
  assert [json.loads(x)["step"] for x in lines] == [0, 1, 2, 3]


def test_metric_logger_on_gs_keeps_lines_and_copies_tensorboard(gs):
  for start, end in ((0, 4), (2, 6)):  # a run killed after step 4, resumed from its step-2 save
    logger = logs.MetricLogger(gs, "mlm-en", total_steps=6, progress=False)
    logger.start(start)
    for step in range(start + 1, end + 1):
      logger.step(step, tokens=10)
      logger.log(step, "mlm", {"loss": 1.0 / step})
    if end == 4:
      # killed: no close(); the lines and events logged so far are on gs:// already
      assert len(paths.as_path(gs + "/metrics.jsonl").read_text().splitlines()) == 4
      assert [n for n in _names(gs) if n.startswith("tensorboard/mlm-en/events.")]
      continue
    logger.close()
  records = [json.loads(x) for x in paths.as_path(gs + "/metrics.jsonl").read_text().splitlines()]
  assert [r["step"] for r in records] == [1, 2, 3, 4, 3, 4, 5, 6]
  assert all(r["phase"] == "mlm-en" and r["loss"] == pytest.approx(1.0 / r["step"]) for r in records)
  events = [n for n in _names(gs) if n.startswith("tensorboard/mlm-en/")]
  assert len(events) == 2, events  # one event file per writer, both copied
  import tensorflow as tf

  steps = []
  for name in events:
    local = paths.as_path(gs + "/" + name).read_bytes()
    tmp = __import__("tempfile").NamedTemporaryFile(suffix=".tfevents", delete=False)
    tmp.write(local)
    tmp.close()
    for e in tf.compat.v1.train.summary_iterator(tmp.name):
      steps += [e.step for v in e.summary.value if v.tag == "mlm/loss"]
  assert sorted(steps) == [1, 2, 3, 3, 4, 4, 5, 6]


def test_listings_see_objects_another_process_wrote(gs):
  """No listing cache: another host's checkpoint or marker is seen at the next look."""
  import subprocess
  import sys

  root = paths.as_path(gs)
  (root / "a").write_text("1")
  assert [p.name for p in root.iterdir()] == ["a"] and not (root / "b").exists()
  code = f"from xstilts_jax import paths; paths.as_path('{gs}/b').write_text('2')"
  subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
  assert sorted(p.name for p in root.iterdir()) == ["a", "b"] and (root / "b").exists()


def test_local_copy_mirrors_and_refreshes_a_prefix(gs, tmp_path, monkeypatch):
  """What reads only local files gets a copy: every object, refreshed when one is rewritten
  (same size, other bytes), a file gone from the prefix removed; `shallow` leaves subfolders."""
  monkeypatch.setenv("XSTILTS_GS_MIRROR", str(tmp_path / "mirror"))
  root = paths.as_path(gs)
  (root / "one.txt").write_text("aaaa")
  (root / "two.txt").write_text("b")
  (root / "sub" / "three.txt").write_text("c")
  shallow = paths.local_copy(gs, shallow=True)
  assert shallow == tmp_path / "mirror" / gs[len("gs://") :]
  assert sorted(p.name for p in shallow.rglob("*")) == ["one.txt", "two.txt"]
  (root / "one.txt").write_text("zzzz")
  (root / "two.txt").unlink()
  local = paths.local_copy(gs)
  assert local == shallow
  files = {p.relative_to(local).as_posix(): p.read_text() for p in local.rglob("*") if p.is_file()}
  assert files == {"one.txt": "zzzz", "sub/three.txt": "c"}
  assert paths.local_copy(f"{gs}/sub/three.txt") == local / "sub" / "three.txt"
  assert paths.local_copy(tmp_path) == tmp_path  # a local path is itself
  with pytest.raises(DataError, match="no such file or directory"):
    paths.local_copy(f"{gs}/nothing")


def test_staged_dir_uploads_on_success_only_and_find_files(gs, tmp_path):
  with paths.staged_dir(f"{gs}/out") as local:
    (local / "a").mkdir()
    (local / "a" / "results.json").write_text("{}")
    (local / "config.json").write_text("{}")
  assert _names(f"{gs}/out") == ["a/results.json", "config.json"]
  with pytest.raises(RuntimeError):
    with paths.staged_dir(f"{gs}/failed") as local:
      (local / "x.txt").write_text("x")
      raise RuntimeError("cut short")
  assert not paths.as_path(f"{gs}/failed").exists()
  assert [str(p) for p in paths.find_files(gs, "results.json")] == [f"{gs}/out/a/results.json"]
  with paths.staged_dir(tmp_path / "here") as local:  # locally: the folder itself
    assert local == tmp_path / "here"
