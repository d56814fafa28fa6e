"""One model on a grid decomposed over MPI processes: each steps its block, halo layers are exchanged.

    mpirun -n 4 symsim run examples/gray_scott.py --target numba            # automatic layout
    mpirun -n 4 symsim run examples/gray_scott.py --target numba --decompose 4x1

Each process (rank) owns one block of the grid (:mod:`symsim.decomposition`) and runs the
ordinary generated module of its block's lowered model; the module's boundary pass
calls ``_exchange(state, axis)`` where the code-generation walk placed an exchange step,
and :class:`HaloExchange` is that function here: non-blocking sends and receives of
the slabs of halo width on both sides of the axis. The time loop is the single-process
one (:func:`symsim.solve.integrate`) with an :class:`MpiCollective`, so that the
suggested step, dopri5's error norm and the finite/growth check are those of the whole
grid and every rank takes the same steps. Results are those of one process to
round-off (bit for bit on the NumPy target: coordinates come from the whole grid's index).
The saves are gathered on rank 0 (:func:`gather_blocks`), which writes the outputs, or,
into a Zarr store, each rank writes its own block of each save as it is taken
(:class:`symsim.store.StoredSaves`). The run itself is driven by :func:`symsim.solve.simulate`;
this module holds what it needs of MPI.

The e-graph pass has a time limit, so two passes may find different kernels: rank 0 runs
it once and sends the kernel to every rank. Messages between ranks are pickled by
mpi4py: they come from this program's own processes, never from a file.

An error that every rank meets at the same point (a bad option, a blow-up found by the
collective check) is raised on every rank and reported once by rank 0; an error on one
rank alone stops the run with :func:`abort` (MPI_Abort), so that none waits forever.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from .collective import Collective
from .decomposition import Block
from .errors import OptionError, SymsimError

def mpi():
    """mpi4py's MPI module, or a clear error naming the extra that installs it."""
    try:
        from mpi4py import MPI
    except ImportError:
        raise OptionError("a decomposed run needs mpi4py and an MPI library: pip install 'symsim[mpi]' "
                          "(mpi4py with the mpich wheel)") from None
    return MPI


class MpiCollective(Collective):
    """Reductions over the ranks of a communicator."""

    def __init__(self, comm):
        self.comm = comm
        self.is_root = comm.rank == 0
        self.size = comm.size

    def sum(self, value: float) -> float:
        return self.comm.allreduce(float(value), op=mpi().SUM)

    def max(self, value: float) -> float:
        return self.comm.allreduce(float(value), op=mpi().MAX)

    def first(self, message: str | None) -> str | None:
        return next((m for m in self.comm.allgather(message) if m is not None), None)

    def union(self, items: tuple) -> tuple:
        return tuple(dict.fromkeys(item for part in self.comm.allgather(tuple(items)) for item in part))

    def elementwise(self, values, op: str):
        local = np.ascontiguousarray(values, dtype=float)
        out = np.empty_like(local)
        self.comm.Allreduce(local, out, op={"min": mpi().MIN, "max": mpi().MAX, "sum": mpi().SUM}[op])
        return out

    def broadcast(self, value):
        return self.comm.bcast(value, root=0)

    def agreed(self, action):
        """``action()``'s value on every rank, or, when it raised a symsim error on any rank, that error
        (the lowest rank's) raised on every rank, marked as seen by all."""
        try:
            value, error = action(), None
        except SymsimError as raised:
            value, error = None, raised
        first = next((e for e in self.comm.allgather(error) if e is not None), None)
        if first is not None:
            first.all_processes = True
            raise first
        return value


class HaloExchange:
    """The ``_exchange(state, axis)`` of one block's module: its halo layers along ``axis`` from the
    neighbouring blocks' edge layers, over the whole padded extent of the other axes.

    A message fills the receiver's low halo (tag ``2*axis``) or its high halo (``2*axis + 1``), so two
    messages between the same pair of ranks (two blocks on a periodic axis) never mix. Buffers are
    allocated once; a side with no neighbour (a wall) is skipped."""

    def __init__(self, comm, block: Block, local, periodic: tuple):
        self.comm = comm
        self.seconds = 0.0       # spent in exchanges (copies and waiting): the run's stats report it
        self._all_done = mpi().Request.Testall
        self._requests, self._arrivals = [], []     # of the exchange under way
        self.plans = {}
        for k in local.exchanged:
            low, high = (block.neighbour(k, side, periodic[k]) for side in ("low", "high"))
            halo, points = local.halo[k], local.axes[k].points

            def slab(start, k=k, halo=halo):   # halo layers of axis k from ``start``, the padded extent elsewhere
                index = [slice(None)] + [slice(0, n) for n in local.padded_shape]
                index[k + 1] = slice(start, start + halo)
                return tuple(index)

            shape = list((len(local.fields),) + local.padded_shape)
            shape[k + 1] = halo
            # per side: neighbour, send buffer, its slab (my edge layers), receive buffer, its slab (my halo)
            self.plans[k] = ((low, np.empty(shape), slab(halo), np.empty(shape), slab(0)),
                             (high, np.empty(shape), slab(points), np.empty(shape), slab(points + halo)))

    def __call__(self, state, axis: int) -> None:
        """The halo layers along ``axis``, exchanged before the call returns."""
        started = time.perf_counter()
        self._post(state, axis)
        self._complete(state)
        self.seconds += time.perf_counter() - started

    def begin(self, state) -> None:
        """Start the exchange of every exchanged axis at once (the edge layers are copied out first, so
        ``state`` may change meanwhile); :meth:`end` completes it. What a pass that overlaps the exchange
        with its deep points calls (:func:`symsim.codegen.loops.exchange_overlap`)."""
        started = time.perf_counter()
        for axis in self.plans:
            self._post(state, axis)
        self.seconds += time.perf_counter() - started

    def end(self, state) -> None:
        started = time.perf_counter()
        self._complete(state)
        self.seconds += time.perf_counter() - started

    def _post(self, state, axis: int) -> None:
        (low, send_low, first, receive_low, below), (high, send_high, last, receive_high, above) = self.plans[axis]
        if low is not None:
            self._requests.append(self.comm.Irecv(receive_low, source=low, tag=2 * axis))
            self._arrivals.append((below, receive_low))
        if high is not None:
            self._requests.append(self.comm.Irecv(receive_high, source=high, tag=2 * axis + 1))
            self._arrivals.append((above, receive_high))
        if low is not None:      # my first layers: the low neighbour's high halo
            np.copyto(send_low, state[first])
            self._requests.append(self.comm.Isend(send_low, dest=low, tag=2 * axis + 1))
        if high is not None:     # my last layers: the high neighbour's low halo
            np.copyto(send_high, state[last])
            self._requests.append(self.comm.Isend(send_high, dest=high, tag=2 * axis))

    def _complete(self, state) -> None:
        # polled from Python, not waited for in C: a Ctrl-C then reaches this rank even while a
        # neighbour has already stopped (MPI_Waitall would spin in C forever)
        while not self._all_done(self._requests):
            pass
        for halo, received in self._arrivals:
            state[halo] = received
        self._requests, self._arrivals = [], []


def share_cores(comm) -> None:
    """Numba's threads per rank: this machine's cores shared among the ranks on it (unless
    NUMBA_NUM_THREADS says otherwise). Each rank would otherwise start a thread per core, and
    two ranks' threads contending for every core made a step 7x slower here."""
    if "NUMBA_NUM_THREADS" in os.environ:
        return
    import numba
    on_this_machine = comm.Split_type(mpi().COMM_TYPE_SHARED).size
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    numba.set_num_threads(max(1, min(numba.config.NUMBA_NUM_THREADS, cores // on_this_machine)))


def gather_blocks(comm, layout: tuple, shape: tuple, block_saves: np.ndarray) -> np.ndarray | None:
    """The whole grid's saves (saves, fields, *shape) on rank 0 from each block's (None on the other ranks).
    mpi4py pickles the blocks: what a rank sends, only another rank of this run reads."""
    blocks = comm.gather(block_saves, root=0)
    if comm.rank != 0:
        return None
    saved = np.empty(block_saves.shape[:2] + tuple(shape))
    for rank, part in enumerate(blocks):
        index = tuple(slice(first, first + n) for first, n in Block.of_rank(layout, rank).ranges(shape))
        saved[(slice(None), slice(None)) + index] = part
    return saved


def abort(error) -> None:
    """Stop every rank after an error on this one alone: one line naming the rank, then MPI_Abort."""
    comm = mpi().COMM_WORLD
    message = " ".join(str(error).split())
    print(f"symsim: error on rank {comm.rank} of {comm.size}: {message}", file=sys.stderr, flush=True)
    comm.Abort(1)
