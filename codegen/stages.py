"""Runge–Kutta steps as fused stencil passes, derived from the tableaus in :mod:`symsim.tableaus`.

A pass evaluates ``k = f(src)`` at every interior point and, in the same loop, adds
its share of ``k`` (and of ``src``) to every later stage input and to the result: no
separate axpy sweeps. For RK4 on a 2-core machine fusing saves 21-29% (heat) and
40-43% (Gray-Scott) of a step. From the RK4 tableau (a write: target, terms, rate*dt)::

    >>> for p in SCHEMES["rk4"].passes: print(p.src, [(w.target, w.terms, w.rate) for w in p.writes])
    y [('s0', (('y', 1.0),), 0.5), ('s1', (('y', 1.0),), 0.16666666666666666)]
    s0 [('s2', (('y', 1.0),), 0.5), ('s1', (('s1', 1.0),), 0.3333333333333333)]
    s2 [('s0', (('y', 1.0),), 1.0), ('s1', (('s1', 1.0),), 0.3333333333333333)]
    s0 [('s1', (('s1', 1.0),), 0.16666666666666666)]

s1 accumulates the result in place and then takes y's place. From SSPRK3's Shu–Osher
form ``u1 = u + dt L(u); u2 = 3/4 u + 1/4 (u1 + dt L(u1)); u_new = 1/3 u + 2/3 (u2 + dt L(u2))``:

    >>> for p in SCHEMES["ssprk3"].passes[1:]: print(p.src, [(w.target, w.terms, w.rate) for w in p.writes])
    s0 [('s1', (('y', 0.75), ('s0', 0.25)), 0.25)]
    s1 [('y', (('y', 0.3333333333333333), ('s1', 0.6666666666666666)), 0.6666666666666666)]

Between passes the boundaries of every newly written stage input are applied at its
stage time, as the NumPy stepper does; results agree with it to round-off.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from symsim.tableaus import FIXED_STEP, TABLEAUS, Tableau

from .kernel_plan import KernelPlan
from .loops import interior_pass


@dataclass(frozen=True)
class Write:
    """``target = sum(weight*array) + rate*dt*k`` at each point."""

    target: str
    terms: tuple          # ((array, weight), ...)
    rate: float


@dataclass(frozen=True)
class StagePass:
    """One fused pass: k = f(t + c*dt, src), then its writes; ``constrain`` lists the arrays whose
    boundaries are applied afterwards, with their stage times (as multiples of dt)."""

    src: str
    c: float
    writes: tuple
    constrain: tuple      # ((array, c), ...)


@dataclass(frozen=True)
class FusedScheme:
    method: str
    buffers: tuple        # work arrays besides y
    passes: tuple
    result: str           # the array holding the new state; if not y, it and y swap roles after the step


def fused_scheme(tableau: Tableau) -> FusedScheme:
    """The passes of one step of an explicit method, from its tableau (Shu–Osher form where it has one).

    Stage input i (and the result, stage s) is accumulated in an array of its own: pass j
    adds alpha[i][j]*Y_j + dt*beta[i][j]*k_j to it, reading Y_j = src at the point. The
    share of y (Y_0, alive for the whole step) is added by the first pass that writes the
    array anyway, so SSPRK3 reads y where its Butcher form would copy it. An array is
    recycled once its stage input has been read. The result goes into y when only the last
    pass writes it and that pass's stencil does not read y (SSPRK3); else into an array that
    then takes y's place (Euler, and RK4, whose accumulator finishes in place).
    """
    alpha, beta = tableau.shu_osher()
    s = tableau.stages

    def contributes(i, j):
        return bool(beta[i - 1][j] or (j > 0 and alpha[i - 1][j]))

    passes_into = {i: [j for j in range(i) if contributes(i, j)] for i in range(1, s + 1)}
    holder = {0: "y"} | {i: "y" for i, js in passes_into.items() if not js}    # Y_i = y itself
    free, buffers, passes = [], [], []
    for j in range(s):
        src = holder[j]
        writes, constrain = [], []
        for i in range(j + 1, s + 1):
            if j not in passes_into[i]:
                continue
            if j == passes_into[i][0]:          # the first write: start from the share of y
                terms = [("y", float(alpha[i - 1][0]))] if alpha[i - 1][0] else []
                if i == s and j == s - 1 and src != "y":
                    holder[i] = "y"
                else:
                    if not free:
                        buffers.append(f"s{len(buffers)}")
                        free.append(buffers[-1])
                    holder[i] = free.pop(0)
            else:
                terms = [(holder[i], 1.0)]
            if j > 0 and alpha[i - 1][j]:
                terms.append((src, float(alpha[i - 1][j])))
            writes.append(Write(holder[i], tuple(terms), float(beta[i - 1][j])))
            if j == passes_into[i][-1]:
                constrain.append((holder[i], float(tableau.c[i]) if i < s else 1.0))
        passes.append(StagePass(src, float(tableau.c[j]), tuple(writes), tuple(constrain)))
        if src != "y":
            free.append(src)                    # stage input j has been read for the last time
    return FusedScheme(tableau.name, tuple(buffers), tuple(passes), holder[s])


#: every fixed-step method of symsim.tableaus
SCHEMES = {method: fused_scheme(TABLEAUS[method]) for method in FIXED_STEP}


def pass_shape(stage: StagePass) -> tuple:
    """What a kernel must do for this pass, independent of buffer names and weights: each write as
    (target, term arrays, which term weights are 1) and the arrays completed by the pass (those whose
    boundaries are applied after it), arrays named by position of first use (src, a0, a1, ...).
    Passes of one shape share a kernel."""
    names = {stage.src: "src"}
    writes = []
    for write in stage.writes:
        for array in (write.target, *(a for a, _ in write.terms)):
            names.setdefault(array, f"a{len(names) - 1}")
        writes.append((names[write.target], tuple(names[a] for a, _ in write.terms),
                       tuple(w == 1.0 for _, w in write.terms)))
    return tuple(writes), tuple(names[array] for array, _ in stage.constrain)


def kernel_arguments(stage: StagePass) -> tuple[list, list]:
    """The actual arguments of this pass's kernel: buffer names in the kernel's array order after src,
    and the source text of its weights in the kernel's scalar order (a multiple of ``dt`` for a rate)."""
    arrays, weights = [], []
    for write in stage.writes:
        for array in (write.target, *(a for a, _ in write.terms)):
            if array != stage.src and array not in arrays:
                arrays.append(array)
        weights += [repr(w) for _, w in write.terms if w != 1.0]
        weights.append("dt" if write.rate == 1.0 else f"{write.rate!r}*dt")
    return arrays, weights


def stage_passes(plan: KernelPlan, wraps: bool) -> tuple[dict, dict]:
    """(name -> Pass, fused-pass shape -> kernel name): ``rhs`` (wall nodes frozen) and one kernel per
    distinct shape of the fused passes of every method. With ``wraps`` (a grid periodic on every
    axis) each pass fills the halos of the arrays it completes, and no boundary pass runs between."""
    kernels = {"rhs": interior_pass(plan, "rhs", "d(state)/dt of _src at every grid point into _out",
                                    [("out", (), 1)], freeze=True)}
    names = {}
    for shape in dict.fromkeys(pass_shape(p) for scheme in SCHEMES.values() for p in scheme.passes):
        scalars = []

        def weight():    # the next scalar argument, in kernel_arguments' order
            scalars.append(sympy.Symbol(f"_w{len(scalars)}"))
            return scalars[-1]

        writes = [(target, tuple((a, 1 if one else weight()) for a, one in zip(terms, unit)), weight())
                  for target, terms, unit in shape[0]]
        names[shape] = f"pass{len(names)}"
        doc = "; ".join(f"_{target} = " + " + ".join([f"{w}*_{a}" if w != 1 else f"_{a}" for a, w in terms]
                                                     + [f"{rate}*rhs(_src)"]) for target, terms, rate in writes)
        kernels[names[shape]] = interior_pass(plan, names[shape], doc, writes, [str(s) for s in scalars],
                                              wraps=shape[1] if wraps else ())
    return kernels, names
