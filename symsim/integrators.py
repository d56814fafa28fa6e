"""Explicit Runge–Kutta time integrators working in place on one numpy state array.

The state ``y`` is a single float64 array of any shape (fields stacked, ghost cells
included).  The caller supplies three callables:

* ``rhs(t, y, out)`` writes dy/dt into ``out`` without allocating;
* ``constrain(t, y)`` enforces boundary conditions / ghost cells in place; it is
  applied to every stage input before ``rhs`` sees it and to the final state of a
  step at the new time;
* ``interior(y)`` returns the evolved points (only used for dopri5 error norms).

Fixed-step methods (``euler``, ``ssprk3``, ``rk4``) share one generic stage loop
driven by their Butcher tableaus (:mod:`symsim.tableaus`); ``dopri5`` is the adaptive
Dormand–Prince 5(4) pair with first-same-as-last (FSAL) reuse.

    >>> def rhs(t, y, out): out[:] = -y           # y' = -y
    >>> def constrain(t, y): pass
    >>> y = np.ones(2)
    >>> st = FixedStepper("rk4", rhs, constrain, y)
    >>> for n in range(10): _ = st.step(0.1 * n, y, 0.1)
    >>> y                                          # exp(-1) = 0.36787944...
    array([0.36787977, 0.36787977])
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from . import tableaus
from .errors import SolverError
from .tableaus import FIXED_STEP, METHODS, ORDER, TABLEAUS

RhsFn = Callable[[float, np.ndarray, np.ndarray], None]
ConstrainFn = Callable[[float, np.ndarray], None]
InteriorFn = Callable[[np.ndarray], np.ndarray]


def _lookup(method: str):
    """Tableau of a fixed-step method, or a SolverError naming ``method`` and the valid ones."""
    if method in FIXED_STEP:
        return TABLEAUS[method]
    fixed = ", ".join(repr(m) for m in FIXED_STEP)
    if method == "dopri5":
        raise SolverError(f"time integration method 'dopri5' is adaptive: use AdaptiveStepper, not a fixed-step one "
                          f"({fixed})")
    raise SolverError(f"unknown time integration method {method!r}; valid methods are "
                      f"{', '.join(repr(m) for m in METHODS)} (fixed-step: {fixed})")


def _stage_terms(row):
    """Nonzero (index, coefficient) pairs of a tableau row, so zero entries cost nothing."""
    return tuple((j, float(x)) for j, x in enumerate(row) if x != 0.0)


def _increment(acc, terms, dt, k, tmp):
    """acc = dt * sum(coef * k[j] for j, coef in terms), in place (tmp is scratch).

    The increment is summed on its own before being added to the state, as in
    y + dt*sum(b_j k_j): small increments are not rounded one by one against a
    large state.
    """
    j0, c0 = terms[0]
    np.multiply(k[j0], dt * c0, out=acc)
    for j, c in terms[1:]:
        np.multiply(k[j], dt * c, out=tmp)
        acc += tmp


class FixedStepper:
    """Fixed-step explicit Runge–Kutta (``euler``, ``ssprk3``, ``rk4``), in place, allocation-free.

    A step allocates nothing: every work array is made here, once (example: the module's).
    """

    def __init__(self, method: str, rhs: RhsFn, constrain: ConstrainFn, template: np.ndarray):
        tab = _lookup(method)
        self.method = method
        self.order = ORDER[method]
        self.rhs = rhs
        self.constrain = constrain
        self.shape = np.shape(template)
        self._c = tab.c
        self._rows = tuple(_stage_terms(row) for row in tab.a)
        self._b = _stage_terms(tab.b)
        # every work array is allocated here, once; step() only writes into them.
        # Zeroed, not empty: an rhs may leave halo cells unwritten, and those must
        # stay finite when stage combinations sweep over them.
        self._k = [np.zeros(self.shape, dtype=float) for _ in tab.b]
        self._stage = np.zeros(self.shape, dtype=float)
        self._tmp = np.zeros(self.shape, dtype=float)
        self.n_rhs = 0

    def step(self, t: float, y: np.ndarray, dt: float) -> np.ndarray:
        """Advance ``y`` in place from ``t`` to ``t + dt`` (``y`` must satisfy constrain at ``t``); returns ``y``."""
        if y.shape != self.shape:
            raise SolverError(f"state has shape {y.shape}, but the stepper was built for {self.shape}")
        k, stage, tmp = self._k, self._stage, self._tmp
        for i, terms in enumerate(self._rows):
            ti = t + self._c[i] * dt
            if not terms:
                # the stage input is y itself, already constrained at t: no copy needed
                self.rhs(ti, y, k[i])
            else:
                _increment(stage, terms, dt, k, tmp)
                stage += y
                self.constrain(ti, stage)
                self.rhs(ti, stage, k[i])
            self.n_rhs += 1
        # y is overwritten only now, after every stage has read it
        _increment(stage, self._b, dt, k, tmp)
        y += stage
        self.constrain(t + dt, y)
        return y


class CompiledStepper:
    """A backend's fused step function (``rk4_step`` of a Numba module, ...) behind the stepper interface.

        st = CompiledStepper(module.rk4_step, module.new_work(y, "rk4"), "rk4", params)
        y = st.step(t, y, dt)     # the returned array holds the new state (it may be another array)

    The work arrays are allocated once, by the caller; a step allocates nothing.
    """

    def __init__(self, step_function, work: dict, method: str, params: dict):
        self.method = method
        self.order = ORDER[method]
        self._step = step_function
        self._work = work
        self._params = params
        self._stages = TABLEAUS[method].stages
        self.n_rhs = 0

    def step(self, t: float, y: np.ndarray, dt: float) -> np.ndarray:
        self.n_rhs += self._stages
        return self._step(t, y, dt, self._params, self._work)


def hermite(theta: float, h: float, y0, f0, y1, f1):
    """The cubic Hermite interpolant of a step of size h at fraction theta: values y0, y1 and slopes f0, f1
    at its ends (error O(h^4)). What saves between steps are made of."""
    h00, h10 = 2 * theta**3 - 3 * theta**2 + 1, theta**3 - 2 * theta**2 + theta
    h01, h11 = -2 * theta**3 + 3 * theta**2, theta**3 - theta**2
    return h00 * y0 + (h * h10) * f0 + h01 * y1 + (h * h11) * f1


def _identity(a: np.ndarray) -> np.ndarray:
    return a


def _wrms(interior: InteriorFn, x: np.ndarray, y: np.ndarray, rtol: float, atol: float, total=_identity) -> float:
    """RMS over interior points of x / (atol + rtol*|y|); allocates (used only for the initial guess).
    ``total`` sums over the blocks of a decomposed grid (the identity on one process)."""
    xi = np.asarray(interior(x))
    count = total(float(xi.size))
    if count == 0:
        return 0.0
    r = xi / (atol + rtol * np.abs(np.asarray(interior(y))))
    return float(np.sqrt(total(float(np.sum(r * r))) / count))


def initial_step_guess(
    rhs: RhsFn,
    constrain: ConstrainFn,
    t: float,
    y: np.ndarray,
    rtol: float,
    atol: float,
    interior: InteriorFn | None = None,
    order: int = 5,
    f0: np.ndarray | None = None,
    t_end: float | None = None,
    total=_identity,
) -> float:
    """Hairer's starting-step heuristic (HNW I, sec. II.4): one Euler probe, two rhs calls.

        >>> def rhs(t, y, out): out[:] = -y
        >>> initial_step_guess(rhs, lambda t, y: None, 0.0, np.ones(3), 1e-6, 1e-9)
        0.0251238...

    ``f0`` may pass rhs(t, y) when already known (then only one rhs call is made);
    ``t_end`` caps the guess at the length of the interval; ``total`` sums the norms' parts over the
    blocks of a decomposed grid.
    """
    interior = interior or _identity
    if f0 is None:
        f0 = np.empty_like(y, dtype=float)
        rhs(t, y, f0)
    d0 = _wrms(interior, y, y, rtol, atol, total)
    d1 = _wrms(interior, f0, y, rtol, atol, total)
    # first guess: the step over which an Euler step changes y by 1% (relative)
    h0 = 1e-6 if (d0 < 1e-5 or d1 < 1e-5) else 0.01 * d0 / d1
    if t_end is not None:
        h0 = min(h0, abs(t_end - t))
    y1 = y + h0 * f0
    constrain(t + h0, y1)
    f1 = np.empty_like(y1)
    rhs(t + h0, y1, f1)
    # second derivative estimate decides how far the local error allows going
    d2 = _wrms(interior, f1 - f0, y, rtol, atol, total) / h0 if h0 > 0 else 0.0
    dmax = max(d1, d2)
    if not math.isfinite(dmax):
        h1 = h0 * 1e-3
    elif dmax <= 1e-15:
        h1 = max(1e-6, h0 * 1e-3)
    else:
        h1 = (0.01 / dmax) ** (1.0 / order)
    h = min(100 * h0, h1)
    if t_end is not None and t_end != t:
        h = min(h, abs(t_end - t))
    return float(h)


class AdaptiveStepper:
    """Adaptive Dormand–Prince 5(4) with FSAL, advancing ``y`` in place to an exact target time.

        >>> def rhs(t, y, out): out[:] = -y
        >>> y = np.ones(3)
        >>> st = AdaptiveStepper(rhs, lambda t, y: None, y, rtol=1e-8, atol=1e-10)
        >>> dt = st.advance(0.0, y, 1.0, dt=None)   # y now at t=1.0; dt: the suggested next step
        >>> y, st.accepted, st.rejected
        (array([0.36787944, 0.36787944, 0.36787944]), 13, 0)

    FSAL: the 7th stage input *is* the new 5th-order state, and it is constrained
    at ``t + dt`` before ``rhs`` is evaluated on it, so the last stage's rhs is
    exactly rhs(t+dt, y_new) of the state handed back.  Reusing it as the next
    step's first stage is therefore exact even when constrain rewrites ghost or
    boundary values -- no extra evaluation is needed.  Between ``advance`` calls
    the caller may change ``y`` (or parameters), so each call evaluates its first
    stage afresh: one extra rhs per call, in exchange for never using a stale one.

    Error norm: RMS over ``interior(...)`` of err / (atol + rtol*max(|y_old|, |y_new|));
    a step is accepted when it is <= 1.  ``max_steps`` bounds the attempted steps
    (accepted + rejected) of a single ``advance`` call. ``total`` sums the norm's parts over the
    blocks of a decomposed grid, so that every block takes the same steps.
    """

    SAFETY, FAC_MIN, FAC_MAX = tableaus.SAFETY, tableaus.FAC_MIN, tableaus.FAC_MAX

    def __init__(
        self,
        rhs: RhsFn,
        constrain: ConstrainFn,
        template: np.ndarray,
        rtol: float = 1e-6,
        atol: float = 1e-9,
        interior: InteriorFn | None = None,
        max_steps: int = 10_000_000,
        total=None,
    ):
        if not (rtol >= 0 and atol >= 0 and rtol + atol > 0):
            raise SolverError(f"tolerances must be >= 0 and not both zero, got rtol={rtol}, atol={atol}")
        self.method = "dopri5"
        self.order = ORDER["dopri5"]
        self.rhs = rhs
        self.constrain = constrain
        self.rtol = float(rtol)
        self.atol = float(atol)
        self.interior = interior if interior is not None else _identity
        self.max_steps = int(max_steps)
        self.total = total if total is not None else _identity
        self.shape = np.shape(template)
        pair = TABLEAUS["dopri5"]
        self._c = pair.c
        self._rows = tuple(_stage_terms(row) for row in pair.a)
        self._e = _stage_terms(pair.error)
        self._k = [np.zeros(self.shape, dtype=float) for _ in range(7)]   # zeroed: see FixedStepper
        self._stage = np.zeros(self.shape, dtype=float)
        self._ynew = np.zeros(self.shape, dtype=float)
        self._tmp = np.zeros(self.shape, dtype=float)
        self.accepted = 0
        self.rejected = 0
        self.n_rhs = 0

    def _error_norm(self, y_old: np.ndarray, y_new: np.ndarray, dt: float) -> float:
        """Weighted RMS of the embedded error over interior points, without allocating arrays.

        Scratch: the stage buffer (err), tmp (scale) and k[1] (|y_new|) -- k2 has
        zero weight in both b and e, so it is free once the stages are done.
        Each object ``interior`` returns is used as both output and later input,
        so this works whether it returns views or copies.
        """
        err, scale, absnew = self._stage, self._tmp, self._k[1]
        _increment(err, self._e, dt, self._k, scale)
        interior = self.interior
        e, s, a = interior(err), interior(scale), interior(absnew)
        n = self.total(float(e.size))
        if n == 0:
            return 0.0
        np.abs(interior(y_old), out=s)
        np.abs(interior(y_new), out=a)
        np.maximum(s, a, out=s)
        s *= self.rtol
        s += self.atol
        np.divide(e, s, out=e)
        np.multiply(e, e, out=e)
        return math.sqrt(self.total(float(e.sum())) / n)

    def advance(self, t: float, y: np.ndarray, t_target: float, dt: float | None) -> float:
        """Step adaptively from ``t`` to exactly ``t_target``, updating ``y`` in place.

        Starts with trial step ``dt`` (``None``: :func:`initial_step_guess`) and
        returns the suggested next trial step -- the unclamped one, so landing on
        output times does not shrink the step for good.
        """
        if y.shape != self.shape:
            raise SolverError(f"state has shape {y.shape}, but the stepper was built for {self.shape}")
        t = float(t)
        t_target = float(t_target)
        if not (math.isfinite(t) and math.isfinite(t_target)) or t_target < t:
            raise SolverError(f"cannot advance from t={t} to t_target={t_target}: the target must be a finite time >= t")
        k, stage, ynew, tmp = self._k, self._stage, self._ynew, self._tmp
        if t_target == t:
            return dt  # nothing to do; a None trial step stays None for the next call
        self.rhs(t, y, k[0])
        self.n_rhs += 1
        if dt is None:
            dt = initial_step_guess(
                self.rhs, self.constrain, t, y, self.rtol, self.atol, self.interior,
                order=self.order, f0=k[0], t_end=t_target, total=self.total,
            )
            self.n_rhs += 1
        dt = float(dt)
        if not (math.isfinite(dt) and dt > 0):
            raise SolverError(f"initial step must be a finite positive number, got dt={dt} at t={t}")
        rows, c = self._rows, self._c
        after_reject = False
        steps = 0
        while True:
            if steps >= self.max_steps:
                raise SolverError(
                    f"maximum number of steps ({self.max_steps}) exceeded at t={t} while advancing to "
                    f"t={t_target} (dt={dt:.3g}); loosen rtol/atol or raise max_steps"
                )
            steps += 1
            remaining = t_target - t
            last = dt >= remaining
            h = remaining if last else dt
            # land exactly on t_target: the c == 1 stages and the new state use t_new itself
            t_new = t_target if last else t + h
            for i in range(1, 7):
                target = ynew if i == 6 else stage  # stage 7 input is the 5th-order solution
                _increment(target, rows[i], h, k, tmp)
                target += y
                ti = t_new if c[i] == 1.0 else t + c[i] * h
                self.constrain(ti, target)
                self.rhs(ti, target, k[i])
                self.n_rhs += 1
            err = self._error_norm(y, ynew, h)
            if err <= 1.0:
                fac = self.FAC_MAX if err == 0.0 else min(self.FAC_MAX, max(self.FAC_MIN, self.SAFETY * err**-0.2))
                if after_reject:
                    fac = min(1.0, fac)  # the step just had to shrink: do not grow again at once
                after_reject = False
                np.copyto(y, ynew)
                k[0], k[6] = k[6], k[0]  # FSAL: rhs(t_new, y_new) becomes the next first stage
                self.accepted += 1
                t = t_new
                if last:
                    # h may have been clamped to hit t_target; keep the controller's unclamped step
                    return max(dt, h * fac)
                dt = h * fac
            else:
                if math.isfinite(err):
                    fac = max(self.FAC_MIN, self.SAFETY * err**-0.2)
                else:
                    fac = self.FAC_MIN  # NaN/inf stages: shrink hard and retry
                after_reject = True
                self.rejected += 1
                dt = h * fac
                if dt < 1e-14 * max(1.0, abs(t)):
                    raise SolverError(
                        f"step size underflow at t={t:.17g}; the problem may be stiff or blowing up: "
                        f"dt={dt:.3g} after {self.rejected} rejected steps (error norm {err:.3g}); "
                        f"try a looser rtol/atol or check the model and its parameters"
                    )
