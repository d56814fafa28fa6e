"""SINDy, the sparse-regression baseline PROSE is compared with (Brunton, Proctor, Kutz 2016), in NumPy.

    >>> times = np.linspace(0.0, 2.0, 64, endpoint=False)
    >>> values = np.stack([np.cos(times), -np.sin(times)], axis=1)   # u_0' = u_1, u_1' = -u_0
    >>> fit = fit_sindy(times, values)          # values: (samples, d) of one trajectory
    >>> fit.term_names
    ('1', 'u_0', 'u_1', 'u_0**2', 'u_0*u_1', 'u_1**2')
    >>> fit.coefficients.T.round(3)             # one row per equation, one column per term
    array([[ 0.,  0.,  1.,  0.,  0.,  0.],
           [ 0., -1.,  0.,  0.,  0.,  0.]])
    >>> fit.rates(values[:2]).round(3)          # the fitted vector field at those states
    array([[ 0.   , -1.   ],
           [-0.031, -1.   ]])

Three steps, each a function of its own:

1. :func:`local_polynomial_derivative` estimates du/dt from the samples by a
   least-squares polynomial fit on a sliding window (Savitzky-Golay), which also
   serves the ends (the window slides inward) and uneven sample times. Why not
   centered differences: at PROSE's sampling (64 points on [0, 2), ~20 per
   Lorenz loop) they are second-order and already 7 % off on clean data, 14 %
   with 2 % noise. A quintic over 9 samples is 4 % / 12 % off, and the fitted
   vector field 5 % instead of 8 % (medians over 64 Lorenz windows). A cubic
   over 9 samples smooths too much at this resolution (16 % off when clean).
2. :func:`polynomial_library` evaluates every monomial up to ``degree`` (1, u_i,
   u_i u_j for degree 2) at the samples.
3. :func:`sequentially_thresholded_least_squares` solves library @ coefficients
   = rates by ridge regression, zeroes coefficients below ``threshold`` and
   refits on the terms left, until the set of terms stops changing.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations_with_replacement

import numpy as np
import sympy

from ..errors import OptionError
from .families import state_symbols


@dataclass(frozen=True)
class SindyFit:
    """du_k/dt = sum_j coefficients[j, k] * term_j, term_j = prod_i u_i ** exponents[j, i]."""

    coefficients: np.ndarray     # (terms, d)
    exponents: np.ndarray        # (terms, d) integer powers of u_0..u_{d-1} in each library term

    @property
    def term_names(self) -> tuple[str, ...]:
        """The library terms as text, e.g. ("1", "u_0", "u_1", "u_0**2", "u_0*u_1", "u_1**2")."""
        return tuple(str(_monomial(row)) for row in self.exponents)

    @property
    def dimension(self) -> int:
        return self.exponents.shape[1]

    @property
    def exprs(self) -> list[sympy.Expr]:
        """The fitted right-hand sides as SymPy expressions in u_0.. (zero terms left out)."""
        terms = [_monomial(row) for row in self.exponents]
        return [sympy.Add(*[sympy.Float(c) * term for c, term in zip(column, terms) if c != 0.0])
                for column in self.coefficients.T]

    def rates(self, values) -> np.ndarray:
        """The fitted vector field at the states ``values`` (samples, d)."""
        return polynomial_library(_as_samples(values, self.dimension), self.exponents) @ self.coefficients


#: thresholds tried when fit_sindy picks one itself (by AIC)
THRESHOLDS = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)


def fit_sindy(times, values, degree: int = 2, threshold: float | None = None, ridge: float = 1e-6,
              max_iterations: int = 10, window: int = 9, poly_order: int = 5,
              derivatives=None) -> SindyFit:
    """Fit a sparse polynomial vector field to one sampled trajectory.

    ``values``: (samples, d) states at ``times`` (a 1-D array also works for d = 1).
    ``threshold``: coefficients smaller in magnitude are dropped (in the units of the
    data); None picks the one of :data:`THRESHOLDS` with the lowest Akaike information
    criterion n log(RSS/n) + 2k on the derivative fit -- no fixed threshold suits every
    family (Lorenz's median field error on the 64-point window: 1.0 at 0.1, 0.53 by
    AIC), and a baseline should get its own best shot. ``ridge``: Tikhonov weight relative to the library's column scale.
    ``window``/``poly_order``: the derivative estimate (see
    :func:`local_polynomial_derivative`); ``derivatives`` given skips it.
    """
    times = np.asarray(times, dtype=float)
    values = _as_samples(values)
    if times.ndim != 1 or times.shape[0] != values.shape[0]:
        raise OptionError(f"times needs one entry per sample ({values.shape[0]}), got shape {times.shape}")
    if derivatives is None:
        derivatives = local_polynomial_derivative(times, values, window, poly_order)
    else:
        derivatives = _as_samples(derivatives, values.shape[1])
        if derivatives.shape != values.shape:
            raise OptionError(f"derivatives need the shape of values {values.shape}, got {derivatives.shape}")
    exponents = polynomial_exponents(values.shape[1], degree)
    library = polynomial_library(values, exponents)
    if threshold is None:
        fits = [sequentially_thresholded_least_squares(library, derivatives, t, ridge, max_iterations)
                for t in THRESHOLDS]
        coefficients = min(fits, key=lambda c: _aic(library, derivatives, c))
    else:
        coefficients = sequentially_thresholded_least_squares(library, derivatives, threshold, ridge, max_iterations)
    return SindyFit(coefficients, exponents)


def _aic(library: np.ndarray, derivatives: np.ndarray, coefficients: np.ndarray) -> float:
    n = derivatives.size
    residual = float(np.sum((library @ coefficients - derivatives) ** 2))
    return n * np.log(max(residual, 1e-300) / n) + 2 * np.count_nonzero(coefficients)


def polynomial_exponents(dimension: int, degree: int) -> np.ndarray:
    """Exponent rows of every monomial of total degree <= ``degree`` in ``dimension`` variables,
    lowest degree first: for d=2, degree=2 the rows of 1, u_0, u_1, u_0**2, u_0*u_1, u_1**2."""
    if dimension < 1 or degree < 0:
        raise OptionError(f"a polynomial library needs dimension >= 1 and degree >= 0, got {dimension}, {degree}")
    rows = []
    for total in range(degree + 1):
        for variables in combinations_with_replacement(range(dimension), total):
            row = np.zeros(dimension, dtype=int)
            np.add.at(row, list(variables), 1)
            rows.append(row)
    return np.array(rows, dtype=int)


def polynomial_library(values: np.ndarray, exponents: np.ndarray) -> np.ndarray:
    """(samples, terms): every monomial of ``exponents`` evaluated at every sample."""
    return np.prod(values[:, None, :] ** exponents[None, :, :], axis=2)


def local_polynomial_derivative(times, values, window: int = 9, poly_order: int = 5) -> np.ndarray:
    """du/dt at every sample from a degree-``poly_order`` least-squares fit over ``window`` samples.

    The window is centred on the sample where it can be and slides inward at the ends
    (the same fit, evaluated off-centre), so every sample gets an estimate.
    """
    times = np.asarray(times, dtype=float)
    values = _as_samples(values)
    samples = times.shape[0]
    if not poly_order >= 1 or not window > poly_order:
        raise OptionError(f"the derivative fit needs poly_order >= 1 and window > poly_order, "
                          f"got window={window}, poly_order={poly_order}")
    if samples < window:
        raise OptionError(f"the derivative fit needs at least window={window} samples, got {samples}")
    if np.any(np.diff(times) <= 0):
        raise OptionError("times must be strictly increasing")
    starts = np.clip(np.arange(samples) - window // 2, 0, samples - window)
    neighbours = starts[:, None] + np.arange(window)                 # (samples, window)
    offsets = times[neighbours] - times[:, None]
    # fit in offsets / span so that the normal equations stay well-conditioned for any time unit
    span = times[neighbours[:, -1]] - times[neighbours[:, 0]]
    vandermonde = (offsets / span[:, None])[:, :, None] ** np.arange(poly_order + 1)
    # row 1 of the pseudo-inverse maps the window's values to the fitted slope at offset 0
    slope_weights = np.linalg.pinv(vandermonde)[:, 1, :] / span[:, None]
    return np.einsum("sw,swd->sd", slope_weights, values[neighbours])


def sequentially_thresholded_least_squares(library: np.ndarray, rates: np.ndarray, threshold: float = 0.1,
                                           ridge: float = 1e-6, max_iterations: int = 10) -> np.ndarray:
    """(terms, d) coefficients with library @ coefficients ~ rates, small ones set to zero (STLSQ).

    Each column of ``rates`` is fitted on its own. The ridge solve runs on columns
    scaled to unit RMS, so ``ridge`` means the same for u_i and u_i u_j; the
    threshold applies to the unscaled coefficients, in the units of the data.
    """
    if threshold < 0 or ridge < 0 or max_iterations < 1:
        raise OptionError(f"STLSQ needs threshold >= 0, ridge >= 0 and max_iterations >= 1, "
                          f"got {threshold}, {ridge}, {max_iterations}")
    scale = np.sqrt(np.mean(library**2, axis=0))
    scale[scale == 0.0] = 1.0
    scaled = library / scale
    active = np.ones((library.shape[1], rates.shape[1]), dtype=bool)
    coefficients = _ridge_fit(scaled, rates, active, ridge) / scale[:, None]
    for _ in range(max_iterations):
        keep = active & (np.abs(coefficients) >= threshold)
        if np.array_equal(keep, active):
            break
        active = keep
        coefficients = _ridge_fit(scaled, rates, active, ridge) / scale[:, None]
    return coefficients


def _ridge_fit(scaled: np.ndarray, rates: np.ndarray, active: np.ndarray, ridge: float) -> np.ndarray:
    """Per output column k: ridge least squares on the library columns active[:, k], zero elsewhere."""
    samples = scaled.shape[0]
    coefficients = np.zeros(active.shape)
    for k in range(rates.shape[1]):
        columns = np.flatnonzero(active[:, k])
        if columns.size == 0:
            continue
        part = scaled[:, columns]
        normal = part.T @ part + ridge * samples * np.eye(columns.size)
        coefficients[columns, k] = np.linalg.solve(normal, part.T @ rates[:, k])
    return coefficients


def _monomial(exponent_row) -> sympy.Expr:
    return sympy.Mul(*[u**int(e) for u, e in zip(state_symbols(len(exponent_row)), exponent_row)])


def _as_samples(values, dimension: int | None = None) -> np.ndarray:
    """``values`` as a float (samples, d) array; a 1-D array is one variable."""
    values = np.asarray(values, dtype=float)
    if values.ndim == 1:
        values = values[:, None]
    if values.ndim != 2 or (dimension is not None and values.shape[1] != dimension):
        wanted = f"(samples, {dimension})" if dimension is not None else "(samples, d)"
        raise OptionError(f"values need shape {wanted}, got {values.shape}")
    if not np.isfinite(values).all():
        raise OptionError("values have NaN or infinite entries")
    return values
