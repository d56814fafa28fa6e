"""Test-session settings shared by every test module."""

import os
import tempfile

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
