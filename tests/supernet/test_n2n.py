"""N2N (Ashok et al., ICLR 2018): reward, student masks, policies, REINFORCE, and the experiment."""
import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments import n2n as n2n_experiment
from jaxnets import experiment as experiment_lib
from jaxnets.supernet import n2n_policy as pol
from jaxnets.supernet.n2n import (N2NArch, N2NStudent, compression_reward, count_params,
                                  make_student_trainer, shrink_widths)

HIDDEN = (12, 10, 8, 6)


def test_reward_matches_hand_values():
    # C = 1 - 10000/50000 = 0.8, C(2-C) = 0.96, R_a = 0.9/0.96 -> R = 0.9.
    assert float(compression_reward(0.9, 0.96, 10_000, 50_000)) == pytest.approx(0.9, abs=1e-6)
    # C = 0.5 -> 0.75; R_a = 0.8 / 0.5 = 1.6 -> R = 1.2 (a student may beat its teacher).
    assert float(compression_reward(0.8, 0.5, 25, 50)) == pytest.approx(1.2, abs=1e-6)
    r = compression_reward(jnp.array([1.0, 0.5]), 1.0, jnp.array([1, 40]), 100)
    np.testing.assert_allclose(r, [0.99 * 1.01, 0.5 * 0.6 * 1.4], rtol=1e-6)


def test_invalid_students_get_minus_one():
    r = compression_reward(jnp.array([0.9, 0.9, jnp.nan, 0.9]), 0.95,
                           jnp.array([101, 150, 10, 0]), 100)
    np.testing.assert_array_equal(r, [-1.0, -1.0, -1.0, -1.0])
    assert float(compression_reward(0.9, 0.95, 99, 100)) > 0
    assert float(compression_reward(0.9, 0.95, 100, 100)) == 0.0  # C = 0: valid, no reward


def _physical_forward(params, arch, x):
    """The plain MLP of the kept layers at their widths, from sliced weights, in numpy."""
    p = jax.tree.map(np.asarray, params)["params"]
    h, width_in, total = np.asarray(x, np.float64), x.shape[1], 0
    for l, full in enumerate(HIDDEN):
        if l > 0 and not arch.keep[l]:
            continue
        w = min(int(arch.widths[l]), full)
        kernel, bias = p[f"dense_{l}"]["kernel"][:width_in, :w], p[f"dense_{l}"]["bias"][:w]
        h = np.maximum(h[:, :width_in] @ kernel + bias, 0.0)
        total += kernel.size + bias.size
        width_in = w
    kernel, bias = p["head"]["kernel"][:width_in], p["head"]["bias"]
    return h[:, :width_in] @ kernel + bias, total + kernel.size + bias.size


@pytest.mark.parametrize("keep,widths", [
    ((1, 1, 1, 1), (12, 10, 8, 6)),
    ((1, 0, 1, 0), (5, 10, 3, 6)),
    ((0, 0, 0, 1), (7, 2, 8, 4)),     # layer 0 is kept even if the action says otherwise
    ((1, 0, 0, 0), (3, 1, 1, 1)),
])
def test_student_masks_equal_the_physically_built_mlp(keep, widths):
    arch = N2NArch(jnp.asarray(keep, bool), jnp.asarray(widths, jnp.int32))
    model = N2NStudent(HIDDEN, 4)
    x = jax.random.normal(jax.random.PRNGKey(1), (7, 9))
    params = model.init(jax.random.PRNGKey(0), x, arch)
    expected, size = _physical_forward(params, arch, x)
    np.testing.assert_allclose(model.apply(params, x, arch), expected, rtol=1e-5, atol=1e-5)
    assert int(count_params(arch, 9, HIDDEN, 4)) == size


def test_student_init_uses_the_students_own_fan_in():
    # Layer 2 of keep=(1,0,1,1) reads layer 0's 12 units: bound 1/sqrt(12), not 1/sqrt(10).
    arch = N2NArch(jnp.asarray([1, 0, 1, 1], bool), jnp.asarray(HIDDEN, jnp.int32))
    params = N2NStudent(HIDDEN, 4).init(jax.random.PRNGKey(0), jnp.ones((1, 9)), arch)
    kernel = np.asarray(params["params"]["dense_2"]["kernel"])
    assert np.abs(kernel).max() <= 1 / np.sqrt(12) + 1e-6
    assert np.abs(kernel).max() > 1 / np.sqrt(12) * 0.9


def test_shrink_widths_scale_round_and_floor():
    w = shrink_widths((128, 64, 20), jnp.asarray([0.25, 0.5, 0.25]), minimum=10)
    np.testing.assert_array_equal(w, [32, 32, 10])


def _removal_policy(bias):
    desc = pol.layer_descriptors(9, HIDDEN, 4)
    policy = pol.RemovalPolicy(8)
    params = policy.init(jax.random.PRNGKey(0), desc)
    params = jax.tree_util.tree_map_with_path(
        lambda path, v: jnp.asarray(bias, v.dtype) if "out" in str(path) and "bias" in str(path)
        else (v * 0 if "out" in str(path) else v), params)
    return policy, params, desc


def test_first_and_last_layers_are_never_removed():
    policy, params, desc = _removal_policy([20.0, -20.0])  # every free layer: remove
    keys = jax.random.split(jax.random.PRNGKey(3), 16)
    keep, logp = jax.jit(jax.vmap(lambda k: pol.sample_removal(params, policy, desc, k)))(keys)
    assert keep.shape == (16, len(HIDDEN) + 1)
    assert bool(jnp.all(keep[:, 0])) and bool(jnp.all(keep[:, -1]))
    assert not bool(jnp.any(keep[:, 1:-1]))
    np.testing.assert_allclose(logp, 0.0, atol=1e-6)  # forced layers add nothing to log pi
    keep_u, _ = jax.jit(jax.vmap(lambda k: pol.sample_removal(params, policy, desc, k, True)))(
        keys)
    assert bool(jnp.all(keep_u[:, 0])) and bool(jnp.all(keep_u[:, -1]))
    assert 0 < float(jnp.mean(keep_u[:, 1:-1])) < 1


def _bandit(policy_sample, log_prob, reward_fn, params, lr, epochs=40, n=5,
            per_rollout=True):
    tx = optax.adam(lr)
    opt, b = tx.init(params), jnp.asarray(0.0)

    @jax.jit
    def epoch(params, opt, b, e):
        actions = jax.vmap(lambda k: policy_sample(params, k))(
            jax.random.split(jax.random.fold_in(jax.random.PRNGKey(0), e), n))
        r = jax.vmap(reward_fn)(actions)
        base = jnp.where(e == 0, jnp.mean(r), b)
        g = jax.grad(lambda p: pol.reinforce_loss(
            jax.vmap(lambda a: log_prob(p, a))(actions), r, base, per_rollout))(params)
        u, opt = tx.update(g, opt, params)
        return optax.apply_updates(params, u), opt, pol.update_baseline(b, r, e, 0.8), r

    for e in range(epochs):
        params, opt, b, r = epoch(params, opt, b, e)
    return params


def test_reinforce_learns_a_removal_bandit():
    policy, params, desc = _removal_policy([0.0, 0.0])
    # Reward 1 when layer 2 is removed and layer 1 kept, else 0.
    reward = lambda keep: jnp.where(~keep[2] & keep[1], 1.0, 0.0)
    trained = _bandit(lambda p, k: pol.sample_removal(p, policy, desc, k)[0],
                      lambda p, a: pol.removal_log_prob(p, policy, desc, a), reward, params, 0.05)
    probs = jax.nn.softmax(policy.apply(trained, desc))
    before = jax.nn.softmax(policy.apply(params, desc))
    assert float(probs[2, 0]) > 0.9 and float(probs[1, 1]) > 0.9
    np.testing.assert_allclose(before[1:-1], 0.5, atol=1e-6)


def test_reinforce_learns_a_shrink_bandit_and_code_variant_credits_the_mean():
    policy = pol.ShrinkPolicy((0.25, 0.5, 1.0), 8)
    desc = pol.layer_descriptors(9, HIDDEN, 4)[:len(HIDDEN)]
    keep = jnp.asarray([True, False, True, True])
    zeros = jnp.zeros(len(HIDDEN), jnp.int32)
    params = policy.init(jax.random.PRNGKey(0), desc, keep, zeros)
    reward = lambda a: jnp.where(a[0] == 0, 1.0, 0.0) + jnp.where(a[2] == 2, 1.0, 0.0)
    trained = _bandit(lambda p, k: pol.sample_shrink(p, policy, desc, keep, k)[0],
                      lambda p, a: pol.shrink_log_prob(p, policy, desc, keep, a), reward, params,
                      0.05)
    greedy = jnp.argmax(policy.apply(trained, desc, keep, jnp.asarray([0, 2, 2, 0])), -1)
    assert int(greedy[0]) == 0 and int(greedy[2]) == 2
    # The released code's estimator weights every rollout by mean(R) - b.
    logp = jnp.asarray([0.3, -1.0, 2.0])
    g = jax.grad(pol.reinforce_loss)(logp, jnp.asarray([1.0, 0.0, 0.5]), 0.25, False)
    np.testing.assert_allclose(g, -jnp.full(3, 0.25) / 3, rtol=1e-6)
    g = jax.grad(pol.reinforce_loss)(logp, jnp.asarray([1.0, 0.0, 0.5]), 0.25, True)
    np.testing.assert_allclose(g, -jnp.asarray([0.75, -0.25, 0.25]) / 3, rtol=1e-6)


def test_student_trainer_distils_teacher_logits():
    x = jax.random.normal(jax.random.PRNGKey(0), (64, 9))
    model = N2NStudent(HIDDEN, 4)
    teacher = model.init(jax.random.PRNGKey(1), x)
    logits = model.apply(teacher, x)
    y = jnp.argmax(logits, -1)
    train = jax.jit(make_student_trainer(model, optax.adam(1e-2), x, {"train": (x, y)}, 200, 16))
    archs = N2NArch(jnp.asarray([[1, 1, 1, 1], [1, 0, 0, 1]], bool),
                    jnp.asarray([HIDDEN, HIDDEN], jnp.int32))
    out = train(jax.random.split(jax.random.PRNGKey(2), 2), archs, logits)
    untrained = jax.jit(make_student_trainer(model, optax.adam(1e-2), x, {"train": (x, y)}, 1,
                                             16))(jax.random.split(jax.random.PRNGKey(2), 2),
                                                  archs, logits)
    assert out["logit_mse"].shape == (2,)
    assert bool(jnp.all(out["logit_mse"] < 0.2 * untrained["logit_mse"]))
    assert bool(jnp.all(out["train/accuracy"] > 0.8))


def test_quick_n2n_runs_end_to_end(tmp_path):
    config = experiment_lib.build_config(n2n_experiment, [], quick=True)
    results, claim = experiment_lib.run_experiment(n2n_experiment, config, tmp_path / "run")
    seeds = len(config.seeds)
    assert len(results["removal_reward_rl"]) == seeds
    assert len(results["removal_reward_rl"][0]) == config.removal_epochs
    assert len(results["shrink_reward_random"][0]) == config.shrink_epochs
    for name in ("rl", "random"):
        assert all(-1 <= r <= 2 for r in results[f"best_{name}_reward"])
        assert all(k[0] == 1 for k in results[f"best_{name}_keep"])
        assert all(c > 1 for c in results[f"best_{name}_compression"])
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == config.removal_epochs + config.shrink_epochs
    assert len(json.loads(lines[0])["reward_rl"]) == seeds
    assert (tmp_path / "run" / "n2n_reward.png").exists()
    assert len(list((tmp_path / "run").glob("stage_*.npz"))) == 2  # stage-level resume caches
    assert len(results["best_rl_final_test_accuracy"]) == seeds
    assert "10x" in claim.paper and isinstance(claim.passed, bool)
    json.loads((tmp_path / "run" / "results.json").read_text())


def _toy_stage(seeds=2, n=2):
    """Cheap stand-ins for a stage's jitted pieces: the policy is a vector that each update
    moves by the (key-dependent) rewards, so any resume error changes the final numbers."""
    def sample(params, keys, base, base_r):
        u = jax.vmap(lambda k: jax.random.uniform(k, (2 * n,)))(keys)
        keep = jnp.ones((seeds, 2 * n, 2), bool)
        return N2NArch(keep, jnp.full((seeds, 2 * n, 2), 4, jnp.int32)), u + params[:, :1]

    def train(keys, archs, logits):
        acc = jax.vmap(lambda k: jax.random.uniform(k[0], (k.shape[0],)))(keys)
        return {"val/accuracy": acc, "test/accuracy": acc}

    def update(params, opt_state, baseline, e, archs, actions, base, val, teacher_val):
        reward = val + actions
        b = 0.8 * baseline + 0.2 * reward.mean(-1)
        return (params + reward.mean(-1, keepdims=True), opt_state + 1, b, reward,
                jnp.ones_like(reward), b)
    return (sample, update), train


def test_policy_stage_resumes_from_its_epoch_checkpoint_exactly(tmp_path):
    import ml_collections
    config = ml_collections.ConfigDict(dict(seeds=(0, 1), rollouts=2, checkpoint_every=2))
    fns, train = _toy_stage()
    keys = jnp.stack([jax.random.PRNGKey(0), jax.random.PRNGKey(1)])
    args = (jnp.zeros((2, 3)), jnp.zeros(2), keys, None, None, {"logits": None, "val": None})

    def run(directory, train_fn):
        return n2n_experiment._run_stage(config, fns, train_fn, 7, args[0], args[1], *args[2:],
                                         checkpoint_dir=directory)

    full = run(tmp_path / "full", train)
    calls = []

    def interrupted(keys, archs, logits):
        calls.append(1)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return train(keys, archs, logits)

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "resumed", interrupted)          # dies in epoch 5; checkpoint at 4
    calls.clear()
    resumed = run(tmp_path / "resumed", interrupted)
    assert len(calls) == 3                              # only epochs 4, 5, 6 rerun
    for key in full:
        np.testing.assert_allclose(resumed[key], full[key], err_msg=key)


@pytest.mark.slow
def test_n2n_claim_on_digits(tmp_path):
    config = experiment_lib.build_config(n2n_experiment, [])
    results, claim = experiment_lib.run_experiment(n2n_experiment, config, tmp_path / "run")
    assert len(results["seeds"]) == 3
    assert claim.passed, claim.text
