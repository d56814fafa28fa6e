"""Two-dimensional domains for physics-informed networks: a rectangle minus discs and rectangles.

    >>> domain = Rectangle(x=(0.0, 2.2), y=(0.0, 0.41), names={"left": "inlet", "right": "outlet",
    ...                    "bottom": "walls", "top": "walls"}) - Disc((0.2, 0.2), 0.05, name="cylinder")
    >>> domain.axis_names, domain.boundary_names
    (('x', 'y'), ('walls', 'outlet', 'inlet', 'cylinder'))
    >>> bool(domain.contains(np.array([[0.2, 0.2], [1.0, 0.2]])).tolist() == [False, True])
    True

A domain is plain data: its boundary is a list of *pieces* (straight segments and circles),
each with the name of the boundary it belongs to (several pieces may share a name: the
channel's two walls). From the pieces come

- **approximate distance functions** (Sukumar & Srivastava 2022, "Exact imposition of boundary
  conditions with distance functions in physics-informed deep neural networks"), as SymPy
  expressions of the coordinates: each piece's ``distance`` is zero on it and only there
  (a segment's distance is trimmed to the segment, not its whole line) and positive inside the
  domain; a side of the outer rectangle, convex, may use the distance to its line instead
  (``Segment.line_distance``: zero in the domain on that side only, growing linearly);
  :func:`joined_distance` joins several by the R-function conjunction
  ``a + b - sqrt(a**2 + b**2)``, zero exactly where one of them is;
- the **transfinite interpolation** of boundary data (:func:`boundary_interpolation`): weights
  ``prod_{j != i} phi_j / sum_k prod_{j != k} phi_j`` make it equal the data of piece ``i`` on
  piece ``i``; with ``u = g + phi * N`` a network meets every Dirichlet condition exactly; data on the
  four sides of a rectangle that varies along them and agrees at the corners takes **Coons' patch** instead
  (:func:`rectangle_patch`), smooth at the corners where this blend is not;
- **points**: uniform in the interior (rejection from the bounding box) and uniform by arc length
  on each named boundary, with the outward unit normal of the domain there.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import sympy

from .errors import ModelDefinitionError

RECTANGLE_SIDES = ("bottom", "right", "top", "left")


@dataclass(frozen=True)
class Segment:
    """A straight boundary piece from ``start`` to ``end``; the domain lies on its left (counterclockwise
    outer boundary, clockwise around a hole), so the outward normal points to its right."""

    start: tuple
    end: tuple
    name: str

    @property
    def length(self) -> float:
        return math.dist(self.start, self.end)

    def distance(self, x, y) -> sympy.Expr:
        """Trimmed distance (Sukumar & Srivastava, eq. 11): zero on the segment only, ~ distance near it."""
        (x1, y1), (x2, y2) = self.start, self.end
        length = self.length
        centre = ((x1 + x2) / 2, (y1 + y2) / 2)
        line = ((x - x1) * (y2 - y1) - (y - y1) * (x2 - x1)) / length      # signed distance to the line
        trim = ((length / 2) ** 2 - ((x - centre[0]) ** 2 + (y - centre[1]) ** 2)) / length
        return sympy.sqrt(line ** 2 + ((sympy.sqrt(trim ** 2 + line ** 4) - trim) / 2) ** 2)

    def line_distance(self, x, y) -> sympy.Expr:
        """Signed distance to the segment's line, positive on the domain's side (its left). For a side of the
        convex outer rectangle it vanishes in the domain on that side only, and grows linearly away from it
        where the trimmed :meth:`distance` grows as the square over the side's length (11.9 at the far end of
        the 2.2 x 0.41 channel from its 0.41 outlet, against 2.2)."""
        (x1, y1), (x2, y2) = self.start, self.end
        return ((y - y1) * (x2 - x1) - (x - x1) * (y2 - y1)) / self.length

    def projection(self, x, y) -> tuple:
        """The foot of the perpendicular from (x, y) on the segment's line, as expressions."""
        (x1, y1), (x2, y2) = self.start, self.end
        length = self.length
        tx, ty = (x2 - x1) / length, (y2 - y1) / length
        along = (x - x1) * tx + (y - y1) * ty
        return x1 + along * tx if tx else sympy.Float(x1), y1 + along * ty if ty else sympy.Float(y1)

    def sample(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        s = rng.uniform(0.0, 1.0, count)[:, None]
        start, end = np.asarray(self.start, float), np.asarray(self.end, float)
        points = start + s * (end - start)
        tangent = (end - start) / self.length
        normal = np.array([tangent[1], -tangent[0]])       # right of the direction of travel
        return points, np.broadcast_to(normal, points.shape).copy()


@dataclass(frozen=True)
class Circle:
    """A circular hole's boundary: the domain lies outside, the outward normal points to the centre."""

    centre: tuple
    radius: float
    name: str

    @property
    def length(self) -> float:
        return 2 * math.pi * self.radius

    def distance(self, x, y) -> sympy.Expr:
        """(|p - c|^2 - r^2) / (2 r): zero on the circle, positive outside, the distance to first order."""
        cx, cy = self.centre
        return ((x - cx) ** 2 + (y - cy) ** 2 - self.radius ** 2) / (2 * self.radius)

    def projection(self, x, y) -> tuple:
        """The point of the circle nearest (x, y), as expressions."""
        cx, cy = self.centre
        scale = self.radius / sympy.sqrt((x - cx) ** 2 + (y - cy) ** 2)
        return cx + (x - cx) * scale, cy + (y - cy) * scale

    def sample(self, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        angle = rng.uniform(0.0, 2 * math.pi, count)
        direction = np.stack([np.cos(angle), np.sin(angle)], axis=1)
        return np.asarray(self.centre, float) + self.radius * direction, -direction


@dataclass(frozen=True)
class Disc:
    """A disc to cut out of a rectangle: ``Rectangle(...) - Disc((cx, cy), r, name="cylinder")``."""

    centre: tuple
    radius: float
    name: str = "disc"

    def __post_init__(self):
        if not (len(self.centre) == 2 and self.radius > 0):
            raise ModelDefinitionError(f"Disc({self.centre}, {self.radius}): needs a centre (x, y) and a radius > 0")
        _check_boundary_name(self.name)

    def pieces(self) -> tuple:
        return (Circle(tuple(float(c) for c in self.centre), float(self.radius), self.name),)

    def contains(self, points: np.ndarray) -> np.ndarray:
        return np.sum((points - np.asarray(self.centre, float)) ** 2, axis=1) < self.radius ** 2

    def bounds(self) -> tuple:
        (cx, cy), r = self.centre, self.radius
        return (cx - r, cx + r), (cy - r, cy + r)

    def area(self) -> float:
        return math.pi * self.radius ** 2


@dataclass(frozen=True, eq=False)
class Rectangle:
    """An axis-aligned rectangle, ``Rectangle(x=(0, 1), y=(0, 2))``: the outer boundary of a domain, or a
    hole (``outer - Rectangle(..., name="step")``). Sides are named bottom, right, top, left unless
    ``names`` renames them (several sides may take one name)."""

    extents: dict = field(default_factory=dict)
    names: dict = field(default_factory=dict)
    name: str = "obstacle"          # the name of all four sides when the rectangle is a hole

    def __init__(self, names: dict | None = None, name: str = "obstacle", **extents):
        if len(extents) != 2:
            raise ModelDefinitionError(f"Rectangle needs two axes such as x=(0, 1), y=(0, 2); got {sorted(extents)}")
        checked = {}
        for axis, bounds in extents.items():
            try:
                low, high = (float(b) for b in bounds)
            except (TypeError, ValueError):
                raise ModelDefinitionError(f"Rectangle: {axis}={bounds!r} must be (low, high)") from None
            if not low < high:
                raise ModelDefinitionError(f"Rectangle: {axis}=({low}, {high}) has no interior (low >= high)")
            checked[axis] = (low, high)
        unknown = set(names or {}) - set(RECTANGLE_SIDES)
        if unknown:
            raise ModelDefinitionError(f"Rectangle: names renames sides {RECTANGLE_SIDES}, not {sorted(unknown)}")
        for boundary in list((names or {}).values()) + [name]:
            _check_boundary_name(boundary)
        object.__setattr__(self, "extents", checked)
        object.__setattr__(self, "names", dict(names or {}))
        object.__setattr__(self, "name", name)

    @property
    def axis_names(self) -> tuple:
        return tuple(self.extents)

    def bounds(self) -> tuple:
        return tuple(self.extents.values())

    def _corners(self):
        (x0, x1), (y0, y1) = self.bounds()
        return (x0, y0), (x1, y0), (x1, y1), (x0, y1)

    def pieces(self, hole: bool = True) -> tuple:
        a, b, c, d = self._corners()
        sides = dict(zip(RECTANGLE_SIDES, ((a, b), (b, c), (c, d), (d, a))))   # counterclockwise
        if hole:        # clockwise, so that the domain (outside the hole) is on each segment's left
            return tuple(Segment(end, start, self.name) for start, end in sides.values())
        return tuple(Segment(start, end, self.names.get(side, side)) for side, (start, end) in sides.items())

    def contains(self, points: np.ndarray, closed: bool = False) -> np.ndarray:
        """Whether each point is inside (``closed``: or on a side)."""
        (x0, x1), (y0, y1) = self.bounds()
        if closed:
            return (points[:, 0] >= x0) & (points[:, 0] <= x1) & (points[:, 1] >= y0) & (points[:, 1] <= y1)
        return (points[:, 0] > x0) & (points[:, 0] < x1) & (points[:, 1] > y0) & (points[:, 1] < y1)

    def area(self) -> float:
        (x0, x1), (y0, y1) = self.bounds()
        return (x1 - x0) * (y1 - y0)

    def __sub__(self, hole) -> "Domain":
        return Domain(self) - hole


@dataclass(frozen=True, eq=False)
class Domain:
    """A rectangle minus holes (discs and rectangles inside it, not overlapping each other)."""

    outer: Rectangle
    holes: tuple = ()

    def __sub__(self, hole) -> "Domain":
        if not isinstance(hole, (Disc, Rectangle)):
            raise ModelDefinitionError(f"a domain can lose a Disc or a Rectangle, not {type(hole).__name__}")
        (x0, x1), (y0, y1) = self.outer.bounds()
        (a0, a1), (b0, b1) = hole.bounds()
        if not (x0 < a0 and a1 < x1 and y0 < b0 and b1 < y1):
            raise ModelDefinitionError(f"{_describe(hole)} is not strictly inside the rectangle "
                                       f"{self.outer.extents}: holes must not touch the outer boundary")
        for other in self.holes:
            if _overlap(other, hole):
                raise ModelDefinitionError(f"{_describe(hole)} overlaps {_describe(other)}: holes must be apart")
        return Domain(self.outer, self.holes + (hole,))

    @property
    def axis_names(self) -> tuple:
        return self.outer.axis_names

    @property
    def pieces(self) -> tuple:
        return self.outer.pieces(hole=False) + tuple(p for h in self.holes for p in h.pieces())

    @property
    def boundary_names(self) -> tuple:
        return tuple(dict.fromkeys(p.name for p in self.pieces))

    def bounds(self) -> tuple:
        return self.outer.bounds()

    def area(self) -> float:
        return self.outer.area() - sum(h.area() for h in self.holes)

    def contains(self, points: np.ndarray, closed: bool = False) -> np.ndarray:
        """Whether each point is inside the domain (``closed``: or on its boundary, a hole's included)."""
        inside = self.outer.contains(points, closed)
        for hole in self.holes:
            inside &= ~hole.contains(points)
        return inside

    def sample_interior(self, count: int, rng: np.random.Generator, unit_square=None) -> np.ndarray:
        """``count`` points uniform in the domain (rejection from the bounding box). ``unit_square(n)``: where
        the (n, 2) points in [0, 1)^2 come from (a low-discrepancy sequence, say); default ``rng``'s uniform."""
        (x0, x1), (y0, y1) = self.bounds()
        fraction = self.area() / self.outer.area()
        chunks, found = [], 0
        while found < count:
            trial = int((count - found) / fraction * 1.1) + 16
            if unit_square is None:
                points = np.column_stack([rng.uniform(x0, x1, trial), rng.uniform(y0, y1, trial)])
            else:
                points = np.array([x0, y0]) + unit_square(trial) * np.array([x1 - x0, y1 - y0])
            points = points[self.contains(points)]
            chunks.append(points)
            found += len(points)
        return np.concatenate(chunks)[:count]

    def sample_near_boundary(self, count: int, band: float, rng: np.random.Generator) -> np.ndarray:
        """``count`` interior points within ``band`` of the boundary: a uniform boundary point (by arc length)
        moved inwards along the normal by a uniform fraction of ``band`` (kept if still inside)."""
        pieces = self.pieces
        lengths = np.array([p.length for p in pieces])
        chunks, found = [], 0
        while found < count:
            trial = 2 * (count - found) + 16
            picks = rng.multinomial(trial, lengths / lengths.sum())
            for piece, n in zip(pieces, picks):
                if n:
                    on, normals = piece.sample(int(n), rng)
                    moved = on - normals * rng.uniform(0.0, band, (int(n), 1))
                    moved = moved[self.contains(moved)]
                    chunks.append(moved)
                    found += len(moved)
        points = np.concatenate(chunks)
        return points[rng.permutation(len(points))[:count]]

    def sample_boundary(self, name: str, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``count`` points uniform by arc length on boundary ``name``, with the domain's outward unit normals."""
        pieces = [p for p in self.pieces if p.name == name]
        if not pieces:
            raise ModelDefinitionError(f"the domain has no boundary {name!r} (boundaries: "
                                       f"{', '.join(self.boundary_names)})")
        lengths = np.array([p.length for p in pieces])
        counts = rng.multinomial(count, lengths / lengths.sum())
        samples = [p.sample(int(n), rng) for p, n in zip(pieces, counts) if n]
        return np.concatenate([s[0] for s in samples]), np.concatenate([s[1] for s in samples])

    def grid(self, points: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Cell-centred coordinates of a ``points``-wide grid over the bounding box (the other axis in
        proportion) and the mask of the cells inside the domain: where a picture is drawn."""
        (x0, x1), (y0, y1) = self.bounds()
        nx = points
        ny = max(2, int(round(points * (y1 - y0) / (x1 - x0))))
        x = x0 + (np.arange(nx) + 0.5) * (x1 - x0) / nx
        y = y0 + (np.arange(ny) + 0.5) * (y1 - y0) / ny
        mesh = np.stack(np.meshgrid(x, y, indexing="ij"), axis=-1).reshape(-1, 2)
        return x, y, self.contains(mesh).reshape(nx, ny)


def joined_distance(distances) -> sympy.Expr:
    """R-function conjunction of distances, a + b - sqrt(a^2 + b^2): zero exactly where one of them is,
    positive elsewhere, and normalized to first order (a distance near each piece).

    Measured against the product of the distances (with the plain distance to the line for the outer
    rectangle's sides, smooth at the corners) on Kovasznay's square, 10 minutes of training each, g the
    blend of :func:`boundary_interpolation`: u 6.2e-4, v 1.9e-3, p 2.5e-3 here, u 8.6e-4, v 4.1e-3,
    p 8.7e-3 with the product. With g Coons' patch (:func:`rectangle_patch`) the product is the one to use.
    """
    distances = list(distances)
    joined = distances[0]
    for other in distances[1:]:
        joined = joined + other - sympy.sqrt(joined ** 2 + other ** 2)
    return joined


def boundary_trace(value, piece, x, y) -> sympy.Expr:
    """``value`` (an expression of the coordinates) read on ``piece`` at the point nearest (x, y): what the
    boundary data says, carried into the domain along the normals, so that an extension of the data
    never knows more than the data on the boundary."""
    value = sympy.sympify(value)
    if not value.has(x, y):
        return value
    px, py = piece.projection(x, y)
    return value.xreplace({x: px, y: py})


def boundary_interpolation(values, distances) -> sympy.Expr:
    """sum_i values[i] w_i / sum_k w_k with w_i = prod_{j != i} distances[j]: ``values[i]`` on piece i."""
    values, distances = list(values), list(distances)
    if all(v == values[0] for v in values):       # one expression on every piece: it is its own extension
        return values[0]
    weights = [sympy.Mul(*[d for j, d in enumerate(distances) if j != i]) for i in range(len(distances))]
    return sympy.Add(*[v * w for v, w in zip(values, weights)]) / sympy.Add(*weights)


def agree_at(one, other, point: dict) -> bool:
    """Whether two expressions of the coordinates are equal at ``point`` ({coordinate symbol: value}), exactly
    (parameters stay symbols): where two sides' Dirichlet data meet at a corner."""
    return sympy.simplify(sympy.sympify(one).xreplace(point) - sympy.sympify(other).xreplace(point)) == 0


def rectangle_patch(values, outer: Rectangle, x, y):
    """(g, phi) for data on all four sides of ``outer`` (``values``: the boundary's value expression per side, in
    RECTANGLE_SIDES order) when the sides agree at the four corners, else None.

    g is Coons' transfinite interpolation of the sides' traces, P_x + P_y - P_x P_y with P_x the linear blend of
    the left and right traces in x, P_y of the bottom and top ones in y: smooth wherever the data is, and equal
    to it on every side. phi = 16 s(1-s) t(1-t) x half the shorter side (s, t the rectangle's unit coordinates;
    the distance to the nearest side at the centre, like the R-function's). The blend of
    :func:`boundary_interpolation` with :func:`joined_distance` is homogeneous of degree one at a corner: its
    Laplacian grows as 1 / r there and u - g = phi N asks N for a jump at the corner, which a smooth network
    cannot give; here N = (u - g) / phi is as smooth as u. Measured on Kovasznay: benchmarks/pinn_accuracy.py."""
    (x0, x1), (y0, y1) = outer.bounds()
    bottom, right, top, left = (boundary_trace(value, piece, x, y)
                                for value, piece in zip(values, outer.pieces(hole=False)))
    corners = ((x0, y0, left, bottom), (x1, y0, right, bottom), (x1, y1, right, top), (x0, y1, left, top))
    if not all(agree_at(one, other, {x: cx, y: cy}) for cx, cy, one, other in corners):
        return None
    s, t = (x - x0) / (x1 - x0), (y - y0) / (y1 - y0)
    blend_x = (1 - s) * left + s * right
    blend_y = (1 - t) * bottom + t * top
    both = sum(weight * sympy.sympify(side).xreplace({x: cx})
               for weight, side, cx in (((1 - s) * (1 - t), bottom, x0), (s * (1 - t), bottom, x1),
                                        ((1 - s) * t, top, x0), (s * t, top, x1)))
    phi = 16 * s * (1 - s) * t * (1 - t) * min(x1 - x0, y1 - y0) / 2
    return blend_x + blend_y - both, phi


def _check_boundary_name(name) -> None:
    if not isinstance(name, str) or not name.isidentifier():
        raise ModelDefinitionError(f"boundary name {name!r} is not a valid identifier")


def _describe(hole) -> str:
    if isinstance(hole, Disc):
        return f"Disc(centre={hole.centre}, radius={hole.radius}, name={hole.name!r})"
    return f"Rectangle({hole.extents}, name={hole.name!r})"


def _overlap(a, b) -> bool:
    (a0, a1), (b0, b1) = a.bounds()
    (c0, c1), (d0, d1) = b.bounds()
    return a0 < c1 and c0 < a1 and b0 < d1 and d0 < b1


__all__ = ["Rectangle", "Disc", "Domain", "Segment", "Circle", "joined_distance", "boundary_interpolation",
           "boundary_trace"]
