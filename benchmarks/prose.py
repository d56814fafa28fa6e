"""PROSE on this machine: train a config for a wall-clock budget, then evaluate it against its baselines.

    python benchmarks/prose.py [--config small] [--minutes 55] [--json benchmarks/prose.json]
    python benchmarks/prose.py --train-only --export weights.pt ...     # the shipped checkpoint's recipe

1. A fixed, seeded evaluation set (``--eval-count`` samples, every family) is made
   with symsim's compiled ensemble solver and written to ``RUN/eval.npz``.
2. The config trains on fresh samples streamed from ``--workers`` data processes
   (symbol input left out for ``--no-symbol-share`` of samples, the skeleton guesses corrupted by an
   added / dropped term with probability 0.1 each) until ``--minutes`` run out;
   checkpoints go to ``RUN/``. A rerun resumes the checkpoint and its stream (seeded by
   the step it starts from) and trains until the *total* training time, recorded in the
   checkpoint, reaches ``--minutes``. ``--export FILE`` then writes the weights alone, with
   this recipe beside them (``symsim.prose.training.export_weights``).
3. ``symsim.prose.evaluation.evaluate`` gives the issue's metrics per family and
   overall (medians), with the data-only ablation (the same checkpoint without symbol
   input) and SINDy computed on the same samples in the same run.

Symbols are decoded under the token grammar (``symsim.prose.grammar``); the valid fraction
of unconstrained greedy decoding is measured in the same run and reported next to it.

The targets of the issue are checked and printed: >= 95% valid decoded expressions;
trajectory error below the data-only ablation's; vector-field error after refinement
below SINDy's on at least half of the families.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from symsim.io import atomic_write_text
from symsim.prose.data import DataSpec, OnlineBatches, Samples, generate_samples
from symsim.prose.evaluation import PRIOR_WEIGHT, evaluate, format_table
from symsim.fno import count_parameters
from symsim.prose.model import load_config
from symsim.prose.tokens import VOCAB
from symsim.prose.training import CHECKPOINT_NAME, TrainingOptions, export_weights, load_checkpoint, train


def until(deadline: float, batches):
    """The batches of ``batches`` until ``deadline`` (time.time()); then the source runs dry."""
    iterator = iter(batches)
    while time.time() < deadline:       # checked before waiting on the source, not after
        try:
            yield next(iterator)
        except StopIteration:
            return


def targets(summary: dict) -> dict:
    families = [name for name in summary if name != "overall"]
    overall = summary["overall"]
    refined_beats_sindy = [name for name in families
                           if summary[name]["field_rel_l2_refined"] < summary[name]["sindy_field_rel_l2"]]
    return {
        "valid_fraction_at_least_0.95": overall["valid_fraction"] >= 0.95,
        "traj_below_data_only": overall["traj_rel_l2"] < overall["data_only_traj_rel_l2"],
        "refined_field_below_sindy_on_half_the_families": len(refined_beats_sindy) >= len(families) / 2,
        "families_where_refined_beats_sindy": refined_beats_sindy,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="small")
    parser.add_argument("--minutes", type=float, default=55.0, help="training wall-clock budget")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=5e-4)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the trainer")
    parser.add_argument("--eval-count", type=int, default=600)
    parser.add_argument("--beam", type=int, default=1)
    parser.add_argument("--run", default="runs/prose-benchmark", help="checkpoint and eval-set directory")
    parser.add_argument("--json", default="benchmarks/prose.json")
    parser.add_argument("--no-symbol-share", type=float, default=0.2,
                        help="share of training samples without the symbol input (the data-only mode)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the weights and the training stream")
    parser.add_argument("--train-only", action="store_true", help="skip the evaluation (step 3)")
    parser.add_argument("--export", metavar="FILE", help="write the trained weights alone to FILE")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    run = Path(args.run)
    run.mkdir(parents=True, exist_ok=True)

    eval_path = run / "eval.npz"
    started = time.time()
    if args.train_only:
        samples = None
    elif eval_path.exists():
        samples = Samples.load(eval_path)
    else:
        samples = generate_samples(DataSpec(), args.eval_count, seed=12345)
        samples.save(eval_path)
    if samples is not None:
        print(f"evaluation set: {len(samples)} samples ({time.time() - started:.0f} s)", flush=True)

    config = load_config(args.config, **VOCAB.config_ids())
    spec = DataSpec(add_term_probability=0.1, drop_term_probability=0.1,
                    no_symbol_probability=args.no_symbol_share)
    options = TrainingOptions(learning_rate=args.learning_rate, warmup_steps=args.warmup, seed=args.seed)
    checkpoint = run / CHECKPOINT_NAME
    prior = load_checkpoint(checkpoint) if checkpoint.exists() else {}
    prior_step, prior_seconds = prior.get("step", 0), float(prior.get("training_seconds", 0.0))
    deadline = time.time() + 60 * args.minutes - prior_seconds
    streams = []

    def batches(rank: int, world_size: int, start_step: int):
        streams.append(OnlineBatches(spec, args.batch_size, workers=args.workers, seed=args.seed, rank=rank,
                                     start_step=start_step))
        return until(deadline, streams[-1])

    started = time.time()
    try:
        # the budget, not a step count, ends the run: the progress bar would show a meaningless total
        result = train(config, batches, steps=10**9, checkpoint_dir=run, options=options,
                       checkpoint_every=250, log_every=50, progress=False)
    finally:
        for stream in streams:
            stream.close()
    seconds = time.time() - started
    history = result.history
    print(f"trained {len(history)} steps in {seconds / 60:.1f} min "
          f"({len(history) * args.batch_size / max(seconds, 1e-9):.1f} samples/s); "
          f"{result.step} steps in {result.seconds / 60:.1f} min in all", flush=True)
    if history:
        print(f"final loss {history[-1]['loss']:.3f} (symbols {history[-1]['symbol_loss']:.3f}, "
              f"data {history[-1]['data_loss']:.4f})", flush=True)

    flags = [f"--{k.replace('_', '-')}" + ("" if v is True else f" {v}") for k, v in sorted(vars(args).items())
             if v not in (None, False) and k not in ("json", "run", "export")]
    recipe = {"command": "python benchmarks/prose.py " + " ".join(flags),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}"
                         + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""),
              "steps": result.step, "samples_seen": result.step * args.batch_size,
              "training_minutes": result.seconds / 60,
              "final_losses": {k: history[-1][k] for k in ("loss", "symbol_loss", "data_loss")} if history else {},
              "loss_every_50_steps": [round(h["loss"], 4) for h in history[::50]]}
    if args.export:
        export_weights(checkpoint, args.export, recipe)
        print(f"wrote {args.export}")
    if args.train_only:
        atomic_write_text(args.json, json.dumps(recipe, indent=2) + "\n")
        print(f"wrote {args.json}")
        return

    started = time.time()
    summary = evaluate(result.model, samples, beam_size=args.beam)
    evaluation_seconds = time.time() - started
    print(format_table(summary))
    met = targets(summary)
    for name, value in met.items():
        print(f"  {name}: {value}")

    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "config": args.config, "parameters": count_parameters(result.model),
        "batch_size": args.batch_size, "learning_rate": args.learning_rate, "warmup": args.warmup,
        "workers": args.workers, "threads": args.threads,
        "training_minutes": result.seconds / 60, "steps": result.step,
        "samples_seen": result.step * args.batch_size,
        "resumed_from": {"step": prior_step, "minutes": prior_seconds / 60} if prior_step else None,
        "final_losses": {k: history[-1][k] for k in ("loss", "symbol_loss", "data_loss")} if history else None,
        "loss_every_50_steps_of_this_run": [round(h["loss"], 4) for h in history[::50]],
        "evaluation_samples": len(samples), "evaluation_seconds": evaluation_seconds, "beam": args.beam,
        "decoding": "grammar-constrained (unconstrained_valid_fraction: greedy without the grammar)",
        "refinement_prior_weight": PRIOR_WEIGHT,
        "data_only": f"the same checkpoint without symbol input ({args.no_symbol_share:.0%} of training "
                     "samples had none)",
        "statistic": "median over samples (valid_fraction: mean)",
        "metrics": summary, "targets": met,
    }
    atomic_write_text(args.json, json.dumps(report, indent=2, default=float) + "\n")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(message)s")
    logging.getLogger("symsim.prose.training").setLevel(logging.INFO)           # train's loss lines
    np.seterr(all="ignore")
    main()
