"""Run the toy problem in its own process (the kill-and-resume test SIGKILLs it mid-training).

Usage: python resumable_run.py WORKDIR NUM_STEPS OUT.npz [--resume] [--slow]
"""
import os
import sys
import time

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import jax  # noqa: E402
import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
import toy_problem  # noqa: E402

from jaxnets.train import EarlyStopping, fit  # noqa: E402


def main() -> None:
    workdir, num_steps, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    init_fn, step_fn, eval_fn = toy_problem.make_problem()
    if "--slow" in sys.argv:  # give the parent time to kill us between checkpoints
        inner = step_fn

        def step_fn(state):
            jax.debug.callback(lambda: time.sleep(0.02))
            return inner(state)

    state = init_fn(jax.random.PRNGKey(0))
    result = fit(
        state, step_fn, num_steps=num_steps, eval_fn=eval_fn, eval_every=5, steps_per_call=10,
        early_stopping=EarlyStopping("val/neg_mse", "max"), workdir=workdir,
        config={"problem": "toy"}, resume="--resume" in sys.argv, progress=False,
    )
    leaves = jax.tree.leaves(jax.device_get((result.state, result.best_state)))
    np.savez(out, *leaves)


if __name__ == "__main__":
    main()
