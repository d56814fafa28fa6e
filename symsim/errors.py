"""The symsim exception hierarchy.

Every problem a user can cause is raised as a :class:`SymsimError` subclass whose
message names the offending symbol, equation, file line or option, so that the
CLI can print it as one line and exit non-zero.

    >>> from sympy import Eq, Symbol
    >>> from symsim import Model, Grid, Dt, laplace, lower_to_stencils
    >>> model = Model("heat", Grid(x=(0.0, 1.0, 64), periodic=("x",)))
    >>> u = model.fields("u")
    >>> model.equations(Eq(Dt(u), Symbol("D") * laplace(u)))   # D was never declared
    >>> model.initial(u=0)
    >>> lower_to_stencils(model)
    Traceback (most recent call last):
    ...
    symsim.errors.UnknownSymbolError: ...: unknown symbol 'D'; declare it with model.params(D=...)
    >>> issubclass(UnknownSymbolError, SymsimError)
    True
"""


class SymsimError(Exception):
    """Base class of every error symsim raises on bad input or a failed run."""


class ModelScriptError(SymsimError):
    """A model script cannot be read, fails while running, or defines no ``model``."""


class ModelDefinitionError(SymsimError):
    """The model's declarations are inconsistent (names, grid, equations, conditions)."""


class UnknownSymbolError(ModelDefinitionError):
    """An equation or condition uses a symbol that is neither a field, parameter nor coordinate."""


class MissingEquationError(ModelDefinitionError):
    """A field has no equation or no initial condition."""


class BoundaryConditionError(ModelDefinitionError):
    """A wall lacks a boundary condition, or a condition is placed where none may go."""


class UnsupportedOperatorError(ModelDefinitionError):
    """An expression contains an operator that symsim cannot discretize or render."""


class ParameterError(SymsimError):
    """A run-time parameter override names no parameter of the model or has a bad value."""


class SolverError(SymsimError):
    """The time integration failed (non-finite values, step size underflow)."""


class BackendError(SymsimError):
    """A code-generation target is unknown or unavailable."""


class RunInterrupted(SymsimError):
    """A run stopped by the user (Ctrl-C); ``result`` holds the saves completed before it stopped."""

    def __init__(self, message: str, result):
        super().__init__(message)
        self.result = result


class OptionError(SymsimError):
    """A run or compile option (space order, method, t_end, saves, ...) has an invalid value."""


class ExpressionSyntaxError(SymsimError):
    """An expression string (``symsim simplify "EXPR"``) uses syntax or names outside the safe subset."""


class SymsimWarning(UserWarning):
    """A run goes on, but not as asked or not safely: a shortened step, a step above the stable
    estimate, an ill-posed model. ``symsim run`` prints each as one ``symsim: warning:`` line."""
