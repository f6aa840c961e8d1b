"""Video export: MP4 (H.264 via the bundled ffmpeg) and GIF decode to the frames written."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_core.video import VideoError, VideoWriter, catmull_rom_loop, find_ffmpeg, read_video, write_video


def _frames(n=10, h=48, w=64):
    rng = np.random.RandomState(0)
    base = rng.randint(0, 256, (h // 8, w // 8, 3)).astype(np.uint8)
    big = np.kron(base, np.ones((8, 8, 1), dtype=np.uint8))          # blocky, compresses well
    return [np.roll(big, 4 * i, axis=1) for i in range(n)]


def test_mp4_decodes_to_the_frames_written(tmp_path):
    frames = _frames()
    path = write_video(tmp_path / "out.mp4", frames, fps=12)
    got = read_video(path)
    assert got.shape == (10, 48, 64, 3)
    assert np.abs(got.astype(int) - np.stack(frames).astype(int)).mean() < 12     # lossy, but the same pictures
    assert [p.name for p in tmp_path.iterdir()] == ["out.mp4"]                   # no temporary file left


def test_gif_decodes_to_the_frames_written(tmp_path):
    frames = _frames(n=7, h=24, w=40)
    path = write_video(tmp_path / "out.gif", frames, fps=10)
    got = read_video(path)
    assert got.shape == (7, 24, 40, 3)
    assert np.abs(got.astype(int) - np.stack(frames).astype(int)).mean() < 8


def test_odd_sizes_are_padded_for_yuv420(tmp_path):
    frames = [np.full((15, 21, 3), 40 * i, np.uint8) for i in range(3)]
    got = read_video(write_video(tmp_path / "odd.mp4", frames))
    assert got.shape == (3, 16, 22, 3)


def test_failed_export_leaves_nothing_behind(tmp_path):
    target = tmp_path / "broken.mp4"
    with pytest.raises(RuntimeError, match="boom"):
        with VideoWriter(target) as vw:
            vw.write(_frames(1)[0])
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="is 32x16 but the video is 64x48"):
        with VideoWriter(tmp_path / "sizes.gif") as vw:
            vw.write(_frames(1)[0])
            vw.write(np.zeros((16, 32, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


def test_bad_inputs_and_missing_ffmpeg(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match=r"\.mp4 or \.gif"):
        VideoWriter(tmp_path / "x.avi")
    with pytest.raises(ValueError, match="uint8"):
        write_video(tmp_path / "f.gif", [np.zeros((8, 8, 3), np.float32)])
    with pytest.raises(ValueError, match="no frames"):
        write_video(tmp_path / "empty.gif", [])
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setenv("GANSCOPE_FFMPEG", str(tmp_path / "no-ffmpeg-here"))
    with pytest.raises(VideoError, match="GANSCOPE_FFMPEG"):
        find_ffmpeg()
    with pytest.raises(VideoError):
        VideoWriter(tmp_path / "y.mp4")
    write_video(tmp_path / "still-ok.gif", _frames(2))      # GIF needs no ffmpeg


def test_catmull_rom_loop_passes_through_keyframes_and_closes():
    keys = torch.tensor([[0.0], [1.0], [3.0], [2.0]])
    path = torch.stack(catmull_rom_loop(keys, 40))
    assert path.shape == (40, 1)
    torch.testing.assert_close(path[::10], keys)
    # Seamless loop: the step from the last frame back to the first is like the others.
    steps = (torch.cat([path, path[:1]])[1:] - path).abs()
    assert float(steps[-1]) < 2 * float(steps[:-1].max())
    assert float(steps.max()) < 0.5
