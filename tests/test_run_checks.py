"""What a run checks and says before and while it runs: ill-posed models, steps above the stable
estimate, the memory a run needs, and growth that is instability rather than physics."""

import math
import warnings

import numpy as np
import pytest
import sympy
from sympy import Eq

import symsim
from symsim import Dt, Grid, Model, load_model
from symsim.cli import main
from symsim.compiler import compile_model
from symsim.errors import OptionError, SymsimWarning
from symsim.lowering import lower_to_stencils
from symsim.solve import check_memory, result_bytes, run_bytes, run_options
from symsim.stability import spectrum_estimate

EXAMPLES = ["advection_1d", "allen_cahn", "burgers_1d", "gray_scott", "heat_1d", "heat_2d", "lorenz",
            "lotka_volterra", "sine_gordon_1d"]


def estimate(model, space_order=2, **params):
    compiled = compile_model(model, target="numpy", space_order=space_order, egraph=False)
    values = compiled.resolve_params(params)
    return spectrum_estimate(compiled, compiled.initial_state(values), values)


@pytest.mark.parametrize("name", EXAMPLES)
@pytest.mark.parametrize("space_order", [2, 4])
def test_no_shipped_example_is_called_ill_posed(name, space_order):
    model = load_model(name)
    if model.grid is not None and len(model.grid.axes) > 1:
        model = model.with_points(**{a.name: 24 for a in model.grid.axes})
    assert estimate(model, space_order).anti_diffusive == ()


def anisotropic(a, b):
    grid = Grid(x=(0.0, 1.0, 20), y=(0.0, 2.0, 16), periodic=True)
    model = Model("aniso", grid)
    u, v = model.fields("u v")
    A, B = model.params(A=a, B=b)
    x, y = grid.coords
    # v diffuses with a state-dependent coefficient and feeds u with a negative cross-diffusion,
    # which is not anti-diffusion of either field
    model.equations(Eq(Dt(u), A * u.diff(x, 2) + B * u.diff(y, 2) - 0.3 * v.diff(x, 2)),
                    Eq(Dt(v), (1 + v ** 2) * v.diff(x, 2) + v.diff(y, 2)))
    model.initial(u=sympy.sin(2 * sympy.pi * x), v=sympy.cos(sympy.pi * y))
    return model


@pytest.mark.parametrize("space_order", [2, 4, 6, 8])
@pytest.mark.parametrize("a, b, flagged", [(1.0, 1.0, ()), (1.0, -0.5, (("u", "y"),)),
                                           (-2.0, -0.5, (("u", "x"), ("u", "y"))), (0.0, 1.0, ())])
def test_anti_diffusion_is_found_per_field_and_axis_at_every_order(space_order, a, b, flagged):
    assert estimate(anisotropic(a, b), space_order).anti_diffusive == flagged


@pytest.mark.parametrize("sign, flagged", [(1, ()), (-1, (("u", "x"),))])
def test_a_wave_equation_with_the_wrong_sign_is_ill_posed(sign, flagged):
    grid = Grid(x=(0.0, 1.0, 32), periodic=True)
    model = Model("wave", grid)
    u = model.fields("u")
    (x,) = grid.coords
    model.equations(Eq(Dt(u, 2), sign * u.diff(x, 2)))
    model.initial({u: sympy.sin(2 * sympy.pi * x), Dt(u): 0})
    assert estimate(model).anti_diffusive == flagged


def test_an_ill_posed_run_warns_first_and_fails_naming_the_cause():
    model = load_model("heat_1d")
    with pytest.warns(SymsimWarning, match="ill-posed"), pytest.raises(symsim.SolverError, match="ill-posed"):
        symsim.simulate(model, t_end=0.01, params={"D": -1.0}, saves=2)


def test_an_ill_posed_model_is_not_called_stiff():
    """D=-1 on heat_1d gives a stable-step estimate far below the save interval, as stiffness does; the run
    must name the sign, not advise an implicit method (which cannot make the model well-posed)."""
    import warnings
    with warnings.catch_warnings(record=True) as caught, pytest.raises(symsim.SolverError, match="ill-posed"):
        warnings.simplefilter("always")
        symsim.simulate(load_model("heat_1d"), t_end=1.0, params={"D": -1.0}, saves=20)
    said = " ".join(str(w.message) for w in caught)
    assert "ill-posed" in said and "stiff" not in said


def test_growth_that_is_physics_is_not_stopped():
    """u' = 20 u grows 5e8-fold on [0, 1]: at a step inside the stable estimate the run completes."""
    model = Model("growth")
    u = model.fields("u")
    model.equations(Eq(Dt(u), 20 * u))
    model.initial(u=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", SymsimWarning)      # nothing to warn about either
        result = symsim.simulate(model, t_end=1.0, dt=1e-3, saves=4)
    assert np.isclose(result["u"][-1], np.exp(20.0), rtol=1e-6)     # RK4: (20 dt)^4 / 120 per unit time


def test_memory_needed_is_the_saves_the_state_and_the_work_arrays():
    lowered = lower_to_stencils(load_model("gray_scott").with_points(x=64, y=32), 2)
    options = run_options(load_model("gray_scott"), t_end=1.0, saves=9, method="rk4")
    assert result_bytes(lowered, options) == 8 * 2 * 10 * 64 * 32
    assert run_bytes(lowered, options) == result_bytes(lowered, options) + 8 * 2 * (4 + 3) * 66 * 34


def test_a_run_that_cannot_fit_is_refused_before_compiling(monkeypatch):
    import symsim.solve
    monkeypatch.setattr(symsim.solve, "available_memory", lambda: 2 ** 20)        # a 1 MiB machine
    compiled = []
    monkeypatch.setattr(symsim.solve, "compile_model", lambda *a, **k: compiled.append(1))
    with pytest.raises(OptionError, match=r"gray_scott.*256x256 grid with 20 saves needs about 2[0-9] MiB"):
        symsim.simulate(load_model("gray_scott"), t_end=1.0)
    assert compiled == []
    lowered = lower_to_stencils(load_model("heat_1d"), 2)
    check_memory(lowered, run_options(load_model("heat_1d"), t_end=1.0))          # 20 kB fits


# -- a step given by the user is kept; saves between steps are interpolated -------------------------

def forced_oscillator():
    """u' = v, v' = -4u + sin(3t): smooth, solution known in closed form."""
    model = Model("forced")
    u, v = model.fields("u v")
    model.equations(Eq(Dt(u), v), Eq(Dt(v), -4 * u + sympy.sin(3 * symsim.t)))
    model.initial(u=1.0, v=0.0)
    return model


def forced_exact(t):
    # particular solution -sin(3t)/5, homogeneous part fitted to u(0) = 1, v(0) = 0
    u = np.cos(2 * t) + 0.3 * np.sin(2 * t) - np.sin(3 * t) / 5
    return u


@pytest.mark.parametrize("method, order", [("euler", 1), ("ssprk3", 3), ("rk4", 4)])
def test_interpolated_saves_keep_the_methods_order(method, order):
    """Seven saves on [0, 1] fall inside steps of 0.1, 0.05, 0.025: the step is kept (no warning) and the
    error at the saves falls at the method's order."""
    errors = []
    for dt in (0.1, 0.05, 0.025):
        with warnings.catch_warnings():
            warnings.simplefilter("error", SymsimWarning)
            result = symsim.simulate(forced_oscillator(), t_end=1.0, dt=dt, saves=7, method=method)
        assert result.stats["dt"] == dt and result.stats["interpolated_saves"]
        assert result.stats["steps"] == round(1.0 / dt)
        errors.append(np.max(np.abs(result["u"] - forced_exact(result.t))))
    observed = [math.log2(a / b) for a, b in zip(errors, errors[1:])]
    assert min(observed) > order - 0.35, (errors, observed)


def test_interpolated_saves_equal_on_numpy_and_numba_and_walls_hold_at_the_save_time():
    """A 1-D heat model with a time-dependent wall value, saves inside steps: both backends agree, and the
    wall node carries the wall value at each save's own time (not an interpolant of it)."""
    grid = Grid(x=(0.0, 1.0, 21))
    model = Model("walled", grid)
    u = model.fields("u")
    (x,) = grid.coords
    model.equations(Eq(Dt(u), u.diff(x, 2)))
    model.initial(u=sympy.sin(sympy.pi * x))
    model.dirichlet(u, x=0.0, value=sympy.sin(40 * symsim.t))
    model.dirichlet(u, x=1.0, value=0)
    runs = [symsim.simulate(model, t_end=0.01, dt=0.0009, saves=7, target=target) for target in ("numpy", "numba")]
    assert runs[0].stats["interpolated_saves"] and runs[0].stats["steps"] == 12
    np.testing.assert_allclose(runs[1]["u"], runs[0]["u"], rtol=0, atol=1e-12)
    np.testing.assert_allclose(runs[0]["u"][:, 0], np.sin(40 * runs[0].t), atol=1e-14)


def test_every_save_has_min_max_mean_and_l2_per_field(tmp_path, capsys):
    """heat_1d's sin(pi x) decays as exp(-pi^2 D t): its L2 norm is sqrt(1/2) exp(-pi^2 D t) at every save."""
    result = symsim.simulate(load_model("heat_1d"), t_end=0.05, saves=4, params={"D": 0.1})
    report = result.stats["diagnostics"]["u"]
    u = result["u"]
    assert report["min"] == u.min(axis=1).tolist() and report["max"] == u.max(axis=1).tolist()
    assert report["mean"] == pytest.approx(u.mean(axis=1).tolist(), rel=1e-14)
    np.testing.assert_allclose(report["l2"], np.sqrt(0.5) * np.exp(-np.pi ** 2 * 0.1 * result.t), rtol=2e-3)
    back = symsim.Result.load(result.save(tmp_path / "r.npz"))      # kept in the result file
    assert back.stats["diagnostics"] == result.stats["diagnostics"]
    from symsim.cli import main
    assert main(["run", "heat_1d", "--t-end", "0.05", "--saves", "4", "--quiet", "--no-plot", "--verbose",
                 "-o", str(tmp_path / "v.npz")]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["t", "u", "min", "u", "max", "u", "mean", "u", "L2"]
    assert len(table) == 1 + 5 + 1 and float(table[1].split()[-1]) == pytest.approx(np.sqrt(0.5), rel=1e-6)


def test_target_auto_takes_numba_where_its_start_up_pays_for_itself(monkeypatch):
    import symsim.solve
    from symsim.solve import choose_target, run_options

    def choice(name, cached, **options):
        model = symsim.load_model(name)
        lowered = symsim.lower_to_stencils(model, 2)
        monkeypatch.setattr(symsim.solve, "kernels_cached", lambda *args, **kw: cached)
        return choose_target(lowered, run_options(model, **options))

    assert choice("lorenz", True, t_end=1000.0)[0] == "numpy"            # steps are Python calls either way
    target, reason = choice("heat_1d", False, t_end=0.1)
    assert target == "numpy" and "would cost more than they save" in reason and "to be compiled" in reason
    # Gray-Scott 256^2 to t=2000: ~5e9 point updates, minutes on NumPy, seconds on Numba even compiled
    target, reason = choice("gray_scott", False)
    assert target == "numba" and "s of NumPy stepping" in reason and "to be compiled" in reason
    # a run of ~1 s: worth it with cached kernels (0.4 s to load), not with a compilation (~4 s)
    assert choice("gray_scott", True, t_end=20.0)[0] == "numba"
    assert choice("gray_scott", False, t_end=20.0)[0] == "numpy"
    # a given step counts as given (the stable step is not estimated)
    assert choice("heat_2d", False, t_end=0.1, dt=1e-6)[0] == "numba"


def test_cli_says_which_target_auto_took_and_why(tmp_path, capsys):
    assert main(["run", "heat_1d", "--t-end", "0.01", "-o", str(tmp_path / "h.npz"), "--no-plot", "--quiet"]) == 0
    assert "with rk4 on numpy (auto: about " in capsys.readouterr().out
    assert main(["run", "heat_1d", "--t-end", "0.01", "-o", str(tmp_path / "h.npz"), "--no-plot", "--quiet",
                 "--target", "numpy"]) == 0
    out = capsys.readouterr().out
    assert "with rk4 on numpy, " in out and "auto" not in out
    result = symsim.simulate("heat_1d", t_end=0.01, target="auto")
    assert result.stats["target"] == "numpy" and "point updates" in result.stats["target_choice"]


def test_spectrum_coefficients_from_the_kernel_cache_equal_direct_differentiation(tmp_path, monkeypatch):
    """The Jacobian row coefficients are printed into a cached module once; a later process imports it.
    Each coefficient equals d(rhs)/d(access) differentiated and evaluated directly, on a random state,
    for a model whose coefficients vary in space (x-dependent diffusion, a Piecewise source) and state."""
    import symsim.stability as stability
    from symsim.vectorize import evaluate_on_grid, grid_axes_coordinates
    from symsim.ir import stencil_accesses

    monkeypatch.setenv("SYMSIM_CACHE_DIR", str(tmp_path))
    grid = Grid(x=(0.0, 1.0, 17), y=(0.0, 2.0, 9), periodic=True)
    model = Model("varying", grid)
    u, v = model.fields("u v")
    D, k = model.params(D=0.3, k=2.0)
    x, y = grid.coords
    model.equations(
        Eq(Dt(u), D * (1 + x) * symsim.laplace(u) - k * u * v**2 + sympy.Piecewise((1, x < 0.5), (0, True))),
        Eq(Dt(v), symsim.laplace(v) + sympy.sin(sympy.pi * y) * u * v),
    )
    model.initial(u=1 + x, v=y)
    compiled = compile_model(model, target="numpy", egraph=False)
    params = compiled.resolve_params({"k": 3.0})
    state = compiled.initial_state(params)
    compiled.interior(state)[...] = np.random.default_rng(0).uniform(0.5, 1.5, compiled.interior(state).shape)

    stability._ROWS.clear()
    first = stability.spectrum_estimate(compiled, state, params, t=0.25)
    assert list((tmp_path / "kernels").glob("symsim_varying_spectrum_*.py"))
    stability._ROWS.clear()                       # as a new process: the module comes from the cache
    stability._partial_derivative.cache_clear()
    assert stability.spectrum_estimate(compiled, state, params, t=0.25) == first
    lowered = compiled.lowered
    rows = stability._row_coefficients(lowered)
    assert stability._partial_derivative.cache_info().currsize == 0     # nothing differentiated again
    fields = compiled.interior(state)
    coordinates = grid_axes_coordinates(lowered.axes)
    scalars = [(sympy.Symbol(p), params[p]) for p in lowered.parameters] + list(lowered.spacing.items())
    scalars.append((lowered.time, 0.25))
    for field, expr in lowered.rhs.items():
        accesses = sorted(stencil_accesses(expr), key=str)
        at_point = [(a, fields[lowered.fields.index(a.field)]) for a in accesses]
        row = rows[field]
        assert [(s, o) for s, o, _ in row.accesses] == [(a.field, a.offsets) for a in accesses]
        for access, function in zip(accesses, row.functions):
            expected = evaluate_on_grid(sympy.diff(expr, access), lowered.coordinate_symbols, coordinates,
                                        scalars + at_point)
            arguments = [value for _, value in scalars] + [array for _, array in at_point]
            got = stability.evaluate_function_on_grid(function, coordinates, arguments)
            np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-12)
