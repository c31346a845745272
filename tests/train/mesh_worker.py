"""Run by test_sharding.py in a fresh process with 4 fake CPU devices
(XLA_FLAGS=--xla_force_host_platform_device_count=4 set before JAX starts).

Fits the same synthetic panel with mesh=single and mesh=regions and exits 1
with the first difference; prints one JSON line of facts for the test.
"""

import dataclasses
import json
import logging
import sys
from pathlib import Path

import jax
import numpy as np

import dcmmm  # noqa: F401  (appends its XLA flag to the device-count flag before JAX starts)
from dcmmm.config import MeshSpec, run_spec
from dcmmm.data.scaling import fit_scalers
from dcmmm.ensemble import fit_ensemble
from dcmmm.fitting import fit_panel, prepare
from dcmmm.rundir import load_data
from dcmmm.train.replicas import stack
from dcmmm.train.sharding import region_layout
from tests.test_run import TINY, _compose


class CompileCounter(logging.Handler):
    """Counts XLA compilations of the fused train call (jax_log_compiles messages)."""

    count = 0

    def emit(self, record):
        if "Finished XLA compilation of jit(call)" in record.getMessage():
            self.count += 1


def prepare_for(panel, scalers, spec):
    """(statics, batch, params) of `fitting.prepare`."""
    _, statics, batch, params = prepare(panel, scalers, spec)
    return statics, batch, params


def main(out: Path, n_regions: int) -> dict:
    from omegaconf import OmegaConf

    jax.config.update("jax_log_compiles", True)
    counter = CompileCounter()
    logging.getLogger("jax._src.dispatch").addHandler(counter)

    overrides = [o for o in TINY if not o.startswith(("data.n_regions", "train."))] + [
        f"data.n_regions={n_regions}", "train.max_steps=12", "train.steps_per_call=4",
        "train.refit_steps=4", "train.progress=false"]
    cfg = OmegaConf.to_container(_compose(overrides), resolve=True)
    panel, _, _ = load_data(cfg, out)
    scalers = fit_scalers(panel)
    spec = run_spec(cfg, panel.n_channels, panel.n_controls, panel.channels, panel.spend is not None)
    fits = {}
    for name in ("single", "regions"):
        s = dataclasses.replace(spec, mesh=MeshSpec(name))
        before = counter.count
        fit = fit_panel(panel, scalers, s, out / name / "ckpt", 8)
        params, result, batch = fit.fitted.params, fit.result, fit.fitted.batch
        pred = fit.fitted.prediction().y
        fits[name] = (params, np.asarray(pred), result, counter.count - before)
    (p1, y1, r1, _), (p2, y2, r2, compiles) = fits["single"], fits["regions"]
    assert r1.steps == r2.steps and r1.best_step == r2.best_step, (r1.steps, r2.steps)
    for (path, a), b in zip(jax.tree.leaves_with_path(p1), jax.tree.leaves(p2)):
        assert a.shape == b.shape, (jax.tree_util.keystr(path), a.shape, b.shape)
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=2e-4, atol=2e-5,
                                   err_msg=jax.tree_util.keystr(path))
    np.testing.assert_allclose(y2, y1, rtol=2e-4, atol=2e-5)
    for h1, h2 in zip(r1.history, r2.history):
        for key in ("fit", "shrinkage", "level", "dynamics", "loss", "val_mse", "grad_norm"):
            np.testing.assert_allclose(h2[key], h1[key], rtol=2e-4, atol=1e-7, err_msg=key)
    # an ensemble (replicas stacked on a leading axis): sharded members equal unsharded ones
    members = {}
    for name in ("single", "regions"):
        s = dataclasses.replace(spec, mesh=MeshSpec(name),
                                ensemble=dataclasses.replace(spec.ensemble, size=2))
        e_statics, e_batch, e_params = prepare_for(panel, scalers, s)
        res, _ = fit_ensemble(e_params, e_batch, e_statics, s)
        members[name] = res
    for (path, a), b in zip(jax.tree.leaves_with_path(members["single"].params),
                            jax.tree.leaves(members["regions"].params)):
        assert a.shape == b.shape, (jax.tree_util.keystr(path), a.shape, b.shape)
        np.testing.assert_allclose(np.asarray(b), np.asarray(a), rtol=2e-4, atol=2e-5,
                                   err_msg="ensemble " + jax.tree_util.keystr(path))
    assert (members["single"].steps == members["regions"].steps).all()
    layout = region_layout(MeshSpec("regions"), panel.n_regions)
    sharded = layout.batch_to_mesh(batch)
    import orbax.checkpoint as ocp

    with ocp.CheckpointManager((out / "regions" / "ckpt").absolute()) as manager:
        saved = manager.restore(manager.latest_step())
    return {"devices": jax.device_count(), "regions": panel.n_regions,
            "padded": layout.n_padded, "pred_shape": y2.shape,
            "x_spec": str(sharded.x.sharding.spec),
            "x_shard_shape": sharded.x.addressable_shards[0].data.shape,
            "region_w": np.asarray(sharded.region_w).tolist(),
            "regions_compiles": compiles,
            "checkpoint_regions": saved["best_params"]["region"]["intercept"].shape[0],
            "ensemble_members": int(members["regions"].steps.shape[0]),
            "stacked_x_spec": str(layout.stacked().batch_to_mesh(stack([batch, batch])).x.sharding.spec)}


if __name__ == "__main__":
    facts = main(Path(sys.argv[1]), int(sys.argv[2]))
    print(json.dumps(facts, default=list))
