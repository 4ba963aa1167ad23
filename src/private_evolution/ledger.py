"""The privacy ledger of one private data set: every noise draw and every release made from it.

One ledger per data set, not per experiment: every experiment whose ``dataset`` section
names the same source (:func:`data_source`: the loader and its files or path; the split,
its sizes and seed, the cache folder do not matter, since overlapping splits are the same
people) records its draws in ``results/_ledger/<source>/private/draws/`` and its releases
in ``.../private/released.json``. Tuning runs count like any other. Which records each
experiment has used as private and as evaluation data is kept beside them
(``split_ledger.py``), so that no record is both.

The headline figure is :data:`LEDGER_SPEND` of the data set: every DP draw ever made from
it, composed, because every finite-epsilon vote's noisy histogram is written to the public
tree. A vote that records a new draw (before adding the noise) marks that file out of date
(:func:`pending_spend`: the counts, no composed figure), so it never understates the spend,
even when a vote fails afterwards or the run is killed. Composing is the accountant's work
(seconds, growing with the ledger): each experiment's privacy_ledger job does it after its
experiment's votes when it finds the file out of date (:func:`current_spend`), not every
vote. "Up to date" means: composes every draw record of this ledger, by this accountant;
deleting records (or the ledger) loses them, which privacy_ledger and release detect from the
experiments' own draw files. The number of draws is public: it depends only on what was asked
and how many times the data was prepared (see :func:`noise.draw_key`), never on the data.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
from pathlib import Path

from . import PEError
from .contract import DrawFields, LEDGER_PRIVATE, LEDGER_SPEND, SpendFields
from .epsilons import epsilon_label
from .io import read_json, write_json
from .noise import now
from .preparation import locked  # the ledger's lock (a module of its own: see preparation.py)

DRAWS_FOLDER = "draws"
_DRAW_NAME = re.compile(r"[0-9a-f]{64}\.json")
RELEASED_FILE = "released.json"
RELATIONS = ("add_remove", "replace_one")


def data_source(dataset: dict) -> str:
    """The ledger's name for a data set: the loader, plus a digest of its file or folder's
    absolute path for loaders that read one. Public (it comes from the config)."""
    name = dataset["name"]
    path = dataset.get("path")
    if not path:
        return name
    where = str(Path(path).expanduser().resolve())
    return f"{name}-{hashlib.sha256(where.encode()).hexdigest()[:12]}"


SPLIT_FIELDS = ("split", "split_seed", "num_private")  # what decides which records are private


def split_id(dataset: dict) -> str:
    """Names the private split of the source (public: from the config), for the draw records."""
    fields = {"source": data_source(dataset), **{name: dataset.get(name) for name in SPLIT_FIELDS}}
    return hashlib.sha256(repr(sorted(fields.items())).encode()).hexdigest()[:16]


def record_label(epsilon) -> str:
    """An epsilon of a record (a number, or "inf") as paths write it: 1.0 -> '1'."""
    return epsilon_label(float(epsilon))


def _draw_file(ledger_private: str | os.PathLike, key: str) -> Path:
    return Path(ledger_private) / DRAWS_FOLDER / f"{key}.json"


def find_draw(ledger_private: str | os.PathLike, key: str) -> dict | None:
    path = _draw_file(ledger_private, key)
    return read_json(path) if path.is_file() else None


def read_draws(ledger_private: str | os.PathLike) -> list[dict]:
    """Every draw ever recorded on the data set, oldest first."""
    folder = Path(ledger_private) / DRAWS_FOLDER
    # only <key>.json: a temporary file left by a killed writer (.<name>.XXXX.json) is no draw
    paths = [path for path in folder.glob("*.json") if _DRAW_NAME.fullmatch(path.name)] if folder.is_dir() else []
    records = [read_json(path) for path in paths]
    return sorted(records, key=lambda r: (r["time"], r[DrawFields.EXPERIMENT], record_label(r[DrawFields.EPSILON]), r[DrawFields.ITERATION]))


def require_draws(ledger_private: str | os.PathLike, keys: list[str]) -> None:
    """Stop when the ledger lacks draws whose noisy votes exist (it was deleted, moved or is
    another working directory's): every figure made from it would understate the spend."""
    missing = [key for key in keys if find_draw(ledger_private, key) is None]
    if missing:
        raise PEError(
            f"the privacy ledger '{Path(ledger_private).parent}' lacks {len(missing)} of the {len(keys)} noise draws "
            "whose votes this experiment published: it was deleted, moved or belongs to another working directory, "
            "so its spend would be understated. Restore that folder from a backup (or move it back). Nothing was changed"
        )


def check_seed(ledger_private: str | os.PathLike, record: dict) -> None:
    """Refuse a secret seed other than the one every earlier secret draw of the ledger used."""
    if record[DrawFields.SEED_MODE] != "secret":
        return
    others = {r[DrawFields.SEED_ID] for r in read_draws(ledger_private) if r[DrawFields.SEED_MODE] == "secret"}
    if others and record[DrawFields.SEED_ID] not in others:
        raise PEError(
            f"the noise seed in '{Path(ledger_private) / 'noise_seed.json'}' is not the one the ledger's earlier "
            f"draws used ({len(others)} other seed(s) recorded): the seed file was replaced or recreated. Restore it "
            "from a backup of that folder. With another seed no earlier vote can be resumed and each would be drawn "
            "and spent again; nothing was computed or changed"
        )


def _spend_file(ledger_private: str | os.PathLike) -> Path:
    return Path(ledger_private).parent / Path(LEDGER_SPEND).name


def _stored_spend(ledger_private: str | os.PathLike) -> dict | None:
    path = _spend_file(ledger_private)
    return read_json(path) if path.is_file() else None


def record_draw(ledger_private: str | os.PathLike, record: dict) -> bool:
    """Record a draw under the ledger's lock; the public spend is marked out of date
    (:func:`pending_spend`) first, so that it never states a figure without this draw, even if
    the record's write is the last thing the job does. Returns False when the key was drawn
    before (a resume: nothing new is released); a resume still marks a spend that does not
    compose every record (one whose job died between the two writes) out of date."""
    with locked(ledger_private):
        path = _draw_file(ledger_private, record[DrawFields.KEY])
        new = not path.exists()
        draws = read_draws(ledger_private)
        if new:
            write_json(_spend_file(ledger_private), pending_spend([*draws, record]))
            write_json(path, record)
        else:
            stored = _stored_spend(ledger_private)
            if stored is None or (stored.get(SpendFields.UP_TO_DATE) is not False and not is_current(stored, draws)):
                write_json(_spend_file(ledger_private), pending_spend(draws))
    return new


def pending_spend(draws: list[dict]) -> dict:
    """The public spend while draws are recorded that no composition includes yet: the counts,
    and no composed figure (a stale one would understate the spend)."""
    return {
        SpendFields.UP_TO_DATE: False,
        "draws_recorded": len(draws),
        "dp_draws": sum(d[DrawFields.DP] == "yes" for d in draws),
        "composed_epsilon": None,
        "composed_delta": None,
        "note": (
            "Noise draws were recorded on this data set after its spend was last composed, so no composed cost "
            "is stated here yet. Each experiment's privacy_ledger job composes it (after its experiment's votes), "
            "so a finished run leaves it composed; after a failed, killed or partial run, the next run does. To "
            "compose it now: python -m private_evolution.ledger compose <the folder of this file>."
        ),
    }


def draws_digest(draws: list[dict]) -> str:
    """A digest of the draws' public fields (the rows of privacy_draws.csv, no key, no seed id),
    which hold everything a composition uses: equal digests, equal spend."""
    rows = sorted(json.dumps({name: d.get(name) for name in DrawFields.PUBLIC}, sort_keys=True) for d in draws)
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()


def accountant_version() -> str:
    """The accountant a composition used (the dp-accounting distribution's version, read
    without importing it): a composition by another version is composed again."""
    from importlib.metadata import version

    return f"dp-accounting {version('dp-accounting')}"


def is_current(spend: dict | None, draws: list[dict]) -> bool:
    """Whether a stored public spend composes exactly the ledger's draws, by this accountant."""
    return bool(
        spend
        and spend.get(SpendFields.UP_TO_DATE)
        and spend.get(SpendFields.DRAWS_DIGEST) == draws_digest(draws)
        and spend.get(SpendFields.ACCOUNTANT) == accountant_version()
    )


def start_spend(ledger_private: str | os.PathLike, spend_path: str | os.PathLike) -> None:
    """The data set's public spend where there is none: out of date (counts only) until an
    experiment's privacy_ledger, which first checks that the ledger holds the experiment's draws,
    composes it. A ledger that lost records (deleted or restored from an old backup) is never
    stated as composed here."""
    with locked(ledger_private):
        write_json(spend_path, pending_spend(read_draws(ledger_private)))


def current_spend(ledger_private: str | os.PathLike) -> tuple[list[dict], dict]:
    """Every draw of the data set and its public spend, consistent with each other: the stored
    spend when it composes every draw, else composed now and written back (after a killed run,
    or draws of another experiment). The composition (seconds) runs outside the ledger's lock,
    so votes of other runs do not wait for it; it is written only if no draw came meanwhile,
    else composed again under the lock."""
    with locked(ledger_private):
        draws = read_draws(ledger_private)
        stored = _stored_spend(ledger_private)
        if is_current(stored, draws):
            return draws, stored
    summary = spend_summary(draws)
    with locked(ledger_private):
        now = read_draws(ledger_private)
        if draws_digest(now) != summary[SpendFields.DRAWS_DIGEST]:  # a draw came while composing
            draws, summary = now, spend_summary(now)
        write_json(_spend_file(ledger_private), summary)
        return draws, summary


def _runs_delta(draws: list[dict]) -> float:
    """The deltas of the runs that drew, added: each run's own delta, once."""
    runs = {(d[DrawFields.EXPERIMENT], record_label(d[DrawFields.EPSILON])): d[DrawFields.DELTA] for d in draws}
    return sum(runs.values())


def composition(draws: list[dict], relation: str) -> dict:
    """(epsilon, delta) of every draw in ``draws`` seen under ``relation``, by dp-accounting's PLD
    of the discrete Gaussian. The sampler's total-variation error (discrete_gaussian) is added to
    delta: n samples each eta-close to exact are n*eta-close, which costs (1 + e^epsilon) n*eta."""
    from .accounting import composed_epsilon
    from .discrete_gaussian import tv_bound_per_bin

    if not draws:
        return {"epsilon": 0.0, "delta": 0.0}
    delta = _runs_delta(draws)
    epsilon = composed_epsilon([{"sigma": d[DrawFields.SIGMA], "k": d[DrawFields.K]} for d in draws], delta, relation)
    distance = sum(d[DrawFields.BINS] * tv_bound_per_bin(d[DrawFields.SIGMA]) for d in draws)
    if not math.isfinite(epsilon) or epsilon > 700:  # e^epsilon overflows: the figure says nothing anyway
        return {"epsilon": epsilon, "delta": delta if not math.isfinite(epsilon) else math.inf}
    return {"epsilon": epsilon, "delta": delta + (1 + math.exp(epsilon)) * distance}


def headline_relation(draws: list[dict]) -> str:
    """The neighbouring relation the ledger is stated in: the one every draw was calibrated
    for, or add/remove (the PE paper's) when they differ. Draws of different splits of the same
    source (another split seed or size) are stated under replace-one: adding or removing one
    record of the source reshuffles a split, replacing one changes at most one private sample
    of each split."""
    if len({d.get(DrawFields.SPLIT) for d in draws}) > 1:
        return "replace_one"
    relations = {d[DrawFields.ADJACENCY] for d in draws}
    return relations.pop() if len(relations) == 1 else "add_remove"


def _published_without_noise(draws: list[dict]) -> list[dict]:
    """Draws of a finite epsilon with a public seed: their noisy histograms are in the public
    results and the noise can be regenerated, so the counts are public."""
    return [d for d in draws if d[DrawFields.SEED_MODE] == "public" and record_label(d[DrawFields.EPSILON]) != "inf"]


def spend_summary(draws: list[dict]) -> dict:
    """The public spend of a ledger: counts and composed cost, no key, no seed, no data."""
    dp_draws = [d for d in draws if d[DrawFields.DP] == "yes"]
    relation = headline_relation(dp_draws)
    by_relation = {name: composition(dp_draws, name) for name in RELATIONS}
    experiments = sorted({d[DrawFields.EXPERIMENT] for d in dp_draws})
    exposed = _published_without_noise(draws)
    headline = by_relation[relation]
    if exposed:  # no bound holds for someone who sees those votes
        headline = {"epsilon": math.inf, "delta": headline["delta"]}
    return {
        SpendFields.UP_TO_DATE: True,
        SpendFields.DRAWS_COMPOSED: len(draws),
        SpendFields.DRAWS_DIGEST: draws_digest(draws),
        SpendFields.ACCOUNTANT: accountant_version(),
        "dp_draws": len(dp_draws),
        "composed_epsilon": headline["epsilon"],
        "composed_delta": headline["delta"],
        "relation": relation,
        "public_seed_votes": len(exposed),
        "by_relation": by_relation,
        "experiments": {
            name: {
                "dp_draws": sum(d[DrawFields.EXPERIMENT] == name for d in dp_draws),
                "runs_with_draws": sorted(
                    {record_label(d[DrawFields.EPSILON]) for d in dp_draws if d[DrawFields.EXPERIMENT] == name}, key=float
                ),
            }
            for name in experiments
        },
        "non_dp_draws": {
            reason: sum(d[DrawFields.DP] == reason for d in draws) for reason in sorted({d[DrawFields.DP] for d in draws} - {"yes"})
        },
        "note": (
            "Headline privacy cost of this private data set: every DP noisy vote ever drawn from it, by every "
            "experiment that reads it (tuning runs and reruns that drew new noise included), composed with "
            "dp-accounting's PLD accountant for the discrete Gaussian, at delta = the sum of the deltas of the "
            "runs that drew plus the noise sampler's total-variation bound. Every such vote's noisy histogram is "
            "public, so this is what someone who sees every public output learns at most. Every preparation "
            "of the private set (a run of prepare_private, whether or not the data changed) shows as new draws. Draws that are not DP are counted apart: epsilon = inf votes stay private, but "
            "a finite-epsilon vote with a public seed is in the public results with noise anyone can remove, so "
            "while one exists (public_seed_votes) the headline is infinite; by_relation gives the DP draws' cost. "
            "Draws of different splits of one source are stated under replace-one (relation). The ledger lives in "
            "this working directory's results/_ledger, named by the loader and the data's absolute path: moving "
            "the data or the results folder starts another ledger, and deleting it loses the count (the "
            "experiments' privacy_ledger and release then refuse)."
        ),
    }


# ----------------------------------------------------------------------------- releases


def released(ledger_private: str | os.PathLike) -> list[dict]:
    """Every release ever made from the data set, oldest first."""
    path = Path(ledger_private) / RELEASED_FILE
    return read_json(path)["releases"] if path.is_file() else []


def check_not_released(ledger_private: str | os.PathLike, experiment: str, epsilon_label: str, iteration: int, key: str) -> None:
    """Refuse a new draw for a vote whose earlier draw a release published."""
    for entry in released(ledger_private):
        published = entry["draws"].get(epsilon_label, {}).get(str(iteration)) if entry["experiment"] == experiment else None
        if published is not None and published != key:
            raise PEError(
                f"the vote of experiment '{experiment}', epsilon={epsilon_label}, iteration {iteration} was already "
                f"released ({entry['folder']}), and this rerun would draw new noise (its public query, code, config or "
                "data changed, or the private embeddings were computed otherwise: other run settings, library "
                "versions, another kind of host or kernel variables, a GPU, or the private data was prepared again, "
                "which cannot be undone): that is a second release of the private data, spending the budget again. "
                "To keep the released result, undo the change that made the vote rerun (unless it was a new "
                "preparation); to release again on purpose, use a new experiment name (every draw is counted in the "
                "data set's ledger either way). Nothing was drawn"
            )


def record_release(ledger_private: str | os.PathLike, experiment: str, draws: dict[str, dict[str, str]], folder: str) -> list[dict]:
    """Add a release (epsilon label -> iteration -> draw key, and the folder it is kept in) to the
    ledger, once per folder; returns every release. Its cost is that of its draws: a release of
    draws an earlier one published costs nothing more (released_draws counts each once). A folder
    the ledger lists with other draws is refused: keeping the first entry would leave the new
    draws out of the released ones (release.version_folder never hands out a listed folder)."""
    with locked(ledger_private):
        entries = released(ledger_private)
        listed = [e for e in entries if e["folder"] == folder]
        if any(e["experiment"] != experiment or e["draws"] != draws for e in listed):
            raise PEError(
                f"the ledger already lists a release kept in {folder} with other draws: a new release needs a "
                "folder of its own (run the release rule again; it takes the next free number). Nothing was recorded"
            )
        if not listed:
            entries.append({"experiment": experiment, "folder": folder, "time": now(), "draws": draws})
            write_json(Path(ledger_private) / RELEASED_FILE, {"releases": entries})
    return entries


def released_draws(ledger_private: str | os.PathLike) -> list[dict]:
    """The draw records of every release, each once (a draw published twice costs once)."""
    keys = sorted({key for entry in released(ledger_private) for by_t in entry["draws"].values() for key in by_t.values()})
    require_draws(ledger_private, keys)
    return [find_draw(ledger_private, key) for key in keys]


def main(argv: list[str] | None = None) -> None:
    """``python -m private_evolution.ledger compose results/_ledger/<source>``: compose a data
    set's public spend now (after a failed or killed run left it out of date)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m private_evolution.ledger", description=main.__doc__)
    parser.add_argument("action", choices=["compose"])
    parser.add_argument("ledger", type=Path, help="the data set's ledger folder, results/_ledger/<source>")
    args = parser.parse_args(argv)
    if not (args.ledger / "private" / DRAWS_FOLDER).is_dir():
        raise SystemExit(f"'{args.ledger}' holds no draw records (expected {args.ledger / 'private' / DRAWS_FOLDER})")
    draws, spend = current_spend(args.ledger / "private")
    print(
        f"{_spend_file(args.ledger / 'private')}: {len(draws)} draws, {spend['dp_draws']} DP; "
        f"composed epsilon {spend['composed_epsilon']:.4g} at delta {spend['composed_delta']:.3g} ({spend['relation']})"
    )


if __name__ == "__main__":
    main()
