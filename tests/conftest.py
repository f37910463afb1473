"""Shared test setup. 8 fake CPU devices must be asked for before jax is imported."""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import atexit  # noqa: E402
from pathlib import Path  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402

import jax  # noqa: E402,F401  (reads its settings from the environment now, before the cache's are set)

# The `xstilts run` subprocesses the tests start (demo runs, resumed runs, two-process runs) share
# one persistent compilation cache for the session: the same programs are compiled once, not once
# per process (a warm demo:quick run takes half the time; its results are the same). This process
# imported jax above, so it compiles without it (the TPU plans of tests/test_plan.py included).
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
  _cache = tempfile.mkdtemp(prefix="xstilts-test-jax-cache-")
  atexit.register(shutil.rmtree, _cache, ignore_errors=True)
  os.environ.update(
      JAX_COMPILATION_CACHE_DIR=_cache,
      JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS="0",
      JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES="-1",
  )

import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
# Real slices of the datasets in their original formats (sources and licences: data/README.md).
TEST_DATA = REPO / "tests" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
  """The real data slices; a missing folder fails the tests that use it, never skips them."""
  if not (TEST_DATA / "SHA256SUMS").is_file():
    pytest.fail(f"real data slices not found at {TEST_DATA} (they are part of the repository)")
  return TEST_DATA


def _tokenizer_training_text(data: Path) -> list[str]:
  """Contexts, questions and sentences of the real QA, UD and PAN-X slices."""
  import json

  texts = []
  for path in sorted([*data.glob("xquad/*.json"), *data.glob("squad_v*/*.json"), *data.glob("mlqa/MLQA_V1/*/*.json")]):
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
      for paragraph in article["paragraphs"]:
        texts.append(paragraph["context"])
        texts.extend(qa["question"] for qa in paragraph["qas"])
  for path in sorted(data.glob("udpos/*/*.conllu")):
    lines = path.read_text(encoding="utf-8").splitlines()
    texts.extend(line[len("# text =") :].strip() for line in lines if line.startswith("# text ="))
  for path in sorted(data.glob("panx/xtreme_format/*.tsv")):
    words = [line.split("\t")[0] for line in path.read_text(encoding="utf-8").splitlines() if line]
    texts.append(" ".join(words))
  return texts


@pytest.fixture(scope="session")
def small_tokenizer(shared_data, tmp_path_factory):
  """An XLM-R-compatible tokenizer (4000 pieces) trained offline on the real data slices."""
  from xstilts_jax.data.tokenizer import train_tokenizer

  return train_tokenizer(_tokenizer_training_text(shared_data), 4000, tmp_path_factory.mktemp("small_tokenizer"))


# `xstilts run` on the quick demo, as tests/test_pipeline.py and tests/gcs/gcs_pipeline.py run it.
DEMO_QUICK = ["run", "--config", "demo:quick", "--config.save_every=10", "--config.report=false"]


@pytest.fixture(scope="session")
def demo_quick_run(tmp_path_factory):
  """One finished local demo:quick run for the session: (workdir, stdout). The tests that use it
  only read it (the gs:// run of tests/test_gcs.py is compared with it), so it is made once."""
  import subprocess
  import sys

  workdir = tmp_path_factory.mktemp("demo")
  env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
  env["JAX_PLATFORMS"] = "cpu"
  done = subprocess.run(
      [sys.executable, "-m", "xstilts_jax.cli", *DEMO_QUICK, "--workdir", str(workdir)],
      env=env,
      capture_output=True,
      text=True,
      timeout=900,
  )
  assert done.returncode == 0, done.stderr[-4000:]
  return workdir, done.stdout
