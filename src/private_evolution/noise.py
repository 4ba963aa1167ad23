"""The vote's noise: whose seed, which draw, and the record of every draw.

DP contract of this module:

- **Secret seed** (``privacy.seed_mode: secret``, the default): one 128-bit seed per
  private data set, drawn from the operating system the first time a vote needs it and
  kept in the data set's ledger, ``results/_ledger/<source>/private/noise_seed.json``
  (:mod:`private_evolution.ledger`). No public output holds it. Whoever sees every public
  output cannot regenerate the noise: it is integer (discrete Gaussian) noise read from a
  SHAKE-256 stream keyed by the seed and the draw's key (:mod:`discrete_gaussian`).
- **Public seed** (``privacy.seed_mode: public``): ``privacy.seed`` is the seed. The
  noise can be regenerated and subtracted, so nothing of such a run is DP; every
  output that would say DP says "not DP: noise seed is public".
- **A draw is named by what was asked, never by the answer.** Its key
  (:func:`draw_key`) holds the experiment, epsilon and iteration, the public query (a
  digest of the candidates' embeddings and labels, k, sigma, the adjacency, the seed
  mode), a digest of the code and config of everything on the private path (data
  loading, the embedder, the vote), the id of the private data set's preparation and
  the id of the computation of the private embeddings (:func:`computation_id`: run
  settings, library versions, the host's kind (:func:`host_numerics`), device; random on
  a GPU; shards in order when computed otherwise: :func:`computation_key`) with the
  search backend.
  Nothing computed from the private data enters it, neither the clean counts nor a digest
  of the data. So whether a vote reuses earlier noise (same key: a resume, bit for bit
  the same noisy histogram) or draws anew (any other key, recorded and counted) is decided
  by what was run, the same way for neighbouring data sets and for any history of them.
  Each preparation of the data set (a run of prepare_private) gets a new id, so votes
  after it are new draws whether or not the data changed: had the key held a digest of
  the data, re-preparing unchanged data would resume every draw and edited data would
  draw anew, and the public draw count would tell which. The threshold is not in the
  key: it is post-processing of the noisy histogram, so a new threshold reuses the draw
  for free.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import secrets
import tempfile
import time
from pathlib import Path

import numpy as np

from . import PEError
from .contract import DrawFields, PrivacyFields
from .io import read_json

SEED_FILE = "noise_seed.json"
SEED_BITS = 128


def secret_seed(ledger_private: str | os.PathLike) -> int:
    """The data set's secret noise seed, created on first use (safe under parallel jobs).

    A new seed is written to a temporary file and linked into place; ``os.link`` fails
    when another job got there first, and then that job's seed is read instead.
    """
    path = Path(ledger_private) / SEED_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{SEED_FILE}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump({"seed": secrets.randbits(SEED_BITS), "created": now(), "note": "secret: never publish"}, handle)
            os.chmod(tmp, 0o600)
            try:
                os.link(tmp, path)
            except FileExistsError:
                pass
        finally:
            os.unlink(tmp)
    seed = read_json(path).get("seed")
    if not isinstance(seed, int) or not 0 <= seed < 2**SEED_BITS:
        raise PEError(
            f"'{path}' does not hold a noise seed. Restore it from a backup of that folder: without it no "
            "earlier vote of this data set can be resumed, and every new vote would be refused as not matching the ledger"
        )
    return seed


def noise_seed(privacy: dict, ledger_private: str | os.PathLike) -> int:
    """The seed of the vote noise for a run described by ``privacy.json``."""
    if privacy[PrivacyFields.SEED_MODE] == "public":
        return int(privacy[PrivacyFields.PUBLIC_SEED]) % 2**SEED_BITS
    return secret_seed(ledger_private)


def seed_id(seed: int) -> str:
    """Tells seeds apart in the ledger without revealing them (a one-way digest)."""
    return hashlib.sha256(b"pe-workflow seed id\0" + seed.to_bytes(SEED_BITS // 8, "big")).hexdigest()[:16]


def query_digest(features: np.ndarray, labels: np.ndarray) -> str:
    """The public part of a vote's question: the candidates it votes among (their embeddings
    and labels). Public data only: the population and its embedding are public outputs."""
    digest = hashlib.sha256()
    for array in (np.ascontiguousarray(features), np.ascontiguousarray(labels, dtype=np.int64)):
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def draw_key(
    experiment: str, privacy: dict, iteration: int, query: str, private_path: str, preparation: str, computation: str
) -> str:
    """The name of one draw: equal keys are the same draw (its noise is reproduced), any
    other key is a new draw. ``private_path``: the digest of the code and config of every
    step between the data set and the counts (rule param); ``preparation``: the id of the
    data set's preparation (data_preparation.json, preparation.preparation_key); ``computation``: how the private embeddings and the counts
    were computed (:func:`computation_id` of each embedding file, the search backend). Never
    the counts or anything computed from them."""
    fields = {
        "experiment": experiment,
        "epsilon": str(privacy[PrivacyFields.EPSILON]),
        "iteration": int(iteration),
        "query": query,
        "k": int(privacy[PrivacyFields.K]),
        "sigma": repr(float(privacy[PrivacyFields.SIGMA])),
        "adjacency": privacy[PrivacyFields.ADJACENCY],
        "seed_mode": privacy[PrivacyFields.SEED_MODE],
        "public_seed": privacy.get(PrivacyFields.PUBLIC_SEED),
        "private_path": private_path,
        "preparation": preparation,
        "computation": computation,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()


def host_numerics() -> dict:
    """What decides the rounding of this host's CPU arithmetic besides the library versions:
    the processor and the instruction sets numpy dispatches to, and numpy's BLAS. The same
    code and versions give other float sums under other vector kernels (AVX2 against AVX-512,
    OpenBLAS picking its kernel by processor), so a computation on another kind of host is
    another computation."""
    features = None
    for module in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):
        try:
            umath = __import__(module, fromlist=["__cpu_features__"])
            features = sorted(name for name, present in umath.__cpu_features__.items() if present)
            break
        except (ImportError, AttributeError):
            continue
    try:
        from numpy.__config__ import CONFIG

        blas = CONFIG["Build Dependencies"]["blas"]
        blas = f"{blas.get('name')} {blas.get('version')}"
    except (ImportError, KeyError, TypeError):
        blas = None
    return {
        "machine": platform.machine(),
        "processor": _processor_model(),
        "numpy": np.__version__,
        "numpy_cpu_features": features if features is not None else f"unknown {secrets.token_hex(16)}",
        "blas": blas,
        # they choose other kernels (or precisions) on the same host and libraries
        "environment": {name: value for name, value in sorted(os.environ.items()) if name.startswith(KERNEL_ENVIRONMENT)},
    }


# Prefixes of the environment variables by which numpy's BLAS, MKL, OpenMP, oneDNN or torch pick
# other CPU kernels or precisions (OPENBLAS_CORETYPE, MKL_CBWR, ONEDNN_MAX_CPU_ISA,
# ONEDNN_DEFAULT_FPMATH_MODE, ATEN_CPU_CAPABILITY, NPY_DISABLE_CPU_FEATURES, ...). One too many
# only makes a rerun a new draw.
KERNEL_ENVIRONMENT = (
    "OPENBLAS_", "GOTO_", "BLIS_", "MKL_", "KMP_", "OMP_", "ONEDNN_", "DNNL_", "ATEN_", "TORCH_", "NPY_",
)


def _processor_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def computation_id(settings: dict, device: str) -> str:
    """Names one computation of private embeddings, for :func:`draw_key`: everything that can
    change their bits without changing config or code (run settings such as batch size and
    threads, the libraries' versions, the host's vector instructions, the device). On a GPU,
    whose kernels need not repeat bit for bit, every computation gets a fresh random id: a
    re-embedding there is always a new draw. Reusing noise on embeddings that differ in the
    last bit could publish the difference of two private histograms; a new id only costs
    budget. Called after the embedding: torch's version and CPU kernels name it when the
    embedder imported torch (a numpy embedder's job then never imports it: 1.5 s), and a GPU
    that torch initialised adds a random nonce whatever ``device`` says. ``device``: the
    resolved device, "cpu" for a cpu_only embedder (Embedder.cpu_only)."""
    import sys

    fields = {
        "settings": {key: settings[key] for key in sorted(settings)},
        "device": device,
        "host": host_numerics(),
    }
    torch = sys.modules.get("torch")
    if torch is not None:
        fields["torch"] = torch.__version__
        fields["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    if device != "cpu" or (torch is not None and torch.cuda.is_initialized()):
        fields["nonce"] = secrets.token_hex(16)
    return hashlib.sha256(json.dumps(fields, sort_keys=True, default=str).encode()).hexdigest()


# The computation "id" of a private shard without samples: it adds no counts, so it names nothing.
EMPTY_SHARD = "empty shard"
# How the entry naming a vote's search begins (stages.vote.counts_computation), beside the ids.
SEARCH_PREFIX = "search: "


def computation_key(computation: list[str]) -> str:
    """The computation part of a draw key, from the ids of the private embeddings in shard order
    and the search's entries (those starting with :data:`SEARCH_PREFIX`). Shards computed alike (one
    id) are one computation, whatever their number: changing compute.shards on one kind of host
    reuses the draws. Otherwise the ids stay in shard order, so that shards re-embedded on other
    hosts (the same ids, placed otherwise) are a new draw."""
    ids = [item for item in computation if not item.startswith(SEARCH_PREFIX) and item != EMPTY_SHARD]
    searches = sorted({item for item in computation if item.startswith(SEARCH_PREFIX)})
    embedded = ids[:1] if len(set(ids)) == 1 else ids
    return "|".join([*embedded, *searches])


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def draw_record(experiment: str, privacy: dict, iteration: int, key: str, bins: int, seed: int, split: str) -> dict:
    """One ledger entry: what was drawn and at what privacy cost (no seed, no count)."""
    return {
        DrawFields.EXPERIMENT: experiment,
        DrawFields.EPSILON: privacy[PrivacyFields.EPSILON],
        DrawFields.ITERATION: int(iteration),
        "time": now(),
        DrawFields.KEY: key,
        DrawFields.SIGMA: privacy[PrivacyFields.SIGMA],
        DrawFields.K: privacy[PrivacyFields.K],
        DrawFields.BINS: int(bins),
        "noise_multiplier": privacy[PrivacyFields.NOISE_MULTIPLIER],
        DrawFields.DELTA: privacy[PrivacyFields.DELTA],
        DrawFields.ADJACENCY: privacy[PrivacyFields.ADJACENCY],
        DrawFields.SEED_MODE: privacy[PrivacyFields.SEED_MODE],
        DrawFields.SEED_ID: seed_id(seed),
        DrawFields.SPLIT: split,
        DrawFields.DP: privacy[PrivacyFields.DP],
    }
