"""Method-of-lines lowering: a declared :class:`Model` becomes a :class:`LoweredModel`.

This is the one place where discretization happens. Running example::

    Eq(Dt(u), D * u.diff(x, 2))   --space-order 2-->   D*(u[x-1] - 2*u[x] + u[x+1])/h_x**2

Steps: check the declarations as a whole, reduce second-order-in-time equations
to first order (``Dt(u, 2) = f`` becomes ``Dt(u) = u_t, Dt(u_t) = f``), replace
every spatial derivative of a field by its centered Fornberg stencil, replace
every remaining field by its access at offset zero, then derive the halo widths
and the wall conditions (boundary values plus ghost extrapolation weights).
"""

from __future__ import annotations

import numpy as np
import sympy
from sympy.core.function import AppliedUndef

from .errors import (BoundaryConditionError, MissingEquationError, ModelDefinitionError,
                     OptionError, UnknownSymbolError, UnsupportedOperatorError)
from .fd_weights import centered_half_width, centered_stencil, extrapolation_weights, fornberg_weights
from .ir import LoweredModel, StencilAccess, WallCondition, stencil_accesses
from .model import Model, is_field, t

#: functions the backends can render (NumPy, Numba and PyTorch all have them)
SUPPORTED_FUNCTIONS = (
    sympy.exp, sympy.log, sympy.sin, sympy.cos, sympy.tan, sympy.asin, sympy.acos, sympy.atan,
    sympy.atan2, sympy.sinh, sympy.cosh, sympy.tanh, sympy.asinh, sympy.acosh, sympy.atanh,
    sympy.Abs, sympy.sign, sympy.Min, sympy.Max, sympy.Piecewise, sympy.floor, sympy.ceiling,
)
_SUPPORTED_NODES = (sympy.Add, sympy.Mul, sympy.Pow, sympy.Symbol, sympy.Number, sympy.NumberSymbol,
                    sympy.core.relational.Relational, sympy.logic.boolalg.BooleanAtom,
                    sympy.And, sympy.Or, sympy.Not, sympy.functions.elementary.piecewise.ExprCondPair)

SPACE_ORDERS = (2, 4, 6, 8)


def lower_to_stencils(model: Model, space_order: int = 2) -> LoweredModel:
    """Discretize ``model`` in space with centered stencils of accuracy ``space_order``."""
    if space_order not in SPACE_ORDERS:
        raise OptionError(f"space order must be one of {SPACE_ORDERS}, got {space_order!r}")
    if not isinstance(model, Model):
        raise ModelDefinitionError(f"expected a symsim.Model, got {type(model).__name__}")
    _check_declarations(model)
    axes = model.grid.axes if model.grid is not None else ()
    state_fields, velocity_of = _first_order_fields(model)

    known = _known_symbols(model)
    fields = dict(model.field_functions)
    fields.update({v: sympy.Function(v)(t, *model.coords) for v in velocity_of.values()})
    rhs, derivative_orders = {}, {}
    for eq in model.equation_list:
        expr = _substitute_velocities(eq.rhs, velocity_of, eq)
        _check_symbols(expr, fields, known, f"{eq.origin}: equation {eq.describe()}")
        expr, orders = _discretize(expr, model, axes, space_order, eq)
        # a step function as the Piecewise every backend prints (H(0) = 1/2, SymPy's convention)
        expr = expr.replace(sympy.Heaviside, lambda *args: sympy.Heaviside(*args).rewrite(sympy.Piecewise))
        for key, m in orders.items():
            derivative_orders[key] = max(derivative_orders.get(key, 0), m)
        _check_operators(expr, f"{eq.origin}: equation {eq.describe()}")
        if eq.order == 2:
            velocity = velocity_of[eq.field]
            rhs[eq.field] = StencilAccess.here(velocity, tuple(a.name for a in axes))
            rhs[velocity] = expr
        else:
            rhs[eq.field] = expr

    imex = None
    if model.imex_parts:
        imex = {}
        for part in model.imex_parts.values():
            expr = _substitute_velocities(part.rhs, velocity_of, part)
            _check_symbols(expr, fields, known, f"{part.origin}: {part.describe()}")
            expr, orders = _discretize(expr, model, axes, space_order, part)
            expr = expr.replace(sympy.Heaviside, lambda *args: sympy.Heaviside(*args).rewrite(sympy.Piecewise))
            beyond = [key for key, m in orders.items() if m > derivative_orders.get(key, 0)]
            if beyond:
                name, axis = beyond[0]
                raise ModelDefinitionError(
                    f"{part.origin}: {part.describe()}: it takes a derivative of {name!r} along {axes[axis].name} of "
                    "higher order than the equations do; the implicit part must be terms of the equations")
            imex[part.field] = expr

    halo = tuple(max([centered_half_width(m, space_order)
                      for (f, a), m in derivative_orders.items() if a == k] or [0])
                 for k in range(len(axes)))
    walls = _wall_conditions(model, axes, halo, space_order, derivative_orders, rhs, known)
    walls += _velocity_wall_conditions(walls, velocity_of)
    _check_grid_size(model, axes, halo, walls)
    return LoweredModel(
        name=model.name,
        axes=tuple(axes),
        halo=halo,
        space_order=space_order,
        parameters={name: value for name, (_, value) in model.parameters.items()},
        fields=tuple(state_fields),
        rhs={f: rhs[f] for f in state_fields},
        walls=walls,
        initial=_initial_values(model, velocity_of, known),
        equations={eq.field: eq.describe() for eq in model.equation_list},
        user_fields=tuple(model.field_functions),
        imex=imex,
    )


# -- checks of the declarations as a whole -----------------------------------------

def _check_declarations(model: Model) -> None:
    check_time_dependent_on_grid(model)
    if not model.field_functions:
        raise MissingEquationError(f"model {model.name!r} declares no fields (use model.fields('u v'))")
    _check_equations_and_initial_values(model)


def check_time_dependent_on_grid(model: Model) -> None:
    """What the simulator needs before anything else: equations in time, on a grid (not a geometry)."""
    if model.steady_equations:
        first = model.steady_equations[0]
        raise ModelDefinitionError(
            f"{first.origin}: model {model.name!r} has equations without a time derivative (steady, or "
            f"constraints): the simulator integrates Eq(Dt(u), ...) in time; train a physics-informed "
            f"network on it instead (symsim pinn)")
    if model.geometry is not None:
        raise ModelDefinitionError(
            f"model {model.name!r} is posed on a geometry (a rectangle with holes), which the simulator's grids "
            "cannot discretize; train a physics-informed network on it instead (symsim pinn)")


def _check_equations_and_initial_values(model: Model) -> None:
    with_equation = {eq.field for eq in model.equation_list}
    for name in model.field_functions:
        if name not in with_equation:
            raise MissingEquationError(f"field {name!r} has no equation (add Eq(Dt({name}), ...) to model.equations)")
    given = {(iv.field, iv.velocity) for iv in model.initial_values}
    for eq in model.equation_list:
        if (eq.field, False) not in given:
            raise MissingEquationError(f"field {eq.field!r} has no initial condition (model.initial({eq.field}=...))")
        if eq.order == 2 and (eq.field, True) not in given:
            raise MissingEquationError(
                f"field {eq.field!r} is second order in time and needs an initial velocity: "
                f"model.initial({{Dt({eq.field}): ...}})")
        if eq.order == 1 and (eq.field, True) in given:
            raise ModelDefinitionError(
                f"field {eq.field!r} is first order in time; an initial value for Dt({eq.field}) is not used")


def _known_symbols(model: Model) -> dict:
    known = {t.name: t}
    known.update({name: symbol for name, (symbol, _) in model.parameters.items()})
    known.update({s.name: s for s in model.coords})
    return known


def _check_symbols(expr, fields: dict, known: dict, where: str) -> None:
    for symbol in sorted(expr.free_symbols, key=str):
        if isinstance(symbol, StencilAccess):
            continue
        if known.get(symbol.name) != symbol:
            hint = ("declare it with model.params(" + symbol.name + "=...)"
                    if symbol.name not in known else "use the symbol the model returned, not a new one")
            raise UnknownSymbolError(f"{where}: unknown symbol {symbol.name!r}; {hint}")
    for function in expr.atoms(AppliedUndef):
        name = function.func.__name__
        if name not in fields:
            raise UnknownSymbolError(f"{where}: unknown function {function}; fields are {list(fields)}")
        if function != fields[name]:
            raise UnsupportedOperatorError(
                f"{where}: field {name!r} must be used at its own point as {fields[name]}, got {function}")


def _check_operators(expr, where: str) -> None:
    for node in sympy.preorder_traversal(expr):
        if isinstance(node, _SUPPORTED_NODES) or isinstance(node, SUPPORTED_FUNCTIONS):
            continue
        if isinstance(node, sympy.Derivative):
            raise UnsupportedOperatorError(f"{where}: cannot discretize {node}")
        raise UnsupportedOperatorError(f"{where}: unsupported operator {type(node).__name__} in {node}")


# -- second-order time derivatives -------------------------------------------------

def _first_order_fields(model: Model):
    """State fields in order, and the velocity field name of each second-order field."""
    state, velocity_of = [], {}
    order = {eq.field: eq.order for eq in model.equation_list}
    for name in model.field_functions:
        state.append(name)
        if order[name] == 2:
            velocity = f"{name}_t"
            if velocity in model.field_functions or velocity in model.parameters:
                raise ModelDefinitionError(
                    f"field {name!r} is second order in time and needs the name {velocity!r} for its velocity, "
                    "which the model already uses")
            velocity_of[name] = velocity
            state.append(velocity)
    return state, velocity_of


def _substitute_velocities(expr, velocity_of: dict, eq):
    """Replace Dt(u) of a second-order field u by its velocity field u_t(t, ...)."""
    def velocity_field(field):
        return sympy.Function(velocity_of[field.func.__name__])(*field.args)

    replacements = {}
    for derivative in expr.atoms(sympy.Derivative):
        time_count = dict(derivative.variable_count).get(t, 0)
        if time_count == 0:
            continue
        field = derivative.expr
        if not (is_field(field) and time_count == 1 and field.func.__name__ in velocity_of):
            raise UnsupportedOperatorError(
                f"{eq.origin}: equation {eq.describe()}: time derivative {derivative} on the right-hand side "
                "(only Dt(u) of a second-order-in-time field u may appear there)")
        rest = [(v, c) for v, c in derivative.variable_count if v != t]
        replacements[derivative] = sympy.Derivative(velocity_field(field), *rest) if rest else velocity_field(field)
    return expr.xreplace(replacements) if replacements else expr


# -- spatial discretization --------------------------------------------------------

def _discretize(expr, model: Model, axes, space_order: int, eq):
    """Replace derivatives and fields by stencil accesses; return (expr, {(field, axis): max order})."""
    axis_index = {a.symbol: k for k, a in enumerate(axes)}
    axis_names = tuple(a.name for a in axes)
    zero = (0,) * len(axes)
    orders = {}

    # derivatives of composite expressions (product rule etc.) first
    while True:
        composite = [d for d in expr.atoms(sympy.Derivative) if not is_field(d.expr)]
        if not composite:
            break
        expr = expr.xreplace({d: d.doit() for d in composite})

    replacements = {}
    for derivative in expr.atoms(sympy.Derivative):
        field = derivative.expr
        name = field.func.__name__
        stencil = {zero: sympy.Integer(1)}
        scale = sympy.Integer(1)
        for variable, count in derivative.variable_count:
            count = int(count)
            if variable not in axis_index:
                raise UnsupportedOperatorError(
                    f"{eq.origin}: equation {eq.describe()}: derivative with respect to {variable}, "
                    f"which is not a grid coordinate")
            k = axis_index[variable]
            orders[(name, k)] = max(orders.get((name, k), 0), count)
            one_d = centered_stencil(count, space_order)
            stencil = {tuple(o + (s if j == k else 0) for j, o in enumerate(offsets)): w * v
                       for offsets, w in stencil.items() for s, v in one_d.items()}
            scale *= axes[k].spacing_symbol ** count
        combination = sympy.Add(*[w * StencilAccess(name, offsets, axis_names)
                                  for offsets, w in sorted(stencil.items()) if w != 0])
        replacements[derivative] = combination / scale
    expr = expr.xreplace(replacements)
    fields = {f: StencilAccess.here(f.func.__name__, axis_names) for f in expr.atoms(AppliedUndef) if is_field(f)}
    return expr.xreplace(fields), orders


# -- walls -------------------------------------------------------------------------

def _wall_conditions(model: Model, axes, halo, space_order, derivative_orders, rhs, known):
    shifted = {}   # (field, axis) -> True when some stencil reaches off the point along that axis
    for expr in rhs.values():
        for access in stencil_accesses(expr):
            for k, offset in enumerate(access.offsets):
                if offset:
                    shifted[(access.field, k)] = True
    by_key = {(w.field, w.axis, w.side): w for w in model.walls}
    walls = []
    for k, axis in enumerate(axes):
        if axis.periodic:
            continue
        for name in model.field_functions:
            for side in ("low", "high"):
                declared = by_key.get((name, axis.name, side))
                position = axis.start if side == "low" else axis.stop
                if declared is None:
                    if shifted.get((name, k)):
                        raise BoundaryConditionError(
                            f"field {name!r} needs a boundary condition on the wall {axis.name}={position} "
                            f"(model.dirichlet({name}, {axis.name}={position}, value=...) or model.neumann(...))")
                    continue
                value = declared.value.subs(axis.symbol, position)
                where = f"{declared.origin}: {declared.kind} condition of {name!r} at {axis.name}={position}"
                if any(f.func.__name__ in model.field_functions for f in value.atoms(AppliedUndef)):
                    raise UnsupportedOperatorError(f"{where}: a boundary value may not depend on fields")
                _check_symbols(value, model.field_functions, known, where)
                _check_operators(value, where)
                inward = 1 if side == "low" else -1
                points = ghost_extrapolation_points(space_order, derivative_orders.get((name, k), 0))
                ghosts = tuple(tuple(extrapolation_weights(-layer, range(points)))
                               for layer in range(1, halo[k] + 1))
                neumann = ()
                if declared.kind == "neumann":
                    neumann = tuple(fornberg_weights(1, 0, [inward * j for j in range(space_order + 1)]))
                walls.append(WallCondition(name, k, side, declared.kind, value, neumann, ghosts, declared.origin))
    return tuple(walls)


#: ghost extrapolation points for fields with only first derivatives along an axis.
#: Extrapolating through space_order + 1 points makes the closure of u_t = c u_x
#: unstable from order 6 on (largest Re(eigenvalue)*h of the semi-discrete
#: operator, 64 points: +0.20 at order 6, +0.42 at order 8); these counts are the
#: largest that keep it <= 0 with conditions at both walls. The boundary closure
#: is then of order points - 1, which for hyperbolic problems costs at most one
#: order globally (order 6 and 8 observe about 5).
FIRST_DERIVATIVE_GHOST_POINTS = {2: 3, 4: 5, 6: 5, 8: 5}


def ghost_extrapolation_points(space_order: int, derivative_order: int) -> int:
    """Points through which ghost layers are extrapolated next to a wall.

    With second (or higher) derivatives, space_order + derivative_order points make
    the ghost error O(h**(p + m)), i.e. O(h**p) after division by h**m: the design
    order next to the wall, and stable for diffusion at every order.
    """
    if derivative_order <= 1:
        return FIRST_DERIVATIVE_GHOST_POINTS[space_order]
    return space_order + derivative_order


def _velocity_wall_conditions(walls, velocity_of: dict) -> tuple:
    """A second-order field's velocity obeys the time derivative of the field's wall condition.

    Without this, u_t on a wall node would drift with extrapolated values (it never
    feeds back into u, but it is part of the saved result).
    """
    return tuple(WallCondition(velocity_of[w.field], w.axis, w.side, w.kind, sympy.diff(w.value, t),
                               w.neumann_weights, (), w.origin)
                 for w in walls if w.field in velocity_of)


def _check_grid_size(model: Model, axes, halo, walls) -> None:
    for k, axis in enumerate(axes):
        needed = 2 * halo[k] + 1
        for wall in walls:
            if wall.axis == k:
                needed = max(needed, len(wall.neumann_weights), *(len(g) for g in wall.ghost_weights or [()]))
        if axis.points < needed:
            raise ModelDefinitionError(
                f"axis {axis.name!r} has {axis.points} points; this space order needs at least {needed}")


# -- initial values ----------------------------------------------------------------

def _initial_values(model: Model, velocity_of: dict, known: dict) -> dict:
    shape = model.grid.shape if model.grid is not None else ()
    values = {}
    for iv in model.initial_values:
        target = velocity_of[iv.field] if iv.velocity else iv.field
        where = f"{iv.origin}: initial value of {'Dt(' + iv.field + ')' if iv.velocity else repr(iv.field)}"
        if isinstance(iv.value, np.ndarray):
            if iv.value.shape != shape:
                raise ModelDefinitionError(f"{where}: array of shape {iv.value.shape}, the grid is {shape}")
            if not np.isfinite(iv.value).all():
                raise ModelDefinitionError(f"{where}: array contains NaN or Inf")
            values[target] = iv.value.astype(float)
            continue
        value = iv.value.subs(t, 0)
        if any(f.func.__name__ in model.field_functions for f in value.atoms(AppliedUndef)):
            raise UnsupportedOperatorError(f"{where}: an initial value may not depend on fields")
        _check_symbols(value, model.field_functions, known, where)
        _check_operators(value, where)
        values[target] = value
    return values
