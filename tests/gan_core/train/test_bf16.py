"""--bf16: on the CPU, training runs the networks' reduced-precision blocks in bfloat16;
rendering and the saved networks stay float32."""
from __future__ import annotations

import json
import math

import pytest
import torch

import gan_core
from gan_core.models import stylegan2 as sg2
from gan_core.models.half import block_dtype, cpu_bfloat16
from gan_core.models.stylegan3 import Generator as SG3Generator
from gan_core.train import OptionError, Trainer, train
from gan_core.train.options import resolve

from .conftest import tiny_options

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


def test_block_dtype_follows_the_context():
    assert block_dtype(True, False, CPU) == torch.float32
    assert block_dtype(True, False, CUDA) == torch.float16
    with cpu_bfloat16():
        assert block_dtype(True, False, CPU) == torch.bfloat16
        assert block_dtype(False, False, CPU) == torch.float32      # a float32 block stays float32
        assert block_dtype(True, True, CPU) == torch.float32        # force_fp32 wins
        assert block_dtype(True, False, CUDA) == torch.float16      # CUDA keeps float16
        with cpu_bfloat16(False):
            assert block_dtype(True, False, CPU) == torch.float32
        assert block_dtype(True, False, CPU) == torch.bfloat16
    assert block_dtype(True, False, CPU) == torch.float32
    with pytest.raises(RuntimeError), cpu_bfloat16():
        raise RuntimeError("leaves the context")
    assert block_dtype(True, False, CPU) == torch.float32


def _dtypes_seen(net: torch.nn.Module, run) -> set[torch.dtype]:
    seen: set[torch.dtype] = set()
    hooks = [m.register_forward_hook(lambda m, i, o: seen.add(o.dtype) if torch.is_tensor(o) else None)
             for m in net.modules()]
    try:
        out = run()
    finally:
        for h in hooks:
            h.remove()
    return seen, out


@pytest.mark.parametrize("family", ["stylegan2", "stylegan3"])
def test_generator_in_bfloat16_stays_close_and_renders_unchanged_outside(family):
    torch.manual_seed(0)
    kw = dict(z_dim=16, c_dim=0, w_dim=16, img_resolution=32, img_channels=3, channel_base=256, channel_max=32,
              mapping_kwargs={"num_layers": 2}, num_fp16_res=4, conv_clamp=256)
    G = (sg2.Generator(**kw) if family == "stylegan2" else SG3Generator(**kw)).eval()
    ws = G.mapping(torch.randn([4, 16]), None)
    with torch.no_grad():
        ref = G.synthesis(ws, noise_mode="const")
        seen32, again = _dtypes_seen(G, lambda: G.synthesis(ws, noise_mode="const"))
        with cpu_bfloat16():
            seen16, img = _dtypes_seen(G, lambda: G.synthesis(ws, noise_mode="const"))
    assert torch.bfloat16 not in seen32 and torch.equal(again, ref)
    if family == "stylegan2":   # (a StyleGAN3 layer's output leaves its float32 filters)
        assert torch.bfloat16 in seen16
    assert img.dtype == torch.float32 and torch.isfinite(img).all()
    # bfloat16 keeps 8 significant bits: close to float32, not equal
    err = float((img - ref).abs().max())
    assert 0 < err < 0.1 * float(ref.abs().max()), err


def test_discriminator_and_r1_in_bfloat16():
    torch.manual_seed(0)
    D = sg2.Discriminator(c_dim=0, img_resolution=32, img_channels=3, architecture="resnet", channel_base=256,
                          channel_max=32, num_fp16_res=4, conv_clamp=256)
    x = torch.randn([4, 3, 32, 32], requires_grad=True)
    ref = D(x, None)
    (g32,) = torch.autograd.grad(ref.sum(), x)
    with cpu_bfloat16():
        logits = D(x, None)
        (g16,) = torch.autograd.grad(logits.sum(), x, create_graph=True)
        g16.square().sum().backward()     # R1's second derivative through the bfloat16 blocks
    assert logits.dtype == torch.float32
    torch.testing.assert_close(logits.detach(), ref.detach(), atol=0.05 * float(ref.detach().abs().max()) + 1e-3, rtol=0)
    assert float((g16.detach() - g32).norm() / g32.norm()) < 0.1
    grads = [p.grad for p in D.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("cfg", ["stylegan2", "stylegan3-t"])
def test_training_steps_with_bf16(cfg, tiny_zip, tmp_path):
    run = tmp_path / "run"
    opts = tiny_options(tiny_zip, run, cfg=cfg, kimg=0.012, bf16=True, pl_weight=2.0 if cfg == "stylegan2" else 0.0)
    assert train(opts, progress=False) == "finished"
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    for row in rows:
        for k in ("loss_G", "loss_D"):
            assert row[k] is not None and math.isfinite(row[k]), (k, row)
    assert rows[0]["loss_r1"] is not None and math.isfinite(rows[0]["loss_r1"])
    assert json.loads((run / "training_options.json").read_text())["bf16"] is True
    assert "bfloat16 (--bf16)" in (run / "log.txt").read_text()
    ck = gan_core.load_checkpoint(run / "network-snapshot-000000.pt")
    for net in (ck.G, ck.D, ck.G_ema):      # what is saved and rendered stays float32
        assert all(p.dtype == torch.float32 and torch.isfinite(p).all() for p in net.parameters())


def test_bf16_steps_differ_from_float32_steps(tiny_zip, tmp_path):
    """The option is not a no-op: the same seeds give other weights after a step."""
    def one_step(bf16):
        t = Trainer(tiny_options(tiny_zip, tmp_path / f"run{bf16}", bf16=bf16))
        try:
            t.step()
            return [p.detach().clone() for p in t.G.parameters()]
        finally:
            t.close()

    a, b = one_step(False), one_step(True)
    assert any(not torch.equal(x, y) for x, y in zip(a, b))
    assert all(float((x - y).abs().max()) < 0.05 for x, y in zip(a, b))


def test_bf16_refused_with_fp32_and_for_other_families(tiny_zip, tmp_path):
    with pytest.raises(OptionError, match="--bf16.*--fp32"):
        Trainer(tiny_options(tiny_zip, tmp_path / "a", bf16=True, fp32=True))
    for cfg in ("stylegan1", "biggan"):
        with pytest.raises(OptionError, match=f"--bf16 is for --cfg stylegan2.*--cfg {cfg} trains in float32"):
            resolve(tiny_options(tiny_zip, tmp_path / "b", cfg=cfg, bf16=True), 16, 1)


def test_the_log_warns_only_where_the_cpu_lacks_bfloat16(tiny_zip, tmp_path, monkeypatch):
    import gan_core.train.trainer as trainer_mod

    for has, warned in ((True, False), (None, False), (False, True)):
        monkeypatch.setattr(trainer_mod, "cpu_bfloat16_speedup_expected", lambda has=has: has)
        t = Trainer(tiny_options(tiny_zip, tmp_path / f"run{has}", bf16=True))
        try:
            note = t.describe()
        finally:
            t.close()
        assert "bfloat16 (--bf16)" in note and ("expect it slower" in note) == warned, (has, note)
