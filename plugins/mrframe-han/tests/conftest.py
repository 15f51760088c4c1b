"""Makes the helpers in han_checks.py importable from this directory's tests; runs them on one thread."""

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The shapes here are tiny: a second intra-op thread only adds synchronisation (and stalls badly on a
    busy machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
