"""Orbax checkpoints of the whole training progress.

A checkpoint holds the train state (params, optimiser state, step, augmented-
Lagrangian duals, PRNG key, schedule), the best parameters so far with their
validation score and step, which training phase it belongs to, and the
summary of the finished first phase. Orbax writes a step directory atomically
(it appears only once complete), so a run killed at any moment resumes from
its latest complete checkpoint and continues exactly, call for call.
"""

import logging
from pathlib import Path
from typing import NamedTuple

import jax
import numpy as np
import orbax.checkpoint as ocp

from dcmmm.train.loop import Progress, TrainState

logger = logging.getLogger(__name__)


class Saved(NamedTuple):
    """A restored checkpoint."""

    step: int  # global step (both phases)
    phase: int  # 1 = early-stopped fit, 2 = refit on all training weeks
    progress: Progress
    phase1: dict  # {"steps", "best_step", "seconds"} of the finished phase 1 (phase 2 only)
    final: bool  # written after training finished


def _pack(tree):
    """Orbax cannot save zero-size arrays (e.g. no controls): store a 1-element stand-in.
    In a multi-host job the (host-local, identical) arrays are saved as numpy by process 0."""
    host = jax.process_count() > 1
    return jax.tree.map(lambda a: np.zeros(1, np.asarray(a).dtype) if np.size(a) == 0 else
                        (np.asarray(a) if host else a), tree)


def _unpack(restored, template):
    """Put the zero-size arrays of `template` back in place of their stand-ins."""
    return jax.tree.map(lambda r, t: t if np.size(t) == 0 else r, restored, template)


def _payload(progress: Progress, phase: int, phase1: dict, final: bool) -> dict:
    state = progress.state
    return {
        "state": {**state._asdict(), "key": jax.random.key_data(state.key)},
        "best_params": progress.best_params if progress.best_params is not None else state.params,
        "best_score": np.asarray(progress.best_score, np.float64),
        "best_step": np.asarray(progress.best_step, np.int64),
        "stopped": np.asarray(progress.stopped, bool),
        "phase": np.asarray(phase, np.int64),
        "phase1": {k: np.asarray(phase1.get(k, 0.0), np.float64)
                   for k in ("steps", "best_step", "seconds")},
        "final": np.asarray(final, bool),
    }


class Checkpointer:
    """Saves progress to `directory/<global step>` every `every` steps (and on demand)."""

    def __init__(self, directory: Path, every: int, max_to_keep: int = 2):
        self.every = every
        self.manager = ocp.CheckpointManager(
            Path(directory).absolute(),
            options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))

    def save(self, step: int, progress: Progress, phase: int, phase1: dict | None = None,
             force: bool = False, final: bool = False) -> None:
        """Save when `step` is a multiple of `every` (or `force`), once per step."""
        if not (force or self.due(step)):
            return
        if step in self.manager.all_steps():
            if not final:
                return
            self.manager.delete(step)
        self.manager.save(step, args=ocp.args.StandardSave(
            _pack(_payload(progress, phase, phase1 or {}, final))))
        self.manager.wait_until_finished()

    def due(self, step: int) -> bool:
        """Whether `step` is a regular checkpoint step (a multiple of `every`)."""
        return self.every > 0 and step % self.every == 0

    def latest_step(self) -> int | None:
        return self.manager.latest_step()

    def restore_latest(self, template: Progress) -> Saved | None:
        """The latest checkpoint, restored into the structure of `template` (or None)."""
        step = self.manager.latest_step()
        if step is None:
            return None
        target = _payload(template, 1, {}, False)
        raw = self.manager.restore(step, args=ocp.args.StandardRestore(_pack(target)))
        raw = _unpack(raw, target)
        state_d = dict(raw["state"])
        state_d["key"] = jax.random.wrap_key_data(state_d["key"])
        progress = Progress(TrainState(**state_d), float(raw["best_score"]), raw["best_params"],
                            int(raw["best_step"]), bool(raw["stopped"]))
        phase1 = {k: float(v) for k, v in raw["phase1"].items()}
        logger.info("resuming from checkpoint %s", self.manager.directory / str(step))
        return Saved(step, int(raw["phase"]), progress, phase1, bool(raw["final"]))

    def path(self, step: int) -> Path:
        return Path(self.manager.directory) / str(step)

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()
