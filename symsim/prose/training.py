"""Training a :class:`~symsim.prose.model.ProseModel`: loss, schedule, checkpoints, torchrun::

    config = load_config("small", **VOCAB.config_ids())
    run = train(config, batch_stream, steps=100_000, checkpoint_dir="runs/small",
                options=TrainingOptions(learning_rate=3e-4, warmup_steps=2000))
    run.history[-1]["loss"], run.model          # rerunning the same call resumes from runs/small
    model = load_trained_model("runs/small/checkpoint.pt")

The same script runs unchanged under ``torchrun --nproc_per_node=N script.py``: :func:`train`
reads RANK, WORLD_SIZE and LOCAL_RANK, joins the process group (nccl on CUDA, gloo on CPU),
wraps the model in DistributedDataParallel, and only rank 0 shows progress and writes the
checkpoint.

The batch source is either an iterable of batch dicts (see :mod:`symsim.prose.data`) or a
callable ``batches(rank, world_size, start_step)`` that returns one. A callable is how every
rank draws different batches and how a resumed run continues its stream: it should, for
example, seed its generator with (seed, rank, start_step). A plain iterable is used as it
is, from where it stands: under torchrun each process builds its own, so the script must
make them differ (``distributed_context().rank``).

Loss: symbol cross-entropy over target tokens (pad ignored, optional label smoothing) plus
``data_weight`` times the MSE of the predicted states over present channels, measured in each
sample's value scale (see :mod:`symsim.prose.model`) so that a trajectory reaching 1e3 weighs
the same as one of size 1. AdamW with a linear warm-up to ``learning_rate`` over
``warmup_steps``, then decay as 1/sqrt(step) (as in PROSE), and gradient-norm clipping.

Checkpoints hold only tensors, numbers, strings, lists and dicts, so that
``torch.load(path, weights_only=True)`` reads them (no pickled objects): the model and
optimizer state dicts, the step (which fixes the learning rate), every rank's RNG state, and
the model config and options as dicts, and the wall-clock seconds trained so far (summed
over resumed runs, so a budget can span them). They are written to a temporary file and renamed over
the old one, so a run killed mid-write leaves the previous checkpoint intact.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch
from torch import distributed, nn
from torch.nn import functional
from tqdm import tqdm

from ..errors import OptionError
from ..io import atomic_write
from .model import ProseConfig, ProseModel, ProseOutput

logger = logging.getLogger(__name__)

#: The file in ``checkpoint_dir`` that :func:`train` writes and resumes from.
CHECKPOINT_NAME = "checkpoint.pt"

#: the weights shipped with the package (trained by ``benchmarks/prose.py``; how: ``pretrained/README.md``)
PRETRAINED = Path(__file__).resolve().parent / "pretrained" / "small.pt"

#: Bumped when the checkpoint layout changes.
CHECKPOINT_FORMAT = 1


@dataclasses.dataclass(frozen=True)
class TrainingOptions:
    """Optimization settings; PROSE used lr 1e-4, weight decay 1e-4 and clipping at 1.0."""

    learning_rate: float = 1e-4
    warmup_steps: int = 1000
    weight_decay: float = 1e-4
    clip_norm: float = 1.0          # 0 disables clipping
    data_weight: float = 1.0
    label_smoothing: float = 0.0
    #: seeds the model's initial weights (the same on every rank) and then, with the rank, dropout
    seed: int = 0

    def __post_init__(self):
        if self.learning_rate <= 0 or self.warmup_steps < 0 or self.clip_norm < 0 or self.data_weight < 0:
            raise OptionError(f"TrainingOptions: invalid values in {self}")


@dataclasses.dataclass
class TrainingRun:
    """What :func:`train` returns: the trained model (unwrapped, on its device) and its history."""

    model: ProseModel
    #: one dict per step of this call: step (optimizer steps done), loss, symbol_loss, data_loss,
    #: learning_rate; losses are averaged over ranks
    history: list[dict]
    step: int
    #: wall-clock seconds of training in all, resumed runs included (0 before a checkpoint recorded it)
    seconds: float = 0.0


@dataclasses.dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def distributed_context() -> DistributedContext:
    """This process's place in a torchrun job (rank 0 of 1 outside torchrun)."""
    return DistributedContext(int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1)),
                              int(os.environ.get("LOCAL_RANK", 0)))


def learning_rate_at(step: int, options: TrainingOptions) -> float:
    """Linear warm-up over ``warmup_steps``, then learning_rate * sqrt(warmup_steps / step).

        >>> learning_rate_at(0, TrainingOptions(1e-3, warmup_steps=4))   # first step: 1/4 of the peak
        0.00025
    """
    count = step + 1
    warmup = max(options.warmup_steps, 1)
    return options.learning_rate * min(count / warmup, math.sqrt(warmup / count))


def prose_loss(output: ProseOutput, batch: dict, pad_id: int, data_weight: float = 1.0,
               label_smoothing: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(total, symbol cross-entropy, data MSE in value-scale units) of one batch."""
    labels = batch["symbol_target"][:, 1:]
    symbol = functional.cross_entropy(output.symbol_logits.flatten(0, 1), labels.flatten(), ignore_index=pad_id,
                                      label_smoothing=label_smoothing)
    present = batch["dim_mask"][:, None, :].expand_as(output.query_values)
    error = (output.query_values - batch["query_values"]) / output.value_scale[:, None, None]
    data = torch.where(present, error, 0.0).square().sum() / present.sum().clamp(min=1)
    return symbol + data_weight * data, symbol, data


# -- checkpoints ---------------------------------------------------------------------------------

def save_checkpoint(path: str | Path, state: dict) -> None:
    """``torch.save`` ``state`` to ``path`` atomically (never half-written)."""
    atomic_write(path, lambda stream: torch.save(state, stream))


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """A checkpoint written by :func:`train`, read without unpickling objects."""
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except (OSError, RuntimeError) as error:
        raise OptionError(f"cannot read PROSE checkpoint {path}: {error}") from error
    if state.get("format") != CHECKPOINT_FORMAT:
        raise OptionError(f"{path}: checkpoint format {state.get('format')!r}, expected {CHECKPOINT_FORMAT}")
    return state


def export_weights(checkpoint_path: str | Path, path: str | Path, recipe: dict | None = None) -> None:
    """Write a checkpoint's model without its optimizer moments and RNG streams (a third of the size):
    what is shipped and what :func:`load_trained_model` reads. ``recipe``: how it was trained, in plain
    numbers and strings (stored beside the weights, read back with them)."""
    state = load_checkpoint(checkpoint_path)
    save_checkpoint(path, {"format": CHECKPOINT_FORMAT, "step": state["step"], "config": state["config"],
                           "options": state["options"], "world_size": state["world_size"],
                           "training_seconds": state["training_seconds"], "recipe": dict(recipe or {}),
                           "model": state["model"]})


def load_trained_model(path: str | Path, device="cpu") -> ProseModel:
    """The model of a checkpoint, in eval mode."""
    state = load_checkpoint(path, map_location=device)
    model = ProseModel(ProseConfig.from_dict(state["config"], source=str(path))).to(device)
    model.load_state_dict(state["model"])
    return model.eval()


def gather_rng_states(context: DistributedContext, device: torch.device) -> dict:
    """Every rank's torch RNG state, stacked by rank (a collective: all ranks call it)."""
    states = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        states["cuda"] = torch.cuda.get_rng_state(device)
    if context.world_size == 1:
        return {name: state[None] for name, state in states.items()}
    gathered = {}
    for name, state in states.items():
        local = state.to(device)     # nccl moves only device tensors
        parts = [torch.empty_like(local) for _ in range(context.world_size)]
        distributed.all_gather(parts, local)
        gathered[name] = torch.stack(parts).cpu()
    return gathered


def restore_rng_states(states: dict, context: DistributedContext, device: torch.device) -> None:
    """This rank's RNG state; a job resumed on more ranks than saved reuses rows (rank mod saved)."""
    row = context.rank % states["cpu"].shape[0]
    torch.set_rng_state(states["cpu"][row].cpu())
    if device.type == "cuda" and "cuda" in states:
        torch.cuda.set_rng_state(states["cuda"][row].cpu(), device)


def _check_same_config(saved: dict, config: ProseConfig, path: Path) -> None:
    current = config.to_dict()
    differences = {key: (saved.get(key), current[key]) for key in current if saved.get(key) != current[key]}
    if differences:
        raise OptionError(f"{path}: cannot resume, the checkpoint's model config differs "
                          f"(field: (saved, requested)): {differences}")


# -- the loop ------------------------------------------------------------------------------------

def _batch_iterator(batches, context: DistributedContext, start_step: int):
    if callable(batches):
        return iter(batches(rank=context.rank, world_size=context.world_size, start_step=start_step))
    return iter(batches)


def _join_process_group(context: DistributedContext, device: torch.device) -> bool:
    """Init the process group unless single-process or already done; True if this call did it."""
    if context.world_size == 1 or distributed.is_initialized():
        return False
    distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return True


def _default_device(context: DistributedContext) -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", context.local_rank)
    return torch.device("cpu")


def train(config: ProseConfig, batches: Iterable[dict] | Callable[..., Iterable[dict]], steps: int,
          checkpoint_dir: str | Path | None = None, *, resume: bool = True, log_every: int = 100,
          checkpoint_every: int = 1000, options: TrainingOptions | None = None, progress: bool | None = None,
          device: str | torch.device | None = None) -> TrainingRun:
    """Train until ``steps`` optimizer steps in all (a resumed run counts the saved ones).

    Saves to ``checkpoint_dir/checkpoint.pt`` every ``checkpoint_every`` steps and at the end;
    with ``resume`` it continues from that file when it exists, with the same learning-rate
    schedule, optimizer moments and RNG streams as an uninterrupted run. ``progress``: a tqdm
    bar (default: on rank 0 when stderr is a terminal); every ``log_every`` steps the losses
    go to the bar and to this module's logger. The run stops early, with a checkpoint, if the
    batch source runs dry.
    """
    options = options or TrainingOptions()
    context = distributed_context()
    device = torch.device(device) if device is not None else _default_device(context)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    joined = _join_process_group(context, device)
    try:
        return _train(config, batches, steps, checkpoint_dir, resume, log_every, checkpoint_every, options,
                      progress, device, context)
    finally:
        if joined:
            distributed.destroy_process_group()


def _train(config, batches, steps, checkpoint_dir, resume, log_every, checkpoint_every, options, progress,
           device, context) -> TrainingRun:
    torch.manual_seed(options.seed)          # the same initial weights on every rank
    model = ProseModel(config).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=options.learning_rate, weight_decay=options.weight_decay)
    torch.manual_seed(options.seed + 1 + context.rank)     # then each rank its own dropout stream

    checkpoint_path = Path(checkpoint_dir) / CHECKPOINT_NAME if checkpoint_dir is not None else None
    step = 0
    prior_seconds = 0.0
    if resume and checkpoint_path is not None and checkpoint_path.exists():
        state = load_checkpoint(checkpoint_path, map_location=device)
        _check_same_config(state["config"], config, checkpoint_path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        restore_rng_states(state["rng"], context, device)
        step = state["step"]
        prior_seconds = float(state.get("training_seconds", 0.0))
        logger.info("resuming %s at step %d", checkpoint_path, step)

    network: nn.Module = model
    if context.world_size > 1:
        device_ids = [device.index] if device.type == "cuda" else None
        network = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    model.train()
    started = time.monotonic()

    def write_checkpoint():
        if checkpoint_path is None:
            return
        rng = gather_rng_states(context, device)       # collective: before the rank test
        if context.is_main:
            save_checkpoint(checkpoint_path, {
                "format": CHECKPOINT_FORMAT, "step": step, "config": config.to_dict(),
                "options": dataclasses.asdict(options), "world_size": context.world_size,
                "training_seconds": prior_seconds + time.monotonic() - started,
                "model": model.state_dict(), "optimizer": optimizer.state_dict(), "rng": rng})

    show = progress if progress is not None else sys.stderr.isatty()
    bar = tqdm(total=steps, initial=step, disable=not (show and context.is_main), desc="PROSE training",
               dynamic_ncols=True)
    history: list[dict] = []
    source = _batch_iterator(batches, context, step)
    saved_step = step
    try:
        while step < steps:
            try:
                batch = next(source)
            except StopIteration:
                logger.warning("batch source ran dry after %d steps (of %d)", step, steps)
                break
            batch = {key: value.to(device, non_blocking=True) for key, value in batch.items()
                     if isinstance(value, torch.Tensor)}
            learning_rate = learning_rate_at(step, options)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate
            total, symbol, data = prose_loss(network(batch), batch, config.pad_id, options.data_weight,
                                             options.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            if options.clip_norm > 0:
                nn.utils.clip_grad_norm_(model.parameters(), options.clip_norm)
            optimizer.step()
            step += 1

            losses = torch.stack([total.detach(), symbol.detach(), data.detach()])
            if context.world_size > 1:
                distributed.all_reduce(losses)
                losses /= context.world_size
            total_value, symbol_value, data_value = losses.tolist()
            history.append({"step": step, "loss": total_value, "symbol_loss": symbol_value,
                            "data_loss": data_value, "learning_rate": learning_rate})
            bar.update(1)
            if log_every > 0 and (step % log_every == 0 or step == steps):
                bar.set_postfix(loss=f"{total_value:.4g}", symbols=f"{symbol_value:.3g}", data=f"{data_value:.3g}")
                if context.is_main:
                    logger.info("step %d: loss %.5g (symbols %.4g, data %.4g), lr %.3g",
                                step, total_value, symbol_value, data_value, learning_rate)
            if checkpoint_every > 0 and step % checkpoint_every == 0:
                write_checkpoint()
                saved_step = step
        if step != saved_step:
            write_checkpoint()
    finally:
        bar.close()
    # a call that took no step (resumed at its goal, or its source dry) trained for no time
    return TrainingRun(model, history, step, prior_seconds + (time.monotonic() - started if history else 0.0))
