"""Port forwards in the firewall: DNAT in the project's own nftables table, and the one rule per
forward that lets the forwarded connections through libvirt's own filter.

Two parts, each applied and removed as a whole:

* ``nat``: per interface, three base chains of their own in ``table ip virt_netxml``
  (``pre_KEY`` at prerouting: clients from outside and other guests; ``out_KEY`` at output: the
  host itself; ``post_KEY`` at postrouting: a guest of the same bridge reaching another through
  the host's address is masqueraded, or the answer would bypass the host). Applying writes the
  three chains afresh and removing flushes and deletes them, in one ``nft -f -`` transaction
  each; other chains of the table, and every other table, are never named. Each rule's comment
  carries a digest of the whole set (``set-DIGEST``), so a read tells whether the set in place
  is this one.
* ``allow``: libvirt rejects new inbound connections to a NAT network's guests in its own
  forward chain, and an ``accept`` in another table does not override a ``reject`` in libvirt's.
  So one rule per forward goes at the top of libvirt's chain: ``guest_input`` of ``table ip
  libvirt_network`` (libvirt's nftables backend, 10.0 and later) or ``LIBVIRT_FWI`` (its iptables
  backend: libvirt 9.x, and later releases built or configured to prefer it), accepting only
  connections the DNAT above made (``ct status dnat`` / ``--ctstate DNAT``) to the guest's port.
  Each carries the comment ``virt-netxml <domain> <mac> <key>``; removal deletes exactly the
  rules with that comment (by handle, or by their own specification), nothing else. libvirt
  rebuilds its chains when a network starts or the daemon restarts: the hooks then re-apply
  (network ``started``, qemu ``reconnect``), and an ``allow`` part found below libvirt's reject
  (libvirt re-inserts its rules at the top, on either backend) is moved back up.

Everything runs through ``hooks.adapters.proc.run`` (no shell, a hard timeout).
"""

from __future__ import annotations

import os

from hooks.adapters import proc
from hooks.errors import HostError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing on the hook's path
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, Protocol

    from hooks.actions.forward import ForwardRules
else:
    Protocol = object   # the port is only ever named in annotations

TABLE = "virt_netxml"
LIBVIRT_TABLE = "libvirt_network"      # libvirt's nftables backend
LIBVIRT_CHAIN = "guest_input"
IPTABLES_CHAIN = "LIBVIRT_FWI"         # libvirt's iptables backend
HOOKS = (("pre", "prerouting", "dstnat"), ("out", "output", "-100"), ("post", "postrouting", "srcnat"))


class FirewallPort(Protocol):
    """The forwards of one interface in the firewall (``nft``, and ``iptables`` for libvirt's
    iptables backend)."""

    def in_place(self, rules: ForwardRules) -> tuple[bool, bool]:
        """(is this very nat part in our table, is the allow part in libvirt's chain and above
        libvirt's reject); a host whose libvirt filters nothing counts as allowed."""
        ...

    def apply(self, rules: ForwardRules, nat: bool, allow: bool) -> None:
        """Write the parts asked for (each replaces its earlier copy of the same key)."""
        ...

    def remove(self, rules: ForwardRules, nat: bool, allow: bool) -> None:
        """Remove the parts asked for; a part not there is no error."""
        ...


# --------------------------------------------------------------------------- pure: rules


def _ports(lo: int, hi: int) -> str:
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _dnat(rules: ForwardRules, fwd: Sequence[Any]) -> str:
    name, h_lo, h_hi, g_lo, g_hi = str(fwd[0]), fwd[1], fwd[2], fwd[3], fwd[4]
    if (h_lo, h_hi) == (g_lo, g_hi):
        return f"dnat to {rules.guest}"
    if h_lo == h_hi:
        return f"dnat to {rules.guest}:{g_lo}"
    pairs = ", ".join(f"{h} : {g}" for h, g in zip(range(h_lo, h_hi + 1), range(g_lo, g_hi + 1), strict=True))
    return f"dnat to {rules.guest} : {rules.protos[name]} dport map {{ {pairs} }}"


def nat_script(rules: ForwardRules, remove: bool = False) -> str:
    """The ``nft -f`` script that writes (or removes) this interface's three chains."""
    t = f"ip {TABLE}"
    lines = [f"add table {t}"]
    for short, hook, priority in HOOKS:
        chain = f"{short}_{rules.key}"
        lines.append(f"add chain {t} {chain} {{ type nat hook {hook} priority {priority}; policy accept; }}")
        lines.append(f"flush chain {t} {chain}")
        if remove:
            lines.append(f"delete chain {t} {chain}")
    if remove:
        return "\n".join(lines) + "\n"
    comment = f'comment "{rules.comment} set-{rules.digest}"'
    for fwd in rules.forwards:
        name, h_lo, h_hi, g_lo, g_hi, address, source = fwd
        proto = rules.protos[name]
        src = f"ip saddr {source} " if source else ""
        dst = f"ip daddr {address} " if address else "fib daddr type local "
        match = f"{src}{dst}{proto} dport {_ports(h_lo, h_hi)}"
        lines.append(f"add rule {t} pre_{rules.key} {match} {_dnat(rules, fwd)} {comment}")
        local = "" if address else "ip daddr != 127.0.0.0/8 "
        lines.append(f"add rule {t} out_{rules.key} {local}{match} {_dnat(rules, fwd)} {comment}")
        lines.append(f'add rule {t} post_{rules.key} iifname "{rules.bridge}" oifname "{rules.bridge}" '
                     f"ip daddr {rules.guest} {proto} dport {_ports(g_lo, g_hi)} ct status dnat "
                     f"masquerade {comment}")
    return "\n".join(lines) + "\n"


def allow_nft_rules(rules: ForwardRules) -> list[str]:
    """The rules for libvirt's ``guest_input`` chain (``insert rule`` bodies)."""
    return [f'oifname "{rules.bridge}" ip daddr {rules.guest} {rules.protos[f[0]]} '
            f'dport {_ports(f[3], f[4])} ct status dnat counter accept comment "{rules.comment}"'
            for f in rules.forwards]


def allow_iptables_rules(rules: ForwardRules) -> list[list[str]]:
    """The rules for libvirt's ``LIBVIRT_FWI`` chain, as iptables arguments after the chain."""
    return [["-d", f"{rules.guest}/32", "-o", rules.bridge, "-p", rules.protos[f[0]],
             "-m", rules.protos[f[0]], "--dport", f"{f[3]}:{f[4]}" if f[3] != f[4] else str(f[3]),
             "-m", "conntrack", "--ctstate", "DNAT", "-m", "comment", "--comment", rules.comment,
             "-j", "ACCEPT"] for f in rules.forwards]


def _handles(listing: str, comment: str) -> list[int]:
    """Handles of the rules of an ``nft -a list chain`` listing that carry ``comment``."""
    found = []
    for line in listing.splitlines():
        if f'comment "{comment}"' in line and "# handle " in line:
            found.append(int(line.rsplit("# handle ", 1)[1].split()[0]))
    return found


def _nft_reject(line: str, bridge: str) -> bool:
    """Is this line of an ``nft -a`` listing a reject of traffic out to ``bridge`` (libvirt's
    catch-all: ``oif "BRIDGE" counter reject``)?"""
    rule = line.split(" # handle ", 1)[0].strip()
    return ((rule.endswith(" reject") or " reject with " in rule)
            and (f'oif "{bridge}" ' in rule or f'oifname "{bridge}" ' in rule))


def _ipt_lines(listing: str, chain: str) -> list[str]:
    return [line for line in listing.splitlines() if line.startswith(f"-A {chain} ")]


def _ours(line: str, comment: str) -> bool:
    return f'--comment "{comment}"' in line or f"--comment {comment} " in line + " "


# --------------------------------------------------------------------------- the adapter


class FirewallAdapter:
    """``nft`` for the project's table and libvirt's nftables chain; ``iptables`` (the host's
    own, as libvirt uses it) for libvirt's iptables chain."""

    def __init__(self, timeout: float = 5.0, nft: str = "nft", iptables: str = "iptables") -> None:
        self.timeout, self.nft, self.iptables = timeout, nft, iptables
        self._backend: list[str | None] = []

    def _run(self, argv: list[str], input: bytes | None = None) -> str:
        try:
            return proc.run(argv, self.timeout, input=input).stdout.decode("utf-8", "replace")
        except HostError as exc:
            if "No such file" in exc.message and argv[0] in (self.nft, self.iptables):
                raise HostError(step=f"run {argv[0]}", detail=f"{argv[0]} is not installed (port forwards "
                                "need nftables)") from None
            raise

    def _try(self, argv: list[str]) -> str | None:
        """A read that may fail because the table or chain is absent: None then."""
        try:
            return proc.run(argv, self.timeout).stdout.decode("utf-8", "replace")
        except HostError as exc:
            if "No such file" in exc.message or exc.fields.get("returncode") is not None:
                return None
            raise

    def backend(self) -> str | None:
        """Which filter of libvirt's NAT networks runs here: 'nftables', 'iptables' or None."""
        if not self._backend:
            if self._try([self.nft, "list", "chain", "ip", LIBVIRT_TABLE, LIBVIRT_CHAIN]) is not None:
                self._backend.append("nftables")
            elif self._try([self.iptables, "-w", "-S", IPTABLES_CHAIN]) is not None:
                self._backend.append("iptables")
            else:
                self._backend.append(None)
        return self._backend[0]

    def in_place(self, rules: ForwardRules) -> tuple[bool, bool]:
        listing = self._try([self.nft, "list", "chain", "ip", TABLE, f"pre_{rules.key}"])
        nat = listing is not None and f"set-{rules.digest}" in listing
        backend = self.backend()
        if backend == "nftables":
            # libvirt rebuilding a network's rules inserts them afresh at the top, its reject
            # above ours (which it leaves in place): ours must also be above every reject of
            # this bridge
            chain = self._try([self.nft, "-a", "list", "chain", "ip", LIBVIRT_TABLE, LIBVIRT_CHAIN]) or ""
            lines = chain.splitlines()
            ours = [n for n, line in enumerate(lines) if _handles(line, rules.comment)]
            rejects = [n for n, line in enumerate(lines) if n not in ours and _nft_reject(line, rules.bridge)]
            allow = len(ours) == len(rules.forwards) and (not rejects or not ours or max(ours) < min(rejects))
        elif backend == "iptables":
            lines = _ipt_lines(self._try([self.iptables, "-w", "-S", IPTABLES_CHAIN]) or "", IPTABLES_CHAIN)
            ours = [n for n, line in enumerate(lines) if _ours(line, rules.comment)]
            rejects = [n for n, line in enumerate(lines) if f"-o {rules.bridge} " in line + " "
                       and "-j REJECT" in line]
            allow = len(ours) == len(rules.forwards) and (not rejects or max(ours) < min(rejects))
        else:
            allow = True
        return nat, allow

    def apply(self, rules: ForwardRules, nat: bool, allow: bool) -> None:
        script = nat_script(rules) if nat else ""
        backend = self.backend() if allow else None
        if backend == "nftables":
            # Earlier copies go first, in the same transaction: the result is exactly one of each.
            script += self._nft_delete_allow(rules)
            for body in allow_nft_rules(rules):
                script += f"insert rule ip {LIBVIRT_TABLE} {LIBVIRT_CHAIN} {body}\n"
        if script:
            self._run([self.nft, "-f", "-"], input=script.encode())
        if backend == "iptables":
            self._ipt_remove(rules)
            for spec in reversed(allow_iptables_rules(rules)):
                self._run([self.iptables, "-w", "-I", IPTABLES_CHAIN, "1", *spec])

    def remove(self, rules: ForwardRules, nat: bool, allow: bool) -> None:
        script = nat_script(rules, remove=True) if nat else ""
        backend = self.backend() if allow else None
        if backend == "nftables":
            script += self._nft_delete_allow(rules)
        if script:
            self._run([self.nft, "-f", "-"], input=script.encode())
        if backend == "iptables":
            self._ipt_remove(rules)

    def _nft_delete_allow(self, rules: ForwardRules) -> str:
        chain = self._try([self.nft, "-a", "list", "chain", "ip", LIBVIRT_TABLE, LIBVIRT_CHAIN]) or ""
        return "".join(f"delete rule ip {LIBVIRT_TABLE} {LIBVIRT_CHAIN} handle {h}\n"
                       for h in _handles(chain, rules.comment))

    def _ipt_remove(self, rules: ForwardRules) -> None:
        listing = self._try([self.iptables, "-w", "-S", IPTABLES_CHAIN]) or ""
        import shlex  # iptables backend only

        for line in _ipt_lines(listing, IPTABLES_CHAIN):
            if _ours(line, rules.comment):
                self._run([self.iptables, "-w", "-D", *shlex.split(line)[1:]])


def available(nft: str = "nft") -> bool:
    """Is ``nft`` on PATH (as the hooks run it)?"""
    return any(os.access(os.path.join(d, nft), os.X_OK) for d in os.environ.get("PATH", "").split(":") if d)
