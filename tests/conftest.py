"""Test-session settings shared by every test module."""

import os
import tempfile

import pytest

# Compiled kernels of a test session go to a private cache (a developer may point
# SYMSIM_CACHE_DIR at a persistent one to skip recompiling between sessions).
os.environ.setdefault("SYMSIM_CACHE_DIR", tempfile.mkdtemp(prefix="symsim-test-cache-"))

# CUDA kernels run in Numba's simulator unless the caller chose otherwise (on a machine
# with a GPU: NUMBA_ENABLE_CUDASIM=0 python -m pytest tests/test_cuda_backend.py). Numba
# reads this when it is first imported, which is after this file.
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")


def pytest_configure(config):
    """The property tests gate every commit, so they draw the same examples on every machine
    and every run (a failure is reproducible from the commit alone). To look for new
    counterexamples, pick other draws: python -m pytest --hypothesis-seed=N tests/test_simplify.py
    """
    from hypothesis import settings
    if config.getoption("hypothesis_seed", None) is None:
        settings.register_profile("symsim-ci", derandomize=True)
        settings.load_profile("symsim-ci")


@pytest.fixture(scope="module")
def one_torch_thread():
    """For modules of small torch tensors (``pytestmark = pytest.mark.usefixtures("one_torch_thread")``):
    on 2 shared cores a second intra-op thread only waits on the first, 60-100x slower whenever
    anything else runs. Module scope, so that module-scoped fixtures (a model trained once for
    several tests) run under it too; OMP_NUM_THREADS covers the processes a test starts."""
    torch = pytest.importorskip("torch")
    threads, environment = torch.get_num_threads(), os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
    if environment is None:
        del os.environ["OMP_NUM_THREADS"]
    else:
        os.environ["OMP_NUM_THREADS"] = environment


@pytest.fixture
def float64_default_dtype():
    """Round-off comparisons of PINN modules need float64 (``pytestmark = pytest.mark.usefixtures(...)``);
    restored afterwards so other test modules keep float32."""
    import torch
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)
