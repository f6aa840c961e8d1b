"""FID: the network and the Fréchet distance against pytorch-fid's own (a fixture it wrote on
deterministic weights, see fid_reference.py), the distance's closed forms, the running
statistics, the weights file's checks, and ``ganscope fid`` end to end."""
from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
import torch

from gan_core.analysis.fid import (FeatureStats, InceptionError, InceptionFeatures, frechet_distance,
                                   inception_features, kernel_inception_distance, load_inception)
from gan_core.cli import main

from .fid_reference import KID_ARGS, FIXTURE, fixed_features, fixed_images, fixed_statistics, write_weights_file

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory):
    return write_weights_file(tmp_path_factory.mktemp("inception") / "pt_inception-2015-12-05-6726825d.pth")


@pytest.fixture(scope="module")
def reference():
    return torch.load(FIXTURE, weights_only=True)


def test_features_match_pytorch_fid(weights_file, reference):
    net = load_inception(weights_file)
    ours = torch.cat([inception_features(net, imgs) for imgs in fixed_images()])
    assert ours.shape == (3, 2048) and ours.dtype == torch.float64
    torch.testing.assert_close(ours, reference["features"], rtol=1e-4, atol=1e-5)


def test_frechet_distance_matches_pytorch_fid(reference):
    (m1, s1), (m2, s2) = fixed_statistics()
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(reference["fid_fixed_statistics"], rel=1e-7)


def test_kid_matches_torch_fidelity(reference):
    mean, std = kernel_inception_distance(*fixed_features(), **KID_ARGS)
    assert [mean, std] == pytest.approx(reference["kid_fixed_features"], rel=1e-9)


def test_kid_is_unbiased_and_symmetric_in_distribution():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(400, 16)), rng.normal(size=(400, 16))
    same, _ = kernel_inception_distance(a, b, subsets=20, subset_size=200)
    assert abs(same) < 0.01                       # one distribution: about 0 (either sign), within its spread
    shifted, _ = kernel_inception_distance(a, b + 0.5, subsets=20, subset_size=200)
    assert shifted > 50 * abs(same)
    with pytest.raises(ValueError, match="at least 2 images"):
        kernel_inception_distance(a[:1], b)


def test_frechet_distance_closed_forms():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(500, 8))
    mu, cov = x.mean(0), np.cov(x, rowvar=False)
    assert abs(frechet_distance(mu, cov, mu, cov)) < 1e-9
    # diagonal covariances: |Δμ|² + Σ (√a − √b)²
    a, b = rng.uniform(0.1, 3, 8), rng.uniform(0.1, 3, 8)
    m1, m2 = rng.normal(size=8), rng.normal(size=8)
    expect = ((m1 - m2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert frechet_distance(m1, np.diag(a), m2, np.diag(b)) == pytest.approx(expect, rel=1e-10)
    with pytest.raises(ValueError, match="mismatched"):
        frechet_distance(m1, np.diag(a), m2[:4], np.diag(b[:4]))


def test_running_statistics_are_numpys_mean_and_covariance():
    x = torch.randn(37, 6, dtype=torch.float64)
    s = FeatureStats(dim=6)
    for part in x.split(10):
        s.add(part)
    mu, cov = s.mean_cov()
    np.testing.assert_allclose(mu, x.numpy().mean(0), rtol=1e-12)
    np.testing.assert_allclose(cov, np.cov(x.numpy(), rowvar=False), rtol=1e-10, atol=1e-12)
    again = FeatureStats.from_state(s.state_dict())
    np.testing.assert_array_equal(again.mean_cov()[1], cov)
    np.testing.assert_array_equal(again.features(), x.numpy().astype(np.float32))
    few = FeatureStats(dim=6, keep=15)                  # KID keeps only the first `keep` features
    for part in x.split(10):
        few.add(part)
    assert few.n == 37 and np.array_equal(few.features(), x[:15].numpy().astype(np.float32))
    with pytest.raises(ValueError, match="at least 2"):
        FeatureStats(dim=6).mean_cov()


def test_the_weights_file_is_checked_and_never_run(tmp_path, monkeypatch, weights_file):
    monkeypatch.delenv("GANSCOPE_INCEPTION", raising=False)
    with pytest.raises(InceptionError, match="--inception FILE or set GANSCOPE_INCEPTION"):
        load_inception(None)
    with pytest.raises(InceptionError, match="no such file"):
        load_inception(tmp_path / "none.pth")
    (tmp_path / "text.pth").write_text("not weights")
    with pytest.raises(InceptionError, match="not a PyTorch state dict"):
        load_inception(tmp_path / "text.pth")
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))
    (tmp_path / "evil.pth").write_bytes(pickle.dumps({"x": Evil()}))
    with pytest.raises(InceptionError):
        load_inception(tmp_path / "evil.pth")
    assert not marker.exists()
    sd = torch.load(weights_file, weights_only=True)
    torch.save({k: v for k, v in sd.items() if not k.startswith("Mixed_7c")}, tmp_path / "short.pth")
    with pytest.raises(InceptionError, match="missing .*Mixed_7c"):
        load_inception(tmp_path / "short.pth")
    torch.save({**sd, "Conv2d_1a_3x3.conv.weight": torch.zeros(32, 3, 5, 5)}, tmp_path / "shape.pth")
    with pytest.raises(InceptionError, match=r"Conv2d_1a_3x3.conv.weight has shape \(32, 3, 5, 5\)"):
        load_inception(tmp_path / "shape.pth")
    monkeypatch.setenv("GANSCOPE_INCEPTION", str(weights_file))
    assert isinstance(load_inception(None), InceptionFeatures)       # from the environment


def test_cli_fid(weights_file, tmp_path, capsys):
    data = tmp_path / "proc32.zip"
    assert main(["dataset", "--source", "procedural:12:32", "--dest", str(data)]) == 0
    capsys.readouterr()
    args = ["fid", "--network", "demo", "--data", str(data), "--inception", str(weights_file), "--num", "6",
            "--batch", "4", "--device", "cpu"]
    assert main(args + ["--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["num"] == 6 and out["resolution"] == 32
    names = [r["source"] for r in out["results"]]
    assert names == ["reals (images 6-11)", "demo"]
    fids = [r["fid"] for r in out["results"]]
    assert all(np.isfinite(fids)) and all(f > 0 for f in fids)
    kids = [(r["kid"], r["kid_std"]) for r in out["results"]]
    assert all(np.isfinite(k).all() for k in kids)
    from gan_core.cli.fid import format_table
    table = format_table([(n, f, k) for n, f, k in zip(names, fids, kids)], 6, str(data)).splitlines()
    assert table[0].startswith("against 6 images of proc32.zip") and table[1].split() == ["FID", "KID×10³"]
    assert table[3] == f"{'demo':<19}  {fids[1]:10.3f}  {kids[1][0] * 1e3:8.3f} ± {kids[1][1] * 1e3:5.3f}"
    # a missing weights file is one line, exit 2
    assert main(["fid", "--network", "demo", "--data", str(data), "--inception", str(tmp_path / "no.pth")]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "no such file" in err
