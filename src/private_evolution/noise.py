"""The vote's noise: whose seed, which stream, and a record of every draw.

DP contract of this module:

- **Secret seed** (``privacy.seed_mode: secret``, the default): one 128-bit seed per
  experiment, drawn from the operating system the first time a vote needs it and
  kept in ``results/{exp}/private/noise_seed.json``. No public output holds it
  (``privacy.json`` says where it is kept). Whoever sees every public output cannot
  regenerate the noise.
- **Public seed** (``privacy.seed_mode: public``): ``privacy.seed`` is the seed. The
  noise can be regenerated and subtracted, so nothing of such a run is DP; every
  output that would say DP says "not DP: noise seed is public".
- **One stream per draw**: the stream is keyed by the experiment name, epsilon,
  iteration and a digest of what the noise is added to (the clean counts, the
  synthetic labels and sigma). Two experiments never share noise, and the same
  noise is reused only when it reproduces the same noisy histogram bit for bit
  (a resume after a crash): the same noise on different counts would publish
  their exact difference.
- **Every draw is recorded** in ``results/{exp}/private/ledger/`` (one small file per
  distinct draw, so parallel or cluster jobs never write one shared file). A draw that
  repeats an earlier one (same digest) rewrites the same record: it releases nothing new.
- **Released votes stay released**: once a release has published a vote, a vote job that
  would draw different noise for the same (epsilon, iteration) refuses.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
import time
from pathlib import Path

import numpy as np

from . import PEError
from .config import epsilon_label
from .contract import PrivacyFields
from .io import read_json, write_json
from .seeding import key_to_int

SEED_FILE = "noise_seed.json"
LEDGER_FOLDER = "ledger"
DRAWS_FOLDER = "draws"
RELEASED_FILE = "released.json"


def secret_seed(private_dir: str | os.PathLike) -> int:
    """The experiment's secret noise seed, created on first use (safe under parallel jobs).

    A new seed is written to a temporary file and linked into place; ``os.link`` fails
    when another job got there first, and then that job's seed is read instead.
    """
    path = Path(private_dir) / SEED_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{SEED_FILE}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump({"seed": secrets.randbits(128), "created": _now(), "note": "secret: never publish"}, handle)
            os.chmod(tmp, 0o600)
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    seed = read_json(path).get("seed")
    if not isinstance(seed, int) or seed < 0:
        raise PEError(f"'{path}' does not hold a noise seed; delete it only if no vote of this experiment was ever seen")
    return seed


def noise_seed(privacy: dict, private_dir: str | os.PathLike) -> int:
    """The seed of the vote noise for a run described by ``privacy.json``."""
    if privacy[PrivacyFields.SEED_MODE] == "public":
        return int(privacy[PrivacyFields.PUBLIC_SEED])
    return secret_seed(private_dir)


def draw_digest(counts: np.ndarray, synthetic_labels: np.ndarray, sigma: float) -> str:
    """What the noise is added to, as a digest: equal digests give equal noisy histograms."""
    digest = hashlib.sha256()
    for array in (np.ascontiguousarray(counts, dtype=np.int64), np.ascontiguousarray(synthetic_labels, dtype=np.int64)):
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    digest.update(repr(float(sigma)).encode())
    return digest.hexdigest()


def noise_generator(seed: int, experiment: str, epsilon: float, iteration: int, digest: str) -> np.random.Generator:
    """The stream of one draw, keyed by meaning (never by a folder name)."""
    keys = ("vote-noise", experiment, repr(float(epsilon)), int(iteration), digest)
    words = [seed & 0xFFFFFFFFFFFFFFFF, seed >> 64, *map(key_to_int, keys)]
    return np.random.default_rng(np.random.SeedSequence(words))


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def draw_record(experiment: str, privacy: dict, iteration: int, digest: str) -> dict:
    """One ledger entry: what was drawn and at what privacy cost (no seed, no count)."""
    return {
        "experiment": experiment,
        "epsilon": privacy["epsilon"],
        "iteration": int(iteration),
        "time": _now(),
        "digest": digest,
        "sigma": privacy["sigma"],
        "noise_multiplier": privacy["noise_multiplier"],
        "delta": privacy["delta"],
        "adjacency": privacy["adjacency"],
        "seed_mode": privacy["seed_mode"],
        "dp": privacy["dp"],
    }


def record_label(epsilon) -> str:
    """The epsilon label of a record's epsilon (a number, or "inf" as privacy.json writes it)."""
    return epsilon_label(float(epsilon))


def record_draw(private_dir: str | os.PathLike, record: dict) -> Path:
    """Write the record of a draw; a repeated draw (same digest) keeps its first record."""
    folder = Path(private_dir) / LEDGER_FOLDER / DRAWS_FOLDER
    name = f"eps_{record_label(record['epsilon'])}_iter_{record['iteration']}_{record['digest'][:16]}.json"
    path = folder / name
    if not path.exists():
        write_json(path, record)
    return path


def read_draws(private_dir: str | os.PathLike) -> list[dict]:
    """Every draw ever recorded for the experiment, oldest first."""
    folder = Path(private_dir) / LEDGER_FOLDER / DRAWS_FOLDER
    records = [read_json(path) for path in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    return sorted(records, key=lambda record: (record["time"], record["epsilon"] == "inf", str(record["epsilon"]), record["iteration"]))


def released_path(private_dir: str | os.PathLike) -> Path:
    return Path(private_dir) / LEDGER_FOLDER / RELEASED_FILE


def mark_released(private_dir: str | os.PathLike, draws: dict[str, dict[int, str]]) -> None:
    """Remember which draws a release published: epsilon label -> iteration -> digest."""
    path = released_path(private_dir)
    released = read_json(path) if path.exists() else {}
    for label, by_iteration in draws.items():
        released.setdefault(label, {}).update({str(t): digest for t, digest in by_iteration.items()})
    write_json(path, released)


def check_not_released(private_dir: str | os.PathLike, epsilon_label: str, iteration: int, digest: str) -> None:
    """Refuse a new draw for a vote that a release already published with other noise."""
    path = released_path(private_dir)
    if not path.exists():
        return
    published = read_json(path).get(epsilon_label, {}).get(str(iteration))
    if published is not None and published != digest:
        raise PEError(
            f"the vote of epsilon={epsilon_label}, iteration {iteration} was already released "
            f"(results/<exp>/release), and this rerun would draw new noise for different counts: "
            "that is a second release of the private data, spending the budget again. "
            "To keep the released result, undo the change that made the vote rerun. To release again "
            f"on purpose, delete '{path}' (every draw stays counted in the ledger) or use a new experiment name."
        )
