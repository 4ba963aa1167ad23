"""Stage release: a folder holding only DP outputs, with a sha256 manifest and the composed cost.

What goes in: for each epsilon the user named (release.epsilons), the final synthetic
images, labels and class names (``synthetic.npz``), the same as an image folder
(``image_folder/``: a sub-folder per class, ``labels.csv`` and a dataset card ``README.md``, see
export.py), the noisy vote histograms of every iteration and privacy.json.
Nothing under private/, no evaluation metric (they are not DP), no API state, nothing
un-noised (epsilon = inf) and nothing made with a public noise seed.

Every release is recorded in the data set's ledger and kept: ``results/{exp}/release/``
holds the latest, ``results/{exp}/releases/release_NNN/`` each one ever made (Snakemake
empties the first before a release job). ``PRIVACY.json`` states the cost of every release
ever made from the same private data (by any experiment), and the headline: the data set's
whole ledger, since every DP vote's noisy histogram is public whether released or not.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from .. import PEError, PublicError
from ..contract import DrawFields, ImageArrays, PrivacyFields, VoteArrays, run_folder
from ..export import CARD, CLASS_NAMES, card_text, export_image_folder, read_labels_csv
from ..io import file_sha256, load_images, load_votes, read_json, save_npz, write_json
from ..ledger import RELEASED_FILE, composition, headline_relation, read_draws, record_release, released, released_draws, spend_summary
from ..noise import now
from . import logger

MANIFEST = "MANIFEST.sha256"
SUMMARY = "PRIVACY.json"
IMAGE_FOLDER = "image_folder"  # each released epsilon's images as an image folder (export.py)


def _refuse_private(path: str) -> None:
    if "private" in Path(path).parts:
        raise PEError(f"refusing to release '{path}': it lies under a private/ folder")


def _refuse_non_dp(privacy_path: str) -> dict:
    privacy = read_json(privacy_path)
    if privacy.get(PrivacyFields.DP) != "yes":
        raise PEError(f"refusing to release the run of '{privacy_path}': it is not DP ({privacy.get(PrivacyFields.DP)})")
    return privacy


sha256_of = file_sha256  # the manifest's digest (kept by this name for callers)


def composition_summary(releases: list[dict], ledger_private: str) -> dict:
    """The cost of every release made from the data set (their draws, each once) and of the
    data set's whole ledger (the headline)."""
    published = released_draws(ledger_private)
    relation = headline_relation(published)
    joint = composition(published, relation)
    ledger = spend_summary(read_draws(ledger_private))
    return {
        "releases": [
            {"experiment": entry["experiment"], "folder": entry["folder"], "time": entry["time"], "epsilons": sorted(entry["draws"], key=float)}
            for entry in releases
        ],
        "released_draws": len(published),
        "composed_epsilon": joint["epsilon"],
        "composed_delta": joint["delta"],
        "relation": relation,
        "headline_epsilon": ledger["composed_epsilon"],
        "headline_delta": ledger["composed_delta"],
        "headline_relation": ledger["relation"],
        "ledger_dp_draws": ledger["dp_draws"],
        "accountant": "dp_accounting PLD of the discrete Gaussian: every vote of every release, composed",
        "as_of": now(),
        "note": (
            "composed_epsilon: every release ever made from this private data set (by any experiment), "
            "together: what someone who sees all of them learns at most. headline_epsilon: every DP noisy vote "
            "ever drawn from the data set (released or not), since each vote's noisy histogram is written to the "
            "public results: the figure to quote. Each run's own epsilon (its privacy.json) holds only for "
            "someone who sees that run alone."
        ),
    }


def _write_release(runs: dict[str, dict], out: Path, class_names: list[str]) -> None:
    """The released files (PRIVACY.json, the dataset cards and the manifest are added by :func:`_seal`)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for label, files in runs.items():
        folder = out / run_folder(label)
        folder.mkdir()
        shutil.copyfile(files["privacy"], folder / "privacy.json")
        images, labels = load_images(files["final"])
        names = np.array(class_names, dtype=str)
        save_npz(folder / "synthetic.npz", **{ImageArrays.IMAGES: images, ImageArrays.LABELS: labels, CLASS_NAMES: names})
        export_image_folder(images, labels, class_names, folder / IMAGE_FOLDER, card=None)
        for t, votes_path in enumerate(files["votes"], start=1):
            votes = load_votes(votes_path)  # the noisy counts and labels; the weights follow from them
            save_npz(folder / f"noisy_votes_iter_{t}.npz", **{key: votes[key] for key in (VoteArrays.NOISY_COUNTS, VoteArrays.LABELS)})


def _manifest(out: Path) -> list[str]:
    return [f"{sha256_of(path)}  {path.relative_to(out).as_posix()}" for path in sorted(out.rglob("*")) if path.is_file() and path.name != MANIFEST]


def _card(label: str, privacy: dict, summary: dict, class_names: list[str], generator: str, experiment: str, images: int) -> str:
    """The dataset card of one released epsilon's image folder."""
    facts = [
        ("experiment", experiment),
        ("images", f"{images} (labels.csv: one row each)"),
        ("epsilon (this run)", str(privacy.get(PrivacyFields.EPSILON))),
        ("delta (this run)", f"{privacy.get(PrivacyFields.DELTA):.3g}"),
        ("composed cost of every release from the same private data",
         f"epsilon {summary['composed_epsilon']:.4g} at delta {summary['composed_delta']:.3g} (../../PRIVACY.json)"),
        ("every noisy vote ever drawn from the data (the figure to quote)",
         f"epsilon {summary['headline_epsilon']:.4g} at delta {summary['headline_delta']:.3g}"),
        ("adjacency", str(privacy.get(PrivacyFields.ADJACENCY))),
        ("generator (API)", generator),
        ("iterations", str(privacy.get(PrivacyFields.ITERATIONS))),
        ("released", summary["as_of"]),
    ]
    return card_text(
        f"Synthetic images, epsilon = {label} (Private Evolution)",
        facts,
        "the images, their labels and the noisy vote histograms (../noisy_votes_iter_*.npz), made from the private "
        "data only through noisy votes: (epsilon, delta)-DP together, as composed above.",
        "the class names and the generator (public: from the config, not from the private data); the generator's "
        "own training data (a pre-trained model's data is not protected by this guarantee); and anything released "
        "from the same private data outside this workflow. The composed cost grows with every later release.",
        class_names,
    )


def _seal(out: Path, summary: dict, cards: dict[str, str]) -> int:
    write_json(out / SUMMARY, summary)
    for label, card in cards.items():
        (out / run_folder(label) / IMAGE_FOLDER / CARD).write_text(card)
    lines = _manifest(out)
    (out / MANIFEST).write_text("\n".join(lines) + "\n")
    return len(lines)


def _content(out: Path) -> list[str]:
    """What a release holds, PRIVACY.json and the dataset cards (which change with later releases) left out."""
    changing = (f"  {SUMMARY}", f"/{IMAGE_FOLDER}/{CARD}")
    return [line for line in _manifest(out) if not line.endswith(changing)]


def _kept_releases(versions_dir: str) -> list[Path]:
    folder = Path(versions_dir)
    return sorted(p for p in folder.glob("release_[0-9][0-9][0-9]*") if p.is_dir()) if folder.is_dir() else []


def version_folder(content: list[str], versions_dir: str, listed: list[str] = ()) -> str:
    """The kept copy of a release: an earlier one with the same content, else the next number past
    every kept copy and every folder of ``versions_dir`` the ledger lists (``listed``): the number of
    a deleted copy is not given again, since the ledger keeps one entry per folder and would leave
    the new release's draws out."""
    existing = _kept_releases(versions_dir)
    for folder in existing:
        if _content(folder) == content:
            return str(folder)
    here = Path(versions_dir).resolve()
    names = [folder.name for folder in existing] + [Path(f).name for f in listed if Path(f).resolve().parent == here]
    numbers = [int(name.split("_")[-1]) for name in names if name.split("_")[-1].isdigit()]
    return str(Path(versions_dir) / f"release_{max(numbers, default=0) + 1:03d}")


def check_kept_releases_listed(versions_dir: str, ledger_private: str) -> None:
    """Refuse to release while ``versions_dir`` keeps a release the data set's ledger does not
    list: the ledger was lost, replaced or moved, and a new release's composed epsilon would
    leave that earlier release out (each lists only what the ledger holds)."""
    kept = _kept_releases(versions_dir)
    listed = {Path(entry["folder"]).resolve() for entry in released(ledger_private)}
    unlisted = [str(folder) for folder in kept if folder.resolve() not in listed]
    if unlisted:
        raise PublicError(
            f"{', '.join(unlisted)}: an earlier release that the data set's ledger ({Path(ledger_private) / RELEASED_FILE}) "
            "does not list: the ledger was lost, replaced or moved, or the experiment now reads another data set "
            "(another ledger). A new release's composed epsilon would leave it out. Restore the ledger folder from a "
            "backup; for another data set, use a new experiment name; only if that release was never shared, move it "
            f"out of {versions_dir} and release again."
        )


def release(
    runs: dict[str, dict], output_dir: str, experiment: str, ledger_private: str, versions_dir: str,
    class_names: list[str], generator: str,
) -> None:
    """runs: epsilon label -> {'privacy', 'votes': [t = 1..T], 'draws': [t = 1..T] (under private/), 'final'};
    class_names: the classes in label order (public: the config's); generator: the API's name.

    Writes ``output_dir``, keeps a copy under ``versions_dir`` (a new number unless an earlier
    copy holds the same files) and records the release in the data set's ledger."""
    for label, files in runs.items():
        for path in [files["privacy"], files["final"], *files["votes"]]:
            _refuse_private(path)
        _refuse_non_dp(files["privacy"])
    draws = {
        label: {str(t): read_json(path)[DrawFields.KEY] for t, path in enumerate(files["draws"], start=1)}
        for label, files in runs.items()
    }
    check_kept_releases_listed(versions_dir, ledger_private)
    out = Path(output_dir)
    _write_release(runs, out, list(class_names))
    version = version_folder(_content(out), versions_dir, [entry["folder"] for entry in released(ledger_private)])
    # From now on a vote of these runs that would draw new noise refuses (ledger.check_not_released).
    releases = record_release(ledger_private, experiment, draws, version)
    summary = composition_summary(releases, ledger_private)
    cards = {
        label: _card(
            label, read_json(files["privacy"]), summary, list(class_names), generator, experiment,
            len(read_labels_csv(out / run_folder(label) / IMAGE_FOLDER)),
        )
        for label, files in runs.items()
    }
    count = _seal(out, summary, cards)
    if Path(version).exists():
        shutil.rmtree(version)
    shutil.copytree(out, version)  # the permanent copy: a later release never deletes it
    logger.info(
        "released %d files for epsilons %s to %s (kept as %s); every release from the same data: epsilon %.4g at "
        "delta %.3g; the data set's whole ledger: epsilon %.4g at delta %.3g",
        count, sorted(runs), output_dir, version, summary["composed_epsilon"], summary["composed_delta"],
        summary["headline_epsilon"], summary["headline_delta"],
    )
