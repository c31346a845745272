"""Refresh: continue a finished run on data with new weeks.

    python train.py ... data.path=with_new_weeks.csv refresh.from=outputs/<finished run>

The new data holds the finished run's regions, channels and controls and begins
with its weeks (their values may be revised); the weeks after them are new. The
refresh

- scales the data with the finished run's scalers and keeps its trend origin
  and level knots (adding knots for the new weeks), so that the finished run's
  parameters mean the same and predict the same on the old weeks;
- starts from those parameters, the level flat at its last value over the new
  weeks;
- adds to the loss a Gaussian prior of standard deviation `refresh.scale`
  around them (dcmmm.train.loss; `refresh.scale: null` is a warm start only);
- reports how each channel's ROI and each graph edge moved (refresh.csv,
  refresh_edges.csv), comparing like with like: the new parameters over the
  old weeks against the finished run's channels.csv and dag.csv.
"""

import dataclasses
import json
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from dcmmm.config import run_spec
from dcmmm.data.panel import Panel
from dcmmm.data.scaling import Scalers
from dcmmm.errors import ConfigError, DataError
from dcmmm.model.baseline import knot_positions
from dcmmm.train.checkpoint import Checkpointer
from dcmmm.train.loop import Progress, init_state, make_optimizer, static_part
from dcmmm.train.loss import Anchor

REQUIRED = ("config.json", "run_info.json", "scalers.json", "checkpoints", "metrics.json",
            "channels.csv", "dag.csv", "predictions.csv", "decomposition.csv")
# model keys that may differ between the finished run and its refresh
FREE_MODEL_KEYS = ("ensemble_size", "ensemble_interval", "ensemble_jitter", "ensemble_block_weeks",
                   "ensemble_zero_tests")


class Continuation(NamedTuple):
    """What makes parameters mean the same on a longer panel."""

    knots: np.ndarray  # week indices of the level's knots
    trend_origin: int  # week at which the trend feature is 0


def continuation_of(run_info: dict) -> Continuation | None:
    """The level knots and trend origin a run recorded (None for a run made before they were)."""
    if "level_knots" not in run_info:
        return None
    return Continuation(np.asarray(run_info["level_knots"], np.float64), int(run_info["trend_origin"]))


@dataclasses.dataclass(frozen=True, eq=False)
class Previous:
    """A finished run, validated against the panel that continues it."""

    run_dir: Path
    scalers: Scalers
    params: dict  # its final parameters (its own level knots)
    old_knots: np.ndarray
    continuation: Continuation  # for the new panel
    n_weeks: int  # the finished run's weeks (the first weeks of the new panel)
    scale: float | None  # refresh.scale
    channels: pd.DataFrame  # its channels.csv
    dag: pd.DataFrame  # its dag.csv

    def start(self, init: dict) -> tuple[dict, Anchor | None]:
        """The refresh's initial parameters (structure of `init`) and the pull toward them."""
        # host copies: restored arrays are committed to a device, which a jitted call
        # compiles for anew (a second compilation of the training step)
        start = jax.tree.map(lambda a: jnp.asarray(np.asarray(a)), self.params)
        new_knots = self.continuation.knots
        start["region"]["level"] = jnp.asarray(
            map_level(np.asarray(self.params["region"]["level"]), self.old_knots, new_knots),
            jnp.float32)
        for a, b in zip(jax.tree.leaves(start), jax.tree.leaves(init)):
            assert a.shape == b.shape, (a.shape, b.shape)
        if self.scale is None:
            return start, None
        weight = jax.tree.map(jnp.ones_like, start)
        known = (new_knots[1:] <= self.old_knots[-1]).astype(np.float32)  # increments of old weeks
        weight["region"]["level"] = jnp.broadcast_to(jnp.asarray(known), start["region"]["level"].shape)
        return start, Anchor(start, weight, jnp.asarray(self.scale, jnp.float32))


def map_level(increments: np.ndarray, old_knots: np.ndarray, new_knots: np.ndarray) -> np.ndarray:
    """Level increments [R, J_old − 1] at `old_knots` -> [R, J_new − 1] at `new_knots`
    (a superset of the old knots): the same piecewise-linear level, flat after the
    old last knot."""
    values = np.concatenate([np.zeros((increments.shape[0], 1)), np.cumsum(increments, axis=1)], 1)
    mapped = np.stack([np.interp(new_knots, old_knots, v) for v in values])
    return np.diff(mapped, axis=1)


def _flat(tree: dict, prefix: str = "") -> dict:
    """{"a": {"b": 1}} -> {"a.b": 1}."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _read(run_dir: Path, name: str, **kw) -> pd.DataFrame:
    return pd.read_csv(run_dir / name, **kw)


def load_previous(source: Path, scale: float | None, cfg: dict, panel: Panel) -> Previous:
    """The finished run at `source`, checked against this run's config and panel."""
    run_dir = Path(source)
    if not run_dir.is_dir():
        raise ConfigError(f"refresh.from: '{run_dir}' is not a directory")
    missing = [name for name in REQUIRED if not (run_dir / name).exists()]
    if missing:
        raise ConfigError(f"refresh.from: '{run_dir}' is not a finished dcmmm run "
                          f"({', '.join(missing)} missing)")
    old_cfg = json.loads((run_dir / "config.json").read_text())
    info = json.loads((run_dir / "run_info.json").read_text())
    old_model, new_model = _flat(old_cfg.get("model", {})), _flat(cfg.get("model", {}))
    differ = sorted(k for k in set(old_model) | set(new_model)
                    if k not in FREE_MODEL_KEYS and old_model.get(k) != new_model.get(k))
    if differ:
        raise ConfigError("refresh: the model must be the finished run's; these model settings "
                          "differ: " + ", ".join(f"model.{k} ({old_model.get(k)!r} there, "
                                                 f"{new_model.get(k)!r} here)" for k in differ))
    if list(info["channels"]) != list(panel.channels):
        raise DataError(f"refresh: the data's channels {list(panel.channels)} are not the "
                        f"finished run's {list(info['channels'])}")
    controls = [c.split(":", 1)[1] for c in _read(run_dir, "decomposition.csv", nrows=0).columns
                if c.startswith("control:")]
    if controls != list(panel.controls):
        raise DataError(f"refresh: the data's controls {list(panel.controls)} are not the "
                        f"finished run's {controls}")
    pred = _read(run_dir, "predictions.csv", usecols=["region", "date"], dtype=str)
    regions = list(dict.fromkeys(pred["region"]))
    if regions != [str(r) for r in panel.regions]:
        raise DataError(f"refresh: the data's {panel.n_regions} regions are not the finished "
                        f"run's {len(regions)} ({', '.join(regions[:3])}, ...)")
    weeks = list(pred["date"][pred["region"] == regions[0]])
    labels = [str(w) for w in panel.period_labels()]
    if panel.n_weeks < len(weeks) or labels[:len(weeks)] != weeks:
        raise DataError(f"refresh: the data must begin with the finished run's {len(weeks)} weeks "
                        f"({weeks[0]} to {weeks[-1]}); it has {labels[0]} to {labels[-1]}")
    old = continuation_of(info)
    n_train_old = info["split"]["fit_weeks"] + info["split"]["validation_weeks"]
    knot_weeks = int(old_cfg["model"]["baseline"]["knot_weeks"])
    if old is None:  # a run made before runs recorded their knots: the defaults it used
        old = Continuation(knot_positions(n_train_old, knot_weeks), n_train_old - 1)
    new_knots = np.union1d(old.knots, knot_positions(panel.n_train, knot_weeks))

    old_spec = run_spec(old_cfg, panel.n_channels, panel.n_controls, panel.channels,
                        panel.spend is not None)
    params = _restore(run_dir, old_spec, panel, len(old.knots))
    return Previous(run_dir, Scalers.load(run_dir / "scalers.json"), params, old.knots,
                    Continuation(new_knots, old.trend_origin), len(weeks), scale,
                    _read(run_dir, "channels.csv"), _read(run_dir, "dag.csv"))


def _restore(run_dir: Path, old_spec, panel: Panel, n_knots: int) -> dict:
    """The finished run's final parameters, restored into their shapes."""
    from dcmmm.model.mmm import init_params  # a template of the structure only
    from dcmmm.train.inputs import make_split, make_statics

    split = make_split(panel, old_spec.val_weeks)
    statics = make_statics(panel, split, old_spec.model.n_fourier, old_spec.knot_weeks,
                           old_spec.graph.mode, old_spec.graph.forbid, old_spec.graph.require,
                           knots=np.arange(n_knots, dtype=np.float64))
    x = np.ones((panel.n_regions, panel.n_weeks, panel.n_channels))
    template = init_params(old_spec.model, jax.random.key(0), x, np.ones(x.shape[:2]),
                           np.ones(x.shape[:2]), statics)
    state = init_state(template, make_optimizer(static_part(old_spec.train)), old_spec.train,
                       old_spec.seed)
    ckpt = Checkpointer(run_dir / "checkpoints", 0)
    try:
        saved = ckpt.restore_latest(Progress(state, np.inf, template, 0, False))
    except Exception as err:  # noqa: BLE001 (orbax raises many kinds on a structure mismatch)
        raise ConfigError(f"refresh.from: the checkpoint of '{run_dir}' does not match its "
                          f"config ({type(err).__name__})") from None
    finally:
        ckpt.close()
    if saved is None or not saved.final:
        raise ConfigError(f"refresh.from: '{run_dir}' has no final checkpoint")
    return saved.progress.best_params


def compare(previous: Previous, after_old_weeks: pd.DataFrame, after: pd.DataFrame,
            dag: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """refresh.csv, refresh_edges.csv and metrics.json's summary.

    `after_old_weeks`: the refreshed model's channels table over the finished
    run's weeks; `after`: its channels.csv (all weeks); `dag`: its dag.csv.
    """
    before = previous.channels.set_index("channel")
    same = after_old_weeks.set_index("channel")
    table = pd.DataFrame({"channel": after["channel"]}).set_index("channel")
    table["roi_before"] = before["roi"]
    table["roi_after"] = same["roi"]
    table["roi_change"] = table["roi_after"] - table["roi_before"]
    with np.errstate(divide="ignore", invalid="ignore"):
        table["roi_change_pct"] = 100 * table["roi_change"] / table["roi_before"].abs()
    table["incremental_total_before"] = before["incremental_total"]
    table["incremental_total_after"] = same["incremental_total"]
    table["mroi_before"] = before["mroi"]
    table["mroi_after"] = same["mroi"]
    table["roi_all_weeks"] = after.set_index("channel")["roi"]
    table = table.reset_index()

    key = ["parent", "child"]
    edges = previous.dag.rename(columns={"weight": "weight_before"}).merge(
        dag.rename(columns={"weight": "weight_after"}), on=key, how="outer")
    edges = edges.fillna({"weight_before": 0.0, "weight_after": 0.0})
    edges["change"] = edges["weight_after"] - edges["weight_before"]
    edges["status"] = np.select([edges["weight_before"] == 0, edges["weight_after"] == 0],
                                ["added", "dropped"], "kept")
    edges = edges.sort_values(key).reset_index(drop=True)

    pct = table["roi_change_pct"].to_numpy(float)
    summary = {
        "from": str(previous.run_dir), "scale": previous.scale,
        "old_weeks": previous.n_weeks,
        "max_abs_roi_change_pct": float(np.nanmax(np.abs(pct))) if np.isfinite(pct).any() else None,
        "median_abs_roi_change_pct": float(np.nanmedian(np.abs(pct))) if np.isfinite(pct).any() else None,
        "edges_kept": int((edges["status"] == "kept").sum()),
        "edges_added": int((edges["status"] == "added").sum()),
        "edges_dropped": int((edges["status"] == "dropped").sum()),
    }
    return table, edges, summary
