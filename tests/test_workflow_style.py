"""The rule files as a Snakemake reader expects them: no lint, snakefmt's layout."""

from __future__ import annotations

import os
import subprocess
import sys

from workflow_helpers import REPO


def test_snakemake_lint_finds_nothing():
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--directory", str(REPO), "-s", str(REPO / "workflow" / "Snakefile")],
        capture_output=True, text=True, env=env, timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Lints for" not in output, output[-4000:]
    assert "Congratulations, your workflow is in a good condition!" in output


def test_snakefmt_leaves_the_workflow_unchanged():
    result = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "--diff", str(REPO / "workflow")], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
