"""--freezed N (FreezeD): fine-tuning a trained G and D with D's first N layers frozen, counted from
the image side as the official trainer counts them; kept through snapshots and resume."""
from __future__ import annotations

import pytest
import torch

from gan_core.cli import main
from gan_core.io import load_checkpoint, save_checkpoint
from gan_core.train import OptionError, train
from gan_core.train.options import with_frozen_layers
from gan_core.train.trainer import Trainer

from .conftest import tiny_options


@pytest.fixture(scope="module")
def trained_file(tiny_zip, tmp_path_factory):
    """G, D and G_ema without a training state, as an official pickle gives them."""
    tmp = tmp_path_factory.mktemp("trained")
    assert train(tiny_options(tiny_zip, tmp / "run", kimg=0.008, aug="noaug"), progress=False) == "finished"
    ck = load_checkpoint(tmp / "run" / "network-snapshot-000000.pt")
    path = tmp / "trained.pt"
    save_checkpoint(path, G=ck.G, D=ck.D, G_ema=ck.G_ema)
    return path


def test_frozen_layers_do_not_train_and_the_rest_does(tiny_zip, tmp_path, trained_file):
    t = Trainer(tiny_options(tiny_zip, tmp_path / "ft", kimg=1, resume=str(trained_file), freezed=3, aug="noaug"))
    try:
        # the 16² block's fromRGB, conv0 and conv1 (its skip is the 4th layer)
        frozen = {"b16.fromrgb.weight", "b16.conv0.weight", "b16.conv1.weight"}
        params = dict(t.D.named_parameters())
        assert frozen.isdisjoint(params) and "b16.skip.weight" in params
        buffers = dict(t.D.named_buffers())
        assert frozen <= set(buffers)
        src = load_checkpoint(trained_file).D.state_dict()
        for name, value in t.D.state_dict().items():      # the trained weights, frozen or not
            assert torch.equal(value, src[name]), name
        assert "D's first 3 layers frozen" in t.describe()
        for _ in range(3):
            t.step()
        now = t.D.state_dict()
        assert all(torch.equal(now[n], src[n]) for n in frozen)
        assert not torch.equal(now["b16.skip.weight"], src["b16.skip.weight"])
        assert not torch.equal(now["b4.fc.weight"], src["b4.fc.weight"])
        snap = t.save_snapshot()
    finally:
        t.close()
    assert load_checkpoint(snap).D.config()["block_kwargs"] == {"freeze_layers": 3}


def test_freezed_is_kept_on_resume_and_cannot_change(tiny_zip, tmp_path, trained_file, capsys):
    run = tmp_path / "run"
    args = ["--batch", "4", "--workers", "0", "--no-progress", "--aug", "noaug"]
    assert main(["train", "--data", str(tiny_zip), "--resume", str(trained_file), "--run-dir", str(run),
                 "--kimg", "0.008", "--freezed", "2"] + args) == 0
    assert main(["train", "--resume", str(run), "--kimg", "0.016", "--no-progress"]) == 0
    ck = load_checkpoint(run / "network-snapshot-000000.pt")
    assert ck.training_state["cur_nimg"] == 16 and ck.D.config()["block_kwargs"]["freeze_layers"] == 2
    capsys.readouterr()
    assert main(["train", "--resume", str(run), "--kimg", "0.024", "--freezed", "0", "--no-progress"]) == 2
    assert "--freezed cannot change on resume" in capsys.readouterr().err


def test_too_many_frozen_layers_is_refused(tiny_zip, trained_file):
    D = load_checkpoint(trained_file).D
    # 16²: fromRGB, conv0, conv1, skip of b16 and conv0, conv1, skip of b8
    with pytest.raises(OptionError, match="has 7 layers before its 4×4 head"):
        with_frozen_layers(D, 8)
    assert len(list(with_frozen_layers(D, 7).named_parameters())) < len(list(D.named_parameters()))
    assert with_frozen_layers(D, 0) is D
