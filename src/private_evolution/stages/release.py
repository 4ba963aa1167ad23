"""Stage release: a folder holding only DP outputs, with a sha256 manifest and the composed cost.

What goes in: for each epsilon the user named (release.epsilons), the final synthetic
images and labels, the noisy vote histograms of every iteration and privacy.json.
Nothing under private/, no evaluation metric (they are not DP), no API state, nothing
un-noised (epsilon = inf) and nothing made with a public noise seed.

Releases from the same private data compose: ``PRIVACY.json`` states the (epsilon,
delta) of all of them together, by dp-accounting's PLD accountant, beside each run's own.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from .. import PEError
from ..accounting import composed_epsilon
from ..contract import DrawFields, PrivacyFields, VoteArrays, run_folder
from ..io import file_sha256, load_images, load_votes, read_json, save_images, save_npz, write_json
from ..noise import mark_released
from . import logger

MANIFEST = "MANIFEST.sha256"
# What each release's privacy.json contributes to the joint cost (accounting.composed_epsilon)
COMPOSED_FIELDS = (
    PrivacyFields.EPSILON, PrivacyFields.DELTA, PrivacyFields.ITERATIONS, PrivacyFields.NOISE_MULTIPLIER, PrivacyFields.ADJACENCY,
)
SUMMARY = "PRIVACY.json"


def _refuse_private(path: str) -> None:
    if "private" in Path(path).parts:
        raise PEError(f"refusing to release '{path}': it lies under a private/ folder")


def _refuse_non_dp(privacy_path: str) -> dict:
    privacy = read_json(privacy_path)
    if privacy.get(PrivacyFields.DP) != "yes":
        raise PEError(f"refusing to release the run of '{privacy_path}': it is not DP ({privacy.get(PrivacyFields.DP)})")
    return privacy


sha256_of = file_sha256  # the manifest's digest (kept by this name for callers)


def composition_summary(composed: list[dict]) -> dict:
    """The joint cost of releases from the same private data: epsilon at the sum of their deltas."""
    runs = []
    for entry in composed:
        privacy = _refuse_non_dp(entry["privacy"])
        runs.append({**entry, **{key: privacy[key] for key in COMPOSED_FIELDS}})
    delta = sum(run[PrivacyFields.DELTA] for run in runs)
    return {
        "releases": [{key: run[key] for key in ("experiment", *COMPOSED_FIELDS)} for run in runs],
        "composed_epsilon": composed_epsilon(runs, delta),
        "composed_delta": delta,
        "sum_of_epsilons": sum(float(run[PrivacyFields.EPSILON]) for run in runs),
        "accountant": "dp_accounting.pld.PLDAccountant: every vote of every release, composed",
        "note": (
            "Every release listed here was made from the same private data (same dataset and split). "
            "Someone who sees all of them learns at most what an (composed_epsilon, composed_delta)-DP "
            "mechanism reveals; each run's own epsilon holds only for someone who sees that run alone."
        ),
    }


def release(runs: dict[str, dict], output_dir: str, private_dir: str | None = None, composed: list[dict] | None = None) -> None:
    """runs: epsilon label -> {'privacy', 'votes': [t = 1..T], 'draws': [t = 1..T] (under private/), 'final'}."""
    out = Path(output_dir)
    for label, files in runs.items():
        for path in [files["privacy"], files["final"], *files["votes"]]:
            _refuse_private(path)
        _refuse_non_dp(files["privacy"])
    summary = composition_summary(composed or [{"experiment": None, "epsilon": label, "privacy": files["privacy"]} for label, files in runs.items()])
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for label, files in runs.items():
        folder = out / run_folder(label)
        folder.mkdir()
        shutil.copyfile(files["privacy"], folder / "privacy.json")
        save_images(folder / "synthetic.npz", *load_images(files["final"]))
        for t, votes_path in enumerate(files["votes"], start=1):
            votes = load_votes(votes_path)  # the noisy counts and labels; the weights follow from them
            save_npz(folder / f"noisy_votes_iter_{t}.npz", **{key: votes[key] for key in (VoteArrays.NOISY_COUNTS, VoteArrays.LABELS)})
    write_json(out / SUMMARY, summary)
    lines = [f"{sha256_of(path)}  {path.relative_to(out)}" for path in sorted(out.rglob("*")) if path.is_file()]
    (out / MANIFEST).write_text("\n".join(lines) + "\n")
    if private_dir is not None:
        # From now on a vote of these runs that would draw new noise refuses (noise.check_not_released).
        mark_released(
            private_dir,
            {label: {t: read_json(path)[DrawFields.DIGEST] for t, path in enumerate(files.get("draws", []), start=1)} for label, files in runs.items()},
        )
    logger.info(
        "released %d files for epsilons %s to %s; composed with every release from the same data: epsilon %.4g at delta %.3g",
        len(lines), sorted(runs), out, summary["composed_epsilon"], summary["composed_delta"],
    )
