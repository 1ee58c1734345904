#!/usr/bin/env bash
# One-time setup of a development or CI machine (Debian 12, as root):
#   Debian packages for libvirt, QEMU, Open vSwitch and the kernel lab; a virtual environment
#   in .venv with the project and its test tools; libvirt's own source package (its XML test
#   files are the differential-test corpus) unpacked under .cache/; a Debian 13 root (libvirt
#   11.3, Python 3.13) under .cache/debian13 with the project installed in it as a Debian 13 user
#   would (pip, the system Python), so the end-to-end tests run against both libvirt releases.
set -euo pipefail
cd "$(dirname "$0")"

DEBS=(
  libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients libvirt-daemon
  qemu-system-x86 openvswitch-switch dnsmasq-base iptables nftables libxml2-utils
  ovn-central ovn-host ethtool iputils-ping
  libvirt-dev pkg-config gcc python3-dev python3-venv
  iproute2 bridge-utils procps psmisc systemd
  cpio busybox-static dpkg-dev xz-utils
  mmdebstrap
)

export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# The tests run Open vSwitch and OVN inside network namespaces they create, never as the system's
# services. On a machine with systemd, installing these packages would start an ovsdb-server and
# ovs-vswitchd (/run/openvswitch), OVN's NB/SB databases, ovn-northd and an ovn-controller
# (/run/ovn) outside any namespace: units of a package not installed yet are masked first, so its
# postinst starts nothing (`systemctl unmask` them to use the system services later). A machine
# that already has the packages keeps its services as they are.
if [ -d /run/systemd/system ]; then
  for unit in openvswitch-switch:openvswitch-switch openvswitch-switch:ovs-vswitchd \
      openvswitch-switch:ovsdb-server openvswitch-switch:ovs-record-hostname \
      ovn-central:ovn-central ovn-central:ovn-northd ovn-central:ovn-ovsdb-server-nb \
      ovn-central:ovn-ovsdb-server-sb ovn-host:ovn-host ovn-host:ovn-controller; do
    if ! dpkg-query -W -f='${Status}' "${unit%%:*}" 2>/dev/null | grep -q 'ok installed'; then
      systemctl mask "${unit#*:}.service" >/dev/null
    fi
  done
fi
apt-get install -y -q --no-install-recommends "${DEBS[@]}"

# The kernel lab boots Debian's own kernel package; fetch it (not installed, only unpacked).
./tests/kernel_lab/fetch-kernel.sh .cache/kernel

# libvirt's source package: its tests/ folder is the corpus for the differential tests.
# A deb-src entry is derived from the machine's own Debian source list.
if [ ! -d .cache/libvirt-src ]; then
  src_list=/etc/apt/sources.list.d/virt-netxml-deb-src.sources
  if [ ! -f "$src_list" ] && [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > "$src_list"
  elif [ ! -f "$src_list" ] && [ -f /etc/apt/sources.list ]; then
    grep -E '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' > "${src_list%.sources}.list"
  fi
  apt-get update -q
  mkdir -p .cache/libvirt-dl
  # This release's own package, by suite: with the trixie entry below also present, a bare
  # "libvirt" would pick the newest source, libvirt 11.3.
  codename=$(. /etc/os-release && echo "$VERSION_CODENAME")
  (cd .cache/libvirt-dl && apt-get source --download-only -q "libvirt/$codename")
  mkdir -p .cache/libvirt-src
  tar -xf .cache/libvirt-dl/libvirt_*.orig.tar.xz -C .cache/libvirt-src --strip-components=1
  rm -rf .cache/libvirt-dl
fi

# libvirt 11.3's source package (Debian 13, trixie): the corpus for --libvirt-version 11.3. A
# deb-src entry for trixie only, derived from the machine's Debian source list the same way
# (sources only: nothing installed on this machine comes from trixie).
if [ ! -d .cache/libvirt-src-11.3 ]; then
  trixie_list=/etc/apt/sources.list.d/virt-netxml-trixie-src.sources
  if [ ! -f "$trixie_list" ] && [ -f /etc/apt/sources.list.d/debian.sources ]; then
    # the first stanza (the main archive), as deb-src for trixie
    awk 'BEGIN { RS = ""; ORS = "\n" } NR == 1 { print }' /etc/apt/sources.list.d/debian.sources |
      sed -e 's/^Types: deb$/Types: deb-src/' -e 's/^Suites: .*/Suites: trixie/' > "$trixie_list"
  elif [ ! -f "$trixie_list" ] && [ -f /etc/apt/sources.list ]; then
    grep -E '^deb ' /etc/apt/sources.list | grep -v -e security -e updates | head -n 1 |
      awk '{ print "deb-src", $2, "trixie main" }' > "${trixie_list%.sources}.list"
  fi
  apt-get update -q
  mkdir -p .cache/libvirt-dl-11.3
  # The orig tarball is what the corpus needs; a missing .dsc on a mirror does not matter.
  (cd .cache/libvirt-dl-11.3 && apt-get source --download-only -q "libvirt/trixie" || true)
  mkdir -p .cache/libvirt-src-11.3
  tar -xf .cache/libvirt-dl-11.3/libvirt_11.3.*.orig.tar.xz -C .cache/libvirt-src-11.3 --strip-components=1
  rm -rf .cache/libvirt-dl-11.3
fi

# The environment is built on Debian's own Python (python3-venv above), not on whatever python3
# comes first in PATH: the installed hooks run with this interpreter on every guest start, and
# Debian's optimised build starts them markedly faster (README, Figures). PYTHON overrides it.
PY=${PYTHON:-/usr/bin/python3}
if [ -x .venv/bin/python ] && ! grep -qx "executable = $(readlink -f "$PY")" .venv/pyvenv.cfg; then
  echo "setup: .venv was built on another interpreter; rebuilding it on $PY"
  rm -rf .venv
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[libvirt,test]'

./tests/e2e/debian13-root.sh
echo "setup done: run .venv/bin/pytest"
