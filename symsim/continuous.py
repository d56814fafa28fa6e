"""The continuous form of a model, for losses evaluated by automatic differentiation (PINNs).

Where the stencil IR (:mod:`symsim.ir`) replaces derivatives by finite differences,
this form keeps them as atoms: every distinct derivative of a field is one symbol,
``u_x``, ``u_xx``, ``u_xy``, ``u_t``, ``u_tt``. Each equation becomes a residual

    Dt(u) = -u*u_x + nu*u_xx      ->      residual_u = u_t + u*u_x - nu*u_xx

which goes through the same e-graph pass as the simulators' kernels (coordinates
and ``t`` vary from point to point; parameters are hoisted), so the PINN loss
evaluates the simplified form. Plain data at the boundary: :class:`ContinuousPlan`.

    >>> from symsim import load_model
    >>> plan, report = continuous_plan(load_model("burgers_1d"))
    >>> [d.name for d in plan.derivatives], plan.outputs
    (['u', 'u_t', 'u_x', 'u_xx'], {'u': -nu*u_xx + u*u_x + u_t})
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import sympy

from .errors import ModelDefinitionError
from .ir import LoweredModel, WallCondition
from .model import Model, t


@dataclass(frozen=True)
class FieldDerivative:
    """d^n field / d(variables...), variables in canonical order (t first, then the axes)."""

    field: str
    variables: tuple

    @property
    def name(self) -> str:
        if not self.variables:
            return self.field
        joined = "".join(self.variables) if all(len(v) == 1 for v in self.variables) else "_".join(self.variables)
        return f"{self.field}_{joined}"

    @property
    def parent(self) -> "FieldDerivative":
        """The derivative this one is computed from (one variable fewer): autograd reuses it."""
        return FieldDerivative(self.field, self.variables[:-1])


@dataclass(frozen=True)
class ContinuousPlan:
    """What the PINN backend renders (compare :class:`codegen.kernel_plan.KernelPlan`)."""

    lowered: LoweredModel           # residuals as a LoweredModel without axes (for the shared passes)
    inputs: tuple                   # network inputs in order: ("t", "x", ...)
    varying: frozenset              # the atoms that change from point to point: inputs and derivatives
    derivatives: tuple              # FieldDerivative, every one the residuals use (ordered so parents come first)
    invariants: tuple
    temporaries: tuple
    outputs: dict                   # field -> residual expression
    walls: tuple                    # WallCondition of the model (values in t and the other coordinates)
    initial: dict                   # field -> expression of the coordinates (value at t=0)
    initial_velocity: dict          # field -> expression (second order in time)
    time_order: dict                # field -> 1 or 2
    extents: dict                   # axis name -> (start, stop, periodic)
    parameters: dict
    fields: tuple = ()              # the network's outputs, in order (the residuals' names when empty)
    geometry: object = None         # symsim.geometry.Domain of a model posed on one
    conditions: tuple = ()          # BoundaryCondition on the geometry's named boundaries
    pins: tuple = ()                # Pin: a field's value at one point

    @property
    def outputs_of_network(self) -> tuple:
        return self.fields or self.lowered.fields


def continuous_plan(model: Model, egraph: bool = True) -> tuple[ContinuousPlan, dict | None]:
    """The residuals of ``model``'s equations in derivative atoms, after the e-graph pass (or cse)."""
    from .lowering import lower_to_stencils
    from .simplify import cse_kernel, egraph_kernel

    if model.geometry is not None:
        return _geometry_plan(model, egraph)
    lowered = lower_to_stencils(model, 2)   # validates the model and gives its wall conditions
    axes = [a.name for a in model.grid.axes] if model.grid is not None else []
    atoms = _DerivativeAtoms(model, ["t", *axes])
    residuals, time_order = {}, {}
    for equation in model.equation_list:
        rhs = atoms.rewrite(equation.rhs, f"{equation.origin}: {equation.describe()}")
        time = FieldDerivative(equation.field, ("t",) * equation.order)
        atoms.used.add(time)
        residuals[equation.field] = atoms.atom(time.name) - rhs
        time_order[equation.field] = equation.order
    fields = tuple(f for f in model.field_functions if f in residuals)
    derivatives = _closed_under_parents(atoms.used)
    residual_model = LoweredModel(
        name=model.name, axes=(), halo=(), space_order=0, parameters=dict(lowered.parameters),
        fields=fields, rhs=residuals, walls=(), initial={}, equations=lowered.equations, user_fields=fields)
    varying = frozenset(atoms.atoms.values())
    kernel, report = egraph_kernel(residual_model, varying=varying) if egraph else (cse_kernel(residual_model), None)
    initial, velocity = _initial_expressions(model)    # lowering checked their symbols
    walls = tuple(w for w in lowered.walls if w.field in fields)
    extents = {a.name: (a.start, a.stop, a.periodic) for a in model.grid.axes} if model.grid is not None else {}
    plan = ContinuousPlan(residual_model, ("t", *axes), varying, derivatives, kernel.invariants, kernel.temporaries,
                          {f: kernel.outputs[f] for f in fields}, walls, initial, velocity, time_order, extents,
                          dict(lowered.parameters))
    return plan, report


class _DerivativeAtoms:
    """Derivatives of fields as symbols (``u_x``, ``u_xy``), coordinates as real symbols."""

    def __init__(self, model: Model, variables: list):
        self.model = model
        self.canonical = {name: k for k, name in enumerate(variables)}
        self.variables = variables
        self.atoms: dict = {}
        self.used: set = set()

    def atom(self, name: str):
        # real: fields hold real numbers, so d|u|/du is sign(u), not a derivative of re(u)
        return self.atoms.setdefault(name, sympy.Symbol(name, real=True))

    def derivative(self, expr):
        function = expr.expr if isinstance(expr, sympy.Derivative) else expr
        counts = expr.variable_count if isinstance(expr, sympy.Derivative) else ()
        variables = tuple(sorted((str(v) for v, n in counts for _ in range(n)), key=self.canonical.__getitem__))
        derivative = FieldDerivative(function.func.__name__, variables)
        return self.atom(derivative.name), derivative

    def rewrite(self, expr, where: str):
        """``expr`` in atoms, recording the derivatives it uses."""
        replacements = {}
        for d in expr.atoms(sympy.Derivative):
            symbol, derivative = self.derivative(d)
            replacements[d] = symbol
            self.used.add(derivative)
        for f in self.model.field_functions.values():
            replacements.setdefault(f, self.derivative(f)[0])
            if expr.has(f):
                self.used.add(FieldDerivative(f.func.__name__, ()))
        coordinates = {sympy.Symbol(name): self.atom(name) for name in ["t", *self.variables]}
        rewritten = expr.xreplace(replacements).xreplace(coordinates)
        if rewritten.atoms(sympy.Derivative) or rewritten.atoms(sympy.core.function.AppliedUndef):
            raise ModelDefinitionError(f"{where}: could not express it in derivatives of the fields "
                                       "(a derivative of an expression that is not a field?)")
        return rewritten


def _geometry_plan(model: Model, egraph: bool) -> tuple[ContinuousPlan, dict | None]:
    """The plan of a model posed on a geometry: residuals of every equation (``Dt(u) = rhs`` as ``u_t - rhs``,
    keyed by the field; a steady equation or constraint as ``lhs - rhs``, keyed by its label), the network's
    outputs are all the fields, conditions on named boundaries. With a time derivative anywhere the network's
    inputs are (t, x, y), every field with one has an initial value, and boundary data may vary in t."""
    from .simplify import cse_kernel, egraph_kernel

    if not model.equation_list and not model.steady_equations:
        raise ModelDefinitionError(f"model {model.name!r} declares no equations")
    axes = list(model.geometry.axis_names)
    timed = bool(model.equation_list)
    inputs = ["t", *axes] if timed else axes
    atoms = _DerivativeAtoms(model, inputs)
    names = {s.name for s, _ in model.parameters.values()} | set(inputs)
    residuals, equations, time_order = {}, {}, {}
    for equation in model.equation_list:
        where = f"{equation.origin}: equation {equation.describe()}"
        time = FieldDerivative(equation.field, ("t",) * equation.order)
        atoms.used.add(time)
        residuals[equation.field] = atoms.atom(time.name) - atoms.rewrite(equation.rhs, where)
        equations[equation.field] = equation.describe()
        time_order[equation.field] = equation.order
    for equation in model.steady_equations:
        where = f"{equation.origin}: equation {equation.describe()}"
        residuals[equation.label] = atoms.rewrite(equation.residual, where)
        equations[equation.label] = equation.describe()
    for label, residual in residuals.items():
        unknown = {s.name for s in residual.free_symbols} - names - set(atoms.atoms)
        if unknown:
            raise ModelDefinitionError(f"{_origin_of(model, label)}: equation {equations[label]}: unknown symbol "
                                       f"{sorted(unknown)[0]!r} (parameters: {', '.join(model.parameters) or 'none'}; "
                                       f"coordinates: {', '.join(inputs)})")
    fields = tuple(model.field_functions)
    for condition in model.boundary_conditions:
        unknown = {s.name for s in condition.value.free_symbols} - names
        if unknown:
            raise ModelDefinitionError(f"{condition.origin}: the {condition.kind} value of {condition.field} on "
                                       f"{condition.boundary!r} uses unknown symbol {sorted(unknown)[0]!r}")
    for pin in model.pins:
        unknown = {s.name for s in pin.value.free_symbols} - (names - set(axes))
        if unknown:
            raise ModelDefinitionError(f"{pin.origin}: the pinned value of {pin.field} uses unknown symbol "
                                       f"{sorted(unknown)[0]!r} (a number, or an expression of the parameters"
                                       + (" and t)" if timed else ")"))
        if any(c.field == pin.field and c.kind == "dirichlet" for c in model.boundary_conditions):
            raise ModelDefinitionError(f"{pin.origin}: field {pin.field!r} has Dirichlet conditions, which fix "
                                       "its value already: a pin is for a field known only up to a constant")
    initial, velocity = _initial_expressions(model, names - {"t"})
    for value in model.initial_values:
        if value.field not in time_order:
            raise ModelDefinitionError(f"{value.origin}: field {value.field!r} has no time derivative (a steady "
                                       "field or a constraint's, such as a pressure): it takes no initial value")
    for equation in model.equation_list:
        if equation.field not in initial:
            raise ModelDefinitionError(f"{equation.origin}: field {equation.field!r} has a time derivative and no "
                                       f"initial value (model.initial({equation.field}=...))")
    parameters = {name: value for name, (_, value) in model.parameters.items()}
    residual_model = LoweredModel(
        name=model.name, axes=(), halo=(), space_order=0, parameters=parameters, fields=tuple(residuals),
        rhs=residuals, walls=(), initial={}, equations=equations, user_fields=tuple(residuals))
    varying = frozenset(atoms.atoms.values())
    kernel, report = egraph_kernel(residual_model, varying=varying) if egraph else (cse_kernel(residual_model), None)
    extents = {name: (low, high, False) for name, (low, high) in zip(axes, model.geometry.bounds())}
    # every field is an output of the network, also one no residual differentiates (a pinned pressure)
    used = set(atoms.used) | {FieldDerivative(f, ()) for f in fields}
    plan = ContinuousPlan(residual_model, tuple(inputs), varying, _closed_under_parents(used), kernel.invariants,
                          kernel.temporaries, {r: kernel.outputs[r] for r in residuals}, (), initial, velocity,
                          {f: time_order.get(f, 0) for f in fields}, extents, parameters, fields=fields,
                          geometry=model.geometry, conditions=tuple(model.boundary_conditions),
                          pins=tuple(model.pins))
    return plan, report


def _origin_of(model: Model, label: str) -> str:
    """file:line of the equation behind residual ``label`` (a field's evolution equation, or a steady one)."""
    for equation in model.equation_list:
        if equation.field == label:
            return equation.origin
    return next(e.origin for e in model.steady_equations if e.label == label)


def _initial_expressions(model: Model, names: set | None = None) -> tuple[dict, dict]:
    """(values, velocities) at t=0: field -> SymPy expression of the coordinates and parameters (``names``, the
    symbols allowed; None: not checked)."""
    initial, velocity = {}, {}
    for value in model.initial_values:
        if isinstance(value.value, np.ndarray):
            raise ModelDefinitionError(f"{value.origin}: the initial value of {value.field!r} is an array; "
                                       "a PINN needs it as an expression of the coordinates")
        expression = sympy.sympify(value.value)
        unknown = {s.name for s in expression.free_symbols} - names if names is not None else ()
        if unknown:
            raise ModelDefinitionError(f"{value.origin}: the initial value of {value.field!r} uses unknown symbol "
                                       f"{sorted(unknown)[0]!r}")
        (velocity if value.velocity else initial)[value.field] = expression
    return initial, velocity


def geometry_constraint_forms(plan: ContinuousPlan, field: str):
    """(g, phi) of ``field`` on a geometry, as SymPy expressions of the inputs, or None without Dirichlet
    conditions or initial value: phi joins the distances of the pieces of every boundary where the field has a
    Dirichlet condition (zero there, positive inside; for a side of the outer rectangle the distance to its
    line), g interpolates the conditions' values between those pieces (equal to each on its piece);
    ``u = g + phi * N`` meets them all whatever N is. Data on all four sides of a rectangle that varies along
    the boundary and agrees at the rectangle's corners takes Coons' patch there instead
    (:func:`symsim.geometry.rectangle_patch`), smooth at the corners where the R-function blend is not; with
    holes, the patch is one piece of the blend (the holes' data the others).

    A field with an initial value u0 (a time-dependent model) takes the Boolean sum of the two projections,
    g = g_c + u0 - g_0 with g_0 the same blend of u0's own traces, and phi * t: the Dirichlet data hold for
    every t, and u0 at t=0 wherever it agrees with them there (the box's :func:`hard_constraint_forms` does the
    same)."""
    spatial = _boundary_blend(plan, field)
    if field not in plan.initial:
        return spatial
    initial, time = plan.initial[field], sympy.Symbol("t")
    if spatial is None:
        return initial, time
    g, phi = spatial
    # g_0 by the very blend g_c took (not chosen afresh from u0's traces): at t=0, g_c = g_0 where the data
    # agree with u0, so u = u0 exactly there
    return g + initial - _boundary_blend(plan, field, initial)[0], phi * time


def _boundary_blend(plan: ContinuousPlan, field: str, data=None):
    """(g, phi) of the field's Dirichlet conditions (g from ``data`` on every piece instead of each condition's
    value, the blend chosen by the conditions either way), or None without any."""
    from .geometry import boundary_interpolation, boundary_trace, joined_distance, rectangle_patch

    dirichlet = {c.boundary: c.value for c in plan.conditions if c.field == field and c.kind == "dirichlet"}
    if not dirichlet:
        return None
    x, y = (sympy.Symbol(name) for name in plan.inputs[-2:])
    pieces = [p for p in plan.geometry.pieces if p.name in dirichlet]
    traces = [boundary_trace(dirichlet[p.name], p, x, y) for p in pieces]
    outer = plan.geometry.outer.pieces(hole=False)
    values = (lambda piece: dirichlet[piece.name]) if data is None else (lambda piece: data)
    holes = [p for p in pieces if p not in outer]
    # data on the whole rectangle, varying along the boundary: Coons' patch of the rectangle's sides where
    # their corners agree, blended with the holes' data as one more piece (its distance the patch's product
    # phi), so that the rectangle's corners stay smooth with holes too. Data equal on every piece is its own
    # smooth extension; the product phi measured worse there (the cavity's v = 0 with the lid's singular
    # corners: 0.068 / 0.081 from Ghia's profiles against 0.032 / 0.033)
    if set(outer) <= set(pieces) and any(t != traces[0] for t in traces):
        if rectangle_patch([dirichlet[p.name] for p in outer], plan.geometry.outer, x, y) is not None:
            g, phi = rectangle_patch([values(p) for p in outer], plan.geometry.outer, x, y)
            if not holes:
                return g, phi
            distances = [phi] + [p.distance(x, y) for p in holes]
            traces = [g] + [boundary_trace(values(p), p, x, y) for p in holes]
            return boundary_interpolation(traces, distances), joined_distance(distances)
    # the outer rectangle is convex: its sides' lines meet the domain on the sides only, and their distance
    # grows linearly where the trimmed one (needed for a hole's sides) grows quadratically
    distances = [p.line_distance(x, y) if p in outer else p.distance(x, y) for p in pieces]
    traces = [boundary_trace(values(p), p, x, y) for p in pieces]
    return boundary_interpolation(traces, distances), joined_distance(distances)


def dirichlet_jumps(geometry, conditions) -> tuple:
    """The corners (x, y) where two straight pieces of ``geometry``'s boundary meet and a field's Dirichlet data
    (``conditions``: the model's boundary conditions) differs between them: the cavity's lid corners. The flow
    there is singular (vorticity and pressure grow as 1 / r), so no network meets the equations near them."""
    from .geometry import Segment, agree_at

    data = {}
    for condition in conditions:
        if condition.kind == "dirichlet":
            data.setdefault(condition.field, {})[condition.boundary] = condition.value
    x, y = (sympy.Symbol(name) for name in geometry.axis_names)
    segments = [p for p in geometry.pieces if isinstance(p, Segment)]
    jumps = set()
    for before in segments:
        corner = {x: before.end[0], y: before.end[1]}
        for after in (s for s in segments if s.start == before.end):
            if any(not agree_at(values[before.name], values[after.name], corner) for values in data.values()
                   if before.name in values and after.name in values):
                jumps.add(tuple(float(c) for c in before.end))
    return tuple(sorted(jumps))


def _closed_under_parents(used: set) -> tuple:
    """Every derivative needed, each after its parent (autograd computes u_xx from u_x)."""
    needed = set()
    for derivative in used:
        while True:
            needed.add(derivative)
            if not derivative.variables:
                break
            derivative = derivative.parent
    return tuple(sorted(needed, key=lambda d: (len(d.variables), d.field, d.variables)))


def wall_position(plan: ContinuousPlan, wall: WallCondition) -> float:
    name = plan.inputs[wall.axis + 1]
    start, stop, _ = plan.extents[name]
    return start if wall.side == "low" else stop


def hard_constraint_forms(plan: ContinuousPlan, field: str):
    """(g, d) for ``field`` as SymPy expressions of the inputs, or None without Dirichlet data.

    g is the transfinite (Boolean-sum) interpolation of the Dirichlet walls and, when
    the field has an initial value, of t=0: for projectors P_k (linear blend between the
    walls of axis k, or the single wall's value) and P_t (the value at t=0),
    g = (1 - prod_k (1 - P_k)) applied to the boundary data. Where data meet (t=0 on a
    wall, a corner of two walls) the value comes from the initial value, else the first
    wall: Dirichlet walls then hold exactly for all t, the initial value wherever it
    agrees with them. d is a product of
    factors that vanish on those walls and at t=0, scaled to be O(1) inside.
    """
    symbols = {name: sympy.Symbol(name) for name in plan.inputs}
    projectors = []   # (kind, axis name or "t", [(side position, blend weight expr, restriction)])
    for axis_number, name in enumerate(plan.inputs[1:]):
        walls = [w for w in plan.walls if w.field == field and w.axis == axis_number and w.kind == "dirichlet"]
        if not walls:
            continue
        start, stop, _ = plan.extents[name]
        s = symbols[name]
        length = stop - start
        if len(walls) == 2:
            blend = {"low": (stop - s) / length, "high": (s - start) / length}
            factor = (s - start) * (stop - s) / (length / 2) ** 2
        else:
            blend = {walls[0].side: sympy.Integer(1)}
            factor = (s - start) / length if walls[0].side == "low" else (stop - s) / length
        projectors.append((name, [(w, blend[w.side]) for w in walls], factor))
    has_initial = field in plan.initial
    if not projectors and not has_initial:
        return None
    t = symbols["t"]
    terms = []
    # one group per projector: the restrictions it blends (a wall with its weight, or t=0)
    groups = [[(name, wall, weight) for wall, weight in walls] for name, walls, _ in projectors]
    if has_initial:
        groups.append([("t", None, sympy.Integer(1))])
    for size in range(1, len(groups) + 1):
        for subset in itertools.combinations(groups, size):
            for picks in itertools.product(*subset):
                weight = sympy.Mul(*[w for _, _, w in picks])
                value = _restricted_data(plan, field, picks)
                terms.append((-1) ** (size + 1) * weight * value)
    g = sympy.Add(*terms)
    d = sympy.Mul(*[factor for _, _, factor in projectors])
    if has_initial:
        d = d * t
    return g, d


def _restricted_data(plan: ContinuousPlan, field: str, picks) -> sympy.Expr:
    """The field's value where every picked restriction holds (walls, t=0): the initial value
    if t=0 is picked, else the first picked wall's condition."""
    symbols = {name: sympy.Symbol(name) for name in plan.inputs}
    positions = {}
    wall = None
    for name, w, _ in picks:
        if name == "t":
            positions["t"] = 0
        else:
            positions[name] = wall_position(plan, w)
            wall = wall or w
    # at t=0 the initial value is the data, also on a wall: then the wall condition holds
    # exactly for every t even where the initial value disagrees with it at t=0 (the initial
    # value is then met up to that disagreement, blended linearly into the domain)
    source = plan.initial[field] if "t" in positions else wall.value
    return sympy.sympify(source).xreplace({symbols[k]: v for k, v in positions.items()})


__all__ = ["ContinuousPlan", "FieldDerivative", "continuous_plan", "hard_constraint_forms", "geometry_constraint_forms",
           "dirichlet_jumps",
           "wall_position", "t"]
