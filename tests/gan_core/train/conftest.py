"""Shared fixtures for the training tests: a tiny procedural dataset and tiny options."""
from __future__ import annotations

import pytest

from gan_core.data import write_procedural_zip
from gan_core.train import TrainOptions


@pytest.fixture(scope="session")
def tiny_zip(tmp_path_factory):
    """32 procedural 16×16 images with shape labels."""
    path = tmp_path_factory.mktemp("data") / "proc16.zip"
    write_procedural_zip(path, count=32, resolution=16, labels=True)
    return path


@pytest.fixture(scope="module")
def labelled(tmp_path_factory):
    """An opened dataset of 24 procedural 16×16 images with one-hot shape labels (BigGAN's data)."""
    from gan_core.data.dataset import open_dataset

    path = tmp_path_factory.mktemp("data") / "proc16.zip"
    write_procedural_zip(path, count=24, resolution=16, labels=True)
    ds = open_dataset(path, use_labels=True)
    yield ds
    ds.close()


def tiny_options(data, run_dir, **kw) -> TrainOptions:
    """A model small enough that a step takes a few tens of milliseconds on one CPU core."""
    base = dict(data=str(data), run_dir=None if run_dir is None else str(run_dir), cfg="stylegan2", kimg=0.016, batch=4, cbase=128, cmax=16,
                map=2, z_dim=16, w_dim=16, workers=0, tick=0.004, snap=0, preview_interval=0.5, grid=(2, 2))
    base.update(kw)
    return TrainOptions(**base)
