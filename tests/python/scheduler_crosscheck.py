#!/usr/bin/python3
"""Reference values for the scheduler configurations the golden files do not cover.

Runs diffusers' own UniPCMultistepScheduler and FlowMatchEulerDiscreteScheduler source files (from
a diffusers checkout, commit 58eb52c used for the data committed) on PyTorch 1.13, with import shims
for the few diffusers helpers those two files import (config registration, deprecation, output
classes; none affects the arithmetic). Writes a small JSON file that SchedulerCrossCheckTest reads:

  unipc[]: solver_order 1 and 3, bh1, lower_order_final=False (with final sigma_min: with a final
           sigma 0 diffusers divides by an infinite step there and returns NaN) and
           disable_corrector, final sigma_min, custom sigmas and dynamic shifting; each in a float32 loop (diffusers' float32
           sigmas, float32 sample) and a float64 loop (sigmas and sample float64, as the golden
           loop20_f64). Per step: the model output fed in, the sample after the step, the x0
           prediction, the corrected sample and the predictor order.
  euler[]: custom timesteps, custom sigmas, dynamic shifting (exponential and linear) and
           shift_terminal schedules (timesteps and sigmas).

The model is a deterministic toy: v = 0.7 x - 0.3 tanh(x) + 0.01 sigma, applied in the sample's
dtype. The Java test replays each step teacher-forced (the stored model output and previous
sample go in), so it does not need to reproduce the model.

Run from the repository root:
  /usr/bin/python3 tests/python/scheduler_crosscheck.py <diffusers checkout>/src/diffusers
"""
import json
import os
import shutil
import sys
import tempfile
import textwrap

import numpy as np
import torch

OUT = "diffusion/src/test/resources/io/kinema/diffusion/schedulers/scheduler_crosscheck.json"

SHIMS = {
    "diffusers/__init__.py": "",
    "diffusers/configuration_utils.py": """
        import functools, inspect, types
        class ConfigMixin:
            def register_to_config(self, **kw):
                for k, v in kw.items():
                    setattr(self.config, k, v)
        def register_to_config(init):
            sig = inspect.signature(init)
            @functools.wraps(init)
            def inner(self, *args, **kwargs):
                bound = sig.bind(self, *args, **kwargs)
                bound.apply_defaults()
                d = dict(bound.arguments)
                d.pop("self")
                self.config = types.SimpleNamespace(**d)
                init(self, *args, **kwargs)
            return inner
        """,
    "diffusers/utils/__init__.py": """
        import logging as _logging
        class _Logging:
            @staticmethod
            def get_logger(name):
                return _logging.getLogger(name)
        logging = _Logging()
        class BaseOutput:
            pass
        def deprecate(*args, **kwargs):
            pass
        def is_scipy_available():
            return False
        """,
    "diffusers/utils/torch_utils.py": """
        def randn_tensor(*args, **kwargs):
            raise RuntimeError("not used by the cross-check")
        """,
    "diffusers/schedulers/__init__.py": "",
    "diffusers/schedulers/scheduling_utils.py": """
        import enum
        from dataclasses import dataclass
        import torch
        class KarrasDiffusionSchedulers(enum.Enum):
            NONE = 0
        class SchedulerMixin:
            pass
        @dataclass
        class SchedulerOutput:
            prev_sample: torch.Tensor
        """,
}


def load(diffusers_src):
    root = tempfile.mkdtemp(prefix="kinema-shim-")
    for rel, text in SHIMS.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(textwrap.dedent(text))
    for name in ("scheduling_unipc_multistep.py", "scheduling_flow_match_euler_discrete.py"):
        shutil.copy(os.path.join(diffusers_src, "schedulers", name),
                    os.path.join(root, "diffusers", "schedulers", name))
    sys.path.insert(0, root)
    from diffusers.schedulers.scheduling_flow_match_euler_discrete import \
        FlowMatchEulerDiscreteScheduler
    from diffusers.schedulers.scheduling_unipc_multistep import UniPCMultistepScheduler
    return UniPCMultistepScheduler, FlowMatchEulerDiscreteScheduler


def floats(t):
    return [float(v) for v in t.flatten().tolist()]


UNIPC_BASE = dict(prediction_type="flow_prediction", use_flow_sigmas=True, num_train_timesteps=1000)

UNIPC_CASES = [
    ("order1", dict(flow_shift=3.0, solver_order=1), dict(num_inference_steps=6)),
    ("order3", dict(flow_shift=3.0, solver_order=3), dict(num_inference_steps=9)),
    ("bh1_shift5", dict(flow_shift=5.0, solver_type="bh1"), dict(num_inference_steps=7)),
    ("no_lower_final_disable",
     dict(flow_shift=3.0, lower_order_final=False, final_sigmas_type="sigma_min", disable_corrector=[0, 2]),
     dict(num_inference_steps=6)),
    ("sigma_min", dict(flow_shift=3.0, final_sigmas_type="sigma_min"), dict(num_inference_steps=5)),
    ("custom_sigmas", dict(flow_shift=3.0), dict(sigmas=[0.95, 0.7, 0.45, 0.2, 0.05])),
    ("dynamic", dict(flow_shift=1.0, use_dynamic_shifting=True), dict(num_inference_steps=6, mu=0.9)),
    ("order3_shift5_12", dict(flow_shift=5.0, solver_order=3), dict(num_inference_steps=12)),
]

EULER_CASES = [
    ("custom_timesteps", dict(shift=3.0), dict(timesteps=[1000.0, 750.0, 500.0, 250.0])),
    ("custom_sigmas", dict(shift=5.0), dict(sigmas=[1.0, 0.8, 0.55, 0.3, 0.1])),
    ("dynamic_exp", dict(shift=1.0, use_dynamic_shifting=True), dict(num_inference_steps=9, mu=1.1)),
    ("dynamic_linear", dict(shift=1.0, use_dynamic_shifting=True, time_shift_type="linear"),
     dict(num_inference_steps=7, mu=2.5)),
    ("dynamic_custom_sigmas", dict(shift=1.0, use_dynamic_shifting=True),
     dict(sigmas=[1.0, 0.75, 0.5, 0.25], mu=0.8)),
    ("shift_terminal", dict(shift=3.0, shift_terminal=0.1), dict(num_inference_steps=12)),
    ("shift7_33", dict(shift=7.0), dict(num_inference_steps=33)),
]


def run_unipc(cls, name, cfg, st, dtype):
    sch = cls(**UNIPC_BASE, **cfg)
    kwargs = dict(st)
    if "sigmas" in kwargs:
        kwargs["sigmas"] = np.array(kwargs["sigmas"])  # the flow branch multiplies it by a float
    sch.set_timesteps(**kwargs)
    sch.set_begin_index(0)
    if dtype == torch.float64:
        sch.sigmas = sch.sigmas.to(torch.float64)
    g = torch.Generator().manual_seed(77)
    x = torch.randn([1, 2, 5], generator=g, dtype=torch.float32).to(dtype)
    init = x.clone()
    rec = dict(model_outputs=[], samples=[], x0_pred=[], corrected=[], order=[])
    for i, t in enumerate(sch.timesteps):
        sigma = float(sch.sigmas[i])
        v = 0.7 * x - 0.3 * torch.tanh(x) + 0.01 * sigma
        x = sch.step(v, t, x, return_dict=False)[0]
        rec["model_outputs"].append(floats(v))
        rec["samples"].append(floats(x))
        rec["x0_pred"].append(floats(sch.model_outputs[-1]))
        rec["corrected"].append(floats(sch.last_sample))
        rec["order"].append(int(sch.this_order))
    return dict(
        name=name, config=dict(UNIPC_BASE, **cfg), set_timesteps=st,
        dtype="float64" if dtype == torch.float64 else "float32",
        timesteps=[int(v) for v in sch.timesteps.tolist()], sigmas=floats(sch.sigmas),
        shape=list(init.shape), init=floats(init), **rec)


def run_euler(cls, name, cfg, st):
    sch = cls(num_train_timesteps=1000, **cfg)
    sch.set_timesteps(**st)
    return dict(name=name, config=dict(num_train_timesteps=1000, **cfg), set_timesteps=st,
                timesteps=floats(sch.timesteps), sigmas=floats(sch.sigmas))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    unipc_cls, euler_cls = load(sys.argv[1])
    out = dict(
        source="diffusers schedulers (commit 58eb52c), torch " + torch.__version__,
        unipc=[run_unipc(unipc_cls, n, c, s, d) for n, c, s in UNIPC_CASES
               for d in (torch.float32, torch.float64)],
        euler=[run_euler(euler_cls, n, c, s) for n, c, s in EULER_CASES])
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(out, f, separators=(",", ":"))
    print("wrote", OUT, os.path.getsize(OUT), "bytes")


if __name__ == "__main__":
    main()
