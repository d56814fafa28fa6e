"""Solving (I - c L) x = r for a constant sparse L and many c: what an IMEX method's implicit stages ask.

    >>> from scipy import sparse
    >>> n = 8                                  # u' = u_xx (periodic, 8 points), v' = u - v
    >>> laplacian = sparse.diags([1.0, -2.0, 1.0], [-1, 0, 1], shape=(n, n)).tolil()
    >>> laplacian[0, n - 1] = laplacian[n - 1, 0] = 1.0
    >>> L = sparse.bmat([[laplacian, None], [sparse.identity(n), -sparse.identity(n)]]).tocsr()
    >>> solver = ShiftedSolver(L, [(0, n, (n,)), (n, 2 * n, (n,))])
    >>> solver.kinds                           # u by FFT, then v (reads u) pointwise
    ('circulant', 'diagonal')
    >>> r = np.arange(2.0 * n)
    >>> x = solver.factor(0.3).solve(r)
    >>> bool(np.allclose((sparse.identity(2 * n) - 0.3 * L) @ x, r))
    True

L is the model's linear, time-independent part (diffusion, linear decay), one block of rows and
columns per field. Fields couple one way more often than both ways (a species fed by another, a
velocity read by a tracer): the blocks are put in an order in which each group of fields reads
only itself and the groups before it (the strongly connected components of the fields' coupling
graph, in topological order), and (I - c L) x = r is solved group by group, each group's right
side taking the groups already solved. Each group's own matrix is solved the cheapest exact way:

* ``diagonal``: no coupling between points (reactions, decay): a division.
* ``circulant``: every field of the group covers a whole grid whose every axis wraps, and each of
  its blocks is the same stencil at every point (constant-coefficient diffusion on a periodic
  grid): diagonal in Fourier space, so each solve is two FFTs and, per wave number, a division
  (or a small dense solve for a group of several fields). No factorization at all.
* ``lu``: anything else, SuperLU of the group's block alone (smaller than the whole matrix, and
  with less fill: 1,024 unknowns instead of 2,048 on the 32^2 Brusselator); or ``krylov``:
  GMRES with an algebraic-multigrid preconditioner of the block, for grids too large to factor.

Splitting changes no result beyond round-off: it solves the same system.
"""

from __future__ import annotations

import math

import numpy as np

from .errors import SolverError

#: SuperLU's column ordering: minimum degree on the structure of A^T + A. Stencil matrices are
#: structurally symmetric; on the periodic 32^2 Brusselator it leaves half the fill of SuperLU's
#: default COLAMD (143,784 vs 272,748 nonzeros in L+U), and factors 1.4x and solves 1.6x faster
#: (benchmarks/stiff.py prints the comparison for every problem)
ORDERING = "MMD_AT_PLUS_A"



def sparse_lu(matrix, singular: str, hint: str = ""):
    """SuperLU's factors of the sparse ``matrix`` in symsim's ordering (ORDERING); a matrix SuperLU finds
    singular is a SolverError: ``singular``, SuperLU's words, then ``hint``."""
    from scipy.sparse.linalg import splu

    try:
        return splu(matrix.tocsc(), permc_spec=ORDERING)
    except RuntimeError as error:     # SuperLU: "Factor is exactly singular"
        raise SolverError(f"{singular}: {error}{hint}") from None


#: how each kind of group is solved, in words
KIND_WORDS = {"diagonal": "division", "circulant": "FFT", "lu": "LU", "krylov": "GMRES"}
#: a block is the same stencil at every point when its coefficients agree to this relative tolerance
CIRCULANT_TOLERANCE = 1e-12


class ShiftedSolver:
    """(I - c L) x = r for any c, split by the coupling between fields.

    ``fields``: per field, (first row, end row, grid shape or None): the field's rows of L, and the
    shape of its grid when its rows are every point of that grid in C order (None otherwise).
    ``krylov_rtol``: solve the groups that would be factored by GMRES to this relative residual
    instead (:class:`KrylovSolver`; ``krylov`` in :attr:`kinds`).
    """

    def __init__(self, linear, fields: list[tuple], krylov_rtol: float | None = None):
        from scipy import sparse
        from scipy.sparse.csgraph import connected_components

        self.linear = sparse.csr_matrix(linear, copy=True)
        self.linear.eliminate_zeros()          # a stored zero would read a block not yet solved
        self.size = self.linear.shape[0]
        self.fields = [(int(a), int(b), tuple(s) if s is not None else None) for a, b, s in fields]
        count = len(self.fields)
        owner = np.repeat(np.arange(count), [b - a for a, b, _ in self.fields])     # the field of each row
        entries = self.linear.tocoo()
        coupling = np.zeros((count, count), dtype=bool)
        coupling[owner[entries.row], owner[entries.col]] = True
        np.fill_diagonal(coupling, False)
        # a group of fields is a strongly connected component of "field i reads field j", solved after
        # every group it reads
        number, label = connected_components(sparse.csr_matrix(coupling), directed=True, connection="strong")
        members = [[k for k in range(count) if label[k] == g] for g in range(number)]
        self.groups = [members[g] for g in _topological(number, label, coupling)]
        self.krylov_rtol = krylov_rtol
        self._plans = [self._plan(group) for group in self.groups]
        self.kinds = tuple(plan[0] for plan in self._plans)

    def _block(self, i: int, j: int):
        (a, b, _), (c, d, _) = self.fields[i], self.fields[j]
        return self.linear[a:b, c:d]

    def _rows(self, group: list) -> np.ndarray:
        return np.concatenate([np.arange(self.fields[k][0], self.fields[k][1]) for k in group])

    def _plan(self, group: list) -> tuple:
        """(kind, what the kind needs) for one group of fields."""
        from scipy import sparse
        rows = self._rows(group)
        # what the group reads from the groups before it: its rows of L, its own columns zeroed
        taken = self.linear[rows].tocoo()
        keep = ~np.isin(taken.col, rows)
        outside = sparse.csr_matrix((taken.data[keep], (taken.row[keep], taken.col[keep])), shape=taken.shape)
        outside = outside if outside.nnz else None
        # a group of one field (or of neighbouring fields) is a range of y: a slice, not a gather
        if np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows))):
            rows = slice(int(rows[0]), int(rows[0]) + len(rows))
        blocks = {(i, j): self._block(i, j) for i in group for j in group}
        own = sparse.bmat([[blocks[i, j] for j in group] for i in group]).tocsr()
        if (own - sparse.diags(own.diagonal())).nnz == 0:
            return "diagonal", rows, outside, own.diagonal()
        symbols = _circulant_symbols(group, blocks, self.fields)
        if symbols is not None:
            return "circulant", rows, outside, symbols
        return ("lu" if self.krylov_rtol is None else "krylov"), rows, outside, own.tocsc()

    def factor(self, c: float) -> "ShiftedFactors":
        """What solves (I - c L) x = r: factorizations of each group's block for this c."""
        return ShiftedFactors(self, float(c))

    def describe(self) -> str:
        """How many unknowns each way of solving takes, e.g. "2048 by division, 900 by LU"."""
        counts: dict = {}
        for kind, rows, *_ in self._plans:
            counts[kind] = counts.get(kind, 0) + len(range(self.size)[rows])
        return ", ".join(f"{n} by {KIND_WORDS[kind]}" for kind, n in counts.items())


class ShiftedFactors:
    """(I - c L) factored group by group; ``solve(r)`` returns x."""

    def __init__(self, solver: ShiftedSolver, c: float):
        from scipy import sparse

        self.solver, self.c = solver, c
        self.factorizations = 0
        self._steps = []
        for kind, rows, outside, data in solver._plans:
            if kind == "diagonal":
                divisor = 1.0 - c * data
                if not np.all(divisor != 0):
                    raise SolverError(f"I - {c:.3g}*L is singular (a zero on its diagonal)")
                action = ("diagonal", 1.0 / divisor)
            elif kind == "circulant":
                shape, symbols = data
                fields = symbols.shape[-1]
                shifted = np.eye(fields) - c * symbols           # (*wave numbers, fields, fields)
                if fields == 1:
                    if not np.all(shifted[..., 0, 0] != 0):
                        raise SolverError(f"I - {c:.3g}*L is singular (a Fourier mode with eigenvalue 1/{c:.3g})")
                    action = ("circulant", shape, 1.0 / shifted[..., 0, 0])
                else:
                    try:
                        action = ("circulant", shape, np.linalg.inv(shifted))
                    except np.linalg.LinAlgError:
                        raise SolverError(f"I - {c:.3g}*L is singular (a Fourier mode)") from None
            elif kind == "krylov":
                krylov = KrylovSolver(solver.krylov_rtol)
                krylov.set_matrix(sparse.identity(data.shape[0], format="csr") - c * data)
                action = ("lu", krylov)             # solved like a factorization: .solve(right)
            else:
                matrix = sparse.identity(data.shape[0], format="csc") - c * data
                action = ("lu", sparse_lu(matrix, f"I - {c:.3g}*L is singular"))
                self.factorizations += 1
            self._steps.append((rows, outside, action))

    def solve(self, right: np.ndarray) -> np.ndarray:
        x = np.empty(self.solver.size)
        for rows, outside, action in self._steps:
            r = right[rows]
            if outside is not None:
                r = r + self.c * (outside @ x)       # -(I - cL) off the group's own block = +cL
            kind = action[0]
            if kind == "diagonal":
                x[rows] = r * action[1]
            elif kind == "lu":
                x[rows] = action[1].solve(r)
            else:
                shape, inverse = action[1], action[2]
                fields = r.size // math.prod(shape)
                spectrum = np.fft.rfftn(r.reshape(fields, *shape), axes=range(1, len(shape) + 1))
                if fields == 1:
                    spectrum = spectrum * inverse
                else:
                    spectrum = np.einsum("...ab,b...->a...", inverse, spectrum)
                x[rows] = np.fft.irfftn(spectrum, s=shape, axes=range(1, len(shape) + 1)).reshape(-1)
        return x


def _topological(number: int, label: np.ndarray, coupling: np.ndarray) -> list:
    """The components in an order where each reads only itself and those before it."""
    rows, columns = np.nonzero(coupling)
    reads = {g: set() for g in range(number)}
    for i, j in zip(label[rows], label[columns]):
        if i != j:
            reads[i].add(j)
    order, done = [], set()
    while len(order) < number:
        ready = next(g for g in range(number) if g not in done and reads[g] <= done)   # a condensation has no
        order.append(ready)                                                            # cycle: one is ready
        done.add(ready)
    return order


def _circulant_symbols(group: list, blocks: list, fields: list):
    """((shape, symbols)) when every block of the group is one stencil on one periodic grid: symbols
    (*rfft wave numbers, fields, fields) are the blocks' eigenvalues per Fourier mode; else None."""
    shapes = {fields[k][2] for k in group}
    if len(shapes) != 1 or None in shapes:
        return None
    shape = shapes.pop()
    half = (*shape[:-1], shape[-1] // 2 + 1)
    symbols = np.zeros((*half, len(group), len(group)), dtype=complex)
    for a, i in enumerate(group):
        for b, j in enumerate(group):
            kernel = _stencil_kernel(blocks[i, j], shape)
            if kernel is None:
                return None
            # (B x)_r = sum_o K[o] x[r + o] (indices wrapping): a correlation, whose eigenvalue for the
            # Fourier mode k is conj(DFT(K))[k] for real K
            symbols[..., a, b] = np.conj(np.fft.rfftn(kernel))
    return shape, symbols


def _stencil_kernel(block, shape: tuple):
    """K with block[r, c] = K[(c - r) mod shape] for every point r (C order), or None if the block is not one
    stencil repeated at every point with wrapping offsets."""
    n = math.prod(shape)
    if block.shape != (n, n):
        return None
    kernel = np.zeros(shape)
    coo = block.tocoo()
    if coo.nnz == 0:
        return kernel
    offsets = np.ravel_multi_index(
        tuple((c - r) % s for r, c, s in zip(np.unravel_index(coo.row, shape), np.unravel_index(coo.col, shape),
                                              shape)), shape)
    order = np.lexsort((coo.data, offsets))
    offsets, values = offsets[order], coo.data[order]
    unique, first, counts = np.unique(offsets, return_index=True, return_counts=True)
    if np.any(counts != n):                  # every point must have every offset
        return None
    low, high = values[first], values[first + counts - 1]
    scale = np.abs(values).max()
    if np.any(high - low > CIRCULANT_TOLERANCE * scale):
        return None
    kernel.reshape(-1)[unique] = 0.5 * (low + high)
    return kernel


#: a preconditioner is rebuilt once a solve with it takes more GMRES iterations than this (it was built
#: for an earlier matrix of the sequence: a Rosenbrock step's I/(h gamma) - J, with J and h of then)
REBUILD_AFTER_ITERATIONS = 12
#: GMRES's Krylov space before a restart, and the restarts allowed
RESTART, MAX_RESTARTS = 40, 10


class KrylovSolver:
    """Solves M x = b without factoring M: GMRES preconditioned by algebraic multigrid (pyamg's classical
    Ruge-Stueben hierarchy; SciPy's incomplete LU without pyamg) -- the path for grids too large to factor.

    ``set_matrix(M)`` gives each matrix of a sequence that changes slowly (step after step); the
    preconditioner, built from one of them, is kept while GMRES stays short with it and rebuilt when
    not. ``rtol``: GMRES stops at ||b - M x|| <= rtol ||b||.

        >>> from scipy import sparse
        >>> n = 400
        >>> M = sparse.diags([-1.0, 2.5, -1.0], [-1, 0, 1], shape=(n, n), format="csr")
        >>> solver = KrylovSolver(rtol=1e-10)
        >>> solver.set_matrix(M)
        >>> b = np.ones(n)
        >>> bool(np.linalg.norm(M @ solver.solve(b) - b) <= 1e-10 * np.linalg.norm(b))
        True
    """

    def __init__(self, rtol: float):
        self.rtol = float(rtol)
        self.matrix = self._preconditioner = None
        self.iterations = self.setups = self.solves = 0
        self._last = 0

    def set_matrix(self, matrix) -> None:
        self.matrix = matrix.tocsr()
        if self._preconditioner is None or self._last > REBUILD_AFTER_ITERATIONS:
            self._build()

    def _build(self) -> None:
        try:
            import pyamg
        except ImportError:
            pyamg = None
        matrix = self.matrix
        if pyamg is not None:
            self._preconditioner = pyamg.ruge_stuben_solver(matrix, max_coarse=500).aspreconditioner(cycle="V")
        else:
            from scipy.sparse.linalg import LinearOperator, spilu
            try:
                factors = spilu(matrix.tocsc(), drop_tol=1e-4, fill_factor=10)
            except RuntimeError as error:
                raise SolverError(f"the incomplete LU of the implicit matrix failed: {error}") from None
            self._preconditioner = LinearOperator(matrix.shape, factors.solve)
        self.setups += 1
        self._last = 0

    def solve(self, right: np.ndarray) -> np.ndarray:
        from scipy.sparse.linalg import gmres

        for attempt in range(2):
            count = [0]

            def counted(_residual):
                count[0] += 1
            x, info = gmres(self.matrix, right, rtol=self.rtol, atol=0.0, restart=RESTART,
                            maxiter=MAX_RESTARTS, M=self._preconditioner, callback=counted,
                            callback_type="pr_norm")
            self.iterations += count[0]
            self._last = count[0]
            if info == 0:
                self.solves += 1
                return x
            if attempt == 0:
                self._build()          # a stale preconditioner: one built from this matrix, then give up
        raise SolverError(f"GMRES did not reach a relative residual of {self.rtol:.1e} in {RESTART * MAX_RESTARTS} "
                          "iterations with an algebraic-multigrid preconditioner of this matrix; use "
                          "--linear-solver lu")
