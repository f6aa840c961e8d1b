"""BigGAN training: hinge losses, G:D step ratio, orthogonal regularization, EMA start step,
and a short run on a tiny labelled procedural dataset."""
from __future__ import annotations

import pytest
import torch

from gan_core.data import procedural
from gan_core.data.dataset import open_dataset
from gan_core.models import biggan
from gan_core.train.biggan import BigGANTrainer, BigGANTrainOptions, hinge_d_loss, hinge_g_loss


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _nets(seed: int = 0):
    torch.manual_seed(seed)
    G = biggan.Generator(z_dim=12, c_dim=3, img_resolution=16, ch=8, shared_dim=8, channels=[[8, 8], [8, 8]],
                         attn_blocks=[0])
    D = biggan.Discriminator(c_dim=3, img_resolution=16, ch=8, channels=[[3, 8, True], [8, 8, True], [8, 8, False]],
                             attn_blocks=[0])
    return G, D


def test_hinge_losses():
    real = torch.tensor([[2.0], [0.5], [-1.0]])
    fake = torch.tensor([[-2.0], [0.0], [1.5]])
    lr, lf = hinge_d_loss(real, fake)
    assert lr.item() == pytest.approx((0 + 0.5 + 2.0) / 3)
    assert lf.item() == pytest.approx((0 + 1.0 + 2.5) / 3)
    assert hinge_g_loss(fake).item() == pytest.approx(-(-2.0 + 0.0 + 1.5) / 3)


def test_short_hinge_run(labelled):
    assert labelled.label_dim == 3
    G, D = _nets()
    opts = BigGANTrainOptions(batch=8, num_D_steps=2, G_ortho=1e-2, ema_start=3, ema_decay=0.9, lr_D=2e-3,
                              lr_G=5e-4, seed=1)
    tr = BigGANTrainer(G, D, labelled, opts)
    G0 = {k: v.clone() for k, v in G.state_dict().items()}
    D0 = {k: v.clone() for k, v in D.state_dict().items()}
    history = []
    for step in range(1, 13):
        s = tr.step()
        history.append(s)
        assert set(s) >= {"loss_D_real", "loss_D_fake", "loss_G", "ortho_G", "ema_decay"}
        assert s["ortho_G"] > 0
        if step <= 3:
            # before the start step the EMA generator is a copy of G
            for (k, a), b in zip(tr.G_ema.state_dict().items(), G.state_dict().values()):
                assert torch.equal(a, b), k
            assert s["ema_decay"] == 0.0
        else:
            assert s["ema_decay"] == 0.9
    assert tr.g_steps == 12 and tr.d_steps == 24 and tr.nimg == 24 * 8
    # both networks learned, spectral-norm vectors and batch-norm statistics moved
    assert not torch.equal(G.state_dict()["linear.weight"], G0["linear.weight"])
    assert not torch.equal(D.state_dict()["linear.weight"], D0["linear.weight"])
    assert not torch.equal(G.state_dict()["blocks.0.0.bn1.stored_mean"], G0["blocks.0.0.bn1.stored_mean"])
    assert not torch.equal(D.state_dict()["blocks.0.0.conv1.u0"], D0["blocks.0.0.conv1.u0"])
    # after the start the EMA lags G: it differs from G and from its frozen copy at the start
    w_ema, w_g = tr.G_ema.linear.weight, G.linear.weight
    assert not torch.equal(w_ema, w_g)
    # D separates reals from fakes better than at the start (hinge D loss at 0 logits is 2)
    first = history[0]["loss_D_real"] + history[0]["loss_D_fake"]
    last = sum(h["loss_D_real"] + h["loss_D_fake"] for h in history[-3:]) / 3
    assert last < first
    with torch.no_grad():
        img = tr.G_ema(torch.randn(2, 12), tr.G_ema.make_c([0, 2], 2))
    assert img.shape == (2, 3, 16, 16) and torch.isfinite(img).all()


def test_ema_after_start_is_an_average(labelled):
    G, D = _nets(1)
    tr = BigGANTrainer(G, D, labelled, BigGANTrainOptions(batch=8, num_D_steps=1, ema_start=0, ema_decay=0.5,
                                                          G_ortho=0.0, seed=2))
    before_ema = tr.G_ema.linear.weight.clone()
    s = tr.step()
    assert "ortho_G" not in s and s["ema_decay"] == 0.5
    torch.testing.assert_close(tr.G_ema.linear.weight, 0.5 * before_ema + 0.5 * G.linear.weight)


def test_unlabelled_dataset_is_refused(tmp_path):
    path = tmp_path / "plain.zip"
    procedural.write_procedural_zip(path, count=8, resolution=16, labels=False)
    ds = open_dataset(path)
    G, D = _nets()
    with pytest.raises(ValueError, match="labelled dataset"):
        BigGANTrainer(G, D, ds)
    ds.close()


def test_augmentation_reaches_every_image_d_sees_and_ada_moves_p(labelled):
    from gan_core.train.augment import AdaController, AugmentPipe
    G, D = _nets()
    seen = []
    forward = D.forward
    D.forward = lambda x, c: seen.append(x.detach().clone()) or forward(x, c)
    reals = iter([(torch.full([4, 3, 16, 16], 0.25), torch.eye(3)[[0, 1, 2, 0]])] * 8)
    pipe = AugmentPipe()
    pipe.set_p(1.0)
    tr = BigGANTrainer(G, D, labelled, BigGANTrainOptions(batch=4, num_D_steps=1, G_ortho=0.0), reals=reals,
                       augment_pipe=pipe)
    w0 = G.linear.weight.detach().clone()
    tr.step()
    assert len(seen) == 3                  # D step: real, fake; G step: fake
    assert not torch.allclose(seen[0], torch.full_like(seen[0], 0.25))   # the flat reals were augmented
    # G's loss reaches G through the augmentation (it is differentiable): a zero gradient would
    # leave G where it was (Adam's first step moves each weight with a non-zero gradient by ~lr)
    assert (G.linear.weight.detach() - w0).abs().max() > 1e-5
    assert tr.state_dict()["augment"] == {"p": 1.0}
    # ADA: D's real logits steer p; it is in the state that resume restores
    G, D = _nets()
    pipe = AugmentPipe()
    ada = AdaController(pipe, target=-1.0, interval=2, ada_kimg=0.01)    # any r_t is above the target
    tr = BigGANTrainer(G, D, labelled, BigGANTrainOptions(batch=4, num_D_steps=2), augment_pipe=pipe, ada=ada)
    tr.step()
    assert pipe.p_value() == pytest.approx(4 * 2 / 10)                 # one update after 2 D steps of 4 images
    state = tr.state_dict()
    G2, D2 = _nets()
    pipe2 = AugmentPipe()
    tr2 = BigGANTrainer(G2, D2, labelled, BigGANTrainOptions(batch=4, num_D_steps=2), augment_pipe=pipe2,
                        ada=AdaController(pipe2, target=-1.0, interval=2, ada_kimg=0.01))
    tr2.load_state_dict(state)
    assert pipe2.p_value() == pipe.p_value() and tr2.ada.last_rt == ada.last_rt
