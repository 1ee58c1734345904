"""The POSIX shell program installed into ``qemu.d/`` and ``network.d/``.

Most hook calls have nothing to do (``started``, ``stopped``, a guest without any of the
project's wishes...). The wrapper settles those with shell built-ins alone, no Python start-up
at all; the rest it hands to this installation's interpreter with ``-I -S`` (no site
processing: a large share of start-up) and an explicit module path, which the bootstrap
re-checks (``hooks.trust``) before it imports anything from it. Its dispatch is written at
install time from the operations table (``hooks.protocol.OPERATIONS``, whose triggers
``hooks.fastpath`` tests too, more precisely only where a shell pattern would be slow), and its
test for a state record from the same name character set; the tests check that it never skips
a call the Python side would act on.
"""

from __future__ import annotations

import os
import shlex

from hooks.config import MAPPING_FILE
from hooks.protocol import (
    ELEMENT,
    LINUX_VLAN,
    MAPPING,
    OPERATIONS,
    RECORDS,
    STATE,
    STATE_TEXT,
    TEXT,
    Operation,
    plain_name_glob,
)

MARKER = "# virt-netxml hook: written by 'virt-netxml hooks install'"

TEMPLATE = r"""#!/bin/sh
{marker}; reinstalling overwrites it.
# Calls that cannot need work end here with shell built-ins only; the rest start Python.
state="${{VIRT_NETXML_STATE_DIR:-{state_dir}}}"
conf="${{VIRT_NETXML_CONFIG_DIR:-{config_dir}}}"
# libvirt clears the environment: hand the folders chosen at install time on to Python.
export VIRT_NETXML_STATE_DIR="$state" VIRT_NETXML_CONFIG_DIR="$conf"

# Is there (or might there be) a state record for $2 in $state/$1?
has_state() {{
    case $2 in
        {not_plain}) return 0 ;;
    esac
    [ -e "$state/$1/$2.json" ]
}}

# Is there any record in $state/$1 (a network that may be a VF pool)?
has_records() {{
    for f in "$state/$1"/*.json; do
        [ -e "$f" ] && return 0
    done
    return 1
}}

# "--": the object name is never an option (libvirt accepts a domain called --dry-run).
hook() {{
    exec {python} -I -S -c {bootstrap} --driver {driver} -- "$@"
}}

# Hand the XML already read into $xml on to Python.
hook_xml() {{
    hook "$@" <<VIRT_NETXML_EOF
$xml
VIRT_NETXML_EOF
}}

{body}
"""

# Byte searches as shell patterns. A <vlan> starts Python whatever the port: Python then tells
# an Open vSwitch port (libvirt's job) apart before it loads lxml. Cutting the XML into
# interfaces here would need ${x#*...}, which dash runs in quadratic time.
_GLOB_SPECIAL = set("*?[]\\$`'\"{}()|&;<> \t\n")


def _element_glob(name: str) -> str:
    return f"*[:\\<]{name}[[:space:]/\\>]*"


def _text_glob(text: str) -> str:
    assert not set(text) & _GLOB_SPECIAL, text
    return f"*{text}*"


def _operation_case(op: Operation) -> str:
    """One ``case`` arm: the operation's triggers (``hooks.protocol``) as shell tests."""
    hook = "hook_xml" if op.reads_stdin else "hook"
    lines = [f"    {op.name})"]
    if op.reads_stdin:
        lines.append("        xml=$(cat)")
    patterns: list[str] = []   # consecutive byte searches share one case

    def flush() -> None:
        if patterns:
            lines.extend(["        case $xml in", f"            {'|'.join(patterns)}) {hook} \"$@\" ;;",
                          "        esac"])
            patterns.clear()

    for trigger in op.work:
        kind = trigger[0]
        if kind == ELEMENT:
            patterns.append(_element_glob(trigger[1]))
        elif kind == TEXT:
            patterns.append(_text_glob(trigger[1]))
        elif kind == LINUX_VLAN:
            patterns.append(_element_glob("vlan"))
        else:
            flush()
            if kind == STATE:
                lines.append(f'        has_state {trigger[1]} "$1" && {hook} "$@"')
            elif kind == MAPPING:
                lines.append(f'        [ -e "$conf/{MAPPING_FILE}" ] && {hook} "$@"')
            elif kind in (RECORDS, STATE_TEXT):
                test = f"has_records {trigger[1]}" if kind == RECORDS else f'has_state {trigger[1]} "$1"'
                lines.extend(["        case $xml in",
                              f'            {_text_glob(trigger[2])}) {test} && {hook} "$@" ;;',
                              "        esac"])
            else:
                raise AssertionError(f"unknown trigger {trigger!r}")
    flush()
    lines.append("        exit 0 ;;")
    return "\n".join(lines)


def body(driver: str) -> str:
    """The wrapper's dispatch for ``driver``, written from the operations table: every
    operation that can need work starts Python exactly when one of its triggers holds."""
    arms = [_operation_case(op) for (drv, _), op in OPERATIONS.items() if drv == driver and op.work]
    return "case $2 in\n" + "\n".join(arms) + "\nesac\nexit 0"


def module_paths() -> list[str]:
    """Folders holding this installation's packages: the project and its compiled dependencies."""
    import hooks

    paths = [os.path.dirname(os.path.dirname(os.path.abspath(hooks.__file__)))]
    for module in ("lxml", "pyroute2"):
        try:
            mod = __import__(module)
        except ImportError:
            continue
        folder = os.path.dirname(os.path.dirname(os.path.abspath(mod.__file__ or "")))
        if folder not in paths:
            paths.append(folder)
    return paths


# Before it imports anything from them, the bootstrap re-checks the module paths and the folders
# above them (hooks.trust, carried as source: nothing may come from those paths before they are
# checked). The paths are appended after the standard library, not put ahead of it: the project
# and its dependencies shadow no standard module, and a file named like one (``__future__.py``)
# in a module path ahead of the standard library would be imported in its place.
BOOTSTRAP = """import os, sys
{check}
for path, parent in {checks!r}:
    why = untrusted(path, parent)
    if why:
        sys.stderr.write("virt-netxml: " + path + ": refusing to run: " + why
                         + " (run 'virt-netxml hooks install' again from a root-owned installation)\\n")
        sys.exit(2)
sys.path += {paths!r}
from hooks.entry import run_and_exit
run_and_exit()
"""


def runtime_checks(paths: list[str]) -> list[tuple[str, bool]]:
    """``(folder, parent)`` pairs the bootstrap checks: each module path, then the folders above."""
    from hooks.trust import chain

    checks: dict[str, bool] = {}
    for path in paths:
        for folder, parent in chain(path):
            checks[folder] = checks.get(folder, True) and parent
    return list(checks.items())


def bootstrap(paths: list[str]) -> str:
    """The Python program the wrapper runs with ``-c``."""
    import inspect

    from hooks.trust import untrusted

    return BOOTSTRAP.format(check=inspect.getsource(untrusted).strip(), checks=tuple(runtime_checks(paths)),
                            paths=list(paths))


def render(driver: str, python: str, paths: list[str], state_dir: str, config_dir: str) -> str:
    """The wrapper script for ``driver`` (qemu or network); ``python`` and ``paths`` resolved."""
    return TEMPLATE.format(
        marker=MARKER, state_dir=state_dir, config_dir=config_dir, not_plain=plain_name_glob(),
        python=shlex.quote(python), bootstrap=shlex.quote(bootstrap(paths)), driver=driver,
        body=body(driver))
