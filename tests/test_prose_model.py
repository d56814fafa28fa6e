"""The PROSE transformer (symsim/prose/model.py) and its training loop (symsim/prose/training.py).

The batches here are synthetic (made by ``synthetic_batch``): the model must not care where
they come from, and these tests must not depend on the ODE data generator.
"""

import itertools
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import symsim  # noqa: E402
from symsim.errors import OptionError  # noqa: E402
from symsim.fno import count_parameters  # noqa: E402
from symsim.prose.model import (MIN_VALUE_SCALE, ProseModel, load_config,  # noqa: E402
                                observed_value_scale)
from symsim.prose.training import (CHECKPOINT_NAME, TrainingOptions, learning_rate_at,  # noqa: E402
                                   load_checkpoint, load_trained_model, prose_loss, train)

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: a made-up vocabulary: pad, bos, eos, then 17 symbols
VOCAB_SIZE, PAD, BOS, EOS = 20, 0, 1, 2
VOCABULARY = dict(vocab_size=VOCAB_SIZE, pad_id=PAD, bos_id=BOS, eos_id=EOS)


def tiny_model(seed=0) -> ProseModel:
    torch.manual_seed(seed)
    return ProseModel(load_config("tiny", **VOCABULARY)).eval()


def synthetic_batch(seed=0, size=4, observed=32, queried=24, symbols=8, target=10, dims=(3, 1, 5, 2)):
    """A batch in symsim.prose.data's layout: sample i has dims[i] channels of damped sinusoids
    of amplitude up to 40, a guessed skeleton of random length (none for sample 1), and a
    random target equation of random length between bos and eos."""
    generator = torch.Generator().manual_seed(seed)
    dim_mask = torch.arange(5)[None, :] < torch.tensor(dims[:size])[:, None]
    frequency = 0.5 + 2 * torch.rand(size, 1, 5, generator=generator)
    amplitude = 40 * torch.rand(size, 1, 5, generator=generator)

    def states(times):
        values = amplitude * torch.sin(frequency * times[..., None]) * torch.exp(-0.1 * times[..., None])
        return torch.where(dim_mask[:, None, :], values, 0.0)

    data_times = torch.linspace(0, 2, observed + 1)[:-1].expand(size, -1)
    query_times = torch.linspace(2, 6, queried).expand(size, -1)
    symbol_input = torch.full((size, symbols), PAD)
    symbol_target = torch.full((size, target), PAD)
    for row in range(size):
        if row != 1:
            length = int(torch.randint(2, symbols + 1, (1,), generator=generator))
            symbol_input[row, :length] = torch.randint(3, VOCAB_SIZE, (length,), generator=generator)
        length = int(torch.randint(1, target - 1, (1,), generator=generator))
        symbol_target[row, 0] = BOS
        symbol_target[row, 1:length + 1] = torch.randint(3, VOCAB_SIZE, (length,), generator=generator)
        symbol_target[row, length + 1] = EOS
    return {"data_times": data_times.contiguous(), "data_values": states(data_times), "dim_mask": dim_mask,
            "query_times": query_times.contiguous(), "query_values": states(query_times),
            "symbol_input": symbol_input, "symbol_target": symbol_target}


def target_ids(batch) -> list[list[int]]:
    """The targets as decoding should return them: without bos, up to eos."""
    rows = batch["symbol_target"][:, 1:].tolist()
    return [row[:row.index(EOS)] for row in rows]


def stream_of_batches(rank=0, world_size=1, start_step=0):
    """A deterministic source: batch k of rank r depends on (r, k) only, so a resumed run continues it."""
    for step in itertools.count(start_step):
        yield synthetic_batch(seed=1000 * rank + step)


# -- shapes and masking --------------------------------------------------------------------------

def test_forward_gives_logits_per_target_position_and_states_per_query_time():
    batch = synthetic_batch()
    output = tiny_model()(batch)
    assert output.symbol_logits.shape == (4, 9, VOCAB_SIZE)      # target length 10, minus the last
    assert output.query_values.shape == (4, 24, 5)
    assert torch.isfinite(output.symbol_logits).all() and torch.isfinite(output.query_values).all()


def test_predicted_states_are_zero_in_absent_channels():
    output = tiny_model()(synthetic_batch())
    assert (output.query_values[0, :, 3:] == 0).all()           # sample 0 has 3 channels
    assert (output.query_values[0, :, :3] != 0).all()


def test_values_in_absent_channels_do_not_change_any_output():
    model, batch = tiny_model(), synthetic_batch()
    perturbed = dict(batch, data_values=torch.where(batch["dim_mask"][:, None, :], batch["data_values"], 1e3))
    perturbed["data_values"][1, 0, 4] = float("nan")             # even nan stays out
    before, after = model(batch), model(perturbed)
    assert torch.equal(before.symbol_logits, after.symbol_logits)
    assert torch.equal(before.query_values, after.query_values)


def test_more_symbol_padding_does_not_change_any_output():
    model, batch = tiny_model(), synthetic_batch()
    padded = dict(batch, symbol_input=torch.cat([batch["symbol_input"], torch.full((4, 5), PAD)], dim=1))
    before, after = model(batch), model(padded)
    assert torch.allclose(before.symbol_logits, after.symbol_logits, atol=1e-5, rtol=0)
    assert torch.allclose(before.query_values, after.query_values, atol=1e-4, rtol=0)


def test_absent_symbol_input_is_ignored_whatever_its_length():
    model, batch = tiny_model(), synthetic_batch()
    no_symbols = dict(batch, symbol_input=torch.full((4, 8), PAD))
    shorter_no_symbols = dict(batch, symbol_input=torch.full((4, 3), PAD))
    empty = dict(batch, symbol_input=torch.full((4, 0), PAD))
    without_key = {key: value for key, value in batch.items() if key != "symbol_input"}
    reference = model(no_symbols)
    for other in (shorter_no_symbols, empty, without_key):
        output = model(other)
        assert torch.allclose(output.symbol_logits, reference.symbol_logits, atol=1e-6, rtol=0)
        assert torch.allclose(output.query_values, reference.query_values, atol=1e-5, rtol=0)
    # and a present skeleton does change the prediction
    assert not torch.allclose(model(batch).query_values[0], reference.query_values[0], atol=1e-4)


def test_a_sample_without_symbol_input_is_unaffected_by_the_symbol_input_of_others():
    model, batch = tiny_model(), synthetic_batch()
    other_guesses = dict(batch, symbol_input=batch["symbol_input"].clone())
    other_guesses["symbol_input"][[0, 2, 3], :2] = torch.tensor([5, 6])
    before, after = model(batch), model(other_guesses)
    assert torch.allclose(before.query_values[1], after.query_values[1], atol=1e-5, rtol=0)
    assert not torch.allclose(before.query_values[0], after.query_values[0], atol=1e-4)


def test_query_times_do_not_attend_to_each_other():
    model, batch = tiny_model(), synthetic_batch()
    fewer = dict(batch, query_times=batch["query_times"][:, ::3])
    assert torch.allclose(model(fewer).query_values, model(batch).query_values[:, ::3], atol=1e-5, rtol=0)


def test_value_scale_is_the_rms_over_present_channels_only():
    values = torch.tensor([[3.0, 4.0, 1e3], [3.0, 4.0, -1e3]])[None]     # (1 sample, 2 times, 3 channels)
    scale = observed_value_scale(values, torch.tensor([[True, True, False]]))
    assert scale.item() == pytest.approx(((9 + 16) / 2) ** 0.5)
    all_zero = observed_value_scale(torch.zeros(1, 2, 3), torch.ones(1, 3, dtype=torch.bool))
    assert all_zero.item() == pytest.approx(MIN_VALUE_SCALE)


def test_predictions_of_large_states_come_back_in_the_data_units():
    """States of size 4e4 are predicted at that size (the network itself works near size one)."""
    model, batch = tiny_model(), synthetic_batch()
    big = dict(batch, data_values=1000 * batch["data_values"])
    output = model(big)
    assert torch.isfinite(output.query_values).all()
    assert output.value_scale.min() > 1000
    assert 0.01 < (output.query_values.abs().amax(dim=(1, 2)) / output.value_scale).min()


def test_changing_a_later_target_token_leaves_earlier_logits_unchanged():
    model, batch = tiny_model(), synthetic_batch()
    fused = model.encode(batch)
    tokens = batch["symbol_target"][:, :-1]
    changed = tokens.clone()
    changed[:, 5] = 11
    before, after = model.symbol_logits(fused, tokens), model.symbol_logits(fused, changed)
    assert torch.allclose(before[:, :5], after[:, :5], atol=1e-6, rtol=0)
    assert not torch.allclose(before[:, 5:], after[:, 5:], atol=1e-4)


# -- configs -------------------------------------------------------------------------------------

def test_small_config_has_about_two_million_parameters():
    model = ProseModel(load_config("small", **VOCABULARY))
    assert count_parameters(model) == 2_089_093 + 128 * VOCAB_SIZE
    assert 1.5e6 < count_parameters(model) < 2.5e6


def test_named_configs_follow_the_documented_sizes():
    tiny, paper = load_config("tiny"), load_config("paper")
    assert (tiny.width, tiny.heads, tiny.dropout) == (64, 2, 0.0)
    assert (paper.width, paper.heads, paper.feed_forward_width) == (512, 8, 2048)
    assert (paper.data_encoder_layers, paper.symbol_encoder_layers, paper.fusion_layers,
            paper.operator_decoder_layers, paper.symbol_decoder_layers) == (2, 4, 8, 8, 8)


def test_unknown_config_names_and_keys_are_reported():
    with pytest.raises(OptionError, match="unknown PROSE config 'huge'.*tiny"):
        load_config("huge")
    with pytest.raises(OptionError, match="unknown config keys \\['layers'\\]"):
        load_config("tiny", layers=3)
    with pytest.raises(OptionError, match="vocab_size"):
        ProseModel(load_config("tiny"))


# -- training ------------------------------------------------------------------------------------

def test_learning_rate_warms_up_linearly_then_decays_as_inverse_square_root():
    options = TrainingOptions(learning_rate=1e-3, warmup_steps=100)
    assert learning_rate_at(0, options) == pytest.approx(1e-5)
    assert learning_rate_at(49, options) == pytest.approx(5e-4)
    assert learning_rate_at(99, options) == pytest.approx(1e-3)
    assert learning_rate_at(399, options) == pytest.approx(5e-4)


@pytest.fixture(scope="module")
def overfitted():
    """A tiny model trained 150 steps on one batch: (the training run, that batch)."""
    batch = synthetic_batch(seed=3)
    options = TrainingOptions(learning_rate=3e-3, warmup_steps=10, weight_decay=0.0)
    run = train(load_config("tiny", **VOCABULARY), itertools.repeat(batch), steps=150, options=options,
                progress=False)
    return run, batch


@pytest.mark.slow
def test_tiny_model_overfits_one_batch(overfitted):
    run, _ = overfitted
    first, last = run.history[0], run.history[-1]
    assert last["symbol_loss"] < first["symbol_loss"] / 100
    assert last["data_loss"] < first["data_loss"] / 100


def test_greedy_and_beam_decoding_reproduce_the_memorized_targets(overfitted):
    run, batch = overfitted
    assert run.model.greedy_decode(batch, max_len=12) == target_ids(batch)
    assert run.model.beam_decode(batch, beam_size=3, max_len=12) == target_ids(batch)


def test_beam_search_of_width_one_is_greedy_decoding(overfitted):
    run, _ = overfitted
    unseen = synthetic_batch(seed=8, dims=(2, 4, 1, 3))
    greedy = run.model.greedy_decode(unseen, max_len=15)
    assert sorted(len(ids) for ids in greedy) == [1, 4, 4, 4]       # eos at different steps
    assert run.model.beam_decode(unseen, beam_size=1, max_len=15) == greedy


def test_wider_beams_find_hypotheses_at_least_as_likely_as_greedy(overfitted):
    run, _ = overfitted
    model, unseen = run.model.eval(), synthetic_batch(seed=8, dims=(2, 4, 1, 3))

    def log_probability(sample, ids):
        """Of bos ids eos, as decoding scores it (pad and bos never generated)."""
        tokens = torch.tensor([[BOS, *ids, EOS]])
        fused = model.encode({key: value[sample:sample + 1] for key, value in unseen.items()})
        logits = model.symbol_logits(fused, tokens[:, :-1])
        logits[..., [PAD, BOS]] = -torch.inf
        return logits.log_softmax(dim=-1).gather(2, tokens[:, 1:, None]).sum().item()

    with torch.no_grad():
        decoded = zip(model.greedy_decode(unseen, max_len=15), model.beam_decode(unseen, beam_size=4, max_len=15))
        for sample, (greedy, beam) in enumerate(decoded):
            assert log_probability(sample, beam) >= log_probability(sample, greedy) - 1e-5


def test_decoding_stops_at_max_len_and_returns_no_bos_pad_or_eos():
    model, batch = tiny_model(seed=1), synthetic_batch()
    for decoded in (model.greedy_decode(batch, max_len=6), model.beam_decode(batch, beam_size=4, max_len=6)):
        assert len(decoded) == 4
        assert all(len(ids) <= 6 and not {PAD, BOS, EOS} & set(ids) for ids in decoded)


def test_checkpoint_loads_with_weights_only_and_rebuilds_the_model(tmp_path):
    config = load_config("tiny", **VOCABULARY)
    run = train(config, stream_of_batches(), steps=3, checkpoint_dir=tmp_path, progress=False)
    path = tmp_path / CHECKPOINT_NAME
    raw = torch.load(path, weights_only=True)       # no pickled objects inside
    assert raw["step"] == 3 and raw["config"] == config.to_dict()
    assert sorted(os.listdir(tmp_path)) == [CHECKPOINT_NAME]      # the temporary file is gone
    state = load_checkpoint(path)
    assert state["optimizer"]["state"][0]["step"] == 3
    restored, batch = load_trained_model(path), synthetic_batch()
    run.model.eval()
    assert torch.equal(restored(batch).query_values, run.model(batch).query_values)


def test_resuming_continues_the_run_exactly(tmp_path):
    """8 steps in one go == 4 steps, stop, resume to 8: same losses, learning rates and weights,
    bit for bit (dropout on, so the saved RNG state matters too)."""
    config = load_config("tiny", dropout=0.1, **VOCABULARY)
    options = TrainingOptions(learning_rate=2e-3, warmup_steps=3)
    straight = train(config, stream_of_batches, steps=8, options=options, progress=False)
    first = train(config, stream_of_batches, steps=4, checkpoint_dir=tmp_path, options=options, progress=False)
    first_seconds = load_checkpoint(tmp_path / CHECKPOINT_NAME)["training_seconds"]
    resumed = train(config, stream_of_batches, steps=8, checkpoint_dir=tmp_path, options=options, progress=False)
    assert [entry["step"] for entry in resumed.history] == [5, 6, 7, 8]
    # wall time adds up over resumed runs (a training budget can span them)
    assert 0 < first_seconds <= first.seconds < resumed.seconds
    assert first_seconds < load_checkpoint(tmp_path / CHECKPOINT_NAME)["training_seconds"] <= resumed.seconds
    again = train(config, stream_of_batches, steps=8, checkpoint_dir=tmp_path, options=options, progress=False)
    assert again.history == [] and again.seconds == load_checkpoint(tmp_path / CHECKPOINT_NAME)["training_seconds"]
    assert resumed.history == straight.history[4:]
    assert all(torch.equal(a, b) for a, b in zip(straight.model.parameters(), resumed.model.parameters()))


def test_resuming_with_another_model_config_is_refused(tmp_path):
    train(load_config("tiny", **VOCABULARY), stream_of_batches, steps=1, checkpoint_dir=tmp_path, progress=False)
    with pytest.raises(OptionError, match="fusion_layers"):
        train(load_config("tiny", fusion_layers=1, **VOCABULARY), stream_of_batches, steps=2,
              checkpoint_dir=tmp_path, progress=False)


TORCHRUN_SCRIPT = """
    import sys
    from pathlib import Path
    import torch
    from symsim.prose.model import load_config
    from symsim.prose.training import distributed_context, train
    sys.path.insert(0, {tests!r})
    from test_prose_model import VOCABULARY, stream_of_batches

    out = Path({out!r})
    run = train(load_config("tiny", **VOCABULARY), stream_of_batches, steps=3, checkpoint_dir=out / "run",
                progress=False)
    rank = distributed_context().rank
    torch.save({{"parameters": torch.cat([p.detach().flatten() for p in run.model.parameters()]),
                "first_loss": run.history[0]["loss"]}}, out / f"rank{{rank}}.pt")
"""


@pytest.mark.slow
def test_torchrun_with_two_processes_keeps_ranks_identical_and_rank_zero_checkpoints(tmp_path):
    script = tmp_path / "train_two_ranks.py"
    script.write_text(textwrap.dedent(TORCHRUN_SCRIPT.format(tests=os.path.dirname(__file__), out=str(tmp_path))))
    # the workers must import the symsim this test imported (a checkout may shadow an installed copy)
    checkout = str(Path(symsim.__file__).parents[1])
    environment = dict(os.environ, OMP_NUM_THREADS="1",
                       PYTHONPATH=os.pathsep.join(filter(None, [checkout, os.environ.get("PYTHONPATH")])))
    finished = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
                               str(script)], env=environment, capture_output=True, text=True, timeout=240)
    assert finished.returncode == 0, finished.stderr[-4000:]
    ranks = [torch.load(tmp_path / f"rank{rank}.pt", weights_only=True) for rank in (0, 1)]
    assert torch.equal(ranks[0]["parameters"], ranks[1]["parameters"])
    # rank r drew batch (r, step); the history holds the loss averaged over the ranks
    model = tiny_model(seed=0).train()                       # train() seeds the initial weights with 0
    own_losses = [prose_loss(model(batch), batch, PAD)[0].item() for batch in
                  (synthetic_batch(seed=0), synthetic_batch(seed=1000))]
    assert ranks[0]["first_loss"] == ranks[1]["first_loss"] == pytest.approx(sum(own_losses) / 2, rel=1e-5)
    checkpoint = load_checkpoint(tmp_path / "run" / CHECKPOINT_NAME)
    assert checkpoint["step"] == 3 and checkpoint["world_size"] == 2
    assert checkpoint["rng"]["cpu"].shape[0] == 2                  # each rank's RNG state
    saved = torch.cat([value.flatten() for value in checkpoint["model"].values()])
    assert torch.equal(saved, ranks[0]["parameters"])
