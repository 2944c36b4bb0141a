#!/usr/bin/env bash
# Compiles every kernels/*.cu to PTX with a real nvcc (as build.rs does) and assembles it
# with `ptxas -arch=sm_90 -v`, failing on any error or warning and printing registers,
# spills and shared memory per kernel. nvcc comes from NVCC, or scripts/install-nvcc.sh.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
nvcc="${NVCC:-$("$root/scripts/install-nvcc.sh")}"
ptxas="$(dirname "$nvcc")/ptxas"
arch="${CUDA_COMPUTE_CAP:-80}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

status=0
printf '%-28s %-26s %5s %7s %7s %7s\n' module kernel regs spill_st spill_ld smem_B
for cu in "$root"/kernels/*.cu; do
    name="$(basename "$cu" .cu)"
    if ! "$nvcc" --ptx -arch="compute_$arch" -O3 -o "$work/$name.ptx" "$cu" 2>"$work/$name.nvcc"; then
        echo "FAIL nvcc $name.cu:" >&2
        cat "$work/$name.nvcc" >&2
        status=1
        continue
    fi
    if ! "$ptxas" -arch=sm_90 -v -o "$work/$name.cubin" "$work/$name.ptx" 2>"$work/$name.log"; then
        echo "FAIL ptxas $name.ptx:" >&2
        cat "$work/$name.log" >&2
        status=1
        continue
    fi
    if grep -qi 'warning' "$work/$name.nvcc" "$work/$name.log"; then
        echo "FAIL warnings in $name:" >&2
        grep -hi 'warning' "$work/$name.nvcc" "$work/$name.log" >&2
        status=1
    fi
    # ptxas prints, per entry: "Compiling entry function 'k'", a stack/spill line, then
    # "Used N registers, ... M bytes smem".
    awk -v module="$name" '
        /Compiling entry function/ { match($0, /'"'"'[^'"'"']+'"'"'/); kernel = substr($0, RSTART + 1, RLENGTH - 2) }
        /spill stores/ { st = $5; ld = $9 }
        /Used [0-9]+ registers/ {
            regs = $5; smem = 0
            if (match($0, /[0-9]+ bytes smem/)) smem = substr($0, RSTART, RLENGTH - 11)
            printf "%-28s %-26s %5s %7s %7s %7s\n", module, kernel, regs, st, ld, smem
        }' "$work/$name.log"
done
if [[ $status -ne 0 ]]; then
    echo "check-ptx: FAILED" >&2
else
    echo "check-ptx: every kernel compiled and assembled for sm_90"
fi
exit $status
