"""Operations per grid point of a kernel, and their weighted cost in CPU cycles.

    >>> from symsim import load_model, lower_to_stencils
    >>> rhs = lower_to_stencils(load_model("heat_1d"), space_order=2).rhs["u"]
    >>> rhs
    D*(u[x+1] + u[x-1] - 2*u[x])/h_x**2
    >>> count_operations([rhs])
    {'add': 2, 'mul': 2, 'div': 0, 'pow': 0, 'call': 0, 'cost': 4}

Loop-invariant subexpressions (no stencil access and no coordinate inside, such
as ``D/h_x**2``) are evaluated once per kernel call, not per point, so they are
not counted. Subtraction counts as an add; powers count what the backends print
for them (:func:`symsim.printing.power_operations`: ``x**3`` two multiplies,
``x**-2`` a multiply and a division, ``x**0.5`` a call, other powers ``pow``).
"""

from __future__ import annotations

import sympy

from .ir import StencilAccess
from .printing import power_operations

#: approximate cycles per operation (throughput on a modern x86 core)
CYCLES = {"add": 1, "mul": 1, "div": 16, "pow": 50, "call": 50}


def count_operations(expressions, temporaries=(), coordinates=()) -> dict:
    """Counts for evaluating ``temporaries`` ((symbol, expr) pairs) then ``expressions`` at one point."""
    counts = dict.fromkeys(CYCLES, 0)
    varying = set(coordinates)
    for symbol, expr in temporaries:
        if varies(expr, varying):
            varying.add(symbol)
            _count(expr, counts, varying)
    for expr in expressions:
        _count(expr, counts, varying)
    counts["cost"] = sum(CYCLES[k] * counts[k] for k in CYCLES)
    return counts


def varies(expr, varying: set) -> bool:
    """True when ``expr`` changes from grid point to grid point (a stencil access or a ``varying`` symbol)."""
    return any(isinstance(s, StencilAccess) or s in varying for s in expr.free_symbols)


def _count(expr, counts: dict, varying: set) -> None:
    if not expr.args or not varies(expr, varying):
        return
    if isinstance(expr, sympy.Add):
        counts["add"] += len(expr.args) - 1
    elif isinstance(expr, sympy.Mul):
        # invariant factors (D, 1/h**2, constants) fold into one hoisted coefficient
        invariant = [a for a in expr.args if not varies(a, varying)]
        numerator = [a for a in expr.args if varies(a, varying) and not (a.is_Pow and a.exp.is_negative)]
        denominator = [a for a in expr.args if varies(a, varying) and a.is_Pow and a.exp.is_negative]
        coefficient = 1 if invariant and sympy.Mul(*invariant) not in (1, -1) else 0
        counts["mul"] += max(len(numerator) + coefficient - 1, 0)
        # a/(b*c): one division by the product of the denominators
        counts["div"] += 1 if denominator else 0
        counts["mul"] += max(len(denominator) - 1, 0)
        for d in denominator:
            _count(sympy.Pow(d.base, -d.exp), counts, varying)
        for a in numerator:
            _count(a, counts, varying)
        return
    elif isinstance(expr, sympy.Pow):
        for kind, count in power_operations(expr.exp).items():
            counts[kind] += count
        _count(expr.base, counts, varying)
        return
    elif isinstance(expr, sympy.Function) or isinstance(expr, sympy.Piecewise):
        counts["call"] += 1
    for arg in expr.args:
        _count(arg, counts, varying)
