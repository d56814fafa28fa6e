"""Saves streamed into a Zarr store or a NetCDF-4 file as a run produces them.

A run given ``store="out.zarr"`` or ``store="out.nc"`` (``symsim run ... -o out.zarr``) holds no more
than the save being written: each save goes to disk when it is taken, so a long run on a large
grid needs the memory of its state, not of its whole history. On a decomposed grid every rank
writes its own block of each save into a Zarr store (a chunk is one save of one block, so no two
ranks write the same chunk), and nothing is gathered; a NetCDF file is written by one process.

Both hold what :meth:`symsim.result.Result.save` writes -- coordinates ``t`` and the axes, one
variable per field, the attributes :meth:`~symsim.result.Result.dataset_attributes` gives -- read
by ``xarray.open_zarr`` / ``xarray.open_dataset`` and :meth:`~symsim.result.Result.load`. The
store is Zarr format 2 with consolidated metadata; the NetCDF file's ``t`` is its unlimited
dimension. Either is built beside the path under a temporary name and moved into place when the
run ends: a failed run leaves nothing, and a run stopped by Ctrl-C on one process leaves a
complete store of the saves taken so far (what ``--restart-from`` continues).
"""

from __future__ import annotations

import contextlib
import gc
import math
from pathlib import Path

import numpy as np

from .collective import ONE_PROCESS, Collective
from .decomposition import Block, block_ranges
from .errors import OptionError, RunInterrupted
from .io import atomic_directory, atomic_file
from .result import Result, SaveDiagnostics

#: the largest chunk a store of one process is written in (a save of a large grid is split along its
#: first axis): big enough for few files, small enough that encoding one does not double the memory
CHUNK_BYTES = 32 * 2**20


class StoredSaves:
    """The saves of a run written into a Zarr store or a NetCDF file at ``path`` (by its suffix), each as
    it is taken; what :func:`symsim.solve.integrate` fills in place of saves held in memory.

    ``layout`` and ``block``: the decomposition and this process's block (one block of the whole
    grid by default); ``collective``: the processes writing the blocks together.
    """

    def __init__(self, path, lowered, save_times: np.ndarray, collective: Collective = ONE_PROCESS,
                 layout: tuple | None = None, block: Block | None = None, compress: bool = False):
        # Zarr does its I/O on a thread of its own, where a garbage collection would drop the e-graph pass's
        # egglog objects, which may only be dropped on the thread that made them: collect them here (once per
        # run; a collection after every pass cost seconds in a process holding many objects)
        gc.collect()
        self.path, self.lowered, self.collective = path, lowered, collective
        layout = layout or (1,) * lowered.ndim
        block = block or Block.of_rank(layout, 0)
        self.owned = tuple(slice(first, first + n) for first, n in block.ranges(lowered.shape))
        self.count = 0
        self._diagnostics = SaveDiagnostics(len(save_times), len(lowered.fields))  # combined over blocks at the end
        self._staging = contextlib.ExitStack()
        self._format = _NetCDF(compress) if Path(path).suffix == ".nc" else _Zarr()
        self._save_times = save_times
        chunks = _chunks(lowered.shape, layout)

        def create():           # by the first process, under a temporary name beside ``path``
            if not collective.is_root:
                return None
            staged = self._staging.enter_context(self._format.staging(path))
            self._format.create(staged, lowered, save_times, chunks)
            return str(staged)

        self.staged = staged = collective.broadcast(self._guarded(create))
        self._handles = self._guarded(lambda: self._format.open(staged, lowered.fields))

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
        for i in range(len(self._save_times))[index] if isinstance(index, slice) else (index,):
            try:
                self._format.write(self._handles, i, self._save_times[i], self.owned, values)
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
        if self.collective.size > 1 or self.count < 2:      # nothing past the start is worth a file
            self.abandon()
            done = f" ({self.count} of {len(save_times)} saves done)" if self.collective.size == 1 else ""
            return RunInterrupted(f"interrupted before t={save_times[min(self.count, len(save_times) - 1)]:g}{done}",
                                  None)
        taken = save_times[:self.count]
        result = self._finish(taken, values, dict(stats, interrupted=True, t_end=float(save_times[-1])))
        return RunInterrupted(f"interrupted at t={taken[-1]:g} ({self.count} of {len(save_times)} saves done)",
                              result)

    def abandon(self) -> None:
        """Remove the unfinished store (a failed run writes nothing)."""
        self._format.close(self._handles)
        self._staging.__exit__(RuntimeError, RuntimeError("abandoned"), None)

    def _finish(self, save_times: np.ndarray, values: dict, stats: dict) -> Result:
        lowered, collective, count = self.lowered, self.collective, len(save_times)
        stats = dict(stats, store=str(self.path),
                     diagnostics=self._diagnostics.combined(lowered, collective, count))
        coords = {a.name: a.coordinates for a in lowered.axes}
        attributes = Result(lowered.name, save_times, coords, dict.fromkeys(lowered.fields), dict(values),
                            stats).dataset_attributes()

        def complete():
            self._format.complete(self.staged, self._handles, save_times, attributes)
            self._staging.close()               # moved into place
        self._guarded(lambda: self._format.close(self._handles))   # every block written before the root completes
        self._guarded(complete if collective.is_root else lambda: None)
        return Result(lowered.name, save_times, coords, self._format.read(self.path, lowered.fields), dict(values),
                      stats)


def _chunks(shape: tuple, layout: tuple) -> tuple:
    """A chunk per save and block; on one process a large save is split along its first axis."""
    chunks = tuple(block_ranges(n, parts)[0][1] for n, parts in zip(shape, layout))
    if shape and math.prod(layout) == 1:
        row = 8 * math.prod(shape[1:])
        chunks = (max(1, min(shape[0], CHUNK_BYTES // row)),) + tuple(shape[1:])
    return chunks


class _Zarr:
    """A Zarr store (format 2): a folder; the arrays are made whole, a chunk not written reads as NaN."""

    staging = staticmethod(atomic_directory)

    @staticmethod
    def create(folder, lowered, save_times: np.ndarray, chunks: tuple) -> None:
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

    @staticmethod
    def open(folder, fields) -> list:
        import zarr

        group = zarr.open_group(folder, mode="r+", zarr_format=2)
        return [group[f] for f in fields]

    @staticmethod
    def write(arrays, index: int, t: float, owned: tuple, values: np.ndarray) -> None:
        for k, array in enumerate(arrays):
            array[(index,) + owned] = values[k]

    @staticmethod
    def close(arrays) -> None:
        """Nothing held open: every write went to disk."""

    @staticmethod
    def complete(folder, arrays, save_times: np.ndarray, attributes: dict) -> None:
        import zarr

        group = zarr.open_group(folder, mode="r+", zarr_format=2)
        count = len(save_times)
        if count < group["t"].shape[0]:         # a run cut short: the saves it took
            for name in ("t", *(array.path.split("/")[-1] for array in arrays)):
                group[name].resize((count,) + group[name].shape[1:])
            group["t"][:] = save_times
        group.attrs.update(attributes)
        zarr.consolidate_metadata(folder, zarr_format=2)

    @staticmethod
    def read(path, fields) -> dict:
        import zarr

        group = zarr.open_group(path, mode="r")
        return {f: group[f] for f in fields}


class _NetCDF:
    """A NetCDF-4 file (one process): ``t`` unlimited, one record per save as it is taken."""

    staging = staticmethod(atomic_file)

    def __init__(self, compress: bool):
        self.compress = compress

    def create(self, path, lowered, save_times: np.ndarray, chunks: tuple) -> None:
        import netCDF4

        with netCDF4.Dataset(path, "w", format="NETCDF4") as dataset:
            dataset.createDimension("t", None)
            dataset.createVariable("t", "f8", ("t",)).long_name = "time"
            for axis in lowered.axes:
                dataset.createDimension(axis.name, axis.points)
                variable = dataset.createVariable(axis.name, "f8", (axis.name,))
                variable.long_name = f"coordinate {axis.name}"
                variable[:] = axis.coordinates
            dimensions = ("t", *(a.name for a in lowered.axes))
            for field in lowered.fields:
                variable = dataset.createVariable(field, "f8", dimensions, zlib=self.compress, fill_value=np.nan,
                                                  chunksizes=(1,) + chunks if chunks else None)
                variable.long_name = f"field {field}"

    @staticmethod
    def open(path, fields) -> tuple:
        import netCDF4

        dataset = netCDF4.Dataset(path, "a")
        return dataset, [dataset[f] for f in fields]

    @staticmethod
    def write(handles: tuple, index: int, t: float, owned: tuple, values: np.ndarray) -> None:
        dataset, variables = handles
        dataset["t"][index] = t
        for k, variable in enumerate(variables):
            variable[(index,) + owned] = values[k]

    @staticmethod
    def close(handles: tuple) -> None:
        if handles[0].isopen():
            handles[0].close()

    @staticmethod
    def complete(path, handles: tuple, save_times: np.ndarray, attributes: dict) -> None:
        import netCDF4

        with netCDF4.Dataset(path, "a") as written:    # the records taken are the saves; t grew with them
            written.setncatts(attributes)

    @staticmethod
    def read(path, fields) -> dict:
        import netCDF4

        dataset = netCDF4.Dataset(path, "r")
        dataset.set_auto_mask(False)                   # plain arrays: NaN is NaN, not masked
        return {f: dataset[f] for f in fields}
