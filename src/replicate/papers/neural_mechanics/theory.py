"""The laws of the tracked quantities: continuous theory (Parts 2-4 of the talk) and exact discrete laws.

Time is ``t = eta (1 - dampening) k`` after ``k`` steps. For a scale quantity ``X = |theta_A|^2`` (rescale:
``|theta_A1|^2 - |theta_A2|^2``, with drive ``|g_A1|^2 - |g_A2|^2``) and a translation quantity
``S = <theta_A, 1>``:

* gradient flow (Part 2, lambda = 0, eta -> 0): ``X(t) = X(0)``, ``S(t) = S(0)``;
* SGD with weight decay (Part 4, modified flow ``d theta/dt + lambda theta = -g - eta/2 H g``)::

      S(t) = e^{-lambda t} S(0)
      X(t) = e^{-2 lambda t} (X(0) + eta int_0^t e^{2 lambda tau} |g(tau)|^2 d tau)

  the integral taken as the left Riemann sum over steps, ``eta^2 sum_k e^{2 lambda tau_k} |g_k|^2``;
* SGD with momentum beta: ``eta(1+beta)/2 X'' + (1-beta) X' + 2 lambda X = eta (1+beta) |theta'|^2``, i.e. the
  damped driven oscillator ``X'' + 2 gamma X' + omega^2 X = 2 |theta'|^2`` with
  ``denom = eta (1 - dampening)(1 + beta)``, ``gamma = (1 - beta)/denom``, ``omega^2 = 4 lambda/denom``
  (translation: ``omega^2 = 2 lambda/denom`` and no drive), started at rest (``X'(0) = 0``). Its solution is
  the homogeneous part plus the Green's function ``G`` (under-, critically or over-damped) convolved with the
  drive, which we accumulate step by step as impulses.

Discrete laws (beyond the talk), exact for ``theta_{k+1} = theta_k - eta v_{k+1}``,
``v_{k+1} = beta v_k + (1 - dampening)(g_k + lambda theta_k)`` (PyTorch's SGD; ``v_1 = g_0 + lambda theta_0``)
whenever ``<g_k, generator> = 0``:

* plain SGD: ``X_{k+1} = (1 - eta lambda)^2 X_k + eta^2 |g_k|^2``, ``S_{k+1} = (1 - eta lambda) S_k``;
* momentum: with ``P_k = <theta_k, v_k>`` and ``Q_k = beta P_k + (1-dampening) lambda X_k``:
  ``X_{k+1} = X_k - 2 eta Q_k + eta^2 |v_{k+1}|^2``, ``P_{k+1} = Q_k - eta |v_{k+1}|^2``; translation with
  ``w_k = <v_k, 1>``: ``w_{k+1} = beta w_k + (1-dampening) lambda S_k``, ``S_{k+1} = S_k - eta w_{k+1}``.

The closed forms are evaluated in numpy's longdouble (float128 where the platform has it).
"""
from __future__ import annotations

import numpy as np

LD = np.longdouble


def oscillator_constants(eta: float, lam: float, beta: float, dampening: float = 0.0, kind: str = "scale"):
    """``(gamma, omega)`` of the damped oscillator for a scale/rescale (``omega^2 = 4 lambda/denom``) or a
    translation quantity (``omega^2 = 2 lambda/denom``); ``denom = eta (1-dampening)(1+beta)``."""
    denom = LD(eta) * (1 - LD(dampening)) * (1 + LD(beta))
    gamma = (1 - LD(beta)) / denom
    omega = np.sqrt((4 if kind != "translation" else 2) * LD(lam) / denom)
    return gamma, omega


def regime(gamma, omega, rtol: float = 1e-9) -> str:
    """``underdamped`` (gamma < omega), ``critical`` or ``overdamped`` (gamma > omega)."""
    g2, w2 = LD(gamma) ** 2, LD(omega) ** 2
    if abs(g2 - w2) <= rtol * max(g2, w2, LD(1e-300)):
        return "critical"
    return "underdamped" if g2 < w2 else "overdamped"


def homogeneous(t, x0, v0, gamma, omega):
    """Closed-form ``(X(t), X'(t))`` of ``X'' + 2 gamma X' + omega^2 X = 0``, ``X(0) = x0``, ``X'(0) = v0``."""
    t = np.asarray(t, dtype=LD)
    x0, v0, gamma, omega = LD(x0), LD(v0), LD(gamma), LD(omega)
    r = regime(gamma, omega)
    e = np.exp(-gamma * t)
    if r == "underdamped":
        wd = np.sqrt(omega**2 - gamma**2)
        c, s = np.cos(wd * t), np.sin(wd * t)
        a, b = x0, (v0 + gamma * x0) / wd
        x = e * (a * c + b * s)
        v = e * ((b * wd - gamma * a) * c - (a * wd + gamma * b) * s)
    elif r == "critical":
        a, b = x0, v0 + gamma * x0
        x = e * (a + b * t)
        v = e * (b - gamma * (a + b * t))
    else:
        sq = np.sqrt(gamma**2 - omega**2)
        rp, rm = -gamma + sq, -gamma - sq
        cp, cm = (v0 - rm * x0) / (rp - rm), (rp * x0 - v0) / (rp - rm)
        ep, em = np.exp(rp * t), np.exp(rm * t)
        x = cp * ep + cm * em
        v = cp * rp * ep + cm * rm * em
    return x, v


def green(t, gamma, omega):
    """The Green's function ``G(t)`` (response to a unit impulse: ``G(0) = 0``, ``G'(0) = 1``)."""
    return homogeneous(t, 0.0, 1.0, gamma, omega)[0]


def propagator(dt: float, gamma, omega) -> np.ndarray:
    """``exp(M dt)`` for the state ``(X, X')``, ``M = [[0, 1], [-omega^2, -2 gamma]]``, from the closed forms."""
    x1, v1 = homogeneous(dt, 1.0, 0.0, gamma, omega)
    x2, v2 = homogeneous(dt, 0.0, 1.0, gamma, omega)
    return np.array([[x1, x2], [v1, v2]], dtype=LD)


def oscillator_solution(t, x0, v0, gamma, omega, drive_times, drive_values, dt):
    """``X(t)`` = homogeneous part + ``sum_k G(t - tau_k) F_k dt`` over the impulses with ``tau_k < t``
    (the left Riemann sum of ``int_0^t G(t - tau) F(tau) d tau``). Reference implementation, O(T K)."""
    t = np.atleast_1d(np.asarray(t, dtype=LD))
    x = homogeneous(t, x0, v0, gamma, omega)[0]
    tau = np.asarray(drive_times, dtype=LD)
    F = np.asarray(drive_values, dtype=LD)
    for i, ti in enumerate(t):
        m = tau < ti
        x[i] += np.sum(green(ti - tau[m], gamma, omega) * F[m]) * LD(dt)
    return x


def first_order_solution(t, x0, lam, eta, drive_times, drive_values, order: int = 2):
    """``X(t) = e^{-order lambda t}(X(0) + eta sum_{tau_k < t} eta e^{order lambda tau_k} F_k)`` -- the talk's
    weight-decay law (order 2: scale / rescale; order 1 with F = 0: translation). Reference implementation."""
    t = np.atleast_1d(np.asarray(t, dtype=LD))
    tau = np.asarray(drive_times, dtype=LD)
    F = np.asarray(drive_values, dtype=LD)
    out = np.empty_like(t)
    for i, ti in enumerate(t):
        m = tau < ti
        out[i] = np.exp(-order * LD(lam) * ti) * (LD(x0) + LD(eta) ** 2 * np.sum(np.exp(order * LD(lam) * tau[m]) * F[m]))
    return out


def discrete_scale(x0, eta, lam, drives, beta: float = 0.0, dampening: float = 0.0):
    """The exact discrete law of a scale / rescale quantity: ``X_0 .. X_K`` from the drives ``|g_k|^2``
    (plain SGD) or ``|v_{k+1}|^2`` (momentum). Reference implementation (scalar)."""
    xs, x, p = [LD(x0)], LD(x0), LD(0)
    eta, lam, beta = LD(eta), LD(lam), LD(beta)
    for k, d in enumerate(drives):
        if beta == 0:
            x = (1 - eta * lam) ** 2 * x + eta**2 * LD(d)
        else:
            q = beta * p + (1 - LD(dampening) if k > 0 else 1) * lam * x
            x, p = x - 2 * eta * q + eta**2 * LD(d), q - eta * LD(d)
        xs.append(x)
    return np.array(xs, dtype=LD)


def discrete_translation(s0, eta, lam, steps: int, beta: float = 0.0, dampening: float = 0.0):
    """The exact discrete law of a translation quantity ``S_0 .. S_K`` (no drive: ``<g, 1> = 0``)."""
    out, s, w = [LD(s0)], LD(s0), LD(0)
    for k in range(steps):
        w = LD(beta) * w + (1 - LD(dampening) if k > 0 else 1) * LD(lam) * s
        s = s - LD(eta) * w
        out.append(s)
    return np.array(out, dtype=LD)
