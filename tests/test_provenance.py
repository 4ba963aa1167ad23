from pathlib import Path

from private_evolution import provenance

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "src" / "scripts"


def names(script):
    return {str(p.relative_to(REPO / "src")) for p in provenance.code_files(str(SCRIPTS / script))}


def test_stage_code_includes_imported_modules_transitively():
    vote = names("vote.py")
    assert {
        "scripts/vote.py",
        "private_evolution/stages/vote.py",
        "private_evolution/stages/__init__.py",
        "private_evolution/vote.py",
        "private_evolution/io.py",
        "private_evolution/noise.py",
        "private_evolution/ledger.py",
        "private_evolution/discrete_gaussian.py",
        "private_evolution/logs.py",
        "private_evolution/__init__.py",
    } <= vote
    # The simulator is reached only through a lazy import inside apis.py: still followed.
    assert "private_evolution/simulator.py" in names("vary.py")


def test_the_lookahead_digest_covers_its_shard_and_gather_code():
    """lookahead and lookahead_shard run one script (a shard, the whole stage, or the gather)."""
    assert {"scripts/lookahead.py", "private_evolution/stages/lookahead.py", "private_evolution/sharding.py"} <= names("lookahead.py")


def test_each_stage_digests_only_its_own_code():
    assert "private_evolution/vote.py" not in names("plot.py")
    assert "private_evolution/select.py" not in names("vote.py")
    assert "private_evolution/stages/select.py" not in names("vary.py")
    assert "private_evolution/accounting.py" in names("calibrate.py")


def test_digest_changes_with_the_code(tmp_path, monkeypatch):
    package = tmp_path / "private_evolution"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from .b import f\n")
    (package / "b.py").write_text("def f():\n    return 1\n")
    (package / "c.py").write_text("X = 1\n")
    script = tmp_path / "script.py"
    script.write_text("from private_evolution.a import f\n")
    monkeypatch.setattr(provenance, "PACKAGE_DIR", package)
    provenance.code_files.cache_clear()
    before = provenance.code_digest(str(script))
    assert {p.name for p in provenance.code_files(str(script))} == {"script.py", "__init__.py", "a.py", "b.py"}
    (package / "c.py").write_text("X = 2\n")  # not imported: no change
    provenance.code_files.cache_clear()
    assert provenance.code_digest(str(script)) == before
    (package / "b.py").write_text("def f():\n    return 2\n")
    provenance.code_files.cache_clear()
    assert provenance.code_digest(str(script)) != before
    provenance.code_files.cache_clear()
