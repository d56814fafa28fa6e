"""NumPy reference backend: the loop IR printed as vectorized slicing, one statement per store.

    >>> from symsim import load_model
    >>> from symsim.codegen import function_text
    >>> from symsim.codegen.kernel_plan import plan_kernel
    >>> from symsim.lowering import lower_to_stencils
    >>> source = render_numpy_module(plan_kernel(lower_to_stencils(load_model("heat_1d"))))
    >>> print(function_text(source, "rhs"))              # a module a person can read
    def rhs(t, state, out, p):
        ...
        D = p['D']
        # interior points
        rate_u = D*(state[0, 2:103] + state[0, 0:101] - 2*state[0, 1:102])/(h_x*h_x)
        out[0, 1:102] = rate_u
        # wall node of u at x=0.0: set by its condition, not evolved
        out[0, 1:2] = 0.0
        # wall node of u at x=1.0: set by its condition, not evolved
        out[0, 101:102] = 0.0

A loop over a region becomes one array statement per store: the region's slice of
every array, shifted by the point's offsets. Arrays are padded with ``halo`` ghost
layers per axis; ``apply_boundaries`` fills them (periodic wraps, wall values,
extrapolation) with the steps of :func:`symsim.codegen.loops.boundary_pass`.
"""

from __future__ import annotations

from sympy.printing.numpy import NumPyPrinter

from symsim.printing import KernelPrinting

from .kernel_plan import KernelPlan
from .loops import (Exchange, Pass, Point, boundary_pass, check_names, grid_index_shift, interior_pass,
                    jacobian_entry_table, jacobian_pass,
                    module_head, pass_symbols, used_parameters)


class Slices:
    """Printer mixin: a Point as the region's slice of its array (shifted), a coordinate as the region's
    slice of its padded values. ``lead`` indexes leading axes before the field (``:, `` for a batch of
    states), ``arrays`` renames Point arrays to the function's argument names."""

    def __init__(self, lowered, region: tuple = (), arrays: dict | None = None, lead: str = ""):
        super().__init__({"fully_qualified_modules": True})
        self.lowered, self.region, self.arrays, self.lead = lowered, region, arrays or {}, lead

    def _print_Point(self, point: Point) -> str:
        array = self.arrays.get(point.array, point.array)
        slices = [f"{start + o}:{stop + o}" for (start, stop), o in zip(self.region, point.offsets)]
        return f"{array}[{', '.join([self.lead + str(point.index), *slices])}]"

    def _print_Symbol(self, symbol) -> str:
        for k, axis in enumerate(self.lowered.axes):
            if symbol == axis.symbol and self.region:
                parts = [":"] * k + ["{}:{}".format(*self.region[k])]
                return f"{axis.name}[{', '.join(parts)}]"
        return super()._print_Symbol(symbol)


class SlicePrinter(Slices, KernelPrinting, NumPyPrinter):
    """SymPy's NumPy printer over the slices of a region."""

    def _print_And(self, expr) -> str:
        # logical_and.reduce (SymPy's choice) cannot broadcast operands of different shapes
        return self._chain("numpy.logical_and", expr.args)

    def _print_Or(self, expr) -> str:
        return self._chain("numpy.logical_or", expr.args)


def render_numpy_module(plan: KernelPlan) -> str:
    """Python source of a module with ``rhs(t, state, out, p)`` and ``apply_boundaries(t, state, p)`` (and
    ``jacobian_coefficients(t, state, jac, p)`` when the plan carries the Jacobian)."""
    lowered = plan.lowered
    check_names(plan, "numpy")
    rhs = interior_pass(plan, "rhs", "Write d(state)/dt at every grid point into out "
                        "(halo layers of out are not touched).", [("out", (), 1)], freeze=True)
    lines = _header(lowered)
    lines += sliced_function(lowered, rhs, "rhs(t, state, out, p)", {"src": "state"})
    lines += sliced_function(lowered, boundary_pass(lowered), "apply_boundaries(t, state, p)")
    if plan.jacobian:
        lines += [f"#: (row field, column field, offsets) of each coefficient jacobian_coefficients writes",
                  f"JACOBIAN_ENTRIES = {jacobian_entry_table(plan)!r}", "", ""]
        lines += sliced_function(lowered, jacobian_pass(plan), "jacobian_coefficients(t, state, jac, p)",
                                 {"src": "state"})
    return "\n".join(lines).rstrip() + "\n"


def sliced_function(lowered, pass_: Pass, signature: str, arrays: dict | None = None, lead: str = "",
                    printer=SlicePrinter, prologue=(), epilogue=()) -> list[str]:
    """A pass as one Python function of array statements: parameters from ``p``, ``prologue``,
    invariants, then each loop's stores over its region, then ``epilogue``. ``printer`` prints them
    (the PyTorch backend passes its own)."""
    lines = [f"def {signature}:", f'    """{pass_.doc}"""']
    used = pass_symbols(pass_)
    lines += [f"    {name} = p[{name!r}]" for name in used_parameters(lowered, used)]
    lines += [f"    {line}" for line in prologue]
    invariant_printer = printer(lowered, (), arrays, lead)
    lines += [f"    {symbol} = {invariant_printer.doprint(value)}" for symbol, value in pass_.invariants]
    for loop in pass_.loops:
        if isinstance(loop, Exchange):
            lines += [f"    # {loop.name}", f"    _exchange({(arrays or {}).get(loop.array, loop.array)}, {loop.axis})"]
            continue
        loop_printer = printer(lowered, loop.region, arrays, lead)
        lines.append(f"    # {loop.name}")
        lines += [f"    {loop_printer.doprint(s.target)} = {loop_printer.doprint(s.value)}" for s in loop.body]
    lines += [f"    {line}" for line in epilogue]
    return lines + (["    pass"] if len(lines) == 2 else []) + ["", ""]


def _header(lowered) -> list[str]:
    # functools: SymPy prints Min/Max of several arguments as functools.reduce(numpy.fmin, ...)
    lines = module_head(lowered, "NumPy kernels", ["State layout: state[f] is field FIELDS[f] on the grid padded by HALO "
                        "ghost layers", "per axis; interior points are state[f][HALO[0]:HALO[0]+SHAPE[0], ...].", ""],
                        ["import functools", "", "import numpy"])
    if lowered.axes:
        lines += ["# padded coordinates, shaped to broadcast over the grid"]
    for k, axis in enumerate(lowered.axes):
        shape = ", ".join("-1" if j == k else "1" for j in range(lowered.ndim))
        first = grid_index_shift(lowered, k)
        lines.append(f"{axis.name} = ({axis.name}_start + h_{axis.name} * numpy.arange({first}, "
                     f"{first + axis.points + 2 * lowered.halo[k]})).reshape({shape})")
    return lines + ["", ""]
