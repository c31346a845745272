import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg

from dcmmm.model.graph import (
    ChannelGraph,
    acyclicity,
    allowed_edges,
    excess_driven,
    find_cycle,
    graph_matrix,
    propagate,
    remove_own_activity,
    selection_share,
    sem_loss,
    threshold_graph,
)


def test_h_zero_for_triangular():
    w = jnp.triu(jax.random.normal(jax.random.key(1), (5, 5)), k=1)
    assert abs(float(acyclicity(w))) < 1e-5


@pytest.mark.parametrize("a,b", [(0.5, 0.8), (1.0, 1.0), (0.2, 1.5)])
def test_h_two_cycle_closed_form(a, b):
    w = jnp.array([[0.0, a], [b, 0.0]])
    np.testing.assert_allclose(float(acyclicity(w)), 2 * np.cosh(a * b) - 2, rtol=1e-5)


def test_h_and_gradient_match_scipy_expm_float64():
    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        w = rng.normal(size=(4, 4)) * 0.7
        h = float(acyclicity(jnp.asarray(w)))
        e = scipy.linalg.expm(w * w)
        np.testing.assert_allclose(h, np.trace(e) - 4, rtol=1e-10)
        grad = np.asarray(jax.grad(acyclicity)(jnp.asarray(w)))
        np.testing.assert_allclose(grad, e.T * 2 * w, rtol=1e-8, atol=1e-10)
        # and against a finite difference of the scipy oracle
        eps = 1e-6
        d = np.zeros_like(w)
        d[1, 2] = eps
        fd = (np.trace(scipy.linalg.expm((w + d) ** 2)) - np.trace(scipy.linalg.expm((w - d) ** 2))) / (2 * eps)
        np.testing.assert_allclose(grad[1, 2], fd, rtol=1e-5)


def test_allowed_edges_modes():
    assert not allowed_edges("none", 3).any()
    tri = allowed_edges("triangular", 3)
    assert tri[0, 1] and not tri[1, 0] and not tri[0, 0]
    full = allowed_edges("notears", 3, forbid=[(0, 1)], require=[(2, 0)])
    assert not full[0, 1] and full[2, 0] and not np.diag(full).any()


def test_threshold_cuts_small_and_breaks_cycles():
    w = np.array([[0.0, 0.9, 0.05], [0.0, 0.0, 0.7], [0.3, 0.0, 0.0]])
    out = threshold_graph(w, 0.1)
    assert out[0, 2] == 0.0  # below threshold
    assert out[2, 0] == 0.0  # weakest edge of the cycle 0->1->2->0
    assert out[0, 1] == 0.9 and out[1, 2] == 0.7
    assert find_cycle(out != 0) is None


def test_threshold_always_acyclic_random():
    rng = np.random.default_rng(3)
    for _ in range(20):
        w = rng.normal(size=(6, 6))
        out = threshold_graph(w, 0.2)
        assert find_cycle(out != 0) is None
        assert abs(float(acyclicity(jnp.asarray(out, jnp.float32)))) < 1e-3 or np.abs(out).max() > 3


def test_required_edges_survive_threshold():
    w = np.array([[0.0, 0.01], [0.0, 0.0]])
    assert threshold_graph(w, 0.1, required=[(0, 1)])[0, 1] == 0.01


def test_remove_own_activity_direct_and_total():
    # channel 0 drives channel 1 with weight 0.5
    w = jnp.array([[0.0, 0.5], [0.0, 0.0]])
    u = jnp.array([[2.0, 1.0], [4.0, 1.0]])
    x = propagate(u, w)
    np.testing.assert_allclose(x, [[2.0, 2.0], [4.0, 3.0]], rtol=1e-6)
    total = remove_own_activity(x, w, 0, propagate_to_children=True)
    np.testing.assert_allclose(total, [[0.0, 1.0], [0.0, 1.0]], atol=1e-6)
    direct = remove_own_activity(x, w, 0, propagate_to_children=False)
    np.testing.assert_allclose(direct, [[0.0, 2.0], [0.0, 3.0]], atol=1e-6)
    # removing the child's own activity keeps the driven part
    child = remove_own_activity(x, w, 1)
    np.testing.assert_allclose(child, [[2.0, 1.0], [4.0, 2.0]], atol=1e-6)


def test_module_masks_disallowed():
    g = ChannelGraph(allowed_edges("triangular", 3), scale=0.3)
    w, h = g()
    assert float(w[1, 0]) == 0.0 and float(w[0, 1]) == pytest.approx(0.3)
    assert abs(float(h)) < 1e-6


def test_sem_with_own_spend_separates_planning_from_driving():
    # channels 0 and 1 are planned together (correlated spend); 0 drives 2.
    rng = np.random.default_rng(0)
    s0 = rng.gamma(2.0, 0.5, 200)
    spend = np.stack([s0, s0 * rng.uniform(0.9, 1.1, 200), rng.gamma(2.0, 0.5, 200)], axis=1)
    w_true = np.zeros((3, 3))
    w_true[0, 2] = 0.5
    x = spend.copy()
    x[:, 2] += 0.5 * x[:, 0]
    weight = jnp.ones(200)
    x, spend = jnp.asarray(x), jnp.asarray(spend)
    assert float(sem_loss(jnp.asarray(w_true), x, weight, own=spend)) < 1e-10
    spurious = jnp.asarray(w_true).at[0, 1].set(0.9)
    assert float(sem_loss(spurious, x, weight, own=spend)) > 1e-2
    # without spend (centred activity), the spurious edge fits nearly as well
    xc = x - x.mean(axis=0)
    centred_gap = float(sem_loss(spurious, xc, weight)) - float(sem_loss(jnp.asarray(w_true), xc, weight))
    assert centred_gap < float(sem_loss(spurious, x, weight, own=spend))


def test_positive_graph_is_nonnegative_for_any_raw_weights():
    allowed = allowed_edges("notears", 4)
    raw = jax.random.normal(jax.random.key(0), (4, 4)) * 5.0
    w = graph_matrix({"raw_positive_w": raw}, jnp.asarray(allowed, jnp.float32))
    assert float(jnp.min(w)) >= 0.0
    assert not np.asarray(w)[~allowed].any()
    start, _ = ChannelGraph(allowed, sign="positive")()
    np.testing.assert_allclose(np.asarray(start)[allowed], 0.01, rtol=1e-5)


def test_excess_driven_closed_form():
    # parent on (1.0), child off: W = 0.5 drives 0.5 the child does not have
    x = jnp.array([[1.0, 0.0], [2.0, 3.0]])
    w = jnp.array([[0.0, 0.5], [0.0, 0.0]])
    assert float(excess_driven(w, x, jnp.ones(2))) == pytest.approx(0.5 * 0.5**2 / 2)
    # the same graph where the child always has at least what the parent drives: no excess
    assert float(excess_driven(w, jnp.array([[1.0, 0.6], [2.0, 3.0]]), jnp.ones(2))) == 0.0


def test_stable_mask_cuts_unstable_edges():
    w = np.array([[0.0, 0.9, 0.5], [0.0, 0.0, 0.7], [0.0, 0.0, 0.0]])
    stable = np.array([[0, 1, 0], [0, 0, 1], [0, 0, 0]], bool)
    out = threshold_graph(w, 0.1, stable=stable)
    assert out[0, 2] == 0.0 and out[0, 1] == 0.9 and out[1, 2] == 0.7


def test_selection_share_counts_graphs_with_each_edge():
    graphs = np.zeros((4, 2, 2))
    graphs[:3, 0, 1] = 0.4
    np.testing.assert_allclose(selection_share(graphs), [[0.0, 0.75], [0.0, 0.0]])


@pytest.mark.parametrize("n", [1, 2, 5, 13])
def test_gauss_jordan_matches_numpy_under_vmap_and_in_its_gradient(n):
    """Oracle: numpy's LAPACK solve in float64, and jnp.linalg.solve's gradient.
    On one device `solve` is jnp.linalg.solve itself."""
    from dcmmm.model.graph import gauss_jordan, solve

    rng = np.random.default_rng(n)
    a = rng.normal(size=(3, n, n)).astype(np.float32)
    a[0] = np.eye(n) - rng.uniform(0.0, 0.3, (n, n))  # the graph's I − W
    a[1, :, [0]] *= 1e-3  # a small leading column: the pivot must be chosen
    b = rng.normal(size=(3, n, 7)).astype(np.float32)
    got = np.asarray(jax.vmap(gauss_jordan)(jnp.asarray(a), jnp.asarray(b)))
    want = np.linalg.solve(a.astype(np.float64), b.astype(np.float64))
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=2e-4 * np.abs(want).max())
    grad = jax.grad(lambda m: gauss_jordan(m, jnp.asarray(b[0])).sum())(jnp.asarray(a[0]))
    ref = jax.grad(lambda m: jnp.linalg.solve(m, jnp.asarray(b[0])).sum())(jnp.asarray(a[0]))
    np.testing.assert_allclose(np.asarray(grad), np.asarray(ref), rtol=1e-3,
                               atol=1e-4 * np.abs(np.asarray(ref)).max())
    assert jax.local_device_count() == 1  # the suite's process: LAPACK, as before
    np.testing.assert_array_equal(np.asarray(solve(jnp.asarray(a[0]), jnp.asarray(b[0]))),
                                  np.asarray(jnp.linalg.solve(a[0], b[0])))
