#!/usr/bin/env bash
# Installs a real nvcc (and ptxas) from the Python package index into .tools/cuda, which git
# ignores, so kernels can be compiled to PTX and assembled on machines without a CUDA
# toolkit or a GPU. Idempotent: a second run only prints the path. Prints the real path of
# nvcc on its last line (call nvcc by that path: through a symlink it cannot find its
# headers).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="$root/.tools/cuda"
nvcc="$target/nvidia/cu13/bin/nvcc"

if [[ ! -x "$nvcc" ]]; then
    python="${PYTHON:-python3}"
    "$python" -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
        --target "$target" \
        "nvidia-cuda-nvcc==13.0.48" "nvidia-nvvm==13.0.*" \
        "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-crt==13.0.*" >&2
fi

if [[ ! -x "$nvcc" ]]; then
    echo "install-nvcc: $nvcc missing after installation" >&2
    exit 1
fi
realpath "$nvcc"
