"""The model-script vocabulary: ``Model``, ``Dt``, ``laplace``, ``grad``, ``div``.

    >>> from sympy import Eq
    >>> model = Model("heat", Grid(x=(0.0, 1.0, 65)))
    >>> u = model.fields("u")
    >>> D = model.params(D=0.1)
    >>> model.equations(Eq(Dt(u), D * laplace(u)))
    >>> u, model.equation_list[0].describe()
    (u(t, x), 'Dt(u) = D*Derivative(u(t, x), (x, 2))')

A ``Model`` only records declarations (plain SymPy objects plus where in the
script each was made); :func:`symsim.lowering.lower_to_stencils` checks them as a
whole and discretizes them.
"""

from __future__ import annotations

import dataclasses

import os
import sys
from dataclasses import dataclass, field as dataclass_field

import numpy as np
import sympy
from sympy.core.function import AppliedUndef

from .errors import (BoundaryConditionError, ModelDefinitionError,
                     UnknownSymbolError, UnsupportedOperatorError)
from .grid import Grid, check_identifier

#: the time symbol every field depends on first: u(t, x, y)
t = sympy.Symbol("t")

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
# shipped example scripts live inside the installed package but are user code
_EXAMPLES_DIR = os.path.join(_PACKAGE_DIR, "examples")

RUN_DEFAULT_KEYS = ("t_end", "dt", "method", "saves", "space_order", "rtol", "atol", "linear_solver")


def caller_location() -> str:
    """'file.py:LINE' of the first stack frame outside symsim (the user's script line)."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = os.path.abspath(frame.f_code.co_filename)
        if not filename.startswith(_PACKAGE_DIR + os.sep) or filename.startswith(_EXAMPLES_DIR + os.sep):
            break
        frame = frame.f_back
    if frame is None:
        return "<unknown>"
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


def is_field(expr) -> bool:
    """True for an applied field u(t, ...) as created by ``Model.fields``."""
    return isinstance(expr, AppliedUndef) and len(expr.args) >= 1 and expr.args[0] == t


def Dt(field, order: int = 1) -> sympy.Derivative:
    """Time derivative of a field: ``Dt(u)`` is du/dt, ``Dt(u, 2)`` is d2u/dt2."""
    if not is_field(field):
        raise ModelDefinitionError(f"Dt() takes a model field such as u, got {field}")
    if order not in (1, 2):
        raise UnsupportedOperatorError(f"Dt({field}, {order}): only first and second time derivatives are supported")
    return sympy.Derivative(field, (t, order))


def _spatial_coords(expr) -> tuple[sympy.Symbol, ...]:
    fields = [f for f in sympy.sympify(expr).atoms(AppliedUndef) if is_field(f)]
    coordinate_sets = {f.args[1:] for f in fields}
    if not fields or coordinate_sets == {()}:
        raise ModelDefinitionError(f"spatial operator applied to {expr}, which contains no field on a grid")
    if len(coordinate_sets) > 1:
        raise ModelDefinitionError(f"fields in {expr} live on different coordinates: {coordinate_sets}")
    return coordinate_sets.pop()


def laplace(expr) -> sympy.Expr:
    """Sum of second derivatives along every grid axis: laplace(u) = u_xx + u_yy (+ u_zz)."""
    return sympy.Add(*[sympy.diff(expr, c, 2) for c in _spatial_coords(expr)])


def grad(expr) -> sympy.ImmutableMatrix:
    """Column vector of first derivatives along every grid axis."""
    return sympy.ImmutableMatrix([sympy.diff(expr, c) for c in _spatial_coords(expr)])


def div(vector) -> sympy.Expr:
    """Divergence of a vector with one component per grid axis: div(D * grad(u))."""
    components = list(vector)
    coords = _spatial_coords(sympy.Add(*components))
    if len(components) != len(coords):
        raise ModelDefinitionError(f"div() needs {len(coords)} components (one per axis), got {len(components)}")
    return sympy.Add(*[sympy.diff(c, x) for c, x in zip(components, coords)])


@dataclass
class Equation:
    """``Dt(field, order) = rhs``, declared at ``origin`` (file:line)."""

    field: str
    order: int
    rhs: sympy.Expr
    origin: str
    source: sympy.Eq

    def describe(self) -> str:
        lhs = f"Dt({self.field})" if self.order == 1 else f"Dt({self.field}, 2)"
        return f"{lhs} = {self.rhs}"


@dataclass
class ImexPart:
    """The implicit side of ``field``'s right-hand side under ``--method imex-ark`` (``model.imex_split``)."""

    field: str
    rhs: sympy.Expr
    origin: str

    def describe(self) -> str:
        return f"implicit part of Dt({self.field}): {self.rhs}"


@dataclass
class WallDeclaration:
    """A boundary condition on one wall: ``kind`` is 'dirichlet' or 'neumann'."""

    field: str
    axis: str
    side: str
    kind: str
    value: sympy.Expr
    origin: str


@dataclass
class SteadyEquation:
    """An equation without a time derivative on its left, ``Eq(lhs, rhs)``: the residual ``lhs - rhs``
    vanishes at every point (a steady balance, or a constraint such as ``div(u) = 0``)."""

    label: str             # eq1, eq2, ... in declaration order among all equations
    residual: sympy.Expr
    origin: str
    source: sympy.Eq

    def describe(self) -> str:
        return f"{self.source.lhs} = {self.source.rhs}"


@dataclass
class BoundaryCondition:
    """A condition on a named boundary of a geometry: 'dirichlet' (the value) or 'neumann' (the derivative
    along the domain's outward normal)."""

    field: str
    boundary: str
    kind: str
    value: sympy.Expr
    origin: str


@dataclass
class Pin:
    """The value of a field at one point: fixes the constant a field has only up to (pressure)."""

    field: str
    value: sympy.Expr
    point: dict            # axis name -> coordinate
    origin: str


@dataclass
class InitialValue:
    field: str
    value: object          # SymPy expression, number or ndarray of the grid's shape
    origin: str
    velocity: bool = False  # True for Dt(u) at t=0 of a second-order-in-time field


@dataclass
class Model:
    """A model under construction: fields, parameters, equations and conditions."""

    name: str
    grid: Grid | None = None
    #: a 2-D domain with named boundaries (symsim.geometry) for physics-informed networks; no grid then
    geometry: object = None
    field_functions: dict = dataclass_field(default_factory=dict)   # name -> applied u(t, ...)
    parameters: dict = dataclass_field(default_factory=dict)        # name -> (Symbol, default)
    equation_list: list = dataclass_field(default_factory=list)
    initial_values: list = dataclass_field(default_factory=list)
    walls: list = dataclass_field(default_factory=list)
    run_defaults: dict = dataclass_field(default_factory=dict)
    steady_equations: list = dataclass_field(default_factory=list)
    boundary_conditions: list = dataclass_field(default_factory=list)   # on named boundaries of the geometry
    pins: list = dataclass_field(default_factory=list)
    exact_solution: dict = dataclass_field(default_factory=dict)        # field -> expression of t and coordinates
    #: field -> ImexPart: the terms --method imex-ark treats implicitly (model.imex_split); empty: automatic
    imex_parts: dict = dataclass_field(default_factory=dict)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.replace("-", "_").isidentifier():
            raise ModelDefinitionError(f"model name {self.name!r} must be an identifier-like string")
        if self.grid is not None and not isinstance(self.grid, Grid):
            raise ModelDefinitionError(f"Model {self.name!r}: grid must be a symsim.Grid, got {type(self.grid).__name__}")
        if self.geometry is not None:
            from .geometry import Domain, Rectangle
            if isinstance(self.geometry, Rectangle):
                self.geometry = Domain(self.geometry)
            if not isinstance(self.geometry, Domain):
                raise ModelDefinitionError(f"Model {self.name!r}: geometry must be a symsim Rectangle or Domain "
                                           f"(a rectangle minus discs and rectangles), got {type(self.geometry).__name__}")
            if self.grid is not None:
                raise ModelDefinitionError(f"Model {self.name!r}: give a grid (for the simulator) or a geometry "
                                           "(for physics-informed networks), not both")
            for axis in self.geometry.axis_names:
                check_identifier(axis, "geometry axis")

    @property
    def steady(self) -> bool:
        """No equation has a time derivative: the fields do not depend on t."""
        return bool(self.steady_equations) and not self.equation_list

    # -- declarations -------------------------------------------------------
    @property
    def t(self) -> sympy.Symbol:
        return t

    @property
    def coords(self) -> tuple[sympy.Symbol, ...]:
        if self.geometry is not None:
            return tuple(sympy.Symbol(name) for name in self.geometry.axis_names)
        return self.grid.coords if self.grid is not None else ()

    def fields(self, names: str):
        """Declare fields: ``u, v = model.fields("u v")``; one name returns one field."""
        new = []
        for name in names.replace(",", " ").split():
            self._check_new_name(name, "field")
            applied = sympy.Function(name)(t, *self.coords)
            self.field_functions[name] = applied
            new.append(applied)
        if not new:
            raise ModelDefinitionError("model.fields() needs at least one name")
        return new[0] if len(new) == 1 else tuple(new)

    def params(self, **defaults):
        """Declare parameters with default values: ``D, k = model.params(D=0.1, k=2.0)``."""
        new = []
        for name, value in defaults.items():
            self._check_new_name(name, "parameter")
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise ModelDefinitionError(f"parameter {name!r} needs a numeric default, got {value!r}") from None
            symbol = sympy.Symbol(name)
            self.parameters[name] = (symbol, value)
            new.append(symbol)
        if not new:
            raise ModelDefinitionError("model.params() needs at least one NAME=default")
        return new[0] if len(new) == 1 else tuple(new)

    def equations(self, *equations):
        """Declare evolution equations ``Eq(Dt(u), rhs)`` or ``Eq(Dt(u, 2), rhs)``, and steady equations or
        constraints ``Eq(lhs, rhs)`` without a time derivative on the left (``Eq(div(...), 0)``): those
        only physics-informed networks solve (the simulator integrates in time)."""
        origin = caller_location()
        for eq in equations:
            if isinstance(eq, sympy.logic.boolalg.BooleanAtom):
                raise ModelDefinitionError(
                    f"{origin}: an equation passed to model.equations() evaluated to {eq}; SymPy compares "
                    "identical sides such as Eq(Dt(u), u.diff(t)) instead of keeping an equation")
            if not isinstance(eq, sympy.Eq):
                raise ModelDefinitionError(f"{origin}: model.equations() takes Eq(Dt(u), rhs) objects, got {eq!r}")
            lhs = eq.lhs
            if not (isinstance(lhs, sympy.Derivative) and is_field(lhs.expr)
                    and lhs.variables and set(lhs.variables) == {t}):
                if isinstance(lhs, sympy.Derivative) and t in lhs.variables or self.geometry is None:
                    raise ModelDefinitionError(
                        f"{origin}: the left side of {eq} must be Dt(field) or Dt(field, 2)"
                        + ("" if self.geometry is not None else " (an equation without a time derivative, steady "
                           "or a constraint, needs a model on a geometry for symsim pinn: "
                           "Model(name, geometry=Rectangle(x=(..), y=(..))))"))
                residual = sympy.sympify(lhs - eq.rhs)
                if not any(is_field(f) for f in residual.atoms(AppliedUndef)):
                    raise ModelDefinitionError(f"{origin}: the equation {eq} involves no field of the model")
                if any(t in d.variables for d in residual.atoms(sympy.Derivative)):
                    raise ModelDefinitionError(f"{origin}: {eq}: a time derivative belongs alone on the left side, "
                                               "as Eq(Dt(u), rhs)")
                label = f"eq{len(self.equation_list) + len(self.steady_equations) + 1}"
                self.steady_equations.append(SteadyEquation(label, residual, origin, eq))
                continue
            name = lhs.expr.func.__name__
            if name not in self.field_functions:
                raise UnknownSymbolError(f"{origin}: {eq} is for {name!r}, which is not a field of this model")
            order = len(lhs.variables)
            if order > 2:
                raise UnsupportedOperatorError(f"{origin}: {eq}: time derivatives above second order are not supported")
            if any(e.field == name for e in self.equation_list):
                raise ModelDefinitionError(f"{origin}: field {name!r} already has an equation")
            self.equation_list.append(Equation(name, order, sympy.sympify(eq.rhs), origin, eq))

    def initial(self, values=None, /, **by_name):
        """Initial values: ``model.initial(u=expr)`` or ``model.initial({u: expr, Dt(u): expr})``.

        A value is a SymPy expression of the coordinates (and parameters), a number,
        or an array of the grid's shape.
        """
        origin = caller_location()
        items = list((values or {}).items()) + list(by_name.items())
        for key, value in items:
            velocity = False
            if isinstance(key, str):
                name = key
            elif is_field(key):
                name = key.func.__name__
            elif isinstance(key, sympy.Derivative) and is_field(key.expr) and key.variables == (t,):
                name, velocity = key.expr.func.__name__, True
            else:
                raise ModelDefinitionError(f"{origin}: initial condition key {key!r} is not a field or Dt(field)")
            if name not in self.field_functions:
                raise ModelDefinitionError(
                    f"{origin}: initial condition for unknown field {name!r} (fields: {list(self.field_functions)})")
            if not isinstance(value, np.ndarray):
                try:
                    value = sympy.sympify(value)
                except (sympy.SympifyError, TypeError):
                    raise ModelDefinitionError(
                        f"{origin}: initial value of {name!r} must be an expression, number or array, got {value!r}"
                    ) from None
            self.initial_values = [iv for iv in self.initial_values
                                   if not (iv.field == name and iv.velocity == velocity)]
            self.initial_values.append(InitialValue(name, value, origin, velocity))

    def dirichlet(self, field, value=0, on=None, **where):
        """Prescribe the value of ``field`` on a wall: ``model.dirichlet(u, x=0.0, value=g)``; on a model with
        a geometry, on named boundaries: ``model.dirichlet(u, g, on="inlet")`` (``on`` a name, names separated
        by spaces, or a sequence of names)."""
        self._condition(field, "dirichlet", value, on, where, caller_location())

    def neumann(self, field, value=0, on=None, **where):
        """Prescribe du/d(axis) of ``field`` on a wall (derivative along the axis, not the outward normal);
        on named boundaries of a geometry (``on=...``): the derivative along the outward normal."""
        self._condition(field, "neumann", value, on, where, caller_location())

    def pin(self, field, value=0, **point):
        """The value of ``field`` at one point of the geometry: ``model.pin(p, 0.0, x=0.0, y=0.0)`` fixes the
        constant that a pressure has only up to (held exactly by a physics-informed network)."""
        origin = caller_location()
        name = self._field_name(field, "pin", origin)
        if self.geometry is None:
            raise BoundaryConditionError(f"{origin}: pin({name}): only a model with a geometry takes pins")
        axes = self.geometry.axis_names
        if set(point) != set(axes):
            raise BoundaryConditionError(f"{origin}: pin({name}, ...) needs the point as {', '.join(f'{a}=...' for a in axes)}")
        location = np.array([[float(point[a]) for a in axes]])
        if not self.geometry.contains(location, closed=True)[0]:       # a pin may sit on the boundary
            raise BoundaryConditionError(f"{origin}: pin({name}) at {point}: the point is outside the geometry")
        if any(p.field == name for p in self.pins):
            raise BoundaryConditionError(f"{origin}: field {name!r} is already pinned")
        self.pins.append(Pin(name, sympy.sympify(value), {a: float(point[a]) for a in axes}, origin))

    def exact(self, **solution):
        """The exact solution, where one is known (``model.exact(u=..., p=...)``): ``symsim pinn`` reports
        its error against it."""
        origin = caller_location()
        for name, value in solution.items():
            if name not in self.field_functions:
                raise ModelDefinitionError(f"{origin}: exact solution for unknown field {name!r} "
                                           f"(fields: {list(self.field_functions)})")
            self.exact_solution[name] = sympy.sympify(value)

    def imex_split(self, **implicit):
        """The terms ``--method imex-ark`` treats implicitly, per field: ``model.imex_split(u=D * laplace(u))``
        (a field not named is wholly explicit). They must be linear in the fields with coefficients that do
        not change in time (the implicit stages are linear solves); the rest of each right-hand side is
        explicit. Without this, the implicit side is the whole linear, time-independent part (diffusion,
        linear decay and coupling). Other methods ignore the split."""
        origin = caller_location()
        for name, value in implicit.items():
            if name not in self.field_functions:
                raise ModelDefinitionError(f"{origin}: imex_split for unknown field {name!r} "
                                           f"(fields: {list(self.field_functions)})")
            if not any(eq.field == name and eq.order == 1 for eq in self.equation_list):
                raise ModelDefinitionError(f"{origin}: imex_split({name}=...): give {name!r} its first-order "
                                           "equation Eq(Dt(field), ...) first")
            self.imex_parts[name] = ImexPart(name, sympy.sympify(value), origin)

    def defaults(self, **run_defaults):
        """Run defaults of this script, e.g. ``model.defaults(t_end=2000.0, saves=20)``."""
        unknown = set(run_defaults) - set(RUN_DEFAULT_KEYS)
        if unknown:
            raise ModelDefinitionError(
                f"{caller_location()}: unknown run default(s) {sorted(unknown)}; allowed: {list(RUN_DEFAULT_KEYS)}")
        self.run_defaults.update(run_defaults)

    def with_points(self, **points) -> "Model":
        """The same model on a grid with other point counts (same extents and periodicity).

            >>> from symsim import load_model
            >>> small = load_model("gray_scott").with_points(x=32, y=32)
            >>> load_model("gray_scott").grid.shape, small.grid.shape
            ((256, 256), (32, 32))

        Array initial values are resampled at the nearest old grid point.
        """
        if self.grid is None:
            raise ModelDefinitionError(f"model {self.name!r} has no grid to change")
        names = [a.name for a in self.grid.axes]
        unknown = sorted(set(points) - set(names))
        if unknown:
            raise ModelDefinitionError(f"with_points: the grid has no axis {unknown[0]!r} (axes: {names})")
        grid = Grid(periodic=tuple(a.name for a in self.grid.axes if a.periodic),
                    **{a.name: (a.start, a.stop, points.get(a.name, a.points)) for a in self.grid.axes})
        initial = [InitialValue(iv.field, _resample(iv.value, self.grid, grid), iv.origin, iv.velocity)
                   for iv in self.initial_values]
        return dataclasses.replace(self, grid=grid, field_functions=dict(self.field_functions),
                                   parameters=dict(self.parameters), equation_list=list(self.equation_list),
                                   initial_values=initial, walls=list(self.walls),
                                   run_defaults=dict(self.run_defaults), imex_parts=dict(self.imex_parts))

    # -- helpers ------------------------------------------------------------
    def _check_new_name(self, name: str, what: str) -> None:
        check_identifier(name, what)
        for kind, names in (("a field", self.field_functions), ("a parameter", self.parameters),
                            ("a grid axis", [s.name for s in self.coords])):
            if name in names:
                raise ModelDefinitionError(f"{what} name {name!r} is already used as {kind} of model {self.name!r}")

    def _field_name(self, field, what: str, origin: str) -> str:
        if not is_field(field) or field.func.__name__ not in self.field_functions:
            raise BoundaryConditionError(f"{origin}: {what}() needs a field of this model, got {field}")
        return field.func.__name__

    def _condition(self, field, kind, value, on, where, origin):
        if self.geometry is None:
            if on is not None:
                raise BoundaryConditionError(f"{origin}: {kind}(..., on={on!r}): named boundaries belong to a "
                                             "geometry (Model(name, geometry=Rectangle(...) - Disc(...)))")
            self._wall(field, kind, value, where, origin)
            return
        name = self._field_name(field, kind, origin)
        if where or on is None:
            raise BoundaryConditionError(f"{origin}: {kind}({name}, ...) on a geometry names its boundaries: "
                                         f"on=... of {', '.join(self.geometry.boundary_names)}")
        names = on.split() if isinstance(on, str) else list(on)
        for boundary in names:
            if boundary not in self.geometry.boundary_names:
                raise BoundaryConditionError(f"{origin}: {kind}({name}, on={boundary!r}): the geometry has no boundary "
                                             f"{boundary!r} (boundaries: {', '.join(self.geometry.boundary_names)})")
            if any(c.field == name and c.boundary == boundary for c in self.boundary_conditions):
                raise BoundaryConditionError(f"{origin}: field {name!r} already has a condition on {boundary!r}")
            self.boundary_conditions.append(BoundaryCondition(name, boundary, kind, sympy.sympify(value), origin))

    def _wall(self, field, kind, value, where, origin):
        name = self._field_name(field, kind, origin)
        if self.grid is None:
            raise BoundaryConditionError(f"{origin}: {kind}({name}) on a model without a grid")
        if len(where) != 1:
            raise BoundaryConditionError(
                f"{origin}: {kind}({name}, ...) needs exactly one wall position such as x=0.0, got {where}")
        (axis_name, position), = where.items()
        axis = self.grid.axis(axis_name) if axis_name in [a.name for a in self.grid.axes] else None
        if axis is None:
            raise BoundaryConditionError(
                f"{origin}: {kind}({name}, {axis_name}=...): the grid has no axis {axis_name!r}")
        if axis.periodic:
            raise BoundaryConditionError(
                f"{origin}: {kind}({name}, {axis_name}={position}): axis {axis_name!r} is periodic and has no walls")
        side = axis.side_at(float(position))
        if side is None:
            raise BoundaryConditionError(
                f"{origin}: {kind}({name}, {axis_name}={position}): not a wall; "
                f"axis {axis_name!r} has walls at {axis.start} and {axis.stop}")
        if any(w.field == name and w.axis == axis_name and w.side == side for w in self.walls):
            raise BoundaryConditionError(f"{origin}: field {name!r} already has a condition at {axis_name}={position}")
        self.walls.append(WallDeclaration(name, axis_name, side, kind, sympy.sympify(value), origin))


def _resample(value, old: Grid, new: Grid):
    """An initial value on ``new``: expressions unchanged, arrays sampled at the nearest old point."""
    if not isinstance(value, np.ndarray) or value.shape != old.shape:
        return value
    index = []
    for a, b in zip(old.axes, new.axes):
        nearest = np.rint((b.coordinates - a.start) / a.spacing).astype(int)
        index.append(nearest % a.points if a.periodic else np.clip(nearest, 0, a.points - 1))
    return value[np.ix_(*index)]
