"""The project's checkpoints (xstilts_jax/train/checkpoint.py) on gs:// (the emulator): orbax
writes each step under its final name with `commit_success.txt` last, and a step without that
marker is unfinished to resume and to the best-checkpoint logic alike."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from xstilts_jax import paths
from xstilts_jax.errors import ModelError
from xstilts_jax.train.checkpoint import COMMIT_MARK, Checkpointer, looks_whole


def _state(v: float) -> dict:
  return {"w": jnp.full((4, 3), v, jnp.float32), "step": jnp.asarray(int(v), jnp.int32)}


def _abstract() -> dict:
  sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  return jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding), _state(0))


def _steps_on_gs(url: str) -> list[str]:
  return sorted(p.name for p in paths.as_path(url).iterdir() if p.name.isdigit())


def test_save_and_restore_on_gs(gs):
  ckpt = Checkpointer(gs, save_every=1, keep_latest=2, keep_best=0, async_save=True)
  for step in (1, 2):
    ckpt.save(step, _state(step), {"batches": {"en": step}, "done": step == 2})
  ckpt.wait()
  ckpt.close()
  assert _steps_on_gs(gs) == ["1", "2"]
  assert all((paths.as_path(gs) / s / COMMIT_MARK).is_file() for s in ("1", "2"))
  again = Checkpointer(gs, save_every=1, keep_latest=2, keep_best=0, async_save=True)
  assert again.latest_step() == 2
  state, meta = again.restore(2, _abstract())
  np.testing.assert_array_equal(np.asarray(state["w"]), np.full((4, 3), 2.0, np.float32))
  assert int(state["step"]) == 2 and meta == {"batches": {"en": 2}, "done": True}
  assert looks_whole(again.directory / "2")
  again.close()


def test_a_step_without_the_commit_marker_is_not_resumed_from(gs):
  ckpt = Checkpointer(gs, save_every=1, keep_latest=3, keep_best=0, async_save=True)
  for step in (1, 2):
    ckpt.save(step, _state(step), {"step": step})
  ckpt.wait()
  ckpt.close()
  # A save cut short after its arrays were written: everything but the marker is there.
  (paths.as_path(gs) / "2" / COMMIT_MARK).unlink()
  assert not looks_whole(paths.as_path(gs) / "2") and looks_whole(paths.as_path(gs) / "1")
  resumed = Checkpointer(gs, save_every=1, keep_latest=3, keep_best=0, async_save=True)
  assert resumed.latest_step() == 1
  assert _steps_on_gs(gs) == ["1"]  # the unfinished step is removed before saving over it
  state, meta = resumed.restore(1, _abstract())
  assert int(state["step"]) == 1 and meta == {"step": 1}
  resumed.save(2, _state(22), {"step": 2})
  resumed.wait()
  resumed.close()
  state, _ = Checkpointer(gs, save_every=1, keep_best=0, async_save=True).restore(2, _abstract())
  assert float(state["w"][0, 0]) == 22.0


def test_best_step_counts_only_committed_steps(gs):
  ckpt = Checkpointer(gs, save_every=100, keep_latest=1, keep_best=1, async_save=True)
  for step, score in ((1, 0.5), (2, 0.9), (3, 0.1)):
    ckpt.save(step, _state(step), {"step": step}, score=score, force=True)
  ckpt.wait()
  ckpt.close()
  assert _steps_on_gs(gs) == ["2", "3"]  # the latest and the best kept, step 1 removed
  assert Checkpointer(gs, save_every=100, keep_latest=1, keep_best=1).best_step() == 2
  (paths.as_path(gs) / "2" / COMMIT_MARK).unlink()
  reopened = Checkpointer(gs, save_every=100, keep_latest=1, keep_best=1, async_save=True)
  assert reopened.best_step() == 3 and reopened.latest_step() == 3
  reopened.close()


def test_a_corrupt_step_on_gs_is_a_one_line_error_naming_it(gs):
  ckpt = Checkpointer(gs, save_every=1, keep_latest=2, keep_best=0, async_save=True)
  for step in (1, 2):
    ckpt.save(step, _state(step), {"step": step})
  ckpt.wait()
  ckpt.close()
  paths.rmtree(paths.as_path(gs) / "2" / "state")
  again = Checkpointer(gs, save_every=1, keep_latest=2, keep_best=0, async_save=True)
  with pytest.raises(ModelError) as e:
    again.restore(2, _abstract())
  message = str(e.value)
  assert "\n" not in message and message.startswith(f"{gs}/2: checkpoint step 2 is corrupt")
  assert "resume from step 1" in message
