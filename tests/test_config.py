"""Config checks: every key of conf/ has a rule, every numeric key refuses NaN,
inf and out-of-range values in one line, and the specs' defaults are the YAML's."""

import copy
import math
import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from dcmmm.analysis.budget import BudgetSpec
from dcmmm.config import (
    DEFAULT_MEMBERS,
    budget_spec,
    check_config,
    check_plan_config,
    data_spec,
    plan_spec,
    run_spec,
    validate_spec,
)
from dcmmm.config_keys import KEYS
from dcmmm.data.panel import DataSpec
from dcmmm.design.propose import DesignSpec
from dcmmm.design.run import check_design_config, design_spec
from dcmmm.errors import ConfigError
from dcmmm.model.mmm import ModelSpec
from dcmmm.planning.spec import PlanSpec
from dcmmm.specs import EnsembleSpec, GraphSpec, RunSpec, ValidateSpec
from dcmmm.train.loop import TrainSpec
from dcmmm.train.loss import LossSpec
from dcmmm.train.sharding import MeshSpec
from tests.test_run import CONF, GROUPS, ROOT, _compose, _options

CSV = ["data=csv", "data.path=x.csv", "data.kpi=y", "data.channels=[a]"]
# one config that holds every numeric key, each in a state where it is used
BASE = ["mesh=regions", "mesh.coordinator_address=localhost:1234", "mesh.num_processes=2",
        "mesh.process_id=0", "validate=backtest"]
PLAN = ["run=outputs/some_run"]  # plan.py's config (conf/plan.yaml) with its required key
DESIGN = ["run=outputs/some_run", "design.channel=tv"]  # design.py's (conf/design.yaml)
FUZZ = (math.nan, math.inf, 0, -1)
# where 0 is a legitimate value, and what it means (conf/ says the same)
ZERO_IS_VALID = {
    "seed": "a seed", "data.synthetic_seed": "a seed",
    "model.graph.threshold": "no edge is cut", "model.graph.l1": "no L1 penalty",
    "model.graph.sem": "no SEM term", "model.dynamics.smoothness": "no smoothness penalty",
    "model.dynamics.distance": "no pull towards m = 1", "model.baseline.n_fourier": "no seasonality",
    "model.baseline.level_penalty": "a free level", "model.region.shrinkage": "free region offsets",
    "model.ensemble_jitter": "unperturbed members", "model.ensemble_block_weeks": "no bootstrap",
    "optim.warmup_steps": "no warmup", "optim.end_lr_fraction": "decay to 0",
    "optim.weight_decay": "no decay", "train.val_weeks": "no validation window",
    "train.checkpoint_every": "only the final checkpoint", "train.refit_steps": "no phase 2",
    "train.replica_threads": "one program per core", "mesh.process_id": "the first process",
    "budget.lower": "a channel may be switched off", "calibration.weight": "tests ignored",
    "model.graph.floor": "no floor on own activity", "model.media_shrinkage": "no price on credit",
    "model.graph.resamples": "no stability selection", "model.graph.stability": "every edge kept",
    "plan.lower": "a channel may be switched off",
    "plan.target_mroi": "spend until the next unit of money brings nothing",
    "evidence.steps": "no profile (the basis rests on the spend range)",
    "design.cooldown": "no cool-down", "design.seed": "a seed",
    "design.min_power": "every extrapolated channel may be tested",
}


def _compose_plan(overrides, name="plan"):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return compose(config_name=name, overrides=overrides)


def bases() -> list[tuple[dict, object]]:
    """(a config holding every numeric key of its app in use, its checker):
    train.py's, plan.py's and design.py's."""
    return [(OmegaConf.to_container(_compose(BASE), resolve=True), check_config),
            (OmegaConf.to_container(_compose_plan(PLAN), resolve=True), check_plan_config),
            (OmegaConf.to_container(_compose_plan(DESIGN, "design"), resolve=True),
             check_design_config)]


def composed_configs() -> list[dict]:
    """Every group option and experiment of conf/, composed and resolved, and plan.py's config."""
    out = [cfg for cfg, _ in bases()]
    for group in GROUPS:
        for option in _options(group):
            extra = CSV[1:] if group == "data" and option == "csv" else []
            out.append(OmegaConf.to_container(_compose([f"{group}={option}", *extra]),
                                              resolve=True))
    for experiment in _options("experiment"):
        out.append(OmegaConf.to_container(_compose([f"+experiment={experiment}"]), resolve=True))
    return out


def leaves(cfg: dict, prefix: str = "") -> dict:
    """{dotted key: value}; a key with a rule is a leaf even when it holds a dict."""
    out = {}
    for name, value in cfg.items():
        key = f"{prefix}{name}"
        if isinstance(value, dict) and key not in KEYS:
            out.update(leaves(value, f"{key}."))
        else:
            out[key] = value
    return out


def numeric_keys() -> list[str]:
    """Keys that hold a number in a composed config, or null where their rule takes one."""
    keys = set()
    for cfg in composed_configs():
        for key, value in leaves(cfg).items():
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if number or (value is None and KEYS[key].kind in ("int", "float")):
                keys.add(key)
    return sorted(keys)


def setting(cfg: dict, key: str, value) -> dict:
    node = cfg
    *parents, last = key.split(".")
    for part in parents:
        node = node[part]
    node[last] = value
    return cfg


def test_every_key_of_conf_has_a_rule_and_every_rule_a_key():
    keys = set()
    for cfg in composed_configs():
        checker = (check_plan_config if "plan" in cfg else
                   check_design_config if "design" in cfg else check_config)
        checker(cfg)  # the shipped configs pass
        keys |= set(leaves(cfg))
    assert keys == set(KEYS)


def test_every_numeric_key_refuses_nan_inf_zero_and_minus_one_in_one_line():
    keys = numeric_keys()
    assert len(keys) >= 50 and "optim.learning_rate" in keys and "budget.total" in keys
    assert {"plan.total", "plan.target_roi", "plan.cost_per_unit", "plan.steps"} < set(keys)
    assert {"design.weeks", "design.power", "design.regions", "evidence.nats"} < set(keys)
    assert set(ZERO_IS_VALID) < set(keys)
    fuzzed = set()
    for base, check in bases():
        check(base)
        for key in (k for k in keys if k in leaves(base)):
            fuzzed.add(key)
            for value in FUZZ:
                cfg = setting(copy.deepcopy(base), key, value)
                if value == 0 and key in ZERO_IS_VALID:
                    check(cfg)
                    continue
                with pytest.raises(ConfigError) as err:
                    check(cfg)
                message = str(err.value)
                assert key in message and "\n" not in message, (key, value, message)
                assert repr(value) in message, (key, value, message)
    assert fuzzed == set(keys)


def test_a_bad_value_through_train_py_is_one_line_and_exit_2(tmp_path):
    cases = (("optim.learning_rate=nan", "optim.learning_rate must be"),
                            ("optim.learning_rate=inf", "got inf"),
                            ("model.region.shrinkage=nan", "model.region.shrinkage"),
                            ("train.max_steps=0", "train.max_steps must be an integer >= 1"),
                            ("model.adstock.max_lag=500", "at most the panel's 47 training weeks"))
    for i, (override, words) in enumerate(cases):
        proc = subprocess.run(
            [sys.executable, str(ROOT / "train.py"), "data.n_regions=2", "data.n_weeks=60",
             override, f"hydra.run.dir={tmp_path / str(i)}"],
            capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert proc.returncode == 2, (override, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("dcmmm: error: "), (override, proc.stderr)
        assert words in lines[0], (override, lines[0])


def test_unknown_keys_and_missing_values_are_named():
    cfg = OmegaConf.to_container(_compose([]), resolve=True)
    with pytest.raises(ConfigError, match="unknown config key 'model.dynamics.hiden'"):
        check_config(setting(cfg, "model.dynamics.hiden", 3))
    cfg = OmegaConf.to_container(_compose(["data=csv"]), resolve=True)
    with pytest.raises(ConfigError, match="data.path is required"):
        check_config(cfg)
    cfg = OmegaConf.to_container(_compose([]), resolve=True)
    with pytest.raises(ConfigError, match=r"budget.upper.radio must be a finite number > 0"):
        check_config(setting(cfg, "budget.upper", {"default": 2.0, "radio": math.nan}))


def test_spec_defaults_are_the_yaml_defaults():
    cfg = OmegaConf.to_container(_compose([]), resolve=True)
    spec = run_spec(cfg, 3, 2, ("a", "b", "c"))
    # without spend columns the graph's equations take the plan's on-air weeks
    assert spec.model == ModelSpec(3, 2, graph_plan=True)
    assert spec.loss == LossSpec()
    with_spend = run_spec(cfg, 3, 2, ("a", "b", "c"), has_spend=True)
    assert with_spend.model == ModelSpec(3, 2)  # own activity from spend instead
    assert with_spend.loss == LossSpec(graph_own_spend=True)
    assert spec.train == TrainSpec()
    # the default run is an ensemble (model.ensemble_size: null = DEFAULT_MEMBERS for a fit)
    members = EnsembleSpec(size=DEFAULT_MEMBERS)
    assert (spec.graph, spec.ensemble, spec.mesh) == (GraphSpec(), members, MeshSpec())
    assert spec == RunSpec(ModelSpec(3, 2, graph_plan=True), ensemble=members)
    assert budget_spec(cfg) == BudgetSpec()
    assert plan_spec(OmegaConf.to_container(_compose_plan(PLAN), resolve=True)) == (PlanSpec(), None)
    design = OmegaConf.to_container(_compose_plan(PLAN, "design"), resolve=True)
    assert design_spec(design) == DesignSpec()
    assert validate_spec(cfg) == ValidateSpec()
    backtest = OmegaConf.to_container(_compose(["validate=backtest"]), resolve=True)
    assert validate_spec(backtest) == ValidateSpec("backtest")
    assert run_spec(backtest, 3, 2, ("a", "b", "c")).ensemble == EnsembleSpec()  # one fit per fold
    csv = OmegaConf.to_container(_compose(CSV), resolve=True)
    assert data_spec(csv, cfg["train"]["val_weeks"]) == DataSpec("y", ("a",), path="x.csv")
