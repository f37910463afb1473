"""Files written whole or not at all (a temporary file in the same directory, then os.replace),
and JSON read back with a one-line error."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from xstilts_jax.errors import DataError


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
  path = Path(path)
  path.parent.mkdir(parents=True, exist_ok=True)
  fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
  try:
    with os.fdopen(fd, "wb") as f:
      f.write(data)
    os.replace(tmp, path)
  except BaseException:
    if os.path.exists(tmp):
      os.remove(tmp)
    raise
  return path


def write_text(path: str | os.PathLike, text: str) -> Path:
  return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike, obj: Any) -> Path:
  return write_text(path, json.dumps(obj, indent=1, ensure_ascii=False, default=float) + "\n")


def read_json(path: str | os.PathLike) -> Any:
  try:
    return json.loads(Path(path).read_text())
  except FileNotFoundError:
    raise DataError(f"{path}: missing") from None
  except json.JSONDecodeError as e:
    raise DataError(f"{path}:{e.lineno}: invalid JSON ({e.msg}); remove it to redo that step") from None
