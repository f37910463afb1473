"""Errors that reach a user as one line (the CLI prints them without a traceback)."""

from __future__ import annotations

import errno
import os
from pathlib import Path
import shutil

# "Saved and stopped; run the same command again to resume" (BSD sysexits' EX_TEMPFAIL).
# The launch scripts re-run on it; any other non-zero code is a failure.
EXIT_PREEMPTED = 75


class XstiltsError(Exception):
  """Base: a problem with the user's input, data or configuration."""


class DataError(XstiltsError):
  """A data file or row is malformed, missing or inconsistent."""


class ConfigError(XstiltsError):
  """A configuration key or value is wrong."""


class ModelError(XstiltsError):
  """A checkpoint cannot be loaded or does not match what was asked."""


class TrainingError(XstiltsError):
  """Training went wrong in a way a re-run would repeat (a non-finite loss or gradient)."""


class DiskFullError(XstiltsError):
  """No space left while writing something."""


class Preempted(SystemExit):
  """A checkpoint was saved on SIGTERM (or a preemption notice); the process exits with 75."""

  def __init__(self, message: str):
    super().__init__(EXIT_PREEMPTED)
    self.message = message

  def __str__(self) -> str:
    return self.message


def free_space(path: str | os.PathLike) -> str:
  """Free space on the file system of `path` (its nearest existing parent), e.g. '1.2 MB'."""
  p = Path(path).absolute()
  while not p.exists() and p != p.parent:
    p = p.parent
  try:
    free = shutil.disk_usage(p).free
  except OSError:
    return "unknown"
  for unit in ("B", "KB", "MB", "GB", "TB"):
    if free < 1000 or unit == "TB":
      return f"{free:.0f} {unit}" if unit == "B" else f"{free:.1f} {unit}"
    free /= 1000
  return "unknown"


def is_disk_full(e: BaseException) -> bool:
  """An OSError ENOSPC/EDQUOT, or an error whose text says the same (orbax/tensorstore's
  RESOURCE_EXHAUSTED), anywhere in its chain."""
  seen = set()
  while e is not None and id(e) not in seen:
    seen.add(id(e))
    if isinstance(e, OSError) and e.errno in (errno.ENOSPC, errno.EDQUOT):
      return True
    text = str(e)
    if "RESOURCE_EXHAUSTED" in text or "No space left on device" in text or "[Errno 28]" in text:
      return True
    e = e.__cause__ or e.__context__
  return False


def disk_full(what: str, path: str | os.PathLike) -> DiskFullError:
  return DiskFullError(
      f"{path}: no space left on the device while writing {what} "
      f"({free_space(path)} free); free some space and run the same command again"
  )
