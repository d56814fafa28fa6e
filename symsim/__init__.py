"""symsim: write a PDE or ODE model once in SymPy; get fast, verified simulators.

    >>> from symsim import load_model, simulate
    >>> result = simulate(load_model("examples/heat_2d.py"), t_end=0.1)
    >>> result["u"].shape

The pipeline: model script (:class:`Model`) -> :func:`lower_to_stencils`
(semi-discrete IR, :mod:`symsim.ir`) -> a ``codegen`` backend -> time
integration (:func:`simulate`) -> :class:`Result`.
"""

__version__ = "0.1.0"

from .compiler import CompiledModel, compile_model  # noqa: E402
from .ensemble import EnsembleResult, solve_ensemble  # noqa: E402
from .errors import (BackendError, BoundaryConditionError, MissingEquationError,  # noqa: E402
                     ModelDefinitionError, ModelScriptError, OptionError, ParameterError,
                     SolverError, SymsimError, UnknownSymbolError, UnsupportedOperatorError)
from .grid import Grid  # noqa: E402
from .loader import load_model  # noqa: E402
from .lowering import lower_to_stencils  # noqa: E402
from .model import Dt, Model, div, grad, laplace, t  # noqa: E402
from .result import Result  # noqa: E402
from .solve import simulate  # noqa: E402

#: ``symsim.compile(model, target="numpy")``, named after the CLI command
compile = compile_model

__all__ = [
    "Model", "Grid", "Dt", "laplace", "grad", "div", "t",
    "load_model", "simulate", "compile", "compile_model", "lower_to_stencils", "CompiledModel", "Result",
    "solve_ensemble", "EnsembleResult",
    "SymsimError", "ModelScriptError", "ModelDefinitionError", "UnknownSymbolError", "MissingEquationError",
    "BoundaryConditionError", "UnsupportedOperatorError", "ParameterError", "SolverError", "BackendError",
    "OptionError",
]
