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
* ``imex-ark``: ARK4(3)6L[2]SA (Kennedy & Carpenter 2003), an additive Runge-Kutta pair: the
  model's linear, time-independent part (diffusion, linear decay) with the L-stable ESDIRK
  tableau, the rest with the explicit one. The stages' systems (I - h gamma L) are solved field
  group by field group (:mod:`symsim.linear_solve`): by FFT where a group is constant-coefficient on
  a periodic grid, by a division where it has no spatial coupling, else by one factorization per
  step size, reused.
* ``bdf`` and ``radau``: SciPy's variable-order (1-5) BDF and 5th-order Radau IIA, given the
  generated sparse Jacobian (they reuse its LU while Newton converges). Well-kept reference
  implementations of the two other classical families, with a symsim front end.

``linear_solver="krylov"`` (``--linear-solver krylov``; ``auto`` takes it on 3-D grids from
KRYLOV_3D_UNKNOWNS unknowns) solves the linear systems of ``rodas``, ``bdf`` and ``imex-ark`` by GMRES
preconditioned by algebraic multigrid instead of a sparse LU, whose fill grows too fast on 3-D grids
(:class:`~symsim.linear_solve.KrylovSolver`).

``rodas``, ``bdf`` and ``radau`` land exactly on the save times (the controller keeps its own step
across them); ``imex-ark`` interpolates saves inside its steps.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from .errors import SolverError
from .integrators import hermite, initial_step_guess
from .linear_solve import KrylovSolver, ShiftedSolver, sparse_lu

#: implicit methods: (description, order)
IMPLICIT = {"rodas": ("Rodas4, L-stable Rosenbrock, order 4 (symsim)", 4),
            "bdf": ("variable-order BDF 1-5 (SciPy) with symsim's sparse Jacobian", 5),
            "radau": ("Radau IIA, order 5 (SciPy) with symsim's sparse Jacobian", 5),
            "imex-ark": ("ARK4(3)6L[2]SA IMEX: linear part implicit, the rest explicit (symsim)", 4)}

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


#: how the linear systems of a step are solved: "lu" (SuperLU), "krylov" (GMRES with an algebraic-multigrid
#: preconditioner, :class:`~symsim.linear_solve.KrylovSolver`), "auto" (:func:`choose_linear_solver`)
LINEAR_SOLVERS = ("auto", "lu", "krylov")
#: ``auto`` takes the Krylov path on 3-D grids from this many unknowns, and on any grid from KRYLOV_UNKNOWNS:
#: a sparse LU's fill grows like n^(4/3) in 3-D (nested dissection; minimum degree does worse) and like
#: n log n in 2-D. Measured here (``python benchmarks/stiff.py --krylov``, rtol 1e-5): two species on a
#: 3-D grid, rodas LU against GMRES + AMG 5.9 s / 0.78 s at 5,488 unknowns, 173 s / 4.2 s at 21,296 (one LU
#: at 54,000: 44 s, 51 million nonzeros); on the 2-D 128^2 Brusselator (32,768) LU wins, 13.7 s / 17.8 s
KRYLOV_3D_UNKNOWNS, KRYLOV_UNKNOWNS = 5_000, 1_000_000


def choose_linear_solver(system, asked: str = "auto") -> str:
    """"lu" or "krylov" for ``system`` (an ``asked`` other than "auto" is kept)."""
    if asked != "auto":
        return asked
    ndim = len(getattr(getattr(system, "lowered", None), "axes", ()) or ())
    big = system.size >= (KRYLOV_3D_UNKNOWNS if ndim == 3 else KRYLOV_UNKNOWNS)
    return "krylov" if big else "lu"


def krylov_tolerance(rtol: float) -> float:
    """GMRES's relative residual for a run at ``rtol``: far below what the step control sees."""
    return max(1e-12, min(1e-6, 1e-3 * rtol))


#: step-size controller: h_new = h * clip(SAFETY * err**(-1/4), FAC_MIN, FAC_MAX)
SAFETY, FAC_MIN, FAC_MAX = 0.9, 0.2, 6.0


def error_norm(error: np.ndarray, y: np.ndarray, y_new: np.ndarray, rtol: float, atol: float) -> float:
    """RMS of error / (atol + rtol*max(|y|, |y_new|)): a step is accepted when it is <= 1."""
    scale = atol + rtol * np.maximum(np.abs(y), np.abs(y_new))
    return float(np.sqrt(np.mean((error / scale) ** 2))) if error.size else 0.0


def initial_step(system, t: float, y: np.ndarray, fy: np.ndarray, span: float, rtol: float, atol: float,
                 order: int) -> float:
    """A first trial step: Hairer's estimate from an Euler probe (:func:`symsim.integrators.initial_step_guess`)."""
    def rhs(time, values, out):
        out[...] = system.f(time, values)

    return initial_step_guess(rhs, lambda time, values: None, t, y, rtol, atol, order=order, f0=fy, t_end=t + span)


class Rodas4:
    """Rodas4 with error control on a :class:`~symsim.system.SemiDiscreteSystem` (or any object with
    ``f(t, y)``, ``jacobian(t, y)`` (sparse), ``time_derivative(t, y, fy)`` and ``size``)."""

    method = "rodas"
    order = 4

    def __init__(self, system, rtol: float = 1e-6, atol: float = 1e-9, max_steps: int = 1_000_000,
                 linear_solver: str = "lu"):
        if not (rtol >= 0 and atol >= 0 and rtol + atol > 0):
            raise SolverError(f"tolerances must be >= 0 and not both zero, got rtol={rtol}, atol={atol}")
        self.system, self.rtol, self.atol, self.max_steps = system, float(rtol), float(atol), int(max_steps)
        self.accepted = self.rejected = self.factorizations = self.solves = 0
        self.linear_solver = choose_linear_solver(system, linear_solver)
        self._krylov = KrylovSolver(krylov_tolerance(self.rtol)) if self.linear_solver == "krylov" else None
        from scipy import sparse
        self._identity = sparse.identity(system.size, format="csc")

    def stats(self) -> dict:
        stats = {"steps": self.accepted, "rejected": self.rejected, "rhs_evaluations": self.system.rhs_evaluations,
                 "jacobian_evaluations": self.system.jacobian_evaluations, "factorizations": self.factorizations,
                 "linear_solves": self.solves, "linear_solver": self.linear_solver}
        if self._krylov is not None:
            stats.update(linear_iterations=self._krylov.iterations, preconditioner_setups=self._krylov.setups)
        return stats

    def _factor(self, jacobian, h: float, t: float):
        matrix = self._identity * (1.0 / (h * _GAMMA)) - jacobian
        if self._krylov is not None:       # no factorization: GMRES on this step's matrix
            self._krylov.set_matrix(matrix)
            return self._krylov
        self.factorizations += 1
        return sparse_lu(matrix, f"the Rosenbrock matrix I/(h*gamma) - J is singular at t={t:.6g} (h={h:.3g})",
                         "; check the model's Jacobian (a field that nothing depends on?)")

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

    def advance(self, t: float, y: np.ndarray, t_target: float, dt: float | None) -> float:
        """Step from t to exactly ``t_target``, updating ``y`` in place; returns the next trial step."""
        if t_target <= t:
            return dt
        fy = self.system.f(t, y)
        if dt is None:
            dt = initial_step(self.system, t, y, fy, t_target - t, self.rtol, self.atol, self.order)
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
            err = error_norm(error, y, y_new, self.rtol, self.atol)
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


# ARK4(3)6L[2]SA (Kennedy & Carpenter, Appl. Numer. Math. 44 (2003), table 5 and 6): an explicit and an
# L-stable, stiffly accurate ESDIRK tableau (gamma = 1/4) sharing c, b and the embedded b_hat
_F = Fraction
_ARK_C = (0, _F(1, 2), _F(83, 250), _F(31, 50), _F(17, 20), 1)
_ARK_EXPLICIT = (
    (),
    (_F(1, 2),),
    (_F(13861, 62500), _F(6889, 62500)),
    (_F(-116923316275, 2393684061468), _F(-2731218467317, 15368042101831), _F(9408046702089, 11113171139209)),
    (_F(-451086348788, 2902428689909), _F(-2682348792572, 7519795681897), _F(12662868775082, 11960479115383),
     _F(3355817975965, 11060851509271)),
    (_F(647845179188, 3216320057751), _F(73281519250, 8382639484533), _F(552539513391, 3454668386233),
     _F(3354512671639, 8306763924573), _F(4040, 17871)))
_ARK_IMPLICIT = (
    (),
    (_F(1, 4),),
    (_F(8611, 62500), _F(-1743, 31250)),
    (_F(5012029, 34652500), _F(-654441, 2922500), _F(174375, 388108)),
    (_F(15267082809, 155376265600), _F(-71443401, 120774400), _F(730878875, 902184768), _F(2285395, 8070912)),
    (_F(82889, 524892), 0, _F(15625, 83664), _F(69875, 102672), _F(-2260, 8211)))
_ARK_GAMMA = _F(1, 4)
_ARK_B = (_F(82889, 524892), 0, _F(15625, 83664), _F(69875, 102672), _F(-2260, 8211), _F(1, 4))
_ARK_B_HAT = (_F(4586570599, 29645900160), 0, _F(178811875, 945068544), _F(814220225, 1159782912),
              _F(-3700637, 11593932), _F(61727, 225920))
#: a step that could grow by less than this keeps its size, and with it its factorization
KEEP_STEP_BELOW = 2.0
#: IMEX step sizes are powers of 2**(1/STEP_LEVELS) (rounded down): a size the controller returns to
#: finds its factorization still cached. On the 32^2 Brusselator (rtol 1e-6) sqrt(2) steps and growth
#: only by 2x or more take 34 factorizations and 0.54 s where 2**(1/4) and 1.5x took 69 and 0.74 s,
#: at the same accuracy (error 3.7e-5 vs 4.4e-5)
STEP_LEVELS = 2


class ImexArk:
    """ARK4(3)6L[2]SA with error control: the model's linear, time-independent part L (diffusion, linear
    decay; :meth:`~symsim.system.SemiDiscreteSystem.linear_part`) implicit, the rest f - L y explicit.

    Each implicit stage solves (I - h gamma L) Y = ... (:class:`~symsim.linear_solve.ShiftedSolver`:
    FFTs, divisions or factorizations, group of fields by group) with one set-up for every step of
    the same size: L does not change, and the controller keeps a step that could grow by less than
    KEEP_STEP_BELOW (recent set-ups are kept by step size). The explicit part must be non-stiff: a
    stiff reaction makes the error control take small steps (use rodas there).
    """

    method = "imex-ark"
    order = 4

    def __init__(self, system, rtol: float = 1e-6, atol: float = 1e-9, t_stop: float = math.inf,
                 max_steps: int = 1_000_000, linear_solver: str = "lu"):
        if not (rtol >= 0 and atol >= 0 and rtol + atol > 0):
            raise SolverError(f"tolerances must be >= 0 and not both zero, got rtol={rtol}, atol={atol}")
        self.t_stop = float(t_stop)
        self._t = self._y = self._f = self._previous = None
        self.system, self.rtol, self.atol, self.max_steps = system, float(rtol), float(atol), int(max_steps)
        self.linear = system.linear_part().tocsr()
        self.linear_solver = choose_linear_solver(system, linear_solver)
        self._shifted = ShiftedSolver(self.linear, system.field_layout(),
                                      krylov_tolerance(self.rtol) if self.linear_solver == "krylov" else None)
        self._factors: dict = {}
        self.accepted = self.rejected = self.factorizations = self.lu_factorizations = self.solves = 0
        self._c = tuple(float(c) for c in _ARK_C)
        self._explicit, self._implicit = _lower_triangle(_ARK_EXPLICIT), _lower_triangle(_ARK_IMPLICIT)
        self._b = np.array([float(b) for b in _ARK_B])
        self._error = np.array([float(b - d) for b, d in zip(_ARK_B, _ARK_B_HAT)])

    def stats(self) -> dict:
        return {"steps": self.accepted, "rejected": self.rejected, "rhs_evaluations": self.system.rhs_evaluations,
                "jacobian_evaluations": 0, "factorizations": self.factorizations, "linear_solves": self.solves,
                "lu_factorizations": self.lu_factorizations, "implicit_nonzeros": int(self.linear.nnz),
                "implicit_solve": self._shifted.describe(), "linear_solver": self.linear_solver}

    def _solver(self, h: float, t: float):
        if h not in self._factors:
            if len(self._factors) >= 8:
                self._factors.pop(next(iter(self._factors)))
            try:
                self._factors[h] = self._shifted.factor(h * float(_ARK_GAMMA))
            except SolverError as error:
                raise SolverError(f"the IMEX matrix is singular at t={t:.6g} (h={h:.3g}): {error}") from None
            self.factorizations += 1
            self.lu_factorizations += self._factors[h].factorizations
        return self._factors[h]

    def _step(self, t: float, y: np.ndarray, h: float, first_rate=None):
        """(new y, error estimate) of one step; ``first_rate``: f(t, y) when known."""
        solver = self._solver(h, t)
        # per stage, f - L Y (explicit) and L Y (implicit), as rows: the combinations below are one
        # matrix-vector product each instead of a Python sum of scaled arrays
        explicit, implicit = np.empty((6, y.size)), np.empty((6, y.size))
        h_gamma = h * float(_ARK_GAMMA)
        for i in range(6):
            if i == 0:
                stage = y
                implicit[0] = self.linear @ y
            else:
                right = y + h * (self._explicit[i, :i] @ explicit[:i] + self._implicit[i, :i] @ implicit[:i])
                stage = solver.solve(right)
                self.solves += 1
                # the stage solved Y - h gamma L Y = right, so L Y needs no product with L (as ARKODE does;
                # the round-off it adds is eps |Y| / (h gamma), multiplied by h again in every use)
                np.subtract(stage, right, out=implicit[i])
                implicit[i] /= h_gamma
            rate = first_rate if i == 0 and first_rate is not None else self.system.f(t + self._c[i] * h, stage)
            np.subtract(rate, implicit[i], out=explicit[i])
        slopes = explicit + implicit
        return y + h * (self._b @ slopes), h * (self._error @ slopes)

    def advance(self, t: float, y: np.ndarray, t_target: float, dt: float | None) -> float:
        """The solution at ``t_target`` into ``y``; returns the next trial step.

        The stepper keeps its own state, which may lie beyond ``t_target``: a save inside a step comes
        from the cubic Hermite interpolant of the step's ends (error O(h^4), the order of the method's
        embedded solution), so saves do not cut steps (each cut size would cost a factorization).
        Steps end exactly at ``t_stop`` (the run's end), never beyond it. Between calls the caller
        leaves ``y`` to the stepper; the first call starts from (t, y).
        """
        if self._t is None:
            self._t, self._y = float(t), np.array(y, dtype=float)
            self._f = self.system.f(self._t, self._y)
            self._previous = None
        if t_target > self._t:
            dt = self._steps_past(t_target, dt)
        if t_target == self._t:
            y[...] = self._y
        else:
            t0, y0, f0 = self._previous
            y[...] = hermite((t_target - t0) / (self._t - t0), self._t - t0, y0, f0, self._y, self._f)
        return dt

    def _steps_past(self, t_target: float, dt: float | None) -> float:
        """Accepted steps until the state is at or beyond ``t_target``; returns the next trial step."""
        t, y, fy = self._t, self._y, self._f
        if dt is None:
            dt = _quantized(initial_step(self.system, t, y, fy, min(self.t_stop, t_target) - t, self.rtol, self.atol,
                                         self.order))
        attempts = 0
        after_reject = False
        while t < t_target:
            attempts += 1
            if attempts > self.max_steps:
                raise SolverError(f"maximum number of steps ({self.max_steps}) exceeded at t={t:.6g} while advancing "
                                  f"to t={t_target:.6g} (h={dt:.3g}); loosen --rtol/--atol, or use --method rodas "
                                  "if the reaction part is stiff")
            remaining = self.t_stop - t
            last = dt >= remaining * (1 - 1e-12)
            h = remaining if last else dt
            y_new, error = self._step(t, y, h, fy)
            err = error_norm(error, y, y_new, self.rtol, self.atol)
            if err <= 1.0 and np.isfinite(y_new).all():
                fac = FAC_MAX if err == 0.0 else min(FAC_MAX, max(FAC_MIN, SAFETY * err ** -0.25))
                if after_reject or fac < KEEP_STEP_BELOW:
                    fac = min(1.0, fac)
                after_reject = False
                self._previous = (t, y, fy)
                t = self.t_stop if last else t + h
                y, fy = y_new, self.system.f(t if not last else self.t_stop, y_new)
                self.accepted += 1
                if not last:
                    dt = dt if fac == 1.0 else _quantized(h * fac)
            else:
                fac = max(FAC_MIN, SAFETY * err ** -0.25) if math.isfinite(err) else FAC_MIN
                after_reject = True
                self.rejected += 1
                dt = _quantized(h * fac)
            if dt < 1e-14 * max(1.0, abs(t)):
                raise SolverError(f"step size underflow at t={t:.6g} (h={dt:.3g}): the solution may blow up there "
                                  "(check the model and its parameters), or its reaction part is stiff: use "
                                  "--method rodas")
        self._t, self._y, self._f = t, y, fy
        return dt


def _lower_triangle(rows: tuple) -> np.ndarray:
    """A tableau's coefficients a[i][j], j < i, as a 6x6 array (the diagonal and above zero)."""
    array = np.zeros((6, 6))
    for i, row in enumerate(rows):
        array[i, :i] = [float(a) for a in row[:i]]
    return array


def _quantized(h: float) -> float:
    """The largest power of 2**(1/STEP_LEVELS) not above h."""
    return 2.0 ** (math.floor(STEP_LEVELS * math.log2(h)) / STEP_LEVELS)


class ScipyImplicit:
    """SciPy's BDF or Radau on a system, with its generated sparse Jacobian, behind ``advance``."""

    def __init__(self, method: str, system, t0: float, y0: np.ndarray, t_end: float, rtol: float, atol: float,
                 linear_solver: str = "lu"):
        from scipy import integrate
        solver_class = {"bdf": integrate.BDF, "radau": integrate.Radau}[method]
        self.method, self.system = method, system
        self.order = IMPLICIT[method][1]
        solver = solver_class(system.f, t0, np.array(y0, dtype=float), t_end, rtol=rtol, atol=atol,
                              jac=lambda t, y: system.jacobian(t, y, copy=True))

        self.linear_solver = "lu" if method == "radau" else choose_linear_solver(system, linear_solver)
        self._krylov = KrylovSolver(krylov_tolerance(rtol)) if self.linear_solver == "krylov" else None

        def lu(matrix):
            # SciPy's own (an attribute its steps call) with symsim's ordering (linear_solve.ORDERING), or BDF's
            # Newton iteration on GMRES instead of a factorization
            solver.nlu += 1
            if self._krylov is not None:
                self._krylov.set_matrix(matrix)
                return self._krylov
            return sparse_lu(matrix, f"the {method.upper()} Newton matrix is singular at t={solver.t:.6g}",
                             "; check the model's Jacobian (a field that nothing depends on?)")

        solver.lu = lu
        solver.solve_lu = lambda factors, right: factors.solve(right)
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
        stats = {"steps": self.accepted, "rhs_evaluations": self.system.rhs_evaluations,
                 "jacobian_evaluations": solver.njev, "factorizations": solver.nlu, "linear_solver": self.linear_solver}
        if self._krylov is not None:
            stats.update(linear_iterations=self._krylov.iterations, preconditioner_setups=self._krylov.setups)
        return stats


def implicit_stepper(method: str, system, t0: float, y0, t_end: float, rtol: float, atol: float,
                     linear_solver: str = "auto"):
    """The stepper of an implicit ``method`` (see :data:`IMPLICIT`); ``linear_solver`` see
    :data:`LINEAR_SOLVERS`."""
    if method == "rodas":
        return Rodas4(system, rtol, atol, linear_solver=linear_solver)
    if method == "imex-ark":
        return ImexArk(system, rtol, atol, t_stop=t_end, linear_solver=linear_solver)
    return ScipyImplicit(method, system, t0, y0, t_end, rtol, atol, linear_solver)
