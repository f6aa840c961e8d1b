"""``ganscope dataset``: convert images into a clean training zip, or render a procedural dataset."""
from __future__ import annotations

import sys

from tqdm import tqdm

from gan_core.cli.common import CliError
from gan_core.progress import progress_bar


def add_parser(sub) -> None:
    p = sub.add_parser(
        "dataset", help="prepare a training dataset (zip)",
        description="Convert an image folder, zip archive or LMDB database into a clean dataset zip "
                    "(square PNGs of one resolution, official layout, labels from dataset.json kept). "
                    "Broken images are reported by name and skipped (--strict: stop at the first). "
                    "--source procedural:COUNT[:RES] renders the built-in procedural dataset instead.")
    p.add_argument("--source", required=True, help="folder, .zip, LMDB folder, or procedural:COUNT[:RES]")
    p.add_argument("--dest", required=True, help="output .zip (written atomically)")
    p.add_argument("--resolution", type=int, default=None,
                   help="output size N (N×N, a power of two); for procedural the default is 64")
    p.add_argument("--transform", default="center-crop", choices=["center-crop", "center-crop-wide", "none"],
                   help="how non-square images become square (default center-crop)")
    p.add_argument("--strict", action="store_true", help="fail at the first broken image instead of skipping it")
    p.add_argument("--max-images", type=int, default=None, help="convert at most this many images")
    p.add_argument("--seed", type=int, default=0, help="procedural: the dataset seed (default 0)")
    p.add_argument("--no-labels", action="store_true", help="procedural: leave out the shape class labels")
    p.add_argument("--textures", default=None, choices=["pixel", "image"],
                   help="procedural, below 64²: textures keep their size in pixels (pixel, the default) or their "
                        "cycles per image (image: the data before 2026-12-06, finer than 2.3 px at 32², on which "
                        "the built-in demo models were trained)")
    p.add_argument("--workers", type=int, default=None,
                   help="procedural: processes that render the images (default: the CPU cores, at most 8, "
                        "for 2000 images or more; else 1); the images are the same for any number")


def run(args) -> int:
    from gan_core.data import BrokenImageError, DatasetError, convert_dataset, write_procedural_zip
    from gan_core.data.procedural import default_render_workers, parse_procedural_spec

    if not args.dest.lower().endswith(".zip"):
        raise CliError(f"--dest must name a .zip file, got {args.dest!r}")
    if args.resolution is not None and (args.resolution < 4 or args.resolution & (args.resolution - 1)):
        raise CliError(f"--resolution must be a power of two >= 4, got {args.resolution}")
    if args.source.startswith("procedural:"):
        try:
            count, res = parse_procedural_spec(args.source)
        except ValueError as e:
            raise CliError(str(e)) from None
        res = res or args.resolution or 64
        if args.resolution is not None and args.resolution != res:
            raise CliError(f"{args.source} asks for {res}² but --resolution is {args.resolution}")
        if args.workers is not None and args.workers < 1:
            raise CliError(f"--workers must be at least 1, got {args.workers}")
        workers = args.workers if args.workers is not None else default_render_workers(count)
        with progress_bar(total=count, desc="procedural", unit="img", disable=count < 200) as bar:
            write_procedural_zip(args.dest, count, res, seed=args.seed, labels=not args.no_labels,
                                 progress=bar.update, workers=workers, textures=args.textures or "pixel")
        print(f"wrote {count} procedural images ({res}×{res}) to {args.dest}")
        return 0
    if args.workers is not None:
        raise CliError("--workers is for procedural sources only (converting images runs in one process)")
    if args.textures is not None:
        raise CliError("--textures is for procedural sources only")
    if args.resolution is None:
        raise CliError("--resolution is required (e.g. --resolution 256)")
    try:
        with progress_bar(desc="dataset", unit="img") as bar:
            report = convert_dataset(args.source, args.dest, args.resolution, transform=args.transform,
                                     strict=args.strict, max_images=args.max_images, progress=bar.update,
                                     report_broken=lambda n, r: tqdm.write(f"skipping broken image {n}: {r}",
                                                                           file=sys.stderr))
    except BrokenImageError as e:
        raise CliError(f"broken image {e} (--strict; nothing written)") from None
    except (DatasetError, ValueError, OSError) as e:
        raise CliError(str(e)) from None
    msg = f"wrote {report.written} images ({args.resolution}×{args.resolution}) to {args.dest}"
    if report.skipped:
        msg += f"; skipped {len(report.skipped)} broken: " + ", ".join(n for n, _ in report.skipped[:10])
        if len(report.skipped) > 10:
            msg += ", …"
    print(msg)
    return 0
