"""Saves streamed into a Zarr store as a run produces them.

A run given ``store="out.zarr"`` (``symsim run ... -o out.zarr``) holds no more than the save being
written: each save goes into the store when it is taken, so a long run on a large grid needs the
memory of its state, not of its whole history. On a decomposed grid every rank writes its own
block of each save (a chunk is one save of one block, so no two ranks write the same chunk), and
nothing is gathered.

The store is Zarr format 2 with consolidated metadata and xarray's dimension names, read by
``xarray.open_zarr`` and :meth:`symsim.result.Result.load`: coordinates ``t`` and the axes, one
array per field, the attributes :meth:`~symsim.result.Result.dataset_attributes` gives. It is
built in a temporary folder beside the path and moved into place when the run ends: a failed run
leaves nothing, and a run stopped by Ctrl-C on one process leaves a complete store of the saves
taken so far (what ``--restart-from`` continues).
"""

from __future__ import annotations

import contextlib
import gc
import math

import numpy as np

from .collective import ONE_PROCESS, Collective
from .decomposition import Block, block_ranges
from .errors import OptionError, RunInterrupted
from .io import atomic_directory
from .result import Result, SaveDiagnostics

#: the largest chunk a store of one process is written in (a save of a large grid is split along its
#: first axis): big enough for few files, small enough that encoding one does not double the memory
CHUNK_BYTES = 32 * 2**20


class StoredSaves:
    """The saves of a run written into a Zarr store at ``path``, each as it is taken; what
    :func:`symsim.solve.integrate` fills in place of saves held in memory.

    ``layout`` and ``block``: the decomposition and this process's block (one block of the whole
    grid by default); ``collective``: the processes writing the blocks together.
    """

    def __init__(self, path, lowered, save_times: np.ndarray, collective: Collective = ONE_PROCESS,
                 layout: tuple | None = None, block: Block | None = None):
        # Zarr does its I/O on a thread of its own, where a garbage collection would drop the e-graph pass's
        # egglog objects, which may only be dropped on the thread that made them: collect them here
        gc.collect()
        self.path, self.lowered, self.collective = path, lowered, collective
        layout = layout or (1,) * lowered.ndim
        block = block or Block.of_rank(layout, 0)
        self.owned = tuple(slice(first, first + n) for first, n in block.ranges(lowered.shape))
        self.count = 0
        saves, fields = len(save_times), len(lowered.fields)
        self.saves = saves
        self._diagnostics = SaveDiagnostics(saves, fields)    # combined over the blocks at the end
        self._staging = contextlib.ExitStack()
        chunks = _chunks(lowered.shape, layout)

        def create():           # by the first process, in a temporary folder beside ``path``
            if not collective.is_root:
                return None
            folder = self._staging.enter_context(atomic_directory(path))
            _create_arrays(folder, lowered, save_times, chunks)
            return str(folder)

        self.folder = folder = collective.broadcast(self._guarded(create))
        self._arrays = self._guarded(lambda: _open_arrays(folder, lowered.fields))

    def _guarded(self, action):
        """``action()`` on every process, a full disk or a vanished folder turned into one error for all."""
        def run():
            try:
                return action()
            except OSError as error:
                raise OptionError(f"-o {self.path}: cannot write the store ({error.strerror or error})") from None
        return self.collective.agreed(run)

    def __setitem__(self, index, values) -> None:
        """Save ``index`` (or each save of a slice of them) is ``values``, this block's (fields, *grid)."""
        values = np.asarray(values, dtype=float)
        for i in range(self.saves)[index] if isinstance(index, slice) else (index,):
            try:
                for k, array in enumerate(self._arrays):
                    array[(i,) + self.owned] = values[k]
            except OSError as error:        # each process writes alone here: it stops the run on its own
                raise OptionError(f"-o {self.path}: cannot write save {i} ({error.strerror or error})") from None
            self._diagnostics.add(i, values)
            self.count = max(self.count, i + 1)

    def result(self, lowered, save_times: np.ndarray, values: dict, stats: dict) -> Result:
        """The finished store (its attributes written, moved into place) as a Result whose fields are read
        from it as they are indexed; on every process."""
        return self._finish(save_times, values, stats)

    def interrupted(self, lowered, save_times: np.ndarray, values: dict, stats: dict) -> RunInterrupted:
        """The store cut to the saves taken so far and moved into place, carried by the error. On a
        decomposed grid the ranks stop at different points of a step: the store is abandoned."""
        if self.collective.size > 1 or self.count < 1:
            self.abandon()
            return RunInterrupted(f"interrupted at a save before t={save_times[-1]:g}", None)
        taken = save_times[:self.count]
        result = self._finish(taken, values, dict(stats, interrupted=True, t_end=float(save_times[-1])))
        return RunInterrupted(f"interrupted at t={taken[-1]:g} ({self.count} of {len(save_times)} saves done)",
                              result)

    def abandon(self) -> None:
        """Remove the unfinished store (a failed run writes nothing)."""
        self._staging.__exit__(RuntimeError, RuntimeError("abandoned"), None)

    def _finish(self, save_times: np.ndarray, values: dict, stats: dict) -> Result:
        import zarr

        lowered, collective, count = self.lowered, self.collective, len(save_times)
        stats = dict(stats, store=str(self.path),
                     diagnostics=self._diagnostics.combined(lowered, collective, count))
        coords = {a.name: a.coordinates for a in lowered.axes}

        def complete():
            group = zarr.open_group(self.folder, mode="r+", zarr_format=2)
            if count < self.saves:              # a run cut short: the saves it took
                for name in ("t", *lowered.fields):
                    group[name].resize((count,) + group[name].shape[1:])
                group["t"][:] = save_times
            group.attrs.update(Result(lowered.name, save_times, coords, dict.fromkeys(lowered.fields), dict(values),
                                      stats).dataset_attributes())
            zarr.consolidate_metadata(self.folder, zarr_format=2)
            self._staging.close()               # moved into place
        self._guarded(lambda: None)             # every block written before the root completes the store
        self._guarded(complete if collective.is_root else lambda: None)
        group = zarr.open_group(self.path, mode="r")
        return Result(lowered.name, save_times, coords, {f: group[f] for f in lowered.fields}, dict(values), stats)


def _chunks(shape: tuple, layout: tuple) -> tuple:
    """A chunk per save and block; on one process a large save is split along its first axis."""
    chunks = tuple(block_ranges(n, parts)[0][1] for n, parts in zip(shape, layout))
    if shape and math.prod(layout) == 1:
        row = 8 * math.prod(shape[1:])
        chunks = (max(1, min(shape[0], CHUNK_BYTES // row)),) + tuple(shape[1:])
    return chunks


def _create_arrays(folder, lowered, save_times: np.ndarray, chunks: tuple) -> None:
    """The coordinates and the field arrays (a chunk not written reads as NaN)."""
    import zarr

    group = zarr.open_group(folder, mode="w", zarr_format=2)
    axes = [a.name for a in lowered.axes]
    for name, values in [("t", save_times)] + [(a.name, a.coordinates) for a in lowered.axes]:
        group.create_array(name, data=np.asarray(values, dtype=float), fill_value=None,
                           attributes={"_ARRAY_DIMENSIONS": [name],
                                       "long_name": "time" if name == "t" else f"coordinate {name}"})
    for field in lowered.fields:
        group.create_array(field, shape=(len(save_times),) + lowered.shape, chunks=(1,) + chunks, dtype="f8",
                           fill_value=np.nan, attributes={"_ARRAY_DIMENSIONS": ["t", *axes],
                                                          "long_name": f"field {field}"})


def _open_arrays(folder, fields) -> list:
    import zarr

    group = zarr.open_group(folder, mode="r+", zarr_format=2)
    return [group[f] for f in fields]
