"""Exact finite-difference weights (Fornberg's algorithm, as SymPy implements it) and stencil shapes.

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
    spaced grids", in exact arithmetic (:func:`sympy.finite_diff_weights`), so
    symmetric stencils come out symmetric.
    """
    nodes = tuple(sympy.Rational(Fraction(n).numerator, Fraction(n).denominator) for n in nodes)
    if len(set(nodes)) != len(nodes):
        raise ValueError(f"stencil nodes must be distinct, got {[str(n) for n in nodes]}")
    if derivative < 0 or len(nodes) <= derivative:
        raise ValueError(f"{len(nodes)} nodes cannot approximate a derivative of order {derivative}")
    at = Fraction(at)
    return list(_weights(derivative, sympy.Rational(at.numerator, at.denominator), nodes))


@lru_cache(maxsize=None)
def _weights(derivative: int, at: sympy.Rational, nodes: tuple) -> tuple:
    # finite_diff_weights(m, x, x0)[m][-1]: the m-th derivative from all of x
    return tuple(sympy.finite_diff_weights(derivative, nodes, at)[derivative][-1])


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
