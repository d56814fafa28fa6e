"""The ``symsim`` command line.

    symsim run examples/gray_scott.py --t-end 500 --param F=0.05 -o gs.npz --plot gs.png
    symsim compile examples/heat_2d.py --target numpy -o build/heat
    symsim simplify "c*a + c*b"
    symsim discover observations.csv -o found
    symsim prose train --config small -o runs/prose

Errors print one line (``symsim: error: ...``) and exit with status 1 (2 for
bad command-line usage); set SYMSIM_DEBUG=1 to see tracebacks.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import warnings
from pathlib import Path

from .codegen import LOSS_TARGETS, SIMULATION_TARGETS, TARGETS
from .errors import OptionError, RunInterrupted, SymsimError, SymsimWarning
from .tableaus import RUN_METHODS
from .io import atomic_directory, atomic_write_text, check_output_file


class _OneLineParser(argparse.ArgumentParser):
    def error(self, message):
        self.exit(2, f"symsim: error: {message} (see symsim {self.prog.split()[-1]} --help)\n"
                  if " " in self.prog else f"symsim: error: {message} (see symsim --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="symsim", description="Compile and run PDE/ODE models written in SymPy.")
    parser.add_argument("--version", action="version", version=f"symsim {_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_OneLineParser)
    commands.required = True

    run = commands.add_parser("run", help="simulate a model script; write an .npz result and a picture")
    run.add_argument("model", help="model script (a .py file defining `model`) or a shipped example name")
    run.add_argument("--t-end", type=float, help="final time (default: the script's, else required)")
    run.add_argument("--dt", type=float, help="time step (default: a stable step suggested from the model)")
    run.add_argument("--method", choices=RUN_METHODS,
                     help="time integrator (default: rk4; stiff models: rodas, bdf, radau or imex-ark)")
    run.add_argument("--space-order", type=int, choices=(2, 4, 6, 8), help="finite-difference accuracy (default 2)")
    run.add_argument("--saves", type=int, help="number of saved states after t=0 (default 20)")
    run.add_argument("--rtol", type=float, help="relative tolerance of adaptive methods (default 1e-6)")
    run.add_argument("--atol", type=float, help="absolute tolerance of adaptive methods (default 1e-9)")
    run.add_argument("--linear-solver", choices=("auto", "lu", "krylov"),
                     help="implicit methods' linear systems: sparse LU, or GMRES with an algebraic-multigrid "
                          "preconditioner for grids too large to factor (default auto: krylov for large 3-D grids)")
    run.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="override a parameter")
    run.add_argument("--target", choices=("auto", *SIMULATION_TARGETS), default="auto",
                     help="backend (default auto: numpy or numba, from the run's work; the choice is printed)")
    run.add_argument("-o", "--output", help="result file (default: MODEL_NAME.npz)")
    run.add_argument("--compress", action="store_true",
                     help="deflate the result file (smaller, slower to write; default uncompressed)")
    run.add_argument("--plot", help="picture of the result (default: the result's name with .png)")
    run.add_argument("--no-plot", action="store_true", help="do not draw a picture")
    run.add_argument("--animate", metavar="OUT.gif",
                     help="an animation of every save (.gif, or .mp4 where ffmpeg is installed)")
    run.add_argument("--animate-scale", choices=("shared", "frame"), default="shared",
                     help="colour range shared by all frames (default) or each frame's own")
    run.add_argument("--decompose", metavar="PxQ",
                     help="blocks per axis when started by an MPI launcher (mpirun -n 4 symsim run ... "
                          "--decompose 2x2); default: the layout that exchanges the fewest halo points")
    run.add_argument("--overlap-exchange", action="store_true",
                     help="under an MPI launcher with --target numba: compute the points that need no halo while "
                          "the halo exchange is under way (where no stencil reads a halo corner)")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--verbose", action="store_true",
                     help="print each field's min, max, mean and L2 norm at every save")
    run.add_argument("--no-egraph", action="store_true", help="skip the e-graph pass (SymPy cse alone)")
    run.add_argument("--restart-from", metavar="RESULT.npz",
                     help="continue an earlier run of this model from its last save to --t-end; the output holds "
                          "the earlier saves and the new ones (method, fixed step and save interval as before)")

    compile_ = commands.add_parser("compile", help="write the generated kernel source and report.json")
    compile_.add_argument("model", help="model script or shipped example name")
    compile_.add_argument("--target", choices=TARGETS, default="numpy", help="backend (default numpy)")
    compile_.add_argument("--space-order", type=int, choices=(2, 4, 6, 8), help="finite-difference accuracy")
    compile_.add_argument("-o", "--output", required=True, metavar="DIR", help="output directory")
    compile_.add_argument("--no-egraph", action="store_true", help="skip the e-graph pass (SymPy cse alone)")

    info = commands.add_parser("info", help="what a model is: fields, parameters, equations, walls, stencils, "
                                            "cost per point and the stable explicit steps")
    info.add_argument("model", help="model script or shipped example name")
    info.add_argument("--space-order", type=int, choices=(2, 4, 6, 8), help="finite-difference accuracy")
    info.add_argument("--json", action="store_true", help="print the same as JSON")

    sweep = commands.add_parser("sweep", help="run a model for every combination of parameter values, as Dask "
                                              "tasks; one xarray dataset (.nc or .zarr) of all runs")
    sweep.add_argument("model", help="model script or shipped example name")
    sets = sweep.add_mutually_exclusive_group()
    sets.add_argument("--param", action="append", default=[], metavar="NAME=VALUES",
                      help="START:STOP:COUNT (evenly spaced), A,B,C or one value; repeat for a Cartesian product")
    sets.add_argument("--sets", metavar="FILE.csv", help="parameter sets, one run per row (a header of names)")
    sweep.add_argument("--initial", nargs="+", metavar="RESULT", help="initial states: the last save of each "
                       "result file (.npz, .nc, .zarr), crossed with the parameters")
    sweep.add_argument("--t-end", type=float, help="final time (default: the script's)")
    sweep.add_argument("--dt", type=float, help="time step (default: a stable step per run)")
    sweep.add_argument("--method", choices=RUN_METHODS, help="time integrator (default: the script's, else rk4)")
    sweep.add_argument("--saves", type=int, help="saved states after t=0 per run (default 20)")
    sweep.add_argument("--space-order", type=int, choices=(2, 4, 6, 8), help="finite-difference accuracy")
    sweep.add_argument("--target", choices=("numpy", "numba"), default="numpy", help="backend (default numpy)")
    where = sweep.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help="processes of a local Dask cluster (default: one per core)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="a running Dask scheduler, e.g. tcp://host:8786")
    sweep.add_argument("-o", "--output", required=True, metavar="OUT.nc|OUT.zarr", help="the dataset of all runs")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")

    pinn = commands.add_parser("pinn", help="train a physics-informed network on a model; compare with symsim's solution")
    pinn.add_argument("model", help="model script or shipped example name")
    pinn.add_argument("--t-end", type=float, help="final time (default: the script's)")
    pinn.add_argument("--steps", type=int, help="Adam steps (default 2000)")
    pinn.add_argument("--lbfgs-steps", type=int, help="L-BFGS iterations after Adam (default 1000, 3000 on a geometry; "
                      "0: none)")
    pinn.add_argument("--points", type=int, help="collocation points (default 4096, 2000 on a geometry)")
    pinn.add_argument("--hard-bc", action="store_true", help="enforce Dirichlet walls and initial values exactly "
                      "(always on for a model on a geometry or an ODE model, unless --soft-bc)")
    pinn.add_argument("--soft-bc", action="store_true", help="a model on a geometry or an ODE model: Dirichlet "
                      "conditions and initial values as loss terms instead of held exactly")
    pinn.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    pinn.add_argument("--width", type=int, help="hidden layer width (default 64, 50 on a geometry)")
    pinn.add_argument("--depth", type=int, help="hidden layers (default 4)")
    pinn.add_argument("--architecture", choices=("mlp", "modified"), default="mlp",
                      help="mlp: tanh layers; modified: the modified MLP (two encodings of the input mixed by "
                           "every layer) (default mlp)")
    pinn.add_argument("--float64", action="store_true", help="train in float64 (default float32, about 2x faster; "
                      "float64 for a model on a geometry or an ODE model)")
    pinn.add_argument("--float32", action="store_true", help="train in float32 (a model on a geometry or an ODE model)")
    pinn.add_argument("--resampling", choices=("rar", "fresh", "none"),
                      help="rar: L-BFGS in phases, points added where the residual is large between them (default "
                           "on a box without --data); fresh: a new draw for each L-BFGS chunk, each starting from the "
                           "curvature the one before gathered (a model on a geometry; its default); none: one draw "
                           "(default with --data)")
    pinn.add_argument("--causal", type=float, metavar="EPSILON",
                      help="weigh the residual causally: a time slice counts as exp(-EPSILON x the residual before "
                           "it) (time-dependent models; default off)")
    pinn.add_argument("--balance", choices=("gradient", "none"),
                      help="a model on a geometry: weigh the loss's components to equal gradient norms at the "
                           "start of each L-BFGS chunk (default none)")
    pinn.add_argument("--sampling", choices=("uniform", "sobol"),
                      help="a model on a geometry: interior points uniform (default) or from a scrambled Sobol "
                           "sequence")
    pinn.add_argument("--obstacle-features", action=argparse.BooleanOptionalAction,
                      help="a model on a geometry: the network also sees polar coordinates about each disc cut "
                           "out of it (default: on where it has such discs)")
    pinn.add_argument("--near-boundary", type=float, metavar="FRACTION",
                      help="a model on a geometry: this fraction of each draw's interior points within 5%% of the "
                           "shorter side of the boundary (default 0)")
    pinn.add_argument("--time-limit", type=float, metavar="SECONDS",
                      help="stop L-BFGS at the end of the phase that passes this many seconds of training")
    pinn.add_argument("--data", metavar="OBS", help="observations (.npz/.nc as symsim run writes, noisy or not): "
                                                    "their misfit joins the loss (an inverse problem)")
    pinn.add_argument("--learn", metavar="P[=START],...", help="parameters trained with the network from --data, "
                                                               "starting from the script's values or START")
    pinn.add_argument("--data-points", type=int, metavar="N",
                      help="use N of the observations' (time, grid) points, drawn at random (default all)")
    pinn.add_argument("-o", "--output", metavar="DIR", help="write weights.pt, metrics.json and pinn.png here")
    pinn.add_argument("--quiet", action="store_true", help="no progress bar")

    discover = commands.add_parser("discover", help="find equations in observed data; write a model script that runs")
    discover.add_argument("data", help="observations: .csv (t + one column per state) or .npz (ODE series, or "
                                       "PDE snapshots with coordinate arrays; a symsim run result reads back)")
    discover.add_argument("--method", choices=("sindy", "weak-sindy", "prose", "all"), default="all",
                          help="sparse regression in strong or weak form, the pretrained PROSE network (ODE "
                               "series; needs PyTorch), or every one that applies (default all)")
    discover.add_argument("--function", action="append", default=[], metavar="EXPR", dest="functions",
                          help="one more library term in the states' names, e.g. 'sin(theta)' (repeatable; ODE series)")
    discover.add_argument("--checkpoint", metavar="FILE",
                          help="PROSE weights to use instead of the shipped ones (symsim prose train / export)")
    discover.add_argument("--holdout", type=float, default=0.25,
                          help="share of each series held back to score forecasts (default 0.25)")
    discover.add_argument("--periodic", default="", metavar="AXES",
                          help="comma-separated axes whose ends wrap (PDE data; default: walls, values from the data)")
    discover.add_argument("--axes", default="", metavar="AXES",
                          help="PDE snapshots in a CSV file: its coordinate columns, e.g. x,y (one row per time and "
                               "grid point; periodic axes count as named)")
    discover.add_argument("--degree", type=int, default=2, help="degree of the polynomial library (default 2)")
    discover.add_argument("--derivative-order", type=int, default=4,
                          help="highest spatial derivative in a PDE library (default 4)")
    discover.add_argument("-o", "--output", required=True, metavar="DIR",
                          help="write model.py, candidates.json, candidates.md and discover.png here")
    discover.add_argument("--quiet", action="store_true", help="no progress bar")

    simplify = commands.add_parser("simplify", help="simplify an expression with the e-graph pass; print its cost")
    simplify.add_argument("expression", help='e.g. "c*a + c*b" (numbers, names, + - * / **, elementary functions)')

    prose = commands.add_parser("prose", help="the PROSE transformer: trajectories in, continuation and equations out")
    steps = prose.add_subparsers(dest="prose_command", metavar="STEP", parser_class=_OneLineParser)
    steps.required = True
    generate = steps.add_parser("generate", help="write a fixed, seeded evaluation set (npz)")
    generate.add_argument("-o", "--output", required=True, help="sample file to write (.npz)")
    generate.add_argument("--count", type=int, default=1500, help="samples (default 1500: 100 per family)")
    generate.add_argument("--seed", type=int, default=12345, help="random seed (default 12345)")
    generate.add_argument("--families", help="comma-separated family names (default: all)")
    generate.add_argument("--quiet", action="store_true", help="no progress bar")
    generate.add_argument("--chunk", type=int, help="make the samples in parts of this many, each from its own "
                                                    "seed (the same samples on any number of Dask workers)")
    cluster = generate.add_mutually_exclusive_group()
    cluster.add_argument("--workers", type=int, help="simulate the parts on a Dask LocalCluster of N processes "
                                                     "(parts of 256 unless --chunk)")
    cluster.add_argument("--scheduler", help="simulate the parts on the Dask scheduler at this address")
    train = steps.add_parser("train", help="train on fresh samples streamed from worker processes")
    train.add_argument("--config", default="small", help="tiny, small, paper or a config .json (default small)")
    train.add_argument("--steps", type=int, default=20000, help="optimizer steps in all (default 20000)")
    train.add_argument("--batch-size", type=int, default=64, help="samples per step and process (default 64)")
    train.add_argument("--workers", type=int, default=1, help="data worker processes (default 1)")
    train.add_argument("--learning-rate", type=float, default=1e-4, help="peak learning rate (default 1e-4)")
    train.add_argument("--warmup", type=int, default=1000, help="warm-up steps (default 1000)")
    train.add_argument("--data-weight", type=float, default=1.0, help="weight of the trajectory MSE (default 1)")
    train.add_argument("--no-symbol-share", type=float, default=0.2,
                       help="share of samples trained without the symbol input (the data-only mode; default 0.2)")
    train.add_argument("--corrupt", type=float, default=0.1,
                       help="probability of adding, and of dropping, a term of the guessed skeleton (default 0.1)")
    train.add_argument("--families", help="comma-separated family names (default: all)")
    train.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    train.add_argument("-o", "--output", required=True, metavar="DIR", help="checkpoint directory (resumed if present)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    evaluate = steps.add_parser("eval", help="metrics of a checkpoint per family; a table and metrics.json")
    evaluate.add_argument("checkpoint", help="checkpoint.pt (or its directory)")
    evaluate.add_argument("--data", required=True, help="evaluation set written by symsim prose generate")
    evaluate.add_argument("--beam", type=int, default=1, help="beam width of the symbol decoder (default 1: greedy)")
    evaluate.add_argument("--no-refine", action="store_true", help="skip fitting the decoded constants")
    evaluate.add_argument("--unconstrained", action="store_true",
                          help="decode without the token grammar (by default the decoder writes only what it allows)")
    evaluate.add_argument("-o", "--output", default="metrics.json", help="metrics file (default metrics.json)")
    evaluate.add_argument("--quiet", action="store_true", help="no progress bar")
    predict = steps.add_parser("predict", help="continue an observed trajectory and recover its equations")
    predict.add_argument("inputs", nargs="+", metavar="[CHECKPOINT] DATA",
                         help="checkpoint.pt or its directory (default: the weights shipped with symsim), then an "
                              "npz with arrays `times` (n,) on [0, 2) and `values` (n, d), d <= 5")
    predict.add_argument("-o", "--output", default="prediction.npz", help="predictions (default prediction.npz)")
    predict.add_argument("--plot", help="picture of the data and both predictions (default: OUTPUT with .png)")
    predict.add_argument("--beam", type=int, default=4, help="beam width of the symbol decoder (default 4)")
    predict.add_argument("--unconstrained", action="store_true", help="decode without the token grammar")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    # a batch system ending a job at its time limit sends SIGTERM: the run then stops as on Ctrl-C, keeping
    # the saves taken in a valid file and saying how to continue
    terminate = (signal.signal(signal.SIGTERM, _terminated)
                 if threading.current_thread() is threading.main_thread() else None)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always", SymsimWarning)
            warnings.showwarning = _show_warning
            return _dispatch(args)
    finally:
        if terminate is not None:
            signal.signal(signal.SIGTERM, terminate)


def _terminated(signum, frame):
    raise KeyboardInterrupt


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """symsim's warnings as one line each (others as Python shows them)."""
    if issubclass(category, SymsimWarning):
        text = " ".join(part.strip() for part in str(message).splitlines() if part.strip())
        print(f"symsim: warning: {text}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def _dispatch(args) -> int:
    try:
        if args.command == "prose":
            from .prose.commands import run_prose_command
            return run_prose_command(args)
        return {"run": _run, "compile": _compile, "simplify": _simplify, "pinn": _pinn,
                "discover": _discover, "info": _info, "sweep": _sweep}[args.command](args)
    except RunInterrupted as error:
        return _fail(str(error), error, status=130)
    except SymsimError as error:
        return _fail(str(error), error)
    except KeyboardInterrupt:
        return _fail("interrupted", None, status=130)
    except BrokenPipeError:      # the reader went away (symsim info ... | head): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as error:  # a bug in symsim: still one line, traceback on request
        return _fail(f"internal error: {type(error).__name__}: {error} (set SYMSIM_DEBUG=1 for details)", error)


def _fail(message: str, error, status: int = 1) -> int:
    from .collective import launched_processes, launcher_rank
    if launched_processes() > 1:
        # one line from rank 0 when every rank met the error (or none has started MPI yet); an error on
        # one rank alone stops them all
        started = "mpi4py" in sys.modules and _mpi_started()
        if status == 130 and started:
            # Ctrl-C: the launcher passes it to every rank, each at its own point of a step, so no rank can
            # wait for another any more (nor finalize MPI): rank 0 says so, every rank ends here
            if not launcher_rank():
                _fail_here(message, error, status)
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(status)
        if getattr(error, "all_processes", False) or not started:
            return status if launcher_rank() else _fail_here(message, error, status)
        from .distributed import abort
        abort(error if error is not None else message)
    return _fail_here(message, error, status)


def _mpi_started() -> bool:
    from mpi4py import MPI
    return MPI.Is_initialized() and not MPI.Is_finalized()


def _fail_here(message: str, error, status: int = 1) -> int:
    if error is not None and os.environ.get("SYMSIM_DEBUG"):
        import traceback
        traceback.print_exception(error)
    message = " ".join(line.strip() for line in str(message).splitlines() if line.strip())  # always one line
    print(f"symsim: error: {message}", file=sys.stderr)
    return status


def _parse_params(pairs) -> dict:
    params = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            raise OptionError(f"--param expects NAME=VALUE, got {pair!r}")
        try:
            params[name.strip()] = float(value)
        except ValueError:
            raise OptionError(f"--param {name.strip()}: {value!r} is not a number") from None
    return params


def _sweep(args) -> int:
    import importlib.util

    from .sweeps import read_parameter_sets, sweep, sweep_values, write_dataset

    output = Path(args.output)
    if output.suffix not in (".nc", ".zarr"):
        raise OptionError(f"-o {output}: give a .nc (NetCDF-4) or .zarr (Zarr store) name")
    if output.suffix == ".zarr" and importlib.util.find_spec("zarr") is None:
        raise OptionError(f"-o {output}: a Zarr store needs zarr: pip install 'symsim[dask]'")
    if not (args.param or args.sets or args.initial):
        raise OptionError("symsim sweep needs --param NAME=VALUES, --sets FILE.csv or --initial RESULT ...")
    values = read_parameter_sets(args.sets) if args.sets else sweep_values(args.param)
    check_output_file(output.parent / f".{output.name}.probe", "-o")
    dataset = sweep(args.model, values, t_end=args.t_end, method=args.method, saves=args.saves, dt=args.dt,
                    target=args.target, space_order=args.space_order, workers=args.workers,
                    scheduler=args.scheduler, progress=not args.quiet, initial=args.initial)
    write_dataset(dataset, output)
    failed = int(dataset.attrs["failed_members"])
    over = " x ".join(f"{name} ({size})" for name, size in dataset["failed"].sizes.items())
    print(f"{dataset.attrs['model']}: {dataset.attrs['members']} runs ({failed} failed) over {over}; wrote {output}")
    if failed:
        first = str(dataset["error"].values[dataset["failed"].values][0])
        print(f"first failure: {first}")
    return 0


def _discover(args) -> int:
    from .discovery import discover

    output = Path(args.output)
    if output.exists() and not output.is_dir():
        raise OptionError(f"-o {output}: is a file; give a directory")
    # before the work: the folder that will hold the output exists and takes new entries
    check_output_file(output.parent / f".{output.name}.discover", "-o")
    periodic = [axis.strip() for axis in args.periodic.split(",") if axis.strip()]
    axes = [axis.strip() for axis in args.axes.split(",") if axis.strip()]
    found = discover(args.data, method=args.method, holdout=args.holdout, periodic=periodic, degree=args.degree,
                     axes=axes,
                     derivative_order=args.derivative_order, progress=not args.quiet, checkpoint=args.checkpoint,
                     functions=args.functions)
    found.write(output)
    print(found.table())
    print(f"best: {'; '.join(found.best.equations(found.data.names))}")
    print(f"wrote {output / 'model.py'} (symsim run {output / 'model.py'} replays the data to "
          f"{found.best.replay_error:.3g} relative L2), candidates.json, candidates.md, discover.png "
          f"in {found.seconds:.1f} s")
    return 0


def _run(args) -> int:
    from .loader import load_model
    from .solve import result_bytes, simulate

    model = load_model(args.model)
    output = Path(args.output or f"{model.name}.npz")
    picture = None if args.no_plot else Path(args.plot) if args.plot else _picture_beside(output, model.name)

    # a Zarr store or NetCDF file is written save by save as the run takes them
    store = output if output.suffix in (".zarr", ".nc") else None

    def check_outputs(lowered, options):   # before compiling and running: a bad path fails now
        if output.suffix == ".zarr":       # a folder, moved into place at the end
            check_output_file(output.parent / f".{output.name}.probe", "-o", result_bytes(lowered, options))
        else:
            check_output_file(output, "-o", result_bytes(lowered, options))
        if picture is not None:
            check_output_file(picture, "--plot")
        if args.animate:
            from .animation import check_animation_path      # matplotlib: only when asked for
            check_output_file(check_animation_path(args.animate), "--animate")

    try:
        result = simulate(model, t_end=args.t_end, dt=args.dt, method=args.method, saves=args.saves,
                          params=_parse_params(args.param), target=args.target, space_order=args.space_order,
                          rtol=args.rtol, atol=args.atol, linear_solver=args.linear_solver,
                          progress=not args.quiet, egraph=not args.no_egraph,
                          preflight=check_outputs, restart_from=args.restart_from, decompose=args.decompose,
                          overlap=args.overlap_exchange, compress=args.compress,
                          store=store)
    except RunInterrupted as stopped:
        partial = stopped.result
        if partial is None or len(partial.t) < 2:
            raise RunInterrupted(f"{stopped}; nothing written", partial) from None
        # a run into a store has written its saves so far there already
        written = output if partial.stats.get("store") == str(output) else partial.save(output, compress=args.compress)
        raise RunInterrupted(f"{stopped}; the saves up to t={partial.t[-1]:g} are in {written}; continue with: "
                             f"symsim run {args.model} --restart-from {written} --t-end {partial.stats['t_end']:g}",
                             partial) from None
    if result is None:          # a rank other than 0 of a decomposed run: rank 0 writes and reports
        return 0
    if store is None:
        written = [str(result.save(output, compress=args.compress))]
    else:                       # written by the run (by every rank of a decomposed one)
        written = [str(output)]
    if picture is not None:
        written.append(str(result.coarsened().plot(picture)))
    if args.animate:
        from tqdm import tqdm

        from .animation import animate_result

        with tqdm(total=len(result.t), desc="animation", unit="frame", leave=False,
                  disable=args.quiet or not sys.stderr.isatty()) as bar:
            written.append(str(animate_result(result, args.animate, args.animate_scale,
                                              progress=lambda frame: bar.update(1))))
    stats = result.stats
    if args.verbose:
        print(_diagnostics_table(result))
    if "factorizations" in stats:     # an implicit method: what a user of CVODE reads
        if "implicit_solve" in stats:
            linear = (f"{stats['factorizations']} set-ups of I - h*gamma*L ({stats['lu_factorizations']} LU "
                      f"factorizations; unknowns {stats['implicit_solve']})")
        elif "linear_iterations" in stats:
            linear = (f"{stats['linear_iterations']} GMRES iterations ({stats['preconditioner_setups']} multigrid "
                      "set-ups)")
        else:
            linear = f"{stats['factorizations']} LU factorizations"
        steps = (f"{stats['steps']} steps ({stats.get('rejected', 0)} rejected), {stats['rhs_evaluations']} rhs and "
                 f"{stats['jacobian_evaluations']} Jacobian evaluations, {linear}")
    elif "accepted" in stats:
        steps = f"{stats['accepted']} accepted / {stats['rejected']} rejected steps"
    else:
        steps = f"{stats['steps']} steps of dt={stats['dt']:.3g}"
    span = f"t={result.t[0]:g}..{result.t[-1]:g}"
    if "restart_time" in stats:
        span += f" (continued from t={stats['restart_time']:g} of {stats['restarted_from']})"
    processes = f" on {stats['processes']} processes ({stats['decomposition']} blocks)" if "processes" in stats else ""
    target = f" on {stats['target']}" + (f" (auto: {stats['target_choice']})" if "target_choice" in stats else "")
    print(f"{model.name}: {span} with {stats['method']}{target}, {steps}, "
          f"{stats['wall_seconds']:.2f} s{processes}; wrote {', '.join(written)}")
    return 0


def _diagnostics_table(result) -> str:
    """One line per save: t, then min / max / mean / L2 of each field."""
    report = result.stats["diagnostics"]
    header = f"{'t':>12}" + "".join(f"{f + ' ' + q:>14}" for f in report for q in ("min", "max", "mean", "L2"))
    lines = [header]
    for i, t in enumerate(result.t):
        lines.append(f"{t:>12.6g}" + "".join(f"{report[f][q][i]:>14.6g}" for f in report
                                             for q in ("min", "max", "mean", "l2")))
    return "\n".join(lines)


def _picture_beside(output: Path, model_name: str) -> Path:
    """The default picture: named after the result file (``runs/a.npz`` -> ``runs/a.png``)."""
    try:
        return output.with_suffix(".png")
    except ValueError:   # "." or "..": -o is then refused as a directory before anything runs
        return Path(f"{model_name}.png")


def _compile(args) -> int:
    from .compiler import compile_model
    from .loader import load_model
    from .report import kernel_report
    from .solve import BUILTIN_DEFAULTS

    if Path(args.output).exists() and not Path(args.output).is_dir():
        raise OptionError(f"-o {args.output}: exists and is not a directory")
    model = load_model(args.model)
    space_order = args.space_order or model.run_defaults.get("space_order", BUILTIN_DEFAULTS["space_order"])
    source_name = f"{model.name}_{args.target.replace('-', '_')}.py"
    if args.target in LOSS_TARGETS:
        from .losses import loss_source
        source, report = loss_source(model, args.target, space_order=space_order, egraph=not args.no_egraph)
        report = dict(report, source=source_name)
    else:
        # the source only (no GPU needed for cuda, no Numba compile); host backends carry the Jacobian
        # kernel that implicit methods use
        compiled = compile_model(model, target=args.target, space_order=space_order, egraph=not args.no_egraph,
                                 load=False, jacobian=args.target in ("numpy", "numba"))
        source, report = compiled.source, kernel_report(compiled, source_name)
    with atomic_directory(args.output) as directory:
        atomic_write_text(Path(directory) / source_name, source)
        atomic_write_text(Path(directory) / "report.json", json.dumps(report, indent=2) + "\n")
    print(f"{model.name}: wrote {Path(args.output) / source_name} and {Path(args.output) / 'report.json'}")
    return 0


def _info(args) -> int:
    from .compiler import compile_model
    from .loader import load_model
    from .report import kernel_report, stable_steps
    from .solve import BUILTIN_DEFAULTS

    model = load_model(args.model)
    space_order = args.space_order or model.run_defaults.get("space_order", BUILTIN_DEFAULTS["space_order"])
    compiled = compile_model(model, target="numpy", space_order=space_order)
    report = kernel_report(compiled, f"{model.name}_numpy.py")
    report.update(stable_steps(compiled, compiled.resolve_params()))
    del report["target"], report["source"]
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    lowered = compiled.lowered
    grid = ", ".join(f"{g['axis']} {g['points']} points on [{g['start']:g}, {g['stop']:g}"
                     + (") periodic" if g["periodic"] else "]") for g in report["grid"]) or "none (ODE system)"
    lines = [f"model {report['model']}: fields {', '.join(report['fields'])}; grid {grid}; "
             f"space order {report['space_order']}, halo {tuple(report['halo'])}",
             "parameters: " + (", ".join(f"{k} = {v:g}" for k, v in report["parameters"].items()) or "none"),
             "equations:", *(f"  {e}" for e in report["equations"].values())]
    if lowered.walls:
        lines.append("walls:")
        lines += [f"  {w.field}: {w.kind} at {lowered.axes[w.axis].name} {w.side}"
                  + (f", value {w.value}" if w.kind == "dirichlet" else "") + f"  ({w.origin})" for w in lowered.walls]
    lines.append("stencils (lowered):")
    for field, stencil in report["stencils"].items():
        lines.append(f"  d{field}/dt: {stencil['points']} points, reach {tuple(stencil['reach'])}, reads "
                     f"{', '.join(stencil['reads'])}:  {lowered.rhs[field]}")
    costs = report["ops_per_point"]
    lines.append("cost per point (cycles): " + ", ".join(f"{kind} {costs[kind]['cost']:g}"
                                                        for kind in ("lowered", "cse", "egraph") if costs.get(kind)))
    steps = ", ".join(f"{method} {dt:.3g}" if dt is not None else f"{method} unbounded"
                      for method, dt in report["steps"].items())
    lines.append(f"stable explicit step at t=0 (spectral estimate): {steps}")
    if report["anti_diffusive"]:
        where = ", ".join(f"{field} along {axis}" for field, axis in report["anti_diffusive"])
        lines.append(f"ill-posed at t=0: anti-diffusion of {where} (no step is stable)")
    print("\n".join(lines))
    return 0


def _pinn(args) -> int:
    from .loader import load_model
    from .pinn import train_pinn

    if args.output and Path(args.output).exists() and not Path(args.output).is_dir():
        raise OptionError(f"-o {args.output}: exists and is not a directory")
    if args.hard_bc and args.soft_bc or args.float64 and args.float32:
        raise OptionError("--hard-bc and --soft-bc (or --float64 and --float32) exclude each other")
    if args.learn and not args.data:
        raise OptionError("--learn needs --data: parameters are learned from observations")
    if args.data and not Path(args.data).is_file():
        raise OptionError(f"--data {args.data}: no such file")
    model = load_model(args.model)
    learn = [item.strip() for item in (args.learn or "").split(",") if item.strip()]
    run = train_pinn(model, t_end=args.t_end, steps=args.steps, lbfgs_steps=args.lbfgs_steps, points=args.points,
                     hard_bc=True if args.hard_bc else False if args.soft_bc else None, seed=args.seed,
                     width=args.width, depth=args.depth,
                     dtype="float64" if args.float64 else "float32" if args.float32 else None, progress=not args.quiet,
                     data=args.data, learn=learn, data_points=args.data_points, resampling=args.resampling,
                     time_limit=args.time_limit, causal=args.causal, balance=args.balance,
                     architecture=args.architecture, sampling=args.sampling,
                     obstacle_features=args.obstacle_features, near_boundary=args.near_boundary)
    written = f"; wrote {', '.join(run.save(args.output))}" if args.output else ""
    how = f"({run.steps} steps, {run.seconds:.1f} s, final loss {run.final_loss:.3e}){written}"
    if run.learned:
        values = ", ".join(f"{name} = {value:.6g}" for name, value in run.learned.items())
        print(f"{model.name}: learned {values} from {run.config['data_points']} observations (rms misfit "
              f"{run.config['data_rms_misfit']:.3e}); PINN relative L2 error {run.rel_l2:.3e} against symsim's "
              f"solution with them {how}")
    elif not run.config.get("geometry"):
        print(f"{model.name}: PINN relative L2 error {run.rel_l2:.3e} against symsim's solution {how}")
    elif run.config["field_errors"]:
        pinned = {p.field for p in model.pins}
        errors = ", ".join(f"{f} {e:.3e}" + (" (up to a constant)" if f in pinned else "")
                           for f, e in run.config["field_errors"].items())
        print(f"{model.name}: PINN relative L2 errors against the exact solution: {errors} {how}")
    else:
        print(f"{model.name}: PINN trained, no exact solution to compare with (model.exact) {how}")
    return 0


def _simplify(args) -> int:
    from .expression_parser import parse_expression
    from .simplify import simplify_expression

    expression = parse_expression(args.expression)
    simplified, before, after = simplify_expression(expression)
    print(simplified)
    print(f"cost {before['cost']} -> {after['cost']} cycles "
          f"(add {before['add']}->{after['add']}, mul {before['mul']}->{after['mul']}, "
          f"div {before['div']}->{after['div']}, pow {before['pow']}->{after['pow']}, "
          f"call {before['call']}->{after['call']})")
    return 0


def _version() -> str:
    from . import __version__
    return __version__


def console_main() -> None:
    """The ``symsim`` command: :func:`main`, then exit without tearing the interpreter down.

    Everything a command writes is closed by then (outputs are written atomically); what is
    left is Python's finalization of every imported module -- SymPy's and Numba's object
    graphs -- which costs 0.2-0.4 s after a run (``benchmarks/startup.py``). The exit
    handlers still run (temporary directories, logging); then the streams are flushed and
    the process ends with ``os._exit`` (not a rank of an MPI run).
    """
    import atexit
    status = main()
    if "mpi4py" in sys.modules:
        # a rank of an MPI run ends as Python ends (mpi4py finalizes MPI at teardown): ended by os._exit,
        # with or without MPI_Finalize first, one rank in ten was killed by the launcher as it ended
        sys.exit(status)
    try:
        atexit._run_exitfuncs()
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):   # a closed pipe: nothing more can be said on it
                pass
        os._exit(status)


if __name__ == "__main__":
    console_main()
