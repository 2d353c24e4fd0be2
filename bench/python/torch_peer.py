#!/usr/bin/env python3
"""PyTorch figures for the kernels in Kinema's JMH benchmarks, same shapes, same machine.

Run with Debian's python3-torch (never a build or test dependency):
    OMP_NUM_THREADS=2 /usr/bin/python3 bench/python/torch_peer.py [matmul|norms|overhead|attention|masked|train|cuda ...]
Prints one Markdown row per case: best and median time over repeats, and GFLOP/s or GB/s.
With arguments, only those sections run. The cuda section (CudaBench's cases on GPU 0) needs a
PyTorch with CUDA and a GPU; without them it prints why and is skipped.
"""
import math
import statistics
import sys
import time

import torch

torch.set_num_threads(2)
torch.manual_seed(0)


def bench(fn, repeats=10, min_time=0.2):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        n, t0 = 0, time.perf_counter()
        while True:
            fn()
            n += 1
            el = time.perf_counter() - t0
            if el >= min_time:
                break
        times.append(el / n)
    return min(times), statistics.median(times)


def row(name, shape, best, med, work, unit):
    rate = work / best / 1e9
    print(f"| {name} | {shape} | {best * 1e3:.3f} | {med * 1e3:.3f} | {rate:.1f} {unit} |")


print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
print("| kernel | shape | best ms | median ms | rate |")
print("|---|---|---|---|---|")

SECTIONS = set(sys.argv[1:]) or {"matmul", "norms", "overhead", "attention", "masked", "train", "cuda"}

for n in (256, 512, 1024, 2048, 4096) if "matmul" in SECTIONS else ():
    for dt in (torch.float32, torch.bfloat16):
        a = torch.randn(n, n).to(dt)
        b = torch.randn(n, n).to(dt)
        reps = 3 if n >= 2048 else 10
        best, med = bench(lambda: torch.matmul(a, b), repeats=reps)
        row(f"matmul {str(dt)[6:]}", f"{n}^3", best, med, 2 * n**3, "GFLOP/s")

for rows, cols in ((8192, 1536), (2048, 5120)) if "norms" in SECTIONS else ():
    x = torch.randn(rows, cols)
    w = torch.randn(cols)
    bias = torch.randn(cols)
    moved = 2 * 4 * rows * cols
    best, med = bench(lambda: torch.softmax(x, -1))
    row("softmax", f"{rows}x{cols}", best, med, moved, "GB/s")
    best, med = bench(lambda: torch.nn.functional.layer_norm(x, (cols,), w, bias, 1e-6))
    row("layer_norm", f"{rows}x{cols}", best, med, moved, "GB/s")
    # torch 1.13 has no rms_norm: the usual composed form (3 passes).
    best, med = bench(lambda: x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w)
    row("rms_norm (composed)", f"{rows}x{cols}", best, med, moved, "GB/s")
    best, med = bench(lambda: x.clone())
    row("copy", f"{rows}x{cols}", best, med, moved, "GB/s")

# CudaHostOverheadBench's ops on the CPU: tensors this small take a few ns of arithmetic, so the
# time is PyTorch's eager overhead per op (dispatch, checks, allocation) -- on the CPU, not CUDA.
if "overhead" in SECTIONS:
    a, b = torch.randn(64), torch.randn(64)
    rows, w = torch.randn(8, 64), torch.randn(64)
    m1, m2 = torch.randn(64, 64), torch.randn(64, 64)
    cases = [
        ("add", "[64] + [64]", lambda: a + b),
        ("softmax", "[8, 64]", lambda: torch.softmax(rows, -1)),
        ("layer_norm", "[8, 64]", lambda: torch.nn.functional.layer_norm(rows, (64,), w, None, 1e-6)),
        ("rms_norm (composed, 5 ops)", "[8, 64]",
         lambda: rows * torch.rsqrt(rows.pow(2).mean(-1, keepdim=True) + 1e-6) * w),
        ("matmul (with 0.5 MFLOP of arithmetic)", "64^3", lambda: torch.matmul(m1, m2)),
    ]
    for name, shape, fn in cases:
        best, med = bench(fn, repeats=10, min_time=0.1)
        print(f"| {name} | {shape} | {best * 1e3:.4f} | {med * 1e3:.4f} | {best * 1e6:.2f} us/op |")

# torch 1.13 has no fused scaled_dot_product_attention: the math path materialises S x S.
for s in (1024, 4096) if "attention" in SECTIONS else ():
    for d in (64, 128):
        for causal in (False, True):
            h = 12
            q, k, v = (torch.randn(1, h, s, d) for _ in range(3))
            mask = torch.ones(s, s, dtype=torch.bool).tril() if causal else None

            def attn():
                sc = torch.matmul(q, k.transpose(-1, -2)) * (1 / math.sqrt(d))
                if mask is not None:
                    sc = sc.masked_fill(~mask, float("-inf"))
                return torch.matmul(torch.softmax(sc, -1), v)

            flops = 4 * h * s * s * d / (2 if causal else 1)
            best, med = bench(attn, repeats=3 if s == 4096 else 5)
            row(f"attention{' causal' if causal else ''}", f"H={h} S={s} D={d}", best, med, flops, "GFLOP/s")

# MaskedAttentionBench's peer: forward + backward under the causal Wan model's teacher-forcing mask
# ([clean | noisy], one frame per block), f32, 4 heads of 32. torch 1.13 takes the mask as a BOOL
# matrix (masked_fill) and materialises S x S in both passes.
for frames, tokens in ((4, 16), (8, 64)) if "masked" in SECTIONS else ():
    length = frames * tokens
    seq, batch, h, d = 2 * length, (4 if length > 256 else 32), 4, 32
    allowed = torch.zeros(seq, seq, dtype=torch.bool)
    for n in range(seq):
        pos = n % length
        start = pos // tokens * tokens
        end = start + tokens
        if n < length:
            allowed[n, :end] = True
        else:
            allowed[n, :start] = True
            allowed[n, length + start:length + end] = True
    q, k, v = (torch.randn(batch, h, seq, d, requires_grad=True) for _ in range(3))
    g = torch.randn(batch, h, seq, d)

    def masked_fwd_bwd():
        sc = torch.matmul(q, k.transpose(-1, -2)) * (1 / math.sqrt(d))
        o = torch.matmul(torch.softmax(sc.masked_fill(~allowed, float("-inf")), -1), v)
        o.backward(g)

    seen = int(allowed.sum())
    flops = 3 * 4 * batch * h * seen * d  # forward 2 products, backward 4: over the keys seen
    best, med = bench(masked_fwd_bwd, repeats=5)
    row("masked attention fwd+bwd", f"{frames}x{tokens} B={batch} H={h} S={seq} D={d}", best, med, flops, "GFLOP/s")

# One training step of the transformer in TrainStepBench: 4 pre-norm blocks, dim 256, 4 heads,
# FFN 1024 (GELU tanh), 256 tokens, batch 1, loss mean(y^2), AdamW.
BLOCKS, DIM, HEADS, FFN, TOKENS = 4, 256, 4, 1024, 256


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1, self.norm2 = torch.nn.LayerNorm(DIM), torch.nn.LayerNorm(DIM)
        self.q, self.k, self.v, self.o = (torch.nn.Linear(DIM, DIM) for _ in range(4))
        self.ff1, self.ff2 = torch.nn.Linear(DIM, FFN), torch.nn.Linear(FFN, DIM)

    def forward(self, x):
        h = self.norm1(x)
        b, s, _ = h.shape
        q, k, v = (p(h).view(b, s, HEADS, DIM // HEADS).transpose(1, 2) for p in (self.q, self.k, self.v))
        a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(DIM // HEADS), -1) @ v
        x = x + self.o(a.transpose(1, 2).reshape(b, s, DIM))
        return x + self.ff2(torch.nn.functional.gelu(self.ff1(self.norm2(x)), approximate="tanh"))


model = torch.nn.Sequential(*[Block() for _ in range(BLOCKS)])
opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
inp = torch.randn(1, TOKENS, DIM)
flops = 3.0 * BLOCKS * TOKENS * 2.0 * (4.0 * DIM * DIM + 2.0 * DIM * FFN + 2.0 * TOKENS * DIM)


def train_step():
    loss = model(inp).square().mean()
    loss.backward()
    opt.step()
    opt.zero_grad()


def forward_only():
    with torch.no_grad():
        model(inp).square().mean().item()


if "train" in SECTIONS:
    best, med = bench(train_step, repeats=5)
    row("train step (fwd+bwd+AdamW)", f"{BLOCKS}x{DIM}, {TOKENS} tok", best, med, flops, "GFLOP/s")
    best, med = bench(forward_only, repeats=5)
    row("forward", f"{BLOCKS}x{DIM}, {TOKENS} tok", best, med, flops / 3, "GFLOP/s")


# CudaBench's cases on GPU 0, each call followed by a synchronize (the time is the GPU's).
def cuda_bench(fn, repeats=10, min_time=0.2):
    def synced():
        fn()
        torch.cuda.synchronize()

    return bench(synced, repeats, min_time)


if "cuda" in SECTIONS:
    if not torch.cuda.is_available():
        print(f"| cuda | skipped: torch {torch.__version__} sees no CUDA device | | | |")
    else:
        dev = torch.device("cuda:0")
        torch.backends.cuda.matmul.allow_tf32 = False  # as Kinema's default
        a = torch.randn(4096, 4096, device=dev, dtype=torch.bfloat16)
        b = torch.randn(4096, 4096, device=dev, dtype=torch.bfloat16)
        best, med = cuda_bench(lambda: torch.matmul(a, b))
        row("cuda matmul bfloat16", "4096^3", best, med, 2 * 4096**3, "GFLOP/s")
        q, k, v = (torch.randn(1, 16, 8192, 128, device=dev, dtype=torch.bfloat16) for _ in range(3))
        sdpa = getattr(torch.nn.functional, "scaled_dot_product_attention", None)
        if sdpa is None:
            print(f"| cuda flash attention | skipped: torch {torch.__version__} has no SDPA | | | |")
        else:
            best, med = cuda_bench(lambda: sdpa(q, k, v), repeats=5)
            row("cuda attention bfloat16 (SDPA)", "H=16 S=8192 D=128", best, med, 4 * 16 * 8192**2 * 128, "GFLOP/s")
        x = torch.randn(64 << 20, device=dev)
        y = torch.randn(64 << 20, device=dev)
        best, med = cuda_bench(lambda: x * y)
        row("cuda mul float32", "64Mi", best, med, 3 * 4 * (64 << 20), "GB/s")
        best, med = cuda_bench(lambda: x.clone())
        row("cuda copy float32", "64Mi", best, med, 2 * 4 * (64 << 20), "GB/s")
        if sdpa is not None:
            qg, kg, vg = (t.clone().requires_grad_() for t in (q, k, v))
            go = torch.randn_like(q)

            def sdpa_fwd_bwd():
                sdpa(qg, kg, vg).backward(go)
                for t in (qg, kg, vg):
                    t.grad = None

            best, med = cuda_bench(sdpa_fwd_bwd, repeats=5)
            row("cuda attention fwd+bwd bfloat16 (SDPA)", "H=16 S=8192 D=128", best, med, 3.5 * 4 * 16 * 8192**2 * 128, "GFLOP/s")
        # TrainStepBench's transformer on the GPU in float32 (no TF32), as `-p device=cuda:0`:
        # hundreds of small kernels per step, so mostly a measure of per-op overhead.
        gpu_model = torch.nn.Sequential(*[Block() for _ in range(BLOCKS)]).to(dev)
        gpu_opt = torch.optim.AdamW(gpu_model.parameters(), lr=1e-4)
        gpu_inp = torch.randn(1, TOKENS, DIM, device=dev)

        def gpu_train_step():
            gpu_model(gpu_inp).square().mean().backward()
            gpu_opt.step()
            gpu_opt.zero_grad()

        best, med = cuda_bench(gpu_train_step, repeats=5)
        row("cuda train step (fwd+bwd+AdamW) float32", f"{BLOCKS}x{DIM}, {TOKENS} tok", best, med, flops, "GFLOP/s")
