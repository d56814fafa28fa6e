"""``symsim prose generate | train | eval | predict``: the command-line steps of the PROSE workflow.

    symsim prose generate -o eval.npz
    symsim prose train --config small -o runs/small
    symsim prose eval runs/small --data eval.npz           # table + metrics.json
    symsim prose predict runs/small observed.npz           # equations + prediction.npz + picture
    symsim prose predict observed.npz                      # the same with the weights shipped with symsim
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

from ..errors import OptionError, SymsimError
from ..io import atomic_write, atomic_write_text, check_output_file


def run_prose_command(args) -> int:
    return {"generate": _generate, "train": _train, "eval": _evaluate, "predict": _predict}[args.prose_command](args)


def _progress_bar(total: int, description: str, quiet: bool):
    from tqdm import tqdm
    return tqdm(total=total, desc=description, unit="sample", disable=quiet or not sys.stderr.isatty(),
                leave=False)


def _families(args) -> dict:
    """``--families a,b`` as DataSpec's keyword (nothing: every family)."""
    return {"families": tuple(f.strip() for f in args.families.split(","))} if args.families else {}


def _generate(args) -> int:
    from .data import DataSpec, generate_samples

    spec = DataSpec(**_families(args))
    check_output_file(args.output, "-o")          # before the simulations, not after
    if args.workers is None and args.scheduler is None:
        with _progress_bar(args.count, "simulating", args.quiet) as bar:
            samples = generate_samples(spec, args.count, seed=args.seed, progress=bar.update, chunk=args.chunk)
    else:
        from ..sweeps import dask_client

        with dask_client(None, args.scheduler, args.workers, "symsim prose generate --workers/--scheduler") \
                as client, _progress_bar(args.count, "simulating", args.quiet) as bar:
            samples = generate_samples(spec, args.count, seed=args.seed, progress=bar.update, chunk=args.chunk,
                                       client=client)
    samples.save(args.output)
    parts = f", in parts of {args.chunk or 256}" if args.chunk or args.workers or args.scheduler else ""
    print(f"wrote {args.output}: {len(samples)} samples of {len(spec.families)} families (seed {args.seed}{parts})")
    return 0


def _train(args) -> int:
    import torch

    from .data import DataSpec, OnlineBatches
    from .model import load_config
    from .tokens import VOCAB
    from .training import TrainingOptions, distributed_context, train

    config = load_config(args.config, **VOCAB.config_ids())
    spec = DataSpec(add_term_probability=args.corrupt, drop_term_probability=args.corrupt,
                    no_symbol_probability=args.no_symbol_share, **_families(args))

    def batches(rank: int, world_size: int, start_step: int):
        # a resumed run (start_step > 0) continues with samples it has not seen
        return OnlineBatches(spec, args.batch_size, workers=args.workers, seed=args.seed, rank=rank,
                             start_step=start_step)

    if "OMP_NUM_THREADS" not in os.environ:
        # the data workers need their cores: oversubscribed, torch's thread pool stalls for whole time slices
        torch.set_num_threads(max(1, (os.cpu_count() or 1) - args.workers))
    options = TrainingOptions(learning_rate=args.learning_rate, warmup_steps=args.warmup,
                              data_weight=args.data_weight, seed=args.seed)
    run = train(config, batches, args.steps, args.output, options=options, progress=False if args.quiet else None)
    if distributed_context().is_main and run.history:
        last = run.history[-1]
        print(f"trained to step {run.step}: loss {last['loss']:.4g} (symbols {last['symbol_loss']:.4g}, "
              f"data {last['data_loss']:.4g}); checkpoint in {args.output}")
    return 0


def _checkpoint_path(path) -> Path:
    from .training import CHECKPOINT_NAME

    path = Path(path)
    path = path / CHECKPOINT_NAME if path.is_dir() else path
    if not path.is_file():
        raise OptionError(f"no PROSE checkpoint at {path}")
    return path


def _pretrained() -> Path:
    from .training import PRETRAINED

    if not PRETRAINED.is_file():
        raise OptionError(f"the shipped PROSE weights are missing ({PRETRAINED}); give a checkpoint")
    return PRETRAINED


def _evaluate(args) -> int:
    from .data import Samples
    from .evaluation import evaluate, format_table
    from .training import load_trained_model

    network = load_trained_model(_checkpoint_path(args.checkpoint))
    samples = Samples.load(args.data)
    with _progress_bar(len(samples), "evaluating", args.quiet) as bar:
        summary = evaluate(network, samples, beam_size=args.beam, refine=not args.no_refine,
                           constrained=not args.unconstrained, progress=bar.update)
    print(format_table(summary))
    report = {"checkpoint": str(args.checkpoint), "data": str(args.data), "beam": args.beam,
              "decoding": "unconstrained" if args.unconstrained else "grammar-constrained",
              "data_only": "the same checkpoint with the symbol input left out (trained so for a share of samples)",
              "statistic": "median over samples (valid_fraction: mean)", "metrics": summary}
    atomic_write_text(args.output, json.dumps(report, indent=2, allow_nan=True) + "\n")
    print(f"wrote {args.output}")
    return 0


def _predict(args) -> int:
    import torch

    from .data import DataSpec, window_batch
    from .evaluation import integrate, is_valid_decode, refine_constants, simplify_system
    from .grammar import SymbolGrammar
    from .tokens import VOCAB, DecodedSystem, decode_system
    from .training import load_trained_model

    if len(args.inputs) > 2:
        raise OptionError(f"prose predict takes [CHECKPOINT] DATA, got {len(args.inputs)} paths")
    *checkpoint, data = args.inputs
    network = load_trained_model(_checkpoint_path(checkpoint[0]) if checkpoint else _pretrained())
    spec = DataSpec()
    times, values = _read_observation(data, spec)
    d = values.shape[1]
    split = spec.input_points
    grid = spec.times
    batch = window_batch(values[None], spec)
    grammar = None if args.unconstrained else SymbolGrammar(VOCAB)
    with torch.no_grad():
        predicted = network.predict_trajectory(batch)[0, :, :d].numpy()
        tokens = network.beam_decode(batch, args.beam, 200, grammar=grammar)[0]
    decoded = decode_system(tokens)
    arrays = {"query_times": grid[split:], "predicted": predicted, "observed_times": grid[:split], "observed": values}
    if is_valid_decode(decoded, d):
        simplified = simplify_system(decoded.exprs)
        refined = refine_constants(simplified, grid[:split], values)
        forward = integrate(refined.exprs, refined.initial_state, grid)
        arrays["refined_predicted"] = forward[split:]
        # the equations as text (a 1-D unicode array: loads with allow_pickle=False)
        arrays["equations"] = np.array([str(e) for e in decoded.exprs])
        arrays["refined_equations"] = np.array([str(e) for e in refined.exprs])
        for i, (raw, fitted) in enumerate(zip(decoded.exprs, refined.exprs)):
            print(f"du_{i}/dt = {raw}    refined: {fitted}")
        print(f"refinement: observed misfit {refined.misfit_before:.3g} -> {refined.misfit_after:.3g} (relative RMS)")
    else:
        reason = decoded.reason if not isinstance(decoded, DecodedSystem) else f"dimension {decoded.dimension} for {d}"
        print(f"the decoded equations are not a valid system ({reason}); only the direct prediction is written")
    atomic_write(args.output, lambda stream: np.savez(stream, **arrays))
    picture = args.plot or str(Path(args.output).with_suffix(".png"))
    _plot_prediction(arrays, picture)
    print(f"wrote {args.output} and {picture}")
    return 0


def _read_observation(path, spec) -> tuple[np.ndarray, np.ndarray]:
    """The observed window on the model's input grid (interpolated if sampled otherwise)."""
    from .data import MAX_DIMENSION

    try:
        with np.load(path, allow_pickle=False) as stored:
            if "times" not in stored.files or "values" not in stored.files:
                raise SymsimError(f"{path}: needs arrays 'times' and 'values' (has {stored.files})")
            times, values = np.asarray(stored["times"], float), np.asarray(stored["values"], float)
    except (OSError, ValueError) as error:
        raise SymsimError(f"{path}: not a readable npz of numbers ({error})") from None
    if values.ndim == 1:
        values = values[:, None]
    if times.ndim != 1 or values.ndim != 2 or len(times) != len(values) or not 1 <= values.shape[1] <= MAX_DIMENSION:
        raise SymsimError(f"{path}: 'times' must be (n,) and 'values' (n, d) with 1 <= d <= {MAX_DIMENSION}; "
                          f"got {times.shape} and {values.shape}")
    if not (np.isfinite(times).all() and np.isfinite(values).all()) or np.any(np.diff(times) <= 0):
        raise SymsimError(f"{path}: times must increase and every value be finite")
    grid = spec.times[:spec.input_points]
    # the observation may stop short of the window by up to one of its own sample spacings (64 points on
    # [0, 2) without the end point reach 1.969 of the window's 1.979): those ends are extrapolated linearly
    spacing = float(np.max(np.diff(times))) if len(times) > 1 else 0.0
    if times[0] > grid[0] + spacing + 1e-9 or times[-1] < grid[-1] - spacing - 1e-9 or len(times) < 2:
        raise SymsimError(f"{path}: the observation must cover t in [0, {grid[-1]:.4g}] (the model reads the "
                          f"first {spec.input_points} of {spec.points} points on [0, {spec.t_end:g}]); "
                          f"it covers [{times[0]:.4g}, {times[-1]:.4g}]")
    resampled = np.stack([_interpolate(grid, times, values[:, i]) for i in range(values.shape[1])], axis=1)
    same = len(times) == len(grid) and np.allclose(times, grid, rtol=0, atol=1e-9)
    if not same:
        outside = max(0.0, times[0] - grid[0]) + max(0.0, grid[-1] - times[-1])
        print(f"resampled {len(times)} observed points on [{times[0]:.4g}, {times[-1]:.4g}] onto the network's "
              f"{len(grid)} points on [0, {grid[-1]:.4g}] (linear interpolation"
              + (f"; {outside:.3g} of time extrapolated at the ends)" if outside > 1e-9 else ")"))
    return grid, resampled


def _interpolate(grid: np.ndarray, times: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Linear interpolation of (times, values) at grid, extended linearly beyond the first and last points."""
    out = np.interp(grid, times, values)
    before, after = grid < times[0], grid > times[-1]
    out[before] = values[0] + (grid[before] - times[0]) * (values[1] - values[0]) / (times[1] - times[0])
    out[after] = values[-1] + (grid[after] - times[-1]) * (values[-1] - values[-2]) / (times[-1] - times[-2])
    return out


def _plot_prediction(arrays: dict, path: str) -> None:
    from ..plotting import new_figure, save_figure

    d = arrays["observed"].shape[1]
    figure = new_figure(8, 1.8 * d + 0.6)
    axes = figure.subplots(d, 1, sharex=True, squeeze=False)
    for i, axis in enumerate(axes[:, 0]):
        axis.plot(arrays["observed_times"], arrays["observed"][:, i], ".", ms=3, color="black", label="observed")
        axis.plot(arrays["query_times"], arrays["predicted"][:, i], label="network")
        if "refined_predicted" in arrays:
            axis.plot(arrays["query_times"], arrays["refined_predicted"][:, i], "--", label="refined equations")
        axis.set_ylabel(f"u_{i}")
    axes[0, 0].legend(loc="upper left", fontsize=8)
    axes[-1, 0].set_xlabel("t")
    save_figure(figure, path)
