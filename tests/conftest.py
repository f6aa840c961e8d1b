"""Shared test helpers: where the reference fixtures live, and loading them."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(os.environ.get("GANSCOPE_FIXTURES", REPO.parent / "shared" / "fixtures"))

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def load_fixture(*parts: str) -> dict:
    """Load ``shared/fixtures/<parts>`` (weights_only) or skip the test with the reason."""
    path = FIXTURES.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference fixture {path} not found: put ../shared/fixtures beside the "
                    f"checkout or set GANSCOPE_FIXTURES")
    return torch.load(path, weights_only=True)


@pytest.fixture
def official():
    """``official('sg3t_32.pt')`` -> the fixture dict."""
    return lambda name: load_fixture("official", name)


@pytest.fixture(scope="module")
def one_torch_thread():
    """One intra-op thread for a test module: tiny networks run fastest that way (and far faster
    on a busy machine, where two threads fight over the cores). Use with
    ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
