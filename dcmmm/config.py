"""Plain config dict (from Hydra) -> frozen dataclasses used below `run.py`.

Nothing below this module sees a DictConfig: jitted code closes over these
hashable specs only.
"""

import dataclasses
from dataclasses import dataclass

from dcmmm.errors import ConfigError
from dcmmm.model.adstock import FAMILIES
from dcmmm.model.graph import MODES, SIGNS
from dcmmm.model.mmm import ModelSpec
from dcmmm.train.loop import TrainSpec
from dcmmm.train.loss import LossSpec
from dcmmm.train.sharding import MESHES, MeshSpec

PLANS = ("remove", "keep")


@dataclass(frozen=True)
class GraphSpec:
    """How the learned graph becomes the one every output uses: |W| ≥ `threshold`,
    found in at least `stability` of `resamples` bootstrap refits (0 resamples:
    no stability selection), `forbid` / `require` as (parent, child) indices."""

    mode: str = "notears"
    threshold: float = 0.1
    forbid: tuple = ()
    require: tuple = ()
    resamples: int = 20
    stability: float = 0.8


@dataclass(frozen=True)
class EnsembleSpec:
    """Ensembles (`model.ensemble_*`): E members in one vmapped program.

    Member 0 is the plain fit (its parameters are the run's point estimates);
    members 1.. start from initial media parameters perturbed by `jitter`
    (raw units) and weigh the fitted cells by a Bayesian bootstrap (Exp(1)
    per region and block of `block_weeks` weeks). Every reported number gets
    the `interval` of the members as `<col>_lo` / `<col>_hi`; with
    `zero_tests`, effects whose channel may have brought nothing reach 0.
    """

    size: int = 1
    interval: float = 0.8
    jitter: float = 1.0
    block_weeks: int = 13
    zero_tests: bool = True


@dataclass(frozen=True)
class RunSpec:
    model: ModelSpec
    loss: LossSpec
    train: TrainSpec
    graph: GraphSpec
    knot_weeks: int
    val_weeks: int
    seed: int
    refit_steps: int = 0
    refit_lr_fraction: float = 0.2
    ensemble: EnsembleSpec = EnsembleSpec()
    mesh: MeshSpec = MeshSpec()


def refit_train_spec(spec: RunSpec) -> TrainSpec:
    """Phase 2 (refit on all training weeks): `refit_steps` steps at
    `refit_lr_fraction` of the learning rate, no early stopping."""
    return dataclasses.replace(
        spec.train, max_steps=spec.refit_steps, warmup_steps=min(50, spec.refit_steps // 4),
        learning_rate=spec.train.learning_rate * spec.refit_lr_fraction,
        patience=spec.refit_steps)


@dataclass(frozen=True)
class ValidateSpec:
    """How a run is validated (the `validate` group).

    holdout: one split, the last `data.holdout_weeks` weeks are the holdout.
    backtest: `n_folds` rolling origins `step_weeks` apart, the last one the
    holdout split (origin = T − holdout_weeks); each fold is scored on the
    `horizon_weeks` weeks after its origin.
    """

    mode: str = "holdout"
    n_folds: int = 1
    step_weeks: int = 13
    horizon_weeks: int = 13


VALIDATE_MODES = ("holdout", "backtest")


def validate_spec(cfg: dict) -> ValidateSpec:
    """The `validate` group as a ValidateSpec (holdout when the group is absent)."""
    node = cfg.get("validate")
    if node is None:
        return ValidateSpec()
    mode = node.get("mode") if isinstance(node, dict) else None
    if mode not in VALIDATE_MODES:
        raise ConfigError(f"validate.mode must be one of {VALIDATE_MODES}, got {mode!r}")
    if mode == "holdout":
        return ValidateSpec()
    for key in ("n_folds", "step_weeks", "horizon_weeks"):
        value = node.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"validate.{key} must be an integer >= 1, got {value!r}")
    return ValidateSpec(mode, node["n_folds"], node["step_weeks"], node["horizon_weeks"])


_MISSING = object()


def _get(cfg: dict, dotted: str, default=_MISSING):
    """The value at `dotted`; `default` where it is absent (a ConfigError without one)."""
    node = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is not _MISSING:
                return default
            raise ConfigError(f"missing config key '{dotted}'")
        node = node[part]
    return node


def _positive(cfg, key, cast=float, allow_zero=False, default=_MISSING):
    value = _get(cfg, key, default)
    try:
        value = cast(value)
    except (TypeError, ValueError):
        raise ConfigError(f"config key '{key}' must be a number, got {value!r}") from None
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(f"config key '{key}' must be {'>= 0' if allow_zero else '> 0'}, got {value}")
    return value


def run_spec(cfg: dict, n_channels: int, n_controls: int, channel_names=(),
             has_spend: bool = False) -> RunSpec:
    """Validate the model/optim/train groups and build the specs."""
    family = _get(cfg, "model.adstock.family")
    if family not in FAMILIES:
        raise ConfigError(f"model.adstock.family must be one of {FAMILIES}, got {family!r}")
    mode = _get(cfg, "model.graph.mode")
    if mode not in MODES:
        raise ConfigError(f"model.graph.mode must be one of {MODES}, got {mode!r}")
    names = list(channel_names)

    def edges(key):
        out = []
        for pair in _get(cfg, key) or []:
            if len(pair) != 2 or any(p not in names for p in pair):
                raise ConfigError(f"{key} entry {list(pair)} must be [parent, child] among {names}")
            out.append((names.index(pair[0]), names.index(pair[1])))
        return tuple(out)

    # A key absent from a config means a run made before the key existed
    # (load_run, refresh.from): it gets the behaviour that run had.
    sign = _get(cfg, "model.graph.sign", "any")
    if sign not in SIGNS:
        raise ConfigError(f"model.graph.sign must be one of {SIGNS}, got {sign!r}")
    plan = _get(cfg, "model.graph.shared_plan", "keep")
    if plan not in PLANS:
        raise ConfigError(f"model.graph.shared_plan must be one of {PLANS}, got {plan!r}")
    stability = _positive(cfg, "model.graph.stability", allow_zero=True, default=0.0)
    if stability > 1:
        raise ConfigError(f"model.graph.stability must be a share in [0, 1], got {stability}")
    graph = GraphSpec(mode, _positive(cfg, "model.graph.threshold", allow_zero=True),
                      edges("model.graph.forbid"), edges("model.graph.require"),
                      _positive(cfg, "model.graph.resamples", int, allow_zero=True, default=0),
                      stability)
    model = ModelSpec(
        n_channels=n_channels,
        n_controls=n_controls,
        n_fourier=_positive(cfg, "model.baseline.n_fourier", int, allow_zero=True),
        adstock_family=family,
        adstock_enabled=bool(_get(cfg, "model.adstock.enabled")),
        max_lag=_positive(cfg, "model.adstock.max_lag", int),
        graph_mode=mode,
        graph_sign=sign,
        graph_plan=mode != "none" and not has_spend and plan == "remove",
        dynamics_enabled=bool(_get(cfg, "model.dynamics.enabled")),
        hidden=_positive(cfg, "model.dynamics.hidden", int),
        max_log_ratio=_positive(cfg, "model.dynamics.max_log_ratio"),
        region_beta=bool(_get(cfg, "model.region.beta")),
        region_controls=bool(_get(cfg, "model.region.controls")),
        region_season=bool(_get(cfg, "model.region.seasonality")),
        beta_init=_positive(cfg, "model.beta_init"),
    )
    loss = LossSpec(
        huber_delta=_positive(cfg, "optim.huber_delta"),
        shrinkage=_positive(cfg, "model.region.shrinkage", allow_zero=True),
        level_penalty=_positive(cfg, "model.baseline.level_penalty", allow_zero=True),
        m_smoothness=_positive(cfg, "model.dynamics.smoothness", allow_zero=True),
        m_distance=_positive(cfg, "model.dynamics.distance", allow_zero=True),
        graph_sem=_positive(cfg, "model.graph.sem", allow_zero=True),
        graph_l1=_positive(cfg, "model.graph.l1", allow_zero=True),
        graph_enabled=mode != "none",
        graph_own_spend=has_spend,
        graph_floor=_positive(cfg, "model.graph.floor", allow_zero=True, default=0.0),
        calibration_weight=_positive(cfg, "calibration.weight", allow_zero=True, default=1.0),
    )
    train = TrainSpec(
        max_steps=_positive(cfg, "train.max_steps", int),
        steps_per_call=_positive(cfg, "train.steps_per_call", int),
        patience=_positive(cfg, "train.patience", int),
        learning_rate=_positive(cfg, "optim.learning_rate"),
        warmup_steps=_positive(cfg, "optim.warmup_steps", int, allow_zero=True),
        end_lr_fraction=_positive(cfg, "optim.end_lr_fraction", allow_zero=True),
        weight_decay=_positive(cfg, "optim.weight_decay", allow_zero=True),
        clip_norm=_positive(cfg, "optim.clip_norm"),
        dual_every=_positive(cfg, "model.graph.dual_every", int),
        rho_init=_positive(cfg, "model.graph.rho_init"),
        rho_max=_positive(cfg, "model.graph.rho_max"),
        progress=bool(_get(cfg, "train.progress")),
        replica_threads=_positive(cfg, "train.replica_threads", int, allow_zero=True, default=0),
    )
    return RunSpec(model, loss, train, graph,
                   knot_weeks=_positive(cfg, "model.baseline.knot_weeks", int),
                   val_weeks=_positive(cfg, "train.val_weeks", int, allow_zero=True),
                   seed=int(_get(cfg, "seed")),
                   refit_steps=_positive(cfg, "train.refit_steps", int, allow_zero=True),
                   refit_lr_fraction=_positive(cfg, "train.refit_lr_fraction"),
                   ensemble=ensemble_spec(cfg),
                   mesh=mesh_spec(cfg))


def ensemble_spec(cfg: dict) -> EnsembleSpec:
    """The `model.ensemble_*` keys (absent keys: a single fit)."""
    model = dict(cfg.get("model") or {})
    d = EnsembleSpec()
    values = {k: model.get(f"ensemble_{k}", getattr(d, k)) for k in ("size", "interval", "jitter",
                                                                      "block_weeks")}
    sub = {"model": {f"ensemble_{k}": v for k, v in values.items()}}
    spec = EnsembleSpec(size=_positive(sub, "model.ensemble_size", int),
                        interval=_positive(sub, "model.ensemble_interval"),
                        jitter=_positive(sub, "model.ensemble_jitter", allow_zero=True),
                        block_weeks=_positive(sub, "model.ensemble_block_weeks", int,
                                              allow_zero=True))
    if not spec.interval < 1:
        raise ConfigError(f"model.ensemble_interval must be in (0, 1), got {spec.interval}")
    zero = model.get("ensemble_zero_tests", d.zero_tests)
    if not isinstance(zero, bool):
        raise ConfigError(f"model.ensemble_zero_tests must be true or false, got {zero!r}")
    return dataclasses.replace(spec, zero_tests=zero)


def mesh_spec(cfg: dict) -> MeshSpec:
    """Validate the `mesh` group: layout name and the optional multi-host keys."""
    mesh = cfg.get("mesh") or {}
    name = mesh.get("name", "single")
    if name not in MESHES:
        raise ConfigError(f"mesh.name must be one of {MESHES}, got {name!r}")
    address = mesh.get("coordinator_address")
    n_proc, rank = mesh.get("num_processes"), mesh.get("process_id")
    if address is None:
        if n_proc is not None or rank is not None:
            raise ConfigError("mesh.num_processes and mesh.process_id need mesh.coordinator_address")
        return MeshSpec(name)
    if name != "regions":
        raise ConfigError(f"a multi-host job (mesh.coordinator_address={address!r}) needs "
                          "mesh=regions: with mesh=single every process would fit alone")
    if address == "auto":
        return MeshSpec(name, address, None if n_proc is None else int(n_proc),
                        None if rank is None else int(rank))
    if not isinstance(address, str) or ":" not in address:
        raise ConfigError(f"mesh.coordinator_address must be 'host:port' or 'auto', got {address!r}")
    if n_proc is None or rank is None:
        raise ConfigError(f"mesh.coordinator_address={address!r} needs mesh.num_processes "
                          "and mesh.process_id")
    n_proc = _positive(cfg, "mesh.num_processes", int)
    rank = _positive(cfg, "mesh.process_id", int, allow_zero=True)
    if rank >= n_proc:
        raise ConfigError(f"mesh.process_id must be in [0, mesh.num_processes={n_proc}), got {rank}")
    return MeshSpec(name, address, n_proc, rank)
