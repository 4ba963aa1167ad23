"""File formats of the workflow, written atomically and read with clear errors.

Every stage writes through a temporary file and ``os.replace`` so that a killed
job never leaves a half-written output that a later job could mistake for a
finished one.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from . import PEError
from .contract import CountArrays, EmbeddingArrays, ImageArrays, SelectionArrays, VoteArrays
from .population import Population

STATE_PREFIX = ImageArrays.STATE_PREFIX  # npz keys of a population's per-sample state: state__<name>


class CorruptFileError(PEError):
    """An intermediate file cannot be read (truncated, corrupted or of the wrong kind)."""


def recovery_hint(path: str | os.PathLike) -> str:
    return (
        f"Delete '{path}' and run snakemake again, adding --forcerun RULE for the rule that "
        "writes it if Snakemake does not remake it (or --rerun-incomplete if the job that made "
        "it was interrupted); everything else already computed is kept."
    )


# Temporary files being written now: removed if the job is terminated (see remove_on_termination).
_PENDING: set[str] = set()


def _atomic_target(path: str | os.PathLike, suffix: str) -> tuple[Path, str]:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    _PENDING.add(tmp)
    return target, tmp


def _discard(tmp: str) -> None:
    _PENDING.discard(tmp)
    if os.path.exists(tmp):
        os.unlink(tmp)


def remove_on_termination() -> None:
    """Make SIGTERM (Snakemake's Ctrl-C, SLURM's time limit) remove half-written files.

    By default SIGTERM ends the process at once and no ``except``/``finally`` runs. With
    this handler the temporary files being written are removed and the job exits with
    the conventional status 143. Only the main thread can install signal handlers.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def terminate(signum, frame):
        for tmp in list(_PENDING):
            try:
                _discard(tmp)
            except OSError:
                pass
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)


def _write_atomically(path: str | os.PathLike, suffix: str, mode: str, write) -> None:
    """``write(handle)`` into a temporary file beside ``path``, then rename it into place;
    on any error (or SIGTERM, see remove_on_termination) the temporary file is removed."""
    target, tmp = _atomic_target(path, suffix)
    try:
        with open(tmp, mode) as handle:
            write(handle)
        os.replace(tmp, target)
        _PENDING.discard(tmp)
    except BaseException:
        _discard(tmp)
        raise


def save_npz(path: str | os.PathLike, **arrays: np.ndarray) -> None:
    """Write arrays to ``path`` (an .npz file) atomically."""
    _write_atomically(path, ".npz", "wb", lambda handle: np.savez(handle, **arrays))


def save_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    _write_atomically(path, Path(path).suffix, "wb", lambda handle: handle.write(data))


def load_npz(path: str | os.PathLike, required: Iterable[str] = ()) -> dict[str, np.ndarray]:
    """Read every array of an .npz file, naming the file in any error."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, KeyError) as err:
        raise CorruptFileError(f"Cannot read '{path}': {err}. {recovery_hint(path)}") from err
    missing = [key for key in required if key not in arrays]
    if missing:
        raise CorruptFileError(
            f"'{path}' lacks the arrays {missing} (it holds {sorted(arrays)}). {recovery_hint(path)}"
        )
    return arrays


def write_json(path: str | os.PathLike, payload: Any) -> None:
    def write(handle) -> None:
        json.dump(payload, handle, indent=2, sort_keys=True, allow_nan=True)
        handle.write("\n")

    _write_atomically(path, ".json", "w", write)


def file_digest(path: str | os.PathLike, algorithm: str = "sha256") -> str:
    """The hex digest of a file's bytes (``hashlib`` algorithm name), read in 1 MiB blocks."""
    import hashlib

    # md5 only checks files against the digests datasets publish: allowed where FIPS forbids md5 for security
    digest = hashlib.new(algorithm, usedforsecurity=algorithm != "md5")
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    return file_digest(path, "sha256")


def user_cache(name: str) -> Path:
    """``~/.cache/pe-workflow/<name>`` (or under $XDG_CACHE_HOME): per user, never /tmp, which
    every local user can write to (and so plant the files a run would trust)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "pe-workflow" / name


def read_json(path: str | os.PathLike) -> Any:
    try:
        with open(path) as handle:
            return json.load(handle)
    except json.JSONDecodeError as err:
        raise CorruptFileError(f"Cannot read '{path}': {err}. {recovery_hint(path)}") from err


# One writer and one reader per kind of file; the arrays they hold are named in contract.py.


def save_images(path: str | os.PathLike, images: np.ndarray, labels: np.ndarray) -> None:
    """A labelled image set: a real split, a released synthetic set."""
    save_npz(path, **{ImageArrays.IMAGES: images, ImageArrays.LABELS: labels})


def load_images(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(images, labels) of a labelled image set or a population (its state left out)."""
    arrays = load_npz(path, required=ImageArrays.REQUIRED)
    return arrays[ImageArrays.IMAGES], arrays[ImageArrays.LABELS]


def save_population(path: str | os.PathLike, population: Population) -> None:
    state = {STATE_PREFIX + name: values for name, values in population.state.items()}
    save_npz(path, **{ImageArrays.IMAGES: population.images, ImageArrays.LABELS: population.labels}, **state)


def load_population(path: str | os.PathLike) -> Population:
    arrays = load_npz(path, required=ImageArrays.REQUIRED)
    state = {key[len(STATE_PREFIX):]: value for key, value in arrays.items() if key.startswith(STATE_PREFIX)}
    try:
        return Population(images=arrays[ImageArrays.IMAGES], labels=arrays[ImageArrays.LABELS], state=state)
    except ValueError as err:
        raise CorruptFileError(f"'{path}' is not a valid population: {err}. {recovery_hint(path)}") from err


def save_embeddings(path: str | os.PathLike, features: np.ndarray, labels: np.ndarray, computation: str | None = None) -> None:
    """``computation``: for the real sets, the id of the computation that made them (noise.computation_id)."""
    # 64 characters at least (an id's), so that an empty shard's marker makes a file of the planned size
    extra = {} if computation is None else {EmbeddingArrays.COMPUTATION: np.array([computation], dtype=f"<U{max(64, len(computation))}")}
    save_npz(path, **{EmbeddingArrays.FEATURES: features, EmbeddingArrays.LABELS: labels}, **extra)


def load_computation(path: str | os.PathLike) -> list[str]:
    """The computation ids of an embedding file, or an empty list for a file without any."""
    arrays = load_npz(path)
    return [str(item) for item in arrays.get(EmbeddingArrays.COMPUTATION, [])]


def save_clean_counts(path: str | os.PathLike, counts: np.ndarray, labels: np.ndarray, computation: list[str]) -> None:
    """One shard's un-noised counts: only ever under private/ (the vote stage checks)."""
    save_npz(path, **{CountArrays.COUNTS: counts, CountArrays.LABELS: labels, CountArrays.COMPUTATION: np.array(computation, dtype=str)})


def load_clean_counts(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray, list[str]]:
    arrays = load_npz(path, required=CountArrays.REQUIRED)
    return arrays[CountArrays.COUNTS], arrays[CountArrays.LABELS], [str(item) for item in arrays[CountArrays.COMPUTATION]]


def save_votes(path: str | os.PathLike, noisy_counts: np.ndarray, weights: np.ndarray, labels: np.ndarray) -> None:
    save_npz(path, **{VoteArrays.NOISY_COUNTS: noisy_counts, VoteArrays.WEIGHTS: weights, VoteArrays.LABELS: labels})


def load_votes(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """The arrays of a votes file, by their contract.Votes names."""
    return load_npz(path, required=VoteArrays.REQUIRED)


def save_selection(path: str | os.PathLike, parent_ids: np.ndarray) -> None:
    save_npz(path, **{SelectionArrays.PARENT_IDS: parent_ids})


def load_selection(path: str | os.PathLike) -> np.ndarray:
    return load_npz(path, required=SelectionArrays.REQUIRED)[SelectionArrays.PARENT_IDS]


def load_embeddings(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    arrays = load_npz(path, required=EmbeddingArrays.REQUIRED)
    features = arrays[EmbeddingArrays.FEATURES]
    if not np.all(np.isfinite(features)):
        bad = int((~np.isfinite(features).all(axis=1)).sum())
        raise CorruptFileError(
            f"'{path}' holds {bad} embeddings with NaN or infinite values; the embedder "
            f"failed on those images. {recovery_hint(path)}"
        )
    return features, arrays[EmbeddingArrays.LABELS]
