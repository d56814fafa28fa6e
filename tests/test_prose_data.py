"""PROSE samples: what the model reads and must predict, reproducible, streamed, stored without pickle."""

import numpy as np
import pytest
import sympy

from symsim.errors import OptionError, SymsimError
from symsim.prose.data import DataSpec, OnlineBatches, Samples, corrupt_system, generate_samples
from symsim.prose.families import FAMILIES
from symsim.prose.tokens import VOCAB, DecodedSystem, decode_system, round_constants

TWO = DataSpec(families=("lorenz", "double_pendulum"))


@pytest.fixture(scope="module")
def samples():
    return generate_samples(TWO, 40, seed=3)


@pytest.mark.slow
def test_samples_follow_the_prose_protocol(samples):
    assert samples.clean.shape == (40, 192, 5) and samples.noisy.shape == (40, 192, 5)
    assert set(samples.family) == {0, 1}                     # both families drawn
    for i in range(len(samples)):
        family = FAMILIES[samples.family_name(i)]
        d = family.dimension
        assert samples.dimension[i] == d
        assert not samples.clean[i, :, d:].any() and not samples.noisy[i, :, d:].any()
        assert np.abs(samples.clean[i]).max() <= 1e3
        assert np.all(np.abs(samples.clean[i, 0, :d]) <= 2.0)          # initial state in [-2, 2]^d
        nominal = np.array(list(family.nominal.values()))
        ratio = samples.params[i, :len(nominal)] / nominal
        assert np.all((ratio >= 0.9) & (ratio <= 1.1))
        assert np.isnan(samples.params[i, len(nominal):]).all()


def test_noise_is_two_percent_of_each_channels_rms(samples):
    d = 3
    lorenz = samples.family == 0
    noise = (samples.noisy - samples.clean)[lorenz][:, :, :d]
    rms = np.sqrt(np.mean(samples.clean[lorenz][:, :, :d] ** 2, axis=1, keepdims=True))
    relative = noise / rms
    assert relative.std() == pytest.approx(0.02, rel=0.05)
    assert abs(relative.mean()) < 0.002


def test_clean_states_solve_the_sampled_system(samples):
    # SciPy, integrating the system the sample is labelled with, retraces the saved trajectory
    from scipy.integrate import solve_ivp

    for i in (int(np.flatnonzero(samples.family == f)[0]) for f in (0, 1)):
        d = int(samples.dimension[i])
        field = sympy.lambdify(sympy.symbols(f"u_0:{d}"), samples.system(i))
        times = samples.spec.times[:33]                       # t in [0, 1]: before chaos amplifies much
        oracle = solve_ivp(lambda t, u: field(*u), (0, times[-1]), samples.clean[i, 0, :d], t_eval=times,
                           rtol=1e-10, atol=1e-10).y.T
        assert np.abs(oracle - samples.clean[i, :33, :d]).max() < 1e-4 * np.abs(oracle).max()


def test_symbol_target_is_the_system_and_symbol_input_its_skeleton(samples):
    for i in (0, 1, 2):
        target = decode_system(samples.symbol_target[i])
        assert isinstance(target, DecodedSystem) and not target.placeholders
        want = [round_constants(e) for e in samples.system(i)]
        point = {sympy.Symbol(f"u_{k}"): 0.3 + 0.1 * k for k in range(5)}
        for got, expected in zip(target.exprs, want):
            assert float(got.subs(point)) == pytest.approx(float(expected.subs(point)), rel=1e-9)
        skeleton = decode_system(samples.symbol_input[i])
        assert isinstance(skeleton, DecodedSystem) and skeleton.placeholders
        assert skeleton.dimension == samples.dimension[i]


def test_the_same_seed_gives_the_same_samples_and_another_seed_others(samples):
    again = generate_samples(TWO, 40, seed=3)
    other = generate_samples(TWO, 40, seed=4)
    assert np.array_equal(again.noisy, samples.noisy) and np.array_equal(again.symbol_target, samples.symbol_target)
    assert not np.allclose(other.clean[:, 0], samples.clean[:, 0])


def test_batches_hold_the_first_64_points_as_input_and_the_rest_as_target(samples):
    batch = samples.batch([0, 1, 2])
    assert batch["data_values"].shape == (3, 64, 5) and batch["query_values"].shape == (3, 128, 5)
    assert batch["data_times"][0, -1] < 2.0 < batch["query_times"][0, 0]
    assert batch["query_times"][0, -1] == pytest.approx(6.0)
    np.testing.assert_array_equal(batch["data_values"].numpy(), samples.noisy[:3, :64].astype(np.float32))
    np.testing.assert_array_equal(batch["query_values"].numpy(), samples.clean[:3, 64:].astype(np.float32))
    assert batch["dim_mask"].sum(dim=1).tolist() == [int(d) for d in samples.dimension[:3]]
    # padding columns that no sample of the batch uses are trimmed
    assert (batch["symbol_target"][:, -1] != VOCAB.pad_id).any()


def test_corruption_drops_or_adds_one_term():
    u0, u1 = sympy.symbols("u_0 u_1")
    system = [u0 - u0 * u1, 2 * u1]
    rng = np.random.default_rng(0)
    dropped = corrupt_system(system, rng, add_probability=0.0, drop_probability=1.0)
    assert dropped[1] == 2 * u1 and dropped[0] in (u0, -u0 * u1)       # the one-term equation is kept
    added = corrupt_system(system, rng, add_probability=1.0, drop_probability=0.0)
    changed = [a - b for a, b in zip(added, system) if sympy.simplify(a - b) != 0]
    assert len(changed) == 1 and len(sympy.Add.make_args(sympy.expand(changed[0]))) == 1


def test_corrupted_and_left_out_symbol_inputs():
    spec = DataSpec(families=("lorenz",), add_term_probability=1.0, drop_term_probability=1.0)
    corrupted = generate_samples(spec, 6, seed=0)
    clean = generate_samples(DataSpec(families=("lorenz",)), 6, seed=0)
    assert not np.array_equal(corrupted.symbol_input, clean.symbol_input)
    np.testing.assert_array_equal(corrupted.symbol_target, clean.symbol_target)   # the target stays true
    left_out = generate_samples(DataSpec(families=("lorenz",), no_symbol_probability=1.0), 6, seed=0)
    assert (left_out.symbol_input == VOCAB.pad_id).all()
    assert left_out.batch([0, 1])["symbol_input"].shape[1] <= 1


def test_saved_samples_load_without_pickle(samples, tmp_path):
    path = tmp_path / "eval.npz"
    samples.save(path)
    loaded = Samples.load(path)
    assert loaded.spec == samples.spec
    for name in ("family", "dimension", "clean", "noisy", "symbol_target", "symbol_input"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(samples, name))
    np.testing.assert_array_equal(loaded.params, samples.params)
    assert not list(tmp_path.glob(".*"))         # no temporary file left behind


def test_files_that_are_not_sample_sets_are_refused(tmp_path):
    pickled = tmp_path / "objects.npz"
    np.savez(pickled, family=np.array([{"a": 1}], dtype=object))
    with pytest.raises(SymsimError, match="objects.npz"):
        Samples.load(pickled)
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(3))
    with pytest.raises(SymsimError, match="missing"):
        Samples.load(other)


def test_bad_specs_are_named():
    with pytest.raises(OptionError, match="no_such_family"):
        DataSpec(families=("no_such_family",))
    with pytest.raises(OptionError, match="input_points"):
        DataSpec(input_points=192)
    with pytest.raises(OptionError, match="drop_term_probability"):
        DataSpec(drop_term_probability=1.5)


def test_online_batches_in_process_are_fresh_and_reproducible():
    first = OnlineBatches(TWO, batch_size=4, workers=0, seed=5)
    again = OnlineBatches(TWO, batch_size=4, workers=0, seed=5)
    a, b = next(first), next(first)
    assert not np.allclose(a["data_values"].numpy(), b["data_values"].numpy())
    np.testing.assert_array_equal(next(again)["data_values"].numpy(), a["data_values"].numpy())
    other_rank = next(OnlineBatches(TWO, batch_size=4, workers=0, seed=5, rank=1))
    assert not np.allclose(other_rank["data_values"].numpy(), a["data_values"].numpy())


@pytest.mark.slow
def test_online_batches_stream_from_worker_processes():
    with OnlineBatches(DataSpec(families=("lorenz",)), batch_size=3, workers=2, seed=0) as stream:
        batches = [next(stream) for _ in range(4)]
        processes = list(stream._processes)
    assert all(b["data_values"].shape == (3, 64, 5) for b in batches)
    firsts = {tuple(np.round(b["data_values"][0, 0, :3].numpy(), 6)) for b in batches}
    assert len(firsts) == 4                       # every batch is new, across both workers
    assert not any(p.is_alive() for p in processes)


def test_online_batches_name_bad_arguments():
    with pytest.raises(OptionError, match="batch_size"):
        OnlineBatches(TWO, batch_size=0)
    with pytest.raises(OptionError, match="workers"):
        OnlineBatches(TWO, batch_size=2, workers=-1)
