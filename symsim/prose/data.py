"""Training and evaluation samples for the PROSE transformer, from symsim's compiled ensemble solver::

    samples = generate_samples(DataSpec(), count=256, seed=0)     # every family, mixed
    batch = samples.batch(np.arange(32))                          # torch tensors for the model

One sample is one trajectory of one family (parameters uniform within +-10% of the
nominal values, initial state uniform in [-2, 2]^d), saved at 192 points on
t in [0, 6]: the first 64 points, with 2% Gaussian noise, are what the model reads;
the remaining 128 clean points are what it must predict. Trajectories that leave
|u| <= 1e3 are rejected and redrawn. The symbolic side of a sample is the system
with its drawn constants (the decoder's target) and, optionally, a guessed skeleton
(the symbol encoder's input), corrupted on request by adding a wrong term or
dropping a term.

Two ways to get samples: :func:`generate_samples` (in this process; the fixed,
seeded evaluation set is written with :meth:`Samples.save` as an npz without
pickled objects) and :class:`OnlineBatches` (worker processes stream fresh batches
to training through a queue, no disk round trip).
"""

from __future__ import annotations

import math
import multiprocessing
import os
import queue
from dataclasses import asdict, dataclass, fields

import numpy as np
import sympy

from ..errors import OptionError, SolverError, SymsimError
from ..io import atomic_write
from .families import FAMILIES, SAVES, T_END, state_symbols
from .tokens import MAX_EQUATIONS, VOCAB, encode_system

#: channels of every sample's arrays: the largest system the tokens can write
MAX_DIMENSION = MAX_EQUATIONS


@dataclass(frozen=True)
class DataSpec:
    """What a sample looks like; the defaults are PROSE's."""

    families: tuple = tuple(FAMILIES)
    t_end: float = T_END
    points: int = SAVES          # saves on [0, t_end]
    input_points: int = 64       # the first ones are the model's input, the rest its target
    noise: float = 0.02          # observation noise, relative to each channel's RMS over the trajectory
    parameter_spread: float = 0.1
    initial_range: float = 2.0
    bound: float = 1e3
    add_term_probability: float = 0.0    # corrupt the guessed skeleton by adding a wrong term
    drop_term_probability: float = 0.0   # ... or by dropping one of its terms
    no_symbol_probability: float = 0.0   # share of samples whose symbol input is left out

    def __post_init__(self):
        unknown = [name for name in self.families if name not in FAMILIES]
        if unknown:
            raise OptionError(f"unknown ODE families {unknown}; choose from {list(FAMILIES)}")
        if not self.families:
            raise OptionError("DataSpec needs at least one family")
        if not 1 <= self.input_points < self.points:
            raise OptionError(f"input_points must be in [1, points), got {self.input_points} of {self.points}")
        for name in ("add_term_probability", "drop_term_probability", "no_symbol_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise OptionError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}")

    @property
    def times(self) -> np.ndarray:
        return np.linspace(0.0, self.t_end, self.points)


def window_batch(windows: np.ndarray, spec: DataSpec) -> dict:
    """Observed windows (count, spec.input_points, d) as the model's batch: the spec's input and query
    times, channels beyond d zero and masked out (what predicting and decoding need, no targets)."""
    import torch

    count, _, d = windows.shape
    times = spec.times.astype(np.float32)
    split = spec.input_points
    values = np.zeros((count, split, MAX_DIMENSION), dtype=np.float32)
    values[:, :, :d] = windows
    return {"data_times": torch.as_tensor(np.tile(times[:split], (count, 1))),
            "data_values": torch.as_tensor(values),
            "dim_mask": torch.as_tensor(np.tile(np.arange(MAX_DIMENSION) < d, (count, 1))),
            "query_times": torch.as_tensor(np.tile(times[split:], (count, 1)))}


@dataclass
class Samples:
    """A set of samples as padded arrays (channels beyond a system's dimension are zero).

    ``symbol_target`` holds the decoder's target ids (bos ... eos), ``symbol_input`` the
    guessed skeleton's ids (all pad where left out); both padded with ``VOCAB.pad_id``.
    """

    spec: DataSpec
    family: np.ndarray          # (n,) index into spec.families
    dimension: np.ndarray       # (n,)
    clean: np.ndarray           # (n, points, 5)
    noisy: np.ndarray           # (n, points, 5)
    params: np.ndarray          # (n, max parameters), NaN beyond a family's own
    symbol_target: np.ndarray   # (n, target length) int64
    symbol_input: np.ndarray    # (n, input length) int64

    def __len__(self) -> int:
        return len(self.family)

    def arrays(self) -> dict[str, np.ndarray]:
        """Every per-sample array by field name (all but ``spec``)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "spec"}

    def family_name(self, i: int) -> str:
        return self.spec.families[int(self.family[i])]

    def system(self, i: int) -> list[sympy.Expr]:
        """The true right-hand sides of sample ``i`` (its drawn constants, not rounded)."""
        family = FAMILIES[self.family_name(i)]
        values = dict(zip(family.nominal, self.params[i]))
        return family.rhs(values)

    def batch(self, index, device=None) -> dict:
        """Samples ``index`` as the model's batch of torch tensors (see symsim.prose.model)."""
        import torch

        index = np.asarray(index)
        split = self.spec.input_points
        times = self.spec.times.astype(np.float32)
        count = len(index)
        dim_mask = np.arange(MAX_DIMENSION)[None, :] < self.dimension[index][:, None]
        arrays = {
            "data_times": np.broadcast_to(times[:split], (count, split)),
            "data_values": self.noisy[index, :split],
            "dim_mask": dim_mask,
            "query_times": np.broadcast_to(times[split:], (count, len(times) - split)),
            "query_values": self.clean[index, split:],
            "symbol_input": _trim_padding(self.symbol_input[index]),
            "symbol_target": _trim_padding(self.symbol_target[index]),
        }
        batch = {}
        for name, array in arrays.items():
            dtype = {np.dtype(bool): torch.bool, np.dtype(np.int64): torch.int64}.get(array.dtype, torch.float32)
            batch[name] = torch.as_tensor(np.ascontiguousarray(array), dtype=dtype, device=device)
        return batch

    # -- on disk: npz of plain arrays, loaded with allow_pickle=False ---------------------

    def save(self, path) -> None:
        """Write the samples (and the spec that made them) as an npz, atomically."""
        arrays = self.arrays()
        spec = asdict(self.spec)
        arrays["spec_families"] = np.array(spec.pop("families"), dtype=str)
        arrays["spec_values"] = np.array([float(v) for v in spec.values()])
        arrays["spec_names"] = np.array(list(spec), dtype=str)
        arrays["vocabulary"] = np.array(VOCAB.tokens(range(len(VOCAB))), dtype=str)
        atomic_write(path, lambda stream: np.savez_compressed(stream, **arrays))

    @classmethod
    def load(cls, path) -> "Samples":
        """Read samples written by :meth:`save`; refuses files of another vocabulary."""
        try:
            with np.load(path, allow_pickle=False) as stored:
                arrays = {name: stored[name] for name in stored.files}
        except (OSError, ValueError) as error:
            raise SymsimError(f"{path}: not a symsim sample file ({error})") from None
        needed = {f.name for f in fields(cls) if f.name != "spec"} | {"spec_families", "spec_values", "spec_names",
                                                                       "vocabulary"}
        missing = sorted(needed - set(arrays))
        if missing:
            raise SymsimError(f"{path}: not a symsim sample file (missing {missing})")
        if list(arrays.pop("vocabulary")) != VOCAB.tokens(range(len(VOCAB))):
            raise SymsimError(f"{path}: written with another token vocabulary; regenerate it")
        types = {f.name: f.type for f in fields(DataSpec)}
        values = {}
        for name, value in zip(arrays.pop("spec_names"), arrays.pop("spec_values")):
            values[str(name)] = int(value) if types[str(name)] == "int" else float(value)
        spec = DataSpec(families=tuple(str(f) for f in arrays.pop("spec_families")), **values)
        return cls(spec=spec, **arrays)


def _trim_padding(ids: np.ndarray) -> np.ndarray:
    """Drop the columns that are padding in every row (the longest sample sets the width)."""
    used = (ids != VOCAB.pad_id).any(axis=0)
    width = max(int(np.flatnonzero(used).max()) + 1, 1) if used.any() else 1
    return ids[:, :width]


# -- generation --------------------------------------------------------------------------


def generate_samples(spec: DataSpec, count: int, seed=0, progress=None, chunk: int | None = None,
                     client=None) -> Samples:
    """``count`` samples, families drawn uniformly, reproducible from ``seed`` (an int or SeedSequence).

    ``progress``: a callable taking the number of samples just made (e.g. a tqdm's update).
    ``chunk``: make them in parts of ``chunk`` samples, each from its own seed spawned in order from
    ``seed``; the parts are independent, so a ``dask.distributed.Client`` given as ``client`` makes
    them as tasks on its workers (default chunk 256), with the same samples as without it.
    """
    if count < 1:
        raise OptionError(f"count must be at least 1, got {count}")
    sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    if chunk is not None or client is not None:
        return _generate_in_parts(spec, count, sequence, progress, chunk or 256, client)
    # the guesses draw from their own stream: corrupting them leaves the trajectories as they were
    rng, symbol_rng = (np.random.default_rng(s) for s in sequence.spawn(2))
    family_of = rng.integers(len(spec.families), size=count)
    parts = []
    for f in range(len(spec.families)):
        wanted = int(np.sum(family_of == f))
        if wanted:
            parts.append(_family_samples(spec, f, wanted, rng, symbol_rng))
            if progress is not None:
                progress(wanted)
    merged = _concatenate(spec, parts)
    order = rng.permutation(count)
    return Samples(spec, **{name: array[order] for name, array in merged.arrays().items()})


def _generate_in_parts(spec: DataSpec, count: int, sequence: np.random.SeedSequence, progress, chunk: int,
                       client) -> Samples:
    """:func:`generate_samples` in parts of ``chunk``, here or as tasks of a Dask ``client``, joined in order."""
    if chunk < 1:
        raise OptionError(f"chunk must be at least 1, got {chunk}")
    sizes = [min(chunk, count - start) for start in range(0, count, chunk)]
    seeds = sequence.spawn(len(sizes))
    if client is None:
        parts = []
        for size, part_seed in zip(sizes, seeds):
            parts.append(generate_samples(spec, size, part_seed))
            if progress is not None:
                progress(size)
        return _concatenate(spec, parts)
    from dask.distributed import as_completed

    # the tasks' results are this program's own workers' Samples (Dask pickles them), never a file's
    futures = [client.submit(generate_samples, spec, size, part_seed, pure=False)
               for size, part_seed in zip(sizes, seeds)]
    order = {future.key: k for k, future in enumerate(futures)}
    parts = [None] * len(futures)
    for future in as_completed(futures):
        parts[order[future.key]] = future.result()
        if progress is not None:
            progress(sizes[order[future.key]])
    return _concatenate(spec, parts)


def _family_samples(spec: DataSpec, f: int, count: int, rng: np.random.Generator,
                    symbol_rng: np.random.Generator) -> Samples:
    """``count`` bounded trajectories of family ``f``, with their noise and token streams."""
    from ..ensemble import solve_ensemble

    family = FAMILIES[spec.families[f]]
    nominal = np.array(list(family.nominal.values()), dtype=float)
    times = spec.times
    kept_params, kept_states, drawn = [], [], 0
    while sum(len(s) for s in kept_states) < count:
        # draw a few more than needed: some trajectories leave the bound
        batch = max(8, math.ceil(1.3 * (count - sum(len(s) for s in kept_states))))
        params = nominal * rng.uniform(1 - spec.parameter_spread, 1 + spec.parameter_spread, (batch, len(nominal)))
        y0 = rng.uniform(-spec.initial_range, spec.initial_range, (batch, family.dimension))
        result = solve_ensemble(family.model(), y0, times, params=params, bound=spec.bound)
        kept_params.append(params[result.ok])
        kept_states.append(result.states[result.ok])
        drawn += batch
        if drawn > 50 * count + 400:
            raise SolverError(f"family {family.name!r}: only {sum(len(s) for s in kept_states)} of {drawn} "
                              f"trajectories stayed within |u| <= {spec.bound:g}; check its nominal parameters")
    params = np.concatenate(kept_params)[:count]
    states = np.concatenate(kept_states)[:count]

    clean = np.zeros((count, len(times), MAX_DIMENSION))
    clean[:, :, :family.dimension] = states
    scale = np.sqrt(np.mean(states ** 2, axis=1, keepdims=True))     # per trajectory and channel
    noisy = clean.copy()
    noisy[:, :, :family.dimension] += spec.noise * scale * rng.standard_normal(states.shape)

    padded_params = np.full((count, _max_parameters(spec)), np.nan)
    padded_params[:, :len(nominal)] = params
    targets, inputs = [], []
    for row in params:
        system = family.rhs(dict(zip(family.nominal, row)))
        targets.append(VOCAB.ids(encode_system(system, with_ends=True)))
        if symbol_rng.random() < spec.no_symbol_probability:
            inputs.append([])
        else:
            guess = corrupt_system(system, symbol_rng, spec.add_term_probability, spec.drop_term_probability)
            inputs.append(VOCAB.ids(encode_system(guess, skeleton=True, with_ends=True)))
    return Samples(spec, np.full(count, f), np.full(count, family.dimension), clean, noisy, padded_params,
                   _pad(targets), _pad(inputs))


def _max_parameters(spec: DataSpec) -> int:
    return max(len(FAMILIES[name].nominal) for name in spec.families)


def _pad(rows: list[list[int]]) -> np.ndarray:
    width = max([len(r) for r in rows] + [1])
    out = np.full((len(rows), width), VOCAB.pad_id, dtype=np.int64)
    for i, row in enumerate(rows):
        out[i, :len(row)] = row
    return out


def _concatenate(spec: DataSpec, parts: list[Samples]) -> Samples:
    """One Samples of several, token arrays padded to the widest."""
    merged = {}
    for name in parts[0].arrays():
        arrays = [getattr(p, name) for p in parts]
        if name.startswith("symbol_"):
            width = max(a.shape[1] for a in arrays)
            arrays = [np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=VOCAB.pad_id) for a in arrays]
        merged[name] = np.concatenate(arrays)
    return Samples(spec, **merged)


# -- corrupting the guessed equations -----------------------------------------------------


def corrupt_system(system: list[sympy.Expr], rng: np.random.Generator, add_probability: float,
                   drop_probability: float) -> list[sympy.Expr]:
    """A plausible wrong guess at ``system``: maybe one term dropped, maybe one wrong term added.

    A dropped term is one summand of one equation (never the last one left); an added
    term is a constant times a variable or a product of two variables, in one equation.

        >>> u_0, u_1 = state_symbols(2)
        >>> corrupt_system([u_0 - u_0*u_1, u_1], np.random.default_rng(0), 0.0, 1.0)   # a term dropped
        [u_0, u_1]
        >>> corrupt_system([u_0 - u_0*u_1, u_1], np.random.default_rng(0), 1.0, 0.0)   # a term added
        [4.61*u_0**2 - u_0*u_1 + u_0, u_1]
    """
    system = list(system)
    variables = state_symbols(len(system))
    if rng.random() < drop_probability:
        candidates = [i for i, e in enumerate(system) if len(sympy.Add.make_args(e)) > 1]
        if candidates:
            i = candidates[rng.integers(len(candidates))]
            terms = sympy.Add.make_args(system[i])
            drop = int(rng.integers(len(terms)))
            system[i] = sympy.Add(*(t for k, t in enumerate(terms) if k != drop))
    if rng.random() < add_probability:
        i = int(rng.integers(len(system)))
        monomial = variables[rng.integers(len(variables))]
        if rng.random() < 0.5:
            monomial *= variables[rng.integers(len(variables))]
        coefficient = sympy.Float(round(float(rng.uniform(0.5, 5.0)) * rng.choice([-1, 1]), 2))
        system[i] = system[i] + coefficient * monomial
    return system


# -- online: worker processes stream fresh batches ----------------------------------------


class OnlineBatches:
    """An endless iterator of training batches, made by worker processes while the model trains::

        for step, batch in zip(range(1000), OnlineBatches(spec, batch_size=64, workers=2, seed=1)):
            loss = model_step(batch)

    Each worker integrates its own families' ensembles (seeded from ``seed``, ``rank``,
    ``start_step`` and the worker number, so ranks of a distributed run, workers and
    resumed runs see different samples) and puts whole batches of arrays on a bounded queue; nothing is written
    to disk. With ``workers=0`` the batches are made in this process (deterministic
    order, for tests). Close it (or use it as a context manager) to stop the workers.
    """

    def __init__(self, spec: DataSpec, batch_size: int, workers: int = 2, seed: int = 0, rank: int = 0,
                 start_step: int = 0, prefetch: int = 4, device=None):
        self._processes = []        # first: close() (and __del__) must work even if a check below fails
        if batch_size < 1:
            raise OptionError(f"batch_size must be at least 1, got {batch_size}")
        if workers < 0:
            raise OptionError(f"workers must be >= 0, got {workers}")
        self.spec, self.batch_size, self.device = spec, batch_size, device
        self._seeds = np.random.SeedSequence([seed, rank, start_step]).spawn(max(workers, 1))
        if workers == 0:
            self._local = _batch_stream(spec, batch_size, self._seeds[0])
            return
        # spawn, not fork: the parent may hold torch and Numba thread pools, which do not survive a fork
        context = multiprocessing.get_context("spawn")
        self._queue = context.Queue(maxsize=prefetch)
        self._stop = context.Event()
        # one thread per worker for the ensemble's prange: the trainer owns the cores. Set
        # before the start, since the worker imports Numba while it unpickles its target.
        saved = os.environ.get("NUMBA_NUM_THREADS")
        os.environ["NUMBA_NUM_THREADS"] = "1"
        try:
            for worker_seed in self._seeds:
                process = context.Process(target=_worker, daemon=True,
                                          args=(spec, batch_size, worker_seed, self._queue, self._stop))
                process.start()
                self._processes.append(process)
        finally:
            if saved is None:
                del os.environ["NUMBA_NUM_THREADS"]
            else:
                os.environ["NUMBA_NUM_THREADS"] = saved

    def __iter__(self):
        return self

    def __next__(self) -> dict:
        if not self._processes:
            samples = next(self._local)
        else:
            while True:
                try:
                    message = self._queue.get(timeout=5.0)
                    break
                except queue.Empty:
                    if not any(p.is_alive() for p in self._processes):
                        raise SolverError("every data worker has stopped; see their error output above") from None
            if isinstance(message, str):
                raise SolverError(f"a data worker failed: {message}")
            samples = Samples(self.spec, **message)
        return samples.batch(np.arange(len(samples)), device=self.device)

    def close(self) -> None:
        if self._processes:
            self._stop.set()
            for process in self._processes:
                process.join(timeout=5.0)
                # a worker still inside a long ensemble (slow or loaded machine) is stopped; terminate()
                # only sends the signal, so wait for the exit before reporting the stream closed
                for stop_now in (process.terminate, process.kill):
                    if not process.is_alive():
                        break
                    stop_now()
                    process.join(timeout=5.0)
            self._processes = []
            self._local = iter(())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


def _batch_stream(spec: DataSpec, batch_size: int, seed_sequence: np.random.SeedSequence):
    while True:
        yield generate_samples(spec, batch_size, seed=seed_sequence.spawn(1)[0])


def _worker(spec, batch_size, seed_sequence, out, stop) -> None:
    """One data worker: make batches until told to stop (errors go back as one line)."""
    try:
        for samples in _batch_stream(spec, batch_size, seed_sequence):
            message = samples.arrays()
            while not stop.is_set():
                try:
                    out.put(message, timeout=0.5)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                # the batch already queued may never be read: exit without waiting to flush it into the pipe
                out.cancel_join_thread()
                return
    except SymsimError as error:
        out.put(str(error))
    except Exception as error:  # noqa: BLE001 -- the trainer must hear why its data stopped
        out.put(f"{type(error).__name__}: {error}")
