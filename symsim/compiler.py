"""Compile a model for a target: lower, plan, render, load.

    >>> from symsim import load_model
    >>> compiled = compile_model(load_model("heat_1d"), target="numpy", space_order=4)
    >>> params = compiled.resolve_params({"D": 0.2})
    >>> state = compiled.initial_state(params)       # padded (halo 2), boundaries applied
    >>> state.shape
    (1, 105)
    >>> out = np.zeros_like(state)
    >>> compiled.rhs(0.0, state, out, params)         # d(state)/dt at every grid point
"""

from __future__ import annotations

import gc
import linecache
import types
from dataclasses import dataclass

import numpy as np
import sympy

from .codegen import SIMULATION_TARGETS, renderer_for
from .codegen.kernel_plan import KernelPlan, plan_kernel

from . import kernel_cache
from .errors import ModelDefinitionError, ParameterError
from .ir import LoweredModel
from .jacobian import coefficient_model, jacobian_entries
from .lowering import lower_to_stencils
from .model import Model
from .simplify import cse_kernel, egraph_kernel, kernel_cost
from .vectorize import evaluate_on_grid, grid_axes_coordinates


@dataclass
class CompiledModel:
    """A lowered model plus the loaded module a backend rendered from it."""

    lowered: LoweredModel
    target: str
    source: str
    module: types.ModuleType | None     # None when only rendered (compile_model(load=False))
    egraph_report: dict | None = None   # what the e-graph pass did (None with egraph=False)
    egraph: bool = True
    from_cache: bool = False            # the module came from the kernel cache (no pass, no rendering)
    _plan: KernelPlan | None = None
    _rendered_cost: dict | None = None  # operations per point of the rendered kernel (kept with a cached module)
    jacobian: bool = False              # the module has jacobian_coefficients (compile_model(jacobian=True))

    @property
    def plan(self) -> KernelPlan:
        """What the source was rendered from (recomputed on demand for a module from the cache)."""
        if self._plan is None:
            self._plan = optimized_plan(self.lowered, self.egraph, self.jacobian)[0]
        return self._plan

    def rendered_cost(self) -> dict:
        """Operations per grid point of the kernel in ``source`` (from the cache entry when it came from there,
        so a report never re-runs the pass, whose time limit could make it find another kernel)."""
        if self._rendered_cost is None:
            plan = self.plan
            self._rendered_cost = kernel_cost(plan.kernel, self.lowered)
        return self._rendered_cost

    def stepper_function(self, method: str):
        """The backend's fused ``<method>_step`` function, or None when it has none."""
        return getattr(self.module, f"{method}_step", None)

    @property
    def rhs(self):
        return self.module.rhs

    @property
    def apply_boundaries(self):
        return self.module.apply_boundaries

    def new_state(self) -> np.ndarray:
        """A zeroed state: the padded grid, in the backend's own allocation where it has one (the Numba
        backend pads it further so that a kernel's streams do not share cache sets)."""
        allocate = getattr(self.module, "new_state", None)
        return allocate() if allocate is not None else np.zeros((len(self.lowered.fields),) + self.lowered.padded_shape)

    def padded(self, state: np.ndarray) -> np.ndarray:
        """View of the padded grid of ``state`` (grid points and halo layers; an allocation may be larger)."""
        return state[(slice(None),) + tuple(slice(0, n) for n in self.lowered.padded_shape)]

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
        grid_values = np.zeros((len(lowered.fields),) + lowered.shape)
        coordinates = grid_axes_coordinates(lowered.axes)
        parameters = [(sympy.Symbol(p), v) for p, v in params.items()]
        for field, value in lowered.initial.items():
            if isinstance(value, np.ndarray):
                values = np.broadcast_to(value, lowered.shape)
            else:
                values = evaluate_on_grid(value, lowered.coordinate_symbols, coordinates, parameters)
            if not np.isfinite(values).all():
                raise ModelDefinitionError(f"initial value of {field!r} is not finite everywhere on the grid")
            grid_values[lowered.fields.index(field)] = values
        return self.state_of(grid_values, params, t)

    def state_of(self, values: np.ndarray, params: dict, t: float = 0.0) -> np.ndarray:
        """The padded state whose grid points hold ``values`` (fields, *grid), boundaries applied at ``t``:
        a run restarted from saved or observed values."""
        state = self.new_state()
        self.interior(state)[...] = values
        self.apply_boundaries(t, state, params)
        return state


#: backends whose modules are compiled to machine code: loaded through the on-disk kernel cache
CACHED_TARGETS = ("numba", "cuda")


def compile_model(model: Model | LoweredModel, target: str = "numpy", space_order: int = 2,
                  egraph: bool = True, cache: bool = True, load: bool = True, jacobian: bool = False,
                  kernel: tuple | None = None) -> CompiledModel:
    """Lower ``model`` (unless already lowered), optimize, render for ``target`` and load the result.

    ``egraph=False`` renders the lowered IR after SymPy's cse alone (``--no-egraph``).
    For compiled backends ``cache=True`` reuses the module (and Numba's machine code)
    of an earlier compilation of the same IR, see :mod:`symsim.kernel_cache`.
    ``load=False`` only renders the source (``module`` is None): what ``symsim compile``
    writes, which needs neither a GPU for ``cuda`` nor Numba's compiler. ``jacobian=True`` adds
    ``jacobian_coefficients`` (the Jacobian's stencil coefficients, for implicit methods) to the
    NumPy and Numba modules. ``kernel``: (optimized kernel, the pass's report) of an earlier pass over
    the same equations, rendered instead of running the pass again (the blocks of a decomposed grid
    all render the kernel one pass found: the pass has a time limit, so two passes may differ).
    """
    lowered = model if isinstance(model, LoweredModel) else lower_to_stencils(model, space_order)
    if target not in SIMULATION_TARGETS:
        renderer_for(target)   # raises, naming the target and the ones that exist
    if load and target == "cuda":
        _check_cuda_device()
    if load and target in CACHED_TARGETS and cache:
        built = {}

        def build():
            plan, built["report"] = optimized_plan(lowered, egraph, jacobian, kernel)
            built["plan"] = plan
            cost = kernel_cost(plan.kernel, lowered)
            return renderer_for(target)(plan), {"egraph_report": built["report"], "ops_per_point": cost}

        entry = kernel_cache.load_or_build(f"{lowered.name}_{target}", _kernel_key(lowered, target, egraph, jacobian),
                                           build)
        compiled = CompiledModel(lowered, target, entry.source, entry.module, entry.metadata["egraph_report"],
                                 egraph, entry.hit, built.get("plan"), entry.metadata.get("ops_per_point"), jacobian)
    else:
        plan, report = optimized_plan(lowered, egraph, jacobian, kernel)
        source = renderer_for(target)(plan)
        name = f"symsim_generated_{lowered.name}_{target}"
        module = (None if not load else _load_uncached(source, name) if target in CACHED_TARGETS
                  else load_generated_module(source, name))
        compiled = CompiledModel(lowered, target, source, module, report, egraph, False, plan, None, jacobian)
    if load and target == "cuda":
        # Numba's simulator runs kernels in Python threads; free the e-graph pass's egglog
        # objects (unsendable: they must be dropped on this thread) before any kernel runs
        gc.collect()
    return compiled


def _kernel_key(lowered: LoweredModel, target: str, egraph: bool, jacobian: bool) -> str:
    return kernel_cache.cache_key(lowered, target, {"egraph": egraph, **({"jacobian": True} if jacobian else {})})


def kernels_cached(lowered: LoweredModel, target: str, egraph: bool = True, jacobian: bool = False) -> bool:
    """Whether :func:`compile_model` would load ``target``'s module for ``lowered`` from the kernel cache."""
    return kernel_cache.is_cached(f"{lowered.name}_{target}", _kernel_key(lowered, target, egraph, jacobian))


def _check_cuda_device() -> None:
    """A clear error before any kernel runs when there is neither a GPU nor the simulator."""
    from numba import cuda
    from numba.core import config
    if config.ENABLE_CUDASIM or cuda.is_available():
        return
    from .errors import BackendError
    raise BackendError("the cuda target found no usable NVIDIA GPU (numba.cuda.is_available() is False); "
                       "install symsim[cuda] with a CUDA driver, set NUMBA_ENABLE_CUDASIM=1 to run the kernels "
                       "in Numba's simulator (slow), or use --target numba")


def optimized_plan(lowered: LoweredModel, egraph: bool = True, jacobian: bool = False,
                   kernel: tuple | None = None) -> tuple[KernelPlan, dict | None]:
    """The kernel plan after the e-graph pass (or SymPy's cse alone), and the pass's report; with
    ``jacobian`` the plan also carries the Jacobian's stencil coefficients, optimized the same way.
    ``kernel``: (kernel, report) found earlier, used instead of running the pass."""
    kernel, report = kernel if kernel is not None else egraph_kernel(lowered) if egraph else (cse_kernel(lowered), None)
    if not jacobian:
        return plan_kernel(lowered, kernel), report
    entries = jacobian_entries(lowered)
    coefficients = coefficient_model(lowered, entries)
    jacobian_kernel = egraph_kernel(coefficients)[0] if egraph and entries else cse_kernel(coefficients)
    return plan_kernel(lowered, kernel, entries, jacobian_kernel), report


def _load_uncached(source: str, name: str) -> types.ModuleType:
    """A compiled backend's module without the kernel cache: from a private temporary file (Numba
    caches machine code next to it, so nothing outlives the directory's owner)."""
    import atexit
    import shutil
    import tempfile
    from pathlib import Path
    directory = Path(tempfile.mkdtemp(prefix="symsim-uncached-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    path = directory / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    return kernel_cache.load_module_file(path, f"{name}_{id(path):x}")


def load_generated_module(source: str, name: str) -> types.ModuleType:
    """Execute generated source (ours, never user text) as a module, with tracebacks that show its lines."""
    filename = f"<{name}>"
    linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
    module = types.ModuleType(name)
    module.__file__ = filename
    exec(compile(source, filename, "exec"), module.__dict__)
    return module
