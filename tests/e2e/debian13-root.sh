#!/usr/bin/env bash
# A Debian 13 ("trixie") root for the end-to-end tests against libvirt 11.3, next to the
# machine's own libvirt 9.0: built with mmdebstrap from Debian's own packages, cached under
# .cache/debian13 and rebuilt only when the package list changes. The project is then installed
# into a virtual environment inside it the way a Debian 13 user would install it: the root's own
# python3 (3.13), pip, a non-editable install from a copy of the source. The root has no
# compiler, so the wheels of the dependencies are downloaded on this machine for Python 3.13.
#
#   tests/e2e/debian13-root.sh [CACHE]        (CACHE defaults to .cache; run as root)
set -euo pipefail
cd "$(dirname "$0")/../.."
CACHE=${1:-.cache}
ROOT=$CACHE/debian13
WHEELS=$CACHE/wheels-py313
VENV=/opt/virt-netxml          # inside the root
SRC=/usr/local/src/virt-netxml # inside the root
SECONDS=0

# What a Debian 13 KVM host with this project needs (libvirt's monolithic daemon and virtlogd,
# QEMU, Open vSwitch, dnsmasq), plus python3-venv for the user's environment.
PACKAGES=libvirt-daemon-system,libvirt-daemon-driver-qemu,libvirt-clients,qemu-system-x86,openvswitch-switch,ovn-common,dnsmasq-base,python3-venv,iproute2,libxml2-utils,nftables,iptables,procps

# Debian's own mirror, as this machine's sources name it.
mirror=""
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)
elif [ -f /etc/apt/sources.list ]; then
  mirror=$(awk '$1 == "deb" {print $2; exit}' /etc/apt/sources.list)
fi
mirror=${mirror:-http://deb.debian.org/debian}

stamp="$ROOT/.virt-netxml-packages"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$PACKAGES" ]; then
  rm -rf "$ROOT" "$ROOT.tmp"
  mkdir -p "$CACHE"
  # --skip=check/signed-by: the host's keyring path need not exist in the root's sources entry.
  mmdebstrap --quiet --variant=apt --skip=check/signed-by --include="$PACKAGES" \
    trixie "$ROOT.tmp" "$mirror"
  echo "$PACKAGES" > "$ROOT.tmp/.virt-netxml-packages"
  mv "$ROOT.tmp" "$ROOT"
fi
built=$SECONDS

# Wheels for the root's Python 3.13 (binary only: the root cannot compile), and the build
# backend pip needs to build the project from its source inside the root.
deps=$(.venv/bin/python - <<'EOF'
import tomllib
with open("pyproject.toml", "rb") as f:
    data = tomllib.load(f)
print(" ".join([*data["project"]["dependencies"], *data["build-system"]["requires"]]))
EOF
)
mkdir -p "$WHEELS"
# shellcheck disable=SC2086  # one requirement per word
.venv/bin/pip download -q --dest "$WHEELS" --python-version 3.13 --only-binary=:all: \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux_2_28_x86_64 --platform any $deps

# A copy of the source, as a user would have unpacked it, and the wheels, inside the root.
rm -rf "$ROOT$SRC" "$ROOT/tmp/wheels"
mkdir -p "$ROOT$SRC" "$ROOT/tmp/wheels"
tar -c --exclude=__pycache__ pyproject.toml README.md hooks xmltools rng | tar -x -C "$ROOT$SRC"
cp "$WHEELS"/*.whl "$ROOT/tmp/wheels/"

# pip and venv inside the root want /dev and /proc: give them in a private mount namespace.
unshare --mount --propagation private bash -euo pipefail -c '
  root=$1 venv=$2 src=$3 deps=$4
  mount --rbind /dev "$root/dev"
  mount -t proc proc "$root/proc"
  in_root() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LC_ALL=C.UTF-8 "$@"; }
  [ -x "$root$venv/bin/python3" ] || in_root python3 -m venv "$venv"
  # shellcheck disable=SC2086
  in_root "$venv/bin/pip" install -q --no-index --find-links /tmp/wheels $deps
  in_root "$venv/bin/pip" install -q --no-index --find-links /tmp/wheels --no-deps --force-reinstall "$src"
  in_root "$venv/bin/virt-netxml" --version
' debian13-root "$ROOT" "$VENV" "$SRC" "$deps"
rm -rf "$ROOT/tmp/wheels" "$ROOT$SRC/build"
# Which source that was: the end-to-end tests compare it with the checkout they run from.
.venv/bin/python -c 'from tests.e2e.harness import source_digest; print(source_digest())' \
  > "$ROOT$VENV/virt-netxml-source.sha256"
echo "debian13 root: built/cached in ${built} s, project installed in $((SECONDS - built)) s ($ROOT)"
