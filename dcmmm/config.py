"""The config dict (Hydra's output, or a run's config.json) -> frozen specs.

This is where configs are checked: every key against its rule
(`dcmmm.config_keys.KEYS`), and the keys that go together, by `check_config`
before any data is read or any JAX computation runs; the spec builders below
read every value through the same rules. A bad value is one `ConfigError`
naming the key and the value. Keys absent from a config (a run made before
the key existed) take the spec's default, which equals the YAML's.

Checks that need the data (prior edges among the channels, the adstock
kernel within the training weeks) are in `run_spec` / `run_spec_for`.
"""

import dataclasses
from pathlib import Path

from dcmmm.analysis.budget import BudgetSpec
from dcmmm.config_keys import ABSENT, KEYS, check_value, read
from dcmmm.data.panel import DataSpec, Panel
from dcmmm.errors import ConfigError
from dcmmm.model.mmm import ModelSpec
from dcmmm.planning.spec import PlanSpec
from dcmmm.specs import EnsembleSpec, EvidenceSpec, GraphSpec, RunSpec, ValidateSpec
from dcmmm.train.loop import TrainSpec
from dcmmm.train.loss import LossSpec
from dcmmm.train.sharding import MeshSpec


def check_keys(cfg: dict) -> None:
    """Every key of a config (nested dict) checked against `KEYS`: unknown
    keys and bad values raise one ConfigError naming the key."""
    def walk(node: dict, prefix: str) -> None:
        for name, value in node.items():
            key = f"{prefix}{name}"
            if key in KEYS:
                check_value(key, value)
            elif isinstance(value, dict):
                walk(value, f"{key}.")
            else:
                raise ConfigError(f"unknown config key '{key}'")

    if not isinstance(cfg, dict):
        raise ConfigError(f"a config is a mapping of keys, got {type(cfg).__name__}")
    walk(cfg, "")


def check_config(cfg: dict) -> None:
    """Check every key of a training config (`check_keys`), and the keys that
    go together (mesh, validate, refresh, ensemble, lift tests, priors)."""
    check_keys(cfg)
    mesh_spec(cfg)
    backtest = read(cfg, "validate.mode", "holdout") == "backtest"
    ensemble = (read(cfg, "model.ensemble_size", 1) or 1) > 1  # asked for; null: see ensemble_size
    if read(cfg, "refresh.from", None) and (backtest or ensemble):
        raise ConfigError("refresh.from continues one fit: set model.ensemble_size=1 and "
                          "validate=holdout (ensembles and backtests of a refresh are not built yet)")
    if backtest and ensemble:
        raise ConfigError("validate=backtest fits one model per fold: set "
                          "model.ensemble_size=1 (or use validate=holdout)")
    if backtest and lift_tests_path(cfg) is not None:
        raise ConfigError("validate=backtest does not take lift tests (calibration.path) "
                          "yet: backtest without them, or use validate=holdout")
    if backtest and priors_path(cfg) is not None:
        raise ConfigError("validate=backtest does not take ROI priors (priors.path) yet: "
                          "backtest without them, or use validate=holdout")


def data_spec(cfg: dict, val_weeks: int, keys: dict | None = None) -> DataSpec:
    """DataSpec from the `data` group; `keys` (the generator's columns) replace
    the group's column keys."""
    group = dict(cfg["data"], **(keys or {}))

    def get(name, default=ABSENT):
        return read({"data": group}, f"data.{name}", default)

    return DataSpec(kpi=get("kpi"), channels=get("channels"), path=get("path", None),
                    date=get("date", DataSpec.date), region=get("region", None),
                    spend=get("spend", None), names=get("names", None),
                    controls=get("controls", None) or (), holdout_weeks=get("holdout_weeks"),
                    val_weeks=val_weeks, zero_runs=get("zero_runs", DataSpec.zero_runs))


def _edges(cfg: dict, key: str, names: list) -> tuple:
    out = []
    for pair in read(cfg, key, ()):
        if any(p not in names for p in pair):
            raise ConfigError(f"{key} entry {list(pair)} must be [parent, child] among {names}")
        out.append((names.index(pair[0]), names.index(pair[1])))
    return tuple(out)


def run_spec(cfg: dict, n_channels: int, n_controls: int, channel_names=(),
             has_spend: bool = False) -> RunSpec:
    """The RunSpec of the model/optim/train groups for C channels (named
    `channel_names`, with spend or not) and K controls."""
    names = list(channel_names)
    mode = read(cfg, "model.graph.mode")
    # A graph key absent from a config means a run made before the key existed
    # (load_run, refresh.from of an older run): it gets the graph that run had.
    graph = GraphSpec(mode, read(cfg, "model.graph.threshold"),
                      _edges(cfg, "model.graph.forbid", names),
                      _edges(cfg, "model.graph.require", names),
                      read(cfg, "model.graph.resamples", 0),
                      read(cfg, "model.graph.stability", 0.0))
    plan = read(cfg, "model.graph.shared_plan", "keep")
    model = ModelSpec(
        n_channels=n_channels,
        n_controls=n_controls,
        n_fourier=read(cfg, "model.baseline.n_fourier"),
        adstock_family=read(cfg, "model.adstock.family"),
        adstock_enabled=read(cfg, "model.adstock.enabled"),
        max_lag=read(cfg, "model.adstock.max_lag"),
        graph_mode=mode,
        graph_sign=read(cfg, "model.graph.sign", "any"),
        graph_plan=mode != "none" and not has_spend and plan == "remove",
        dynamics_enabled=read(cfg, "model.dynamics.enabled"),
        hidden=read(cfg, "model.dynamics.hidden"),
        max_log_ratio=read(cfg, "model.dynamics.max_log_ratio"),
        region_beta=read(cfg, "model.region.beta"),
        region_controls=read(cfg, "model.region.controls"),
        region_season=read(cfg, "model.region.seasonality"),
        beta_init=read(cfg, "model.beta_init"),
    )
    loss = LossSpec(
        huber_delta=read(cfg, "optim.huber_delta"),
        shrinkage=read(cfg, "model.region.shrinkage"),
        level_penalty=read(cfg, "model.baseline.level_penalty"),
        m_smoothness=read(cfg, "model.dynamics.smoothness"),
        m_distance=read(cfg, "model.dynamics.distance"),
        graph_sem=read(cfg, "model.graph.sem"),
        graph_l1=read(cfg, "model.graph.l1"),
        graph_enabled=mode != "none",
        graph_own_spend=has_spend,
        graph_floor=read(cfg, "model.graph.floor", 0.0),
        calibration_weight=read(cfg, "calibration.weight", LossSpec.calibration_weight),
        media_shrinkage=read(cfg, "model.media_shrinkage", LossSpec.media_shrinkage),
    )
    train = TrainSpec(
        max_steps=read(cfg, "train.max_steps"),
        steps_per_call=read(cfg, "train.steps_per_call"),
        patience=read(cfg, "train.patience"),
        learning_rate=read(cfg, "optim.learning_rate"),
        warmup_steps=read(cfg, "optim.warmup_steps"),
        end_lr_fraction=read(cfg, "optim.end_lr_fraction"),
        weight_decay=read(cfg, "optim.weight_decay"),
        clip_norm=read(cfg, "optim.clip_norm"),
        dual_every=read(cfg, "model.graph.dual_every"),
        rho_init=read(cfg, "model.graph.rho_init"),
        rho_max=read(cfg, "model.graph.rho_max"),
        progress=read(cfg, "train.progress"),
        replica_threads=read(cfg, "train.replica_threads", TrainSpec.replica_threads),
    )
    return RunSpec(model, loss, train, graph,
                   knot_weeks=read(cfg, "model.baseline.knot_weeks"),
                   val_weeks=read(cfg, "train.val_weeks"),
                   seed=read(cfg, "seed"),
                   refit_steps=read(cfg, "train.refit_steps"),
                   refit_lr_fraction=read(cfg, "train.refit_lr_fraction"),
                   calibration_boost=read(cfg, "calibration.phase1_boost",
                                          RunSpec.calibration_boost),
                   ensemble=ensemble_spec(cfg),
                   mesh=mesh_spec(cfg),
                   evidence=evidence_spec(cfg))


def run_spec_for(cfg: dict, panel: Panel) -> RunSpec:
    """`run_spec` for a panel, with the checks that need its weeks: the adstock
    kernel must fit in the training weeks."""
    spec = run_spec(cfg, panel.n_channels, panel.n_controls, panel.channels, panel.has_spend)
    if spec.model.max_lag > panel.n_train:
        raise ConfigError(f"model.adstock.max_lag must be at most the panel's {panel.n_train} "
                          f"training weeks, got {spec.model.max_lag}")
    return spec


def group_spec(cfg: dict, cls, prefix: str):
    """The frozen dataclass `cls` from the keys `prefix + field` of each of its
    fields, each checked by its `KEYS` rule (`read`); absent keys keep the
    dataclass's defaults."""
    default = cls()
    return cls(**{field.name: read(cfg, f"{prefix}{field.name}", getattr(default, field.name))
                  for field in dataclasses.fields(cls)})


DEFAULT_MEMBERS = 9  # an 80% interval from the members' range (README, "Ensembles")


def ensemble_size(cfg: dict) -> int:
    """Members of the run: `model.ensemble_size`, or where it is null (the
    default) DEFAULT_MEMBERS for a fit and 1 for a backtest or a refresh,
    which fit one model (README, "Ensembles: intervals on every number")."""
    size = read(cfg, "model.ensemble_size", 1)
    if size is not None:
        return size
    one_fit = (read(cfg, "validate.mode", "holdout") == "backtest"
               or read(cfg, "refresh.from", None) is not None)
    return 1 if one_fit else DEFAULT_MEMBERS


def ensemble_spec(cfg: dict) -> EnsembleSpec:
    """The `model.ensemble_*` keys (absent keys: a single fit; the size from
    `ensemble_size`)."""
    spec = group_spec(cfg, EnsembleSpec, "model.ensemble_")
    return dataclasses.replace(spec, size=ensemble_size(cfg))


def evidence_spec(cfg: dict) -> EvidenceSpec:
    """The `evidence` group (absent keys: EvidenceSpec's defaults)."""
    return group_spec(cfg, EvidenceSpec, "evidence.")


def mesh_spec(cfg: dict) -> MeshSpec:
    """The `mesh` group: layout name and the optional multi-host keys."""
    name = read(cfg, "mesh.name", MeshSpec.name)
    address = read(cfg, "mesh.coordinator_address", None)
    n_proc = read(cfg, "mesh.num_processes", None)
    rank = read(cfg, "mesh.process_id", None)
    if address is None:
        if n_proc is not None or rank is not None:
            raise ConfigError("mesh.num_processes and mesh.process_id need mesh.coordinator_address")
        return MeshSpec(name)
    if name != "regions":
        raise ConfigError(f"a multi-host job (mesh.coordinator_address={address!r}) needs "
                          "mesh=regions: with mesh=single every process would fit alone")
    if address == "auto":
        return MeshSpec(name, address, n_proc, rank)
    if ":" not in address:
        raise ConfigError(f"mesh.coordinator_address must be 'host:port' or 'auto', got {address!r}")
    if n_proc is None or rank is None:
        raise ConfigError(f"mesh.coordinator_address={address!r} needs mesh.num_processes "
                          "and mesh.process_id")
    if rank >= n_proc:
        raise ConfigError(f"mesh.process_id must be in [0, mesh.num_processes={n_proc}), got {rank}")
    return MeshSpec(name, address, n_proc, rank)


def validate_spec(cfg: dict) -> ValidateSpec:
    """The `validate` group (holdout when the group is absent)."""
    if cfg.get("validate") is None:
        return ValidateSpec()
    mode = read(cfg, "validate.mode")
    if mode == "holdout":
        return ValidateSpec()
    return ValidateSpec(mode, *(read(cfg, f"validate.{key}")
                                for key in ("n_folds", "step_weeks", "horizon_weeks")))


def budget_spec(cfg: dict) -> BudgetSpec:
    """The `budget` group (absent keys: BudgetSpec's defaults)."""
    return group_spec(cfg, BudgetSpec, "budget.")


def check_plan_config(cfg: dict) -> None:
    """Check a planning config (conf/plan.yaml): every key, the run directory
    given, and the plan's settings together (`PlanSpec`)."""
    check_keys(cfg)
    read(cfg, "run")
    plan_spec(cfg)


def plan_spec(cfg: dict) -> tuple[PlanSpec, str | None]:
    """(the `plan` group as a PlanSpec, `plan.path` or None); absent keys take
    PlanSpec's defaults."""
    spec = group_spec(cfg, PlanSpec, "plan.")
    return spec, read(cfg, "plan.path", None)


def refresh_settings(cfg: dict) -> tuple[Path | None, float | None]:
    """(`refresh.from`, `refresh.scale`); (None, None) without a refresh."""
    source = read(cfg, "refresh.from", None)
    if not source:
        return None, None
    return Path(source), read(cfg, "refresh.scale", None)


def lift_tests_path(cfg: dict) -> str | None:
    """`calibration.path`, or None without lift tests."""
    return read(cfg, "calibration.path", None) or None


def priors_path(cfg: dict) -> str | None:
    """`priors.path`, or None without ROI priors."""
    return read(cfg, "priors.path", None) or None
