"""Test-session settings shared by every test module."""

import os
import tempfile

# Compiled kernels of a test session go to a private cache (a developer may point
# SYMSIM_CACHE_DIR at a persistent one to skip recompiling between sessions).
os.environ.setdefault("SYMSIM_CACHE_DIR", tempfile.mkdtemp(prefix="symsim-test-cache-"))
