import os

import numpy as np
import pytest

os.environ.setdefault("PYTHONHASHSEED", "0")


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models run fastest on one thread (and far faster than on two when the cores are busy)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory):
    """The tiny workflow (.test/config/config.yaml) run to the end once, in a copy of the repository.

    Tests that change its config or code must restore them before they return.
    """
    from workflow_helpers import copy_repository, snakemake, tiny_config, write_config

    workdir = copy_repository(tmp_path_factory.mktemp("workflow"))
    write_config(workdir, tiny_config())
    snakemake(workdir, "--cores", "2")
    return workdir
