"""Files written whole or not at all (a temporary file in the same directory, then os.replace),
with the permissions the umask gives any new file, and JSON read back with a one-line error.

On `gs://` (xstilts_jax/paths.py) a single object upload is already atomic, and a rename there
is a copy then a delete: the final name is written directly."""

from __future__ import annotations

import json
import os
from pathlib import Path
import tempfile
from typing import Any

from xstilts_jax import paths
from xstilts_jax.errors import DataError, disk_full, is_disk_full


def current_umask() -> int:
  """The process umask, read without changing it (os.umask sets it, racing other threads)."""
  try:
    with open("/proc/self/status") as f:
      for line in f:
        if line.startswith("Umask:"):
          return int(line.split()[1], 8)
  except (OSError, ValueError, IndexError):
    pass
  mask = os.umask(0o022)
  os.umask(mask)
  return mask


def write_bytes(path: str | os.PathLike, data: bytes, what: str = "") -> paths.AnyPath:
  """Write `data` to `path` atomically; a full disk is a one-line error saying what (`what`,
  default the file's name) was being written."""
  if paths.is_remote(path):
    remote = paths.as_path(path)
    remote.write_bytes(data)  # one upload: the object appears whole or not at all
    return remote
  path = Path(path)
  tmp = None
  try:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
      f.write(data)
    os.chmod(tmp, 0o666 & ~current_umask())  # mkstemp makes 0600; shared workdirs need the umask's
    os.replace(tmp, path)
  except BaseException as e:
    if tmp is not None and os.path.exists(tmp):
      os.remove(tmp)
    if isinstance(e, OSError) and is_disk_full(e):
      raise disk_full(what or path.name, path) from None
    raise
  return path


def write_text(path: str | os.PathLike, text: str, what: str = "") -> paths.AnyPath:
  return write_bytes(path, text.encode("utf-8"), what)


def write_json(path: str | os.PathLike, obj: Any, what: str = "") -> paths.AnyPath:
  return write_text(path, json.dumps(obj, indent=1, ensure_ascii=False, default=float) + "\n", what)


def read_json(path: str | os.PathLike) -> Any:
  try:
    return json.loads(paths.as_path(path).read_text())
  except FileNotFoundError:
    raise DataError(f"{path}: missing") from None
  except UnicodeDecodeError as e:
    raise DataError(f"{path}: not UTF-8 text ({e.reason}); remove it to redo that step") from None
  except json.JSONDecodeError as e:
    raise DataError(f"{path}:{e.lineno}: invalid JSON ({e.msg}); remove it to redo that step") from None
