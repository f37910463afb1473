"""Orbax checkpoints of a train state plus the JSON a resumed run needs (data positions, best score).

Saves happen every `save_every` steps and at a preemption sync point (orbax's
PreemptionCheckpointingPolicy; SIGTERM is turned into one by the loop). The latest checkpoint
is always kept so that a restarted run resumes; the best by the dev score is kept too.
Restoring takes the abstract state with the target shardings, so a checkpoint written on one
mesh restores onto any other.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Optional

import jax
import orbax.checkpoint as ocp
from orbax.checkpoint import checkpoint_managers as cm


class Checkpointer:

  def __init__(self, directory: str | Path, save_every: int, keep_latest: int = 1, keep_best: int = 1,
               async_save: bool = True):
    preservation = [cm.LatestN(keep_latest)]
    if keep_best:
      preservation.append(cm.BestN(get_metric_fn=lambda m: m["score"], reverse=False, n=keep_best,
                                   keep_checkpoints_without_metrics=False))
    options = ocp.CheckpointManagerOptions(
        # best_fn makes orbax keep the scores on disk, so "best" survives a restart.
        best_fn=(lambda m: m["score"]) if keep_best else None, best_mode="max",
        save_decision_policy=cm.AnySavePolicy([
            cm.FixedIntervalPolicy(max(save_every, 1)), cm.PreemptionCheckpointingPolicy()]),
        preservation_policy=cm.AnyPreservationPolicy(preservation),
        enable_async_checkpointing=async_save,
        cleanup_tmp_directories=True,
    )
    self.directory = Path(directory).absolute()
    self._manager = ocp.CheckpointManager(self.directory, options=options)

  def latest_step(self) -> Optional[int]:
    return self._manager.latest_step()

  def best_step(self) -> Optional[int]:
    return self._manager.best_step()

  def reached_preemption(self, step: int) -> bool:
    return self._manager.reached_preemption(step)

  def save(self, step: int, state: Any, meta: dict, score: Optional[float] = None, force: bool = False) -> bool:
    args = ocp.args.Composite(state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta))
    metrics = {"score": float(score)} if score is not None else None
    return self._manager.save(step, args=args, metrics=metrics, force=force)

  def restore(self, step: int, abstract_state: Any) -> tuple[Any, dict]:
    """The state at `step`, placed as `abstract_state` (ShapeDtypeStructs with shardings) says."""
    logging.info("restoring checkpoint %d from %s", step, self.directory)
    out = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state), meta=ocp.args.JsonRestore()))
    return out["state"], out["meta"]

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()


def abstract_like(state: Any, shardings: Any) -> Any:
  return jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), state, shardings)
