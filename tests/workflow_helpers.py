"""Run the real workflow on a copy of the repository, for end-to-end tests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def copy_repository(destination: Path) -> Path:
    """src/, workflow/ and envs/ copied, so a test may edit library code without touching the checkout."""
    for name in ("src", "workflow", "envs"):
        shutil.copytree(REPO / name, destination / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    (destination / "config").mkdir(exist_ok=True)
    save_fake_inception(destination / INCEPTION_DIR)
    return destination


def write_config(workdir: Path, config: dict) -> None:
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def tiny_config() -> dict:
    """.test's tiny config, with FID on through a fake Inception (save_fake_inception)."""
    config = yaml.safe_load((REPO / ".test" / "config" / "config.yaml").read_text())
    config["experiments"]["tiny"]["evaluation"] = {"embedders": ["effnet_lite0", "inception"], "fid": {"weights_dir": INCEPTION_DIR}}
    return config


def snakemake(workdir: Path, *args: str, check: bool = True, pythonpath: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
    """``pythonpath``: folders importable besides the copy's src/ (e.g. another package's plugins)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(map(str, (workdir / "src", *pythonpath))))
    command = [sys.executable, "-m", "snakemake", "-s", str(workdir / "workflow" / "Snakefile"), "--directory", str(workdir), *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=1200)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-4000:]}\n{result.stderr[-6000:]}")
    return result


def planned_jobs(workdir: Path, *args: str, pythonpath: tuple[Path, ...] = ()) -> dict[str, int]:
    """Rule -> job count that a dry run plans ({} when nothing is to be done)."""
    result = snakemake(workdir, "--dry-run", *args, pythonpath=pythonpath)
    output = result.stdout + result.stderr
    if "Nothing to be done" in output:
        return {}
    table = output.split("Job stats:", 1)[1]
    counts = {}
    for line in table.splitlines()[3:]:
        match = re.match(r"^(\S+)\s+(\d+)$", line.strip())
        if not match or match.group(1) == "total":
            break
        counts[match.group(1)] = int(match.group(2))
    return counts


INCEPTION_DIR = "inception_weights"  # relative to the working directory of the test runs


def save_fake_inception(folder: Path) -> Path:
    """A TorchScript module with the interface of clean-fid's Inception file (random weights)."""
    import torch

    class Layers(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 16, kernel_size=15, stride=15)
            self.head = torch.nn.Linear(16, 2048)

        def forward(self, x):
            pooled = self.conv(x).mean(dim=(2, 3))
            return self.head(torch.tanh(pooled))[:, :, None, None]

    class FakeInception(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = Layers()

        def forward(self, x, return_features: bool = False):
            return self.layers(x)

    torch.manual_seed(0)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "inception-2015-12-05.pt"
    torch.jit.script(FakeInception().eval()).save(str(path))
    return path
