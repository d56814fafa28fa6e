"""Exact finite-difference weights (Fornberg's algorithm) and stencil shapes.

    >>> fornberg_weights(2, 0, [-1, 0, 1])
    [1, -2, 1]

Weights are exact SymPy rationals for integer node offsets on a unit grid: a
derivative of order ``m`` on spacing ``h`` is ``sum(w_k * u[k]) / h**m``.
"""

from __future__ import annotations

from fractions import Fraction
from functools import lru_cache

import sympy


def fornberg_weights(derivative: int, at, nodes) -> list[sympy.Rational]:
    """Weights of the ``derivative``-th derivative at ``at`` from values at ``nodes``.

    Fornberg (1988), "Generation of finite difference formulas on arbitrarily
    spaced grids"; exact arithmetic, so symmetric stencils come out symmetric.
    """
    nodes = tuple(Fraction(n) for n in nodes)
    if len(set(nodes)) != len(nodes):
        raise ValueError(f"stencil nodes must be distinct, got {[str(n) for n in nodes]}")
    return [sympy.Rational(w.numerator, w.denominator)
            for w in _fornberg(derivative, Fraction(at), nodes)]


@lru_cache(maxsize=None)
def _fornberg(m: int, x0: Fraction, nodes: tuple[Fraction, ...]) -> tuple[Fraction, ...]:
    n = len(nodes)
    if m < 0 or n <= m:
        raise ValueError(f"{n} nodes cannot approximate a derivative of order {m}")
    # c[k][j]: weight of node j for the k-th derivative using the nodes seen so far
    c = [[Fraction(0)] * n for _ in range(m + 1)]
    c[0][0] = Fraction(1)
    c1 = Fraction(1)
    c4 = nodes[0] - x0
    for i in range(1, n):
        mn = min(i, m)
        c2 = Fraction(1)
        c5 = c4
        c4 = nodes[i] - x0
        for j in range(i):
            c3 = nodes[i] - nodes[j]
            c2 *= c3
            if j == i - 1:
                for k in range(mn, 0, -1):
                    c[k][i] = c1 * (k * c[k - 1][i - 1] - c5 * c[k][i - 1]) / c2
                c[0][i] = -c1 * c5 * c[0][i - 1] / c2
            for k in range(mn, 0, -1):
                c[k][j] = (c4 * c[k][j] - k * c[k - 1][j]) / c3
            c[0][j] = c4 * c[0][j] / c3
        c1 = c2
    return tuple(c[m])


def centered_half_width(derivative: int, accuracy: int) -> int:
    """Half-width r of the centered stencil of the given accuracy order.

    A centered stencil on 2r+1 points differentiates to order ``accuracy`` when
    r = ceil(derivative / 2) + accuracy / 2 - 1 (e.g. 1 for u_x and u_xx at order 2).
    """
    if accuracy < 2 or accuracy % 2:
        raise ValueError(f"space order must be an even number >= 2, got {accuracy}")
    return (derivative + 1) // 2 + accuracy // 2 - 1


def centered_stencil(derivative: int, accuracy: int) -> dict[int, sympy.Rational]:
    """Offset -> weight of the centered stencil (zero weights dropped).

    >>> centered_stencil(1, 2)
    {-1: -1/2, 1: 1/2}
    """
    r = centered_half_width(derivative, accuracy)
    offsets = list(range(-r, r + 1))
    weights = fornberg_weights(derivative, 0, offsets)
    return {k: w for k, w in zip(offsets, weights) if w != 0}


def extrapolation_weights(target: int, nodes) -> list[sympy.Rational]:
    """Lagrange weights that extrapolate values at ``nodes`` to the point ``target``."""
    return fornberg_weights(0, target, nodes)
