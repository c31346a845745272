"""Orbax checkpoints of the whole train state (params, optimiser state, step,
augmented-Lagrangian duals, PRNG key, schedule), written atomically by orbax
(a step directory appears only once complete)."""

import jax
import orbax.checkpoint as ocp

from dcmmm.train.loop import TrainState


def to_saveable(state: TrainState) -> dict:
    """The train state as a plain pytree of arrays (the PRNG key as raw data)."""
    return {**state._asdict(), "key": jax.random.key_data(state.key)}


class Checkpointer:
    """Saves the train state into `directory/<step>` every `every` steps.

    Phase offsets let the refit phase continue the step numbering. Keeps the
    latest `max_to_keep` checkpoints.
    """

    def __init__(self, directory, every: int, max_to_keep: int = 2):
        self.every = every
        self.offset = 0
        self.manager = ocp.CheckpointManager(
            directory, options=ocp.CheckpointManagerOptions(max_to_keep=max_to_keep, create=True))

    def __call__(self, state: TrainState, force: bool = False) -> None:
        step = self.offset + int(state.step)
        if force or (self.every > 0 and step % self.every == 0):
            if step not in self.manager.all_steps():
                self.manager.save(step, args=ocp.args.StandardSave(to_saveable(state)))

    def latest_step(self):
        return self.manager.latest_step()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()
