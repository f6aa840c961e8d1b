"""Checkpoints: our native ``.pt`` format and official NVIDIA pickles (see DESIGN.md).

* :func:`load_checkpoint` / :func:`load_generator_from_file` read any supported file; the
  format is sniffed from the content. Nothing in a file is ever executed.
* :func:`save_checkpoint` writes the native format atomically.
* Every problem with a file is a :class:`CheckpointError` whose one-line message names it.
"""
from gan_core.io.errors import CheckpointError
from gan_core.io.native import FORMAT_VERSION, save_checkpoint
from gan_core.io.checkpoint import LoadedCheckpoint, load_checkpoint, load_generator_from_file

__all__ = ["CheckpointError", "FORMAT_VERSION", "LoadedCheckpoint", "load_checkpoint",
           "load_generator_from_file", "save_checkpoint"]
