"""NetLLM (jaxnets.models.netllm): the multimodal encoder against numpy, token stacking and the
networking head's read-out position (causality), valid answers in one forward pass, LoRA with
B = 0 equal to the frozen trunk, the DD-LRNA data helpers, and a smoke run of
experiments/netllm_abr.py (the full reproduction is marked slow)."""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.models import netllm
from jaxnets.nn import lora

W = 3
POLICY = netllm.NetLLMPolicy(netllm.Trunk(16, 2, 2, 32, max_len=8 * W), encoder_features=4,
                             max_ep_len=10)


def _inputs(seed=0, b=2):
    rng = np.random.default_rng(seed)
    return (jnp.asarray(rng.uniform(0, 1, (b, W, 6, 6)), jnp.float32),
            jnp.asarray(rng.integers(0, 6, (b, W)), jnp.int32),
            jnp.asarray(rng.uniform(0, 2, (b, W)), jnp.float32),
            jnp.asarray(rng.integers(0, 10, (b, W)), jnp.int32))


@pytest.fixture(scope="module")
def variables():
    return jax.jit(POLICY.init)(jax.random.PRNGKey(0), *_inputs())


apply = jax.jit(POLICY.apply)


def test_state_encoder_matches_numpy():
    encoder = netllm.StateEncoder(features=3)
    states = np.random.default_rng(1).uniform(0, 1, (2, 6, 6)).astype(np.float32)
    params = encoder.init(jax.random.PRNGKey(1), jnp.asarray(states))
    out = encoder.apply(params, jnp.asarray(states))
    assert [o.shape for o in out] == [(2, 3), (2, 3), (2, 9), (2, 9), (2, 3), (2, 3)]
    p = params["params"]
    leaky = lambda x: np.where(x > 0, x, 0.01 * x)
    want_buffer = leaky(states[:, 1, -1:] @ np.asarray(p["buffer"]["kernel"])
                        + np.asarray(p["buffer"]["bias"]))
    np.testing.assert_allclose(out[1], want_buffer, rtol=1e-5, atol=1e-6)
    k = np.asarray(p["throughput"]["kernel"])[:, 0, :]            # [kernel 4, F]
    conv = np.stack([states[:, 2, i:i + 4] @ k for i in range(3)], axis=1)  # [B, 3, F]
    want_tput = leaky(conv + np.asarray(p["throughput"]["bias"])).reshape(2, -1)
    np.testing.assert_allclose(out[2], want_tput, rtol=1e-5, atol=1e-6)
    k6 = np.asarray(p["next_sizes"]["kernel"])[:, 0, :]
    want_sizes = leaky(states[:, 4, :] @ k6 + np.asarray(p["next_sizes"]["bias"]))
    np.testing.assert_allclose(out[4], want_sizes, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="states must be"):
        encoder.apply(params, jnp.zeros((2, 5, 6)))


def test_head_reads_the_last_state_token_causally(variables):
    states, actions, returns, timesteps = _inputs()
    logits = apply(variables, states, actions, returns, timesteps)
    assert logits.shape == (2, W, 6)
    # a_t (and everything after step t) is invisible to the head at step t ...
    changed = apply(variables, states.at[:, 2].set(0.5), actions.at[:, 1].set(5 - actions[:, 1]),
                    returns.at[:, 2].set(-3.0), timesteps)
    np.testing.assert_allclose(changed[:, :2], logits[:, :2], rtol=1e-5, atol=1e-6)
    # ... while R_t and s_t, which precede the read-out token, are seen.
    assert not np.allclose(apply(variables, states, actions, returns.at[:, 1].set(5.0),
                                 timesteps)[:, 1], logits[:, 1])
    assert not np.allclose(apply(variables, states.at[:, 1, 5].set(0.0), actions, returns,
                                 timesteps)[:, 1], logits[:, 1])


def test_window_logits_equals_the_step_of_a_shorter_window(variables):
    states, actions, returns, timesteps = _inputs(2, b=1)
    want = apply(variables, states[:, :2], actions[:, :2], returns[:, :2],
                 timesteps[:, :2])[0, 1]
    logits = jax.jit(lambda *args: netllm.window_logits(POLICY, *args))
    got = logits(variables, states[0], actions[0], returns[0], timesteps[0], 1)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_controller_always_answers_a_valid_bitrate(variables):
    controller, carry = netllm.abr_controller(POLICY, variables, W, 2.0, -1.0, 4.0, 10.0)
    step = jax.jit(controller)
    rng = np.random.default_rng(3)
    levels = []
    for t in range(6):                      # more steps than the window: it slides
        obs = jnp.asarray(rng.normal(0, 3, (6, 6)), jnp.float32)
        level, carry = step(carry, obs, jnp.float32(rng.normal()), t, jax.random.PRNGKey(t))
        assert level.shape == () and level.dtype == jnp.int32
        levels.append(int(level))
    assert all(0 <= lv < 6 for lv in levels)
    assert list(np.asarray(carry["timesteps"])) == [3, 4, 5]
    assert list(np.asarray(carry["actions"])) == levels[-3:]


def test_lora_with_zero_b_equals_the_frozen_model(variables):
    trunk, rest = netllm.split_trunk(variables["params"])
    adapters = lora.init_lora(jax.random.PRNGKey(4), trunk, 2,
                              lora.path_target(netllm.LORA_TARGET))
    assert sorted(adapters) == [f"block_{i}/attn/{m}/kernel" for i in range(2)
                                for m in ("query", "value")]
    merged = {"params": netllm.join_trunk(lora.merge_lora(trunk, adapters, 32.0), rest)}
    inputs = _inputs(5)
    np.testing.assert_array_equal(apply(merged, *inputs), apply(variables, *inputs))
    nudged = jax.tree.map(lambda x: x + 0.1, adapters)
    moved = {"params": netllm.join_trunk(lora.merge_lora(trunk, nudged, 32.0), rest)}
    assert not np.allclose(apply(moved, *inputs), apply(variables, *inputs))


def test_returns_windows_and_loss_against_numpy():
    rng = np.random.default_rng(6)
    rewards = rng.normal(size=(3, 7)).astype(np.float32)
    np.testing.assert_allclose(netllm.returns_to_go(jnp.asarray(rewards), 10.0),
                               np.cumsum(rewards[:, ::-1], axis=1)[:, ::-1] / 10.0, rtol=1e-5)
    np.testing.assert_allclose(netllm.normalize_rewards(jnp.asarray([1.0, 3.0, 2.0]), 1.0, 3.0),
                               [0.0, 1.0, 0.5])
    states = rng.normal(size=(3, 7, 6, 6)).astype(np.float32)
    actions = rng.integers(0, 6, (3, 7)).astype(np.int32)
    got = netllm.window_batch(jnp.asarray(states), jnp.asarray(actions), jnp.asarray(rewards),
                              jnp.asarray([2, 0]), jnp.asarray([4, 1]), 3)
    np.testing.assert_array_equal(got[0][0], states[2, 4:7])
    np.testing.assert_array_equal(got[1][1], actions[0, 1:4])
    np.testing.assert_array_equal(got[3], [[4, 5, 6], [1, 2, 3]])
    logits = rng.normal(size=(2, 3, 6)).astype(np.float32)
    labels = rng.integers(0, 6, (2, 3))
    logp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    want = -np.take_along_axis(logp, labels[..., None], -1).mean()
    loss, accuracy = netllm.behaviour_cloning_loss(jnp.asarray(logits), jnp.asarray(labels))
    np.testing.assert_allclose(loss, want, rtol=1e-5)
    np.testing.assert_allclose(accuracy, np.mean(logits.argmax(-1) == labels))


def test_proxy_lm_trunk_plugs_into_the_policy():
    lm = netllm.ProxyLM(29, POLICY.trunk)
    lm_shapes = jax.eval_shape(lm.init, jax.random.PRNGKey(0), jnp.zeros((1, 8 * W), jnp.int32))
    policy_shapes = jax.eval_shape(POLICY.init, jax.random.PRNGKey(0), *_inputs())
    assert (jax.tree.map(lambda x: x.shape, lm_shapes["params"]["trunk"])
            == jax.tree.map(lambda x: x.shape, policy_shapes["params"]["trunk"]))


def test_bad_input():
    states, actions, returns, timesteps = _inputs()
    with pytest.raises(ValueError, match="must agree"):
        POLICY.init(jax.random.PRNGKey(0), states, actions, returns[:, :2], timesteps)
    long = netllm.NetLLMPolicy(netllm.Trunk(16, 2, 1, 32, max_len=16), encoder_features=4)
    with pytest.raises(ValueError, match="positions"):
        long.init(jax.random.PRNGKey(0), states, actions, returns, timesteps)


def test_experiment_smoke(tmp_path):
    from experiments import netllm_abr as experiment
    from jaxnets import experiment as experiment_lib
    config = experiment_lib.build_config(experiment, [
        "train_traces=3", "test_traces=2", "behaviours=bba", "pretrain_steps=0", "epochs=1",
        "d_model=16", "d_ff=32", "n_seeds=2"], quick=True)
    results, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    for variant in ("lora", "full"):
        entry = results["variants"][variant]
        assert len(entry["qoe"]) == 2 and all(np.isfinite(entry["qoe"]))
        assert entry["valid_fraction"] == [1.0, 1.0]
    lora_v, full_v = results["variants"]["lora"], results["variants"]["full"]
    assert lora_v["trainable_params"] < full_v["trainable_params"] == full_v["total_params"]
    assert lora_v["total_params"] > full_v["total_params"]      # + the adapters
    assert isinstance(claim.passed, bool) and "bba" in claim.ours
    assert (tmp_path / results["plot"]).exists() and (tmp_path / "results.json").exists()


@pytest.mark.slow
def test_full_reproduction(tmp_path):
    from experiments import netllm_abr as experiment
    from jaxnets import experiment as experiment_lib
    config = experiment_lib.build_config(experiment, [], quick=False)
    _, claim = experiment_lib.run_experiment(experiment, config, tmp_path)
    assert claim.passed, claim.text
