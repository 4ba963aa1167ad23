"""What a stage job is given: its files, params, wildcards and threads, read from its standard input.

Each rule runs its stage script as a shell command (:func:`stage_command`, used by
``stage_command`` in workflow/rules/common.smk), not through Snakemake's ``script:`` directive,
whose preamble imports Snakemake to unpickle its job object in every job (0.05 to 0.06 s of CPU
a job, over the 160 jobs of the default run: benchmarks/JOBS.md). The command feeds the script
``key=value`` records (separated by ASCII's record separator) through a here-string, on standard
input, so that no value meets the system's limit on the length of one argument (128 KiB, which a run's list of
metrics files passes at about 75 iterations):

- ``files=<json>``: the job's input and output files, in order and by name, and its
  wildcards (the rule's ``job_files`` param, made by Snakemake from the job's own files);
- ``log=[...]`` and ``threads=N``;
- for each param the script reads, ``params.<name>=`` its printed form (``repr``), and
  ``params.<name>!s=`` its ``str``. The two differ for :class:`config.JobOptions` only,
  whose printed form is its rerun key, ``JobOptions({...})`` (without run settings), and
  whose ``str`` holds every value: a param printed as ``JobOptions(...)`` is read from its
  ``str``, any other from its printed form.

Values are Python literals (``inf`` and ``nan`` included), parsed without evaluating code; a
JobOptions below the top level of a param (in a list, in another dict) would arrive as its rerun
key, so it is refused, as is any value that is no literal.
"""

from __future__ import annotations

import ast
import json
import math
import shlex
import sys

FILES, LOG, THREADS, PARAMS = "files", "log", "threads", "params."
FULL = "!s"  # suffix of a param's str() record
OPTIONS_CALL = "JobOptions"  # how config.JobOptions prints: a call, which is no literal
NAMES = {"inf": math.inf, "nan": math.nan, "None": None, "True": True, "False": False}
# Between the records of the here-string: ASCII's record separator, in bash's quoting. Not a
# newline: a str param's str() (read only for JobOptions, but sent for every param) may hold one.
SEPARATOR = "\x1e"
BASH_SEPARATOR = "$'\\x1e'"


class NamedFiles(list):
    """A job's input, output or log files: a list, and each named entry as an attribute,
    by ``[name]`` and ``get(name)`` (a name may stand for one file or a list of them)."""

    def __init__(self, files: list, named: dict | None = None):
        super().__init__(files)
        self._named = dict(named or {})

    def __getattr__(self, name):
        try:
            return self.__dict__["_named"][name]
        except KeyError:
            raise AttributeError(f"the job has no file named {name!r}") from None

    def __getitem__(self, key):
        return self._named[key] if isinstance(key, str) else super().__getitem__(key)

    def get(self, name, default=None):
        return self._named.get(name, default)

    def keys(self):
        return self._named.keys()


class Values:
    """Named values (params, wildcards) read as attributes."""

    def __init__(self, values: dict):
        self.__dict__.update(values)

    def __getattr__(self, name):
        raise AttributeError(f"the job was given no value named {name!r} (add it to the rule's stage_command)")


class StageJob:
    def __init__(self, files: dict, log: list, threads: int, params: dict):
        self.input = NamedFiles(files["input"], files["named_input"])
        self.output = NamedFiles(files["output"], files["named_output"])
        self.wildcards = Values(files["wildcards"])
        self.log = NamedFiles(log)
        self.threads = threads
        self.params = Values(params)

    def label(self, stage: str, detail: str = "") -> str:
        """The job's name in its log lines: the stage, ``detail``, and its shard if it is one."""
        shard = vars(self.params).get("shard")
        return " ".join(part for part in (stage, detail, f"shard {shard[0] + 1}/{shard[1]}" if shard else "") if part)


def is_options_call(node: ast.AST) -> bool:
    """Whether ``node`` is how a JobOptions prints: ``JobOptions(...)``."""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == OPTIONS_CALL


def parse_literal(text: str):
    """A Python literal (containers, numbers, strings, None, booleans, inf, nan), or ValueError."""

    def value(node):
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name) and node.id in NAMES:
            return NAMES[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = value(node.operand)
            if isinstance(operand, (int, float)) and not isinstance(operand, bool):
                return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.List):
            return [value(item) for item in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(value(item) for item in node.elts)
        if isinstance(node, ast.Dict) and None not in node.keys:
            return {value(key): value(item) for key, item in zip(node.keys, node.values)}
        if is_options_call(node):
            raise ValueError("a JobOptions inside another value reaches a job as its rerun key only")
        raise ValueError(f"not a literal: {ast.unparse(node)[:200]}")

    return value(ast.parse(text, mode="eval").body)


def param_value(name: str, printed: str, full: str):
    """A param from its two records: JobOptions (printed as a call) from its str, others as printed."""
    try:
        return parse_literal(full if is_options_call(ast.parse(printed, mode="eval").body) else printed)
    except (ValueError, SyntaxError) as error:
        raise ValueError(f"param {name!r} of the job is no literal ({error}): {printed[:200]!r}") from None


def parse_records(records: list[str]) -> StageJob:
    fields, printed, full = {}, {}, {}
    for record in records:
        key, separator, text = record.partition("=")
        if not separator:
            raise ValueError(f"a stage job's input record is key=value, got {record[:200]!r}")
        if key.startswith(PARAMS):
            name = key[len(PARAMS):]
            if name.endswith(FULL):
                full[name[: -len(FULL)]] = text
            else:
                printed[name] = text
        else:
            fields[key] = text
    params = {name: param_value(name, text, full.get(name, "")) for name, text in printed.items()}
    return StageJob(json.loads(fields[FILES]), parse_literal(fields[LOG]), int(fields[THREADS]), params)


def stage_job(text: str | None = None) -> StageJob:
    """The job of this process, from the records its command fed it (standard input by default;
    a here-string ends with a newline)."""
    text = sys.stdin.read() if text is None else text
    return parse_records(text.removesuffix("\n").split(SEPARATOR))


def stage_command(python: str, script: str, params) -> str:
    """The shell command (a Snakemake format string) that runs ``script`` as a job reading
    :func:`stage_job`: the job's files (its rule's ``job_files`` param), log and threads, and
    each of ``params`` printed and as str, a record each in a here-string.

    ``-P``: the script's folder is not put on the import path (scripts/select.py would shadow
    the standard library's select).
    """
    records = [f"{FILES}={{params.job_files:q}}", f"{LOG}={{log!r:q}}", f"{THREADS}={{threads}}"]
    for name in params:
        records += [f"{PARAMS}{name}={{params.{name}!r:q}}", f"{PARAMS}{name}{FULL}={{params.{name}!s:q}}"]
    command = f"{shlex.quote(python)} -P {shlex.quote(script)}".replace("{", "{{").replace("}", "}}")
    return f"{command} <<< {BASH_SEPARATOR.join(records)}"


def job_files(wildcards, input, output) -> "JobFiles":
    """The ``job_files`` param (see workflow/rules/common.smk)."""
    return JobFiles(wildcards, input, output)


class JobFiles:
    """A job's files and wildcards as JSON (its ``str``). Not a builtin type, and a function of
    input and output: Snakemake compares neither for reruns (the files are tracked as files)."""

    def __init__(self, wildcards, input, output):
        self.text = json.dumps(
            {
                "input": list(input),
                "named_input": dict(input.items()),
                "output": list(output),
                "named_output": dict(output.items()),
                "wildcards": dict(wildcards.items()),
            }
        )

    def __str__(self) -> str:
        return self.text
