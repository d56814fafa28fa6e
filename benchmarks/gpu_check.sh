#!/usr/bin/env bash
# The CUDA backend's real-GPU check, as one script for a GPU machine (run from the repo root):
# install with the maintained Numba CUDA package, run the CUDA tests on the device (not the
# simulator), then the GPU benchmark. Results land in $OUT (default: benchmarks/).
#
# On a machine with no package index (a cluster node, say) whose Python already has numba-cuda,
# NumPy, SymPy and pytest, set WHEELS to a folder of wheels for what it lacks (egglog and its
# imports, platformdirs): they and symsim are installed into a private folder with no index.
# egglog 13.2 imports black (with pytokens and pathspec >= 1), graphviz and opentelemetry-api at
# import time; its wheel (48 MB) holds debug symbols: `strip --strip-debug` on its bindings .so and
# `python -m wheel pack` make it 6 MB. For the MPI scaling there, carry the mpi4py and mpich wheels:
# unzip mpich's (pip --target drops its lib/), put its data/bin on PATH and data/lib on
# LD_LIBRARY_PATH, then `python benchmarks/scaling.py --sizes 4096 --ranks 1,2,4,8,16 --no-sweep`.
set -euo pipefail
OUT="$(realpath -m "${OUT:-benchmarks}")"
PYTHON="${PYTHON:-python3}"
mkdir -p "$OUT"
if [ -n "${WHEELS:-}" ]; then
    "$PYTHON" -m pip install --quiet --no-index --no-deps --no-build-isolation --no-compile \
        --target /tmp/symsim-site "$WHEELS"/*.whl .
    export PYTHONPATH=/tmp/symsim-site${PYTHONPATH:+:$PYTHONPATH}
    # a preinstalled numba-cuda older than its NumPy (0.30.4 with NumPy 2.5, seen on an H200 image)
    # still registers np.row_stack, which NumPy 2.5 removed: alias it, for this check only
    if ! "$PYTHON" -c "import numpy; numpy.row_stack" 2>/dev/null; then
        mkdir -p /tmp/symsim-shim
        printf 'import numpy\nnumpy.row_stack = numpy.vstack\n' > /tmp/symsim-shim/sitecustomize.py
        export PYTHONPATH=/tmp/symsim-shim:$PYTHONPATH
    fi
else
    "$PYTHON" -m pip install --quiet ".[test]" "numba-cuda[cu12]>=0.30"
fi
"$PYTHON" -c "from numba import cuda; assert cuda.is_available(), 'no GPU visible to numba-cuda'; print(cuda.get_current_device().name)"
# the tests run from a copy, so that the installed symsim is imported and not the checkout's
# symsim/ folder (whose later stages live in top-level folders until installed)
CHECK=$(mktemp -d)
cp -r tests examples pyproject.toml "$CHECK"
(cd "$CHECK" && NUMBA_ENABLE_CUDASIM=0 "$PYTHON" -m pytest -q -p no:cacheprovider tests/test_cuda_backend.py) 2>&1 \
    | tee "$OUT/cuda_tests.txt"
NUMBA_ENABLE_CUDASIM=0 "$PYTHON" benchmarks/cuda_stencil.py --json "$OUT/cuda_stencil.json" 2>&1 | tee "$OUT/cuda_stencil.txt"
