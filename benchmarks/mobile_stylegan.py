"""MobileStyleGAN vs StyleGAN2 at the same resolution: parameters, multiply-adds, CPU ms/image.

    python benchmarks/mobile_stylegan.py                       # 256² and 1024², batch 1, 3 reps, 2 threads
    python benchmarks/mobile_stylegan.py --res 1024 --reps 5 --json out.json

Networks: StyleGAN2 config-F (``channel_base=32768, channel_max=512``, 8 mapping layers, 'skip'
generator) and MobileStyleGAN with the public FFHQ widths (``512×5, 256, 128, 64`` for 1024²;
the first ``log2(R) - 2`` of them at a lower resolution R), z = w = 512. Random weights (speed and
counts do not depend on them), eval mode, ``torch.no_grad``, const noise.

* parameters: counted from the modules (mapping and synthesis separately);
* multiply-adds: counted by running one image through the network under a
  ``TorchDispatchMode`` that sees every ATen convolution (regular, grouped, depthwise,
  transposed — including the FIR resampling filters) and matrix product, and adds
  ``output elements × input channels per group × kernel area`` (transposed: per input element)
  or ``M·N·K``. Element-wise work (modulation, demodulation, noise, bias, activations, the
  inverse DWT's additions) is not counted, as in the paper's GMAC figures;
* ms/image: median of ``--reps`` timed ``mapping + synthesis`` calls of one batch after a
  warm-up, divided by the batch size; both networks measured in the same process, interleaved.
Prints a table and writes JSON (``--json``, default benchmarks/results/mobile_stylegan.json).
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from gan_core.models import mobile_stylegan, stylegan2  # noqa: E402
from benchmarks.machine import cpu_name  # noqa: E402

aten = torch.ops.aten


class MacCounter(TorchDispatchMode):
    """Adds up the multiply-adds of convolutions and matrix products run while active."""

    def __init__(self) -> None:
        super().__init__()
        self.macs = 0
        self.by_op: dict[str, int] = {}

    def _add(self, name: str, n: int) -> None:
        self.macs += n
        self.by_op[name] = self.by_op.get(name, 0) + n

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        packet = func.overloadpacket
        if packet in (aten.convolution, aten._convolution, aten.mkldnn_convolution):
            x, w = args[0], args[1]
            transposed = bool(args[6]) if packet is not aten.mkldnn_convolution and len(args) > 6 else False
            k = math.prod(w.shape[2:])
            if transposed:  # weight [I, O/g, kh, kw]: every input element meets O/g · k weights
                self._add("conv_transpose", x.numel() * w.shape[1] * k)
            else:  # weight [O, I/g, kh, kw]
                self._add("conv", out.numel() * w.shape[1] * k)
        elif packet in (aten.mm, aten.addmm):
            a, b = (args[0], args[1]) if packet is aten.mm else (args[1], args[2])
            self._add("matmul", a.shape[0] * a.shape[1] * b.shape[1])
        elif packet in (aten.bmm, aten.baddbmm):
            a, b = (args[0], args[1]) if packet is aten.bmm else (args[1], args[2])
            self._add("matmul", a.shape[0] * a.shape[1] * a.shape[2] * b.shape[2])
        return out


def build(name: str, res: int) -> torch.nn.Module:
    if name == "StyleGAN2":
        return stylegan2.Generator(z_dim=512, c_dim=0, w_dim=512, img_resolution=res, img_channels=3,
                                   channel_base=32768, channel_max=512, num_fp16_res=0).eval()
    channels = list(mobile_stylegan.DEFAULT_CHANNELS[: int(math.log2(res)) - 2])
    G = mobile_stylegan.Generator(z_dim=512, w_dim=512, channels=channels).eval()
    return G.fuse_demodulation() if name == "MobileStyleGAN (fused)" else G


def count(G: torch.nn.Module) -> dict[str, int]:
    z = torch.randn(1, G.z_dim)
    with torch.no_grad():
        with MacCounter() as m_map:
            ws = G.mapping(z, None)
        with MacCounter() as m_syn:
            G.synthesis(ws, noise_mode="const")
    return {"params_mapping": sum(p.numel() for p in G.mapping.parameters()),
            "params_synthesis": sum(p.numel() for p in G.synthesis.parameters()),
            "macs_mapping": m_map.macs, "macs_synthesis": m_syn.macs, "macs_by_op": m_syn.by_op}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--res", default="256,1024", help="comma-separated resolutions")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "mobile_stylegan.json"))
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    names = ["StyleGAN2", "MobileStyleGAN", "MobileStyleGAN (fused)"]
    results = []
    for res in [int(r) for r in a.res.split(",")]:
        nets = {n: build(n, res) for n in names}
        rows = {n: {"model": n, "resolution": res, **count(G)} for n, G in nets.items()}
        z = torch.randn(a.batch, 512)
        times: dict[str, list[float]] = {n: [] for n in names}
        with torch.no_grad():
            for G in nets.values():  # warm-up
                G.synthesis(G.mapping(z, None), noise_mode="const")
            for _ in range(a.reps):  # interleaved, so load changes hit all alike
                for n, G in nets.items():
                    t0 = time.perf_counter()
                    G.synthesis(G.mapping(z, None), noise_mode="const")
                    times[n].append((time.perf_counter() - t0) * 1000 / a.batch)
        for n in names:
            rows[n]["ms_per_image_runs"] = [round(t, 2) for t in times[n]]
            rows[n]["ms_per_image"] = round(statistics.median(times[n]), 2)
            results.append(rows[n])
    base = {r["resolution"]: r for r in results if r["model"] == "StyleGAN2"}
    print(f"{'model':<24}{'res':>6}{'params (synth)':>16}{'params (map)':>14}{'GMAC (synth)':>14}"
          f"{'ms/img':>10}{'vs SG2 params':>15}{'vs SG2 MACs':>13}{'speed-up':>10}")
    for r in results:
        b = base[r["resolution"]]
        print(f"{r['model']:<24}{r['resolution']:>6}{r['params_synthesis'] / 1e6:>15.2f}M"
              f"{r['params_mapping'] / 1e6:>13.2f}M{r['macs_synthesis'] / 1e9:>14.2f}{r['ms_per_image']:>10.1f}"
              f"{b['params_synthesis'] / r['params_synthesis']:>14.2f}×{b['macs_synthesis'] / r['macs_synthesis']:>12.2f}×"
              f"{b['ms_per_image'] / r['ms_per_image']:>9.2f}×")
    out = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
           "command": "python benchmarks/mobile_stylegan.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "cpu": cpu_name(), "cpu_count": os.cpu_count(), "threads": a.threads, "batch": a.batch, "reps": a.reps,
           "torch": torch.__version__, "loadavg": os.getloadavg(), "results": results}
    Path(a.json).parent.mkdir(parents=True, exist_ok=True)
    Path(a.json).write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
