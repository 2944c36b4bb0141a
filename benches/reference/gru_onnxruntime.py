"""ONNX Runtime reference for `gensen bench engine` and `gensen bench encode`: one ONNX GRU
node at GenSen's encoder size (input 512, 1024 units per direction, bidirectional) with
random weights, run by onnxruntime on the CPU.

ONNX's GRU computes torch.nn.GRU's cell only with linear_before_reset=1 (the reset gate
multiplies R_h h + Rb_h rather than h), and it stacks its gates as (z, r, h) where torch
stacks (r, z, n); `torch_to_onnx` reorders them. Before timing, a small GRU (hidden 8) run
both ways must agree to 1e-5, printed as "check: ok".

Napkin math as in gru_torch.py: 38.7 GFLOP per forward pass at batch 64 x 32 tokens; one
20-token sentence streams 20 x 25 MB of recurrent weights.

  /work/pyenv/bin/python -m pip install onnxruntime onnx     # once
  /work/pyenv/bin/python benches/reference/gru_onnxruntime.py [--threads 2] [--reps 3]

Output: one JSON line per figure (bench, name, ...) and human lines starting with '#'.
"""

import argparse

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from timing import emit, quantile, samples, say, summary

E, H = 512, 1024


def gru_model(w, r, b, hidden):
    """A graph with one bidirectional GRU node: X (T, B, E) -> Y (T, 2, B, H), Y_h (2, B, H)."""
    node = helper.make_node("GRU", ["X", "W", "R", "B"], ["Y", "Y_h"], hidden_size=hidden,
                            direction="bidirectional", linear_before_reset=1)
    inputs = [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "N", w.shape[2]])]
    outputs = [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["T", 2, "N", hidden]),
               helper.make_tensor_value_info("Y_h", TensorProto.FLOAT, [2, "N", hidden])]
    inits = [numpy_helper.from_array(a.astype(np.float32), n) for a, n in
             ((w, "W"), (r, "R"), (b, "B"))]
    graph = helper.make_graph([node], "gru", inputs, outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model)
    return model.SerializeToString()


def session(model_bytes, threads):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def torch_to_onnx(gru):
    """W, R, B of an ONNX GRU from a bidirectional one-layer torch.nn.GRU."""
    def zrh(t):  # torch stacks (r, z, n) along dim 0; ONNX wants (z, r, h)
        r, z, n = t.detach().numpy().reshape(3, -1, *t.shape[1:])
        return np.concatenate([z, r, n])
    dirs = ["", "_reverse"]
    w = np.stack([zrh(getattr(gru, f"weight_ih_l0{d}")) for d in dirs])
    r = np.stack([zrh(getattr(gru, f"weight_hh_l0{d}")) for d in dirs])
    b = np.stack([np.concatenate([zrh(getattr(gru, f"bias_ih_l0{d}")),
                                  zrh(getattr(gru, f"bias_hh_l0{d}"))]) for d in dirs])
    return w, r, b


def check(threads):
    """ONNX Runtime's GRU against torch.nn.GRU with the same weights, at hidden 8."""
    import torch
    torch.manual_seed(0)
    t, n, e, h = 7, 3, 5, 8
    gru = torch.nn.GRU(e, h, bidirectional=True)
    x = torch.randn(t, n, e)
    with torch.no_grad():
        want, want_h = gru(x)
    y, y_h = session(gru_model(*torch_to_onnx(gru), h), threads).run(None, {"X": x.numpy()})
    got = y.transpose(0, 2, 1, 3).reshape(t, n, 2 * h)  # (T, 2, B, H) -> (T, B, 2H)
    err = max(np.abs(got - want.numpy()).max(), np.abs(y_h - want_h.numpy()).max())
    if err > 1e-5:
        raise SystemExit(f"check: FAILED, max abs difference {err:.2e}")
    return err


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=3, help="timed runs of each batch figure")
    ap.add_argument("--latency-runs", type=int, default=100)
    args = ap.parse_args()
    name = "gru_onnxruntime"
    emit(name, "config", threads=args.threads, onnxruntime=ort.__version__, reps=args.reps)

    err = check(args.threads)
    emit(name, "check", ok=True, max_abs_diff=float(err))
    say("check: ok")

    rng = np.random.default_rng(0)
    bound = H ** -0.5  # torch.nn.GRU's initial range
    w, r = (rng.uniform(-bound, bound, (2, 3 * H, k)) for k in (E, H))
    b = rng.uniform(-bound, bound, (2, 6 * H))
    sess = session(gru_model(w, r, b, H), args.threads)

    def run(x):
        return lambda: sess.run(None, {"X": x})

    x = rng.standard_normal((32, 64, E), dtype=np.float32)
    t = samples(run(x), 1, args.reps)
    flops = 2 * (2 * 32 * 64 * E * 3 * H + 2 * 32 * 64 * H * 3 * H)
    emit(name, "forward_64x32", **summary(t), gflops=flops / t[0] / 1e9)
    say(f"forward  batch 64 x 32 tokens     {t[0] * 1e3:8.1f} ms {flops / t[0] / 1e9:7.1f} GFLOP/s")

    one = rng.standard_normal((20, 1, E), dtype=np.float32)
    t = samples(run(one), 5, args.latency_runs)
    p50, p99 = quantile(t, 0.5) * 1e3, quantile(t, 0.99) * 1e3
    emit(name, "one_sentence_20", best_ms=t[0] * 1e3, p50_ms=p50, p99_ms=p99,
         max_ms=t[-1] * 1e3)
    say(f"one sentence, 20 tokens           p50 {p50:.2f} ms, p99 {p99:.2f} ms "
        f"(best {t[0] * 1e3:.2f} ms)")

    x20 = rng.standard_normal((20, 64, E), dtype=np.float32)
    t = samples(run(x20), 1, args.reps)
    emit(name, "batch64_20", **summary(t), sentences_per_s=64 / t[0])
    say(f"batch 64 x 20 tokens              {64 / t[0]:8.1f} sentences/s")


if __name__ == "__main__":
    main()
