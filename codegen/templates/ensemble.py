"""Batched ODE solvers: many trajectories at once, in parallel over the batch (Numba).

A generated module of an ODE model (no space axes) carries the text of this module
after the marker line; it defines ``FIELDS``, ``PARAMS``, ``PARAM_ORDER``, ``_rate`` and
the stage functions of RK4 and Dormand–Prince printed from :mod:`symsim.tableaus`
(``_rk4_stages``, ``_dopri5_solution``, ...) before it::

    out, status = ensemble_dopri5(y0, params, times, rtol=1e-6, atol=1e-9, bound=numpy.inf)
    out, status = ensemble_rk4(y0, params, times, substeps=10, bound=numpy.inf)

``y0`` is (batch, fields); ``params`` a (batch, parameters) array in ``PARAM_ORDER``,
or a dict of name -> scalar or (batch,) values (missing names take their defaults);
``times`` the increasing save times, ``times[0]`` the initial time. ``out`` is
(batch, len(times), fields). ``status`` per trajectory: 0 finished; s > 0 stopped at
save index s because the state left ``|y| <= bound`` or stopped being finite (the
rest of its row is NaN); -s when dopri5 needed more than ``max_steps`` steps or its
step underflowed before save index s.

Each trajectory takes its own adaptive steps and lands exactly on every save time,
as :class:`symsim.integrators.AdaptiveStepper` does for one state, with the same
controller. Work arrays are allocated once per trajectory, never inside the time loop.

Below the imports: stand-ins for what a generated module defines (a harmonic
oscillator u' = v, v' = -omega**2 u), so that this module runs and is tested as it is.
"""

import math

import numba
import numpy

from symsim import tableaus

FIELDS = ("u", "v")
PARAMS = {"omega": 1.0}
PARAM_ORDER = ("omega",)
_SAFETY, _FAC_MIN, _FAC_MAX = tableaus.SAFETY, tableaus.FAC_MIN, tableaus.FAC_MAX
_RK4_STAGES = len(tableaus.TABLEAUS["rk4"].b)
_DOPRI5_STAGES = len(tableaus.TABLEAUS["dopri5"].b)


@numba.njit(cache=True)
def _rate(t, _y, _out, _p):
    _out[0] = _y[1]
    _out[1] = -_p[0] * _p[0] * _y[0]


# The generated module prints these five from the tableaus as straight-line code (a loop over
# tableau entries runs the Lorenz ensemble at half the speed); here they loop over the entries.
_RK4 = tuple(numpy.array(getattr(tableaus.TABLEAUS["rk4"], n)) for n in "abc")
_DOPRI5 = tuple(numpy.array(getattr(tableaus.TABLEAUS["dopri5"], n)) for n in ("a", "b", "c", "error"))


@numba.njit(cache=True)
def _stages(t, h, y, p, k, stage, a, c, first, last):
    for i in range(first, last):
        for m in range(len(y)):
            increment = 0.0
            for j in range(i):
                if a[i, j] != 0.0:
                    increment += a[i, j] * k[j, m]
            stage[m] = y[m] + h * increment
        _rate(t + c[i] * h, stage, k[i], p)


@numba.njit(cache=True)
def _rk4_stages(t, h, y, p, k, stage):
    _rate(t, y, k[0], p)
    _stages(t, h, y, p, k, stage, _RK4[0], _RK4[2], 1, 4)


@numba.njit(cache=True)
def _rk4_solution(y, h, k, out):
    for m in range(len(y)):
        out[m] = y[m] + h * (_RK4[1] * k[:, m]).sum()


@numba.njit(cache=True)
def _dopri5_stages(t, h, y, p, k, stage):
    _stages(t, h, y, p, k, stage, _DOPRI5[0], _DOPRI5[2], 1, 6)


@numba.njit(cache=True)
def _dopri5_solution(y, h, k, out):
    for m in range(len(y)):
        out[m] = y[m] + h * (_DOPRI5[1][:6] * k[:6, m]).sum()


@numba.njit(cache=True)
def _dopri5_error(k, m):
    return (_DOPRI5[3] * k[:, m]).sum()


# -- inlined verbatim into generated modules from here on --
def parameter_matrix(params, batch):
    """(batch, parameters) float array from an array in PARAM_ORDER or a dict of names."""
    if params is None or isinstance(params, dict):
        params = params or {}
        unknown = sorted(set(params) - set(PARAM_ORDER))
        if unknown:
            raise ValueError(f"unknown parameter {unknown[0]!r}; parameters: {', '.join(PARAM_ORDER) or 'none'}")
        matrix = numpy.empty((batch, len(PARAM_ORDER)))
        for k, name in enumerate(PARAM_ORDER):
            value = numpy.asarray(params.get(name, PARAMS[name]), dtype=numpy.float64)
            if value.ndim > 1 or (value.ndim == 1 and value.shape[0] != batch):
                raise ValueError(f"parameter {name!r} needs a scalar or {batch} values, got shape {value.shape}")
            matrix[:, k] = value
        return matrix
    matrix = numpy.array(params, dtype=numpy.float64)
    if matrix.ndim == 1:
        matrix = numpy.broadcast_to(matrix, (batch, matrix.shape[0])).copy()
    if matrix.shape != (batch, len(PARAM_ORDER)):
        raise ValueError(f"params array needs shape ({batch}, {len(PARAM_ORDER)}) in the order {PARAM_ORDER}, "
                         f"got {matrix.shape}")
    return matrix


def _batch_inputs(y0, params, times):
    """The checked inputs, and the outputs to fill: (y0, parameter matrix, times, out, status)."""
    y0 = numpy.ascontiguousarray(y0, dtype=numpy.float64)
    if y0.ndim != 2 or y0.shape[1] != len(FIELDS):
        raise ValueError(f"y0 must have shape (batch, {len(FIELDS)}), got {y0.shape}")
    times = numpy.ascontiguousarray(times, dtype=numpy.float64)
    if times.ndim != 1 or len(times) < 1 or not numpy.all(numpy.diff(times) > 0):
        raise ValueError("times must be a 1-D array of increasing save times")
    out = numpy.empty((y0.shape[0], len(times), y0.shape[1]))
    return y0, parameter_matrix(params, y0.shape[0]), times, out, numpy.zeros(y0.shape[0], dtype=numpy.int64)


def ensemble_rk4(y0, params, times, substeps=10, bound=numpy.inf):
    """Classical RK4 with ``substeps`` equal steps between save times; returns (out, status)."""
    y0, matrix, times, out, status = _batch_inputs(y0, params, times)
    _ensemble_rk4(y0, matrix, times, int(substeps), float(bound), out, status)
    return out, status


def ensemble_dopri5(y0, params, times, rtol=1e-6, atol=1e-9, bound=numpy.inf, max_steps=100000):
    """Adaptive Dormand-Prince 5(4) per trajectory, landing on every save time; returns (out, status)."""
    y0, matrix, times, out, status = _batch_inputs(y0, params, times)
    _ensemble_dopri5(y0, matrix, times, float(rtol), float(atol), float(bound), int(max_steps), out, status)
    return out, status


@numba.njit(cache=True)
def _escaped(y, bound):
    for value in y:
        if not (abs(value) <= bound):     # also true for NaN
            return True
    return False


@numba.njit(parallel=True, cache=True)
def _ensemble_rk4(y0, params, times, substeps, bound, out, status):
    n = y0.shape[1]
    for b in numba.prange(y0.shape[0]):
        p = params[b]
        y = y0[b].copy()
        k = numpy.empty((_RK4_STAGES, n))
        stage = numpy.empty(n)
        out[b, 0] = y
        for s in range(1, len(times)):
            dt = (times[s] - times[s - 1]) / substeps
            for m in range(substeps):
                _rk4_stages(times[s - 1] + m * dt, dt, y, p, k, stage)
                _rk4_solution(y, dt, k, y)
            if _escaped(y, bound):
                status[b] = s
                out[b, s:] = numpy.nan
                break
            out[b, s] = y


@numba.njit(parallel=True, cache=True)
def _ensemble_dopri5(y0, params, times, rtol, atol, bound, max_steps, out, status):
    n = y0.shape[1]
    last_stage = _DOPRI5_STAGES - 1
    for b in numba.prange(y0.shape[0]):
        p = params[b]
        y = y0[b].copy()
        k = numpy.empty((_DOPRI5_STAGES, n))
        stage = numpy.empty(n)
        y_new = numpy.empty(n)
        out[b, 0] = y
        t = times[0]
        _rate(t, y, k[0], p)
        dt = min(1e-3 * (times[-1] - times[0]), times[1] - times[0]) if len(times) > 1 else 0.0
        steps = 0
        for s in range(1, len(times)):
            failed = False
            while t < times[s]:
                steps += 1
                if steps > max_steps or dt < 1e-14 * max(1.0, abs(t)):
                    failed = True
                    break
                last = dt >= times[s] - t
                h = times[s] - t if last else dt
                t_new = times[s] if last else t + h
                # stages 2..6 (stage 1 is the previous step's last: first same as last)
                _dopri5_stages(t, h, y, p, k, stage)
                # the last stage is evaluated at the 5th-order solution itself, at exactly t_new
                _dopri5_solution(y, h, k, y_new)
                _rate(t_new, y_new, k[last_stage], p)
                error = 0.0
                for m in range(n):
                    scale = atol + rtol * max(abs(y[m]), abs(y_new[m]))
                    error += (h * _dopri5_error(k, m) / scale) ** 2
                error = math.sqrt(error / n)
                if error <= 1.0:
                    factor = _FAC_MAX if error == 0.0 else min(_FAC_MAX, max(_FAC_MIN, _SAFETY * error ** -0.2))
                    y[:] = y_new
                    k[0, :] = k[last_stage]
                    t = t_new
                    dt = max(dt, h * factor) if last else h * factor
                elif math.isfinite(error):
                    dt = h * max(_FAC_MIN, _SAFETY * error ** -0.2)
                else:
                    dt = h * _FAC_MIN
            if failed:
                status[b] = -s
                out[b, s:] = numpy.nan
                break
            if _escaped(y, bound):
                status[b] = s
                out[b, s:] = numpy.nan
                break
            out[b, s] = y
