"""A grid split into blocks, one per process: which block a process owns, and the lowered model it runs.

    >>> from symsim import load_model
    >>> from symsim.lowering import lower_to_stencils
    >>> lowered = lower_to_stencils(load_model("heat_2d"))           # 129 x 129, walls on every side
    >>> choose_layout(lowered, 4)                                    # the fewest halo points exchanged
    (2, 2)
    >>> block_ranges(129, 2)                                         # (first point, points) per block
    ((0, 65), (65, 64))
    >>> local = block_model(lowered, Block((2, 2), (1, 0)))
    >>> local.shape, [a.start for a in local.axes], local.exchanged
    ((64, 65), [0.5078125, 0.0], (0, 1))
    >>> sorted({(w.axis, w.side) for w in local.walls})              # only the walls this block owns
    [(0, 'high'), (1, 'low')]

A block is the grid points it owns plus halo layers as wide as the stencil's reach, as in
the single-process state. The block's lowered model is the whole model's with local axes
(their own points and first coordinate, the whole grid's spacing), only the walls the
block owns, and ``exchanged`` naming the axes whose halo layers come from neighbouring
blocks: the code-generation walk turns each into one exchange step of the boundary pass
(:class:`symsim.codegen.loops.Exchange`), in the order that makes corners come out as in
the single-process run. An axis split across blocks is periodic through its exchange (the
first and last blocks are neighbours); an axis not split keeps its own periodic copy.

Nothing here knows about MPI: :mod:`symsim.distributed` maps blocks to ranks and moves the
halo layers.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np

from .errors import OptionError
from .grid import Axis
from .ir import LoweredModel


@dataclass(frozen=True)
class BlockAxis(Axis):
    """The part of an axis one block owns: its own points and first coordinate. Coordinates are computed
    as the whole grid's are, from its origin, spacing and the point's index there (``first_point``
    onwards), so that a block's coordinates -- and every value computed from them -- are the whole
    grid's to the last bit."""

    step: float = 0.0
    whole_start: float = 0.0
    first_point: int = 0

    @property
    def spacing(self) -> float:
        return self.step

    @property
    def grid_origin(self) -> float:
        return self.whole_start

    @property
    def index_shift(self) -> int:
        return self.first_point


@dataclass(frozen=True)
class Block:
    """Block ``coords`` of a grid split into ``layout`` blocks per axis (row-major rank order)."""

    layout: tuple
    coords: tuple

    @property
    def rank(self) -> int:
        return int(np.ravel_multi_index(self.coords, self.layout)) if self.layout else 0

    @classmethod
    def of_rank(cls, layout: tuple, rank: int) -> "Block":
        return cls(tuple(layout), tuple(int(c) for c in np.unravel_index(rank, layout)) if layout else ())

    def ranges(self, shape: tuple) -> tuple:
        """(first point, points) of this block along each axis of a grid of ``shape``."""
        return tuple(block_ranges(n, parts)[c] for n, parts, c in zip(shape, self.layout, self.coords))

    def neighbour(self, axis: int, side: str, periodic: bool) -> int | None:
        """The rank of the block beyond this one's ``side`` of ``axis`` (wrapping on a periodic axis), or None."""
        step = -1 if side == "low" else 1
        coord = self.coords[axis] + step
        if not 0 <= coord < self.layout[axis]:
            if not periodic:
                return None
            coord %= self.layout[axis]
        coords = list(self.coords)
        coords[axis] = coord
        return Block(self.layout, tuple(coords)).rank


def block_ranges(points: int, parts: int) -> tuple:
    """``points`` split into ``parts`` runs of ceil(points/parts), the last one shorter: (first, length)
    each, as Dask and Zarr chunk an array. The longest block is as long as in the most even split
    (it sets the step time), and every block is one chunk of the Zarr store a decomposed run writes."""
    size = -(-points // parts)
    return tuple((min(k * size, points), max(min(size, points - k * size), 0)) for k in range(parts))


def minimum_points(lowered: LoweredModel, axis: int) -> int:
    """The fewest points a block may own along a split ``axis``: enough to fill a neighbour's halo layers, and,
    at a wall, to hold every point its condition and ghost extrapolation read (so that no boundary step
    reads a halo layer that is being exchanged, and no neighbour's halo holds the wall node)."""
    halo = lowered.halo[axis]
    needed = max(halo, 1)
    for wall in lowered.walls:
        if wall.axis == axis:
            reach = max([len(wall.neumann_weights) - 1] +
                        [layer + len(weights) - 1 for layer, weights in enumerate(wall.ghost_weights, start=1)])
            needed = max(needed, reach + 1, halo + 1)
    return needed


def parse_layout(text: str, ndim: int) -> tuple:
    """``--decompose 2x2`` as a tuple of blocks per axis."""
    try:
        layout = tuple(int(part) for part in text.lower().split("x"))
    except ValueError:
        raise OptionError(f"--decompose {text!r}: give blocks per axis as integers joined by 'x', e.g. 2x2") from None
    if len(layout) != ndim:
        raise OptionError(f"--decompose {text!r} has {len(layout)} axes; the model's grid has {ndim}")
    if any(n < 1 for n in layout):
        raise OptionError(f"--decompose {text!r}: every axis needs at least 1 block")
    return layout


def check_layout(lowered: LoweredModel, layout: tuple, ranks: int) -> None:
    """A layout must use every rank once and leave each block at least :func:`minimum_points` per axis."""
    if not lowered.axes:
        raise OptionError(f"model {lowered.name!r} has no grid (an ODE): there is nothing to decompose; run it on "
                          "one process, or use symsim sweep for many runs")
    if math.prod(layout) != ranks:
        shown = "x".join(map(str, layout))
        started = f"{ranks} processes were" if ranks != 1 else "1 process was"
        raise OptionError(f"--decompose {shown} makes {math.prod(layout)} blocks, but {started} started "
                          f"(mpirun -n {math.prod(layout)} symsim run ...)")
    for k, (axis, parts) in enumerate(zip(lowered.axes, layout)):
        if parts == 1:
            continue      # the whole axis, as on one process
        smallest = min(n for _, n in block_ranges(axis.points, parts))
        needed = minimum_points(lowered, k)
        if smallest < needed:
            shown = "x".join(map(str, layout))
            raise OptionError(f"decomposition {shown} leaves blocks of {smallest} points along {axis.name} "
                              f"({axis.points} points in {parts} blocks); each needs at least {needed} (the halo "
                              f"of {lowered.halo[k]} layers at space order {lowered.space_order}"
                              f"{' and the wall conditions' if needed > lowered.halo[k] else ''}): use fewer "
                              f"blocks along {axis.name} or more points")


def choose_layout(lowered: LoweredModel, ranks: int) -> tuple:
    """The layout of ``ranks`` blocks whose busiest block receives the fewest halo points per exchange,
    among those that leave every block enough points (ties: the more even blocks, then fewer splits of the last axis,
    whose halo slabs are strided in memory)."""
    if not lowered.axes:
        check_layout(lowered, (), ranks)
    shape = lowered.shape
    candidates = []
    for layout in itertools.product(*[[d for d in range(1, ranks + 1) if ranks % d == 0]] * lowered.ndim):
        if math.prod(layout) != ranks:
            continue
        if any(p > 1 and min(n for _, n in block_ranges(a.points, p)) < minimum_points(lowered, k)
               for k, (a, p) in enumerate(zip(lowered.axes, layout))):
            continue
        block = [math.ceil(n / p) for n, p in zip(shape, layout)]
        # the busiest block's halo points received per exchange: a side on a wall receives none
        sides = [2 if p > 2 or (p == 2 and a.periodic) else 1 if p == 2 else 0
                 for a, p in zip(lowered.axes, layout)]
        exchanged = sum(s * lowered.halo[k] * math.prod(block[:k] + block[k + 1:]) for k, s in enumerate(sides))
        imbalance = math.prod(block) * ranks / math.prod(shape)
        candidates.append((exchanged, imbalance, layout[::-1], layout))
    if not candidates:
        raise OptionError(f"the grid {'x'.join(map(str, shape))} of model {lowered.name!r} cannot be split into "
                          f"{ranks} blocks of at least {[minimum_points(lowered, k) for k in range(lowered.ndim)]} "
                          "points per axis: start fewer processes or use more points")
    return min(candidates)[-1]


def block_model(lowered: LoweredModel, block: Block, overlap: bool = False) -> LoweredModel:
    """The lowered model one block runs (see the module docstring); ``overlap``: its passes overlap the
    halo exchange where that changes no value (:func:`symsim.codegen.loops.exchange_overlap`)."""
    axes, walls, exchanged = [], [], []
    for k, (axis, (first, points)) in enumerate(zip(lowered.axes, block.ranges(lowered.shape))):
        split = block.layout[k] > 1
        start = axis.start + first * axis.spacing
        axes.append(BlockAxis(axis.name, start, start + (points - 1) * axis.spacing, points,
                              axis.periodic and not split, axis.spacing, axis.start, first))
        if split:
            exchanged.append(k)
        for wall in lowered.walls:
            owner = block.coords[k] == (0 if wall.side == "low" else block.layout[k] - 1)
            if wall.axis == k and owner:
                walls.append(wall)
    owned = tuple(slice(first, first + n) for first, n in block.ranges(lowered.shape))
    initial = {f: np.broadcast_to(value, lowered.shape)[owned].copy() if isinstance(value, np.ndarray) else value
               for f, value in lowered.initial.items()}
    ordered = tuple(w for w in lowered.walls if w in walls)
    return replace(lowered, axes=tuple(axes), walls=ordered, initial=initial, exchanged=tuple(exchanged),
                   overlap=overlap and bool(exchanged))
