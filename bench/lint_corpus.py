#!/usr/bin/env python3
"""Benchmark ``virt-netxml lint`` against xmllint and virt-xml-validate on libvirt's corpus.

Run from the repository root with the project's virtual environment:

    .venv/bin/python bench/lint_corpus.py [--repeat N] [--sample N]

Over the domain files of libvirt's tests/qemuxml2argvdata (1,070 in libvirt 9.0) it times, in
the same run and interleaved so that background load hits every contender alike:

- ``virt-netxml lint`` in this process (schemas compiled once, then every file linted);
- ``virt-netxml lint FILES`` as one command, default settings and with --libvirt-schemas;
- ``xmllint --noout --relaxng /usr/share/libvirt/schemas/domain.rng FILES`` (one process);
- ``virt-xml-validate FILE`` once per file over a sample, extrapolated to the whole corpus.

Each figure is the best of N runs (the least disturbed by other work on the machine). It also
prints the corpus agreement counts with libvirt (see tests/test_corpus_libvirt.py).
This is a measurement script, not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import compileall
import re
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LIBVIRT_TESTS = ROOT / ".cache" / "libvirt-src" / "tests"
CORPUS = LIBVIRT_TESTS / "qemuxml2argvdata"
NETWORKS = LIBVIRT_TESTS / "networkxml2xmlin"
DOMAIN_RNG = Path("/usr/share/libvirt/schemas/domain.rng")


def cpu_seconds() -> float:
    """CPU time (user + system) of this process and of its finished children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def best_of(repeat: int, runs: dict[str, Callable[[], None]]) -> dict[str, tuple[float, float]]:
    """Run every contender ``repeat`` times, interleaved; keep each one's fastest wall and CPU time."""
    best = dict.fromkeys(runs, (float("inf"), float("inf")))
    for _ in range(repeat):
        for name, run in runs.items():
            cpu, start = cpu_seconds(), time.perf_counter()
            run()
            wall, used = time.perf_counter() - start, cpu_seconds() - cpu
            best[name] = (min(best[name][0], wall), min(best[name][1], used))
    return best


def command(argv: list[str]) -> Callable[[], None]:
    def run() -> None:
        subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return run


def virt_netxml() -> str:
    beside = Path(sys.executable).parent / "virt-netxml"
    found = str(beside) if beside.exists() else shutil.which("virt-netxml")
    if not found:
        sys.exit("virt-netxml is not installed in this environment (pip install -e .)")
    return found


# The corpora the agreement is measured on, each linted for its own release:
# version -> (source tree, folder of QEMU test domains, which of them are inputs, domain schema)
CORPORA = {
    "9.0": (ROOT / ".cache" / "libvirt-src", "qemuxml2argvdata", "*.xml", DOMAIN_RNG),
    "11.3": (ROOT / ".cache" / "libvirt-src-11.3", "qemuxmlconfdata", "net-*.xml",
             ROOT / ".cache" / "libvirt-src-11.3" / "src" / "conf" / "schemas" / "domain.rng"),
}
# The QEMU test program of each domain folder: its DO_TEST..._PARSE_ERROR... entries are the
# domains libvirt's parser refuses.
DOMAIN_TESTS = {"qemuxml2argvdata": "qemuxml2argvtest.c", "qemuxmlconfdata": "qemuxmlconftest.c"}


def agreement() -> None:
    """Corpus agreement with libvirt, as tests/test_corpus_libvirt.py checks it, per version."""
    for version, (src, folder, glob, rng_path) in CORPORA.items():
        if not (src / "tests" / "networkxml2xmlin").is_dir() or not rng_path.is_file():
            print(f"libvirt {version}: corpus or schema missing (setup.sh fetches them)")
            continue
        agreement_of(version, src / "tests", folder, glob, rng_path)


def agreement_of(version: str, tests: Path, folder: str, glob: str, rng_path: Path) -> None:
    from lxml import etree

    from xmltools import versions
    from xmltools.lint import Linter

    target = versions.parse(version)
    source = (tests / "networkxml2xmltest.c").read_text()
    expected = {name: macro != "DO_TEST_PARSE_ERROR"
                for macro, name in re.findall(r"\b(DO_TEST(?:_FLAGS|_PARSE_ERROR)?)\(\"([^\"]+)\"", source)}
    counts = {"parse-accepted": 0, "parse-expected": 0, "fail-rejected": 0, "fail-expected": 0}
    for path in sorted((tests / "networkxml2xmlin").glob("*.xml")):
        ok = expected[path.stem]
        linter = Linter(libvirt_schemas=False, libvirt_version=target)
        errors = [f for f in linter.lint_file(str(path)) if f.severity == "error"]
        if ok:
            counts["parse-expected"] += 1
            counts["parse-accepted"] += not errors
        else:
            counts["fail-expected"] += 1
            counts["fail-rejected"] += bool(errors)
    print(f"libvirt {version} (--libvirt-version {version}):")
    parsed, refused = counts["parse-accepted"], counts["fail-rejected"]
    print(f"  networks libvirt parses:  {parsed}/{counts['parse-expected']} accepted by lint")
    print(f"  networks libvirt refuses: {refused}/{counts['fail-expected']} rejected by lint")

    rng = etree.RelaxNG(etree.parse(str(rng_path)))
    refused = set(re.findall(r"\bDO_TEST\w*PARSE_ERROR\w*\(\s*\"([^\"]+)\"",
                             (tests / DOMAIN_TESTS[folder]).read_text()))
    valid_docs = total = accepted = bad_docs = rejected = 0
    for path in sorted((tests / folder).glob(glob)):
        if folder == "qemuxmlconfdata" and path.name.count(".") != 1:
            continue   # an expected output (net-x.x86_64-latest.xml), not an input
        tree = etree.parse(str(path))
        if not rng.validate(tree):
            continue
        spans = [(i.sourceline, max(n.sourceline for n in i.iter()))
                 for i in tree.getroot().iterfind("devices/interface")]
        findings = Linter(libvirt_schemas=False, libvirt_version=target).lint_file(str(path))
        on_interfaces = [any(f.severity == "error" and lo <= f.line <= hi for f in findings)
                         for lo, hi in spans]
        if path.stem in refused and path.name.startswith("net-"):   # an interface case; the
            bad_docs += 1                                           # others fail elsewhere
            rejected += any(on_interfaces)
            continue
        valid_docs += 1
        total += len(spans)
        accepted += on_interfaces.count(False)
    print(f"  interfaces of the {valid_docs} other domains libvirt's domain.rng accepts: "
          f"{accepted}/{total} accepted by lint")
    print(f"  net-* domains its parser refuses (DO_TEST..._PARSE_ERROR): {rejected}/{bad_docs} "
          "rejected by lint")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="runs per contender (best is kept)")
    parser.add_argument("--sample", type=int, default=60,
                        help="files for the per-file virt-xml-validate loop")
    args = parser.parse_args()
    if not CORPUS.is_dir() or not DOMAIN_RNG.is_file():
        sys.exit(f"needs {CORPUS} (setup.sh) and {DOMAIN_RNG} (libvirt's schemas)")
    # pip compiles an installed package's bytecode; do the same for this source tree, so the
    # command runs do not recompile every module each time (PYTHONDONTWRITEBYTECODE may be set).
    compileall.compile_dir(str(ROOT / "xmltools"), quiet=1)
    files = [str(p) for p in sorted(CORPUS.glob("*.xml"))]
    step = max(1, len(files) // args.sample)
    sample = files[::step][:args.sample]

    start = time.perf_counter()
    from xmltools import schema
    from xmltools.lint import Linter

    schema.grammar("network")
    schema.grammar("interface")
    startup = time.perf_counter() - start

    def in_process(libvirt: bool | None) -> Callable[[], None]:
        def run() -> None:
            linter = Linter(libvirt_schemas=libvirt)
            for path in files:
                linter.lint_file(path)
        return run

    exe = virt_netxml()
    xmllint = shutil.which("xmllint")
    validate = shutil.which("virt-xml-validate")
    runs: dict[str, Callable[[], None]] = {
        "lint, in process (default)": in_process(None),
        "lint, in process, --libvirt-schemas": in_process(True),
        "virt-netxml lint FILES (default)": command([exe, "lint", *files]),
        "virt-netxml lint --libvirt-schemas FILES": command([exe, "lint", "--libvirt-schemas", *files]),
    }
    if xmllint:
        runs["xmllint --noout --relaxng domain.rng FILES"] = command(
            [xmllint, "--noout", "--relaxng", str(DOMAIN_RNG), *files])
    best = best_of(args.repeat, runs)

    if validate:
        def loop() -> None:
            for path in sample:
                subprocess.run([validate, path, "domain"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, check=False)
        wall, used = best_of(max(1, args.repeat // 2), {"loop": loop})["loop"]
        scale = len(files) / len(sample)
        best[f"virt-xml-validate per file (sample of {len(sample)}, extrapolated)"] = \
            (wall * scale, used * scale)

    reference = best.get("xmllint --noout --relaxng domain.rng FILES")
    print(f"corpus: {len(files)} domain files of {CORPUS.relative_to(ROOT)}; best of {args.repeat} runs")
    print(f"(in-process figures exclude the {startup * 1000:.0f} ms of imports and grammar compiling)")
    width = max(len(name) for name in best)
    print(f"  {'':<{width}}  {'wall':>8}  {'ratio':>6}  {'CPU':>8}  {'ratio':>6}")
    for name, (wall, used) in best.items():
        ratios = (f"{wall / reference[0]:5.2f}x", f"{used / reference[1]:5.2f}x") if reference else ("", "")
        print(f"  {name:<{width}}  {wall:7.3f}s  {ratios[0]:>6}  {used:7.3f}s  {ratios[1]:>6}")
    print("  (ratios are relative to xmllint's batch run)")
    print()
    agreement()


if __name__ == "__main__":
    main()
