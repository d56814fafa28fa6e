"""The lowered IR: stencil expressions, halos, wall conditions, second-order reduction."""

import numpy as np
import pytest
import sympy
from sympy import Eq, Rational, sin

from symsim import Dt, Grid, Model, compile_model, div, grad, laplace, lower_to_stencils, simulate
from symsim.tableaus import stability_polynomial
from symsim.ir import StencilAccess, stencil_accesses
from symsim.stability import suggest_dt


def heat(points=17, periodic=True, D=0.5):
    grid = Grid(x=(0.0, 1.0, points), periodic=periodic)
    model = Model("heat", grid)
    u = model.fields("u")
    model.params(D=D)
    (x,) = grid.coords
    model.equations(Eq(Dt(u), sympy.Symbol("D") * u.diff(x, 2)))
    model.initial(u=sin(2 * sympy.pi * x))
    if not periodic:
        model.dirichlet(u, x=0.0, value=0)
        model.dirichlet(u, x=1.0, value=0)
    return model


def test_second_derivative_lowers_to_the_three_point_stencil():
    lowered = lower_to_stencils(heat(), space_order=2)
    D, h = sympy.Symbol("D"), sympy.Symbol("h_x", positive=True)
    u = [StencilAccess("u", (o,), ("x",)) for o in (-1, 0, 1)]
    assert sympy.simplify(lowered.rhs["u"] - D * (u[0] - 2 * u[1] + u[2]) / h**2) == 0
    assert lowered.halo == (1,)


@pytest.mark.parametrize("order, points", [(2, 3), (4, 5), (6, 7), (8, 9)])
def test_stencil_width_grows_with_space_order(order, points):
    lowered = lower_to_stencils(heat(points=32), space_order=order)
    assert len(stencil_accesses(lowered.rhs["u"])) == points
    assert lowered.halo == ((points - 1) // 2,)


def test_mixed_derivative_is_the_tensor_product_of_first_derivatives():
    grid = Grid(x=(0.0, 1.0, 16), y=(0.0, 1.0, 16), periodic=True)
    model = Model("mixed", grid)
    u = model.fields("u")
    x, y = grid.coords
    model.equations(Eq(Dt(u), sympy.Derivative(u, x, y)))
    model.initial(u=0)
    rhs = sympy.expand(lower_to_stencils(model).rhs["u"])
    coefficients = {a.offsets: rhs.coeff(a) for a in stencil_accesses(rhs)}
    h = grid.axes[0].spacing_symbol * grid.axes[1].spacing_symbol
    assert coefficients == {(1, 1): 1 / (4 * h), (-1, -1): 1 / (4 * h), (1, -1): -1 / (4 * h), (-1, 1): -1 / (4 * h)}


def test_second_order_in_time_adds_a_velocity_field():
    grid = Grid(x=(0.0, 1.0, 16), periodic=True)
    model = Model("wave", grid)
    u = model.fields("u")
    (x,) = grid.coords
    model.equations(Eq(Dt(u, 2), u.diff(x, 2) - Rational(1, 10) * Dt(u)))
    model.initial({u: sin(2 * sympy.pi * x), Dt(u): 0})
    lowered = lower_to_stencils(model)
    assert lowered.fields == ("u", "u_t")
    assert lowered.rhs["u"] == StencilAccess("u_t", (0,), ("x",))
    assert StencilAccess("u_t", (0,), ("x",)) in stencil_accesses(lowered.rhs["u_t"])


def test_wall_ghost_weights_extrapolate_polynomials_of_the_design_degree():
    lowered = lower_to_stencils(heat(periodic=False, points=20), space_order=4)
    low = lowered.wall("u", 0, "low")
    assert low.kind == "dirichlet" and len(low.ghost_weights) == 2
    for layer, weights in enumerate(low.ghost_weights, start=1):
        nodes = np.arange(len(weights))
        for degree in range(len(weights)):
            assert float(sum(w * n**degree for w, n in zip(weights, nodes))) == pytest.approx((-layer) ** degree)


def test_dirichlet_boundary_nodes_are_held_and_ghosts_filled():
    compiled = compile_model(heat(periodic=False, points=20), space_order=4)
    params = compiled.resolve_params()
    state = compiled.initial_state(params)
    out = np.full_like(state, np.nan)
    compiled.rhs(0.0, state, out, params)
    interior = compiled.interior(out)[0]
    assert interior[0] == 0.0 and interior[-1] == 0.0
    assert np.isfinite(interior).all()


def test_suggested_dt_matches_the_diffusion_limit():
    compiled = compile_model(heat(points=64, D=0.5))
    params = compiled.resolve_params()
    dt = suggest_dt(compiled, compiled.initial_state(params), params, "rk4")
    h = 1.0 / 64
    exact_limit = 2.785 / (4 * 0.5 / h**2)      # RK4 real-axis extent over the largest eigenvalue
    assert 0.7 * exact_limit < dt < exact_limit


def test_generated_numpy_source_is_readable_and_self_contained():
    source = compile_model(heat()).source
    assert "def rhs(t, state, out, p):" in source and "def apply_boundaries(t, state, p):" in source
    assert "import numpy" in source and "symsim" not in source.split('"""', 2)[2]


def test_div_of_grad_equals_laplace_after_lowering():
    grid = Grid(x=(0.0, 1.0, 12), y=(0.0, 1.0, 12), periodic=True)
    model = Model("flux", grid)
    u = model.fields("u")
    model.equations(Eq(Dt(u), div(grad(u))))
    model.initial(u=0)
    other = Model("lap", grid)
    w = other.fields("u")
    other.equations(Eq(Dt(w), laplace(w)))
    other.initial(u=0)
    assert sympy.simplify(lower_to_stencils(model).rhs["u"] - lower_to_stencils(other).rhs["u"]) == 0


def test_three_dimensional_heat_mode_decays_at_the_discrete_rate():
    n = 12
    grid = Grid(x=(0.0, 1.0, n), y=(0.0, 1.0, n), z=(0.0, 1.0, n), periodic=True)
    model = Model("heat3d", grid)
    u = model.fields("u")
    x, y, z = grid.coords
    model.equations(Eq(Dt(u), laplace(u)))
    model.initial(u=sympy.sin(2 * sympy.pi * x) * sympy.cos(2 * sympy.pi * y) * sympy.sin(2 * sympy.pi * z))
    result = simulate(model, t_end=0.01, saves=1, method="rk4")
    h = 1.0 / n
    discrete_eigenvalue = 3 * (2 * np.cos(2 * np.pi * h) - 2) / h**2
    ratio = result["u"][-1] / np.where(np.abs(result["u"][0]) > 1e-8, result["u"][0], np.nan)
    assert result["u"].shape == (2, n, n, n)
    # RK4's amplification of the discrete Laplacian's eigenvalue, step by step
    dt, steps = result.stats["dt"], result.stats["steps"]
    expected = stability_polynomial("rk4")(discrete_eigenvalue * dt) ** steps
    assert np.nanmax(np.abs(ratio - expected)) < 1e-12


@pytest.mark.parametrize("term", ["abs", "max", "min", "piecewise", "atan2"])
def test_nonsmooth_and_multi_argument_functions_compile_and_run(term):
    grid = Grid(x=(0.0, 1.0, 16), periodic=True)
    model = Model("nonsmooth", grid)
    u = model.fields("u")
    (x,) = grid.coords
    extra = {"abs": sympy.Abs(u), "max": sympy.Max(u, 0), "min": sympy.Min(u, 0, x),
             "piecewise": sympy.Piecewise((u, u > 0), (0, True)), "atan2": sympy.atan2(u, 1 + x)}[term]
    model.equations(Eq(Dt(u), u.diff(x, 2) / 100 - extra))
    model.initial(u=sin(2 * sympy.pi * x))
    result = simulate(model, t_end=0.01, saves=1)
    assert np.isfinite(result["u"]).all() and not np.array_equal(result["u"][0], result["u"][1])
