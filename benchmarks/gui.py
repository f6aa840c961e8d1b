"""GUI display costs at 256², 512² and 1024² images, in the real window.

    python benchmarks/gui.py                  # starts its own Xvfb when there is no DISPLAY
    python benchmarks/gui.py --sizes 256,1024 --reps 60 --json out.json

(a) CONVERT: a render result ([H, W, 3] uint8) into the texture buffer. Ours: torch, into a
    persistent RGB float32 buffer from a pool (``visualizer.texture.to_texture``; the render
    worker does this off the UI thread). Baseline in the same run: the naive numpy conversion
    (a new float RGBA array per image: divide, stack an alpha plane, flatten).
(b) NEW-IMAGE FRAME COST: the UI frame time when every frame shows a new image minus the frame
    time when none arrives, with the canvas at 1:1 so the texture is the image's size. A new
    image costs the UI thread a pointer swap (``dpg.set_value`` on the raw texture). Also
    reported: the idle frame time per image size (Dear PyGui uploads raw textures every frame,
    so a bigger picture costs every frame, new or not).
(d) RESPONSIVENESS: the UI frame time while the worker renders that model, next to the idle one.
(c) LATENCY: from a settings change to the end of the first UI frame that shows its image, with
    a real (small-channel) StyleGAN2 at that resolution rendering on the worker, through the real
    main loop (fps cap 60; the loop's wait is cut short when a result lands); reported next to
    that render's own time and the idle frame time (target: latency <= render + one frame).

Medians of ``--reps`` repetitions. Prints a table and writes JSON (default
``benchmarks/results/gui.json``). Under Xvfb the software rasterizer dominates absolute frame
times; judge (a) and (b).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def naive_convert(px: np.ndarray) -> np.ndarray:
    """What a first version does: float64 maths, a new RGBA array per frame, flattened."""
    h, w = px.shape[:2]
    rgba = np.concatenate([px / 255.0, np.ones((h, w, 1))], axis=2)
    return rgba.astype(np.float32).ravel()


def median_ms(fn, reps: int) -> float:
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3


def ensure_display() -> subprocess.Popen | None:
    if os.environ.get("DISPLAY"):
        return None
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        sys.exit("no DISPLAY and no Xvfb: apt-get install xvfb libgl1-mesa-dri libglx-mesa0")
    n = 150
    while Path(f"/tmp/.X11-unix/X{n}").exists():
        n += 1
    proc = subprocess.Popen([xvfb, f":{n}", "-screen", "0", "1800x1300x24", "-nolisten", "tcp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if Path(f"/tmp/.X11-unix/X{n}").exists():
            break
        time.sleep(0.05)
    os.environ["DISPLAY"] = f":{n}"
    return proc


def small_model(res: int, folder: Path) -> Path:
    import gan_core
    from gan_core.models.stylegan2 import Generator
    torch.manual_seed(0)
    G = Generator(z_dim=64, c_dim=0, w_dim=64, img_resolution=res, img_channels=3,
                  mapping_kwargs=dict(num_layers=2), channel_base=2048, channel_max=32, num_fp16_res=0)
    path = folder / f"sg2_{res}.pt"
    gan_core.save(path, G_ema=G)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="256,512,1024")
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--latency-reps", type=int, default=7)
    ap.add_argument("--json", default=str(REPO / "benchmarks" / "results" / "gui.json"))
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    xvfb = ensure_display()
    torch.set_num_threads(1)
    from visualizer.app import App
    from visualizer.texture import TexturePool, to_texture

    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="ganscope-bench-"))
    app = App(model=str(small_model(sizes[0], tmp)), settings_path=tmp / "settings.json",
              size=(max(sizes) + 460, max(sizes) + 90))
    app.set_fps_cap(60)         # the default: latency is measured through the real main loop
    app.start()
    try:
        app.wait_for_result(timeout=300)
        for res in sizes:
            rng = np.random.default_rng(res)
            px = [rng.integers(0, 256, (res, res, 3), dtype=np.uint8) for _ in range(2)]
            pool = TexturePool()
            buf = pool.acquire(res, res)
            conv_ours = median_ms(lambda: to_texture(px[0], buf), args.reps)
            conv_naive = median_ms(lambda: naive_convert(px[0]), args.reps)

            # (c) first, with the real model at this resolution (also sets the canvas to it)
            app.open_model(str(small_model(res, tmp)))
            app.wait_for_result(lambda r: r.model is not None and r.model.img_resolution == res and r.image is not None,
                                timeout=600)
            app.canvas.set_zoom(1.0)
            for _ in range(5):
                app.frame()
            lat, rend = [], []
            for i in range(args.latency_reps):
                t0 = time.perf_counter()
                app.update(latent_x=float(100 + i))
                r = app.wait_for_result(timeout=600)
                lat.append((time.perf_counter() - t0) * 1e3)
                rend.append(r.timings["render_ms"] + r.timings.get("texture_ms", 0.0))

            # (d) UI frame time while the worker renders (the UI must not wait for it)
            busy = []
            for i in range(3):
                app.update(latent_x=float(200 + i))
                app.frame()
                while app.worker.busy:
                    app.frame()
                    busy.append(app.frame_work_ms)
                app.wait_for_result(timeout=600)

            # (b) frames with and without a new image, canvas at 1:1
            idle = median_ms(app.frame, args.reps)
            texs = [to_texture(p, pool.acquire(res, res)) for p in px]
            k = [0]

            def new_image_frame():
                k[0] ^= 1
                app.canvas.show(px[k[0]], texs[k[0]])
                app.frame()

            with_new = median_ms(new_image_frame, args.reps)
            idle2 = median_ms(app.frame, args.reps)
            idle_ms = min(idle, idle2)
            row = {"size": res, "convert_ours_ms": conv_ours, "convert_naive_ms": conv_naive,
                   "convert_speedup": conv_naive / conv_ours, "frame_idle_ms": idle_ms,
                   "frame_new_image_ms": with_new, "new_image_cost_ms": with_new - idle_ms,
                   "latency_ms": statistics.median(lat), "render_ms": statistics.median(rend),
                   "latency_minus_render_ms": statistics.median(lat) - statistics.median(rend),
                   "latencies_ms": lat, "frame_while_rendering_ms": statistics.median(busy) if busy else None}
            rows.append(row)
            print(f"{res}²: convert {conv_ours:.2f} ms (naive {conv_naive:.2f}), frame idle {idle_ms:.1f} ms "
                  f"(while rendering {row['frame_while_rendering_ms'] or 0:.1f} ms), "
                  f"new image +{with_new - idle_ms:.2f} ms, latency {row['latency_ms']:.0f} ms "
                  f"(render {row['render_ms']:.0f} ms)", flush=True)
    finally:
        app.close()
        if xvfb is not None:
            xvfb.terminate()

    print()
    print("| image | (a) convert ours ms | naive ms | speed-up | idle frame ms | (b) new image +ms "
          "| (c) latency ms | render ms | latency - render ms | (d) frame ms while rendering |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r['size']}² | {r['convert_ours_ms']:.2f} | {r['convert_naive_ms']:.2f} | "
              f"{r['convert_speedup']:.1f}× | {r['frame_idle_ms']:.1f} | {r['new_image_cost_ms']:+.2f} | "
              f"{r['latency_ms']:.0f} | {r['render_ms']:.0f} | {r['latency_minus_render_ms']:.0f} | "
              f"{r['frame_while_rendering_ms'] or 0:.1f} |")
    env = {"python": platform.python_version(), "torch": torch.__version__, "machine": platform.machine(),
           "cpus": os.cpu_count(), "loadavg": os.getloadavg(), "display": os.environ.get("DISPLAY"),
           "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"environment": env, "results": rows}, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
