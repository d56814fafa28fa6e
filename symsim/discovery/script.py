"""A fitted candidate as a symsim model script: the file ``symsim run`` takes, readable as if written by hand.

    >>> import sympy
    >>> from symsim.discovery.observations import Observations
    >>> from symsim.discovery.refinement import Candidate
    >>> from symsim.discovery.proposals import Proposal, template_model
    >>> data = Observations("decay.csv", ("u",), (np.linspace(0.0, 4.0, 41),), (np.ones((41, 1)),))
    >>> u = template_model(data).field_functions["u"]
    >>> candidate = Candidate(Proposal("sindy", (-0.5 * u,)), (-sympy.Symbol("c_0") * u,), {"c_0": 0.5},
    ...                       (np.array([1.0]),))
    >>> text = model_script(candidate, data)
    >>> print(text[text.index("from sympy"):])          # after the docstring
    from sympy import Eq
    from symsim import Dt, Model
    <BLANKLINE>
    model = Model("discovered")
    u = model.fields("u")
    c_0 = model.params(c_0=0.5)
    model.equations(
        Eq(Dt(u), -c_0*u),
    )
    model.initial(u=1.0)
    model.defaults(t_end=4.0, saves=40, method="dopri5", rtol=1e-08, atol=1e-10)
    <BLANKLINE>

Numbers are written with full precision (``repr`` of the float). A PDE model's initial
condition is the first snapshot, kept beside the script in ``initial_state.npz`` (plain
arrays, read with ``allow_pickle=False``). Times in the script start at 0 at the data's
first sample.
"""

from __future__ import annotations

import numpy as np
import sympy
from sympy.printing.str import StrPrinter

from ..model import is_field
from .observations import Observations, evenly_spaced
from .refinement import Candidate, inferred_walls

#: the file beside a PDE model script that holds its initial snapshot
INITIAL_STATE_FILE = "initial_state.npz"
#: saves of a script whose data was sampled unevenly
UNEVEN_SAVES = 200


class ScriptPrinter(StrPrinter):
    """SymPy's str printer, with fields as their script names and derivatives as ``u.diff(x, 2)``."""

    def _print_Derivative(self, expr):
        if not is_field(expr.expr):
            return super()._print_Derivative(expr)
        spec = ", ".join(f"{v}, {n}" if n > 1 else str(v) for v, n in expr.variable_count)
        return f"{expr.expr.func.__name__}.diff({spec})"

    def _print_Function(self, expr):
        if is_field(expr):
            return expr.func.__name__
        return super()._print_Function(expr)

    def _print_Float(self, expr):
        return repr(float(expr))


def model_script(candidate: Candidate, data: Observations, name: str = "discovered") -> str:
    """The model script's text (see the module notes)."""
    printer = ScriptPrinter()
    names = data.names
    functions = sorted({type(a).__name__ for r in candidate.structure for a in r.atoms(sympy.Function)
                        if not is_field(a)})
    pde = data.kind == "pde"
    lines = [f'"""{_summary(candidate, data)}"""', ""]
    if pde:
        lines += ["from pathlib import Path", "", "import numpy as np"]
    lines += [f"from sympy import {', '.join(['Eq', *functions])}",
              f"from symsim import Dt, {'Grid, ' if pde else ''}Model", ""]
    if pde:
        grid = data.grid()
        axes = ", ".join(f"{a.name}=({a.start!r}, {a.stop!r}, {a.points})" for a in grid.axes)
        periodic = f", periodic={tuple(data.periodic)!r}" if data.periodic else ""
        lines += [f"grid = Grid({axes}{periodic})", f'model = Model("{name}", grid)']
    else:
        lines += [f'model = Model("{name}")']
    lines.append(f"{_targets(names)} = model.fields(\"{' '.join(names)}\")")
    if candidate.parameters:
        settings = ", ".join(f"{n}={v!r}" for n, v in candidate.parameters.items())
        lines.append(f"{_targets(list(candidate.parameters))} = model.params({settings})")
    if pde and any(isinstance(a, sympy.Derivative) for r in candidate.structure for a in sympy.preorder_traversal(r)):
        lines.append(f"{', '.join(data.coords)}{',' if len(data.coords) == 1 else ''} = grid.coords")
    lines.append("model.equations(")
    lines += [f"    Eq(Dt({n}), {printer.doprint(rate)})," for n, rate in zip(names, candidate.structure)]
    lines.append(")")
    if pde:
        lines += [f'initial = np.load(Path(__file__).with_name("{INITIAL_STATE_FILE}"), allow_pickle=False)',
                  f"model.initial({', '.join(f'{n}=initial[{n!r}]' for n in names)})"]
        for field, value, wall in inferred_walls(data):
            (axis, position), = wall.items()
            lines.append(f"model.dirichlet({field}, {axis}={position!r}, value={value!r})")
    else:
        lines.append(f"model.initial({', '.join(f'{n}={float(v)!r}' for n, v in zip(names, candidate.initial[0]))})")
    lines.append(f"model.defaults({_run_defaults(candidate, data)})")
    return "\n".join(lines) + "\n"


def initial_state_arrays(data: Observations) -> dict[str, np.ndarray]:
    """The arrays of ``initial_state.npz``: each field's first snapshot."""
    first = data.values[0][0]
    return {n: np.ascontiguousarray(first[..., k]) for k, n in enumerate(data.names)}


def _targets(names) -> str:
    return names[0] if len(names) == 1 else ", ".join(names)


def _run_defaults(candidate: Candidate, data: Observations) -> str:
    times = data.times[0]
    saves = len(times) - 1 if evenly_spaced(times) else UNEVEN_SAVES
    settings = [f"t_end={float(times[-1] - times[0])!r}", f"saves={saves}"]
    if data.kind == "pde":
        settings += [f'method="{candidate.method}"', "space_order=4", "rtol=1e-06", "atol=1e-09"]
    else:
        settings += ['method="dopri5"', "rtol=1e-08", "atol=1e-10"]
    return ", ".join(settings)


def _summary(candidate: Candidate, data: Observations) -> str:
    equations = "\n".join(f"    {e}" for e in candidate.equations(data.names))
    start = float(data.times[0][0])
    shift = f" (t = 0 here is t = {start:g} in the data)" if start != 0.0 else ""
    which = " from the first trajectory's fitted start" if data.trajectories > 1 else ""
    return (f"Discovered by symsim discover from {data.source} ({candidate.proposal.method}):\n\n{equations}\n\n"
            f"Relative L2 against the data: training {candidate.training_misfit:.3g}, held-back forecast "
            f"{candidate.forecast_error:.3g},\nwhole series replayed by this script{which} "
            f"{candidate.replay_error:.3g}. Time starts at the first sample{shift}.\n")
