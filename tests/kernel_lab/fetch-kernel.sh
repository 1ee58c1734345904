#!/usr/bin/env bash
# Unpack Debian's current kernel package and busybox-static into DEST for the kernel lab.
# Nothing is installed on the host: the packages are downloaded and extracted with dpkg -x.
set -euo pipefail
dest=${1:?usage: fetch-kernel.sh DEST}
mkdir -p "$dest"
dest=$(cd "$dest" && pwd)
if [ -f "$dest/version" ] && [ -f "$dest/root/boot/vmlinuz-$(cat "$dest/version")" ]; then
  exit 0
fi
kernel_pkg() {
  { apt-cache depends linux-image-amd64 2>/dev/null || true; } |
    awk '/Depends: linux-image-[0-9]/ {print $2; exit}'
}
pkg=$(kernel_pkg)
# A machine whose package lists were never fetched (or were cleaned) knows no candidate yet.
if [ -z "$pkg" ]; then
  apt-get update -q >/dev/null
  pkg=$(kernel_pkg)
fi
[ -n "$pkg" ] || { echo "fetch-kernel: cannot find the kernel package behind linux-image-amd64" >&2; exit 1; }
version=${pkg#linux-image-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt downloads as the _apt user when it can write the target folder.
chmod 0777 "$work"
(cd "$work" && apt-get download -q "$pkg" busybox-static >/dev/null)
rm -rf "$dest/root"
mkdir -p "$dest/root"
for deb in "$work"/*.deb; do dpkg -x "$deb" "$dest/root"; done
depmod -b "$dest/root" "$version"
echo "$version" > "$dest/version"
