"""``ganscope convert``: any readable checkpoint to ganscope's native format."""
from __future__ import annotations

from pathlib import Path

from gan_core.cli.common import CliError, user_errors


def add_parser(sub) -> None:
    p = sub.add_parser("convert", help="convert a checkpoint to ganscope's .pt format",
                       description="Read any supported checkpoint and write all its networks (G_ema, G, D) "
                                   "to one ganscope .pt file that torch.load(weights_only=True) can read.")
    p.add_argument("input", help="checkpoint to read")
    p.add_argument("output", help="ganscope .pt file to write (written atomically)")
    p.add_argument("--force", action="store_true", help="overwrite OUTPUT if it exists")
    p.add_argument("--generator-only", action="store_true",
                   help="write only the generator (G_ema, else G): a small file for sharing or viewing")


def run(args) -> int:
    from gan_core.io import load_checkpoint, save_checkpoint
    out = Path(args.output)
    if out.exists() and not args.force:
        raise CliError(f"{out} already exists; pass --force to overwrite it")
    if out.resolve() == Path(args.input).resolve():
        raise CliError("the output would overwrite the input; choose another file name")
    with user_errors():
        ck = load_checkpoint(args.input)
        if ck.G_ema is None and ck.G is None:
            raise CliError(f"{args.input} holds no generator to convert")
        # what the importer inferred or assumed stays with the weights, so `ganscope info` on
        # the converted file still says it
        carried = {k: ck.metadata[k] for k in ("inferred", "assumed", "skipped") if k in ck.metadata}
        if args.generator_only:
            ck.G, ck.D = (None, None) if ck.G_ema is not None else (ck.G, None)
        save_checkpoint(out, G_ema=ck.G_ema if ck.G_ema is not None else ck.G,
                        G=ck.G if ck.G_ema is not None else None, D=ck.D,
                        metadata={"converted_from": str(args.input), "source_format": ck.source_format,
                                  **carried})
    print(f"wrote {out} ({', '.join(n for n, v in (('G_ema', ck.G_ema), ('G', ck.G), ('D', ck.D)) if v is not None)})")
    return 0
