"""Explicit Runge–Kutta methods as data: the one source every time stepper is derived from.

    >>> TABLEAUS["rk4"].b
    (0.16666666666666666, 0.3333333333333333, 0.3333333333333333, 0.16666666666666666)
    >>> bool(abs(stability_polynomial("rk4")(-2.78)) <= 1)
    True

Each method is a Butcher tableau (stage inputs ``Y_i = y + dt*sum_j a[i][j]*k_j``,
``k_i = f(t + c[i]*dt, Y_i)``, result ``y + dt*sum_i b[i]*k_i``). Derived from it:
the NumPy steppers (:mod:`symsim.integrators`), the fused stage passes of the compiled
backends (:mod:`symsim.codegen.stages`), the batched ODE ensemble solvers
(:mod:`symsim.codegen.templates.ensemble`) and the stability regions.

``alpha`` optionally gives the method's Shu–Osher form: ``Y_i = sum_j alpha[i][j]*Y_j +
dt*sum_j beta[i][j]*k_j`` (rows i = 1..s, the last row the result; ``beta`` follows from
``a``, ``b`` and ``alpha``, see :meth:`Tableau.shu_osher`). SSPRK3 in that form reads each
stage input once, pointwise, where its Butcher form would write three partial sums.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

# NumPy is imported by the two functions that compute with the tables: the CLI reads METHODS
# from here, and `symsim --help` should not pay for NumPy's import (a third of its time)
if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Tableau:
    """An explicit Runge–Kutta method: ``a`` strictly lower triangular, rows of floats."""

    name: str
    order: int
    a: tuple
    b: tuple
    c: tuple
    alpha: tuple | None = None      # Shu–Osher convex weights, rows 1..s (None: the Butcher form)
    error: tuple | None = None      # b - b_hat of an embedded pair (adaptive methods)

    @property
    def stages(self) -> int:
        return len(self.b)

    def shu_osher(self) -> tuple[np.ndarray, np.ndarray]:
        """(alpha, beta), each (s, s): row i-1 gives stage input i (row s-1 the result) as
        sum_j alpha[i-1][j]*Y_j + dt*beta[i-1][j]*k_j over earlier stages j. The Butcher form is
        alpha = [1, 0, ...] on every row and beta = a (then b)."""
        import numpy as np
        s = self.stages
        rows = np.vstack([np.asarray(self.a, dtype=float)[1:], np.asarray(self.b, dtype=float)[None]])
        if self.alpha is None:
            alpha = np.zeros((s, s))
            alpha[:, 0] = 1.0
            return alpha, rows
        alpha = np.zeros((s, s))
        for i, row in enumerate(self.alpha):
            alpha[i, :len(row)] = row
        # Y_j = y + dt*sum a[j] k, so sum_j alpha_ij Y_j = y + dt*sum_j alpha_ij a[j] k (rows sum to 1)
        stage_rows = np.asarray(self.a, dtype=float)
        beta = rows - alpha @ stage_rows
        return alpha, beta


def _rows(*rows) -> tuple:
    return tuple(tuple(float(Fraction(x)) for x in row) for row in rows)


def _row(*values) -> tuple:
    return tuple(float(Fraction(x)) for x in values)


TABLEAUS = {
    "euler": Tableau("euler", 1, _rows([0]), _row(1), _row(0)),
    # Shu & Osher's three-stage SSP scheme: u1 = u + dt L(u); u2 = 3/4 u + 1/4 (u1 + dt L(u1));
    # u_new = 1/3 u + 2/3 (u2 + dt L(u2))
    "ssprk3": Tableau("ssprk3", 3, _rows([0, 0, 0], [1, 0, 0], ["1/4", "1/4", 0]), _row("1/6", "1/6", "2/3"),
                      _row(0, 1, "1/2"), alpha=_rows([1], ["3/4", "1/4"], ["1/3", 0, "2/3"])),
    "rk4": Tableau("rk4", 4, _rows([0, 0, 0, 0], ["1/2", 0, 0, 0], [0, "1/2", 0, 0], [0, 0, 1, 0]),
                   _row("1/6", "1/3", "1/3", "1/6"), _row(0, "1/2", "1/2", 1)),
    # Dormand–Prince 5(4) (Hairer, Nørsett & Wanner, "Solving ODEs I", table 5.2). The 7th stage
    # is evaluated at the 5th-order solution itself (a[6] == b): first same as last (FSAL).
    "dopri5": Tableau(
        "dopri5", 5,
        _rows([0, 0, 0, 0, 0, 0, 0],
              ["1/5", 0, 0, 0, 0, 0, 0],
              ["3/40", "9/40", 0, 0, 0, 0, 0],
              ["44/45", "-56/15", "32/9", 0, 0, 0, 0],
              ["19372/6561", "-25360/2187", "64448/6561", "-212/729", 0, 0, 0],
              ["9017/3168", "-355/33", "46732/5247", "49/176", "-5103/18656", 0, 0],
              ["35/384", 0, "500/1113", "125/192", "-2187/6784", "11/84", 0]),
        _row("35/384", 0, "500/1113", "125/192", "-2187/6784", "11/84", 0),
        _row(0, "1/5", "3/10", "4/5", "8/9", 1, 1),
        error=_row("71/57600", 0, "-71/16695", "71/1920", "-17253/339200", "22/525", "-1/40")),
}

#: fixed-step methods (every backend) and the adaptive one
FIXED_STEP = ("euler", "ssprk3", "rk4")
METHODS = (*FIXED_STEP, "dopri5")
#: implicit methods for stiff models (symsim.implicit), driven by the model's generated sparse Jacobian
IMPLICIT_METHODS = ("rodas", "bdf", "radau", "imex-ark")
#: every method a run may ask for
RUN_METHODS = (*METHODS, *IMPLICIT_METHODS)
ORDER = {name: tableau.order for name, tableau in TABLEAUS.items()}

#: step-size controller of the adaptive pair, shared by the NumPy stepper and the ensemble solver
SAFETY, FAC_MIN, FAC_MAX = 0.9, 0.2, 5.0

# Extent of each stability region {z : |R(z)| <= 1} measured from the origin along
# the negative real axis and along the imaginary axis (first boundary crossing),
# rounded down so that |R| <= 1 holds at the stated value.  Exact values:
#   euler  : 2,       0 (|1 + ib| > 1 for every b != 0)
#   ssprk3 : 2.5127,  sqrt(3) = 1.7321
#   rk4    : 2.7853,  2*sqrt(2) = 2.8284
#   dopri5 : 3.3066,  0.997 -- DOPRI5's region leaves the imaginary axis just
#            below |z| = 1 (|R(iy)| - 1 is only ~3e-4 at y = 1.2 but grows
#            quickly); the often-quoted 3.4 is not supported by its polynomial
#            R(z) = sum_{k<=5} z^k/k! + z^6/600.  tests/test_integrators.py
#            recomputes all of these from the tableaus.
STABILITY = {
    "euler": (2.0, 0.0),
    "ssprk3": (2.51, 1.73),
    "rk4": (2.78, 2.82),
    "dopri5": (3.30, 0.99),
}


def stability_polynomial(method: str) -> np.polynomial.Polynomial:
    """R(z) with y_{n+1} = R(z) y_n on the Dahlquist test y' = λy, z = λ dt (vectorized)."""
    import numpy as np
    tableau = TABLEAUS[method]
    a, b = np.asarray(tableau.a), np.asarray(tableau.b)
    # R(z) = 1 + z b^T (I - zA)^{-1} 1 = 1 + sum_k z^{k+1} b^T A^k 1: a polynomial,
    # since an explicit method's A is strictly lower triangular (nilpotent)
    coefficients = [1.0]
    v = np.ones(len(b))
    for _ in range(len(b)):
        coefficients.append(float(b @ v))
        v = a @ v
    return np.polynomial.Polynomial(coefficients)
