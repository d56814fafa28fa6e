"""The weak form of a PDE library on gridded snapshots: every term integrated against smooth test
functions, so that no noisy sample is ever differentiated (WSINDy for PDEs, Messenger & Bortz 2021).

    theta, target, terms = weak_problem(data, fields, degree=3, derivative_order=2)
    # theta[:, j] ~ integral of psi * terms[j], target[:, k] ~ integral of psi * d(field k)/dt

The library is that of conservation-form PDEs: every monomial of the fields up to ``degree``
(the constant 1 included) and every spatial derivative, up to ``derivative_order``, of each
non-constant monomial -- ``u*v**2``, ``(u**2)_x``, ``v_xx``, ``(u*v)_xy``. A term
``d^a f(u)`` is integrated by parts onto the test function, ``int psi d^a f = (-1)^|a| int
(d^a psi) f``, and so is the time derivative: ``int psi u_t = -int psi_t u``. The test
functions are products of one bump per axis, ``(1 - s^2)^p`` on ``|s| <= 1`` with ``s`` the
offset over the half-width, placed on a lattice of query points; for an axis whose ends wrap the
bumps wrap with it (every lattice point counts), for any other axis (and time) only the bumps
inside the data do. Each integral is a sum over the samples (the rectangle rule, which for a
bump that vanishes smoothly at both ends is as accurate as the trapezoid rule), so the whole
matrix is one contraction of each monomial's values with one small matrix per axis.

Why here and not PySINDy's ``WeakPDELibrary``: on 2-D snapshots PySINDy integrates over a
few hundred random subdomains with a library of monomials times derivatives (which do not
integrate by parts), and measured on Gray-Scott data it proposed no correct term set even on
noise-free data; the contraction here uses every lattice bump of the data in a few seconds.
Which terms to keep is decided in :mod:`.proposals` (backward elimination over this matrix).

Half-widths follow the data's own spectrum (Messenger & Bortz): per axis, the wave number where
the spectrum of the snapshots meets its noise floor (the corner of its cumulative log) is
``k_c``, and the bump is made wide enough that its Fourier transform has decayed by
``exp(-TAU**2 / 2)`` there -- noise above ``k_c`` is filtered, the dynamics below it kept.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import sympy

from .observations import DataError, Observations, evenly_spaced

#: exponent of the bump (1 - s^2)^p: smooth enough that every derivative the library moves onto it
#: (up to the derivative order, plus one) still vanishes at the ends of its support
MIN_POWER = 6
#: standard deviations of the bump's (near-Gaussian) Fourier transform at the spectrum's corner
TAU = 2.0
#: half-widths in samples: at least enough to resolve the bump's derivatives, at most a quarter of the axis
MIN_HALF_WIDTH = 4
MAX_SHARE = 0.25
#: query points aim at about this many rows in all (the lattice stride follows)
TARGET_ROWS = 20_000


def library_terms(fields: tuple, axes: tuple, degree: int, derivative_order: int, derivative_degree: int | None = None):
    """[(monomial exponents, derivative counts per axis, SymPy term)] of the conservation-form library; only
    monomials up to ``derivative_degree`` (default: ``degree``) are differentiated."""
    derivative_degree = degree if derivative_degree is None else derivative_degree
    exponents = [e for total in range(degree + 1)
                 for e in _compositions(total, len(fields))]
    orders = [a for total in range(1, derivative_order + 1) for a in _compositions(total, len(axes))]
    terms = []
    for e in exponents:
        monomial = sympy.Mul(*[f ** p for f, p in zip(fields, e)])
        terms.append((e, (0,) * len(axes), monomial))
        if not 0 < sum(e) <= derivative_degree:
            continue
        for a in orders:
            term = monomial.diff(*[axis for axis, count in zip(axes, a) for _ in range(count)])
            terms.append((e, a, term))
    return terms


def weak_problem(data: Observations, fields: tuple, degree: int, derivative_order: int,
                 derivative_degree: int | None = None, half_widths: dict | None = None):
    """``(theta, target, terms)``: rows = test functions of every trajectory, columns = library terms
    (``terms``, SymPy in ``fields``); ``target[:, k]`` the weak time derivative of field k.
    ``derivative_degree``: see :func:`library_terms`. ``half_widths``: axis name (and ``"t"``) -> half-width in samples, instead of the spectrum's."""
    names = tuple(data.coords)
    axes = tuple(sympy.Symbol(a) for a in names)
    terms = library_terms(fields, axes, degree, derivative_order, derivative_degree)
    power = max(MIN_POWER, derivative_order + 2)
    rows_theta, rows_target = [], []
    for times, values in zip(data.times, data.values):
        spacing = _even_spacing(times, data.source)
        widths = dict(half_widths or {})
        for k, name in enumerate(("t", *names)):
            if name not in widths:
                widths[name] = corner_half_width(values, k, power)
        lengths = values.shape[:-1]
        strides = _strides(lengths, widths, ("t", *names), data.periodic)
        steps = (spacing, *[float(c[1] - c[0]) for c in data.coords.values()])
        bumps = [_bump_matrices(n, widths[name], power, h, stride, name in data.periodic,
                                derivative_order if axis else 1)
                 for axis, (name, n, h, stride) in enumerate(zip(("t", *names), lengths, steps, strides))]
        if any(b[0].shape[0] == 0 for b in bumps):
            short = [name for name, b in zip(("t", *names), bumps) if b[0].shape[0] == 0]
            raise DataError(f"{data.source}: too few samples along {', '.join(short)} for the weak form's test "
                            f"functions (half-width {', '.join(str(widths[n]) for n in short)} samples each side)")
        powers = {}
        columns = []
        for e, a, _ in terms:
            if e not in powers:
                powers[e] = np.prod([values[..., j] ** p for j, p in enumerate(e) if p], axis=0) \
                    if sum(e) else np.ones(lengths)
            # int psi d^a f = (-1)^|a| int (d^a psi) f; time enters undifferentiated
            matrices = [bumps[0][0]] + [bumps[1 + i][count] for i, count in enumerate(a)]
            columns.append((-1) ** sum(a) * _contract(powers[e], matrices))
        # int psi u_t = - int psi_t u
        time_derivative = [bumps[0][1]] + [b[0] for b in bumps[1:]]
        targets = [-_contract(values[..., j], time_derivative) for j in range(values.shape[-1])]
        rows_theta.append(np.stack(columns, axis=-1).reshape(-1, len(columns)))
        rows_target.append(np.stack(targets, axis=-1).reshape(-1, len(targets)))
    return np.concatenate(rows_theta), np.concatenate(rows_target), [t for _, _, t in terms]


def corner_half_width(values: np.ndarray, axis: int, power: int) -> int:
    """The half-width (samples) of the bump along ``axis`` of ``values`` (samples, *grid, fields): from the
    corner of the spectrum, clipped to [MIN_HALF_WIDTH, MAX_SHARE * length]."""
    n = values.shape[axis]
    largest = max(MIN_HALF_WIDTH, int(MAX_SHARE * n))
    if n < 16:
        return min(largest, MIN_HALF_WIDTH)
    # each field normalized, mean removed; time (not periodic) through a window so its ends do not leak
    centred = (values - values.mean(axis=axis, keepdims=True)) / (values.std() or 1.0)
    if axis == 0:
        shape = [1] * values.ndim
        shape[0] = n
        centred = centred * np.hanning(n).reshape(shape)
    spectrum = np.abs(np.fft.rfft(centred, axis=axis)) ** 2
    spectrum = np.moveaxis(spectrum, axis, 0).reshape(spectrum.shape[axis], -1).mean(axis=1)[1:]
    corner = _corner(np.log(np.maximum(spectrum, 1e-300)))
    wave_number = 2 * np.pi * (corner + 1) / n        # radians per sample
    # (1 - s^2)^p is close to a Gaussian of standard deviation m / sqrt(2p + 3) samples; its transform then
    # has standard deviation sqrt(2p + 3) / m, and decays by exp(-TAU^2/2) at the corner
    half_width = TAU * math.sqrt(2 * power + 3) / wave_number
    return int(min(largest, max(MIN_HALF_WIDTH, round(half_width))))


def _corner(log_spectrum: np.ndarray) -> int:
    """Where the cumulative sum of ``log_spectrum`` bends: the split of the best two-line fit (the signal's
    steep part before, the noise's flat floor after)."""
    cumulative = np.cumsum(log_spectrum - log_spectrum.min())
    k = np.arange(len(cumulative), dtype=float)
    best, where = np.inf, len(cumulative) - 1
    for split in range(2, len(cumulative) - 2):
        error = 0.0
        for part in (slice(0, split + 1), slice(split, None)):
            fit = np.polyfit(k[part], cumulative[part], 1, full=True)[1]
            error += float(fit[0]) if len(fit) else 0.0
        if error < best:
            best, where = error, split
    return where


def _bump_matrices(n: int, half_width: int, power: int, spacing: float, stride: int, periodic: bool,
                   highest: int) -> list[np.ndarray]:
    """Per derivative order 0..highest: (queries, n), row q the bump's d^k/dx^k at every sample, each
    row times ``spacing`` (the quadrature weight)."""
    m = half_width
    offsets = np.arange(-m, m + 1)
    s = offsets / m
    bump = np.polynomial.Polynomial([1.0, 0.0, -1.0]) ** power
    centres = np.arange(0, n, stride) if periodic else np.arange(m, n - m, stride)
    matrices = []
    for k in range(highest + 1):
        shape = bump.deriv(k)(s) / (m * spacing) ** k if k else bump(s)
        matrix = np.zeros((len(centres), n))
        for row, c in enumerate(centres):
            columns = (c + offsets) % n if periodic else c + offsets
            np.add.at(matrix[row], columns, shape * spacing)
        matrices.append(matrix)
    return matrices


def _contract(values: np.ndarray, matrices: list[np.ndarray]) -> np.ndarray:
    """``values`` (n_0, n_1, ...) contracted with one matrix per axis: (q_0, q_1, ...)."""
    out = values
    for axis, matrix in enumerate(matrices):
        out = np.moveaxis(np.tensordot(matrix, out, axes=([1], [axis])), 0, axis)
    return out


def _strides(lengths: tuple, widths: dict, names: tuple, periodic: tuple) -> list[int]:
    """One lattice stride per axis: a common share of each half-width, as small as keeps the rows near
    TARGET_ROWS (bumps overlap; more rows than that add little but time)."""
    for share in (0.125, 0.25, 0.5, 1.0, 2.0):
        strides = [max(1, int(round(share * widths[name]))) for name in names]
        rows = 1
        for n, name, stride in zip(lengths, names, strides):
            span = n if name in periodic else max(0, n - 2 * widths[name])
            rows *= max(1, -(-span // stride))
        if rows <= TARGET_ROWS:
            break
    return strides


def _compositions(total: int, parts: int):
    """Every tuple of ``parts`` non-negative integers summing to ``total``, in a fixed order."""
    for cut in itertools.combinations(range(total + parts - 1), parts - 1):
        bounds = (-1, *cut, total + parts - 1)
        yield tuple(bounds[i + 1] - bounds[i] - 1 for i in range(parts))


def _even_spacing(times: np.ndarray, source: str) -> float:
    if len(times) < 2 or not evenly_spaced(times):
        raise DataError(f"{source}: the weak form needs snapshots evenly spaced in time")
    return float(np.diff(times).mean())
