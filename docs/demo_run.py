"""Tend the CPU training run of the StyleGAN3-T demo (see assets/README.md).

    python docs/demo_run.py evaluate SNAPSHOT [SNAPSHOT ...] [--data .runs/proc32v2_20k.zip] [--num 1000] [--baseline demo-sg2]
    python docs/demo_run.py keep .runs/sg3t-32/network-snapshot-NNNNNN.pt [--dest assets/demo_training/sg3t-32w]

``evaluate`` compares candidates with the shipped ``demo`` (or ``--baseline``, e.g. ``demo-sg2`` for
StyleGAN2 candidates) the way the demo is chosen: SWD×10³
against the dataset (32², 16², mean; lower is better), the style-mixing distances (fine ws
swapped: colour and layout distance to the row / column seed; coarse ws swapped: colour), and a
16-seed grid per model written to ``--out`` (default /tmp) to look at. A candidate is worth
shipping only if it beats the model it would replace on SWD *and* by eye.

``keep`` moves the state committed in ``assets/demo_training/sg3t-32/`` (or ``--dest``) to a newer
full snapshot of the run: the snapshot and its fakes grid, the options, the reals grid, and stats.jsonl / metrics.jsonl /
log.txt cut at that snapshot, so ``sh docs/continue_demo_run.sh`` resumes exactly there.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
KEPT = REPO / "assets" / "demo_training" / "sg3t-32"


def evaluate(models: list[str], data: str, num: int, out: Path, baseline: str = "demo") -> None:
    import contextlib
    import io

    import numpy as np
    import torch
    from PIL import Image

    import gan_core
    from gan_core.analysis.mixing import style_mixing_distances
    from gan_core.cli import main as cli

    names = [baseline, *models]
    text = io.StringIO()
    with contextlib.redirect_stdout(text):      # exactly what `ganscope swd` says (progress on stderr)
        rc = cli(["swd", *[a for n in names for a in ("--network", n)], "--data", data, "--num", str(num), "--json"])
    if rc != 0:
        raise SystemExit(rc)
    swd = {r["source"]: r for r in json.loads(text.getvalue())["results"]}
    print(f"SWD x10^3 against {num} images of {data}; style-mixing distances over 8x8 seeds")
    print(f"{'model':<44} {'32²':>7} {'16²':>7} {'mean':>7}   fine: colour row/col, layout row/col   "
          f"coarse: colour row/col")
    out.mkdir(parents=True, exist_ok=True)
    for name, s in swd.items():
        if name.startswith("reals"):    # the data against itself: how low SWD gets
            print(f"{name[-44:]:<44} {s.get('32', float('nan')):7.1f} {s.get('16', float('nan')):7.1f} "
                  f"{s['mean']:7.1f}")
    for name in names:
        G = gan_core.load_generator(name)
        s = swd[name]
        fine, coarse = style_mixing_distances(G, "fine"), style_mixing_distances(G, "coarse")
        print(f"{name[-44:]:<44} {s.get('32', float('nan')):7.1f} {s.get('16', float('nan')):7.1f} "
              f"{s['mean']:7.1f}   {fine['colour_row']:5.1f} / {fine['colour_col']:4.1f}, "
              f"{fine['layout_row']:.2f} / {fine['layout_col']:.2f}        "
              f"{coarse['colour_row']:4.1f} / {coarse['colour_col']:4.1f}")
        with torch.no_grad():
            seeds = list(range(16))
            imgs = gan_core.to_uint8(G(gan_core.zs_from_seeds(seeds, G.z_dim), gan_core.cs_from_seeds(seeds, G.c_dim),
                                       noise_mode="const"))
        n, h, w, c = imgs.shape
        grid = imgs.reshape(2, 8, h, w, c).transpose(0, 2, 1, 3, 4).reshape(2 * h, 8 * w, c)
        path = out / f"seeds_{Path(name).stem}.png"
        Image.fromarray(np.ascontiguousarray(grid)).resize((8 * w * 3, 2 * h * 3), Image.NEAREST).save(path)
        print(f"{'':<44} grid: {path}")


def keep(snapshot: Path, dest: Path = KEPT) -> None:
    from gan_core.io import load_checkpoint
    from gan_core.train.rundir import fakes_name

    run = snapshot.parent
    ts = load_checkpoint(snapshot).training_state or {}
    if "cur_nimg" not in ts or ts.get("G_opt") is None:
        raise SystemExit(f"{snapshot}: not a full training snapshot (no optimizer state to resume from)")
    nimg = int(ts["cur_nimg"])
    kimg = nimg / 1000
    dest.mkdir(parents=True, exist_ok=True)
    for old in [*dest.glob("network-snapshot-*.pt"), *dest.glob("fakes*.png")]:
        old.unlink()
    shutil.copy2(snapshot, dest / snapshot.name)
    fakes = fakes_name(snapshot.name)
    if (run / fakes).exists():
        shutil.copy2(run / fakes, dest / fakes)
    for name in ("training_options.json", "reals.png"):
        if (run / name).exists():
            shutil.copy2(run / name, dest / name)
    for name in ("stats.jsonl", "metrics.jsonl"):
        rows = [line for line in (run / name).read_text().splitlines()
                if line.strip() and json.loads(line)["kimg"] <= kimg + 1e-9]
        (dest / name).write_text("\n".join(rows) + "\n")
    lines = (run / "log.txt").read_text().splitlines()
    mark = f"snapshot {snapshot.name} (kimg {kimg:.3f})"
    end = max(i for i, line in enumerate(lines) if line.startswith(mark)) + 1
    if end < len(lines) and lines[end].startswith("metric swd"):
        end += 1
    (dest / "log.txt").write_text("\n".join(lines[:end]) + "\n")
    print(f"kept {snapshot.name} (kimg {kimg:.3f}) in {dest}; log cut at line {end} of {len(lines)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    e = sub.add_parser("evaluate", help="compare snapshots with a shipped demo")
    e.add_argument("models", nargs="+")
    e.add_argument("--data", default=".runs/proc32v2_20k.zip")
    e.add_argument("--num", type=int, default=1000)
    e.add_argument("--out", type=Path, default=Path("/tmp"))
    e.add_argument("--baseline", default="demo", help="the shipped model to compare with (default: %(default)s)")
    k = sub.add_parser("keep", help="commit-ready state of the run at this snapshot")
    k.add_argument("snapshot", type=Path)
    k.add_argument("--dest", type=Path, default=KEPT, help="the kept state's folder (default: %(default)s)")
    args = ap.parse_args()
    if args.command == "evaluate":
        evaluate(args.models, args.data, args.num, args.out, args.baseline)
    else:
        keep(args.snapshot, args.dest)


if __name__ == "__main__":
    main()
