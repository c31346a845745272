"""mesh=regions: padding carries no weight, a sharded fit equals the single-device
fit, and two local processes form one jax.distributed job."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh

from dcmmm.config import mesh_spec
from dcmmm.errors import ConfigError
from dcmmm.train.loss import Anchor, LossSpec, loss_terms
from dcmmm.train.sharding import MeshSpec, RegionLayout, region_layout
from tests import compile_cache
from tests.fixtures import tiny_problem

ROOT = Path(__file__).resolve().parents[2]


def _env(**extra):
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
    env.pop("XLA_FLAGS", None)  # the worker's own flags, read when its JAX starts
    return {**env, **extra}


def test_padded_regions_carry_no_weight_in_loss_or_gradient():
    spec, params, batch, statics = tiny_problem(n_regions=3)
    batch = batch._replace(region_w=jnp.ones(3))
    # nonzero offsets so the region penalties (Σ δ² / R) are not trivially zero
    params["region"] = jax.tree.map(lambda a: a + 0.1, params["region"])
    layout = RegionLayout(3, 5, Mesh(np.asarray(jax.devices()[:1]), ("regions",)))
    padded_params, padded_batch = layout.to_mesh(params), layout.batch_to_mesh(batch)
    assert padded_batch.x.shape[0] == 5 and padded_params["region"]["beta"].shape[0] == 5
    np.testing.assert_array_equal(np.asarray(padded_batch.region_w), [1, 1, 1, 0, 0])
    alpha, rho = jnp.asarray(0.3), jnp.asarray(2.0)
    grad = jax.grad(lambda p, b: loss_terms(p, alpha, rho, b, statics, spec, LossSpec())[0])
    ref_loss, ref_terms = loss_terms(params, alpha, rho, batch, statics, spec, LossSpec())
    loss, terms = loss_terms(padded_params, alpha, rho, padded_batch, statics, spec, LossSpec())
    for key in ref_terms:
        np.testing.assert_allclose(float(terms[key]), float(ref_terms[key]), rtol=1e-6, err_msg=key)
    g_ref, g_pad = grad(params, batch), grad(padded_params, padded_batch)
    for a, b in zip(jax.tree.leaves(g_ref["shared"]), jax.tree.leaves(g_pad["shared"])):
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=1e-5, atol=1e-7)
    for a, b in zip(jax.tree.leaves(g_ref["region"]), jax.tree.leaves(g_pad["region"])):
        np.testing.assert_allclose(np.asarray(b)[:3], np.asarray(a), rtol=1e-5, atol=1e-7)
        assert not np.asarray(b)[3:].any()  # dummies never move
    back = layout.to_host(padded_params)
    for a, b in zip(jax.tree.leaves(params), jax.tree.leaves(back)):
        np.testing.assert_array_equal(np.asarray(b), np.asarray(a))


def test_padded_regions_carry_no_weight_in_the_refresh_pull():
    spec, params, batch, statics = tiny_problem(n_regions=3)
    old = jax.tree.map(lambda a: a + 0.05 * jnp.arange(a.size, dtype=a.dtype).reshape(a.shape)
                       / max(a.size, 1), params)
    weight = jax.tree.map(jnp.ones_like, params)
    batch = batch._replace(region_w=jnp.ones(3), anchor=Anchor(old, weight, jnp.asarray(0.1)))
    layout = RegionLayout(3, 5, Mesh(np.asarray(jax.devices()[:1]), ("regions",)))
    padded_params, padded_batch = layout.to_mesh(params), layout.batch_to_mesh(batch)
    assert padded_batch.anchor.params["region"]["beta"].shape[0] == 5
    alpha, rho = jnp.asarray(0.3), jnp.asarray(2.0)
    loss = lambda p, b: loss_terms(p, alpha, rho, b, statics, spec, LossSpec())  # noqa: E731
    ref, pad = loss(params, batch)[1]["refresh"], loss(padded_params, padded_batch)[1]["refresh"]
    assert float(ref) > 0
    np.testing.assert_allclose(float(pad), float(ref), rtol=1e-6)
    g_pad = jax.grad(lambda p: loss(p, padded_batch)[0])(padded_params)
    for leaf in jax.tree.leaves(g_pad["region"]):
        assert not np.asarray(leaf)[3:].any()  # dummies never move


def test_single_layout_is_the_identity():
    layout = region_layout(MeshSpec("single"), 7)
    assert layout.mesh is None and layout.n_padded == 7
    tree = {"region": {"a": jnp.ones(7)}}
    assert layout.to_mesh(tree) is tree and layout.to_host(tree) is tree


def test_sharded_fit_equals_single_device_fit_with_padding(tmp_path):
    # 5 regions over 4 devices: padded to 8, the last device holds only dummies
    proc = subprocess.run(
        [sys.executable, "-m", "tests.train.mesh_worker", str(tmp_path), "5"],
        capture_output=True, text=True, cwd=ROOT, timeout=600,
        env=_env(XLA_FLAGS="--xla_force_host_platform_device_count=4"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    facts = json.loads(proc.stdout.strip().splitlines()[-1])
    assert facts["devices"] == 4 and facts["padded"] == 8
    assert facts["x_spec"] == "P('regions',)" and facts["x_shard_shape"][0] == 2
    assert facts["region_w"] == [1.0] * 5 + [0.0] * 3
    assert facts["pred_shape"] == [5, 60] and facts["checkpoint_regions"] == 5
    assert facts["regions_compiles"] == 1  # both phases share one compiled step
    assert facts["ensemble_members"] == 2  # and a sharded ensemble equals the unsharded one
    assert facts["stacked_x_spec"] == "P(None, 'regions')"  # members stacked, regions sharded


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def test_two_local_processes_form_one_job():
    port = _free_port()
    procs = [subprocess.Popen([sys.executable, "-m", "tests.train.distributed_worker", str(port),
                               str(rank)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=ROOT, env=compile_cache.without(_env()))
             for rank in (0, 1)]  # side by side: no shared compilation cache
    outs = [p.communicate(timeout=180) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    facts = [json.loads([line for line in out.splitlines() if line.startswith("{")][-1])
             for out, _ in outs]
    assert sorted(f["process_index"] for f in facts) == [0, 1]
    for f in facts:
        assert f["process_count"] == 2 and f["device_count"] == 2 and f["local_device_count"] == 1
        assert f["padded"] == 4 and f["back"] == [0.0, 1.0, 2.0]
        # regions 0 + 1 + 2, the edge copy of region 2 padding to 4, shared 1 + 1
        assert f["sum"] == 0 + 1 + 2 + 2 + 2


@pytest.mark.parametrize("mesh, message", [
    ({"name": "ring"}, "mesh.name"),
    ({"name": "single", "coordinator_address": "localhost:1234", "num_processes": 2,
      "process_id": 0}, "needs mesh=regions"),
    ({"name": "regions", "coordinator_address": "localhost:1234"}, "mesh.num_processes"),
    ({"name": "regions", "coordinator_address": "localhost:1234", "num_processes": 2,
      "process_id": 2}, "mesh.process_id"),
    ({"name": "regions", "coordinator_address": "nowhere", "num_processes": 2,
      "process_id": 0}, "host:port"),
    ({"name": "regions", "num_processes": 2}, "need mesh.coordinator_address"),
])
def test_bad_mesh_config_is_one_clear_error(mesh, message):
    with pytest.raises(ConfigError, match=message):
        mesh_spec({"mesh": mesh})


def test_mesh_config_defaults_to_one_process():
    assert mesh_spec({"mesh": {"name": "regions", "coordinator_address": None}}) == MeshSpec(
        "regions")
    assert mesh_spec({}) == MeshSpec("single")
