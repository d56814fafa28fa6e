"""A compiled model as an ODE system y' = f(t, y) over its evolved values, with its sparse Jacobian.

    >>> from symsim import load_model
    >>> from symsim.compiler import compile_model
    >>> compiled = compile_model(load_model("heat_1d").with_points(x=9), jacobian=True, egraph=False)
    >>> system = SemiDiscreteSystem(compiled, compiled.resolve_params())
    >>> system.size                       # 9 grid points less the two Dirichlet wall nodes
    7
    >>> J = system.jacobian(0.0, system.initial_values())
    >>> J.shape, J.nnz                    # tridiagonal: 7 + 2*6 nonzeros
    ((7, 7), 19)

An implicit method needs f and its Jacobian over the values that evolve: every grid point of
every field, less the wall nodes that a boundary condition sets. The padded state a backend works
on follows from them: wall nodes, ghost layers and periodic halos are affine in the evolved values
(the boundary pass of :mod:`symsim.codegen.loops` says how, as data), so

    J = d(rhs at the evolved points)/d(padded state) . d(padded state)/d(evolved values)

where the first factor is the model's stencil of coefficients (:mod:`symsim.jacobian`, computed at
every point by the backend's ``jacobian_coefficients``) and the second, the boundary operator, is a
constant sparse matrix. Their product has a fixed sparsity pattern, so it is built once, as a sparse
matrix that maps the coefficient array to the CSR values of J: each evaluation of the Jacobian is
one kernel call and one sparse matrix-vector product, linear in the number of nonzeros.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import sympy

from .codegen.loops import Point, boundary_index, boundary_pass
from .errors import SolverError
from .ir import StencilAccess
from .jacobian import depends_on_time, jacobian_entries


class SemiDiscreteSystem:
    """f(t, y), its sparse Jacobian and df/dt over the evolved values of a compiled model's state.

    ``compiled`` must come from ``compile_model(..., jacobian=True)``; ``params`` are resolved
    parameter values. y orders fields first, then grid points in C order (wall nodes skipped).
    """

    def __init__(self, compiled, params: dict):
        lowered = compiled.lowered
        module = compiled.module
        if not hasattr(module, "jacobian_coefficients"):
            raise SolverError(f"model {lowered.name!r} was compiled without its Jacobian; compile it with "
                              "compile_model(..., jacobian=True) for implicit methods")
        self.compiled, self.params, self.lowered = compiled, params, lowered
        self.entries = module.JACOBIAN_ENTRIES
        self.time_dependent = depends_on_time(lowered)
        fields = lowered.fields
        self._plane = math.prod(lowered.padded_shape)
        free = _evolved_mask(lowered)
        self._free = free
        flat = free.reshape(len(fields), self._plane)
        self._field_points = [np.flatnonzero(flat[k]) for k in range(len(fields))]
        self._field_start = np.cumsum([0] + [len(p) for p in self._field_points])
        self.size = int(self._field_start[-1])
        self.free_ids = np.concatenate([k * self._plane + p for k, p in enumerate(self._field_points)])
        self._state = compiled.new_state()
        self._out = np.zeros_like(self._state)
        # y's points as flat positions in the state's own (contiguous) allocation: take/put, not a mask
        index = np.nonzero(free)
        self._positions = np.ravel_multi_index(index, self._state.shape)
        self._state_flat, self._out_flat = self._state.reshape(-1), self._out.reshape(-1)
        self._coefficients = np.zeros((len(self.entries), *lowered.padded_shape))
        self._pattern, self._assembly = self._build_assembly()
        self.rhs_evaluations = self.jacobian_evaluations = 0

    # -- values ------------------------------------------------------------------------------

    def _padded(self, array: np.ndarray) -> np.ndarray:
        return self.compiled.padded(array)

    def load(self, t: float, y: np.ndarray) -> np.ndarray:
        """The padded state (an internal buffer) holding ``y``, with its boundaries applied for time t."""
        self._state_flat[self._positions] = y
        self.compiled.apply_boundaries(t, self._state, self.params)
        return self._state

    def values_of(self, state: np.ndarray) -> np.ndarray:
        """y of a padded state (a copy)."""
        if state.shape == self._state.shape:
            return np.ascontiguousarray(state).reshape(-1).take(self._positions)
        return self.compiled.padded(state)[self._free]

    def initial_values(self) -> np.ndarray:
        return self.values_of(self.compiled.initial_state(self.params))

    def f(self, t: float, y: np.ndarray) -> np.ndarray:
        """dy/dt (a new array)."""
        state = self.load(t, y)
        self.compiled.rhs(t, state, self._out, self.params)
        self.rhs_evaluations += 1
        return self._out_flat.take(self._positions)

    def time_derivative(self, t: float, y: np.ndarray, fy: np.ndarray) -> np.ndarray | None:
        """df/dt at fixed y (forward difference; ``fy`` = f(t, y)), or None when f does not depend on t."""
        if not self.time_dependent:
            return None
        delta = math.sqrt(np.finfo(float).eps) * max(1.0, abs(t))
        return (self.f(t + delta, y) - fy) / delta

    def field_layout(self) -> list[tuple]:
        """Per field, (first index in y, end index, grid shape or None): the shape when the field's values in
        y are every point of the grid in C order (no wall node taken out), as a Fourier solve needs."""
        shape = self.lowered.shape
        return [(int(self._field_start[k]), int(self._field_start[k + 1]),
                 shape if shape and len(points) == math.prod(shape) else None)
                for k, points in enumerate(self._field_points)]

    # -- the Jacobian ------------------------------------------------------------------------

    @property
    def sparsity(self):
        """The Jacobian's sparsity pattern (CSR of ones), e.g. SciPy's ``jac_sparsity``."""
        pattern = self._pattern.copy()
        pattern.data[:] = 1.0
        return pattern

    def jacobian(self, t: float, y: np.ndarray, copy: bool = False):
        """df/dy at (t, y) as a CSR matrix; the same matrix object is refilled at each call unless ``copy``."""
        state = self.load(t, y)
        self.compiled.module.jacobian_coefficients(t, state, self._coefficients, self.params)
        self._pattern.data[:] = self._assembly @ self._coefficients.reshape(-1)
        self.jacobian_evaluations += 1
        return self._pattern.copy() if copy else self._pattern

    def column_groups(self) -> list[np.ndarray]:
        """Columns of J in groups that share no row (a colouring of the column intersection graph, greedy,
        largest degree first): one f evaluation per group differences a whole group at once."""
        import networkx as nx
        pattern = self.sparsity.tocsc()
        overlap = (pattern.T @ pattern).tocoo()
        graph = nx.Graph()
        graph.add_nodes_from(range(self.size))
        graph.add_edges_from((i, j) for i, j in zip(overlap.row, overlap.col) if i < j)
        colours = nx.coloring.greedy_color(graph, strategy="largest_first")
        groups: dict = {}
        for column, colour in colours.items():
            groups.setdefault(colour, []).append(column)
        return [np.array(sorted(g)) for g in groups.values()]

    def colored_jacobian(self, t: float, y: np.ndarray, groups: list | None = None):
        """J by forward differences over column groups (:meth:`column_groups`), on J's pattern: the
        cross-check of the generated Jacobian, and what is left where it cannot be generated."""
        pattern = self.sparsity.tocsc()
        values = pattern.copy().astype(float)
        base = self.f(t, y)
        for group in groups if groups is not None else self.column_groups():
            steps = np.sqrt(np.finfo(float).eps) * np.maximum(1.0, np.abs(y[group]))
            shifted = y.copy()
            shifted[group] += steps
            difference = self.f(t, shifted) - base
            for column, step in zip(group, steps):
                start, stop = pattern.indptr[column], pattern.indptr[column + 1]
                values.data[start:stop] = difference[pattern.indices[start:stop]] / step
        return values.tocsr()

    def linear_part(self):
        """The part of the Jacobian that depends neither on the state nor on t (diffusion, linear decay,
        advection with constant speed), as a constant CSR matrix L with J's pattern: what an IMEX method
        treats implicitly, f(t, y) - L y explicitly. Evaluated once, with NumPy, from the symbolic entries.
        A model with a split of its own (``model.imex_split``) gives the Jacobian of its implicit terms instead,
        checked to be linear and constant in time."""
        from .vectorize import evaluate_on_grid, grid_axes_coordinates
        lowered = self.lowered
        entries = jacobian_entries(lowered)
        if tuple((e.row, e.access.field, e.access.offsets) for e in entries) != tuple(self.entries):
            raise SolverError(f"model {lowered.name!r}: the compiled module's Jacobian entries do not match the "
                              "model's (a stale kernel cache?); clear it with SYMSIM_CACHE_DIR or recompile")
        values = {sympy.Symbol(p): v for p, v in self.params.items()}
        values.update(lowered.spacing)
        coordinates = grid_axes_coordinates(lowered.axes)
        interior = tuple(slice(h, h + a.points) for a, h in zip(lowered.axes, lowered.halo))
        coefficients = np.zeros_like(self._coefficients)
        if lowered.imex is not None:       # the user's split (model.imex_split): its terms alone, all of them
            entries = self._imex_entries(entries)
        for k, entry in enumerate(entries):
            if entry is None:
                continue
            constant = (entry.derivative if lowered.imex is not None
                        else _constant_part(entry.derivative, lowered.time)).subs(values)
            if constant != 0:
                coefficients[(k, *interior)] = evaluate_on_grid(constant, lowered.coordinate_symbols, coordinates)
        linear = self._pattern.copy()
        linear.data[:] = self._assembly @ coefficients.reshape(-1)
        linear.eliminate_zeros()
        return linear

    def _imex_entries(self, entries) -> list:
        """Per entry of J, the Jacobian entry of the user's implicit terms (None where they have none),
        each checked to be linear in the state and independent of t."""
        lowered = self.lowered
        split = dataclasses.replace(lowered, rhs={f: lowered.imex.get(f, sympy.S.Zero) for f in lowered.fields})
        position = {(e.row, e.access.field, e.access.offsets): k for k, e in enumerate(entries)}
        chosen = [None] * len(entries)
        for entry in jacobian_entries(split):
            where = f"model {lowered.name!r}: the implicit part of Dt({entry.row}) (model.imex_split)"
            changing = [a for a in entry.derivative.free_symbols if isinstance(a, StencilAccess)]
            if changing or lowered.time in entry.derivative.free_symbols:
                raise SolverError(f"{where} is not linear with coefficients constant in time: its derivative by "
                                  f"{entry.access} is {entry.derivative}; imex-ark solves linear systems only: keep "
                                  "such terms explicit, or use --method rodas")
            key = (entry.row, entry.access.field, entry.access.offsets)
            if key not in position:
                raise SolverError(f"{where} reads {entry.access}, which the equation itself does not: the implicit "
                                  "part must be terms of the equation")
            chosen[position[key]] = entry
        return chosen

    def _build_assembly(self):
        """(J with zero values and its final pattern, the matrix from coefficient values to J's CSR values)."""
        from scipy import sparse
        lowered, plane = self.lowered, self._plane
        fields = lowered.fields
        strides = [math.prod(lowered.padded_shape[k + 1:]) for k in range(lowered.ndim)]
        boundary = boundary_operator(lowered, self.free_ids, self.size, self.params)
        rows, cols, weights, sources = [], [], [], []
        for number, (row_field, column_field, offsets) in enumerate(self.entries):
            r = fields.index(row_field)
            points = self._field_points[r]
            shift = int(np.dot(offsets, strides)) if offsets else 0
            columns = boundary[fields.index(column_field) * plane + points + shift].tocoo()
            rows.append(self._field_start[r] + columns.row)
            cols.append(columns.col)
            weights.append(columns.data)
            sources.append(number * plane + points[columns.row])
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        key = rows.astype(np.int64) * self.size + cols
        unique, position = np.unique(key, return_inverse=True)
        n = self.size
        indptr = np.concatenate([[0], np.cumsum(np.bincount(unique // n, minlength=n))])
        pattern = sparse.csr_matrix((np.zeros(len(unique)), (unique % n).astype(np.int32), indptr), shape=(n, n))
        assembly = sparse.csr_matrix((np.concatenate(weights), (position, np.concatenate(sources))),
                                     shape=(len(unique), len(self.entries) * plane))
        return pattern, assembly


def _constant_part(derivative, time) -> sympy.Expr:
    """The terms of a Jacobian coefficient that depend neither on stencil accesses nor on t."""
    state = [a for a in derivative.free_symbols if isinstance(a, StencilAccess)] + [time]
    return sum((term for term in sympy.Add.make_args(sympy.expand(derivative, deep=False))
                if not term.free_symbols & set(state)), sympy.S.Zero)


def _evolved_mask(lowered) -> np.ndarray:
    """Per field, the padded points that evolve: the grid's points less the wall nodes a condition sets."""
    free = np.zeros((len(lowered.fields), *lowered.padded_shape), dtype=bool)
    free[(slice(None), *(slice(h, h + a.points) for a, h in zip(lowered.axes, lowered.halo)))] = True
    for wall in lowered.walls:
        index = [slice(None)] * lowered.ndim
        index[wall.axis] = boundary_index(lowered, wall.axis, wall.side)
        free[(lowered.fields.index(wall.field), *index)] = False
    return free


def boundary_operator(lowered, free_ids: np.ndarray, size: int, params: dict):
    """d(padded state)/d(evolved values): a (fields x padded points, size) CSR matrix.

    The boundary pass's stores, applied in order to rows of this matrix instead of values: each
    store sets its target points to a linear combination of other points (plus terms that do not
    depend on the state: wall values, which do not enter a Jacobian).
    """
    from scipy import sparse
    count = len(lowered.fields) * math.prod(lowered.padded_shape)
    ids = np.arange(count).reshape((len(lowered.fields), *lowered.padded_shape))
    operator = sparse.csr_matrix((np.ones(size), (free_ids, np.arange(size))), shape=(count, size))
    values = {sympy.Symbol(p): v for p, v in params.items()}
    values.update(lowered.spacing)
    for loop in boundary_pass(lowered).loops:
        for store in loop.body:
            targets = _region_ids(ids, store.target, loop.region)
            rows, cols, weights = [], [], []
            for point in sorted(store.value.atoms(Point), key=str):
                coefficient = sympy.diff(store.value, point)
                try:
                    if coefficient.atoms(Point):
                        raise TypeError
                    weight = float(coefficient.subs(values))
                except TypeError:
                    raise SolverError(f"model {lowered.name!r}: the boundary step {loop.name!r} is not linear in "
                                      "the state, which implicit methods need") from None
                rows.append(targets)
                cols.append(_region_ids(ids, point, loop.region))
                weights.append(np.full(targets.size, weight))
            keep = np.ones(count)
            keep[targets] = 0.0
            step = sparse.diags(keep, format="csr")
            if rows:
                step = step + sparse.csr_matrix((np.concatenate(weights), (np.concatenate(rows), np.concatenate(cols))),
                                                shape=(count, count))
            operator = (step @ operator).tocsr()
    operator.eliminate_zeros()
    return operator


def _region_ids(ids: np.ndarray, point: Point, region: tuple) -> np.ndarray:
    """Flat padded ids of ``point`` (its field, shifted by its offsets) over a loop's region."""
    index = tuple(slice(start + o, stop + o) for (start, stop), o in zip(region, point.offsets))
    return np.asarray(ids[(point.index, *index)]).reshape(-1)
