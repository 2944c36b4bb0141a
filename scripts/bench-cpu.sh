#!/usr/bin/env bash
# The CPU figures of docs/PERFORMANCE.md in one run: the engine, encoding and training-step
# benchmarks, each next to its PyTorch / onnxruntime reference measured right after it on
# the same machine and threads. Needs a Python with torch, onnx and onnxruntime (PYTHON).
# Run on a quiet machine: other processes distort both sides.
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python3}"
threads="${THREADS:-2}"
cargo build --release --quiet
gensen=target/release/gensen

echo "== machine"; nproc; grep -m1 'model name' /proc/cpuinfo || true; uptime
echo "== gensen bench engine"; $gensen bench engine --threads "$threads"
echo "== reference: torch.nn.GRU"; "$python" benches/reference/gru_torch.py --threads "$threads"
echo "== reference: onnxruntime GRU"; "$python" benches/reference/gru_onnxruntime.py --threads "$threads"
echo "== gensen bench encode"; $gensen bench encode --threads "$threads"
echo "== gensen bench train"; $gensen bench train --threads "$threads"
echo "== reference: PyTorch training step"; "$python" benches/reference/train_step_torch.py --threads "$threads"
