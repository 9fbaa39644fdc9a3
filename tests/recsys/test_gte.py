"""GTE (`jaxnets.models.gte`) against the paper's recurrence and its closed form, and the `gte`
experiment."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxnets.models import gte


def _paper_recurrence(r, k):
    """Alg. 1 literally: I_rep = Id, U = 0; k simultaneous updates."""
    item_rep, user_rep = np.eye(r.shape[1]), np.zeros(r.shape)
    for _ in range(k):
        user_rep, item_rep = r @ item_rep + user_rep, r.T @ user_rep + item_rep
    return user_rep


@pytest.fixture
def interactions(rng):
    r = (rng.random((11, 9)) < 0.3).astype(np.float64)
    users, items = np.nonzero(r)
    return r, jnp.asarray(users, jnp.int32), jnp.asarray(items, jnp.int32)


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_batched_gte_equals_the_recurrence(interactions, k):
    r, users, items = interactions
    op = gte.gte_operator(users, items, 11, 9, k=k, batch_size=4)     # 4 does not divide 11
    scores = np.concatenate([gte.gte_user_scores(users, items, op, jnp.asarray(f), 4)
                             for f in (0, 4, 8)])
    np.testing.assert_allclose(scores[:11], _paper_recurrence(r, k), rtol=1e-6)
    np.testing.assert_array_equal(scores[11:], 0)                     # rows past the last user


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_sparse_route_equals_the_recurrence(interactions, k):
    r, users, items = interactions
    props = gte.gte_propagations(np.asarray(users), np.asarray(items), 11, 9)
    scores = jax.jit(gte.gte_batch_scores_sparse, static_argnums=(4, 5))
    batches = [scores(props, users, items, jnp.asarray(f), 4, k) for f in (0, 4, 8)]
    np.testing.assert_allclose(np.concatenate(batches)[:11], _paper_recurrence(r, k), rtol=1e-6)
    np.testing.assert_array_equal(np.concatenate(batches)[11:], 0)


def test_gte_k3_equals_closed_form(interactions):
    r, users, items = interactions
    op = jax.jit(gte.gte_operator, static_argnums=(2, 3, 4, 5))(users, items, 11, 9, 3, 16)
    scores = gte.gte_user_scores(users, items, op, jnp.asarray(0), 11)
    np.testing.assert_allclose(scores, 3 * r + r @ r.T @ r, rtol=1e-6)
    np.testing.assert_allclose(gte.gte_closed_form(r), 3 * r + r @ r.T @ r)


def test_popularity_scores(interactions):
    r, _, items = interactions
    np.testing.assert_array_equal(gte.popularity_scores(items, 9), r.sum(0))


def test_bad_input_is_rejected(interactions):
    _, users, items = interactions
    with pytest.raises(ValueError, match="must lie in"):
        gte.gte_operator(users, items, 5, 9)
    with pytest.raises(ValueError, match="1-D"):
        gte.gte_operator(users, items[:-1], 11, 9)
    with pytest.raises(ValueError, match="k and batch_size"):
        gte.gte_operator(users, items, 11, 9, k=0)
    with pytest.raises(ValueError, match="must lie in"):
        gte.gte_propagations(np.asarray(users), np.asarray(items), 11, 5)
    props = gte.gte_propagations(np.asarray(users), np.asarray(items), 11, 9)
    with pytest.raises(ValueError, match="k must be"):
        gte.gte_batch_scores_sparse(props, users, items, jnp.asarray(0), 4, k=0)


def test_gte_experiment_smoke(tmp_path):
    import experiments.gte as exp
    from jaxnets import experiment

    config = experiment.build_config(exp, [], quick=True)
    results, claim = experiment.run_experiment(exp, config, tmp_path)
    assert 0 < results["gte/test/recall@20"] <= 1
    assert len(results["lightgcn/test/recall@20"]) == len(config.seeds)
    assert results["gte_wall_s"] > 0 and results["lightgcn_train_s_per_seed"] > 0
    assert (tmp_path / results["plot"]).exists()
    assert "GTE" in claim.text and isinstance(claim.passed, bool)


@pytest.mark.slow
def test_gte_full_reproduction(tmp_path):
    import experiments.gte as exp
    from jaxnets import experiment

    _, claim = experiment.run_experiment(exp, experiment.build_config(exp), tmp_path)
    assert claim.passed, claim.text
