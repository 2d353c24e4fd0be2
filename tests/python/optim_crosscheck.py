#!/usr/bin/python3
"""Reference values for io.kinema.nn.optim, computed with PyTorch 1.13 (Debian's python3-torch).

Trains a 4 -> 8 -> 3 tanh MLP with MSE loss for 20 steps with several torch.optim optimizers (in F32
and in F64, from the same F32 initial values), and evaluates the LR schedules of diffusers'
get_scheduler through torch's LambdaLR. Writes everything to one small safetensors file that
OptimCrossCheckTest reads:

  init.{w1,b1,w2,b2}, x, y                  F32 initial weights and data
  {run}.{f32|f64}.{w1,b1,w2,b2}             final weights after 20 steps
  {run}.{f32|f64}.losses                    F64 [20], the loss before each step
  {run}.{f32|f64}.norms                     F64 [20], clip_grad_norm_'s total norm (clipping runs)
  sched.{name}                              F64 [60], the lr after construction and after each of
                                            59 scheduler steps (base lr 1e-3)

Run from the repository root:  /usr/bin/python3 tests/python/optim_crosscheck.py
"""
import json
import math
import struct

import torch

OUT = "nn/src/test/resources/io/kinema/nn/optim/optim_crosscheck.safetensors"
STEPS = 20

torch.manual_seed(1234)
INIT = {
    "w1": (torch.rand(8, 4) * 2 - 1) * 0.5,
    "b1": (torch.rand(8) * 2 - 1) * 0.5,
    "w2": (torch.rand(3, 8) * 2 - 1) * 0.35,
    "b2": (torch.rand(3) * 2 - 1) * 0.35,
}
X = torch.randn(16, 4)
Y = torch.randn(16, 3) * 0.5


# Optimizer runs: name -> (factory, options); "clip" clips the global L2 norm before each step,
# "schedule" is the LambdaLR factor applied after each step.
def warmup_cosine(step, warmup=5, total=STEPS):
    # Half-cosine decay after a linear warmup (diffusers' "cosine", num_cycles 0.5).
    if step < warmup:
        return step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return max(0.0, 0.5 * (1.0 + math.cos(math.pi * 0.5 * 2.0 * progress)))


RUNS = {
    "adamw": dict(make=lambda ps: torch.optim.AdamW(ps, lr=1e-2, weight_decay=0.01, foreach=False)),
    "adamw_amsgrad": dict(
        make=lambda ps: torch.optim.AdamW(
            ps, lr=1e-2, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.05, amsgrad=True, foreach=False)),
    "adam": dict(make=lambda ps: torch.optim.Adam(ps, lr=1e-2, weight_decay=0.01, foreach=False)),
    "sgd_nesterov": dict(
        make=lambda ps: torch.optim.SGD(
            ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3, foreach=False)),
    "sgd_dampening": dict(
        make=lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.8, dampening=0.3, foreach=False)),
    "adamw_clip_cosine": dict(
        make=lambda ps: torch.optim.AdamW(ps, lr=3e-2, weight_decay=0.01, foreach=False),
        clip=0.25,
        schedule=warmup_cosine),
}


def train(run, dtype):
    params = {k: v.clone().to(dtype).requires_grad_(True) for k, v in INIT.items()}
    x, y = X.to(dtype), Y.to(dtype)
    order = [params[k] for k in ("w1", "b1", "w2", "b2")]
    opt = run["make"](order)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, run["schedule"]) if "schedule" in run else None
    losses, norms = [], []
    for _ in range(STEPS):
        opt.zero_grad(set_to_none=True)
        h = torch.tanh(x @ params["w1"].t() + params["b1"])
        out = h @ params["w2"].t() + params["b2"]
        loss = torch.nn.functional.mse_loss(out, y)
        loss.backward()
        losses.append(loss.item())
        if "clip" in run:
            norms.append(torch.nn.utils.clip_grad_norm_(order, run["clip"]).item())
        opt.step()
        if sched is not None:
            sched.step()
    return {k: v.detach() for k, v in params.items()}, losses, norms


# diffusers' get_scheduler schedules (diffusers/optimization.py), written out from their
# definitions; diffusers itself is not installed here.
def linear_warmup(s, w):
    return s / max(1, w)


def schedules(warmup=10, total=50):
    def constant(s):
        return 1.0

    def constant_with_warmup(s):
        return linear_warmup(s, warmup) if s < warmup else 1.0

    def linear(s):
        if s < warmup:
            return linear_warmup(s, warmup)
        return max(0.0, (total - s) / max(1, total - warmup))

    def cosine(s, cycles=0.5):
        if s < warmup:
            return linear_warmup(s, warmup)
        p = (s - warmup) / max(1, total - warmup)
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * cycles * 2.0 * p)))

    def cosine_with_restarts(s, cycles=3):
        if s < warmup:
            return linear_warmup(s, warmup)
        p = (s - warmup) / max(1, total - warmup)
        if p >= 1.0:
            return 0.0
        return max(0.0, 0.5 * (1.0 + math.cos(math.pi * ((cycles * p) % 1.0))))

    def polynomial(s, lr_init=1e-3, lr_end=1e-7, power=2.0):
        if s < warmup:
            return linear_warmup(s, warmup)
        if s > total:
            return lr_end / lr_init
        remaining = 1 - (s - warmup) / (total - warmup)
        return ((lr_init - lr_end) * remaining ** power + lr_end) / lr_init

    def piecewise_constant(s):  # rules "1:10,0.1:20,0.01:30,0.005"
        for bound, value in ((10, 1.0), (20, 0.1), (30, 0.01)):
            if s < bound:
                return value
        return 0.005

    return {f.__name__: f for f in (constant, constant_with_warmup, linear, cosine,
                                     cosine_with_restarts, polynomial, piecewise_constant)}


def schedule_lrs(fn, n=60):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=1e-3)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, fn)
    lrs = [opt.param_groups[0]["lr"]]
    for _ in range(n - 1):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]["lr"])
    return torch.tensor(lrs, dtype=torch.float64)


def save_safetensors(path, tensors, metadata):
    names = {torch.float32: "F32", torch.float64: "F64"}
    header, blobs, offset = {"__metadata__": metadata}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        data = t.numpy().tobytes()  # little-endian on this machine
        header[name] = {"dtype": names[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main():
    assert struct.pack("=I", 1) == struct.pack("<I", 1), "little-endian machine expected"
    out = {"init." + k: v for k, v in INIT.items()}
    out["x"], out["y"] = X, Y
    for name, run in RUNS.items():
        for tag, dtype in (("f32", torch.float32), ("f64", torch.float64)):
            params, losses, norms = train(run, dtype)
            for k, v in params.items():
                out[f"{name}.{tag}.{k}"] = v
            out[f"{name}.{tag}.losses"] = torch.tensor(losses, dtype=torch.float64)
            if norms:
                out[f"{name}.{tag}.norms"] = torch.tensor(norms, dtype=torch.float64)
            print(f"{name:18s} {tag}: loss {losses[0]:.6f} -> {losses[-1]:.6f}")
    for name, fn in schedules().items():
        out["sched." + name] = schedule_lrs(fn)
    save_safetensors(OUT, out, {"generator": "tests/python/optim_crosscheck.py",
                                "torch": torch.__version__})
    print("wrote", OUT)


if __name__ == "__main__":
    main()
