"""PyTorch reference for `gensen bench train`: one full GenSen training step, written the
way a PyTorch user would write it.

Model (vocabulary V, batch B = 48, T = 32 source and 32 target tokens):
  source embedding (V, 512) -> bidirectional GRU, 1024 per direction
  sentence u = cat(h_n backward, h_n forward) (B, 2048), dropout 0.3 -> context c
  two decoders ("next", "previous"; steps alternate between them), each:
    target embedding (V, 512); conditional GRU, hidden 2048, with h_0 = c and c fed to
    every gate at every step:
      r  = sigmoid(W_ir x + b_ir + W_hr h + b_hr + W_pr c + b_pr)
      z  = sigmoid(W_iz x + b_iz + W_hz h + b_hz + W_pz c + b_pz)
      n  = tanh(W_in x + b_in + r * (W_hn h + b_hn) + W_pn c + b_pn)
      h' = n + z * (h - n)
    the input projection of all T steps is one matmul, the context projection one more;
    only the hidden matmul and the gate math run in the Python loop over steps;
    Linear(2048, V) over all T*B states, cross-entropy ignoring the pad id 1
  Adam lr 1e-4 after clip_grad_norm_ 1.0.

Napkin math at V = 20000, forward GEMM flops:
  encoder       2 dirs * (2*TB*512*3072 + 2*TB*1024*3072)    = 29 GFLOP
  decoder in    2*TB*512*6144 + 2*B*2048*6144                =  9.7 GFLOP
  decoder rec   2*TB*2048*6144                               = 39 GFLOP
  vocabulary    2*TB*2048*V                                  = 126 GFLOP
  ~203 GFLOP forward, ~610 GFLOP with backward: seconds per step on 2 cores, so
  tokens/s (= 2*B*T = 3072 tokens per step / step time) is in the hundreds.
PyTorch's Adam skips parameters whose gradient is None, so the decoder that sat out a step
is not updated (set_to_none zeroing); this favours PyTorch by about 80M parameters of Adam
work per step.

  /work/pyenv/bin/python benches/reference/train_step_torch.py [--threads 2] [--reps 4]
      [--vocab 20000]

Output: one JSON line per figure (bench, name, ...) and human lines starting with '#'.
"""

import argparse

import torch
import torch.nn.functional as F
from torch import nn

from timing import emit, say, summary, samples

PAD = 1
EMB, ENC, DEC = 512, 1024, 2048


class CondGRUDecoder(nn.Module):
    """Teacher-forced conditional GRU decoder with its own embedding and output layer."""

    def __init__(self, vocab):
        super().__init__()
        self.embed = nn.Embedding(vocab, EMB, padding_idx=PAD)
        self.input = nn.Linear(EMB, 3 * DEC)
        self.peep = nn.Linear(DEC, 3 * DEC)
        self.hidden = nn.Linear(DEC, 3 * DEC)
        self.out = nn.Linear(DEC, vocab)

    def loss(self, ctx, trg_in, trg_out):
        # Everything that does not depend on h, for all steps at once: (T, B, 3H).
        gx = self.input(self.embed(trg_in)) + self.peep(ctx)
        h, states = ctx, []
        for x in gx:
            xr, xz, xn = x.chunk(3, dim=-1)
            hr, hz, hn = self.hidden(h).chunk(3, dim=-1)
            r = torch.sigmoid(xr + hr)
            z = torch.sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn)
            h = n + z * (h - n)
            states.append(h)
        logits = self.out(torch.stack(states))  # (T, B, V)
        return F.cross_entropy(logits.flatten(0, 1), trg_out.flatten(), ignore_index=PAD)


class GenSen(nn.Module):
    def __init__(self, vocab, tasks=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, EMB, padding_idx=PAD)
        self.encoder = nn.GRU(EMB, ENC, bidirectional=True)
        self.dropout = nn.Dropout(0.3)
        self.decoders = nn.ModuleList(CondGRUDecoder(vocab) for _ in range(tasks))

    def loss(self, task, src, trg_in, trg_out):
        _, h_n = self.encoder(self.embed(src))  # h_n (2, B, 1024)
        u = torch.cat([h_n[1], h_n[0]], dim=-1)  # (B, 2048)
        return self.decoders[task].loss(self.dropout(u), trg_in, trg_out)


def forward_flops(vocab, batch, seq_len):
    tb = batch * seq_len
    encoder = 2 * (2 * tb * EMB * 3 * ENC + 2 * tb * ENC * 3 * ENC)
    decoder = 2 * tb * EMB * 3 * DEC + 2 * batch * DEC * 3 * DEC + 2 * tb * DEC * 3 * DEC
    return encoder + decoder + 2 * tb * DEC * vocab


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--reps", type=int, default=4, help="timed steps after two warm-up steps")
    ap.add_argument("--vocab", type=int, default=20000)
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--seq-len", type=int, default=32)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    name = "train_step_torch"
    b, t, v = args.batch, args.seq_len, args.vocab
    emit(name, "config", threads=args.threads, torch=torch.__version__, reps=args.reps,
         vocab=v, batch=b, seq_len=t)

    model = GenSen(v).train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    gen = torch.Generator().manual_seed(1)
    src, trg_in, trg_out = (torch.randint(4, v, (t, b), generator=gen) for _ in range(3))
    step = 0

    def train_step():
        nonlocal step
        opt.zero_grad(set_to_none=True)
        loss = model.loss(step % 2, src, trg_in, trg_out)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        step += 1
        return loss.item()

    # Two warm-up steps: one per decoder, so both have their Adam state.
    times = samples(train_step, 2, args.reps)
    tokens = 2 * b * t
    flops = 3 * forward_flops(v, b, t)
    emit(name, "train_step", **summary(times), tokens_per_s=tokens / times[0],
         gflops=flops / times[0] / 1e9)
    say(f"GenSen training step, vocab {v}, batch {b} x {t}: {times[0]:.2f} s "
        f"(median {summary(times)['median_ms'] / 1e3:.2f} s), {tokens / times[0]:.0f} tokens/s, "
        f"~{flops / times[0] / 1e9:.0f} GFLOP/s")


if __name__ == "__main__":
    main()
