"""One run per workdir: a lock file created exclusively, holding who holds it.

The lock is `<workdir>/LOCK`, a JSON record {host, pid, started, token}. Taking it is one
create-if-absent (`O_CREAT | O_EXCL` here; on Cloud Storage the same operation is an upload with
`if_generation_match=0`), so of two runs started together exactly one gets it. `LockStore` is
that one operation plus read and delete: `LocalLockStore` for a path, `GcsLockStore` for a
`gs://` URL. A lock whose holder is gone (same host, no such process) is stale: it is taken over
only when asked (`--take-over-lock`), never silently; so is one held on another host (a preempted
VM), whose process cannot be checked from here. A live holder on this host is never taken over.
"""

from __future__ import annotations

import datetime
import errno
import json
import os
from pathlib import Path
import secrets
import socket
import time
from typing import Optional, Protocol

from xstilts_jax import paths
from xstilts_jax.errors import ConfigError, XstiltsError

LOCK_NAME = "LOCK"
TAKE_OVER_FLAG = "--take-over-lock"


class LockHeld(XstiltsError):
  """Another run holds the workdir's lock."""


class LockStore(Protocol):
  """Where a lock lives: create-if-absent, read, delete (a local file; a gs:// object)."""

  def create(self, text: str) -> bool:
    """Write `text` if nothing is there; False (and nothing written) if something is."""

  def read(self) -> Optional[str]:
    """The text there, or None."""

  def delete(self) -> None:
    """Remove it (no error if already gone)."""

  def name(self) -> str:
    """The lock's path or URL, for messages."""


class GcsLockStore:
  """A lock object on Cloud Storage (`gs://bucket/name`), created only if absent: an upload with
  `if_generation_match=0`, which GCS refuses (412) when the object exists. The upload is a
  multipart one (google-cloud-storage's for small data), which honours the precondition on the
  GCS emulator too (fake-gcs-server ignores it on simple uploads)."""

  def __init__(self, url: str):
    from google.cloud import storage

    bucket, _, name = url[len("gs://") :].partition("/")
    if not bucket or not name:
      raise ConfigError(f"{url}: not a gs://bucket/object URL")
    self.url = url
    self.blob = storage.Client().bucket(bucket).blob(name)

  def create(self, text: str) -> bool:
    from google.api_core import exceptions

    try:
      self.blob.upload_from_string(text, content_type="application/json", if_generation_match=0)
    except exceptions.PreconditionFailed:
      return False
    return True

  def read(self) -> Optional[str]:
    from google.api_core import exceptions

    try:
      return self.blob.download_as_text()
    except exceptions.NotFound:
      return None

  def delete(self) -> None:
    from google.api_core import exceptions

    try:
      self.blob.delete()
    except exceptions.NotFound:
      pass

  def name(self) -> str:
    return self.url


class LocalLockStore:
  """A lock file on a local (or mounted) file system."""

  def __init__(self, path: str | os.PathLike):
    self.path = Path(path)

  def create(self, text: str) -> bool:
    # The file appears with its text in it: written beside under a unique name, then hard-linked
    # to the lock's name (link fails if the name exists). An O_EXCL create followed by a write
    # would let a second run read an empty lock and name no holder.
    tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    try:
      with os.fdopen(fd, "w") as f:
        f.write(text)
      os.link(tmp, self.path)
    except FileExistsError:
      return False
    except OSError:  # no hard links here (gcsfuse, some network file systems): create, then write
      return self._create_then_write(text)
    finally:
      tmp.unlink(missing_ok=True)
    return True

  def _create_then_write(self, text: str) -> bool:
    try:
      fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    except FileExistsError:
      return False
    with os.fdopen(fd, "w") as f:
      f.write(text)
    return True

  def read(self) -> Optional[str]:
    try:
      return self.path.read_text()
    except FileNotFoundError:
      return None

  def delete(self) -> None:
    try:
      self.path.unlink()
    except FileNotFoundError:
      pass

  def name(self) -> str:
    return str(self.path)


def _pid_alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:  # someone else's process
    return True
  return True


def describe(holder: dict) -> str:
  return f"host {holder.get('host', '?')}, pid {holder.get('pid', '?')}, " f"started {holder.get('started', '?')}"


class WorkdirLock:
  """The lock of one workdir. `acquire` takes it or raises LockHeld; `release` gives it back."""

  def __init__(self, store: LockStore):
    self.store = store
    self.record = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "started": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "token": secrets.token_hex(8),
    }
    self.held = False

  def holder(self) -> Optional[dict]:
    text = self.store.read()
    if text is None:
      return None
    try:
      holder = json.loads(text)
      return holder if isinstance(holder, dict) else {}
    except json.JSONDecodeError:  # a half-written lock (its writer died while writing)
      return {}

  def is_stale(self, holder: dict) -> bool:
    """True when the holder was on this host and its process is gone."""
    pid = holder.get("pid")
    return holder.get("host") == self.record["host"] and isinstance(pid, int) and not _pid_alive(pid)

  def is_alive_here(self, holder: dict) -> bool:
    """True when the holder is a live process of this host."""
    pid = holder.get("pid")
    return holder.get("host") == self.record["host"] and isinstance(pid, int) and _pid_alive(pid)

  def acquire(self, take_over: bool = False) -> None:
    if self.store.create(json.dumps(self.record)):
      self.held = True
      return
    holder = self.holder()
    for _ in range(20):  # created but not yet written (a store without atomic create-with-text)
      if holder != {}:
        break
      time.sleep(0.05)
      holder = self.holder()
    if holder is None:  # released between our attempt and the read: one more try
      if self.store.create(json.dumps(self.record)):
        self.held = True
        return
      holder = self.holder() or {}
    where = self.store.name()
    if take_over and not self.is_alive_here(holder):
      # Gone from this host, or on another host (a preempted VM) whose process cannot be checked
      # from here: the flag is the user's word that it is gone.
      self.store.delete()
      if self.store.create(json.dumps(self.record)):
        self.held = True
        return
      holder = self.holder() or {}
    elif take_over:
      raise LockHeld(
          f"{where}: the workdir is in use by a live run ({describe(holder)}); "
          f"{TAKE_OVER_FLAG} takes over only a lock whose process is gone"
      )
    if self.is_stale(holder):
      raise LockHeld(
          f"{where}: the workdir is locked by a run that is gone ({describe(holder)}); "
          f"if no other run uses it, run again with {TAKE_OVER_FLAG}"
      )
    raise LockHeld(
        f"{where}: the workdir is in use by another run ({describe(holder)}); wait for it "
        f"to finish, or if that run is gone (another host's, say), run again with {TAKE_OVER_FLAG}"
    )

  def release(self) -> None:
    """Remove the lock if it is still ours (a take-over by another run is left alone)."""
    if self.held and (self.holder() or {}).get("token") == self.record["token"]:
      self.store.delete()
    self.held = False

  def __enter__(self) -> "WorkdirLock":
    return self

  def __exit__(self, *_) -> None:
    self.release()


def lock_workdir(workdir: str | os.PathLike, take_over: bool = False) -> WorkdirLock:
  """Take the lock of `workdir` (created if needed); use as `with lock_workdir(d): ...`."""
  if paths.is_remote(workdir):
    return _lock_remote(str(paths.as_path(workdir)), take_over)
  paths.as_path(workdir)  # another URL scheme: a ConfigError
  root = Path(workdir)
  try:
    root.mkdir(parents=True, exist_ok=True)
  except OSError as e:
    raise XstiltsError(f"{root}: cannot create the workdir ({e.strerror or e})") from None
  lock = WorkdirLock(LocalLockStore(root / LOCK_NAME))
  try:
    lock.acquire(take_over)
  except OSError as e:
    if e.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
      raise XstiltsError(f"{root / LOCK_NAME}: cannot write the lock ({e.strerror})") from None
    raise
  return lock


def _lock_remote(url: str, take_over: bool) -> WorkdirLock:
  """The lock object of a gs:// workdir (nothing to create first: prefixes need no mkdir)."""
  from google.api_core import exceptions

  where = f"{url.rstrip('/')}/{LOCK_NAME}"
  lock = WorkdirLock(GcsLockStore(where))
  try:
    lock.acquire(take_over)
  except (exceptions.Forbidden, exceptions.Unauthorized, exceptions.NotFound) as e:
    raise XstiltsError(
        f"{where}: cannot write the lock ({type(e).__name__}: " f"{' '.join(str(e).split())[:160]})"
    ) from None
  return lock
