"""The train state as plain arrays: flat parameter dicts per group, Adam state per group, step.

Parameters are grouped as the encoder plus one group per head, each a flat dict keyed by the
dotted NNX path ("encoder.layers.0.attention.query.kernel"). Flat dicts of arrays go through
optax, jit shardings and orbax without any framework objects in between; `ModelLayout` turns
them back into the NNX module inside a step.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping, Optional

from flax import nnx
import jax
import jax.numpy as jnp
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np
import optax

from xstilts_jax.models.xlmr import XLMRModel
from xstilts_jax.sharding import Partitioner


def _path_name(path) -> str:
  parts = [str(getattr(k, "key", getattr(k, "idx", getattr(k, "name", k)))) for k in path]
  return ".".join(parts[:-1] if parts and parts[-1] == "value" else parts)


@dataclasses.dataclass(frozen=True)
class ModelLayout:
  """What is static about a model: its graph, parameter names, groups and logical axes."""

  graphdef: Any
  treedef: Any
  names: tuple[str, ...]
  logical: tuple[tuple, ...]
  rest: Any  # non-parameter state (none for XLM-R; kept so merge is exact)

  @classmethod
  def of(cls, model: XLMRModel) -> "ModelLayout":
    graphdef, params, rest = nnx.split(model, nnx.Param, ...)
    with_paths, treedef = jax.tree_util.tree_flatten_with_path(params)
    specs = jax.tree.leaves(nnx.get_partition_spec(params), is_leaf=lambda x: isinstance(x, P))
    names = tuple(_path_name(p) for p, _ in with_paths)
    return cls(graphdef, treedef, names, tuple(tuple(s) for s in specs), rest)

  def group_of(self, name: str) -> str:
    return name.split(".")[1] if name.startswith("heads.") else "encoder"

  def flat(self, model: XLMRModel) -> dict[str, jax.Array]:
    return dict(zip(self.names, jax.tree.leaves(nnx.state(model, nnx.Param))))

  @staticmethod
  def ungrouped(grouped: Mapping) -> dict[str, Any]:
    """The inverse of `grouped`: one flat dict of every parameter."""
    flat = dict(grouped["encoder"])
    for head_params in grouped["heads"].values():
      flat.update(head_params)
    return flat

  def grouped(self, flat: Mapping[str, Any]) -> dict:
    out: dict = {"encoder": {}, "heads": {}}
    for name, value in flat.items():
      group = self.group_of(name)
      (out["encoder"] if group == "encoder" else out["heads"].setdefault(group, {}))[name] = value
    return out

  def model(self, params: Mapping) -> XLMRModel:
    """An NNX module over grouped parameters; cheap under jit."""
    flat = self.ungrouped(params)
    state = jax.tree.unflatten(self.treedef, [flat[n] for n in self.names])
    return nnx.merge(self.graphdef, state, self.rest)

  def logical_of(self) -> dict[str, P]:
    return dict(zip(self.names, (P(*s) for s in self.logical)))


def init_state(layout: ModelLayout, params: Mapping[str, Any], tx: optax.GradientTransformation) -> dict:
  """{'step', 'params', 'opt'}: Adam state for the encoder and each head separately."""
  grouped = layout.grouped(params)
  return {
      "step": jnp.zeros((), jnp.int32),
      "params": grouped,
      "opt": {"encoder": tx.init(grouped["encoder"]), "heads": {h: tx.init(p) for h, p in grouped["heads"].items()}},
  }


def state_shardings(layout: ModelLayout, abstract_state: Any, partitioner: Partitioner) -> Any:
  """Shardings for a train state: parameters and their optimizer statistics by the rule table.

  A statistic of a parameter's shape (Adam's moments, Adafactor's unfactored second moment)
  gets the parameter's sharding; one that lacks an axis (Adafactor's factored row and column
  statistics) gets the parameter's logical axes without that one; anything else (counts,
  Adafactor's (1,) placeholders) is replicated.
  """
  logical = layout.logical_of()
  shapes = _shapes(abstract_state["params"])

  def place(path, leaf):
    key = getattr(path[-1], "key", None)  # parameters and their statistics sit under their name
    if not isinstance(key, str) or key not in shapes:
      return partitioner.replicated()
    axes, shape = tuple(logical[key]), shapes[key]
    if tuple(leaf.shape) == tuple(shape):
      return NamedSharding(partitioner.mesh, partitioner.spec_for(axes, shape))
    field = getattr(path[-2], "name", None) if len(path) > 1 else None
    dropped = _dropped_axis(field, shape, tuple(leaf.shape))
    if dropped is None:
      return partitioner.replicated()
    return NamedSharding(partitioner.mesh, partitioner.spec_for(axes[:dropped] + axes[dropped + 1 :], leaf.shape))

  return jax.tree_util.tree_map_with_path(place, abstract_state)


def _dropped_axis(field: Optional[str], shape: tuple, reduced: tuple) -> Optional[int]:
  """The axis of `shape` that a statistic of shape `reduced` lacks, or None if it is no such.

  optax.scale_by_factored_rms keeps `v_row` without the parameter's largest axis and `v_col`
  without its second largest (numpy's argsort order, as optax picks them); for any other
  statistic the axis must be the only one whose removal gives `reduced`.
  """
  if len(reduced) != len(shape) - 1:
    return None
  fits = [d for d in range(len(shape)) if shape[:d] + shape[d + 1 :] == reduced]
  order = np.argsort(shape)
  axis = {"v_row": int(order[-1]), "v_col": int(order[-2])}.get(field) if len(shape) >= 2 else None
  if axis is not None:
    return axis if axis in fits else None
  return fits[0] if len(fits) == 1 else None


def _shapes(grouped: Mapping) -> dict[str, tuple]:
  out = {n: tuple(v.shape) for n, v in grouped["encoder"].items()}
  for head in grouped["heads"].values():
    out.update({n: tuple(v.shape) for n, v in head.items()})
  return out


def create_state(
    model: XLMRModel, tx: optax.GradientTransformation, partitioner: Partitioner
) -> tuple[ModelLayout, dict, Any]:
  """The layout, the train state placed on the partitioner's mesh, and its shardings.

  Parameters go straight from wherever they are (host numpy after load_hf) to their shards;
  the Adam state is created by a jit whose outputs are already sharded, so nothing the size
  of the optimizer state ever sits whole on one device.
  """
  layout = ModelLayout.of(model)
  params = layout.flat(model)
  abstract = jax.eval_shape(lambda p: init_state(layout, p, tx), params)
  shardings = state_shardings(layout, abstract, partitioner)
  placed = jax.device_put(layout.grouped(params), shardings["params"])
  state = jax.jit(lambda p: init_state(layout, layout.ungrouped(p), tx), out_shardings=shardings)(placed)
  return layout, state, shardings
