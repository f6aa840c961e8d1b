"""``ganscope export-onnx``: mapping and synthesis of a MobileStyleGAN model as ONNX files."""
from __future__ import annotations

import torch

from gan_core.cli.common import CliError, load_generator_for_cli, user_errors


def add_parser(sub) -> None:
    p = sub.add_parser(
        "export-onnx", help="export a MobileStyleGAN model to ONNX (mapping.onnx + synthesis.onnx)",
        description="Write OUTDIR/mapping.onnx (z [N, z_dim], psi [1] -> ws) and OUTDIR/synthesis.onnx "
                    "(ws -> img [N, 3, R, R]) for a MobileStyleGAN model (any file ganscope reads: a native .pt "
                    "or a MobileStyleGAN Lightning .ckpt), with demodulation fused. Needs `pip install onnx`.")
    p.add_argument("--network", required=True, help="the MobileStyleGAN checkpoint")
    p.add_argument("--outdir", required=True, help="folder for the .onnx files")
    p.add_argument("--noise", default="const", choices=["const", "none"], help="noise baked in (default const)")
    p.add_argument("--opset", type=int, default=17, help="ONNX opset (default 17)")


def run(args) -> int:
    from gan_core.io.onnx_export import export_onnx, onnx_available

    if not onnx_available():
        raise CliError("the onnx package is not installed: pip install onnx (or ganscope[onnx])")
    G = load_generator_for_cli(args.network, torch.device("cpu"))
    with user_errors():
        paths = export_onnx(G, args.outdir, noise_mode=args.noise, opset=args.opset)
    for name, p in paths.items():
        print(f"{name}: {p}")
    return 0
