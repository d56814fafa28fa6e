"""Run a model: compile it, integrate in time, and collect saved states into a Result.

    >>> result = simulate("heat_2d", t_end=0.01, method="rk4", saves=10, params={"D": 0.2})
    >>> result["u"].shape          # (saves + 1, *grid shape)
    (11, 129, 129)

Fixed-step methods take ``dt`` or a stable one suggested from the model. A suggested
step is shortened so that every save time is hit exactly; a given one is kept, and saves
that fall inside a step come from the cubic Hermite interpolant of its ends (error
O(dt^4), so every method keeps its order; on a GPU target the step is shortened instead,
with a warning). ``dopri5`` adapts its step to ``rtol``/``atol`` and reports accepted and
rejected steps. Before the run a :class:`~symsim.errors.SymsimWarning` says when the step
is above the stable estimate and when the model is ill-posed; such runs are watched for
growth (GROWTH_LIMIT) as well as for NaN/Inf.
"""

from __future__ import annotations

import ctypes
import importlib.util
import math
import os
import time as clock
import warnings
from pathlib import Path

import numpy as np

from .collective import ONE_PROCESS, Collective, launched_processes
from .compiler import CompiledModel, compile_model, kernels_cached, optimized_plan
from .errors import OptionError, RunInterrupted, SolverError, SymsimWarning
from .implicit import LINEAR_SOLVERS, implicit_stepper
from .integrators import AdaptiveStepper, CompiledStepper, FixedStepper, hermite
from .lowering import check_time_dependent_on_grid, lower_to_stencils
from .model import Model
from .result import Result, SaveDiagnostics
from .stability import SpectrumEstimate, spectrum_estimate, stable_step
from .system import SemiDiscreteSystem
from .tableaus import IMPLICIT_METHODS, RUN_METHODS, TABLEAUS

BUILTIN_DEFAULTS = {"t_end": None, "dt": None, "method": "rk4", "saves": 20,
                    "space_order": 2, "rtol": 1e-6, "atol": 1e-9, "linear_solver": "auto"}

#: steps between checks for NaN/Inf (each check reads the state once)
FINITE_CHECK_INTERVAL = 50
#: a run whose step is above the stable estimate (or whose model is ill-posed) stops when a field's
#: largest magnitude exceeds this many times the largest magnitude of the initial state
GROWTH_LIMIT = 1e6
#: an explicit run whose stable step is more than this many times shorter than the save interval
#: is told that the model is stiff, and which implicit method to use
STIFF_STEPS_PER_SAVE = 1000
#: fraction of the machine's available memory a run may plan to use
MEMORY_FRACTION = 0.8

#: ``target="auto"``: seconds per field and grid point of one right-hand-side evaluation on the NumPy target
#: (heat 2048^2 and Gray-Scott 1024^2 both measure 18 ns here, benchmarks/numpy_backend.json), how many
#: times faster one Numba thread is (10: 1.5-1.75 ns, benchmarks/scaling.json), each target's cost per
#: evaluation whatever the grid (heat_1d, 101 points: 29 us NumPy, 4.4 us Numba), and the Numba target's
#: fixed costs: loading cached kernels (0.4 s, benchmarks/startup.json) or compiling them (about 4 s)
NUMPY_SECONDS_PER_UPDATE = 18e-9
NUMBA_SPEEDUP_PER_THREAD = 10.0
NUMPY_SECONDS_PER_EVALUATION, NUMBA_SECONDS_PER_EVALUATION = 29e-6, 4.4e-6
NUMBA_LOAD_SECONDS, NUMBA_COMPILE_SECONDS = 0.4, 4.0
#: evaluations of the right-hand side per step of each method (dopri5: six new stages per accepted step)
EVALUATIONS_PER_STEP = {"euler": 1, "ssprk3": 3, "rk4": 4, "dopri5": 6}


def run_options(model: Model, **given) -> dict:
    """Run options: explicit values (not None) over the script's defaults over symsim's."""
    check_time_dependent_on_grid(model)     # a steady model or a geometry: say so before asking for t_end
    options = dict(BUILTIN_DEFAULTS)
    options.update(getattr(model, "run_defaults", {}) or {})
    options.update({k: v for k, v in given.items() if v is not None})
    if options["t_end"] is None:
        raise OptionError(f"model {model.name!r} has no t_end: pass t_end (--t-end) or set model.defaults(t_end=...)")
    try:
        options["t_end"] = float(options["t_end"])
        options["saves"] = int(options["saves"])
        options["space_order"] = int(options["space_order"])
        options["rtol"], options["atol"] = float(options["rtol"]), float(options["atol"])
        options["dt"] = None if options["dt"] is None else float(options["dt"])
    except (TypeError, ValueError) as error:
        raise OptionError(f"invalid run option: {error}") from None
    if not (options["t_end"] > 0 and math.isfinite(options["t_end"])):
        raise OptionError(f"t_end must be a positive number, got {options['t_end']}")
    if options["saves"] < 1:
        raise OptionError(f"saves must be at least 1, got {options['saves']}")
    if options["dt"] is not None and not (options["dt"] > 0 and math.isfinite(options["dt"])):
        raise OptionError(f"dt must be a positive number, got {options['dt']}")
    if options["method"] not in RUN_METHODS:
        raise OptionError(f"unknown method {options['method']!r}; choose one of {', '.join(RUN_METHODS)}")
    if options["linear_solver"] not in LINEAR_SOLVERS:
        raise OptionError(f"unknown linear solver {options['linear_solver']!r}; choose one of "
                          f"{', '.join(LINEAR_SOLVERS)}")
    if options["linear_solver"] == "krylov" and options["method"] == "radau":
        raise OptionError("--linear-solver krylov is for rodas, imex-ark and bdf; radau solves complex systems "
                          "and keeps its LU")
    if options["method"] in IMPLICIT_METHODS and importlib.util.find_spec("scipy") is None:
        raise OptionError(f"method {options['method']} needs SciPy's sparse LU: pip install 'symsim[stiff]'")
    return options


def simulate(model: Model, t_end: float | None = None, dt: float | None = None, method: str | None = None,
             saves: int | None = None, params: dict | None = None, target: str = "numpy",
             space_order: int | None = None, rtol: float | None = None, atol: float | None = None,
             linear_solver: str | None = None, progress: bool = False, egraph: bool = True, preflight=None,
             restart_from=None,
             decompose: str | tuple | None = None, store=None, overlap: bool = False, compress: bool = False) -> Result:
    """Integrate ``model`` from t=0 to ``t_end`` and return ``saves + 1`` evenly spaced states.

    ``target``: "numpy", "numba", "cuda", or "auto" (NumPy or Numba from the work the run will do,
    :func:`choose_target`; the choice and its reason are in ``stats["target_choice"]``).

    ``egraph=False`` skips the e-graph pass (kernels from SymPy's cse alone), for comparison.
    ``preflight(lowered, options)``, if given, runs once the run is planned and before anything
    is compiled: the place to check outputs (the CLI checks its paths and the result's size there).
    ``restart_from``: a :class:`Result` (or its file) of an earlier run of this model; the run continues
    from its last save to ``t_end`` and returns the earlier saves followed by the new ones. Unless given,
    the method, the fixed step and the save interval are the earlier run's, so that a fixed-step run
    continued is the uninterrupted run to round-off (an adaptive method restarts its step control).

    Started by an MPI launcher with several processes (``mpirun -n 4``), or given ``decompose``
    (blocks per axis, ``"2x2"``), the grid is split among the processes (:mod:`symsim.distributed`):
    rank 0 returns the whole grid's Result, the other ranks None.

    ``store``: a ``.zarr`` or ``.nc`` path that each save is written to as it is taken
    (:mod:`symsim.store`), instead of holding them all in memory; the Result then reads its fields
    from there as they are indexed. On a decomposed grid each rank writes its block of every save
    into a ``.zarr`` store (a ``.nc`` file is written by rank 0 from the gathered saves).
    ``compress``: zlib for a NetCDF store.
    ``linear_solver``: how implicit methods solve their linear systems: "lu" (sparse LU), "krylov" (GMRES
    with an algebraic-multigrid preconditioner, no factorization: for grids too large to factor) or
    "auto" (:func:`symsim.implicit.choose_linear_solver`).
    ``overlap``: on a decomposed grid with the Numba target, each stage pass computes the points whose
    stencil reads no exchanged halo while the exchange is under way (where no stencil reads a halo
    corner; :func:`symsim.codegen.loops.exchange_overlap`).
    """
    if isinstance(model, (str, bytes)) or hasattr(model, "__fspath__"):
        from .loader import load_model
        model = load_model(model)
    earlier = None
    if restart_from is not None:
        earlier = restart_from if isinstance(restart_from, Result) else Result.load(restart_from)
        method = method or earlier.stats.get("method")
        if dt is None and "steps" in earlier.stats and not earlier.stats.get("interpolated_saves"):
            dt = earlier.stats.get("dt")     # a fixed-step run: the step it took
    options = run_options(model, t_end=t_end, dt=dt, method=method, saves=saves,
                          space_order=space_order, rtol=rtol, atol=atol, linear_solver=linear_solver)
    lowered = lower_to_stencils(model, options["space_order"])
    initial, t_start = None, 0.0
    if earlier is not None:
        initial, t_start = _restart_point(earlier, lowered, options, restart_from)
        if saves is None and len(earlier.t) > 1:
            interval = (earlier.t[-1] - earlier.t[0]) / (len(earlier.t) - 1)
            options["saves"] = max(1, round((options["t_end"] - t_start) / interval))
    decomposed = decompose is not None or launched_processes() > 1
    if target == "auto":
        target, reason = ("numba", "a decomposed grid") if decomposed else choose_target(lowered, options, params,
                                                                                          egraph, t_start)
    else:
        reason = None
    blocks_store = store is not None and Path(store).suffix == ".zarr"     # each rank writes its blocks there
    if decomposed and earlier is not None and blocks_store:
        raise OptionError(f"-o {store}: a decomposed run writes its store block by block and cannot prepend the "
                          "earlier run's saves yet; continue into a .npz or .nc file")
    if decomposed:
        result = _simulate_decomposed(lowered, options, params, target, egraph, progress, decompose, preflight,
                                      initial, t_start, store if blocks_store else None, overlap)
        if result is None:
            return None
        if reason is not None:
            result.stats["target_choice"] = reason
        result = result if earlier is None else _continued(earlier, result, restart_from)
        if store is not None and not blocks_store:
            result.save(store, compress=compress)
            result.stats["store"] = str(store)
        return result
    # a run into a store writes each save as it is taken (a continued one joins the earlier saves first)
    streamed = store is not None and earlier is None
    # before compiling: a grid that cannot fit fails in a second, not after minutes (a continued run also
    # holds the earlier saves, and their copy in the joined result)
    check_memory(lowered, options, 0 if earlier is None else 2 * sum(np.asarray(v).nbytes
                                                                     for v in earlier.fields.values()),
                 saves_in_memory=not streamed)
    if preflight is not None:
        preflight(lowered, options)
    compiled = compile_model(lowered, target=target, space_order=options["space_order"], egraph=egraph,
                             jacobian=options["method"] in IMPLICIT_METHODS)
    result = integrate(compiled, options, params, progress, initial=initial, t_start=t_start,
                       saves_into=_stored_saves(store, lowered, compress=compress) if streamed else None)
    if reason is not None:
        result.stats["target_choice"] = reason
    if earlier is not None:
        result = _continued(earlier, result, restart_from)
        if store is not None:
            result.save(store, compress=compress)
            result.stats["store"] = str(store)
    return result


def choose_target(lowered, options: dict, params: dict | None = None, egraph: bool = True,
                  t_start: float = 0.0) -> tuple[str, str]:
    """``target="auto"``: NumPy or Numba for this run, and why, from the work it will do.

    The NumPy target costs its stepping alone; the Numba target steps about ten times faster per
    thread but first loads its kernels from the cache or compiles them. The work is the number of
    right-hand-side evaluations (the steps at the given or the stable step, estimated on the NumPy
    target at the initial state) times the grid points and fields. Systems without a grid run on
    NumPy: their steps are Python calls either way.
    """
    if not lowered.axes:
        return "numpy", "an ODE system (no grid): its steps are Python calls on every target"
    method = options["method"]
    span = options["t_end"] - t_start
    dt = options["dt"]
    if dt is None and method not in IMPLICIT_METHODS:
        compiled = compile_model(lowered, target="numpy", space_order=options["space_order"], egraph=False)
        values = compiled.resolve_params(params)
        dt = stable_step(spectrum_estimate(compiled, compiled.initial_state(values), values), method)
    steps = options["saves"] * 10 if dt is None or dt <= 0 else max(options["saves"], math.ceil(span / dt))
    evaluations = steps * EVALUATIONS_PER_STEP.get(method, 10)
    updates = evaluations * len(lowered.fields) * math.prod(lowered.shape)
    numpy_seconds = updates * NUMPY_SECONDS_PER_UPDATE + evaluations * NUMPY_SECONDS_PER_EVALUATION
    cached = kernels_cached(lowered, "numba", egraph, jacobian=method in IMPLICIT_METHODS)
    fixed = NUMBA_LOAD_SECONDS if cached else NUMBA_COMPILE_SECONDS
    threads = int(os.environ.get("NUMBA_NUM_THREADS", "") or os.cpu_count() or 1)    # Numba's default, unimported
    numba_seconds = (fixed + evaluations * NUMBA_SECONDS_PER_EVALUATION
                     + updates * NUMPY_SECONDS_PER_UPDATE / (NUMBA_SPEEDUP_PER_THREAD * threads))
    work = f"about {numpy_seconds:.2g} s of NumPy stepping ({updates:.2g} point updates)"
    kernels = "cached" if cached else "to be compiled"
    if numba_seconds < numpy_seconds:
        return "numba", f"{work}; Numba's kernels are {kernels}"
    return "numpy", f"{work}; Numba's kernels ({kernels}) would cost more than they save"


def _stored_saves(store, lowered, collective: Collective = ONE_PROCESS, layout: tuple | None = None,
                  block=None, compress: bool = False):
    """``integrate``'s saves_into for a run that writes its saves into the store (Zarr) or file (NetCDF)
    ``store`` as it takes them."""
    from .store import StoredSaves
    return lambda save_times: StoredSaves(store, lowered, save_times, collective, layout, block, compress)


def _simulate_decomposed(lowered, options: dict, params: dict | None, target: str, egraph: bool, progress: bool,
                         layout, preflight, initial: np.ndarray | None, t_start: float, store=None,
                         overlap: bool = False) -> Result | None:
    """:func:`simulate` on the processes of MPI's world, one block of the grid each
    (:mod:`symsim.distributed`): the whole grid's Result on rank 0, None on the others.
    ``layout``: blocks per axis (``"2x2"`` or a tuple), default the one whose busiest block
    exchanges the fewest halo points (:func:`~symsim.decomposition.choose_layout`)."""
    from .decomposition import Block, block_model, check_layout, choose_layout, parse_layout
    from .distributed import HaloExchange, MpiCollective, gather_blocks, mpi, share_cores

    comm = mpi().COMM_WORLD
    collective = MpiCollective(comm)
    if not collective.is_root:
        warnings.simplefilter("ignore")      # rank 0 tells the user once

    def plan():
        if target not in ("numpy", "numba"):
            raise OptionError(f"a decomposed run takes --target numpy or numba, not {target} (its halo exchange "
                              "runs on the host)")
        if options["method"] in IMPLICIT_METHODS:
            raise OptionError(f"method {options['method']} is not available on a decomposed grid (its sparse LU "
                              "runs on one process); use an explicit method, or run on one process")
        chosen = (parse_layout(layout, lowered.ndim) if isinstance(layout, str) else tuple(layout)
                  if layout is not None else choose_layout(lowered, comm.size))
        check_layout(lowered, chosen, comm.size)
        local = block_model(lowered, Block.of_rank(chosen, comm.rank), overlap)
        check_memory(local, options, saves_in_memory=store is None)
        if collective.is_root:
            if preflight is not None:
                preflight(lowered, options)
            if store is None:
                check_memory_of_result(lowered, options)
        return chosen, local

    chosen, local = collective.agreed(plan)
    if target == "numba":
        share_cores(comm)
    block = Block.of_rank(chosen, comm.rank)
    # the e-graph pass has a time limit, so two passes may find different kernels: rank 0 runs it once
    found = collective.agreed(lambda: optimized_plan(lowered, egraph)[0] if collective.is_root else None)
    kernel = comm.bcast((found.kernel, None) if collective.is_root else None, root=0)
    compiled = collective.agreed(lambda: compile_model(local, target=target, space_order=lowered.space_order,
                                                       egraph=egraph, kernel=kernel))
    exchange = HaloExchange(comm, block, local, tuple(a.periodic for a in lowered.axes))
    compiled.module._exchange = exchange
    compiled.module._exchange_begin, compiled.module._exchange_end = exchange.begin, exchange.end
    owned = (slice(None),) + tuple(slice(first, first + n) for first, n in block.ranges(lowered.shape))
    saves_into = _stored_saves(store, lowered, collective, chosen, block) if store is not None else None
    try:
        part = integrate(compiled, options, params, progress, initial=None if initial is None else initial[owned],
                         t_start=t_start, collective=collective, saves_into=saves_into)
    except RunInterrupted as stopped:
        # the launcher passes Ctrl-C to every rank, each at its own point of a step: nothing is gathered
        error = RunInterrupted(f"{str(stopped).split(' (')[0]}; a decomposed run keeps no partial saves", None)
        error.all_processes = True
        raise error from None
    stats = dict(part.stats, wall_seconds=collective.max(part.stats["wall_seconds"]),
                 exchange_seconds=collective.max(exchange.seconds), processes=comm.size,
                 decomposition="x".join(map(str, chosen)))
    if store is not None:       # every rank wrote its block of each save as it was taken
        part.stats = stats
        return part if collective.is_root else None
    block_saves = np.stack([part.fields[f] for f in lowered.fields], axis=1)
    saved = gather_blocks(comm, chosen, lowered.shape, block_saves)
    if saved is None:
        return None
    return _result(lowered, part.t, saved, dict(part.params), stats)   # the diagnostics: the blocks' combined


def _restart_point(earlier: Result, lowered, options: dict, source) -> tuple[np.ndarray, float]:
    """The fields at the last save of ``earlier`` as (fields, *grid), and its time; checked against the model."""
    name = source if not isinstance(source, Result) else f"result of model {earlier.model_name!r}"
    if list(earlier.fields) != list(lowered.fields) or earlier.grid_shape != lowered.shape:
        raise OptionError(f"{name}: cannot restart model {lowered.name!r} (fields {list(lowered.fields)} on a "
                          f"{lowered.shape} grid) from fields {list(earlier.fields)} on a {earlier.grid_shape} grid")
    t_start = float(earlier.t[-1])
    if not options["t_end"] > t_start:
        raise OptionError(f"{name} ends at t={t_start:g}: give a later --t-end than {options['t_end']:g} to continue")
    last = np.stack([np.asarray(earlier.fields[f][-1], dtype=float) for f in lowered.fields])
    if not np.isfinite(last).all():
        raise OptionError(f"{name}: the last save (t={t_start:g}) is not finite; restart from an earlier result")
    return last, t_start


def _continued(earlier: Result, later: Result, source) -> Result:
    """The earlier saves followed by the later ones (whose first save is the earlier run's last)."""
    fields = {f: np.concatenate([earlier.fields[f], later.fields[f][1:]]) for f in later.fields}
    stats = dict(later.stats, restarted_from=str(source) if not isinstance(source, Result) else "a result",
                 restart_time=float(later.t[0]))
    diagnostics = later.stats.get("diagnostics", {})
    earlier_diagnostics = earlier.stats.get("diagnostics", {})
    stats["diagnostics"] = {f: {q: list(earlier_diagnostics.get(f, {}).get(q, [math.nan] * len(earlier.t)))
                                + list(values[1:]) for q, values in report.items()}
                            for f, report in diagnostics.items()}
    return Result(model_name=later.model_name, t=np.concatenate([earlier.t, later.t[1:]]), coords=later.coords,
                  fields=fields, params=later.params, stats=stats)


def result_bytes(lowered, options: dict) -> int:
    """Bytes of the saved states of a run (what its result holds and its file stores)."""
    return 8 * len(lowered.fields) * (options["saves"] + 1) * math.prod(lowered.shape)


def run_bytes(lowered, options: dict) -> int:
    """Bytes a run holds at once: the saved states, the padded state and the integrator's work arrays."""
    method = options["method"]
    # implicit methods: their vectors, and the Jacobian with its LU factors (a few dozen values per point)
    stages = 7 if method == "dopri5" else 40 if method in IMPLICIT_METHODS else TABLEAUS[method].stages
    return result_bytes(lowered, options) + 8 * len(lowered.fields) * (stages + 3) * math.prod(lowered.padded_shape)


def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (Linux ``MemAvailable``, else physical memory), or None."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def check_memory_of_result(lowered, options: dict) -> None:
    """Refuse a decomposed run whose gathered saves would not fit in rank 0's memory (the blocks as
    received, and the whole grid's array they are copied into)."""
    needed, available = 2 * result_bytes(lowered, options), available_memory()
    if available is not None and needed > MEMORY_FRACTION * available:
        raise OptionError(f"the {options['saves']} saves of model {lowered.name!r} gathered on rank 0 need about "
                          f"{_size(needed)}; it has {_size(available)} available: use fewer --saves")


def check_memory(lowered, options: dict, extra_bytes: int = 0, saves_in_memory: bool = True) -> None:
    """Refuse, before any work, a run whose arrays (and ``extra_bytes`` more) would not fit in memory,
    naming what to change. ``saves_in_memory=False``: the saves go to a store as they are taken."""
    needed = run_bytes(lowered, options) + extra_bytes
    if not saves_in_memory:
        needed -= result_bytes(lowered, options) - result_bytes(lowered, dict(options, saves=1))
    available = available_memory()
    if available is None or needed <= MEMORY_FRACTION * available:
        return
    grid = "x".join(str(n) for n in lowered.shape) or "no grid"
    raise OptionError(f"model {lowered.name!r} on a {grid} grid with {options['saves']} saves needs about "
                      f"{_size(needed)}; this machine has {_size(available)} available: use fewer --saves or fewer "
                      "grid points")


def _size(count: int) -> str:
    return f"{count / 2**30:.1f} GiB" if count >= 2**30 else f"{count / 2**20:.0f} MiB"


def keep_freed_arrays_mapped() -> bool:
    """Ask glibc to reuse freed grid-sized blocks instead of returning them to the OS (process-wide).

    Every NumPy operation of the reference kernels allocates a grid-sized temporary.
    By default glibc serves those from fresh mmaps (or trims the heap after each
    free), so every operation page-faults its memory in again: gray_scott, 980 RK4
    steps at 256^2, spent 9.1 s of 19 s in the kernel; with these settings 0.2 s of
    7.2 s. Returns False (and changes nothing) where the C library is not glibc.

    It changes the whole process's allocator, so symsim does it only when asked: call it,
    or set ``SYMSIM_TUNE_MALLOC=1`` for runs on the NumPy backend.
    """
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
    return bool(mallopt(M_MMAP_THRESHOLD, 32 * 2**20) and mallopt(M_TRIM_THRESHOLD, 256 * 2**20))


def integrate(compiled: CompiledModel, options: dict, params: dict | None = None, progress: bool = False,
              initial: np.ndarray | None = None, t_start: float = 0.0, collective: Collective = ONE_PROCESS,
              saves_into=None) -> Result:
    """Time loop over a compiled model (see :func:`simulate` for the options).

    ``initial``: the fields' values at ``t_start``, (fields, *grid), in place of the model's initial
    condition (which holds at t=0). The saves are evenly spaced from ``t_start`` to ``options["t_end"]``.
    ``collective``: the processes stepping the blocks of one decomposed grid together
    (:mod:`symsim.distributed`); the Result then holds this process's block.
    ``saves_into(save_times)``: where the saves go as they are taken (default: an array in memory;
    :class:`symsim.store.StoredSaves` writes each into a Zarr store).
    """
    if compiled.target == "numpy" and os.environ.get("SYMSIM_TUNE_MALLOC") == "1":
        keep_freed_arrays_mapped()
    lowered = compiled.lowered
    values = compiled.resolve_params(params)
    state = compiled.initial_state(values) if initial is None else compiled.state_of(initial, values, t_start)
    method, t_end, saves = options["method"], options["t_end"], options["saves"]
    if not t_end > t_start:
        raise OptionError(f"t_end {t_end:g} is not after the start time {t_start:g}")
    save_times = np.linspace(t_start, t_end, saves + 1)

    dt = options["dt"]
    local = spectrum_estimate(compiled, state, values)
    spectrum = SpectrumEstimate(collective.max(local.real), collective.max(local.imaginary),
                                collective.union(local.anti_diffusive))
    if method in IMPLICIT_METHODS:
        if hasattr(compiled.module, "to_device"):
            raise OptionError(f"method {method} is not available on the {compiled.target} target (its linear "
                              "algebra runs on the host); use --target numba or numpy")
        _announce(spectrum, options, dt, dt, None)
        return _integrate_implicit(compiled, options, values, state, save_times, _Diagnosis(spectrum, method, None),
                                   progress, saves_into)
    suggested = stable_step(spectrum, method, bool(lowered.axes))
    if dt is None:
        dt = suggested if suggested is not None else (t_end - t_start) / saves / 10
    limit = stable_step(spectrum, method, on_grid=True)   # stability alone (ODEs' suggestion also caps accuracy)

    def rhs(t, y, out):
        compiled.rhs(t, y, out, values)

    def constrain(t, y):
        compiled.apply_boundaries(t, y, values)

    # a GPU backend keeps the state on the device for the whole run; copies happen at save points
    on_device = hasattr(compiled.module, "to_device")
    if on_device and method == "dopri5":
        raise OptionError(f"method dopri5 is not available on the {compiled.target} target (its error control "
                          "runs on the host); use rk4, ssprk3 or euler, or --target numba")
    to_host = compiled.module.to_host if on_device else (lambda y: y)
    # a step given by the user (or the script) is kept, and saves between steps interpolated, where
    # hitting every save would shorten it by more than 1% (not on a device: interpolation runs on the host)
    landing_step = _step_for_saves((t_end - t_start) / saves, dt)
    honour = method != "dopri5" and options["dt"] is not None and not on_device and landing_step < 0.99 * dt
    may_blow_up = _announce(spectrum, options, dt, dt if honour else landing_step, limit)
    scale = collective.max(_magnitude(compiled.interior(state)))
    growth_scale = scale if may_blow_up and scale > 0 else None   # growth is watched only where it is not physics
    failure = _Diagnosis(spectrum, method, limit, collective)
    if on_device:
        state = compiled.module.to_device(state)

    if method == "dopri5":
        stepper = AdaptiveStepper(rhs, constrain, state, rtol=options["rtol"], atol=options["atol"],
                                  interior=compiled.interior, total=collective.sum)
    elif (fused_step := compiled.stepper_function(method)) is not None:
        # fused stage passes of a compiled backend (allocated once, here)
        stepper = CompiledStepper(fused_step, compiled.module.new_work(state, method), method, values)
    else:
        stepper = FixedStepper(method, rhs, constrain, state)

    saved = (saves_into or _Saves.in_memory(lowered, collective))(save_times)
    saved[0] = compiled.interior(to_host(state))
    steps = 0
    started = clock.perf_counter()
    bar = _Progress(lowered.name, method, t_end, progress and collective.is_root, t_start, compiled.target)
    # a blow-up is reported once, as the SolverError of _Diagnosis.check, not as NumPy warnings on stderr
    saved_errstate = np.seterr(over="ignore", invalid="ignore", divide="ignore")
    failed = True
    try:
        if honour:
            state, steps = _steps_of_dt_with_interpolated_saves(compiled, stepper, state, values, save_times, dt,
                                                                saved, failure, growth_scale, bar)
        else:
            t = t_start
            for i in range(1, saves + 1):
                target_time = save_times[i]
                if method == "dopri5":
                    dt = stepper.advance(t, state, target_time, dt)
                    failure.check(compiled, state, target_time, dt, growth_scale)
                else:
                    count = max(1, math.ceil((target_time - t) / dt - 1e-9))
                    step = (target_time - t) / count
                    for n in range(count):
                        state = stepper.step(t + n * step, state, step)
                        if (n + 1) % FINITE_CHECK_INTERVAL == 0:
                            if not on_device:   # a device state is checked where it is copied anyway
                                failure.check(compiled, state, t + (n + 1) * step, step, growth_scale)
                            bar.move_to(t + (n + 1) * step)
                    steps += count
                    failure.check(compiled, to_host(state), target_time, step, growth_scale)
                bar.move_to(target_time)
                t = target_time
                saved[i] = compiled.interior(to_host(state))
        failed = False
    except KeyboardInterrupt:
        fixed = {} if method == "dopri5" else {"dt": dt if honour else landing_step, "steps": steps,
                                               "interpolated_saves": honour}
        raise saved.interrupted(lowered, save_times, values, {"method": method, "target": compiled.target,
                                                              "space_order": lowered.space_order, **fixed}) from None
    finally:
        np.seterr(**saved_errstate)
        bar.close(clear=failed)
        if failed:
            saved.abandon()
    elapsed = clock.perf_counter() - started

    stats = {"method": method, "target": compiled.target, "space_order": lowered.space_order,
             "rhs_evaluations": stepper.n_rhs, "wall_seconds": elapsed,
             "suggested_dt": suggested, "equations": dict(lowered.equations)}
    if method == "dopri5":
        stats.update(accepted=stepper.accepted, rejected=stepper.rejected, rtol=options["rtol"], atol=options["atol"])
    elif honour:
        stats.update(dt=dt, steps=steps, interpolated_saves=True)
    else:
        stats.update(dt=landing_step, steps=steps)
    return saved.result(lowered, save_times, values, stats)


def _integrate_implicit(compiled: CompiledModel, options: dict, values: dict, state: np.ndarray,
                        save_times: np.ndarray, failure, progress: bool, saves_into=None) -> Result:
    """The time loop of an implicit method (:mod:`symsim.implicit`) over the model's evolved values."""
    lowered, method = compiled.lowered, options["method"]
    system = SemiDiscreteSystem(compiled, values)
    y = system.values_of(state)
    stepper = implicit_stepper(method, system, save_times[0], y, save_times[-1], options["rtol"], options["atol"],
                               options.get("linear_solver", "auto"))
    saved = (saves_into or _Saves.in_memory(lowered))(save_times)
    saved[0] = compiled.interior(state)
    dt, t = options["dt"], save_times[0]
    started = clock.perf_counter()
    bar = _Progress(lowered.name, method, save_times[-1], progress, save_times[0], compiled.target)
    saved_errstate = np.seterr(over="ignore", invalid="ignore", divide="ignore")
    failed = True
    try:
        for i, target_time in enumerate(save_times[1:], start=1):
            dt = stepper.advance(t, y, target_time, dt)
            state = system.load(target_time, y)
            failure.check(compiled, state, target_time, dt or 0.0, None)
            saved[i] = compiled.interior(state)
            bar.move_to(target_time)
            t = target_time
        failed = False
    except KeyboardInterrupt:
        raise saved.interrupted(lowered, save_times, values, {"method": method, "target": compiled.target,
                                                              "space_order": lowered.space_order}) from None
    finally:
        np.seterr(**saved_errstate)
        bar.close(clear=failed)
        if failed:
            saved.abandon()
    stats = {"method": method, "target": compiled.target, "space_order": lowered.space_order,
             "equations": dict(lowered.equations), "wall_seconds": clock.perf_counter() - started, "rtol": options["rtol"], "atol": options["atol"],
             "unknowns": system.size, "jacobian_nonzeros": int(system.sparsity.nnz), **stepper.stats()}
    return saved.result(lowered, save_times, values, stats)


def _result(lowered, save_times: np.ndarray, saved: np.ndarray, values: dict, stats: dict,
            collective: Collective = ONE_PROCESS) -> Result:
    """A run's Result: ``saved`` (saves, fields, *grid) as one array per field, with the per-save diagnostics
    (unless ``stats`` has them; ``collective`` combines those of the blocks of a decomposed grid)."""
    if "diagnostics" not in stats:
        stats["diagnostics"] = SaveDiagnostics.of(saved).combined(lowered, collective)
    return Result(model_name=lowered.name, t=save_times, coords={a.name: a.coordinates for a in lowered.axes},
                  fields={f: saved[:, k] for k, f in enumerate(lowered.fields)}, params=values, stats=stats)


class _Saves:
    """The saved states of a run, and how many of them are written: what a run stopped by Ctrl-C keeps."""

    def __init__(self, shape: tuple, collective: Collective = ONE_PROCESS):
        self.array = np.empty(shape)
        self.count = 0
        self.collective = collective

    @classmethod
    def in_memory(cls, lowered, collective: Collective = ONE_PROCESS):
        """What ``integrate`` makes the saves of ``lowered`` (a block's, on a decomposed grid) with, from its
        save times."""
        return lambda save_times: cls((len(save_times), len(lowered.fields)) + lowered.shape, collective)

    def __setitem__(self, index, values) -> None:
        self.array[index] = values
        last = range(len(self.array))[index]
        self.count = max(self.count, (last[-1] if isinstance(last, range) and len(last) else last) + 1)

    def result(self, lowered, save_times: np.ndarray, values: dict, stats: dict) -> Result:
        return _result(lowered, save_times, self.array, values, stats, self.collective)

    def abandon(self) -> None:
        """Nothing to undo: the array goes with the run."""

    def interrupted(self, lowered, save_times: np.ndarray, values: dict, stats: dict) -> RunInterrupted:
        """The error that carries the saves written so far as a Result (with this process's own diagnostics:
        stopped by Ctrl-C, the processes of a decomposed run cannot meet in a reduction)."""
        result = _result(lowered, save_times[:self.count].copy(), self.array[:self.count], values,
                         dict(stats, interrupted=True, t_end=float(save_times[-1])))
        return RunInterrupted(f"interrupted at t={save_times[self.count - 1]:g} ({self.count} of {len(save_times)} "
                              "saves done)", result)


def _announce(spectrum: SpectrumEstimate, options: dict, dt: float, used: float, limit: float | None) -> bool:
    """Warn, before the run, of what makes it differ from what was asked or fail; True when it may blow up.

    ``used`` is the step the run takes (``dt``, or shorter to land on every save). The blow-up warning
    compares it with ``limit``, the stability limit alone (for ODE systems the suggested step is also
    held to an accuracy limit, which a user may well exceed).
    """
    method, saves, t_end = options["method"], options["saves"], options["t_end"]
    for field, axis in spectrum.anti_diffusive:
        warnings.warn(f"field {field!r} diffuses backwards along {axis} (the coefficient of its second derivative is "
                      "negative, e.g. a negative diffusivity): the model is ill-posed, its finest grid modes grow "
                      "at any step size", SymsimWarning, stacklevel=4)
    if method in IMPLICIT_METHODS:
        return bool(spectrum.anti_diffusive)
    interval = t_end / saves
    # an ill-posed model's short "stable step" is not stiffness: no implicit method makes it well-posed
    if limit is not None and not spectrum.anti_diffusive and limit < interval / STIFF_STEPS_PER_SAVE:
        warnings.warn(f"the model is stiff for {method}: its stable step ({limit:.3g}) is {interval / limit:.3g} "
                      f"times shorter than the save interval ({interval:.3g}); an implicit method takes steps set by "
                      "accuracy, not stability: try --method imex-ark (stiff diffusion, mild reactions) or rodas",
                      SymsimWarning, stacklevel=4)
    if method == "dopri5" or options["dt"] is None:
        return bool(spectrum.anti_diffusive)
    if used < 0.99 * dt:
        warnings.warn(f"dt={dt:.3g} shortened to {used:.3g} ({dt / used:.3g}x smaller) so that each of the {saves} "
                      f"saves (every {interval:.3g}) falls on a step (saves between steps are interpolated on host "
                      "targets only); fewer --saves keep the step asked for",
                      SymsimWarning, stacklevel=4)
    above = limit is not None and used > limit
    if above:
        warnings.warn(f"dt={used:.3g} is {used / limit:.3g}x the stable step estimated for {method} "
                      f"({limit:.3g}): the run will likely blow up; use --dt {limit:.3g} or less, or omit --dt",
                      SymsimWarning, stacklevel=4)
    return above or bool(spectrum.anti_diffusive)


def _step_for_saves(interval: float, dt: float) -> float:
    """The largest step not above ``dt`` that divides the save interval (what a run shortens ``dt`` to)."""
    return interval / max(1, math.ceil(interval / dt - 1e-9))


def _steps_of_dt_with_interpolated_saves(compiled, stepper, state, values, save_times, dt, saved, failure,
                                         growth_scale, bar):
    """Steps of exactly ``dt`` (the last one shortened to end at t_end); each save inside a step from the
    cubic Hermite interpolant of the step's end values and slopes.

    The interpolant's error is O(dt^4) (the slopes are the right-hand side at the ends), so saves keep
    the order of every method here (RK4 included); wall values are set at the save's own time.
    Returns (state, steps taken).
    """
    t_end = save_times[-1]
    interior = compiled.interior
    # buffers of the step's ends, allocated once: the start's values and slopes, the end's slopes, and a
    # padded state the interpolant is written into (so that walls and halos can be set at the save's time)
    y0 = interior(state).copy()
    slopes = (np.empty_like(state), np.empty_like(state))
    f0, f1 = interior(slopes[0]), interior(slopes[1])
    padded = np.empty_like(state)
    tolerance = 1e-9 * max(dt, abs(t_end))

    t, steps, i, saves = save_times[0], 0, 1, len(save_times) - 1
    while i <= saves:
        h = min(dt, t_end - t)
        if h <= 0:                  # round-off left the last save a hair beyond the last step's end
            saved[i:] = interior(state)
            break
        end = t + h
        inside = save_times[i] < end - tolerance      # a save strictly inside this step
        if inside:
            y0[...] = interior(state)
            compiled.rhs(t, state, slopes[0], values)
        state = stepper.step(t, state, h)
        steps += 1
        if steps % FINITE_CHECK_INTERVAL == 0:
            failure.check(compiled, state, end, h, growth_scale)
            bar.move_to(end)
        if inside:
            compiled.rhs(end, state, slopes[1], values)
            y1 = interior(state)
            padded[...] = state
            while i <= saves and save_times[i] < end - tolerance:
                interior(padded)[...] = hermite((save_times[i] - t) / h, h, y0, f0, y1, f1)
                compiled.apply_boundaries(save_times[i], padded, values)
                saved[i] = interior(padded)
                i += 1
        if i <= saves and save_times[i] <= end + tolerance:    # a save on the step's end
            failure.check(compiled, state, end, h, growth_scale)
            saved[i] = interior(state)
            bar.move_to(save_times[i])
            i += 1
        t = end
    return state, steps


def _magnitude(values: np.ndarray) -> float:
    """Largest finite magnitude of an array (0.0 when it has none)."""
    finite = np.abs(values[np.isfinite(values)])
    return float(finite.max()) if finite.size else 0.0


class _Diagnosis:
    """Checks a state during a run and explains a failure by its cause (ill-posed model, too large a step)."""

    def __init__(self, spectrum: SpectrumEstimate, method: str, suggested: float | None,
                 collective: Collective = ONE_PROCESS):
        self.spectrum, self.method, self.suggested, self.collective = spectrum, method, suggested, collective

    def check(self, compiled: CompiledModel, state, t: float, dt: float, growth_scale: float | None) -> None:
        """Raise a SolverError if a field is NaN/Inf or (``growth_scale`` given) grew past GROWTH_LIMIT times it;
        on a decomposed grid every block raises the first block's error, at the same step."""
        message = self.collective.first(self._failure(compiled.interior(state), compiled.lowered.fields, t, dt,
                                                      growth_scale))
        if message is not None:
            error = SolverError(message)
            error.all_processes = True      # every process of a decomposed run raises it (symsim.distributed)
            raise error

    def _failure(self, interior, fields, t: float, dt: float, growth_scale: float | None) -> str | None:
        if np.isfinite(interior).all() and (growth_scale is None
                                            or np.abs(interior).max() <= GROWTH_LIMIT * growth_scale):
            return None
        for k, field in enumerate(fields):
            values = interior[k]
            if not np.isfinite(values).all():
                return (f"field {field!r} became NaN/Inf at t≈{t:.6g} (dt={dt:.3g}, method "
                        f"{self.method}); {self.remedy(dt)}")
            if growth_scale is not None and np.abs(values).max() > GROWTH_LIMIT * growth_scale:
                return (f"field {field!r} grew to {_magnitude(values):.3g} by t≈{t:.6g}, over "
                        f"{GROWTH_LIMIT:.0e} times the initial state's largest value ({growth_scale:.3g}) "
                        f"(dt={dt:.3g}, method {self.method}); {self.remedy(dt)}")
        return None

    def remedy(self, dt: float) -> str:
        """The cause as far as the estimate tells it, and what to change."""
        if self.spectrum.anti_diffusive:
            where = ", ".join(f"{field!r} along {axis}" for field, axis in self.spectrum.anti_diffusive)
            return (f"the model is ill-posed: negative diffusion of {where} grows the finest grid modes at any step "
                    "size; check the sign of the second-derivative coefficient (a parameter such as a diffusivity)")
        if self.suggested is None:
            return "the run is unstable: try a smaller --dt, or --method dopri5"
        if dt <= self.suggested:
            return (f"the step is within the stable estimate ({self.suggested:.3g}), so the model's own solution may "
                    "blow up (nonlinear growth) or the estimate missed a fast mode: try --method dopri5")
        return (f"the run is unstable: use a smaller --dt (the suggested stable dt is {self.suggested:.3g}), "
                "or --method dopri5")


class _Progress:
    """Progress over simulated time (tqdm on stderr), or nothing when disabled."""

    def __init__(self, name: str, method: str, t_end: float, enabled: bool, t_start: float = 0.0, target: str = ""):
        self.bar = None
        if enabled:
            from tqdm import tqdm
            self.bar = tqdm(total=t_end, initial=t_start, desc=f"{name} ({method}{' on ' + target if target else ''})",
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| t={n:.4g}/{total:.4g} "
                                       "[{elapsed}<{remaining}]")

    def move_to(self, t: float) -> None:
        if self.bar is not None:
            self.bar.update(min(t, self.bar.total) - self.bar.n)

    def close(self, clear: bool = False) -> None:
        """Finish the bar; ``clear`` erases it (a failed run then shows only its one error line)."""
        if self.bar is not None:
            if clear:
                self.bar.leave = False
            self.bar.close()
