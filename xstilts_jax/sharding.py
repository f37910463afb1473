"""The partitioner (a mesh and the logical-axis rule table), and global arrays from host-local batches.

The model names its parameter axes (vocab, embed, heads, mlp, labels); the config's rule
table says which mesh axes each name is split over (MaxText's logical_axis_rules). A
dimension that a rule's mesh axes do not divide is replicated rather than refused, so tiny
test models and odd head counts run on any mesh.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from typing import Any, Callable, Mapping, Optional, Sequence

import jax
from jax.sharding import AxisType, Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
import numpy as np

from xstilts_jax.errors import ConfigError

MESH_AXES = ("data", "fsdp", "tensor")
BATCH_AXES = ("data", "fsdp")

# The default rule table: FSDP over the embedding dimension, tensor parallelism over heads,
# MLP and vocabulary; activations (MaxText's activation_* names) split their batch over the
# batch axes and their heads and MLP features over `tensor` (Megatron-style), the residual
# stream whole on each tensor shard. Configs carry their own copy (config.sharding_rules).
DEFAULT_RULES = (
    ("vocab", ("tensor",)),
    ("embed", ("fsdp",)),
    ("heads", ("tensor",)),
    ("mlp", ("tensor",)),
    ("labels", ()),
    ("activation_batch", ("data", "fsdp")),
    ("activation_length", ()),
    ("activation_embed", ()),
    ("activation_heads", ("tensor",)),
    ("activation_mlp", ("tensor",)),
)


def maybe_initialize_distributed(
    coordinator: Optional[str] = None,
    num_processes: Optional[int] = None,
    process_id: Optional[int] = None,
    cpu_collectives: Optional[str] = None,
) -> None:
  """jax.distributed.initialize() when asked (arguments, or XSTILTS_DISTRIBUTED=1 on a TPU pod)."""
  if cpu_collectives:
    jax.config.update("jax_cpu_collectives_implementation", cpu_collectives)
  if coordinator or os.environ.get("XSTILTS_DISTRIBUTED") == "1":
    # On Cloud TPU VMs all arguments are discovered from the environment.
    jax.distributed.initialize(coordinator, num_processes, process_id)
    logging.info(
        "jax.distributed: process %d of %d, %d devices (%d local)",
        jax.process_index(),
        jax.process_count(),
        jax.device_count(),
        jax.local_device_count(),
    )


def make_mesh(shape: Mapping[str, int] | Sequence[tuple[str, int]], devices=None) -> Mesh:
  """A mesh over all devices (every host) with axes data, fsdp, tensor; one size may be -1."""
  items = list(shape.items()) if isinstance(shape, Mapping) else list(shape)
  names = tuple(n for n, _ in items)
  if set(names) != set(MESH_AXES) or len(names) != len(MESH_AXES):
    raise ConfigError(f"mesh axes are {names}; expected exactly {MESH_AXES}")
  devices = list(devices if devices is not None else jax.devices())
  sizes = [int(s) for _, s in items]
  if sizes.count(-1) > 1:
    raise ConfigError(f"mesh {dict(items)}: at most one axis may be -1")
  known = math.prod(s for s in sizes if s != -1)
  if -1 in sizes:
    if len(devices) % known:
      raise ConfigError(f"mesh {dict(items)}: {len(devices)} devices are not divisible by {known}")
    sizes[sizes.index(-1)] = len(devices) // known
  if math.prod(sizes) != len(devices):
    raise ConfigError(f"mesh {dict(zip(names, sizes))} needs {math.prod(sizes)} devices; there are {len(devices)}")
  return jax.make_mesh(tuple(sizes), names, axis_types=(AxisType.Auto,) * len(names), devices=devices)


@dataclasses.dataclass(frozen=True)
class Partitioner:
  """The mesh and the logical-axis rule table of a run: every sharding the engine uses comes from
  here (t5x's PjitPartitioner, MaxText's logical_axis_rules); callers pass this one object.

  `rules` maps each logical axis name to the mesh axes it is split over. With
  `constrain_activations=False` the model's named activations are left to XLA (no sharding
  constraint inside the steps) while parameters still follow the rules; an empty rule table
  replicates everything and constrains nothing. Frozen and hashable, so compiled steps can be
  cached by it.
  """

  mesh: Mesh
  rules: tuple = DEFAULT_RULES
  constrain_activations: bool = True

  def __post_init__(self):
    table = []
    for rule in self.rules:
      if len(rule) != 2 or isinstance(rule[1], str) or not set(rule[1] or ()) <= set(MESH_AXES):
        raise ConfigError(f"sharding rule {list(rule)!r}: expected [logical name, [mesh axes of {MESH_AXES}]]")
      table.append((str(rule[0]), tuple(rule[1] or ())))
    object.__setattr__(self, "rules", tuple(table))

  @classmethod
  def from_config(
      cls,
      mesh_shape: Mapping[str, int] | Sequence[tuple[str, int]],
      rules=DEFAULT_RULES,
      devices=None,
      constrain_activations: bool = True,
  ) -> "Partitioner":
    """A partitioner over `make_mesh(mesh_shape, devices)` (config.mesh, config.sharding_rules)."""
    return cls(make_mesh(mesh_shape, devices), tuple(rules), constrain_activations)

  def spec_for(self, logical: Sequence[Optional[str]], shape: Sequence[int]) -> P:
    """The PartitionSpec for one array: each logical name through the rules, each mesh axis once."""
    table = dict(self.rules)
    used: set[str] = set()
    out = []
    for name, dim in zip(logical, shape):
      axes = tuple(a for a in table.get(name, ()) if a not in used and self.mesh.shape.get(a, 1) > 1) if name else ()
      if axes and dim % math.prod(self.mesh.shape[a] for a in axes) == 0:
        used.update(axes)
        out.append(axes[0] if len(axes) == 1 else axes)
      else:
        if axes:
          _warn_once(name, dim, axes)
        out.append(None)
    return P(*out)

  def param_shardings(self, abstract_tree: Any, logical_tree: Any) -> Any:
    """NamedShardings for a tree of arrays whose logical axes are in a parallel tree of PartitionSpecs."""
    is_spec = lambda x: isinstance(x, P)
    specs = jax.tree.leaves(logical_tree, is_leaf=is_spec)
    arrays, treedef = jax.tree.flatten(abstract_tree)
    if len(specs) != len(arrays):
      raise ValueError(f"{len(arrays)} arrays but {len(specs)} logical specs")
    return jax.tree.unflatten(
        treedef, [NamedSharding(self.mesh, self.spec_for(tuple(s), a.shape)) for s, a in zip(specs, arrays)]
    )

  def activation_constraint(self) -> Optional[Callable[[jax.Array, tuple], jax.Array]]:
    """`constrain(x, logical_names)` for models.xlmr.activation_sharding: the rule table's
    layout for an activation, as a sharding constraint (replicated where a rule does not divide);
    None when activations are not constrained (`constrain_activations=False` or no rules)."""
    if not (self.constrain_activations and self.rules):
      return None

    def constrain(x, names):
      return jax.lax.with_sharding_constraint(x, NamedSharding(self.mesh, self.spec_for(names, x.shape)))

    return constrain

  def replicated(self) -> NamedSharding:
    """Whole on every device."""
    return NamedSharding(self.mesh, P())

  def batch_sharding(self) -> NamedSharding:
    """Rows of every batch array split over (data, fsdp); the other dimensions whole."""
    return NamedSharding(self.mesh, P(BATCH_AXES))

  def batch_divisor(self) -> int:
    """How many ways the rows of a batch are split: a batch's row count must be a multiple."""
    return math.prod(self.mesh.shape[a] for a in BATCH_AXES)

  def global_batch(self, batch: Mapping[str, np.ndarray]) -> dict[str, jax.Array]:
    """A global batch, which every host holds whole, as arrays sharded over the batch axes.

    Each host places only the shards of its own devices, whatever order the mesh gives them.
    """
    sharding, unit = self.batch_sharding(), self.batch_divisor()
    out = {}
    for k, v in batch.items():
      v = np.asarray(v)
      if v.shape[0] % unit:
        raise ConfigError(
            f"batch key {k!r}: {v.shape[0]} rows do not split over the {unit} devices of the batch axes {BATCH_AXES}"
        )
      out[k] = jax.make_array_from_callback(v.shape, sharding, lambda index, v=v: v[index])
    return out


_warned: set = set()


def _warn_once(name: str, dim: int, axes: tuple) -> None:
  if (name, dim, axes) not in _warned:
    _warned.add((name, dim, axes))
    logging.warning("logical axis %r of size %d does not divide over mesh axes %s: replicated", name, dim, axes)


def to_host(x: jax.Array) -> np.ndarray:
  """The whole of a (possibly multi-host) global array on every host."""
  if jax.process_count() == 1 or x.is_fully_addressable:
    return np.asarray(jax.device_get(x))
  from jax.experimental import multihost_utils

  return np.asarray(multihost_utils.process_allgather(x, tiled=True))
