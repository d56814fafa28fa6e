"""Batched ODE solvers for the Numba backend: many trajectories at once, in parallel over the batch.

An ODE model (no space axes) gets, in its generated module::

    out, status = ensemble_dopri5(y0, params, times, rtol=1e-6, atol=1e-9, bound=numpy.inf)
    out, status = ensemble_rk4(y0, params, times, substeps=10, bound=numpy.inf)

``y0`` is (batch, fields); ``params`` a (batch, parameters) array in
``PARAM_ORDER``, or a dict of name -> scalar or (batch,) values (missing names
take their defaults); ``times`` the increasing save times, ``times[0]`` the
initial time. ``out`` is (batch, len(times), fields). ``status`` per trajectory:
0 finished; s > 0 stopped at save index s because the state left ``|y| <= bound``
or stopped being finite (the rest of its row is NaN); -s when dopri5 needed
more than ``max_steps`` steps or its step underflowed before save index s.

Each trajectory takes its own adaptive steps and lands exactly on every save
time, as :class:`symsim.integrators.AdaptiveStepper` does for one state.
Work arrays are allocated once per trajectory, never inside the time loop.
"""

from __future__ import annotations

from symsim.integrators import AdaptiveStepper, DOPRI5


def render_ensemble(plan, printer) -> list[str]:
    """Source lines of ``_rate`` (one trajectory's right-hand side) and the two ensemble solvers."""
    lowered = plan.lowered
    lines = ["@numba.njit(cache=True)",
             "def _rate(t, _y, _out, _p):",
             '    """d(_y)/dt of one trajectory into _out; _p holds parameter values in PARAM_ORDER."""']
    lines += [f"    {name} = _p[{k}]" for k, name in enumerate(lowered.parameters)]
    lines += [f"    {symbol} = {printer.doprint(expression)}" for symbol, expression in plan.invariants]
    lines += [f"    {symbol} = {printer.doprint(expression)}" for symbol, expression in plan.temporaries]
    lines += [f"    _out[{k}] = {printer.doprint(plan.outputs[f])}" for k, f in enumerate(lowered.fields)]
    return lines + ["", ""] + _SOLVERS.format(**_dopri5_constants()).splitlines() + [""]


def _dopri5_constants() -> dict:
    a, c, b, e = DOPRI5["a"], DOPRI5["c"], DOPRI5["b"], DOPRI5["e"]
    values = {"safety": AdaptiveStepper.SAFETY, "fac_min": AdaptiveStepper.FAC_MIN,
              "fac_max": AdaptiveStepper.FAC_MAX}
    for i in range(7):
        values[f"c{i}"] = repr(float(c[i]))
        values[f"b{i}"] = repr(float(b[i]))
        values[f"e{i}"] = repr(float(e[i]))
        for j in range(i):
            values[f"a{i}{j}"] = repr(float(a[i, j]))
    return values


_SOLVERS = '''
def _param_matrix(params, batch):
    """(batch, parameters) float array from an array in PARAM_ORDER or a dict of names."""
    if isinstance(params, dict):
        unknown = sorted(set(params) - set(PARAM_ORDER))
        if unknown:
            raise ValueError(f"unknown parameter {{unknown[0]!r}}; parameters: {{PARAM_ORDER}}")
        matrix = numpy.empty((batch, len(PARAM_ORDER)))
        for k, name in enumerate(PARAM_ORDER):
            matrix[:, k] = params.get(name, PARAMS[name])
        return matrix
    matrix = numpy.ascontiguousarray(params, dtype=numpy.float64)
    if matrix.ndim == 1:
        matrix = numpy.broadcast_to(matrix, (batch, matrix.shape[0])).copy()
    if matrix.shape != (batch, len(PARAM_ORDER)):
        raise ValueError(f"params must have shape ({{batch}}, {{len(PARAM_ORDER)}}), got {{matrix.shape}}")
    return matrix


def _batch_inputs(y0, params, times):
    y0 = numpy.ascontiguousarray(y0, dtype=numpy.float64)
    if y0.ndim != 2 or y0.shape[1] != len(FIELDS):
        raise ValueError(f"y0 must have shape (batch, {{len(FIELDS)}}), got {{y0.shape}}")
    times = numpy.ascontiguousarray(times, dtype=numpy.float64)
    if times.ndim != 1 or len(times) < 1 or not numpy.all(numpy.diff(times) > 0):
        raise ValueError("times must be a 1-D array of increasing save times")
    return y0, _param_matrix(params, y0.shape[0]), times


def ensemble_rk4(y0, params, times, substeps=10, bound=numpy.inf):
    """Classical RK4 with ``substeps`` equal steps between save times; returns (out, status)."""
    y0, matrix, times = _batch_inputs(y0, params, times)
    out = numpy.empty((y0.shape[0], len(times), y0.shape[1]))
    status = numpy.zeros(y0.shape[0], dtype=numpy.int64)
    _ensemble_rk4(y0, matrix, times, int(substeps), float(bound), out, status)
    return out, status


def ensemble_dopri5(y0, params, times, rtol=1e-6, atol=1e-9, bound=numpy.inf, max_steps=100000):
    """Adaptive Dormand-Prince 5(4) per trajectory, landing on every save time; returns (out, status)."""
    y0, matrix, times = _batch_inputs(y0, params, times)
    out = numpy.empty((y0.shape[0], len(times), y0.shape[1]))
    status = numpy.zeros(y0.shape[0], dtype=numpy.int64)
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
        k1, k2, k3, k4 = numpy.empty(n), numpy.empty(n), numpy.empty(n), numpy.empty(n)
        stage = numpy.empty(n)
        out[b, 0] = y
        for s in range(1, len(times)):
            dt = (times[s] - times[s - 1]) / substeps
            for m in range(substeps):
                t = times[s - 1] + m * dt
                _rate(t, y, k1, p)
                for i in range(n):
                    stage[i] = y[i] + 0.5 * dt * k1[i]
                _rate(t + 0.5 * dt, stage, k2, p)
                for i in range(n):
                    stage[i] = y[i] + 0.5 * dt * k2[i]
                _rate(t + 0.5 * dt, stage, k3, p)
                for i in range(n):
                    stage[i] = y[i] + dt * k3[i]
                _rate(t + dt, stage, k4, p)
                for i in range(n):
                    y[i] += dt * (k1[i] / 6 + k2[i] / 3 + k3[i] / 3 + k4[i] / 6)
            if _escaped(y, bound):
                status[b] = s
                out[b, s:] = numpy.nan
                break
            out[b, s] = y


@numba.njit(parallel=True, cache=True)
def _ensemble_dopri5(y0, params, times, rtol, atol, bound, max_steps, out, status):
    n = y0.shape[1]
    for b in numba.prange(y0.shape[0]):
        p = params[b]
        y = y0[b].copy()
        k = numpy.empty((7, n))
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
                for i in range(n):
                    stage[i] = y[i] + h * {a10} * k[0, i]
                _rate(t + {c1} * h, stage, k[1], p)
                for i in range(n):
                    stage[i] = y[i] + h * ({a20} * k[0, i] + {a21} * k[1, i])
                _rate(t + {c2} * h, stage, k[2], p)
                for i in range(n):
                    stage[i] = y[i] + h * ({a30} * k[0, i] + {a31} * k[1, i] + {a32} * k[2, i])
                _rate(t + {c3} * h, stage, k[3], p)
                for i in range(n):
                    stage[i] = y[i] + h * ({a40} * k[0, i] + {a41} * k[1, i] + {a42} * k[2, i]
                                           + {a43} * k[3, i])
                _rate(t + {c4} * h, stage, k[4], p)
                for i in range(n):
                    stage[i] = y[i] + h * ({a50} * k[0, i] + {a51} * k[1, i] + {a52} * k[2, i]
                                           + {a53} * k[3, i] + {a54} * k[4, i])
                _rate(t_new, stage, k[5], p)
                for i in range(n):
                    y_new[i] = y[i] + h * ({b0} * k[0, i] + {b2} * k[2, i] + {b3} * k[3, i]
                                           + {b4} * k[4, i] + {b5} * k[5, i])
                _rate(t_new, y_new, k[6], p)
                error = 0.0
                for i in range(n):
                    local = h * ({e0} * k[0, i] + {e2} * k[2, i] + {e3} * k[3, i] + {e4} * k[4, i]
                                 + {e5} * k[5, i] + {e6} * k[6, i])
                    scale = atol + rtol * max(abs(y[i]), abs(y_new[i]))
                    error += (local / scale) ** 2
                error = math.sqrt(error / n)
                if error <= 1.0:
                    factor = {fac_max} if error == 0.0 else min({fac_max}, max({fac_min}, {safety} * error ** -0.2))
                    y[:] = y_new
                    k[0, :] = k[6]                 # first same as last
                    t = t_new
                    dt = max(dt, h * factor) if last else h * factor
                elif math.isfinite(error):
                    dt = h * max({fac_min}, {safety} * error ** -0.2)
                else:
                    dt = h * {fac_min}
            if failed:
                status[b] = -s
                out[b, s:] = numpy.nan
                break
            if _escaped(y, bound):
                status[b] = s
                out[b, s:] = numpy.nan
                break
            out[b, s] = y
'''
