"""The config dict (Hydra's output, or a run's config.json) -> frozen specs.

This is the one place config keys are checked. `KEYS` holds a rule for every
key of `conf/` (tests/test_config.py checks both ways that the composed
configs and `KEYS` list the same keys); `check_config` checks a whole config
against it before any data is read or any JAX computation runs, and the spec
builders below read every value through the same rules. A bad value is one
`ConfigError` naming the key and the value: numbers must be finite and in
range, integers whole, choices among their options. Keys absent from a config
(a run made before the key existed) take the spec's default, which equals
the YAML's.

Checks that need the data (prior edges among the channels, the adstock
kernel within the training weeks) are in `run_spec` / `run_spec_for`.
"""

import dataclasses
import math
from pathlib import Path
from typing import NamedTuple

from dcmmm.analysis.budget import BudgetSpec
from dcmmm.data.panel import DataSpec, Panel
from dcmmm.data.synthetic import SCENARIOS
from dcmmm.errors import ConfigError
from dcmmm.model.adstock import FAMILIES
from dcmmm.model.graph import MODES
from dcmmm.model.mmm import ModelSpec
from dcmmm.specs import VALIDATE_MODES, EnsembleSpec, GraphSpec, RunSpec, ValidateSpec
from dcmmm.train.loop import TrainSpec
from dcmmm.train.loss import LossSpec
from dcmmm.train.sharding import MESHES, MeshSpec

MISSING = "???"  # Hydra's mark of a value the user must give


class Rule(NamedTuple):
    """What a key may hold. kind: int, float, bool, choice, text, names (a list
    of column names), edges (a list of [parent, child]) or bound (a number, or
    {channel: number} with an optional "default")."""

    kind: str
    low: float | None = None  # smallest value allowed (numbers, bounds)
    open_low: bool = False  # `low` itself not allowed
    high: float | None = None  # largest value (exclusive), or None
    null: bool = False  # null allowed (it then means what conf/ says)
    choices: tuple = ()


def _int(low: int, null: bool = False) -> Rule:
    return Rule("int", low, null=null)


def _float(low: float = 0.0, positive: bool = False, null: bool = False) -> Rule:
    return Rule("float", low, open_low=positive, null=null)


POSITIVE = _float(positive=True)
NON_NEGATIVE = _float()
FLAG = Rule("bool")
TEXT = Rule("text")
OPTIONAL_TEXT = Rule("text", null=True)


def _choice(*options) -> Rule:
    return Rule("choice", choices=tuple(options))


KEYS: dict[str, Rule] = {
    "seed": _int(0),
    "data.source": _choice("synthetic", "file"),
    "data.scenario": _choice(*SCENARIOS),
    "data.synthetic_seed": _int(0),
    "data.n_regions": _int(1, null=True),
    "data.n_weeks": _int(1, null=True),
    "data.path": TEXT,
    "data.date": TEXT,
    "data.region": OPTIONAL_TEXT,
    "data.kpi": TEXT,
    "data.channels": Rule("names"),
    "data.spend": Rule("names", null=True),
    "data.names": Rule("names", null=True),
    "data.controls": Rule("names", null=True),
    "data.holdout_weeks": _int(1),
    "data.zero_runs": _choice("mask", "keep"),
    "model.adstock.enabled": FLAG,
    "model.adstock.family": _choice(*FAMILIES),
    "model.adstock.max_lag": _int(1),
    "model.graph.mode": _choice(*MODES),
    "model.graph.threshold": NON_NEGATIVE,
    "model.graph.l1": NON_NEGATIVE,
    "model.graph.sem": NON_NEGATIVE,
    "model.graph.dual_every": _int(1),
    "model.graph.rho_init": POSITIVE,
    "model.graph.rho_max": POSITIVE,
    "model.graph.forbid": Rule("edges"),
    "model.graph.require": Rule("edges"),
    "model.dynamics.enabled": FLAG,
    "model.dynamics.hidden": _int(1),
    "model.dynamics.max_log_ratio": POSITIVE,
    "model.dynamics.smoothness": NON_NEGATIVE,
    "model.dynamics.distance": NON_NEGATIVE,
    "model.baseline.n_fourier": _int(0),
    "model.baseline.knot_weeks": _int(1),
    "model.baseline.level_penalty": NON_NEGATIVE,
    "model.region.shrinkage": NON_NEGATIVE,
    "model.region.beta": FLAG,
    "model.region.controls": FLAG,
    "model.region.seasonality": FLAG,
    "model.beta_init": POSITIVE,
    "model.ensemble_size": _int(1),
    "model.ensemble_interval": Rule("float", 0.0, open_low=True, high=1.0),
    "model.ensemble_jitter": NON_NEGATIVE,
    "model.ensemble_block_weeks": _int(0),
    "model.ensemble_zero_tests": FLAG,
    "optim.learning_rate": POSITIVE,
    "optim.warmup_steps": _int(0),
    "optim.end_lr_fraction": NON_NEGATIVE,
    "optim.weight_decay": NON_NEGATIVE,
    "optim.clip_norm": POSITIVE,
    "optim.huber_delta": POSITIVE,
    "train.max_steps": _int(1),
    "train.val_weeks": _int(0),
    "train.patience": _int(1),
    "train.steps_per_call": _int(1),
    "train.checkpoint_every": _int(0),
    "train.progress": FLAG,
    "train.refit_steps": _int(0),
    "train.refit_lr_fraction": POSITIVE,
    "train.replica_threads": _int(0),
    "mesh.name": _choice(*MESHES),
    "mesh.coordinator_address": OPTIONAL_TEXT,
    "mesh.num_processes": _int(1, null=True),
    "mesh.process_id": _int(0, null=True),
    "budget.window_weeks": _int(1),
    "budget.total": _float(positive=True, null=True),
    "budget.lower": Rule("bound", 0.0),
    "budget.upper": Rule("bound", 0.0, open_low=True),
    "calibration.path": OPTIONAL_TEXT,
    "calibration.weight": NON_NEGATIVE,
    "refresh.from": OPTIONAL_TEXT,
    "refresh.scale": _float(positive=True, null=True),
    "validate.mode": _choice(*VALIDATE_MODES),
    "validate.n_folds": _int(1),
    "validate.step_weeks": _int(1),
    "validate.horizon_weeks": _int(1),
}


def _range(rule: Rule) -> str:
    if rule.high is not None:
        return f"in ({rule.low:g}, {rule.high:g})"
    return f"{'>' if rule.open_low else '>='} {rule.low:g}"


def _number(key: str, value, rule: Rule, what: str):
    """`value` as a finite int or float within the rule's range, else ConfigError."""
    number = None
    if not isinstance(value, bool):
        try:
            number = float(value)
        except (TypeError, ValueError):
            pass
    ok = number is not None and math.isfinite(number)
    if ok and rule.kind == "int":
        ok = number.is_integer()
    if ok and rule.low is not None:
        ok = number > rule.low if rule.open_low else number >= rule.low
    if ok and rule.high is not None:
        ok = number < rule.high
    if not ok:
        kind = "an integer" if rule.kind == "int" else "a finite number"
        raise ConfigError(f"{what} must be {kind} {_range(rule)}, got {value!r}")
    return int(number) if rule.kind == "int" else number


def check_value(key: str, value):
    """`value` of the dotted config key `key` checked against `KEYS[key]`;
    returns it as the spec holds it (int, float, tuple, ...). ConfigError otherwise."""
    rule = KEYS[key]
    if isinstance(value, str) and value == MISSING:
        raise ConfigError(f"{key} is required")
    if value is None:
        if rule.null:
            return None
        raise ConfigError(f"{key} must be set, got null")
    if rule.kind in ("int", "float"):
        return _number(key, value, rule, key)
    if rule.kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if rule.kind == "choice":
        if value not in rule.choices:
            raise ConfigError(f"{key} must be one of {list(rule.choices)}, got {value!r}")
        return value
    if rule.kind == "text":
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{key} must be a text, got {value!r}")
        return value
    if rule.kind == "names":
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise ConfigError(f"{key} must be a list of column names, got {value!r}")
        return tuple(value)
    if rule.kind == "edges":
        if not isinstance(value, list | tuple) or any(
                isinstance(p, str) or not isinstance(p, list | tuple) or len(p) != 2 for p in value):
            raise ConfigError(f"{key} must be a list of [parent, child] pairs, got {value!r}")
        return tuple(tuple(p) for p in value)
    if isinstance(value, dict):  # bound: per channel, names checked by the budget optimiser
        return {name: _number(key, v, rule, f"{key}.{name}") for name, v in value.items()}
    return _number(key, value, rule, key)


def check_config(cfg: dict) -> None:
    """Check every key of a config (nested dict) against `KEYS`, and the keys
    that go together (mesh, validate, refresh, ensemble, lift tests): unknown
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
    mesh_spec(cfg)
    backtest = _get(cfg, "validate.mode", "holdout") == "backtest"
    ensemble = _get(cfg, "model.ensemble_size", 1) > 1
    if _get(cfg, "refresh.from", None) and (backtest or ensemble):
        raise ConfigError("refresh.from continues one fit: set model.ensemble_size=1 and "
                          "validate=holdout (ensembles and backtests of a refresh are not built yet)")
    if backtest and ensemble:
        raise ConfigError("validate=backtest fits one model per fold: set "
                          "model.ensemble_size=1 (or use validate=holdout)")
    if backtest and lift_tests_path(cfg) is not None:
        raise ConfigError("validate=backtest does not take lift tests (calibration.path) "
                          "yet: backtest without them, or use validate=holdout")


_ABSENT = object()


def _get(cfg: dict, key: str, default=_ABSENT):
    """The checked value at the dotted `key`; `default` where it is absent (a
    ConfigError without one)."""
    node = cfg
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is _ABSENT:
                raise ConfigError(f"missing config key '{key}'")
            return default
        node = node[part]
    return check_value(key, node)


def data_spec(cfg: dict, val_weeks: int, keys: dict | None = None) -> DataSpec:
    """DataSpec from the `data` group; `keys` (the generator's columns) replace
    the group's column keys."""
    group = dict(cfg["data"], **(keys or {}))

    def get(name, default=_ABSENT):
        return _get({"data": group}, f"data.{name}", default)

    return DataSpec(kpi=get("kpi"), channels=get("channels"), path=get("path", None),
                    date=get("date", DataSpec.date), region=get("region", None),
                    spend=get("spend", None), names=get("names", None),
                    controls=get("controls", None) or (), holdout_weeks=get("holdout_weeks"),
                    val_weeks=val_weeks, zero_runs=get("zero_runs", DataSpec.zero_runs))


def _edges(cfg: dict, key: str, names: list) -> tuple:
    out = []
    for pair in _get(cfg, key, ()):
        if any(p not in names for p in pair):
            raise ConfigError(f"{key} entry {list(pair)} must be [parent, child] among {names}")
        out.append((names.index(pair[0]), names.index(pair[1])))
    return tuple(out)


def run_spec(cfg: dict, n_channels: int, n_controls: int, channel_names=(),
             has_spend: bool = False) -> RunSpec:
    """The RunSpec of the model/optim/train groups for C channels (named
    `channel_names`, with spend or not) and K controls."""
    names = list(channel_names)
    mode = _get(cfg, "model.graph.mode")
    graph = GraphSpec(mode, _get(cfg, "model.graph.threshold"),
                      _edges(cfg, "model.graph.forbid", names),
                      _edges(cfg, "model.graph.require", names))
    model = ModelSpec(
        n_channels=n_channels,
        n_controls=n_controls,
        n_fourier=_get(cfg, "model.baseline.n_fourier"),
        adstock_family=_get(cfg, "model.adstock.family"),
        adstock_enabled=_get(cfg, "model.adstock.enabled"),
        max_lag=_get(cfg, "model.adstock.max_lag"),
        graph_mode=mode,
        dynamics_enabled=_get(cfg, "model.dynamics.enabled"),
        hidden=_get(cfg, "model.dynamics.hidden"),
        max_log_ratio=_get(cfg, "model.dynamics.max_log_ratio"),
        region_beta=_get(cfg, "model.region.beta"),
        region_controls=_get(cfg, "model.region.controls"),
        region_season=_get(cfg, "model.region.seasonality"),
        beta_init=_get(cfg, "model.beta_init"),
    )
    loss = LossSpec(
        huber_delta=_get(cfg, "optim.huber_delta"),
        shrinkage=_get(cfg, "model.region.shrinkage"),
        level_penalty=_get(cfg, "model.baseline.level_penalty"),
        m_smoothness=_get(cfg, "model.dynamics.smoothness"),
        m_distance=_get(cfg, "model.dynamics.distance"),
        graph_sem=_get(cfg, "model.graph.sem"),
        graph_l1=_get(cfg, "model.graph.l1"),
        graph_enabled=mode != "none",
        graph_own_spend=has_spend,
        calibration_weight=_get(cfg, "calibration.weight", LossSpec.calibration_weight),
    )
    train = TrainSpec(
        max_steps=_get(cfg, "train.max_steps"),
        steps_per_call=_get(cfg, "train.steps_per_call"),
        patience=_get(cfg, "train.patience"),
        learning_rate=_get(cfg, "optim.learning_rate"),
        warmup_steps=_get(cfg, "optim.warmup_steps"),
        end_lr_fraction=_get(cfg, "optim.end_lr_fraction"),
        weight_decay=_get(cfg, "optim.weight_decay"),
        clip_norm=_get(cfg, "optim.clip_norm"),
        dual_every=_get(cfg, "model.graph.dual_every"),
        rho_init=_get(cfg, "model.graph.rho_init"),
        rho_max=_get(cfg, "model.graph.rho_max"),
        progress=_get(cfg, "train.progress"),
        replica_threads=_get(cfg, "train.replica_threads", TrainSpec.replica_threads),
    )
    return RunSpec(model, loss, train, graph,
                   knot_weeks=_get(cfg, "model.baseline.knot_weeks"),
                   val_weeks=_get(cfg, "train.val_weeks"),
                   seed=_get(cfg, "seed"),
                   refit_steps=_get(cfg, "train.refit_steps"),
                   refit_lr_fraction=_get(cfg, "train.refit_lr_fraction"),
                   ensemble=ensemble_spec(cfg),
                   mesh=mesh_spec(cfg))


def run_spec_for(cfg: dict, panel: Panel) -> RunSpec:
    """`run_spec` for a panel, with the checks that need its weeks: the adstock
    kernel must fit in the training weeks."""
    spec = run_spec(cfg, panel.n_channels, panel.n_controls, panel.channels, panel.has_spend)
    if spec.model.max_lag > panel.n_train:
        raise ConfigError(f"model.adstock.max_lag must be at most the panel's {panel.n_train} "
                          f"training weeks, got {spec.model.max_lag}")
    return spec


def ensemble_spec(cfg: dict) -> EnsembleSpec:
    """The `model.ensemble_*` keys (absent keys: a single fit)."""
    default = EnsembleSpec()
    return EnsembleSpec(**{field.name: _get(cfg, f"model.ensemble_{field.name}",
                                            getattr(default, field.name))
                           for field in dataclasses.fields(EnsembleSpec)})


def mesh_spec(cfg: dict) -> MeshSpec:
    """The `mesh` group: layout name and the optional multi-host keys."""
    name = _get(cfg, "mesh.name", MeshSpec.name)
    address = _get(cfg, "mesh.coordinator_address", None)
    n_proc = _get(cfg, "mesh.num_processes", None)
    rank = _get(cfg, "mesh.process_id", None)
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
    mode = _get(cfg, "validate.mode")
    if mode == "holdout":
        return ValidateSpec()
    return ValidateSpec(mode, *(_get(cfg, f"validate.{key}")
                                for key in ("n_folds", "step_weeks", "horizon_weeks")))


def budget_spec(cfg: dict) -> BudgetSpec:
    """The `budget` group (absent keys: BudgetSpec's defaults)."""
    default = BudgetSpec()
    return BudgetSpec(**{field.name: _get(cfg, f"budget.{field.name}", getattr(default, field.name))
                         for field in dataclasses.fields(BudgetSpec)})


def refresh_settings(cfg: dict) -> tuple[Path | None, float | None]:
    """(`refresh.from`, `refresh.scale`); (None, None) without a refresh."""
    source = _get(cfg, "refresh.from", None)
    if not source:
        return None, None
    return Path(source), _get(cfg, "refresh.scale", None)


def lift_tests_path(cfg: dict) -> str | None:
    """`calibration.path`, or None without lift tests."""
    return _get(cfg, "calibration.path", None) or None
