"""A stable time step suggested from the lowered model (CFL and diffusion limits).

    >>> from symsim import load_model
    >>> from symsim.compiler import compile_model
    >>> compiled = compile_model(load_model("heat_1d").with_points(x=65), target="numpy", egraph=False)
    >>> params = compiled.resolve_params({"D": 1.0})          # h = 1/64
    >>> state = compiled.initial_state(params)
    >>> spectral_bounds(compiled, state, params)             # diffusion: 4 D / h**2 on the real axis
    (16384.0, 0.0)
    >>> suggest_dt(compiled, state, params, "rk4")           # SAFETY * 2.78 / (4 D / h**2)
    0.000135...

The semi-discrete Jacobian row of each field is read off the IR: for every
stencil access, d(rhs)/d(access) evaluated on the current state. Pairing the
access at offset +s with the one at -s splits the row into a symmetric part
(real eigenvalues: diffusion, reaction) and an antisymmetric part (imaginary
eigenvalues: advection). Gershgorin row sums of the two parts bound the
spectrum, which must fit in the integrator's stability region.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import sympy

from .tableaus import STABILITY
from .ir import StencilAccess, stencil_accesses
from .vectorize import evaluate_function_on_grid, grid_axes_coordinates, numpy_module_source

#: fraction of the stability limit used, for nonlinear growth the bound cannot see
SAFETY = 0.8


@dataclass(frozen=True)
class SpectrumEstimate:
    """Bounds of the semi-discrete Jacobian's spectrum at one state, and where the model is ill-posed."""

    real: float          # bound of |real part| (diffusion, reaction)
    imaginary: float     # bound of |imaginary part| (advection, waves)
    #: (field, axis) pairs whose own second-derivative coefficient is negative somewhere: anti-diffusion
    #: (u_t = -D u_xx, D > 0), which grows the finest grid modes fastest at any step size
    anti_diffusive: tuple = ()


@functools.lru_cache(maxsize=4096)
def _partial_derivative(expr: sympy.Expr, access) -> sympy.Expr:
    return sympy.diff(expr, access)


@dataclass(frozen=True)
class _RowCoefficients:
    """d(rhs of one field)/d(each of its stencil accesses), as NumPy functions of (coordinates, parameters,
    spacings, time, the accessed fields' values at the point)."""

    accesses: tuple      # ((source field, offsets, varies over the grid or the state), ...)
    functions: tuple     # one function per access, same order


#: rows of the models seen in this process: {id(lowered): (lowered, rows)} (a fit estimates one model often)
_ROWS: dict = {}


def _row_coefficients(lowered) -> dict:
    """{field: _RowCoefficients} of ``lowered``, from the kernel cache when an earlier process made them:
    differentiating and printing every access's coefficient costs ~0.1 s of a cached run's second."""
    memo = _ROWS.get(id(lowered))
    if memo is not None and memo[0] is lowered:
        return memo[1]
    from .kernel_cache import cache_key, load_or_build
    entry = load_or_build(f"{lowered.name}_spectrum", cache_key(lowered, "spectrum", {"printer": _printer_version()}),
                          lambda: _render_row_coefficients(lowered))
    rows = {field: _RowCoefficients(tuple((source, tuple(offsets), varies) for source, offsets, varies, _ in row),
                                    tuple(getattr(entry.module, name) for *_, name in row))
            for field, row in entry.metadata["rows"].items()}
    if len(_ROWS) >= 64:
        _ROWS.clear()
    _ROWS[id(lowered)] = (lowered, rows)
    return rows


def _render_row_coefficients(lowered) -> tuple[str, dict]:
    """The module source and metadata of :func:`_row_coefficients` (kernel-cache ``build``)."""
    common = [*lowered.coordinate_symbols, *(sympy.Symbol(p) for p in lowered.parameters), *lowered.spacing,
              lowered.time]
    grid_symbols = set(lowered.coordinate_symbols)
    functions, rows = {}, {}
    for k, (field, expr) in enumerate(lowered.rhs.items()):
        accesses = sorted(stencil_accesses(expr), key=str)
        row = []
        for j, access in enumerate(accesses):
            derivative = _partial_derivative(expr, access)
            name = f"d{k}_{j}"
            functions[name] = (common + accesses, derivative, f"d(rhs of {field})/d({access})")
            varies = bool(derivative.free_symbols & (grid_symbols | set(accesses)))
            row.append((access.field, list(access.offsets), varies, name))
        rows[field] = row
    source = numpy_module_source(functions, f"Jacobian row coefficients of {lowered.name} (symsim.stability)")
    return source, {"rows": rows}


@functools.lru_cache(maxsize=1)
def _printer_version() -> str:
    """Hash of the code that renders the coefficient module, so that a changed printer is not served an old one."""
    from pathlib import Path
    import hashlib
    folder = Path(__file__).resolve().parent
    return hashlib.sha256(b"".join((folder / name).read_bytes() for name in ("stability.py", "vectorize.py"))
                          ).hexdigest()[:16]


def spectrum_estimate(compiled, state: np.ndarray, params: dict, t: float = 0.0) -> SpectrumEstimate:
    """Gershgorin bounds of the Jacobian spectrum at ``state`` (see the module docstring)."""
    lowered = compiled.lowered
    # parameters, spacings and time enter as arguments, so that each derivative is differentiated and
    # printed once per model (and kept in the kernel cache), not per call
    scalars = [params.get(p, default) for p, default in lowered.parameters.items()]
    scalars += [*lowered.spacing.values(), t]
    fields = compiled.interior(state)
    coordinates = grid_axes_coordinates(lowered.axes)
    real_bound = imaginary_bound = 0.0
    anti_diffusive = []
    # u'' = f reduced to (u' = u_t, u_t' = f): the pair's eigenvalues are about
    # +-i*sqrt(|eigenvalues of df/du|), far smaller than a row sum of df/du
    velocities = {f: f"{f}_t" for f in lowered.fields
                  if f"{f}_t" in lowered.fields and not stencil_accesses(lowered.rhs[f]) - {_access(lowered, f"{f}_t")}}
    displacement = {v: f for f, v in velocities.items()}
    rows = _row_coefficients(lowered)
    for field in lowered.rhs:
        if field in velocities:
            continue
        row = rows[field]
        # the derivative at the access's own point: the value of each field at the grid point
        at_point = [fields[lowered.fields.index(source)] for source, _, _ in row.accesses]
        coefficient = {}
        for (source, offsets, varies), function in zip(row.accesses, row.functions):
            value = evaluate_function_on_grid(function, coordinates, scalars + at_point)
            coefficient[(source, offsets)] = value if varies else float(value.flat[0])
        real_row = imaginary_row = 0.0
        # half the second moment (in offsets) of the field's own symmetric stencil per axis: D / h**2
        # for D u_xx at any order of accuracy; its sign is the sign of the diffusion coefficient
        moments = [0.0] * len(lowered.axes)
        own = displacement.get(field, field)
        for (source, offsets), c in coefficient.items():
            mirror = coefficient.get((source, tuple(-o for o in offsets)), 0.0)
            if not any(offsets):
                real_row = real_row + np.abs(c)
                continue
            # each +-s pair is visited twice, so take half of each part
            symmetric = 0.5 * (c + mirror)
            real_row = real_row + np.abs(symmetric)
            imaginary_row = imaginary_row + 0.5 * np.abs(c - mirror)
            if source == own:
                moments = [m + 0.5 * symmetric * o ** 2 for m, o in zip(moments, offsets)]
        for axis, moment in zip(lowered.axes, moments):
            moment = np.asarray(moment, dtype=float)
            scale = float(np.nanmax(np.abs(moment))) if moment.size else 0.0
            if scale > 0 and float(np.nanmin(moment)) < -1e-9 * scale:
                anti_diffusive.append((own, axis.name))
        real_row, imaginary_row = float(np.nanmax(real_row)), float(np.nanmax(imaginary_row))
        if field in velocities.values():
            imaginary_bound = max(imaginary_bound, np.sqrt(real_row + imaginary_row))
        else:
            real_bound = max(real_bound, real_row)
            imaginary_bound = max(imaginary_bound, imaginary_row)
    return SpectrumEstimate(real_bound, imaginary_bound, tuple(anti_diffusive))


def spectral_bounds(compiled, state: np.ndarray, params: dict, t: float = 0.0) -> tuple[float, float]:
    """(real-axis, imaginary-axis) bounds of the Jacobian spectrum at ``state``."""
    estimate = spectrum_estimate(compiled, state, params, t)
    return estimate.real, estimate.imaginary


def _access(lowered, field: str) -> StencilAccess:
    return StencilAccess.here(field, tuple(a.name for a in lowered.axes))


def suggest_dt(compiled, state: np.ndarray, params: dict, method: str, t: float = 0.0) -> float | None:
    """Largest step (times SAFETY) whose scaled spectrum fits the method's stability region.

    Returns None when the bounds vanish (the right-hand side does not depend on the state).
    For systems without a grid, where accuracy rather than stability limits the step,
    the step is also held to 0.05 / (spectral bound).
    """
    return stable_step(spectrum_estimate(compiled, state, params, t), method, bool(compiled.lowered.axes))


def stable_step(estimate: SpectrumEstimate, method: str, on_grid: bool = True) -> float | None:
    """:func:`suggest_dt` from a spectrum estimate already made."""
    real_bound, imaginary_bound = estimate.real, estimate.imaginary
    real_extent, imaginary_extent = STABILITY[method]
    if real_bound <= 0 and imaginary_bound <= 0:
        return None
    if imaginary_bound == 0:
        dt = real_extent / real_bound
    elif imaginary_extent == 0:
        # forward Euler: |1 + dt*(-a + ib)| <= 1 needs dt <= 2a / (a^2 + b^2)
        dt = 2 * real_bound / (real_bound ** 2 + imaginary_bound ** 2) if real_bound > 0 else 0.1 / imaginary_bound
    else:
        dt = 1.0 / (real_bound / real_extent + imaginary_bound / imaginary_extent)
    dt *= SAFETY
    if not on_grid:
        dt = min(dt, 0.05 / max(real_bound, imaginary_bound))
    return float(dt)
