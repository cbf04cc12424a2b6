"""Session-wide test settings."""

import torch


def pytest_configure(config):
    """One intra-op thread: tiny tensors run fastest that way, and a training job may share the CPU."""
    torch.set_num_threads(1)
