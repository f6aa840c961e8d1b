"""A CPU training process keeps freed memory (glibc mallopt), unless told not to."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

CODE = """
import resource
import numpy as np
from gan_core.train.host_memory import keep_freed_memory
applied = keep_freed_memory()
assert keep_freed_memory() == applied  # once per process
faults = []
for _ in range(4):
    a = np.ones(48 << 18, dtype=np.float32)  # 48 MiB, freed at the next assignment
    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    a = np.ones(6 << 18, dtype=np.float32)   # 6 MiB blocks, allocated, touched and freed
    b = np.ones(6 << 18, dtype=np.float32)
    del a, b
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
print(applied, faults[-1])
"""


def _run(env_value: str | None) -> tuple[bool, int]:
    import os
    env = dict(os.environ)
    env.pop("GANSCOPE_KEEP_FREED_MEMORY", None)
    if env_value is not None:
        env["GANSCOPE_KEEP_FREED_MEMORY"] = env_value
    out = subprocess.run([sys.executable, "-c", CODE], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    applied, faults = out.stdout.split()
    return applied == "True", int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the policy is glibc's mallopt (Linux)")
def test_freed_blocks_are_reused_without_new_page_faults():
    applied, faults = _run(None)
    assert applied
    # 12 MiB touched again: 3072 pages if they had gone back to the kernel.
    assert faults < 300, faults


def test_the_policy_can_be_turned_off():
    applied, _ = _run("0")
    assert not applied
