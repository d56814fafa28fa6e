"""Fused Runge–Kutta passes derived from tableaus (symsim.codegen.stages): the same method, fewer sweeps."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from symsim.codegen.stages import SCHEMES, fused_scheme, pass_shape
from symsim.tableaus import TABLEAUS, Tableau, stability_polynomial


def run_on_linear_problem(scheme, z: complex) -> complex:
    """One step of the passes on y' = lambda*y with lambda*dt = z and y = 1: R(z)."""
    values = {"y": 1.0 + 0j}
    for stage in scheme.passes:
        k = z * values[stage.src]                   # dt*f(src)
        new = {w.target: sum(weight * values[a] for a, weight in w.terms) + w.rate * k for w in stage.writes}
        values.update(new)
    return values[scheme.result]


@pytest.mark.parametrize("method", sorted(SCHEMES))
@given(st.complex_numbers(max_magnitude=3.0))
def test_the_passes_step_a_linear_problem_as_the_tableau_does(method, z):
    assert abs(run_on_linear_problem(SCHEMES[method], z) - stability_polynomial(method)(z)) <= 1e-12 * (1 + abs(z)) ** 4


def test_work_arrays_and_passes_per_method():
    assert {m: (len(s.buffers), len(s.passes)) for m, s in SCHEMES.items()} == \
        {"euler": (1, 1), "ssprk3": (2, 3), "rk4": (3, 4)}
    # RK4's accumulator finishes in place and takes y's place; SSPRK3's last pass writes y itself
    assert SCHEMES["rk4"].result != "y" and SCHEMES["ssprk3"].result == "y"


def test_rk4s_middle_passes_share_one_kernel():
    shapes = [pass_shape(p) for p in SCHEMES["rk4"].passes]
    assert shapes[1] == shapes[2] and len(set(shapes)) == 3


def test_a_pass_never_writes_the_array_its_stencil_reads():
    for scheme in SCHEMES.values():
        for stage in scheme.passes:
            assert stage.src not in {w.target for w in stage.writes}


def test_any_explicit_tableau_gets_its_passes():
    # Kutta's third-order method: a full lower triangle, none of the shortcuts of RK4
    kutta = Tableau("kutta3", 3, ((0, 0, 0), (0.5, 0, 0), (-1, 2, 0)), (1 / 6, 2 / 3, 1 / 6), (0, 0.5, 1))
    scheme = fused_scheme(kutta)
    a, b = np.array(kutta.a), np.array(kutta.b)
    for z in (-0.3, 0.2 + 0.5j, -2.0):
        # R(z) = 1 + z b^T (I - zA)^{-1} 1
        expected = 1 + z * b @ np.linalg.solve(np.eye(3) - z * a, np.ones(3))
        assert abs(run_on_linear_problem(scheme, z) - expected) < 1e-13
