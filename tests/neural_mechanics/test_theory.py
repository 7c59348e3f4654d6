import numpy as np
import pytest
from scipy.integrate import solve_ivp
from scipy.linalg import expm

from replicate.papers.neural_mechanics import theory

# (gamma, omega) in the three regimes
REGIMES = {"underdamped": (0.3, 2.0), "critical": (1.5, 1.5), "overdamped": (3.0, 0.5)}


@pytest.mark.parametrize("name", list(REGIMES))
def test_regime_and_propagator_match_matrix_exponential(name):
    gamma, omega = REGIMES[name]
    assert theory.regime(gamma, omega) == name
    M = np.array([[0.0, 1.0], [-omega**2, -2 * gamma]])
    np.testing.assert_allclose(theory.propagator(0.37, gamma, omega).astype(float), expm(M * 0.37), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("name", list(REGIMES))
def test_driven_oscillator_matches_ode_solver(name):
    """X'' + 2 gamma X' + omega^2 X = F(t) from X(0)=1, X'(0)=0.5 with F(t) = 1 + sin t: the closed form with
    the Green's function (left Riemann sum, fine dt) agrees with scipy's ODE solver."""
    gamma, omega = REGIMES[name]
    F = lambda t: 1.0 + np.sin(t)  # noqa: E731
    sol = solve_ivp(lambda t, z: [z[1], F(t) - 2 * gamma * z[1] - omega**2 * z[0]], (0, 4), [1.0, 0.5],
                    rtol=1e-11, atol=1e-12, dense_output=True)
    dt = 1e-3
    tau = np.arange(0, 4, dt)
    got = theory.oscillator_solution([1.0, 2.5, 4.0], 1.0, 0.5, gamma, omega, tau, F(tau), dt).astype(float)
    np.testing.assert_allclose(got, sol.sol([1.0, 2.5, 4.0])[0], rtol=2e-3, atol=2e-3)


def test_oscillator_constants_follow_reference_formulas():
    eta, lam, beta, d = 0.1, 5e-4, 0.9, 0.0
    g, w = theory.oscillator_constants(eta, lam, beta, d)
    denom = eta * (1 - d) * (1 + beta)
    assert float(g) == pytest.approx((1 - beta) / denom)
    assert float(w) == pytest.approx(np.sqrt(4 * lam / denom))
    _, wt = theory.oscillator_constants(eta, lam, beta, d, "translation")
    assert float(wt) == pytest.approx(np.sqrt(2 * lam / denom))


def test_weight_decay_law_constant_drive_closed_form():
    """dX/dt = -2 lambda X + eta F with constant F: X(t) = e^{-2 lambda t} X0 + eta F (1 - e^{-2 lambda t})/(2 lambda)."""
    lam, eta, F, x0 = 0.3, 0.01, 2.0, 1.5
    tau = np.arange(0, 5, eta)
    got = float(theory.first_order_solution(5.0, x0, lam, eta, tau, np.full_like(tau, F))[0])
    exact = np.exp(-2 * lam * 5) * x0 + eta * F * (1 - np.exp(-2 * lam * 5)) / (2 * lam)
    assert got == pytest.approx(exact, rel=1e-2)


def test_single_bn_scaled_layer_discrete_law():
    """A hand-made scale-invariant loss L(theta) = f(theta/|theta|): the SGD iterates obey the discrete law exactly
    and the continuous law approximately."""
    rng = np.random.default_rng(0)
    a = rng.normal(size=5)
    theta = rng.normal(size=5)
    eta, lam, K = 0.05, 0.1, 400

    def grad(th):  # L = -<a, th/|th|>, grad orthogonal to th
        n = np.linalg.norm(th)
        u = th / n
        return -(a - u * (a @ u)) / n

    xs, drives = [theta @ theta], []
    for _ in range(K):
        g = grad(theta)
        assert abs(g @ theta) < 1e-12
        drives.append(g @ g)
        theta = theta - eta * (g + lam * theta)
        xs.append(theta @ theta)
    disc = theory.discrete_scale(xs[0], eta, lam, drives).astype(float)
    np.testing.assert_allclose(disc, xs, rtol=1e-12)
    tau = eta * np.arange(K)
    cont = theory.first_order_solution(eta * K, xs[0], lam, eta, tau, drives).astype(float)[0]
    assert cont == pytest.approx(xs[-1], rel=2e-2)
    # momentum: the two-state discrete law is exact too
    theta, v, xs, drives, beta = rng.normal(size=5), np.zeros(5), [], [], 0.9
    xs.append(theta @ theta)
    for _ in range(K):
        v = beta * v + grad(theta) + lam * theta
        theta = theta - eta * v
        drives.append(v @ v)
        xs.append(theta @ theta)
    np.testing.assert_allclose(theory.discrete_scale(xs[0], eta, lam, drives, beta=beta).astype(float), xs, rtol=1e-10)


def test_discrete_translation_is_geometric_without_momentum():
    s = theory.discrete_translation(2.0, 0.1, 0.01, 50).astype(float)
    np.testing.assert_allclose(s, 2.0 * (1 - 0.001) ** np.arange(51), rtol=1e-14)
