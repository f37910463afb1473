"""Orbax checkpoints of a train state plus the JSON a resumed run needs (data positions, best score).

Saves happen every `save_every` steps and at a preemption sync point (orbax's
PreemptionCheckpointingPolicy; SIGTERM is turned into one by the loop). The latest checkpoint
is always kept so that a restarted run resumes; the best by the dev score is kept too.
Restoring takes the abstract state with the target shardings, so a checkpoint written on one
mesh restores onto any other.

On a `gs://` directory orbax writes each step under its final name and marks it finished with
`commit_success.txt` (there is no rename there): a step without it is unfinished, to orbax
(latest and best step) and to the checks here alike.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any, Optional

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as cm

from xstilts_jax import paths
from xstilts_jax.errors import ModelError, disk_full, is_disk_full

TMP_MARK = ".orbax-checkpoint-tmp"
COMMIT_MARK = "commit_success.txt"  # orbax's completion marker on object stores


class Checkpointer:

  def __init__(
      self, directory: str | Path, save_every: int, keep_latest: int = 1, keep_best: int = 1, async_save: bool = True
  ):
    preservation = [cm.LatestN(keep_latest)]
    if keep_best:
      preservation.append(
          cm.BestN(
              get_metric_fn=lambda m: m["score"], reverse=False, n=keep_best, keep_checkpoints_without_metrics=False
          )
      )
    options = ocp.CheckpointManagerOptions(
        # best_fn makes orbax keep the scores on disk, so "best" survives a restart.
        best_fn=(lambda m: m["score"]) if keep_best else None,
        best_mode="max",
        save_decision_policy=cm.AnySavePolicy(
            [cm.FixedIntervalPolicy(max(save_every, 1)), cm.PreemptionCheckpointingPolicy()]
        ),
        preservation_policy=cm.AnyPreservationPolicy(preservation),
        enable_async_checkpointing=async_save,
        cleanup_tmp_directories=True,
    )
    self.directory = paths.as_path(directory)
    if not paths.is_remote(self.directory):
      self.directory = self.directory.absolute()
    if jax.process_index() == 0:
      remove_partial(self.directory)
    self._manager = ocp.CheckpointManager(self.directory, options=options)

  def latest_step(self) -> Optional[int]:
    return self._manager.latest_step()

  def best_step(self) -> Optional[int]:
    return self._manager.best_step()

  def reached_preemption(self, step: int) -> bool:
    return self._manager.reached_preemption(step)

  def should_save(self, step: int) -> bool:
    return self._manager.should_save(step)

  def save(self, step: int, state: Any, meta: dict, score: Optional[float] = None, force: bool = False) -> bool:
    # A copy: orbax writes the JSON item in its background thread, after the caller has moved on
    # and changed `meta` (the next step's data positions), and the arrays are copied at this call.
    # A reference made slow storage save step N's arrays with a later step's positions.
    frozen_meta = json.loads(json.dumps(meta))
    args = ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(frozen_meta))
    metrics = {"score": float(score)} if score is not None else None
    try:
      return self._manager.save(step, args=args, metrics=metrics, force=force)
    except Exception as e:  # an async save's error surfaces at the next save
      if is_disk_full(e):
        raise disk_full(f"checkpoint step {step}", self.directory) from None
      raise

  def restore(self, step: int, abstract_state: Any) -> tuple[Any, dict]:
    """The state at `step`, placed as `abstract_state` (ShapeDtypeStructs with shardings) says.

    An unreadable checkpoint is a one-line ModelError naming the step and directory, and the
    older checkpoint beside it, if there is one that looks whole."""
    logging.info("restoring checkpoint %d from %s", step, self.directory)
    try:
      out = self._manager.restore(
          step, args=ocp.args.Composite(state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore())
      )
      if not isinstance(out["meta"], dict):
        raise ValueError("meta is not a JSON object")
    except Exception as e:
      older = [s for s in self._manager.all_steps() if s < step and looks_whole(self.directory / str(s))]
      offer = (
          f"; an older complete checkpoint is beside it: move {self.directory / str(step)} away and "
          f"run the same command again to resume from step {max(older)}"
          if older
          else f"; remove {self.directory} to redo the phase from its start"
      )
      text = " ".join(str(e).split())[:160]
      raise ModelError(
          f"{self.directory / str(step)}: checkpoint step {step} is corrupt or incomplete "
          f"({type(e).__name__}: {text}){offer}"
      ) from None
    return out["state"], out["meta"]

  def wait(self) -> None:
    try:
      self._manager.wait_until_finished()
    except Exception as e:
      if is_disk_full(e):
        raise disk_full("a checkpoint", self.directory) from None
      raise

  def close(self) -> None:
    try:
      self._manager.close()
    except Exception as e:  # an unfinished async save's error: one line if it is a full disk
      if is_disk_full(e):
        raise disk_full("a checkpoint", self.directory) from None
      raise


def remove_partial(directory: paths.AnyPath) -> None:
  """Saves that never finished (a crash, a full disk): temporary directories locally, step
  directories without the completion marker on gs://."""
  remote = paths.is_remote(directory)
  if directory.is_dir():
    for p in directory.iterdir():
      if TMP_MARK in p.name or (remote and p.name.isdigit() and not (p / COMMIT_MARK).exists()):
        logging.info("removing the unfinished checkpoint %s", p)
        try:
          paths.rmtree(p)
        except OSError as e:
          logging.warning("could not remove %s (%s)", p, e)


def looks_whole(step_dir: paths.AnyPath) -> bool:
  """Every item of a checkpoint written by this module has its metadata, and on gs:// orbax's
  completion marker (a quick check)."""
  return (
      (step_dir / "_CHECKPOINT_METADATA").is_file()
      and (step_dir / "state" / "_METADATA").is_file()
      and (step_dir / "meta" / "metadata").is_file()
      and (not paths.is_remote(step_dir) or (step_dir / COMMIT_MARK).is_file())
  )


def abstract_like(state: Any, shardings: Any) -> Any:
  return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), state, shardings)
