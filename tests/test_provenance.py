import inspect
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


def implementation_names(registry, name):
    cls = registry.get(name)
    return {str(p.relative_to(REPO / "src")) for p in provenance.code_files(inspect.getsourcefile(cls))}


def test_a_stage_digest_holds_no_implementation_and_no_config_check():
    """Registries name their built-ins by "module:Class" strings: a stage's digest covers the
    registry and the base class, and the chosen implementation is added by name (code() in
    common.smk); the config check runs in the Snakefile only."""
    from private_evolution.apis import REGISTRY as APIS
    from private_evolution.embedders import REGISTRY as EMBEDDERS
    from private_evolution.metrics import REGISTRY as METRICS

    implementations = {
        f"private_evolution/{package}/{module}.py"
        for package, registry in (("apis", APIS), ("embedders", EMBEDDERS), ("metrics", METRICS))
        for module in (registry.builtins[name].partition(":")[0].rpartition(".")[2] for name in registry.builtins)
    }
    assert len(implementations) == 10
    for script in sorted(SCRIPTS.glob("*.py")):
        stage = names(script.name)
        assert not stage & implementations, (script.name, stage & implementations)
        assert "private_evolution/config.py" not in stage, script.name
    assert {"private_evolution/apis/base.py", "private_evolution/registry.py"} <= names("vary.py")
    assert "private_evolution/embedders/base.py" in names("embed.py")


def test_an_implementation_digest_holds_its_module_base_class_and_helpers_not_its_siblings():
    from private_evolution.apis import REGISTRY as APIS
    from private_evolution.embedders import REGISTRY as EMBEDDERS
    from private_evolution.metrics import REGISTRY as METRICS

    glyphs = implementation_names(APIS, "glyph_simulator")
    # its base class and the helpers it imports (the simulator only through a lazy import)
    assert {"private_evolution/apis/glyph_simulator.py", "private_evolution/apis/base.py", "private_evolution/simulator.py"} <= glyphs
    siblings = {f"private_evolution/apis/{name}.py" for name in ("stable_diffusion", "diffusion_unet", "consistency", "diffusers_api")}
    assert not siblings & glyphs
    # an implementation built on another imports it: that one is in
    assert "private_evolution/apis/diffusion_unet.py" in implementation_names(APIS, "consistency")
    pixels = implementation_names(EMBEDDERS, "pixels")
    assert {"private_evolution/embedders/pixels.py", "private_evolution/embedders/base.py"} <= pixels
    assert not {"private_evolution/embedders/inception.py", "private_evolution/embedders/effnet_lite0.py"} & pixels
    recall = implementation_names(METRICS, "precision_recall")
    assert {"private_evolution/metrics/base.py", "private_evolution/metrics/measures.py"} <= recall
    assert "private_evolution/metrics/frechet_distance.py" not in recall
    # the digest names the class, and differs between siblings
    digest = provenance.implementation_digest(EMBEDDERS.get("pixels"))
    assert digest.startswith("private_evolution.embedders.pixels.PixelEmbedder:")
    assert digest != provenance.implementation_digest(EMBEDDERS.get("inception"))


def test_an_import_counts_the_packages_it_runs_first(tmp_path, monkeypatch):
    """Importing ``private_evolution.sub.mod`` runs ``sub/__init__`` first: its code is in the digest."""
    # the embed stage's module imports nothing of stages/__init__ by name, yet runs it
    assert "private_evolution/stages/__init__.py" in names("embed.py")
    package = tmp_path / "private_evolution"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("LOGGER = 1\n")
    (package / "sub" / "mod.py").write_text("X = 1\n")
    script = tmp_path / "script.py"
    script.write_text("from private_evolution.sub.mod import X\n")
    monkeypatch.setattr(provenance, "PACKAGE_DIR", package)
    provenance.code_files.cache_clear()
    try:
        assert {str(p.relative_to(tmp_path)) for p in provenance.code_files(str(script))} == {
            "script.py", "private_evolution/__init__.py", "private_evolution/sub/__init__.py", "private_evolution/sub/mod.py",
        }
    finally:
        provenance.code_files.cache_clear()


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


def test_epsilon_labels_come_from_a_leaf_module_in_the_digests_that_use_them():
    """How an epsilon is written in file names and draw records (epsilons.py) is a leaf: editing
    it reruns the stages that write such names (through ledger.py), and nothing it imports
    drags in the config check or the registries."""
    leaf = {str(p.relative_to(REPO / "src")) for p in provenance.code_files(str(REPO / "src" / "private_evolution" / "epsilons.py"))}
    assert leaf == {"private_evolution/epsilons.py", "private_evolution/__init__.py"}
    for script in ("vote.py", "data_ledger.py", "release.py", "privacy_ledger.py"):
        assert "private_evolution/epsilons.py" in names(script), script
