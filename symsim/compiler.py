"""Compile a model for a target: lower, plan, render, load.

    >>> compiled = compile_model(model, target="numpy", space_order=4)
    >>> state = compiled.initial_state(params)       # padded, boundaries applied
    >>> compiled.rhs(0.0, state, out, params)
"""

from __future__ import annotations

import linecache
import types
from dataclasses import dataclass

import numpy as np
import sympy

from codegen import KernelPlan, plan_kernel, renderer_for

from .errors import ModelDefinitionError, ParameterError
from .ir import LoweredModel
from .lowering import lower_to_stencils
from .model import Model
from .simplify import cse_kernel, egraph_kernel


@dataclass
class CompiledModel:
    """A lowered model plus the loaded module a backend rendered from it."""

    lowered: LoweredModel
    target: str
    source: str
    module: types.ModuleType
    plan: KernelPlan
    egraph_report: dict | None = None   # what the e-graph pass did (None with egraph=False)

    @property
    def rhs(self):
        return self.module.rhs

    @property
    def apply_boundaries(self):
        return self.module.apply_boundaries

    def new_state(self) -> np.ndarray:
        return np.zeros((len(self.lowered.fields),) + self.lowered.padded_shape)

    def interior(self, state: np.ndarray) -> np.ndarray:
        """View of the grid points of ``state`` (halo layers dropped)."""
        index = tuple(slice(h, h + a.points) for a, h in zip(self.lowered.axes, self.lowered.halo))
        return state[(slice(None),) + index]

    def resolve_params(self, overrides: dict | None = None) -> dict:
        """Default parameter values with ``overrides`` applied; unknown names are an error."""
        values = dict(self.lowered.parameters)
        for name, value in (overrides or {}).items():
            if name not in values:
                known = ", ".join(values) or "none"
                raise ParameterError(f"model {self.lowered.name!r} has no parameter {name!r} (parameters: {known})")
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ParameterError(f"parameter {name!r} needs a number, got {value!r}") from None
            if not np.isfinite(value):
                raise ParameterError(f"parameter {name!r} must be finite, got {value}")
            values[name] = value
        return values

    def initial_state(self, params: dict, t: float = 0.0) -> np.ndarray:
        """State at time ``t`` from the model's initial values, with boundaries applied."""
        lowered = self.lowered
        state = self.new_state()
        coordinates = grid_coordinates(lowered)
        for field, value in lowered.initial.items():
            if isinstance(value, np.ndarray):
                values = value
            else:
                numeric = value.subs({sympy.Symbol(p): v for p, v in params.items()})
                function = sympy.lambdify(lowered.coordinate_symbols, numeric, modules="numpy")
                with np.errstate(all="ignore"):
                    values = np.asarray(function(*coordinates), dtype=float)
            values = np.broadcast_to(values, lowered.shape)
            if not np.isfinite(values).all():
                raise ModelDefinitionError(f"initial value of {field!r} is not finite everywhere on the grid")
            self.interior(state)[lowered.fields.index(field)] = values
        self.apply_boundaries(t, state, params)
        return state


def compile_model(model: Model | LoweredModel, target: str = "numpy", space_order: int = 2,
                  egraph: bool = True) -> CompiledModel:
    """Lower ``model`` (unless already lowered), optimize, render for ``target`` and load the result.

    ``egraph=False`` renders the lowered IR after SymPy's cse alone (``--no-egraph``).
    """
    lowered = model if isinstance(model, LoweredModel) else lower_to_stencils(model, space_order)
    kernel, report = egraph_kernel(lowered) if egraph else (cse_kernel(lowered), None)
    plan = plan_kernel(lowered, kernel)
    source = renderer_for(target)(plan)
    module = load_generated_module(source, f"symsim_generated_{lowered.name}_{target}")
    return CompiledModel(lowered, target, source, module, plan, report)


def load_generated_module(source: str, name: str) -> types.ModuleType:
    """Execute generated source (ours, never user text) as a module, with tracebacks that show its lines."""
    filename = f"<{name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    exec(compile(source, filename, "exec"), module.__dict__)
    return module


def grid_coordinates(lowered: LoweredModel) -> list[np.ndarray]:
    """Coordinate arrays of every grid point (dense, so any expression of them broadcasts)."""
    return list(np.meshgrid(*[a.coordinates for a in lowered.axes], indexing="ij"))
