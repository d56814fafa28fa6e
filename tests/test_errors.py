"""Bad input at the Python API: each case raises its specific symsim exception type, and the
message names the offending symbol, field, equation, option or file:line.

Models are built inline; script-level cases write scripts into ``tmp_path`` and go
through :func:`symsim.load_model`.
"""

import textwrap

import numpy as np
import pytest
import sympy
from sympy import Eq, Integral, sin

import symsim
from symsim import (BoundaryConditionError, Dt, Grid, MissingEquationError, Model, ModelDefinitionError,
                    ModelScriptError, OptionError, ParameterError, SolverError, SymsimError,
                    UnknownSymbolError, UnsupportedOperatorError, compile_model, laplace, load_model,
                    lower_to_stencils, simulate)

from scripts import DECAY, WAVE_WITHOUT_VELOCITY

THIS_FILE = "test_errors.py"


def raises(error_type, *fragments):
    """Context manager: the block raises ``error_type`` (a SymsimError) naming every fragment."""
    return _Raises(error_type, fragments)


class _Raises:
    def __init__(self, error_type, fragments):
        self.error_type, self.fragments = error_type, fragments
        self.value = None

    def __enter__(self):
        self._context = pytest.raises(self.error_type)
        self._info = self._context.__enter__()
        return self

    def __exit__(self, *exc):
        suppressed = self._context.__exit__(*exc)
        error = self._info.value
        self.value = error
        assert isinstance(error, SymsimError), type(error).__mro__
        message = str(error)
        assert "\n" not in message, message
        for fragment in self.fragments:
            assert fragment in message, f"{fragment!r} not in {message!r}"
        return suppressed


def line_of(marker, text):
    """1-based line number of the line of ``text`` containing ``marker``."""
    for number, line in enumerate(text.splitlines(), start=1):
        if marker in line:
            return number
    raise AssertionError(f"{marker!r} not in the script")


def write_script(tmp_path, body, name="model_script.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
    return path


def periodic_model(name="m"):
    grid = Grid(x=(0.0, 1.0, 16), periodic=True)
    model = Model(name, grid)
    return model, grid.coords[0]


def wall_model(name="m"):
    grid = Grid(x=(0.0, 1.0, 17))
    model = Model(name, grid)
    return model, grid.coords[0]


def decay_ode(**defaults):
    model = Model("decay")
    u = model.fields("u")
    k = model.params(k=1.0)
    model.equations(Eq(Dt(u), -k * u))
    model.initial(u=1.0)
    if defaults:
        model.defaults(**defaults)
    return model


# -- the hierarchy itself ----------------------------------------------------------

def test_every_symsim_error_type_is_a_symsim_error_and_exported():
    for name in ("ModelScriptError", "ModelDefinitionError", "UnknownSymbolError", "MissingEquationError",
                 "BoundaryConditionError", "UnsupportedOperatorError", "ParameterError", "SolverError",
                 "BackendError", "OptionError"):
        error_type = getattr(symsim, name)
        assert issubclass(error_type, SymsimError) and issubclass(error_type, Exception)
        assert name in symsim.__all__
    for sub in (UnknownSymbolError, MissingEquationError, BoundaryConditionError, UnsupportedOperatorError):
        assert issubclass(sub, ModelDefinitionError)


# -- unknown symbols ---------------------------------------------------------------

def test_unknown_symbol_in_an_equation_is_named_with_the_equation_and_its_line():
    model, x = periodic_model()
    u = model.fields("u")
    D = sympy.Symbol("D")                       # never declared with model.params
    model.equations(Eq(Dt(u), D * laplace(u)))  # origin: this line
    model.initial(u=sin(2 * sympy.pi * x))
    with raises(UnknownSymbolError, "'D'", "Dt(u)", f"{THIS_FILE}:", "model.params(D=") as caught:
        lower_to_stencils(model)
    assert isinstance(caught.value, ModelDefinitionError)


def test_symbol_with_a_declared_name_but_other_assumptions_is_refused_with_a_hint():
    model, x = periodic_model()
    u = model.fields("u")
    model.params(D=0.1)
    impostor = sympy.Symbol("D", positive=True)  # not the Symbol model.params returned
    model.equations(Eq(Dt(u), impostor * laplace(u)))
    model.initial(u=0)
    with raises(UnknownSymbolError, "'D'", "use the symbol the model returned"):
        lower_to_stencils(model)


def test_unknown_function_in_an_equation_is_named():
    model, x = periodic_model()
    u = model.fields("u")
    w = sympy.Function("w")(symsim.t, x)
    model.equations(Eq(Dt(u), w - u))
    model.initial(u=0)
    with raises(UnknownSymbolError, "w(t, x)", "fields are ['u']"):
        lower_to_stencils(model)


def test_unknown_symbol_in_an_initial_value_is_named():
    model, x = periodic_model()
    u = model.fields("u")
    model.equations(Eq(Dt(u), laplace(u)))
    model.initial(u=sympy.Symbol("A") * sin(2 * sympy.pi * x))
    with raises(UnknownSymbolError, "'A'", "initial value of 'u'", f"{THIS_FILE}:"):
        lower_to_stencils(model)


def test_unknown_symbol_in_a_boundary_value_is_named():
    model, x = wall_model()
    u = model.fields("u")
    model.equations(Eq(Dt(u), u.diff(x, 2)))
    model.initial(u=0)
    model.dirichlet(u, x=0.0, value=sympy.Symbol("g0"))
    model.dirichlet(u, x=1.0)
    with raises(UnknownSymbolError, "'g0'", "dirichlet condition of 'u' at x=0.0", f"{THIS_FILE}:"):
        lower_to_stencils(model)


def test_equation_for_a_field_of_another_model_is_refused():
    other = Model("other")
    v = other.fields("v")
    model = Model("m")
    model.fields("u")
    with raises(UnknownSymbolError, "'v'", "not a field of this model"):
        model.equations(Eq(Dt(v), -v))


# -- missing equations and initial conditions ---------------------------------------

def test_field_without_an_equation_is_named():
    model, x = periodic_model()
    u, v = model.fields("u v")
    model.equations(Eq(Dt(u), laplace(u) - v))
    model.initial(u=0, v=0)
    with raises(MissingEquationError, "'v'", "no equation", "Dt(v)") as caught:
        lower_to_stencils(model)
    assert isinstance(caught.value, ModelDefinitionError)


def test_model_without_fields_is_refused():
    with raises(MissingEquationError, "'empty'", "no fields"):
        lower_to_stencils(Model("empty"))


def test_field_without_an_initial_condition_is_named():
    model, x = periodic_model()
    u, v = model.fields("u v")
    model.equations(Eq(Dt(u), laplace(u)), Eq(Dt(v), -v))
    model.initial(u=0)
    with raises(MissingEquationError, "'v'", "no initial condition", "model.initial(v="):
        lower_to_stencils(model)


def test_second_order_field_without_initial_velocity_is_an_error_not_a_silent_zero():
    model, x = periodic_model()
    u = model.fields("u")
    model.equations(Eq(Dt(u, 2), u.diff(x, 2)))
    model.initial(u=sin(2 * sympy.pi * x))
    with raises(MissingEquationError, "'u'", "second order in time", "initial velocity", "Dt(u)"):
        lower_to_stencils(model)
    with raises(MissingEquationError, "initial velocity"):
        simulate(model, t_end=0.01)
    # with the velocity given, the same model lowers (and the velocity is not zero)
    model.initial({Dt(u): 2.0})
    lowered = lower_to_stencils(model)
    assert set(lowered.fields) == {"u", "u_t"}
    assert float(lowered.initial["u_t"]) == 2.0


def test_initial_velocity_of_a_first_order_field_is_refused():
    model, x = periodic_model()
    u = model.fields("u")
    model.equations(Eq(Dt(u), laplace(u)))
    model.initial({u: 0, Dt(u): 1})
    with raises(ModelDefinitionError, "'u'", "first order in time", "Dt(u)"):
        lower_to_stencils(model)


def test_initial_condition_for_an_unknown_field_is_named():
    model, x = periodic_model()
    model.fields("u")
    with raises(ModelDefinitionError, "'v'", "unknown field", f"{THIS_FILE}:"):
        model.initial(v=1.0)


# -- walls and boundary conditions ---------------------------------------------------

def test_wall_without_a_boundary_condition_is_named():
    model, x = wall_model()
    u = model.fields("u")
    model.equations(Eq(Dt(u), u.diff(x, 2)))
    model.initial(u=0)
    model.dirichlet(u, x=0.0)                   # x=1.0 is left open
    with raises(BoundaryConditionError, "'u'", "x=1.0", "boundary condition") as caught:
        lower_to_stencils(model)
    assert isinstance(caught.value, ModelDefinitionError)


def test_every_wall_of_a_2d_grid_needs_a_condition():
    grid = Grid(x=(0.0, 1.0, 9), y=(0.0, 2.0, 9))
    model = Model("box", grid)
    u = model.fields("u")
    model.equations(Eq(Dt(u), laplace(u)))
    model.initial(u=0)
    for wall in (0.0, 1.0):
        model.dirichlet(u, x=wall)
    model.neumann(u, y=0.0)
    with raises(BoundaryConditionError, "'u'", "y=2.0"):
        lower_to_stencils(model)


def test_boundary_condition_on_a_periodic_axis_is_refused_at_its_line():
    model, x = periodic_model()
    u = model.fields("u")
    with raises(BoundaryConditionError, "'x'", "periodic", "dirichlet(u, x=0.0)", f"{THIS_FILE}:"):
        model.dirichlet(u, x=0.0)
    with raises(BoundaryConditionError, "'x'", "periodic", "neumann(u"):
        model.neumann(u, x=1.0)


def test_boundary_position_that_is_not_a_wall_is_refused():
    model, x = wall_model()
    u = model.fields("u")
    with raises(BoundaryConditionError, "x=0.5", "not a wall", "0.0", "1.0", f"{THIS_FILE}:"):
        model.dirichlet(u, x=0.5)


def test_boundary_condition_on_an_unknown_axis_or_without_a_grid_is_refused():
    model, x = wall_model()
    u = model.fields("u")
    with raises(BoundaryConditionError, "'y'", "no axis"):
        model.dirichlet(u, y=0.0)
    with raises(BoundaryConditionError, "exactly one wall position"):
        model.dirichlet(u)
    ode = Model("ode")
    w = ode.fields("w")
    with raises(BoundaryConditionError, "dirichlet(w)", "without a grid"):
        ode.dirichlet(w, x=0.0)


def test_second_condition_on_the_same_wall_is_refused():
    model, x = wall_model()
    u = model.fields("u")
    model.dirichlet(u, x=0.0)
    with raises(BoundaryConditionError, "'u'", "already has a condition", "x=0.0"):
        model.neumann(u, x=0.0)


def test_boundary_value_depending_on_a_field_is_refused():
    model, x = wall_model()
    u, v = model.fields("u v")
    model.equations(Eq(Dt(u), u.diff(x, 2)), Eq(Dt(v), -v))
    model.initial(u=0, v=0)
    model.dirichlet(u, x=0.0, value=v)
    model.dirichlet(u, x=1.0)
    with raises(UnsupportedOperatorError, "dirichlet condition of 'u' at x=0.0", "may not depend on fields"):
        lower_to_stencils(model)


def test_initial_value_depending_on_a_field_is_refused():
    model, x = periodic_model()
    u, v = model.fields("u v")
    model.equations(Eq(Dt(u), laplace(u)), Eq(Dt(v), -v))
    model.initial(u=v, v=1.0)
    with raises(UnsupportedOperatorError, "initial value of 'u'", "may not depend on fields"):
        lower_to_stencils(model)


# -- unsupported operators -----------------------------------------------------------

def test_integral_is_an_unsupported_operator():
    model, x = periodic_model()
    u = model.fields("u")
    model.equations(Eq(Dt(u), Integral(u, x)))
    model.initial(u=0)
    with raises(UnsupportedOperatorError, "Integral", "Dt(u)", f"{THIS_FILE}:") as caught:
        lower_to_stencils(model)
    assert isinstance(caught.value, ModelDefinitionError)


def test_derivative_with_respect_to_a_parameter_is_unsupported():
    model, x = periodic_model()
    u = model.fields("u")
    a = model.params(a=1.0)
    model.equations(Eq(Dt(u), sympy.Derivative(u, a)))
    model.initial(u=0)
    with raises(UnsupportedOperatorError, "respect to a", "not a grid coordinate", f"{THIS_FILE}:"):
        lower_to_stencils(model)


def test_derivative_with_respect_to_a_foreign_symbol_is_unsupported_in_an_ode_model():
    model = Model("ode")
    u = model.fields("u")
    s = sympy.Symbol("s")
    model.equations(Eq(Dt(u), sympy.Derivative(u, s)))
    model.initial(u=1.0)
    with raises(UnsupportedOperatorError, "respect to s", "not a grid coordinate"):
        lower_to_stencils(model)


def test_unsupported_function_is_named():
    model, x = periodic_model()
    u = model.fields("u")
    model.equations(Eq(Dt(u), sympy.gamma(u)))
    model.initial(u=1)
    with raises(UnsupportedOperatorError, "gamma"):
        lower_to_stencils(model)


def test_time_derivative_on_the_right_hand_side_of_a_first_order_equation_is_refused():
    model, x = periodic_model()
    u, v = model.fields("u v")
    model.equations(Eq(Dt(u), v.diff(symsim.t)), Eq(Dt(v), -v))
    model.initial(u=0, v=1)
    with raises(UnsupportedOperatorError, "time derivative", "Dt(u)"):
        lower_to_stencils(model)


def test_third_time_derivative_is_unsupported():
    model = Model("m")
    u = model.fields("u")
    with raises(UnsupportedOperatorError, "Dt(u(t), 3)"):
        Dt(u, 3)


def test_dt_of_something_that_is_not_a_field_is_refused():
    with raises(ModelDefinitionError, "Dt()", "model field"):
        Dt(sympy.Symbol("q"))


def test_equation_that_sympy_evaluated_to_a_boolean_is_explained():
    model = Model("m")
    u = model.fields("u")
    with raises(ModelDefinitionError, "evaluated to True", f"{THIS_FILE}:"):
        model.equations(Eq(Dt(u), u.diff(symsim.t)))   # both sides are the same Derivative


def test_left_side_that_is_not_a_time_derivative_is_refused():
    model = Model("m")
    u = model.fields("u")
    with raises(ModelDefinitionError, "left side", "Dt(field)"):
        model.equations(Eq(u, 1))
    with raises(ModelDefinitionError, "Eq(Dt(u), rhs)"):
        model.equations(Dt(u))


# -- duplicates and name clashes -------------------------------------------------------

def test_duplicate_equation_for_a_field_is_refused_at_its_line():
    model = Model("m")
    u = model.fields("u")
    model.equations(Eq(Dt(u), -u))
    with raises(ModelDefinitionError, "'u'", "already has an equation", f"{THIS_FILE}:"):
        model.equations(Eq(Dt(u), u))
    with raises(ModelDefinitionError, "'v'", "already has an equation"):
        other = Model("n")
        v = other.fields("v")
        other.equations(Eq(Dt(v), -v), Eq(Dt(v, 2), v))


@pytest.mark.parametrize("declare, fragments", [
    (lambda m: m.fields("x"), ("field name 'x'", "axis")),
    (lambda m: m.params(x=1.0), ("parameter name 'x'", "axis")),
    (lambda m: (m.fields("u"), m.fields("u")), ("field name 'u'", "already used as a field")),
    (lambda m: (m.fields("u"), m.params(u=1.0)), ("parameter name 'u'", "already used as a field")),
    (lambda m: (m.params(k=1.0), m.fields("k")), ("field name 'k'", "already used as a parameter")),
    (lambda m: m.fields("t"), ("field name 't'", "reserved")),
    (lambda m: m.params(t=1.0), ("parameter name 't'", "reserved")),
    (lambda m: m.fields("Dt"), ("'Dt'", "reserved")),
    (lambda m: m.fields("h_x"), ("'h_x'", "reserved")),
    (lambda m: m.fields("_u"), ("'_u'", "reserved")),
    (lambda m: m.fields("lambda"), ("'lambda'", "not a valid identifier")),
    (lambda m: m.params(D="fast"), ("'D'", "numeric default")),
], ids=["field-as-axis", "param-as-axis", "field-twice", "param-as-field", "field-as-param", "field-t",
        "param-t", "field-Dt", "field-h_x", "field-underscore", "keyword", "non-numeric-default"])
def test_name_clashes_are_refused_naming_the_name(declare, fragments):
    model, x = wall_model()
    with raises(ModelDefinitionError, *fragments):
        declare(model)


@pytest.mark.parametrize("axes, fragments", [
    ({"t": (0.0, 1.0, 5)}, ("axis name 't'", "reserved")),
    ({"x": (1.0, 0.0, 5)}, ("'x'", "start < stop")),
    ({"x": (0.0, 1.0, 1)}, ("'x'", "points")),
    ({"x": (0.0, 1.0)}, ("'x'", "(start, stop, points)")),
])
def test_bad_grid_axes_are_named(axes, fragments):
    with raises(ModelDefinitionError, *fragments):
        Grid(**axes)


def test_velocity_name_clash_of_a_second_order_field_is_named():
    model, x = periodic_model()
    u, u_t = model.fields("u u_t")
    model.equations(Eq(Dt(u, 2), u.diff(x, 2)), Eq(Dt(u_t), -u_t))
    model.initial({u: 0, Dt(u): 0, u_t: 0})
    with raises(ModelDefinitionError, "'u'", "'u_t'"):
        lower_to_stencils(model)


# -- run options and parameters --------------------------------------------------------

def test_wrong_parameter_name_is_named_with_the_available_ones():
    with raises(ParameterError, "'NOPE'", "'decay'", "parameters: k"):
        simulate(decay_ode(), t_end=0.1, params={"NOPE": 1.0})


@pytest.mark.parametrize("value, fragment", [("abc", "needs a number"), (float("nan"), "finite"),
                                             (float("inf"), "finite")])
def test_bad_parameter_value_is_named(value, fragment):
    with raises(ParameterError, "'k'", fragment):
        simulate(decay_ode(), t_end=0.1, params={"k": value})


@pytest.mark.parametrize("space_order", [0, 1, 3, 5, 10])
def test_bad_space_order_is_an_option_error(space_order):
    model, x = periodic_model()
    u = model.fields("u")
    model.equations(Eq(Dt(u), laplace(u)))
    model.initial(u=0)
    with raises(OptionError, "space order", str(space_order)):
        lower_to_stencils(model, space_order=space_order)
    with raises(OptionError, "space order", str(space_order)):
        compile_model(model, space_order=space_order)
    with raises(OptionError, "space order", str(space_order)):
        simulate(model, t_end=0.1, space_order=space_order)


def test_bad_space_order_in_script_defaults_is_an_option_error():
    with raises(OptionError, "space order", "3"):
        simulate(decay_ode(space_order=3), t_end=0.1)


def test_missing_t_end_is_an_option_error_that_says_how_to_give_one():
    with raises(OptionError, "'decay'", "t_end", "--t-end", "model.defaults(t_end="):
        simulate(decay_ode())


@pytest.mark.parametrize("options, fragment", [
    ({"t_end": -1.0}, "t_end"), ({"t_end": 0.0}, "t_end"), ({"t_end": float("inf")}, "t_end"),
    ({"t_end": 1.0, "saves": 0}, "saves"), ({"t_end": 1.0, "dt": 0.0}, "dt"),
    ({"t_end": 1.0, "dt": -0.1}, "dt"), ({"t_end": 1.0, "method": "leapfrog"}, "'leapfrog'"),
    ({"t_end": "soon"}, "soon"),
])
def test_bad_run_options_are_option_errors(options, fragment):
    with raises(OptionError, fragment):
        simulate(decay_ode(), **options)


def test_unknown_run_default_in_a_script_is_named():
    model = decay_ode()
    with raises(ModelDefinitionError, "'bogus'", "unknown run default"):
        model.defaults(bogus=1)


def test_unknown_target_is_a_backend_error():
    with raises(symsim.BackendError, "'opencl'", "numpy", "numba", "cuda"):
        compile_model(decay_ode(), target="opencl")


def test_bad_param_syntax_of_the_command_line_is_an_option_error():
    from symsim.cli import _parse_params

    assert _parse_params(["k=2", " D = 0.5"]) == {"k": 2.0, "D": 0.5}
    with raises(OptionError, "NAME=VALUE", "'k'"):
        _parse_params(["k"])
    with raises(OptionError, "NAME=VALUE", "'=1'"):
        _parse_params(["=1"])
    with raises(OptionError, "--param k", "'abc'", "not a number"):
        _parse_params(["k=abc"])


def test_unstable_run_is_a_solver_error_naming_the_field():
    grid = Grid(x=(0.0, 1.0, 21))
    model = Model("heat1", grid)
    u = model.fields("u")
    (x,) = grid.coords
    model.equations(Eq(Dt(u), u.diff(x, 2)))
    model.initial(u=sin(sympy.pi * x))
    model.dirichlet(u, x=0.0)
    model.dirichlet(u, x=1.0)
    with pytest.warns(symsim.SymsimWarning, match="stable step"), raises(SolverError, "'u'", "grew to", "dt"):
        simulate(model, t_end=1.0, dt=0.01, saves=2)


# -- model scripts ---------------------------------------------------------------------

GOOD_SCRIPT = DECAY



def test_a_good_script_loads(tmp_path):
    model = load_model(write_script(tmp_path, GOOD_SCRIPT))
    assert isinstance(model, Model) and model.name == "decay"
    assert load_model(str(tmp_path / "model_script.py")).name == "decay"


def test_script_that_defines_no_model_is_named(tmp_path):
    path = write_script(tmp_path, "from symsim import Model\nm = Model('oops')\n")
    with raises(ModelScriptError, str(path), "`model`"):
        load_model(path)


def test_script_whose_model_is_not_a_model_is_named(tmp_path):
    path = write_script(tmp_path, "model = 42\n")
    with raises(ModelScriptError, str(path), "int", "symsim.Model"):
        load_model(path)


def test_syntax_error_names_file_and_line(tmp_path):
    body = """
    from symsim import Model
    model = Model("broken"
    u = 1
    """
    path = write_script(tmp_path, body)
    # Python reports the unclosed parenthesis on the line that opens it
    with raises(ModelScriptError, f"{path}:2:", "syntax error"):
        load_model(path)


def test_syntax_error_on_a_later_line_names_that_line(tmp_path):
    body = GOOD_SCRIPT + "model.defaults(t_end=1.0 saves=3)\n"
    path = write_script(tmp_path, body)
    line = line_of("saves=3", textwrap.dedent(body).lstrip("\n"))
    with raises(ModelScriptError, f"{path}:{line}:", "syntax error"):
        load_model(path)


def test_exception_in_user_code_names_the_script_line_where_it_happened(tmp_path):
    body = """
    from symsim import Model
    model = Model("boom")

    def helper():
        return {}["missing"]  # fails here

    helper()
    """
    path = write_script(tmp_path, body)
    line = line_of("fails here", textwrap.dedent(body).lstrip("\n"))
    with raises(ModelScriptError, f"{path}:{line}:", "KeyError", "missing"):
        load_model(path)


def test_exception_raised_inside_a_library_called_from_the_script_names_the_script_line(tmp_path):
    body = """
    import numpy as np
    from symsim import Model
    model = Model("lib")
    values = np.reshape(np.arange(5), (2, 2))   # numpy raises inside numpy
    """
    path = write_script(tmp_path, body)
    line = line_of("np.reshape", textwrap.dedent(body).lstrip("\n"))
    with raises(ModelScriptError, f"{path}:{line}:", "ValueError"):
        load_model(path)


def test_symsim_error_inside_a_script_keeps_its_type_and_gets_the_script_line(tmp_path):
    body = """
    from symsim import Model, Grid
    model = Model("clash", Grid(x=(0.0, 1.0, 5)))
    u = model.fields("x")          # clashes with the axis
    """
    path = write_script(tmp_path, body, name="clash_script.py")
    line = line_of("clashes", textwrap.dedent(body).lstrip("\n"))
    with raises(ModelDefinitionError, f"clash_script.py:{line}", "field name 'x'", "axis"):
        load_model(path)


def test_periodic_boundary_condition_in_a_script_names_the_script_line_once(tmp_path):
    body = """
    from symsim import Model, Grid
    model = Model("ring", Grid(x=(0.0, 1.0, 8), periodic=True))
    u = model.fields("u")
    model.dirichlet(u, x=0.0)      # no walls on a periodic axis
    """
    path = write_script(tmp_path, body, name="ring_script.py")
    line = line_of("no walls", textwrap.dedent(body).lstrip("\n"))
    with raises(BoundaryConditionError, f"ring_script.py:{line}:", "periodic") as caught:
        load_model(path)
    assert str(caught.value).count("ring_script.py") == 1, str(caught.value)


def test_script_errors_found_at_lowering_name_the_equation_line(tmp_path):
    body = """
    from sympy import Eq, Symbol
    from symsim import Model, Dt
    model = Model("ode")
    u = model.fields("u")
    model.equations(Eq(Dt(u), -Symbol("rate") * u))   # rate was never declared
    model.initial(u=1.0)
    """
    path = write_script(tmp_path, body, name="ode_script.py")
    line = line_of("never declared", textwrap.dedent(body).lstrip("\n"))
    model = load_model(path)
    with raises(UnknownSymbolError, f"ode_script.py:{line}", "'rate'"):
        simulate(model, t_end=0.1)


def test_missing_initial_velocity_in_a_script(tmp_path):
    body = WAVE_WITHOUT_VELOCITY
    model = load_model(write_script(tmp_path, body))
    with raises(MissingEquationError, "'u'", "initial velocity"):
        simulate(model)


def test_nonexistent_script_path_is_named(tmp_path):
    missing = tmp_path / "no_such_model.py"
    with raises(ModelScriptError, str(missing), "no such model script"):
        load_model(missing)
    with raises(ModelScriptError, "definitely_not_an_example", "no such model script"):
        load_model("definitely_not_an_example")
    with raises(ModelScriptError, "no such model script"):
        simulate(str(missing), t_end=1.0)


def test_a_directory_is_not_a_script(tmp_path):
    with raises(ModelScriptError, str(tmp_path)):
        load_model(tmp_path)


def test_undecodable_script_is_named(tmp_path):
    path = tmp_path / "latin1.py"
    path.write_bytes(b"# caf\xe9\nmodel = None\n")
    with raises(ModelScriptError, str(path)):
        load_model(path)


def test_initial_value_that_is_not_finite_on_the_grid_names_the_field():
    model, x = periodic_model()
    u = model.fields("u")
    model.equations(Eq(Dt(u), laplace(u)))
    model.initial(u=1 / x)                       # x = 0 is a grid point
    with raises(ModelDefinitionError, "'u'", "not finite"):
        simulate(model, t_end=0.01)


def test_initial_array_of_the_wrong_shape_is_an_error():
    model, x = periodic_model()
    u = model.fields("u")
    model.equations(Eq(Dt(u), laplace(u)))
    model.initial(u=np.zeros(7))
    with pytest.raises(SymsimError, match="'u'"):
        simulate(model, t_end=0.01)
