"""The rule of every config key: what it may hold, and the one check of a value.

`KEYS` holds a rule for every key of `conf/`, train.py's config.yaml,
plan.py's plan.yaml and design.py's design.yaml (tests/test_config.py checks both ways that the
composed configs and `KEYS` list the same keys). A bad
value is one `ConfigError` naming the key and the value: numbers must be
finite and in range, integers whole, choices among their options.
`dcmmm.config` checks whole configs with it and reads every value through it.
"""

import math
from typing import NamedTuple

from dcmmm.data.synthetic import SCENARIOS
from dcmmm.errors import ConfigError
from dcmmm.logs import LEVELS
from dcmmm.model.adstock import FAMILIES
from dcmmm.model.graph import MODES, PLANS, SIGNS
from dcmmm.planning.spec import SCENARIOS as PLAN_SCENARIOS
from dcmmm.specs import VALIDATE_MODES
from dcmmm.train.sharding import MESHES

MISSING = "???"  # Hydra's mark of a value the user must give


class Rule(NamedTuple):
    """What a key may hold. kind: int, float, bool, choice, text, names (a list
    of column names), edges (a list of [parent, child]) or bound (a number, or
    {channel: number} with an optional "default")."""

    kind: str
    low: float | None = None  # smallest value allowed (numbers, bounds)
    open_low: bool = False  # `low` itself not allowed
    high: float | None = None  # largest value (exclusive unless closed_high), or None
    closed_high: bool = False  # `high` itself allowed
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
    "log_level": _choice(*LEVELS),
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
    "data.with_spend": FLAG,
    "model.adstock.enabled": FLAG,
    "model.adstock.family": _choice(*FAMILIES),
    "model.adstock.max_lag": _int(1),
    "model.graph.mode": _choice(*MODES),
    "model.graph.sign": _choice(*SIGNS),
    "model.graph.shared_plan": _choice(*PLANS),
    "model.graph.floor": NON_NEGATIVE,
    "model.graph.resamples": _int(0),
    "model.graph.stability": Rule("float", 0.0, high=1.0, closed_high=True),
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
    "model.media_shrinkage": NON_NEGATIVE,
    "model.ensemble_size": _int(1, null=True),
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
    "calibration.phase1_boost": _float(1.0),
    "priors.path": OPTIONAL_TEXT,
    "evidence.steps": _int(0),
    "evidence.nats": POSITIVE,
    "evidence.tolerance": POSITIVE,
    "refresh.from": OPTIONAL_TEXT,
    "refresh.scale": _float(positive=True, null=True),
    "validate.mode": _choice(*VALIDATE_MODES),
    "validate.n_folds": _int(1),
    "validate.step_weeks": _int(1),
    "validate.horizon_weeks": _int(1),
    # conf/plan.yaml (plan.py)
    "run": TEXT,
    "plan.path": OPTIONAL_TEXT,
    "plan.weeks": _int(1),
    "plan.total": _float(positive=True, null=True),
    "plan.scenario": _choice(*PLAN_SCENARIOS),
    "plan.target_roi": _float(positive=True, null=True),
    "plan.target_mroi": _float(null=True),
    "plan.max_total": _float(positive=True, null=True),
    "plan.lower": Rule("bound", 0.0),
    "plan.upper": Rule("bound", 0.0, open_low=True),
    "plan.hold": Rule("names"),
    "plan.by_region": FLAG,
    "plan.region_lower": Rule("bound", 0.0, null=True),
    "plan.region_upper": Rule("bound", 0.0, open_low=True, null=True),
    "plan.cost_per_unit": Rule("bound", 0.0, open_low=True),
    "plan.kpi_value": _float(positive=True, null=True),
    "plan.steps": _int(1),
    # conf/design.yaml (design.py; "run" as above)
    "design.channel": OPTIONAL_TEXT,
    "design.max_tests": _int(1),
    "design.weeks": _int(1, null=True),
    "design.max_weeks": _int(1),
    "design.cooldown": _int(0, null=True),
    "design.regions": _int(1, null=True),
    "design.power": Rule("float", 0.0, open_low=True, high=1.0),
    "design.precision": POSITIVE,
    "design.level": Rule("float", 0.0, open_low=True, high=1.0),
    "design.start": OPTIONAL_TEXT,
    "design.retrospective": FLAG,
    "design.seed": _int(0),
    "design.draws": _int(1),
    "design.baseline_weeks": _int(1, null=True),
    "design.min_power": Rule("float", 0.0, high=1.0),
    "serve": FLAG,
    "page.host": TEXT,
    "page.port": Rule("int", 1, high=65535, closed_high=True),
    "page.max_upload_mb": _int(1),
}


def _range(rule: Rule) -> str:
    if rule.high is not None:
        return (f"in {'(' if rule.open_low else '['}{rule.low:g}, {rule.high:g}"
                f"{']' if rule.closed_high else ')'}")
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
        ok = number <= rule.high if rule.closed_high else number < rule.high
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


ABSENT = object()  # no default: a missing key is an error


def read(cfg: dict, key: str, default=ABSENT):
    """The checked value at the dotted `key`; `default` where it is absent (a
    ConfigError without one)."""
    node = cfg
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            if default is ABSENT:
                raise ConfigError(f"missing config key '{key}'")
            return default
        node = node[part]
    return check_value(key, node)
