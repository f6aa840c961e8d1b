"""Training options: one dataclass, defaults that depend on the resolution and the config, checks
with messages for people, and the networks those options describe.

Defaults (``resolve`` fills every option left as None):

* batch: ``max(min(4096 // res, 32) · gpus, gpus)`` capped at 64 (the ADA paper's heuristic);
  batch_gpu: batch / gpus (less means gradient accumulation);
* gamma (R1 weight): ``0.0002 · res² / batch`` (ADA paper);
* channels: cbase 32768 above 256², 16384 up to 256²; cmax 512; mapping layers 8 for
  StyleGAN2, 2 for StyleGAN3; z_dim = w_dim = 512;
* learning rates: 0.0025 for G; 0.0025 (StyleGAN2) / 0.002 (StyleGAN3) for D; Adam betas (0, 0.99);
* G EMA half-life ``batch · 10 / 32`` kimg with ramp-up 0.05; minibatch-stddev group 4
  (or the largest of 2, 1 dividing batch_gpu);
* StyleGAN3 synthesis: 14 layers and a margin of 10 samples (the paper's, at every resolution);
  --layers / --margin make a cheaper G for small images (8 and 4: ~2.9x the img/s at 32², but a
  small margin costs translation equivariance; 8 and 10: ~1.75x);
* path-length weight 2 for StyleGAN2, 0 for StyleGAN3 (as the StyleGAN3 paper); style mixing 0.9
  for every config (StyleGAN3's paper turns it off; ganscope keeps it so that style mixing in
  the explorer separates coarse from fine factors — pass --style-mixing 0 for the paper's setting);
* StyleGAN3-R: D inputs blurred with sigma 10 fading out over ``batch · 200 / 32`` kimg;
  doubled channels and radial filters (as the paper's config R).

``cfg`` stylegan1 / biggan / biggan-deep are resolved by ``families.resolve_family`` (their
defaults and how the shared options map to them are listed there).
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

STYLEGAN_CONFIGS = ("stylegan2", "stylegan3-t", "stylegan3-r")   # the Trainer of trainer.py
FAMILY_CONFIGS = ("stylegan1", "biggan", "biggan-deep")              # the trainers of families.py
CONFIGS = STYLEGAN_CONFIGS + FAMILY_CONFIGS
SG1_LOSSES = ("wgan-gp", "r1")
AUG_MODES = ("ada", "noaug", "fixed")
AUGPIPES = ("blit", "geom", "color", "bg", "bgc")   # the named sets of gan_core.train.augment


@dataclass
class TrainOptions:
    data: str = ""
    outdir: str | None = None
    run_dir: str | None = None
    cfg: str | None = "stylegan2"        # None: the --resume generator file's, else stylegan2 (options_for_start)
    gpus: int = 1
    batch: int | None = None
    batch_gpu: int | None = None
    gamma: float | None = None
    kimg: float = 25000
    tick: float | None = None            # kimg per tick
    tick_seconds: float = 60.0           # … or at most this many seconds per tick
    snap: int = 50                       # ticks between snapshots (0: only at the end)
    resume: str | None = None
    mirror: bool = False
    aug: str | None = None               # 'ada', 'noaug' or 'fixed'; None: ada (StyleGAN2/3), noaug (BigGAN)
    p: float = 0.2                       # augment probability for --aug fixed
    augpipe: str | None = None           # which transforms --aug ada/fixed uses; None: bgc (none with noaug)
    target: float = 0.6                  # ADA target r_t
    ada_kimg: float = 500
    ada_interval: int = 4
    cond: bool = False
    seed: int = 0
    workers: int = 3
    keep_snapshots: int = 5
    preview_interval: float = 10.0
    cbase: int | None = None
    cmax: int | None = None              # 512 (BigGAN: see families.py)
    d_cbase: int | None = None           # D's own channel base / max (StyleGAN2/3; default: cbase / cmax)
    d_cmax: int | None = None
    map: int | None = None
    layers: int | None = None            # StyleGAN3 synthesis layers (default 14, the paper's; fewer: a cheaper G)
    margin: int | None = None            # StyleGAN3 margin in samples around the image (default 10)
    z_dim: int | None = None             # 512 (BigGAN 120, BigGAN-deep 128)
    w_dim: int | None = None             # 512 (BigGAN/-deep: the class-embedding size, 128)
    mbstd_group: int | None = None
    glr: float | None = None
    dlr: float | None = None
    ema_kimg: float | None = None
    ema_rampup: float | None = 0.05
    d_warmup: float | None = None        # kimg of D-only steps before G trains (default: 2 when starting
                                         # from a generator file that has no D, else 0)
    style_mixing: float = 0.9
    pl_weight: float | None = None
    r1_interval: int = 16
    pl_interval: int = 4
    blur_sigma: float | None = None
    blur_fade_kimg: float | None = None
    fp32: bool | None = None             # float32 only (default: false — mixed precision on CUDA — for
                                         # stylegan2/3; true for stylegan1 / biggan, see families.py)
    bf16: bool = False                   # on the CPU, the blocks that use float16 on CUDA compute in bfloat16
                                         # (--bf16; stylegan2/3; gan_core.models.half)
    freezed: int | None = None           # D layers (from the image side) kept frozen: FreezeD (default 0)
    device: str = "auto"
    strict_data: bool = False
    desc: str | None = None
    grid: tuple[int, int] | None = None  # preview grid (columns, rows)
    metrics: str = "none"                # quality measured at each snapshot: 'none', 'swd' or 'fid' (metrics.py)
    metrics_num: int = 1000              # images per set for it
    inception: str | None = None         # FID Inception weights file for --metrics fid (default $GANSCOPE_INCEPTION)
    # StyleGAN1 (progressive growing; gan_core.train.families / progressive.py)
    loss: str | None = None              # 'wgan-gp' (default) or 'r1'
    phase_kimg: float | None = None      # kimg of each fade-in and each stable phase (default 600)
    start_res: int | None = None         # first resolution (default 8)
    # BigGAN / BigGAN-deep (gan_core.train.families / biggan.py)
    d_steps: int | None = None           # D steps per G step (default 2)
    ortho: float | None = None           # orthogonal regularization beta on G (default 1e-4; 0: off)
    ema_start: int | None = None         # G steps before the G EMA starts averaging (default 20000)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d["grid"] is not None:
            d["grid"] = list(d["grid"])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainOptions":
        names = {f.name for f in dataclasses.fields(cls)}
        kw = {k: v for k, v in d.items() if k in names}
        if kw.get("grid") is not None:
            kw["grid"] = tuple(kw["grid"])
        return cls(**kw)

    @property
    def family(self) -> str:
        if self.cfg in STYLEGAN_CONFIGS:
            return "stylegan2" if self.cfg == "stylegan2" else "stylegan3"
        return self.cfg


class OptionError(ValueError):
    """A bad combination of training options (message says which and what to do)."""


# TrainOptions fields only the other families use: field -> command-line flag / config
FAMILY_ONLY = {"loss": "--loss", "phase_kimg": "--phase-kimg", "start_res": "--start-res", "d_steps": "--d-steps",
               "ortho": "--ortho", "ema_start": "--ema-start"}
FAMILY_ONLY_CFG = {"loss": "stylegan1", "phase_kimg": "stylegan1", "start_res": "stylegan1",
                   "d_steps": "biggan/biggan-deep", "ortho": "biggan/biggan-deep", "ema_start": "biggan/biggan-deep"}


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise OptionError(msg)


def check_metrics(o: TrainOptions) -> None:
    """``--metrics`` / ``--metrics-num`` / ``--inception`` (every family): FID needs the Inception
    weights file now, not at the first snapshot hours later; its absolute path is kept, so a
    resume finds it from any folder."""
    from gan_core.train.metrics import METRICS

    _check(o.metrics in METRICS, f"--metrics must be one of {', '.join(METRICS)}, got {o.metrics!r}")
    _check(o.metrics_num >= 16, f"--metrics-num must be at least 16, got {o.metrics_num}")
    if o.metrics == "fid":
        from gan_core.analysis.fid import InceptionError, resolve_weights_path
        try:
            o.inception = str(resolve_weights_path(o.inception).resolve())
        except InceptionError as e:
            raise OptionError(f"--metrics fid: {e}") from None
    else:
        _check(o.inception is None, "--inception is the weights file of --metrics fid")


def resolve(opts: TrainOptions, resolution: int, world_size: int) -> TrainOptions:
    """A copy of ``opts`` with every default filled in for this resolution and process count;
    raises OptionError for impossible values."""
    o = dataclasses.replace(opts)
    _check(o.cfg in CONFIGS, f"--cfg must be one of {', '.join(CONFIGS)}, got {o.cfg!r}")
    if o.cfg in FAMILY_CONFIGS:
        from gan_core.train.families import resolve_family

        return resolve_family(o, resolution, world_size)
    o.fp32 = False if o.fp32 is None else bool(o.fp32)
    o.bf16 = bool(o.bf16)
    _check(not (o.bf16 and o.fp32), "--bf16 runs the networks' reduced-precision blocks in bfloat16, and --fp32 "
           "true builds them without any: leave out one of the two")
    for name, flag in FAMILY_ONLY.items():
        _check(getattr(o, name) is None, f"{flag} is a {FAMILY_ONLY_CFG[name]} option; --cfg {o.cfg} does not use it")
    if o.cmax is None:
        o.cmax = 512
    if o.z_dim is None:
        o.z_dim = 512
    if o.w_dim is None:
        o.w_dim = 512
    o.aug = "ada" if o.aug is None else o.aug
    _check(o.aug in AUG_MODES, f"--aug must be one of {', '.join(AUG_MODES)}, got {o.aug!r}")
    resolve_augpipe(o)
    _check(o.kimg > 0, f"--kimg must be positive, got {o.kimg}")
    _check(o.gpus >= 1, f"--gpus must be at least 1, got {o.gpus}")
    _check(0 <= o.p <= 1, f"--p must be in [0, 1], got {o.p}")
    _check(o.keep_snapshots >= 1, f"--keep-snapshots must be at least 1, got {o.keep_snapshots}")
    _check(o.preview_interval > 0, f"--preview-interval must be positive, got {o.preview_interval}")
    _check(o.snap >= 0, f"--snap must be >= 0, got {o.snap}")
    _check(o.workers >= 0, f"--workers must be >= 0, got {o.workers}")
    _check(o.d_warmup is None or o.d_warmup >= 0, f"--d-warmup must be >= 0 kimg, got {o.d_warmup}")
    o.freezed = 0 if o.freezed is None else int(o.freezed)
    _check(o.freezed >= 0, f"--freezed must be >= 0, got {o.freezed}")
    _check(0 <= o.style_mixing <= 1, f"--style-mixing must be in [0, 1], got {o.style_mixing}")
    check_metrics(o)
    _check(o.z_dim >= 1 and o.w_dim >= 1, "--zdim and --wdim must be positive")
    if o.batch is None:
        o.batch = min(max(min(4096 // resolution, 32) * world_size, world_size), max(64, world_size))
    _check(o.batch >= 1, f"--batch must be at least 1, got {o.batch}")
    _check(o.batch % world_size == 0, f"--batch {o.batch} must be a multiple of the number of processes "
                                      f"({world_size})")
    per_rank = o.batch // world_size
    if o.batch_gpu is None:
        o.batch_gpu = per_rank
    _check(o.batch_gpu >= 1, f"--batch-gpu must be at least 1, got {o.batch_gpu}")
    _check(per_rank % o.batch_gpu == 0, f"--batch {o.batch} over {world_size} process(es) is {per_rank} per "
                                        f"process, which is not a multiple of --batch-gpu {o.batch_gpu}")
    if o.mbstd_group is None:
        o.mbstd_group = next(g for g in (4, 2, 1) if o.batch_gpu % g == 0)
    _check(o.batch_gpu % o.mbstd_group == 0, f"--batch-gpu {o.batch_gpu} must be a multiple of the "
                                             f"minibatch-stddev group ({o.mbstd_group})")
    if o.gamma is None:
        o.gamma = round(0.0002 * resolution ** 2 / o.batch, 6)
    _check(o.gamma >= 0, f"--gamma must be >= 0, got {o.gamma}")
    if o.cbase is None:
        o.cbase = 32768 if resolution > 256 else 16384
    _check(o.cbase >= 1 and o.cmax >= 1, "--cbase and --cmax must be positive")
    o.d_cbase = o.cbase if o.d_cbase is None else o.d_cbase
    o.d_cmax = o.cmax if o.d_cmax is None else o.d_cmax
    _check(o.d_cbase >= 1 and o.d_cmax >= 1, "--d-cbase and --d-cmax must be positive")
    if o.map is None:
        o.map = 8 if o.cfg == "stylegan2" else 2
    if o.cfg == "stylegan2":
        for name in ("layers", "margin"):
            _check(getattr(o, name) is None, f"--{name} is a StyleGAN3 option (its synthesis network); "
                                             f"--cfg stylegan2 does not use it")
    else:
        o.layers = 14 if o.layers is None else int(o.layers)
        o.margin = 10 if o.margin is None else int(o.margin)
        # (the last two layers are critically sampled: at least one layer must come before them)
        _check(o.layers >= 3, f"--layers must be at least 3 for StyleGAN3, got {o.layers}")
        _check(o.margin >= 0, f"--margin must be >= 0, got {o.margin}")
    _check(o.map >= 1, f"--map must be at least 1, got {o.map}")
    if o.glr is None:
        o.glr = 0.0025
    if o.dlr is None:
        o.dlr = 0.0025 if o.cfg == "stylegan2" else 0.002
    if o.ema_kimg is None:
        o.ema_kimg = o.batch * 10 / 32
    _check(o.ema_kimg >= 0, f"--ema-kimg must be 0 (no averaging) or more, got {o.ema_kimg}")
    if o.pl_weight is None:
        o.pl_weight = 2.0 if o.cfg == "stylegan2" else 0.0
    if o.blur_sigma is None:
        o.blur_sigma = 10.0 if o.cfg == "stylegan3-r" else 0.0
    if o.blur_fade_kimg is None:
        o.blur_fade_kimg = o.batch * 200 / 32
    if o.tick is None:
        o.tick = min(max(o.kimg / 100, o.batch / 1000), 4.0)
    _check(o.tick > 0, f"--tick must be positive, got {o.tick}")
    if o.grid is None:
        cols = min(max(512 // resolution, 4), 8)
        o.grid = (cols, 4)
    return o


def generator_kwargs(o: TrainOptions, resolution: int, channels: int, c_dim: int) -> dict[str, Any]:
    """Constructor arguments of the generator for resolved options."""
    kw: dict[str, Any] = dict(z_dim=o.z_dim, c_dim=c_dim, w_dim=o.w_dim, img_resolution=resolution,
                              img_channels=channels, mapping_kwargs={"num_layers": o.map},
                              channel_base=o.cbase, channel_max=o.cmax,
                              num_fp16_res=0 if o.fp32 else 4, conv_clamp=None if o.fp32 else 256)
    if o.cfg != "stylegan2":
        kw["magnitude_ema_beta"] = 0.5 ** (o.batch / (20 * 1e3))
        kw.update(num_layers=o.layers, margin_size=o.margin)
    if o.cfg == "stylegan3-r":
        kw.update(conv_kernel=1, channel_base=o.cbase * 2, channel_max=o.cmax * 2, use_radial_filters=True)
    return kw


def discriminator_kwargs(o: TrainOptions, resolution: int, channels: int, c_dim: int) -> dict[str, Any]:
    return dict(c_dim=c_dim, img_resolution=resolution, img_channels=channels, architecture="resnet",
                channel_base=o.d_cbase, channel_max=o.d_cmax, num_fp16_res=0 if o.fp32 else 4,
                conv_clamp=None if o.fp32 else 256, epilogue_kwargs={"mbstd_group_size": o.mbstd_group},
                block_kwargs={"freeze_layers": o.freezed} if o.freezed else {})


def resolve_augpipe(o: TrainOptions) -> None:
    """The transform set for a resolved ``--aug``: bgc by default; none when nothing is augmented
    (so that a resume with ``--aug noaug`` needs no ``--augpipe`` change)."""
    if o.aug == "noaug":
        o.augpipe = None
        return
    o.augpipe = "bgc" if o.augpipe is None else o.augpipe
    _check(o.augpipe in AUGPIPES, f"--augpipe must be one of {', '.join(AUGPIPES)}, got {o.augpipe!r}")


def augmentation(o: TrainOptions, device: Any):
    """(AugmentPipe or None, AdaController or None) for resolved options' --aug / --p / --target."""
    from gan_core.train.augment import make_augmentation

    return make_augmentation(o.aug, p=o.p, target=o.target, interval=o.ada_interval, ada_kimg=o.ada_kimg,
                             device=device, augpipe=o.augpipe or "bgc")


def with_frozen_layers(D: Any, n: int) -> Any:
    """``D`` (a StyleGAN2 discriminator) with its first ``n`` layers, counted from the image side
    as the official ``--freezed`` counts them (fromRGB, conv0, conv1, skip of each block), frozen:
    they become buffers, so no optimizer sees them (FreezeD, Mo et al. 2020: fine-tuning a trained
    D on little data). The same D when it is frozen that way already; else rebuilt with its
    weights."""
    config = D.config()
    block_kwargs = dict(config.get("block_kwargs") or {})
    if int(block_kwargs.get("freeze_layers", 0)) == n:
        return D
    total = sum(getattr(D, f"b{r}").num_layers for r in D.block_resolutions)
    if n > total:
        raise OptionError(f"--freezed {n}: this discriminator has {total} layers before its 4×4 head")
    block_kwargs["freeze_layers"] = n
    frozen = type(D)(**{**config, "block_kwargs": block_kwargs}).to(next(iter(D.state_dict().values())).device)
    frozen.load_state_dict(D.state_dict())
    return frozen.train(D.training).requires_grad_(False)


def build_networks(o: TrainOptions, resolution: int, channels: int, c_dim: int):
    """(G, D) for resolved options, freshly initialised from the current torch RNG."""
    from gan_core.models import stylegan2

    if o.family == "stylegan2":
        G = stylegan2.Generator(**generator_kwargs(o, resolution, channels, c_dim))
    else:
        from gan_core.models import stylegan3

        G = stylegan3.Generator(**generator_kwargs(o, resolution, channels, c_dim))
    D = stylegan2.Discriminator(**discriminator_kwargs(o, resolution, channels, c_dim))
    return G, D


# What a StyleGAN2/3 generator is built with, as `ganscope train` names it (field -> flag).
GENERATOR_BUILT = {"cfg": "--cfg", "cbase": "--cbase", "cmax": "--cmax", "map": "--map", "z_dim": "--zdim",
                   "w_dim": "--wdim", "layers": "--layers", "margin": "--margin"}


def generator_built_with(G: Any) -> dict[str, Any] | None:
    """The options (``GENERATOR_BUILT``) a StyleGAN2/3 generator was built with; None for other
    families. Config R doubles the channels (``generator_kwargs``): its cbase / cmax are halved back."""
    from gan_core.models import stylegan2, stylegan3

    config = G.config()
    if isinstance(G, stylegan3.Generator):
        cfg = "stylegan3-r" if config.get("conv_kernel", 3) == 1 else "stylegan3-t"
    elif isinstance(G, stylegan2.Generator):
        cfg = "stylegan2"
    else:
        return None
    k = 2 if cfg == "stylegan3-r" else 1
    built: dict[str, Any] = {"cfg": cfg, "cbase": config["channel_base"] // k, "cmax": config["channel_max"] // k,
                             "z_dim": config["z_dim"], "w_dim": config["w_dim"]}
    layers = (config.get("mapping_kwargs") or {}).get("num_layers")
    if layers is not None:
        built["map"] = int(layers)
    if cfg != "stylegan2":
        built["layers"] = int(config["num_layers"])
        built["margin"] = int(config["margin_size"])
    return built


def options_for_start(opts: TrainOptions) -> tuple[TrainOptions, Any]:
    """``(opts, checkpoint or None)`` for a StyleGAN2/3 run about to start or resume: the --resume
    file read once, and, when it holds no training state (an official pickle, a --generator-only
    file such as the built-in demo), the options its generator was built with taken from it — a
    new D then matches G (--d-cbase / --d-cmax default to G's widths) and training_options.json
    says what G is. An option left out (None) is filled in; one that says otherwise is an error.
    ``cfg`` None (not given): the file's, else stylegan2."""
    ck = None
    if opts.resume:
        from gan_core.io import load_checkpoint
        from gan_core.train.snapshot import resolve_resume

        path = resolve_resume(opts.resume)
        ck = load_checkpoint(path)
        src = ck.G if ck.G is not None else ck.G_ema
        if not ck.training_state and src is not None:
            built = generator_built_with(src)
            if built is None:
                _check(opts.cfg is not None, f"--resume {path.name}: its generator is not a StyleGAN2/3 one; give --cfg")
            else:
                changes = {}
                for field, value in built.items():
                    given = getattr(opts, field)
                    if given is None:
                        changes[field] = value
                    else:
                        _check(given == value, f"{GENERATOR_BUILT[field]} {given}: the generator in {path.name} was built "
                                               f"with {value} (it comes from the file: leave {GENERATOR_BUILT[field]} out)")
                opts = dataclasses.replace(opts, **changes)
    if ck is not None and ck.training_state and ck.D is not None and (opts.d_cbase is None or opts.d_cmax is None):
        # D comes from the snapshot: its widths are the snapshot's, whatever G's are now (a resume
        # may widen a StyleGAN3 G, gan_core.train.widen)
        dc = ck.D.config()
        if "channel_base" in dc and "channel_max" in dc:
            opts = dataclasses.replace(opts, d_cbase=opts.d_cbase if opts.d_cbase is not None else dc["channel_base"],
                                       d_cmax=opts.d_cmax if opts.d_cmax is not None else dc["channel_max"])
    if opts.cfg is None:
        opts = dataclasses.replace(opts, cfg="stylegan2")
    return opts, ck


def run_description(o: TrainOptions, data_name: str, world_size: int) -> str:
    if o.desc:
        return o.desc
    gamma = ("%g" % o.gamma) if o.gamma is not None else "auto"
    return f"{o.cfg}-{data_name}-gpus{world_size}-batch{o.batch}-gamma{gamma}"
