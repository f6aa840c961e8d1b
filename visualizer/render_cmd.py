"""``ganscope render``: one frame of the app without the window.

Takes the same settings the window edits (a PNG saved by the app or by ``ganscope generate``, a
preset, and/or ``--set field=value``), renders them with the app's own renderer and writes what
the canvas would show — the image, a layer's channels, its spectrum or the equivariance error
map — as a PNG that the app reopens. So every inspector view is scriptable, and a picture made in
the window can be remade, changed one field at a time, from a shell.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from gan_core.cli.common import finite_float

VIEWS = ("image", "layer", "spectrum", "eq_error")


def add_parser(sub) -> None:
    p = sub.add_parser("render", help="render the app's view (image, layer, spectrum, error map) to a PNG",
                       description="Render what the app's canvas shows for a set of settings, without a "
                                   "window. Settings start from the defaults, or --settings (a PNG saved by "
                                   "ganscope or a preset .json), then --network, --seed, --view, --layer and "
                                   "--set FIELD=VALUE apply in that order. FIELD is any name in a preset file "
                                   "(e.g. trunc_psi, mix_seed, mix_layers, noise_mode, translate, rotate, "
                                   "layer_channel, layer_rgb, eq_metric); VALUE is JSON (0.7, [0,1,2], "
                                   "true, null) or a plain word.")
    p.add_argument("--network", default=None, help="checkpoint file, or 'demo' (default: the settings' model, "
                                                   "else the demo model)")
    p.add_argument("--settings", default=None, help="start from a PNG saved by ganscope or a preset .json")
    p.add_argument("--seed", type=finite_float, default=None, help="latent seed (fractional values blend seeds)")
    p.add_argument("--view", default=None, choices=VIEWS, help="what to render (default image, or the settings')")
    p.add_argument("--layer", default=None, help="layer to inspect (see --list-layers)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="FIELD=VALUE",
                   help="change one setting; repeat for more")
    p.add_argument("--scale", type=int, default=1, help="enlarge the picture N times, nearest neighbour (default 1)")
    p.add_argument("--out", default="render.png", help="PNG to write (default ./render.png)")
    p.add_argument("--list-layers", action="store_true",
                   help="print the model's layers (name, shape, dtype) and its ws, then exit")
    p.add_argument("--json", action="store_true", help="print what was rendered (metrics, timings) as JSON")
    p.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")


def parse_sets(items: list[str]) -> dict:
    """``['trunc_psi=0.7', 'layer=L3_36_64']`` -> ``{'trunc_psi': 0.7, 'layer': 'L3_36_64'}``."""
    from widgets.render_args import ArgsError, RenderArgs

    names = [f.name for f in dataclasses.fields(RenderArgs)]
    out: dict = {}
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ArgsError(f"--set {item!r}: expected FIELD=VALUE, e.g. --set trunc_psi=0.7")
        if key not in names:
            raise ArgsError(f"--set {item!r}: there is no setting {key!r}; the settings are {', '.join(names)}")
        try:
            out[key] = json.loads(text)
        except json.JSONDecodeError:
            out[key] = text            # a plain word: a layer name, a noise mode, a path
    return out


def resolve_layer(name: str, names: list[str]) -> str:
    """A layer by its full name or by what follows the last dot (``L5_52_64`` for
    ``synthesis.L5_52_64``), as the Layers panel shows them."""
    from gan_core.cli.common import CliError

    if name in names:
        return name
    hits = [n for n in names if n.rsplit(".", 1)[-1] == name or n.endswith("." + name)]
    if len(hits) == 1:
        return hits[0]
    if hits:
        raise CliError(f"layer {name!r} is ambiguous: {', '.join(hits)}")
    raise CliError(f"this model has no layer {name!r} (ganscope render --list-layers shows them)")


def build_args(opts):
    """The RenderArgs the options describe (raises ArgsError naming the bad option)."""
    from visualizer.files import read_args_from_png
    from widgets.preset_files import load_preset
    from widgets.render_args import RenderArgs

    base = RenderArgs()
    if opts.settings:
        base = (load_preset(Path(opts.settings)) if opts.settings.lower().endswith(".json")
                else read_args_from_png(opts.settings))
    d = base.to_dict()
    d["device"] = opts.device
    if opts.network is not None:
        d["model"] = opts.network
    if opts.seed is not None:
        d["latent_x"], d["latent_y"] = opts.seed, 0.0
    if opts.layer is not None:
        d["layer"] = opts.layer
        if opts.view is None and d.get("canvas_view") == "image":
            d["canvas_view"] = "layer"
    if opts.view is not None:
        d["canvas_view"] = opts.view
    d.update(parse_sets(opts.sets))
    return RenderArgs.from_dict(d, where="the render settings")


def run(opts) -> int:
    import os

    from gan_core.cli.common import CliError
    from gan_core.models.demo import is_demo_name
    from widgets.render_args import ArgsError

    if not 1 <= opts.scale <= 16:
        raise CliError(f"--scale must be between 1 and 16, got {opts.scale}")
    try:
        args = build_args(opts)
    except ArgsError as e:
        raise CliError(str(e)) from None
    if not is_demo_name(args.model) and not os.path.isfile(args.model):
        raise CliError(f"{args.model}: no such file (give a checkpoint file, or 'demo')")
    if args.device != "cpu" and not args.device.startswith("cuda"):
        raise CliError(f"unknown device {args.device!r}: use cpu or cuda")
    from visualizer.renderer import Renderer

    renderer = Renderer()
    try:
        _, info = renderer.get_model(args.model, args.device)
    except Exception as e:  # noqa: BLE001 - one line for a person, as the window shows it
        raise CliError(f"cannot open {args.model}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    if opts.list_layers:
        print(f"{info.label}: {len(info.layers)} layers, {info.num_ws} ws")
        for layer in info.layers:
            print(f"  {layer.name:<28} {'x'.join(str(v) for v in layer.shape):<14} {layer.dtype}")
        print("  ws resolutions: " + " ".join(str(v) for v in info.ws_resolutions))
        return 0
    if args.layer is not None:
        args = args.replace(layer=resolve_layer(args.layer, [layer.name for layer in info.layers]))
    r = renderer.render(args)
    if r.error:
        raise CliError(r.error)
    if r.view_note:
        raise CliError(r.view_note.replace("in the Layers panel", "with --layer").replace(
            "in the Equivariance panel", "with --set eq_metric=eqt|eqt_frac|eqr"))
    from gan_core.media import enlarge, save_png
    from visualizer.files import PNG_ARGS_KEY
    try:
        path = save_png(enlarge(r.view, opts.scale), Path(opts.out), text={PNG_ARGS_KEY: args.to_json(), "Software": "ganscope"})
    except OSError as e:
        raise CliError(f"cannot write {opts.out}: {e}") from None
    summary = {"out": str(path), "model": r.model.label, "view": args.canvas_view,
               "size": [int(r.view.shape[1]) * opts.scale, int(r.view.shape[0]) * opts.scale],
               "timings_ms": {k: round(v, 2) for k, v in r.timings.items()}}
    if r.layer_shape is not None:
        summary["layer"] = {"name": args.layer, "shape": list(r.layer_shape), "stats": r.layer_stats}
    if r.eq is not None:
        summary["equivariance"] = r.eq
    if opts.json:
        print(json.dumps(summary, indent=2, default=float))
        return 0
    print(path)
    if r.layer_shape is not None:
        st = r.layer_stats or {}
        line = "  ".join(f"{k} mean {v['mean']:+.4g} std {v['std']:.4g} max {v['max']:.4g}" for k, v in st.items())
        print(f"layer {args.layer} {'x'.join(map(str, r.layer_shape))}: {line}")
    if r.eq is not None:
        print(f"{r.eq['metric']}: {r.eq['psnr_db']:.2f} dB")
    return 0
