"""Mutation score of the modules where a bug hurts most, measured with mutmut.

    .venv/bin/python bench/mutation.py --setup          # once: the tool's own environment
    .venv/bin/python bench/mutation.py                  # every module, one at a time
    .venv/bin/python bench/mutation.py mac edit -v      # some modules, with each survivor's diff

Each module is mutated in a scratch copy of the working tree (tracked and untracked files that
git does not ignore), never in the tree itself. mutmut records, in one run of the module's fast
tests, which tests call which function, and then runs for each mutant only the tests that cover
the mutated function, each mutant in a process forked from one that has imported everything.
The result per module: mutants, killed (a test failed or timed out), survived, and the survivors
judged equivalent in ``bench/mutation-equivalent.txt`` (one line each: mutant name, a hash of
its diff so an entry goes stale when the code changes, and the reason). The score is killed out
of the mutants that are not equivalent. Not part of the CI test command: a full run takes
minutes per module on two cores.

Why mutmut and not cosmic-ray: mutmut 3 selects the covering tests per function and forks each
mutant from a warmed-up process, so a mutant costs milliseconds to a second here; cosmic-ray
starts the whole test command for each mutant (a Python start, lxml, hypothesis, collection:
seconds each), which for the ~4,000 mutants of these modules is hours on two cores.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".cache" / "mutation-venv"
EQUIVALENT = ROOT / "bench" / "mutation-equivalent.txt"
MUTMUT_VERSION = "3.8.1"
# The tool's environment: mutmut and what the project and its fast tests import.
TOOL_PACKAGES = [f"mutmut=={MUTMUT_VERSION}", "lxml>=6.1", "click>=8.1", "pyroute2>=0.9",
                 "xmlschema>=3.0", "pytest>=8", "hypothesis>=6.100", "pytest-timeout>=2.3"]


@dataclass(frozen=True)
class Module:
    """What to mutate (files, optionally only some functions) and which fast tests cover it."""

    name: str
    files: tuple[str, ...]
    tests: tuple[str, ...]
    functions: tuple[str, ...] = ()     # mutmut name patterns; empty: every function of the files
    deselect: tuple[str, ...] = ()      # test ids (or prefixes) left out of this module's runs


MODULES = [
    # The semantic checks, in two halves so that each run fits the tool's one-hour limit:
    # one document's network-level checks, then per-interface, metadata and across-files checks.
    Module("checks", ("xmltools/checks/network.py", "xmltools/checks/shared.py",
                      "xmltools/checks/__init__.py"),
           ("tests/test_checks.py", "tests/test_lint.py", "tests/quality/test_boundaries_dhcp.py",
            "tests/quality/test_check_messages.py", "tests/quality/test_boundaries_checks.py",
            "tests/quality/test_checks_network.py", "tests/quality/test_checks_values.py",
            "tests/quality/test_checks_forward.py", "tests/quality/test_checks_vlan.py",
            "tests/quality/test_checks_shared.py"),
           # (every attribute of every fixture replaced by junk: seconds for each mutant it covers,
           # and it asserts only that lint does not crash, which the other tests see as well)
           deselect=("tests/test_lint.py::test_garbage_attribute_values_never_crash_lint",)),
    Module("checks-nics", ("xmltools/checks/interface.py", "xmltools/checks/unique.py",
                           "xmltools/checks/metadata.py", "xmltools/checks/forwards.py",
                           "xmltools/checks/crossfile.py"),
           ("tests/test_checks.py", "tests/test_lint.py", "tests/test_lint_cross.py",
            "tests/test_cli_lint_scope.py", "tests/quality/test_check_messages.py",
            "tests/quality/test_boundaries_checks.py", "tests/quality/test_checks_metadata.py",
            "tests/quality/test_checks_interface.py", "tests/quality/test_checks_values.py",
            "tests/quality/test_checks_unique.py", "tests/quality/test_checks_forward.py",
            "tests/quality/test_checks_vlan.py", "tests/quality/test_checks_crossfile.py"),
           # (and the tests of README.md and the pre-commit files, which the scratch copy's test
           # folder does not hold)
           deselect=("tests/test_lint.py::test_garbage_attribute_values_never_crash_lint",
                     "tests/test_cli_lint_scope.py::test_scope_is_documented_in_the_readme",
                     "tests/test_cli_lint_scope.py::test_pre_commit_",
                     "tests/test_cli_lint_scope.py::test_the_whole_repository_command")),
    Module("mac", ("xmltools/mac.py",),
           ("tests/test_mac.py", "tests/quality/test_boundaries_ids.py",
            "tests/quality/test_messages_ids.py")),
    Module("uuids", ("xmltools/uuids.py",),
           ("tests/test_uuids.py", "tests/quality/test_messages_ids.py")),
    # (not tests/robustness/test_preserve_property.py: ten seconds for each mutant it covers)
    Module("edit", ("xmltools/edit.py", "xmltools/domain.py", "xmltools/preserve.py"),
           ("tests/test_edit.py", "tests/test_cli_edit.py", "tests/quality/test_boundaries_ids.py",
            "tests/quality/test_boundaries_edit.py", "tests/quality/test_boundaries_domain.py",
            "tests/quality/test_boundaries_style.py", "tests/test_cli_edit_select.py",
            "tests/test_edit_new.py", "tests/test_versions.py", "tests/test_preserve.py",
            "tests/test_cli_forward.py", "tests/quality/test_edit_writeback.py",
            "tests/quality/test_edit_values.py", "tests/quality/test_preserve_writer.py",
            "tests/quality/test_preserve_reader.py", "tests/quality/test_preserve_cases.py")),
    Module("vlan-grammar", ("xmltools/metadata.py", "xmltools/build_network.py",
                            "xmltools/build_interface.py", "xmltools/rules.py"),
           # (not tests/test_rules.py: it inspects the module's functions, which mutmut wraps)
           ("tests/quality/test_boundaries_vlan.py", "tests/quality/test_boundaries_planner.py",
            "tests/test_build_interface.py", "tests/test_vlan_grammar.py"),
           ("*parse_vlan_list*", "*parse_vlan_id*", "*vid_digits*", "*vlan_id_problem*", "*_check_vid*",
            "*parse_vlan_tags*", "*VlanSpec*", "*parse_vlan_native*", "*resolve_vlan*",
            "*build_libvirt_vlan*", "*build_meta_vlan*", "*parse_vlan_ranges*",
            "*format_vlan_ranges*", "*format_vlan_ids*", "*merge_vlan_ids*", "*vlan_id_ok*",
            "*bridge_vid_ok*", "*VlanWish*")),
    Module("fastpath", ("hooks/fastpath.py", "hooks/protocol.py"),
           ("tests/quality/test_fastpath_table.py", "tests/quality/test_protocol_table.py",
            "tests/hooks/test_entry.py")),
    Module("planner", ("hooks/planner/dispatch.py", "hooks/planner/domain.py", "hooks/planner/facts.py",
                       "hooks/planner/interfaces.py", "hooks/planner/network.py", "hooks/planner/sriov.py",
                       "hooks/planner/vlans.py"),
           ("tests/hooks/test_planner.py", "tests/quality/test_boundaries_planner.py",
            "tests/robustness/test_value_validation.py", "tests/quality/test_planner_facts.py",
            "tests/quality/test_planner_network.py", "tests/quality/test_planner_dispatch.py",
            "tests/quality/test_planner_vlans.py", "tests/quality/test_planner_ports.py",
            "tests/quality/test_planner_sriov.py", "tests/quality/test_planner_prepare.py",
            "tests/quality/test_planner_interfaces.py")),
    Module("state", ("hooks/state.py", "hooks/actions/claims.py"),
           ("tests/hooks/test_state.py", "tests/hooks/test_actions.py", "tests/hooks/test_executor.py",
            "tests/quality/test_undo_boundaries.py", "tests/quality/test_state_store.py",
            "tests/quality/test_state_claims.py")),
    Module("actions", ("hooks/actions/tap.py", "hooks/actions/bridge.py", "hooks/actions/ovs.py",
                       "hooks/actions/macvtap.py", "hooks/actions/sriov.py",
                       "hooks/actions/records.py", "hooks/actions/base.py"),
           ("tests/hooks/test_actions.py", "tests/hooks/test_executor.py",
            "tests/quality/test_undo_boundaries.py", "tests/quality/test_actions_describe.py",
            "tests/quality/test_actions_tap.py", "tests/quality/test_actions_sriov.py",
            "tests/quality/test_actions_vlans.py", "tests/quality/test_actions_records.py")),
    Module("planner-forwards", ("hooks/planner/forwards.py", "hooks/planner/hotplug.py"),
           ("tests/hooks/test_forwards.py", "tests/hooks/test_watch.py",
            "tests/security/test_forward_targets.py", "tests/quality/test_planner_forwards.py")),
    Module("actions-forward", ("hooks/actions/forward.py",),
           ("tests/hooks/test_forwards.py", "tests/hooks/test_watch.py",
            "tests/security/test_forward_targets.py", "tests/quality/test_actions_forward.py")),
    # OVN: the planning, the actions' apply and undo against the fake northbound database, and
    # the adapter's pure parts (ovn.conf, nbctl argv, error classes). Not tests/ovn: a real OVN.
    Module("ovn", ("hooks/planner/ovn.py", "hooks/actions/ovn.py", "hooks/adapters/ovn.py"),
           ("tests/hooks/test_ovn_plan.py", "tests/test_ovn_adapter.py",
            "tests/quality/test_ovn_exact.py", "tests/quality/test_ovn_batch.py")),
    # The deadline (its timer and where it may fire) and the executor (steps, change sets,
    # rollback, best effort).
    Module("executor", ("hooks/deadline.py", "hooks/executor.py"),
           ("tests/hooks/test_deadline.py", "tests/hooks/test_executor.py",
            "tests/quality/test_ovn_batch.py", "tests/quality/test_undo_boundaries.py",
            "tests/quality/test_executor_exact.py")),
]

KILLED = {"killed", "timeout", "segfault"}


# --------------------------------------------------------------------------- equivalents


@dataclass
class Equivalent:
    name: str
    digest: str
    reason: str


def read_equivalents(path: Path = EQUIVALENT) -> dict[str, Equivalent]:
    """``name digest reason…`` per line; ``#`` comments and blank lines are skipped."""
    found: dict[str, Equivalent] = {}
    if not path.exists():
        return found
    for number, line in enumerate(path.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        if len(parts) < 3:
            raise SystemExit(f"{path}:{number}: expected 'mutant-name digest reason'")
        found[parts[0]] = Equivalent(*parts)
    return found


def diff_digest(diff: str) -> str:
    """A short hash of a mutant's changed lines, blind to line numbers and file paths."""
    body = [line for line in diff.splitlines()
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    return hashlib.sha256("\n".join(body).encode()).hexdigest()[:10]


# --------------------------------------------------------------------------- the run


def scratch_copy(dest: Path) -> None:
    """The working tree's files (not .git, .venv or caches) under ``dest``."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for raw in listed:
        if not raw:
            continue
        rel = raw.decode()
        src = ROOT / rel
        if not src.is_file():      # deleted in the working tree but still in the index
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
    # libvirt's source tree and schemas some tests read; read-only use.
    if (ROOT / ".cache" / "libvirt-src").exists():
        (dest / ".cache").mkdir(exist_ok=True)
        os.symlink(ROOT / ".cache" / "libvirt-src", dest / ".cache" / "libvirt-src")


def _toml_list(values: tuple[str, ...] | list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"


def configure(work: Path, module: Module) -> None:
    """Write the module's [tool.mutmut] table into the scratch copy's pyproject.toml."""
    pyproject = work / "pyproject.toml"
    text = (ROOT / "pyproject.toml").read_text()
    tests = [t for t in module.tests if (work / t).exists()]
    text += f"""

[tool.mutmut]
source_paths = ["xmltools", "hooks"]
only_mutate = {_toml_list(module.files)}
pytest_add_cli_args_test_selection = {_toml_list(tests)}
also_copy = ["fixtures", "rng"]
pytest_add_cli_args = {_toml_list(["-p", "no:cacheprovider", "-q", "-x", "-p", "no:randomly",
                                     *(f"--deselect={t}" for t in module.deselect)])}
use_git_change_detection = false
track_dependencies = false
timeout_multiplier = 10.0
"""
    pyproject.write_text(text)


@dataclass
class Result:
    module: str
    statuses: dict[str, str] = field(default_factory=dict)     # mutant -> mutmut's status
    diffs: dict[str, str] = field(default_factory=dict)        # survivors only
    equivalent: dict[str, str] = field(default_factory=dict)   # mutant -> reason
    stale: list[str] = field(default_factory=list)             # equivalent entries whose diff changed
    seconds: float = 0.0

    @property
    def killed(self) -> int:
        return sum(s in KILLED for s in self.statuses.values())

    @property
    def survivors(self) -> list[str]:
        return [m for m, s in self.statuses.items() if s not in KILLED]

    @property
    def survived(self) -> int:
        return len(self.survivors) - len(self.equivalent)

    @property
    def score(self) -> float:
        judged = len(self.statuses) - len(self.equivalent)
        return 100.0 * self.killed / judged if judged else 100.0


def mutmut(work: Path, *args: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("CI", None)   # a missing prerequisite of some test must not fail the whole run here
    return subprocess.run([str(VENV / "bin" / "mutmut"), *args], cwd=work, env=env, text=True,
                          capture_output=True, timeout=timeout)


def run_module(work: Path, module: Module, jobs: int, equivalents: dict[str, Equivalent]) -> Result:
    shutil.rmtree(work / "mutants", ignore_errors=True)
    _FUNCTIONS.clear()
    # The tests run inside mutants/: libvirt's source tree is linked there, not copied.
    if (work / ".cache").exists():
        (work / "mutants").mkdir()
        os.symlink(work / ".cache", work / "mutants" / ".cache")
    configure(work, module)
    started = time.monotonic()
    # (the run itself may take more than the hour allowed to the other calls)
    proc = mutmut(work, "run", "--max-children", str(jobs), *module.functions, timeout=4 * 3600)
    result = Result(module.name, seconds=time.monotonic() - started)
    listing = mutmut(work, "results", "--all", "true")
    prefixes = tuple(f.removesuffix(".py").removesuffix("/__init__").replace("/", ".") + "."
                     for f in module.files)
    for line in listing.stdout.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and name.startswith(prefixes) and (not module.functions or _selected(name, module)):
            result.statuses[name] = status.strip()
    unrun = sum(s == "not checked" for s in result.statuses.values())
    if not result.statuses or unrun:
        # mutmut stops before the mutants when the module's tests fail without any mutant
        # (or pass with every function broken): that is a failure of the run, not a score.
        tail = "\n".join((proc.stdout + proc.stderr).replace("\r", "\n").splitlines()[-40:])
        raise SystemExit(f"{module.name}: mutmut ran {len(result.statuses) - unrun} of "
                         f"{len(result.statuses)} mutants (exit {proc.returncode}):\n{tail}")
    for name in result.survivors:
        diff = mutant_diff(work, name)
        result.diffs[name] = diff
        entry = equivalents.get(name)
        if entry is None:
            continue
        if entry.digest == diff_digest(diff):
            result.equivalent[name] = entry.reason
        else:
            result.stale.append(name)
    return result


def mutant_diff(work: Path, name: str) -> str:
    """The mutant's function against the original, as a unified diff (what ``mutmut show`` prints,
    without starting mutmut once per survivor)."""
    import difflib

    module, _, function = name.rpartition(".")
    path = work / "mutants" / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = path.with_suffix("") / "__init__.py"
    functions = _functions_of(path)
    orig_name = function.rsplit("__mutmut_", 1)[0] + "__mutmut_orig"
    if function not in functions or orig_name not in functions:
        return f"(no source found for {name})"
    return "\n".join(difflib.unified_diff(functions[orig_name], functions[function],
                                          str(path.relative_to(work)), str(path.relative_to(work)),
                                          lineterm="", n=1))


# A mutated file holds every mutant of every function: parsing it (and splitting it into lines,
# which ast.get_source_segment does on each call) once per survivor made this step quadratic.
_FUNCTIONS: dict[Path, dict[str, list[str]]] = {}


def _functions_of(path: Path) -> dict[str, list[str]]:
    """Each function's source lines in ``path``, its name replaced by FUNCTION: the text
    ``ast.get_source_segment`` gives, cut from the file's lines by the node's positions."""
    import ast

    if path not in _FUNCTIONS:
        source = path.read_text()
        # Lines as the parser splits them (only \r\n, \r and \n end a line), ends kept.
        lines = re.findall(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$", source)
        found: dict[str, list[str]] = {}
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno is not None:
                first, last = node.lineno - 1, node.end_lineno - 1
                start, end = node.col_offset, node.end_col_offset
                if first == last:
                    text = lines[first].encode()[start:end].decode()
                else:
                    text = (lines[first].encode()[start:].decode() + "".join(lines[first + 1:last])
                            + lines[last].encode()[:end].decode())
                found[node.name] = text.replace(node.name, "FUNCTION", 1).splitlines()
        _FUNCTIONS[path] = found
    return _FUNCTIONS[path]


def _selected(name: str, module: Module) -> bool:
    import fnmatch

    return any(fnmatch.fnmatch(name, pattern) for pattern in module.functions)


# --------------------------------------------------------------------------- report


def print_table(results: list[Result]) -> None:
    print()
    print("| module | mutants | killed | survived | equivalent | score |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r.module} | {len(r.statuses)} | {r.killed} | {r.survived} | {len(r.equivalent)} "
              f"| {r.score:.1f} % |")


def print_details(result: Result, verbose: bool) -> None:
    for name, reason in sorted(result.equivalent.items()):
        print(f"  equivalent {name}: {reason}")
    for name in sorted(set(result.survivors) - set(result.equivalent)):
        stale = " (stale entry in mutation-equivalent.txt: the diff changed)" if name in result.stale else ""
        print(f"  SURVIVED {name} [{result.statuses[name]}] digest {diff_digest(result.diffs[name])}{stale}")
        if verbose:
            print(re.sub(r"^", "      ", result.diffs[name].rstrip(), flags=re.M))


def setup() -> None:
    """Create the tool's virtual environment (mutmut pinned, and the project's dependencies)."""
    if not (VENV / "bin" / "python").exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", *TOOL_PACKAGES], check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help="modules to measure (default: all): "
                        + ", ".join(m.name for m in MODULES))
    parser.add_argument("--setup", action="store_true", help="create the tool's environment and exit")
    parser.add_argument("-j", "--jobs", type=int, default=2, help="mutants run at once (default 2)")
    parser.add_argument("-v", "--verbose", action="store_true", help="print each survivor's diff")
    parser.add_argument("--keep", action="store_true", help="keep the scratch copy (its path is printed)")
    parser.add_argument("--min-score", type=float, default=90.0,
                        help="exit 1 when a module scores below this (default 90)")
    args = parser.parse_args(argv)
    if args.setup:
        setup()
        return 0
    if not (VENV / "bin" / "mutmut").exists():
        print(f"no mutmut in {VENV}: run '{sys.argv[0]} --setup' first", file=sys.stderr)
        return 2
    known = {m.name: m for m in MODULES}
    unknown = [n for n in args.modules if n not in known]
    if unknown:
        print(f"unknown module(s) {', '.join(unknown)}; known: {', '.join(known)}", file=sys.stderr)
        return 2
    chosen = [known[n] for n in args.modules] if args.modules else MODULES
    equivalents = read_equivalents()
    work = Path(tempfile.mkdtemp(prefix="vnx-mutation-"))
    results: list[Result] = []
    failures: list[str] = []
    try:
        scratch_copy(work)
        for module in chosen:      # one at a time: the machine has two cores, shared
            print(f"{module.name}: mutating {', '.join(module.files)} ...", flush=True)
            try:
                result = run_module(work, module, args.jobs, equivalents)
            except SystemExit as failed:     # report it, go on with the next module
                print(failed, flush=True)
                failures.append(module.name)
                continue
            results.append(result)
            print(f"{module.name}: {len(result.statuses)} mutants, {result.killed} killed, "
                  f"{result.survived} survived, {len(result.equivalent)} equivalent, "
                  f"{result.score:.1f} % in {result.seconds:.0f} s", flush=True)
            print_details(result, args.verbose)
    finally:
        if args.keep:
            print(f"scratch copy kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print_table(results)
    if failures:
        print(f"not measured (the run failed): {', '.join(failures)}")
    return 0 if not failures and all(r.score >= args.min_score for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
