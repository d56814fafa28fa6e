"""Implicit time integrators for stiff models, driven by the model's generated sparse Jacobian.

    >>> from symsim import load_model
    >>> from symsim.compiler import compile_model
    >>> from symsim.system import SemiDiscreteSystem
    >>> compiled = compile_model(load_model("heat_1d").with_points(x=65), jacobian=True, egraph=False)
    >>> system = SemiDiscreteSystem(compiled, compiled.resolve_params({"D": 1.0}))
    >>> y = system.initial_values()
    >>> stepper = Rodas4(system, rtol=1e-6, atol=1e-9)
    >>> _ = stepper.advance(0.0, y, 0.1, None)       # 2000x the explicit limit per step, and more
    >>> stepper.stats()["steps"] < 60
    True

* ``rodas``: Rodas4 (Hairer & Wanner, *Solving ODEs II*, sec. IV.7), a 6-stage L-stable,
  stiffly accurate Rosenbrock method of order 4 with an embedded order-3 solution for step
  control. A Rosenbrock step solves linear systems with ``I/(h*gamma) - J`` (one sparse LU
  per step, SciPy's SuperLU) and needs no Newton iteration, so no convergence test can fail
  silently; it needs the exact Jacobian, which symsim generates.
* ``bdf`` and ``radau``: SciPy's variable-order (1-5) BDF and 5th-order Radau IIA, given the
  generated sparse Jacobian (they reuse its LU while Newton converges). Well-kept reference
  implementations of the two other classical families, with a symsim front end.

Every method lands exactly on the save times (the controller keeps its own step across them).
"""

from __future__ import annotations

import math

import numpy as np

from .errors import SolverError

#: implicit methods: (description, order)
IMPLICIT = {"rodas": ("Rodas4, L-stable Rosenbrock, order 4 (symsim)", 4),
            "bdf": ("variable-order BDF 1-5 (SciPy) with symsim's sparse Jacobian", 5),
            "radau": ("Radau IIA, order 5 (SciPy) with symsim's sparse Jacobian", 5)}

# Rodas4 (Hairer & Wanner's rodas.f, METH=1): stage i solves
#   (I/(h*gamma) - J) k_i = f(t + c_i h, y + sum_j A[i][j] k_j) + sum_j (C[i][j]/h) k_j + h*D[i]*f_t
# the solution is y + sum_j A[5][j] k_j + k_5 + k_6 (stiffly accurate), k_6 its error estimate
_GAMMA = 0.25
_C = (0.0, 0.386, 0.21, 0.63, 1.0, 1.0)
_D = (0.25, -0.1043, 0.1035, -0.3620000000000023e-01, 0.0, 0.0)
_A = ((),
      (1.544,),
      (0.9466785280815826, 0.2557011698983284),
      (3.314825187068521, 2.896124015972201, 0.9986419139977817),
      (1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950),
      (1.221224509226641, 6.019134481288629, 12.53708332932087, -0.6878860361058950, 1.0))
_CC = ((),
       (-5.6688,),
       (-2.430093356833875, -0.2063599157091915),
       (-0.1073529058151375, -9.594562251023355, -20.47028614809616),
       (7.496443313967647, -10.24680431464352, -33.99990352819905, 11.70890893206160),
       (8.083246795921522, -7.981132988064893, -31.52159432874371, 16.31930543123136, -6.058818238834054))

#: SuperLU's column ordering: minimum degree on the structure of A^T + A. Stencil matrices are
#: structurally symmetric; on the periodic 32^2 Brusselator it leaves half the fill of SuperLU's
#: default COLAMD (143,784 vs 272,748 nonzeros in L+U), and factors 1.4x and solves 1.6x faster
#: (benchmarks/stiff.py prints the comparison for every problem)
ORDERING = "MMD_AT_PLUS_A"

#: step-size controller: h_new = h * clip(SAFETY * err**(-1/4), FAC_MIN, FAC_MAX)
SAFETY, FAC_MIN, FAC_MAX = 0.9, 0.2, 6.0


class Rodas4:
    """Rodas4 with error control on a :class:`~symsim.system.SemiDiscreteSystem` (or any object with
    ``f(t, y)``, ``jacobian(t, y)`` (sparse), ``time_derivative(t, y, fy)`` and ``size``)."""

    method = "rodas"
    order = 4

    def __init__(self, system, rtol: float = 1e-6, atol: float = 1e-9, max_steps: int = 1_000_000):
        if not (rtol >= 0 and atol >= 0 and rtol + atol > 0):
            raise SolverError(f"tolerances must be >= 0 and not both zero, got rtol={rtol}, atol={atol}")
        self.system, self.rtol, self.atol, self.max_steps = system, float(rtol), float(atol), int(max_steps)
        self.accepted = self.rejected = self.factorizations = self.solves = 0
        from scipy import sparse
        self._identity = sparse.identity(system.size, format="csc")

    def stats(self) -> dict:
        return {"steps": self.accepted, "rejected": self.rejected, "rhs_evaluations": self.system.rhs_evaluations,
                "jacobian_evaluations": self.system.jacobian_evaluations, "factorizations": self.factorizations,
                "linear_solves": self.solves}

    def _factor(self, jacobian, h: float, t: float):
        from scipy.sparse.linalg import splu
        matrix = (self._identity * (1.0 / (h * _GAMMA)) - jacobian).tocsc()
        self.factorizations += 1
        try:
            return splu(matrix, permc_spec=ORDERING)
        except RuntimeError as error:     # SuperLU: "Factor is exactly singular"
            raise SolverError(f"the Rosenbrock matrix I/(h*gamma) - J is singular at t={t:.6g} (h={h:.3g}): {error}; "
                              "check the model's Jacobian (a field that nothing depends on?)") from None

    def _step(self, t: float, y: np.ndarray, h: float, fy, jacobian, ft):
        """(new y, error estimate) of one Rodas4 step of size h."""
        lu = self._factor(jacobian, h, t)
        k = []
        for i in range(6):
            if i == 0:
                rate = fy
            else:
                stage = y + sum(a * kj for a, kj in zip(_A[i], k))
                rate = self.system.f(t + _C[i] * h, stage)
            right = rate + sum((c / h) * kj for c, kj in zip(_CC[i], k))
            if ft is not None and _D[i]:
                right = right + (h * _D[i]) * ft
            k.append(lu.solve(right))
            self.solves += 1
        y_new = y + sum(a * kj for a, kj in zip(_A[5], k)) + k[5]
        return y_new, k[5]

    def _error_norm(self, error, y, y_new) -> float:
        scale = self.atol + self.rtol * np.maximum(np.abs(y), np.abs(y_new))
        return float(np.sqrt(np.mean((error / scale) ** 2))) if error.size else 0.0

    def initial_step(self, t: float, y: np.ndarray, fy: np.ndarray, span: float) -> float:
        """A first trial step (Hairer's first guess): the one over which an Euler step changes y by 1%,
        relative to the tolerances; capped at the span. The controller corrects it within a few steps."""
        scale = self.atol + self.rtol * np.abs(y)
        size = float(np.sqrt(np.mean((y / scale) ** 2))) if y.size else 0.0
        rate = float(np.sqrt(np.mean((fy / scale) ** 2))) if fy.size else 0.0
        h = 1e-6 * span if size < 1e-5 or rate < 1e-5 or not math.isfinite(rate) else 0.01 * size / rate
        return float(min(h, span))

    def advance(self, t: float, y: np.ndarray, t_target: float, dt: float | None) -> float:
        """Step from t to exactly ``t_target``, updating ``y`` in place; returns the next trial step."""
        if t_target <= t:
            return dt
        fy = self.system.f(t, y)
        if dt is None:
            dt = self.initial_step(t, y, fy, t_target - t)
        jacobian = ft = None
        fresh = False
        after_reject = False
        attempts = 0
        while True:
            attempts += 1
            if attempts > self.max_steps:
                raise SolverError(f"maximum number of steps ({self.max_steps}) exceeded at t={t:.6g} while advancing "
                                  f"to t={t_target:.6g} (h={dt:.3g}); loosen --rtol/--atol")
            if not fresh:
                jacobian = self.system.jacobian(t, y)
                ft = self.system.time_derivative(t, y, fy)
                fresh = True
            remaining = t_target - t
            last = dt >= remaining * (1 - 1e-12)
            h = remaining if last else dt
            y_new, error = self._step(t, y, h, fy, jacobian, ft)
            err = self._error_norm(error, y, y_new)
            if err <= 1.0 and np.isfinite(y_new).all():
                fac = FAC_MAX if err == 0.0 else min(FAC_MAX, max(FAC_MIN, SAFETY * err ** -0.25))
                if after_reject:
                    fac = min(1.0, fac)
                after_reject = False
                y[...] = y_new
                t = t_target if last else t + h
                self.accepted += 1
                if last:
                    return max(dt, h * fac)
                dt = h * fac
                fy = self.system.f(t, y)
                fresh = False
            else:
                fac = max(FAC_MIN, SAFETY * err ** -0.25) if math.isfinite(err) else FAC_MIN
                after_reject = True
                self.rejected += 1
                dt = h * fac
            if dt < 1e-14 * max(1.0, abs(t)):
                raise SolverError(f"step size underflow at t={t:.6g} (h={dt:.3g}): the solution may blow up there "
                                  "(check the model and its parameters), or the tolerances are too tight for float64")


class ScipyImplicit:
    """SciPy's BDF or Radau on a system, with its generated sparse Jacobian, behind ``advance``."""

    def __init__(self, method: str, system, t0: float, y0: np.ndarray, t_end: float, rtol: float, atol: float):
        from scipy import integrate
        solver_class = {"bdf": integrate.BDF, "radau": integrate.Radau}[method]
        self.method, self.system = method, system
        self.order = IMPLICIT[method][1]
        solver = solver_class(system.f, t0, np.array(y0, dtype=float), t_end, rtol=rtol, atol=atol,
                              jac=lambda t, y: system.jacobian(t, y, copy=True))

        def lu(matrix):
            # SciPy's own (an attribute its steps call) with symsim's ordering, see ORDERING
            from scipy.sparse.linalg import splu
            solver.nlu += 1
            return splu(matrix.tocsc(), permc_spec=ORDERING)

        solver.lu = lu
        self._solver = solver
        self.accepted = 0

    def advance(self, t: float, y: np.ndarray, t_target: float, dt=None):
        solver = self._solver
        while solver.t < t_target and solver.status == "running":
            message = solver.step()
            if solver.status == "failed":
                raise SolverError(f"{self.method} failed at t={solver.t:.6g}: {message.rstrip('.')}; the solution may "
                                  "blow up there (check the model and its parameters), or the tolerances are too tight")
            self.accepted += 1
        if solver.t == t_target:
            y[...] = solver.y
        else:
            y[...] = solver.dense_output()(t_target)
        return None

    def stats(self) -> dict:
        solver = self._solver
        return {"steps": self.accepted, "rhs_evaluations": self.system.rhs_evaluations,
                "jacobian_evaluations": solver.njev, "factorizations": solver.nlu}


def implicit_stepper(method: str, system, t0: float, y0, t_end: float, rtol: float, atol: float):
    """The stepper of an implicit ``method`` (see :data:`IMPLICIT`)."""
    if method == "rodas":
        return Rodas4(system, rtol, atol)
    return ScipyImplicit(method, system, t0, y0, t_end, rtol, atol)
