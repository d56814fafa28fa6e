#!/usr/bin/env bash
# The CUDA backend's real-GPU check, as one script for a lent GPU machine (run from the repo root):
# install with the maintained Numba CUDA package, run the CUDA tests on the device (not the
# simulator), then the GPU benchmark. Results land in $OUT (default: benchmarks/).
set -euo pipefail
OUT="${OUT:-benchmarks}"
python -m pip install --quiet ".[test]" "numba-cuda[cu12]>=0.30"
python -c "from numba import cuda; assert cuda.is_available(), 'no GPU visible to numba-cuda'; print(cuda.get_current_device().name)"
NUMBA_ENABLE_CUDASIM=0 python -m pytest -q tests/test_cuda_backend.py 2>&1 | tee "$OUT/cuda_tests.txt"
NUMBA_ENABLE_CUDASIM=0 python benchmarks/cuda_stencil.py --json "$OUT/cuda_stencil.json" 2>&1 | tee "$OUT/cuda_stencil.txt"
