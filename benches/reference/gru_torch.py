"""PyTorch reference for `gensen bench engine` and `gensen bench encode`: torch.nn.GRU at
GenSen's encoder size (input 512, 1024 units per direction, bidirectional, one layer).

Napkin math (E = 512, H = 1024, two directions, T tokens, B sentences):
  forward flops   = 2 dirs * (2*T*B*E*3H + 2*T*B*H*3H)   (input projection + recurrence)
                  = 38.7 GFLOP at B = 64, T = 32
  fwd+bwd flops   = 3 x forward (backward does a data and a weight GEMM per forward GEMM)
  one sentence    = each of the T steps reads both directions' recurrent weights,
                    2 * 3H * H * 4 bytes = 25 MB, so 20 tokens stream ~500 MB: latency is
                    bound by memory bandwidth, not flops.
  gemm 1536^3     = 7.2 GFLOP; its rate is the machine's ceiling for f32 GEMM in this run,
                    and each GRU rate is also given as a fraction of it.

The input is a dense (T, B, 512) tensor: no embedding lookup and no padding, so this is
the GRU alone. Run from the repository root:

  /work/pyenv/bin/python benches/reference/gru_torch.py [--threads 2] [--reps 3]

Output: one JSON line per figure (bench, name, ...) and human lines starting with '#'.
"""

import argparse

import torch

from timing import emit, quantile, samples, say, summary

E, H = 512, 1024


def forward_flops(batch, seq_len):
    return 2 * (2 * seq_len * batch * E * 3 * H + 2 * seq_len * batch * H * 3 * H)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3, help="timed runs of each batch figure")
    ap.add_argument("--latency-runs", type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    name = "gru_torch"
    emit(name, "config", threads=args.threads, torch=torch.__version__, reps=args.reps)

    a, b = torch.randn(1536, 1536), torch.randn(1536, 1536)
    t = samples(lambda: torch.mm(a, b), 2, max(3 * args.reps, 10))
    square = 2 * 1536**3 / t[0] / 1e9
    emit(name, "gemm_1536", **summary(t), gflops=square)
    say(f"gemm 1536^3 (reference)           {t[0] * 1e3:8.1f} ms {square:7.1f} GFLOP/s")

    gru = torch.nn.GRU(E, H, num_layers=1, bidirectional=True)
    x = torch.randn(32, 64, E)

    with torch.no_grad():
        t = samples(lambda: gru(x), 1, args.reps)
    rate = forward_flops(64, 32) / t[0] / 1e9
    emit(name, "forward_64x32", **summary(t), gflops=rate, of_gemm=rate / square)
    say(f"forward  batch 64 x 32 tokens     {t[0] * 1e3:8.1f} ms {rate:7.1f} GFLOP/s "
        f"({rate / square:.2f} of gemm)")

    xg = x.clone().requires_grad_(True)

    def forward_backward():
        gru.zero_grad(set_to_none=True)
        xg.grad = None
        out, _ = gru(xg)
        out.sum().backward()

    t = samples(forward_backward, 1, args.reps)
    rate = 3 * forward_flops(64, 32) / t[0] / 1e9
    emit(name, "forward_backward_64x32", **summary(t), gflops=rate, of_gemm=rate / square)
    say(f"fwd+bwd  batch 64 x 32 tokens     {t[0] * 1e3:8.1f} ms {rate:7.1f} GFLOP/s "
        f"({rate / square:.2f} of gemm)")

    one = torch.randn(20, 1, E)
    with torch.no_grad():
        t = samples(lambda: gru(one), 5, args.latency_runs)
    p50, p99 = quantile(t, 0.5) * 1e3, quantile(t, 0.99) * 1e3
    weight_bytes = 2 * 3 * H * H * 4
    emit(name, "one_sentence_20", best_ms=t[0] * 1e3, p50_ms=p50, p99_ms=p99,
         max_ms=t[-1] * 1e3, weight_gb_per_s=20 * weight_bytes / t[0] / 1e9)
    say(f"one sentence, 20 tokens           p50 {p50:.2f} ms, p99 {p99:.2f} ms "
        f"(best {t[0] * 1e3:.2f} ms, {20 * weight_bytes / t[0] / 1e9:.1f} GB/s of weights)")

    x20 = torch.randn(20, 64, E)
    with torch.no_grad():
        t = samples(lambda: gru(x20), 1, args.reps)
    emit(name, "batch64_20", **summary(t), sentences_per_s=64 / t[0])
    say(f"batch 64 x 20 tokens              {64 / t[0]:8.1f} sentences/s")


if __name__ == "__main__":
    main()
