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

import contextlib
import datetime
import os
from pathlib import Path
import shutil
import tempfile
from typing import Iterator, Union

os.environ.setdefault("EPATH_USE_TF", "false")

from etils import epath  # noqa: E402  (after the setting above, which epath reads once)
import fsspec  # noqa: E402

# gcsfs caches directory listings for the life of the process; other hosts and processes write
# the same prefixes (checkpoints, markers), so a cached listing would hide their objects.
for _protocol in ("gcs", "gs"):
  fsspec.config.conf.setdefault(_protocol, {}).setdefault("use_listings_cache", False)

from xstilts_jax.errors import ConfigError, DataError  # noqa: E402

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


def _gcs():
  """The gcsfs file system behind epath's gs:// paths (the same settings and emulator)."""
  return fsspec.filesystem("gs")


def identity(path: str | os.PathLike) -> str | Path:
  """What tells two workdirs apart: the resolved local path, or the gs:// URL."""
  return str(as_path(path)).rstrip("/") if is_remote(path) else Path(path).resolve()


def find_files(root: str | os.PathLike, name: str) -> list[AnyPath]:
  """Every file called `name` at any depth below `root`, sorted (epath has no recursive glob on
  gs://: one listing of the prefix there)."""
  p = as_path(root)
  if not is_remote(p):
    return sorted(f for f in p.rglob(name) if f.is_file())
  url = str(p).rstrip("/")
  found = _gcs().find(url, detail=False)
  return sorted(as_path(f"gs://{f}") for f in found if f.rsplit("/", 1)[-1] == name)


def mirror_root() -> Path:
  """Where local copies of gs:// objects are kept (XSTILTS_GS_MIRROR, else a per-user folder in
  the temporary directory), laid out as bucket/object."""
  where = os.environ.get("XSTILTS_GS_MIRROR")
  return Path(where) if where else Path(tempfile.gettempdir()) / f"xstilts-gs-{os.getuid()}"


def _mtime_ns(info: dict) -> int:
  mtime = info.get("mtime") or info.get("updated")
  if isinstance(mtime, str):
    mtime = datetime.datetime.fromisoformat(mtime.replace("Z", "+00:00"))
  seconds = int(mtime.replace(microsecond=0).timestamp())
  return seconds * 1_000_000_000 + mtime.microsecond * 1000


def local_copy(path: str | os.PathLike, shallow: bool = False) -> Path:
  """A local file or directory with the content of `path`: `path` itself when local; for a gs://
  object or prefix, a copy under `mirror_root()`, refreshed object by object (an object whose
  size or time changed is fetched again, a file gone from the prefix is removed), each file
  written whole. Its files carry the objects' times, so a data file's (path, size, mtime)
  fingerprint, and with it the feature cache, is stable across processes on one host.

  For what reads only local files: transformers' from_pretrained, safetensors, the data
  readers. `shallow`: only the files directly in a gs:// folder, not its subfolders. A gs:// URL
  with nothing under it is a DataError naming it."""
  if not is_remote(path):
    return as_path(path)
  url = str(as_path(path)).rstrip("/")
  key = url[len("gs://") :]
  fs = _gcs()
  found = fs.find(url, detail=True, maxdepth=1 if shallow else None)
  objects = {n: i for n, i in found.items() if not n.endswith("/")}
  if not objects:
    raise DataError(f"{url}: no such file or directory")
  local = mirror_root() / key
  for name, info in sorted(objects.items()):
    target = local if name == key else local / name[len(key) + 1 :]
    stamp = _mtime_ns(info)
    if target.is_file() and target.stat().st_size == info["size"] and target.stat().st_mtime_ns == stamp:
      continue
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".mirror")
    try:
      with os.fdopen(fd, "wb") as f:
        f.write(fs.cat_file(name))
      os.utime(tmp, ns=(stamp, stamp))
      os.replace(tmp, target)
    finally:
      if os.path.exists(tmp):
        os.remove(tmp)
  if local.is_dir():
    wanted = {local / n[len(key) + 1 :] for n in objects}
    for f in local.iterdir() if shallow else local.rglob("*"):
      if f.is_file() and f not in wanted and not f.name.endswith(".mirror"):
        f.unlink()
  return local


def put_tree(src: str | os.PathLike, dst: str | os.PathLike) -> None:
  """Copy every file under the local folder `src` to the same relative name under `dst`."""
  src, dst = Path(src), as_path(dst)
  for f in sorted(src.rglob("*")):
    if f.is_file():
      target = dst / f.relative_to(src).as_posix()
      if not is_remote(target):
        target.parent.mkdir(parents=True, exist_ok=True)
      target.write_bytes(f.read_bytes())


@contextlib.contextmanager
def staged_dir(path: str | os.PathLike) -> Iterator[Path]:
  """A local folder to write the files of `path` in: `path` itself when local; for gs://, a
  temporary folder whose files are uploaded under `path` when the block ends without an error
  (for writers that take only local paths: save_pretrained, safetensors, the demo's data)."""
  if not is_remote(path):
    yield as_path(path)
    return
  with tempfile.TemporaryDirectory(prefix="xstilts-upload-") as tmp:
    yield Path(tmp)
    put_tree(tmp, path)
