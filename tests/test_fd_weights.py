"""Fornberg finite-difference weights, centered stencils and extrapolation weights (symsim.fd_weights)."""

from fractions import Fraction
from math import comb, factorial

import pytest
import sympy
from hypothesis import given, settings
from hypothesis import strategies as st

from symsim.fd_weights import (centered_half_width, centered_stencil, extrapolation_weights,
                               fornberg_weights)

R = sympy.Rational


def rational(value) -> sympy.Rational:
    value = Fraction(value)
    return R(value.numerator, value.denominator)


def derivative_of_power(k: int, m: int, at) -> sympy.Rational:
    """d^m/dx^m of x**k at ``at``, exactly."""
    if k < m:
        return R(0)
    return R(factorial(k), factorial(k - m)) * rational(at) ** (k - m)


def apply(weights, nodes, k: int) -> sympy.Rational:
    """sum_j w_j * nodes_j**k, exactly."""
    return sum((w * rational(xj) ** k for w, xj in zip(weights, nodes)), R(0))


def table(*weights):
    """Centered table row (offsets -r..r) -> {offset: weight} without zero weights."""
    r = len(weights) // 2
    return {s - r: R(w) for s, w in enumerate(weights) if w != 0}


# -- known tables (Fornberg 1988, table 1) --------------------------------------------

CENTERED = {
    (1, 2): table(R(-1, 2), 0, R(1, 2)),
    (1, 4): table(R(1, 12), R(-2, 3), 0, R(2, 3), R(-1, 12)),
    (1, 6): table(R(-1, 60), R(3, 20), R(-3, 4), 0, R(3, 4), R(-3, 20), R(1, 60)),
    (1, 8): table(R(1, 280), R(-4, 105), R(1, 5), R(-4, 5), 0, R(4, 5), R(-1, 5), R(4, 105), R(-1, 280)),
    (2, 2): table(1, -2, 1),
    (2, 4): table(R(-1, 12), R(4, 3), R(-5, 2), R(4, 3), R(-1, 12)),
    (2, 6): table(R(1, 90), R(-3, 20), R(3, 2), R(-49, 18), R(3, 2), R(-3, 20), R(1, 90)),
    (2, 8): table(R(-1, 560), R(8, 315), R(-1, 5), R(8, 5), R(-205, 72), R(8, 5), R(-1, 5), R(8, 315), R(-1, 560)),
    (3, 2): table(R(-1, 2), 1, 0, -1, R(1, 2)),
    (4, 2): table(1, -4, 6, -4, 1),
    (4, 4): table(R(-1, 6), 2, R(-13, 2), R(28, 3), R(-13, 2), 2, R(-1, 6)),
    (4, 6): table(R(7, 240), R(-2, 5), R(169, 60), R(-122, 15), R(91, 8), R(-122, 15), R(169, 60), R(-2, 5),
                  R(7, 240)),
}

ONE_SIDED_FIRST = {  # forward differences on nodes 0, 1, ..., order
    1: [-1, 1],
    2: [R(-3, 2), 2, R(-1, 2)],
    3: [R(-11, 6), 3, R(-3, 2), R(1, 3)],
    4: [R(-25, 12), 4, -3, R(4, 3), R(-1, 4)],
    5: [R(-137, 60), 5, -5, R(10, 3), R(-5, 4), R(1, 5)],
    6: [R(-49, 20), 6, R(-15, 2), R(20, 3), R(-15, 4), R(6, 5), R(-1, 6)],
}


@pytest.mark.parametrize("derivative, accuracy", list(CENTERED),
                         ids=[f"d{m}-order{p}" for m, p in CENTERED])
def test_centered_stencil_matches_the_published_table(derivative, accuracy):
    assert centered_stencil(derivative, accuracy) == CENTERED[(derivative, accuracy)]


@pytest.mark.parametrize("derivative, accuracy", list(CENTERED),
                         ids=[f"d{m}-order{p}" for m, p in CENTERED])
def test_fornberg_weights_on_the_full_centered_node_set_match_the_table(derivative, accuracy):
    r = centered_half_width(derivative, accuracy)
    weights = fornberg_weights(derivative, 0, range(-r, r + 1))
    assert weights == [CENTERED[(derivative, accuracy)].get(s, 0) for s in range(-r, r + 1)]
    assert all(isinstance(w, sympy.Rational) for w in weights)


@pytest.mark.parametrize("accuracy", list(ONE_SIDED_FIRST), ids=lambda p: f"order{p}")
def test_one_sided_first_derivative_matches_the_table(accuracy):
    nodes = range(accuracy + 1)
    assert fornberg_weights(1, 0, nodes) == ONE_SIDED_FIRST[accuracy]
    # backward differences (a wall on the high side): mirrored nodes, negated weights
    assert fornberg_weights(1, 0, [-j for j in nodes]) == [-w for w in ONE_SIDED_FIRST[accuracy]]


def test_the_docstring_examples():
    assert fornberg_weights(2, 0, [-1, 0, 1]) == [1, -2, 1]
    assert centered_stencil(1, 2) == {-1: R(-1, 2), 1: R(1, 2)}


def test_interpolation_weights_at_a_node_select_that_node():
    assert fornberg_weights(0, 2, [0, 1, 2, 3]) == [0, 0, 1, 0]


def test_weights_at_a_half_point():
    # midpoint interpolation and the staggered first derivative of order 4
    assert fornberg_weights(0, R(1, 2), [0, 1]) == [R(1, 2), R(1, 2)]
    assert fornberg_weights(1, 0, [R(-3, 2), R(-1, 2), R(1, 2), R(3, 2)]) == [R(1, 24), R(-9, 8), R(9, 8), R(-1, 24)]


# -- exactness on polynomials ---------------------------------------------------------

small_fractions = st.fractions(min_value=-6, max_value=6, max_denominator=4)


@st.composite
def stencil_problems(draw):
    nodes = draw(st.lists(small_fractions, min_size=1, max_size=8, unique=True))
    derivative = draw(st.integers(min_value=0, max_value=len(nodes) - 1))
    at = draw(small_fractions)
    return derivative, at, nodes


@settings(max_examples=150, deadline=None)
@given(stencil_problems())
def test_weights_differentiate_every_power_below_the_node_count_exactly(problem):
    derivative, at, nodes = problem
    weights = fornberg_weights(derivative, at, nodes)
    assert len(weights) == len(nodes)
    for k in range(len(nodes)):
        assert apply(weights, nodes, k) == derivative_of_power(k, derivative, at), (k, weights)


@settings(max_examples=100, deadline=None)
@given(stencil_problems(), st.fractions(min_value=-3, max_value=3, max_denominator=3))
def test_weights_are_translation_invariant(problem, shift):
    derivative, at, nodes = problem
    moved = fornberg_weights(derivative, at + shift, [xj + shift for xj in nodes])
    assert moved == fornberg_weights(derivative, at, nodes)


@settings(max_examples=100, deadline=None)
@given(stencil_problems(), st.sampled_from([Fraction(1, 3), Fraction(1, 2), Fraction(2), Fraction(-1)]))
def test_weights_scale_with_spacing_to_the_minus_derivative_order(problem, scale):
    derivative, at, nodes = problem
    scaled = fornberg_weights(derivative, at * scale, [xj * scale for xj in nodes])
    factor = rational(scale) ** derivative
    assert [w * factor for w in scaled] == fornberg_weights(derivative, at, nodes)


@pytest.mark.parametrize("derivative", [1, 2, 3, 4])
@pytest.mark.parametrize("accuracy", [2, 4, 6, 8])
def test_centered_stencil_has_exactly_the_requested_accuracy(derivative, accuracy):
    """Exact for x**k, k < derivative + accuracy, and not for k = derivative + accuracy.

    On a unit grid the truncation error of a stencil is its first failing power:
    error ~ h**(k - derivative), so this pins the order to ``accuracy`` -- neither
    lower (wrong weights) nor higher (a half width larger than needed).
    """
    stencil = centered_stencil(derivative, accuracy)
    offsets, weights = list(stencil), list(stencil.values())
    for k in range(derivative + accuracy):
        assert apply(weights, offsets, k) == derivative_of_power(k, derivative, 0), k
    k = derivative + accuracy
    assert apply(weights, offsets, k) != derivative_of_power(k, derivative, 0)


@pytest.mark.parametrize("derivative", [1, 2, 3, 4])
@pytest.mark.parametrize("accuracy", [2, 4, 6, 8])
def test_centered_stencils_are_symmetric_or_antisymmetric(derivative, accuracy):
    stencil = centered_stencil(derivative, accuracy)
    r = centered_half_width(derivative, accuracy)
    assert set(stencil) <= set(range(-r, r + 1))
    assert max(abs(s) for s in stencil) == r          # the outermost layer is really used
    sign = 1 if derivative % 2 == 0 else -1
    for s in range(1, r + 1):
        assert stencil.get(-s, 0) == sign * stencil.get(s, 0)
    if derivative % 2:
        assert 0 not in stencil                       # odd derivatives ignore the centre
    else:
        assert stencil[0] != 0


@settings(max_examples=100, deadline=None)
@given(stencil_problems())
def test_mirrored_nodes_give_mirrored_weights(problem):
    derivative, at, nodes = problem
    mirrored = fornberg_weights(derivative, -at, [-xj for xj in nodes])
    assert mirrored == [(-1) ** derivative * w for w in fornberg_weights(derivative, at, nodes)]


def test_returned_weights_are_a_fresh_list_each_call():
    first = fornberg_weights(2, 0, [-1, 0, 1])
    first[0] = 99
    assert fornberg_weights(2, 0, [-1, 0, 1]) == [1, -2, 1]


@pytest.mark.parametrize("derivative, nodes", [(2, [0, 1]), (1, [0]), (-1, [0, 1])])
def test_too_few_nodes_or_a_negative_order_is_an_error(derivative, nodes):
    with pytest.raises(ValueError):
        fornberg_weights(derivative, 0, nodes)


# -- half widths ------------------------------------------------------------------------

@pytest.mark.parametrize("derivative, accuracy, half_width", [
    (1, 2, 1), (2, 2, 1), (1, 4, 2), (2, 4, 2), (1, 6, 3), (2, 6, 3), (1, 8, 4), (2, 8, 4),
    (3, 2, 2), (3, 4, 3), (4, 2, 2), (4, 4, 3), (4, 6, 4), (0, 2, 0),
])
def test_centered_half_width(derivative, accuracy, half_width):
    assert centered_half_width(derivative, accuracy) == half_width


@pytest.mark.parametrize("accuracy", [0, 1, 3, 5, -2])
def test_half_width_rejects_odd_or_too_small_accuracy(accuracy):
    with pytest.raises(ValueError, match="even number"):
        centered_half_width(2, accuracy)


# -- extrapolation (ghost layers) -------------------------------------------------------

@pytest.mark.parametrize("points", range(1, 11))
def test_extrapolation_one_step_beyond_the_wall_is_alternating_binomial(points):
    # Lagrange extrapolation to -1 from 0..n-1: w_j = (-1)**j * C(n, j+1)
    assert extrapolation_weights(-1, range(points)) == [(-1) ** j * comb(points, j + 1) for j in range(points)]


def test_extrapolation_weights_used_for_ghost_layers():
    assert extrapolation_weights(-1, range(4)) == [4, -6, 4, -1]
    assert extrapolation_weights(-2, range(3)) == [6, -8, 3]
    assert extrapolation_weights(-1, range(3)) == [3, -3, 1]


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=1, max_value=10), st.integers(min_value=-5, max_value=0), st.data())
def test_extrapolation_reproduces_polynomials_below_the_point_count(points, target, data):
    nodes = list(range(points))
    coefficients = data.draw(st.lists(st.integers(-20, 20), min_size=points, max_size=points))

    def polynomial(s):
        return sum((R(c) * R(s) ** k for k, c in enumerate(coefficients)), R(0))

    weights = extrapolation_weights(target, nodes)
    assert sum(weights) == 1
    assert sum((w * polynomial(s) for w, s in zip(weights, nodes)), R(0)) == polynomial(target)


@pytest.mark.parametrize("points", [3, 4, 6, 8])
def test_extrapolation_is_not_exact_one_degree_higher(points):
    weights = extrapolation_weights(-1, range(points))
    assert apply(weights, range(points), points) != R(-1) ** points
