"""The conda environment mirrors pyproject.toml, and every config option is documented."""

import re
import tomllib
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    """A distribution's normalized name (PEP 503) from a requirement line."""
    return re.sub(r"[-_.]+", "-", re.split(r"[<>=!~ ;\[]", requirement, maxsplit=1)[0]).lower()


def _ci_pins() -> dict[str, str]:
    lines = (REPO / "requirements" / "ci.txt").read_text().splitlines()
    pins = [line.split("==") for line in lines if "==" in line and not line.startswith("#")]
    return {_name(name): version for name, version in pins}


def test_conda_env_holds_the_dependencies_at_the_ci_pins():
    """envs/pe.yaml: every dependency of pyproject.toml but snakemake (which runs jobs from outside
    the env), each at the version CI tests; torch's local build label (+cpu) aside."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((REPO / "envs" / "pe.yaml").read_text())
    pip_section = next(item["pip"] for item in env["dependencies"] if isinstance(item, dict))
    assert all("==" in line for line in pip_section), pip_section
    pinned = dict(line.split("==") for line in pip_section)
    wanted = {_name(dep) for dep in project["dependencies"]} - {"snakemake"}
    assert {_name(name) for name in pinned} == wanted
    ci = _ci_pins()
    for name, version in pinned.items():
        assert ci[_name(name)].split("+")[0] == version, (name, version, ci[_name(name)])
    assert "python=3.11" in env["dependencies"]  # CI's Python (requirements/ci.txt's header)


def test_faiss_is_an_extra_with_one_build_per_choice():
    """faiss-cpu and faiss-gpu install the same module: a hard faiss-cpu would clash with the gpu extra."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert not [dep for dep in project["dependencies"] if dep.startswith("faiss")]
    extras = project["optional-dependencies"]
    assert [dep.split(">")[0] for dep in extras["cpu"]] == ["faiss-cpu"]
    assert [dep.split(">")[0] for dep in extras["gpu"]] == ["faiss-gpu-cu12"]


def schema_option_paths(node, prefix=""):
    for key, sub in node.get("properties", {}).items():
        path = f"{prefix}{key}"
        yield path
        yield from schema_option_paths(sub, path + ".")


def test_every_config_option_is_documented():
    schema = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
    experiment = schema["$defs"]["experiment"]
    documented = (REPO / "config" / "README.md").read_text()
    top_level = [path for path in schema_option_paths(schema) if path != "experiments"]  # run-wide options, if any
    missing = [path for path in [*schema_option_paths(experiment), *top_level] if f"`{path}`" not in documented]
    assert missing == []


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    command = re.search(r"<!-- test-command -->\s*```bash\n(.*?)```", readme, re.S).group(1).strip().splitlines()[-1]
    assert command in (REPO / ".ci" / "run").read_text()


def test_every_rule_has_log_benchmark_and_conda():
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for block in re.split(r"\n(?=rule )", smk.read_text())[1:]:
            name = block.split(":", 1)[0].removeprefix("rule ")
            for directive in ("log:", "benchmark:", "conda:"):
                assert f"    {directive}" in block, f"rule {name} in {smk.name} lacks {directive}"


def test_readme_config_examples_pass_the_schema():
    from private_evolution.config import schema_problems

    readme = (REPO / "README.md").read_text()
    examples = [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)]
    examples = [e for e in examples if isinstance(e, dict) and "experiments" in e]
    assert len(examples) >= 2
    for example in examples:
        assert schema_problems(example) == []
