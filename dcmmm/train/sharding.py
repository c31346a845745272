"""Where the region axis lives: one device (`mesh=single`) or all devices (`mesh=regions`).

With `mesh=regions` every region-first array (batch fields `[R, T, ...]`, the
per-region parameters under `params["region"]` and their optimiser moments) is
sharded over a one-axis `jax.sharding.Mesh` named `regions`; everything else
(shared parameters, calendar statics, scalars) is replicated. When R does not
divide the device count, `R_pad − R` dummy regions are appended: zero activity,
KPI and cell weights, and `Batch.region_w = 0`, so they carry no weight in any
loss term or metric (the region penalties divide by Σ region_w, not by R_pad);
their parameters get exactly zero gradients and stay where they started.

Only fitting sees the padded, sharded layout: `to_mesh` goes in, `to_host`
comes out (unpadded, on one local device), so checkpoints, predictions and
every other output hold the R real regions only.
"""

import dataclasses
import logging
import math
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from dcmmm.train.loss import Batch

logger = logging.getLogger(__name__)
MESHES = ("single", "regions")
AXIS = "regions"


@dataclass(frozen=True)
class MeshSpec:
    """The `mesh` config group (validated by dcmmm.config.mesh_spec)."""

    name: str = "single"  # single | regions
    coordinator_address: str | None = None  # None: one process; "auto": cluster env; "host:port"
    num_processes: int | None = None
    process_id: int | None = None


def initialize_distributed(mesh: MeshSpec) -> None:
    """`jax.distributed.initialize` for a multi-host job (once per process; a no-op
    without `coordinator_address`). Must run before any JAX computation."""
    if mesh.coordinator_address is None or jax.distributed.is_initialized():
        return
    if mesh.coordinator_address == "auto":  # Slurm, Open MPI, ... fill in the rest
        jax.distributed.initialize()
    else:
        jax.distributed.initialize(mesh.coordinator_address, mesh.num_processes, mesh.process_id)
    logger.info("distributed: process %d of %d, %d devices in all", jax.process_index(),
                jax.process_count(), jax.device_count())


def _is_region(path) -> bool:
    """A leaf under a `region` dict key: per-region values stacked on a leading R axis."""
    return any(getattr(k, "key", None) == "region" for k in path)


def _is_array(leaf) -> bool:
    return isinstance(leaf, jax.Array | np.ndarray)


@dataclass(frozen=True, eq=False)
class RegionLayout:
    """How R real regions are laid out for fitting: `n_padded` rows over `mesh`
    (None = one device, nothing padded or moved)."""

    n_regions: int
    n_padded: int
    mesh: Mesh | None = None
    lead: int = 0  # axes before the region axis (1 for replicas stacked on a leading axis)

    def stacked(self) -> "RegionLayout":
        """This layout for pytrees with a leading replica axis (dcmmm.train.replicas)."""
        return dataclasses.replace(self, lead=self.lead + 1)

    def _sharding(self, regional: bool) -> NamedSharding:
        partition = PartitionSpec(*([None] * self.lead), AXIS) if regional else PartitionSpec()
        return NamedSharding(self.mesh, partition)

    def _put(self, value, regional: bool):
        """`value` (the same on every process) as a global array sharded over regions or
        replicated; built from host data, so it also works when the mesh spans processes."""
        sharding = self._sharding(regional)
        if isinstance(value, jax.Array) and value.sharding == sharding:
            return value
        if jnp.issubdtype(value.dtype, jax.dtypes.prng_key):
            data = self._put(jax.random.key_data(value), regional)
            return jax.random.wrap_key_data(data, impl=jax.random.key_impl(value))
        host = np.asarray(value)
        return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])

    def _pad(self, a, edge: bool, axis: int | None = None):
        """[.., R, ...] -> [.., R_pad, ...] on the region axis (`lead` unless given):
        copies of the last region (`edge`, finite parameter values) or zeros (data and
        weights). Already padded arrays pass through."""
        axis = self.lead if axis is None else axis
        if np.ndim(a) <= axis or np.shape(a)[axis] != self.n_regions:
            return a
        extra = self.n_padded - self.n_regions
        if extra == 0:
            return a
        a = np.asarray(a)
        last = np.take(a, [-1], axis=axis)
        shape = list(a.shape)
        shape[axis] = extra
        fill = np.repeat(last, extra, axis=axis) if edge else np.zeros(shape, a.dtype)
        return np.concatenate([a, fill], axis=axis)

    def batch_to_mesh(self, batch: Batch) -> Batch:
        """Pad every field on its region axis (dummies are all zero, `region_w` = 0) and shard
        it. A batch already in this layout (e.g. reweighted) is only re-committed to it."""
        if self.mesh is None:
            return batch
        region_w = np.arange(self.n_padded) < self.n_regions
        fields = {name: self._pad(v, edge=False)  # an absent optional field stays absent
                  for name, v in batch._asdict().items()
                  if name not in ("region_w", "lifts", "priors", "anchor") and v is not None}
        fields["region_w"] = np.broadcast_to(region_w.astype(np.float32),
                                             (*np.shape(batch.x)[:self.lead], self.n_padded))
        placed = {k: self._put(v, regional=True) for k, v in fields.items()}
        anchor = None if batch.anchor is None else batch.anchor._replace(
            params=self.to_mesh(batch.anchor.params), weight=self.to_mesh(batch.anchor.weight),
            scale=self._put(np.asarray(batch.anchor.scale), regional=False))
        return Batch(**placed, lifts=self._lifts_to_mesh(batch.lifts), anchor=anchor,
                     priors=self._lifts_to_mesh(batch.priors))

    def _lifts_to_mesh(self, lifts):
        """Lift tests or ROI priors (leading axis: tests) replicated, their region axes
        padded with zeros."""
        if lifts is None:
            return None
        lifts = lifts._replace(  # region axes: [.., N, R] and [.., R]
            region_w=self._pad(lifts.region_w, edge=False, axis=self.lead + 1),
            kpi_mean=self._pad(lifts.kpi_mean, edge=False, axis=self.lead))
        return jax.tree.map(lambda a: self._put(a, regional=False), lifts)

    def to_mesh(self, tree):
        """Place a pytree (params, TrainState, Progress, Statics) for fitting: arrays under
        a `region` key padded and sharded over regions, other arrays replicated."""
        if self.mesh is None:
            return tree

        def place(path, leaf):
            if not _is_array(leaf):
                return leaf
            regional = _is_region(path)
            value = self._pad(leaf, edge=True) if regional else leaf
            return self._put(value, regional)

        return jax.tree.map_with_path(place, tree)

    def to_host(self, tree):
        """Inverse of `to_mesh`: the real regions only, on this process's first device
        (gathered across processes in a multi-host job)."""
        if self.mesh is None:
            return tree
        device = jax.local_devices()[0]

        def gather(path, leaf):
            if not isinstance(leaf, jax.Array):
                return leaf
            if not _is_region(path):  # replicated: any local copy is the whole value
                return jax.device_put(leaf.addressable_data(0), device)
            if leaf.is_fully_addressable:
                full = jax.device_put(leaf, device)
            else:
                from jax.experimental import multihost_utils

                full = jnp.asarray(multihost_utils.process_allgather(leaf, tiled=True))
            real = (slice(None),) * self.lead + (slice(0, self.n_regions),)
            return jax.device_put(full[real], device)

        return jax.tree.map_with_path(gather, tree)


def region_layout(mesh: MeshSpec, n_regions: int) -> RegionLayout:
    """The layout of `n_regions` regions under `mesh` (all of the job's devices for `regions`)."""
    if mesh.name == "single":
        return RegionLayout(n_regions, n_regions)
    devices = np.asarray(jax.devices())
    n_padded = math.ceil(n_regions / devices.size) * devices.size
    if n_padded > n_regions:
        logger.info("mesh=regions: %d regions padded to %d over %d devices", n_regions,
                    n_padded, devices.size)
    return RegionLayout(n_regions, n_padded, Mesh(devices, (AXIS,)))
