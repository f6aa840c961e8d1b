"""What the sub-commands share: devices, loading networks, turning failures into messages."""
from __future__ import annotations

import contextlib
import json
import math
from pathlib import Path
from typing import Iterator

import torch


class CliError(Exception):
    """A failure to report to the user in one line (no traceback)."""


@contextlib.contextmanager
def user_errors(context: str = "") -> Iterator[None]:
    """Turn the library's expected failures into CliError."""
    from gan_core.io import CheckpointError
    try:
        yield
    except CliError:
        raise
    except (CheckpointError, ValueError, KeyError, FileNotFoundError, PermissionError, IsADirectoryError) as e:
        msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
        raise CliError(f"{context}{msg}") from None
    except torch.cuda.OutOfMemoryError:
        raise CliError(f"{context}the GPU ran out of memory; try a smaller batch or --device cpu") from None


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise CliError(f"--device {name} was asked for but this machine has no usable CUDA device; "
                           "use --device cpu or auto")
        return torch.device(name)
    raise CliError(f"unknown device {name!r}: use auto, cpu or cuda")


def add_device_arg(p) -> None:
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda[:N] (default auto)")


def load_generator_for_cli(network: str, device: torch.device) -> torch.nn.Module:
    """A generator from a file path or the name ``demo``."""
    from gan_core import load_generator
    with user_errors():
        return load_generator(network, device=device)


def describe_network(network: str) -> str:
    from gan_core.models.demo import is_demo_name
    return f"the built-in {network} model" if is_demo_name(network) else str(Path(network))


def finite_float(text: str) -> float:
    """argparse type for every float option: 'nan' and 'inf' parse as floats but mean nothing here."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


finite_float.__name__ = "finite number"


def parse_bool(text: str) -> bool:
    """argparse type for the BOOL options (``--mirror``, ``--fp32`` …): true/false, yes/no, on/off, 1/0."""
    t = str(text).strip().lower()
    if t in ("1", "true", "yes", "on"):
        return True
    if t in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true or false, got {text!r}")


parse_bool.__name__ = "boolean (true/false)"


def saved_run_options(resume: str) -> dict:
    """Options of the run being resumed, or {}. For a snapshot file, the options it was trained with
    (its training state records them): training_options.json beside it holds the run's latest ones,
    which differ when a later resume changed an option and this is an earlier snapshot (a branch
    from the best one). Else training_options.json in the run directory or beside the file."""
    p = Path(resume)
    if p.is_file():
        from_snapshot = _snapshot_options(p)
        if from_snapshot:
            return from_snapshot
    f = (p if p.is_dir() else p.parent) / "training_options.json"
    if not f.is_file():
        return {}
    try:
        d = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return d if isinstance(d, dict) else {}


def _snapshot_options(path: Path) -> dict:
    """The options a native snapshot's training state records, or {} (a generator-only file, an
    official pickle, an unreadable file: those are reported when the resume loads it)."""
    try:
        from gan_core.io import load_checkpoint

        ts = load_checkpoint(path).training_state
    except Exception:   # noqa: BLE001 - any failure is reported by the resume's own load, clearly
        return {}
    if not isinstance(ts, dict):
        return {}
    # StyleGAN1 / BigGAN runs keep the command's options as train_options ("options" there is the
    # progressive trainer's own record); StyleGAN2/3 and distillation runs keep them as options
    opts = ts.get("train_options", ts.get("options"))
    return dict(opts) if isinstance(opts, dict) else {}


def check_resume_path(resume: str) -> None:
    """Say what is wrong with --resume before anything else complains about a missing --data."""
    p = Path(resume)
    if not p.exists():
        raise ValueError(f"--resume {resume}: no such run directory or snapshot file")
    if p.is_dir() and not (p / "training_options.json").is_file() and not any(p.glob("network-snapshot-*")):
        raise ValueError(f"--resume {resume}: not a training run directory (it has neither training_options.json "
                         f"nor network-snapshot-*.pt files); give a run directory or a snapshot file")


def refuse_built_in_change(flag: str, saved: object, value: object) -> None:
    """A resume takes its networks from the snapshot: an option they were built with cannot change
    (it would be recorded as if it applied while nothing changed)."""
    if value != saved:
        built = "its default" if saved is None else repr(saved)
        raise ValueError(f"{flag} cannot change on resume (the run's networks were built with {built} and come "
                         f"from its snapshot); start a new run for {value!r}")
