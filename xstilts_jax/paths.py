"""One path layer for local paths and Cloud Storage URLs (`gs://bucket/prefix`).

`as_path` gives a `pathlib.Path` for a local path and an `etils.epath.Path` (what orbax uses) for
a `gs://` URL; both offer the operations the project uses (`/`, `exists`, `is_dir`, `is_file`,
`glob`, `iterdir`, `read_text`, `read_bytes`, `write_bytes`, `write_text`, `mkdir`, `open`,
`unlink`). What pathlib leaves to `shutil` is here for both kinds: `rmtree`, `copy_tree`.

Object stores are not file systems, and the callers handle the difference on purpose:
- one object upload is already atomic, so final names are written directly there (locally a
  temporary file is renamed: xstilts_jax/atomic.py); a rename there is a copy then a delete;
- there is no append (epath's `open('a')` silently overwrites): see `train/logs.py`;
- there are no directories, only name prefixes: `mkdir` is a no-op, an empty "directory" does
  not exist;
- listings are not cached (gcsfs would cache them for the life of the process), since other
  hosts write the same prefixes.

epath reaches `gs://` through gcsfs here, not TensorFlow's client (EPATH_USE_TF=false unless the
environment says otherwise): gcsfs is what the tests exercise against a GCS emulator, and TF's
client cannot be pointed at one.
"""

from __future__ import annotations

import os
from pathlib import Path
import shutil
from typing import Union

os.environ.setdefault("EPATH_USE_TF", "false")

from etils import epath  # noqa: E402  (after the setting above, which epath reads once)
import fsspec  # noqa: E402

# gcsfs caches directory listings for the life of the process; other hosts and processes write
# the same prefixes (checkpoints, markers), so a cached listing would hide their objects.
for _protocol in ("gcs", "gs"):
  fsspec.config.conf.setdefault(_protocol, {}).setdefault("use_listings_cache", False)

from xstilts_jax.errors import ConfigError  # noqa: E402

SCHEMES = ("gs://",)

AnyPath = Union[Path, epath.Path]


def is_remote(path: str | os.PathLike) -> bool:
  """True for a `gs://` URL (an object store), False for a local path."""
  return os.fspath(path).startswith(SCHEMES)


def as_path(path: str | os.PathLike) -> AnyPath:
  """`path` as a pathlib.Path (local) or an epath.Path (`gs://`); another URL is a ConfigError."""
  text = os.fspath(path)
  if is_remote(text):
    return path if isinstance(path, epath.Path) else epath.Path(text)
  if "://" in text:
    raise ConfigError(f"{text}: only local paths and gs:// URLs are supported")
  return path if isinstance(path, Path) else Path(text)


def rmtree(path: str | os.PathLike, missing_ok: bool = True) -> None:
  """Remove a directory and everything under it (every object under the prefix on gs://)."""
  p = as_path(path)
  if is_remote(p):
    p.rmtree(missing_ok=missing_ok)
    return
  if missing_ok and not p.exists():
    return
  shutil.rmtree(p)


def copy_tree(src: str | os.PathLike, dst: str | os.PathLike) -> list[str]:
  """Copy every file under `src` to the same relative name under `dst` when it is new or its
  size changed (enough for append-only files such as TensorBoard's); the relative names copied."""
  src, dst = as_path(src), as_path(dst)
  copied = []
  for f in sorted(src.rglob("*")):
    if not f.is_file():
      continue
    rel = f.relative_to(src).as_posix()
    target = dst / rel
    if target.exists() and size(target) == f.stat().st_size:
      continue
    if not is_remote(target):
      target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(f.read_bytes())
    copied.append(rel)
  return copied


def size(path: str | os.PathLike) -> int:
  """A file's size in bytes (epath's stat has `length` where pathlib's has `st_size`)."""
  p = as_path(path)
  return p.stat().length if is_remote(p) else p.stat().st_size


def mkdirs(path: str | os.PathLike) -> AnyPath:
  """Create a directory and its parents if they are missing (nothing to create on gs://)."""
  p = as_path(path)
  if not is_remote(p):
    p.mkdir(parents=True, exist_ok=True)
  return p
