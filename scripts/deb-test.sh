#!/usr/bin/env bash
# The amd64 package as a user gets it (issue #17): installed with apt into a fresh Debian bookworm
# chroot (debootstrap), then checked the way an operator would look at it:
#   1. the binary runs, the units pass `systemd-analyze verify`, both are enabled, the group
#      exists, and the settings file is a conffile;
#   2. a second install over the first keeps a changed conffile;
#   3. remove keeps the state and the conffile; purge removes artifact-gate's own state and
#      the conffile, and leaves mender.conf, the device type and the device key alone.
#   scripts/deb-test.sh AMD64_DEB      (needs root)
set -euo pipefail
cd "$(dirname "$0")/.."
DEB=$(realpath "${1:?usage: scripts/deb-test.sh ARTIFACT_GATE_AMD64_DEB}")
scripts/install-deps.sh deb >/dev/null
W=$(mktemp -d /tmp/debtest.XXXXXX)
R=$W/root
cleanup() {
    umount "$R/proc" 2>/dev/null || true
    rm -rf "$W"
}
trap cleanup EXIT
fail() {
    echo "PACKAGE TEST FAILED: $*" >&2
    exit 1
}
ok() { echo "   ok: $*"; }
in_root() { chroot "$R" env DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }

echo "== debootstrap bookworm (amd64, minbase, systemd)"
mirror=$(grep -m1 -h -oP '^URIs: \K\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
debootstrap --variant=minbase --include=systemd bookworm "$R" \
    "${mirror:-http://deb.debian.org/debian}" >"$W/debootstrap.log" 2>&1 ||
    { tail -20 "$W/debootstrap.log"; fail "debootstrap"; }
mount -t proc proc "$R/proc"
# No service starts inside the chroot (what debhelper's scripts honour).
printf '#!/bin/sh\nexit 101\n' >"$R/usr/sbin/policy-rc.d"
chmod 755 "$R/usr/sbin/policy-rc.d"
# What a Mender device already has, which the package must never touch.
mkdir -p "$R/etc/mender" "$R/var/lib/mender"
echo '{"ArtifactVerifyKey": "/etc/mender/artifact-verify.pem"}' >"$R/etc/mender/mender.conf"
echo 'device_type=qemux86-64' >"$R/var/lib/mender/device_type"
echo 'not a real key' >"$R/var/lib/mender/mender-agent.pem"
cp "$DEB" "$R/tmp/"
pkg=/tmp/$(basename "$DEB")

echo "== 1. apt install ./$(basename "$DEB")"
in_root apt-get install -y --no-install-recommends "$pkg" >"$W/apt.log" 2>&1 ||
    { tail -20 "$W/apt.log"; fail "apt install"; }
in_root artifact-gate --version | grep -q '^artifact-gate ' || fail "the binary does not run"
in_root artifact-gate validate --help | grep -q 'ARTIFACT' || fail "no help from the binary"
ok "the binary runs: $(in_root artifact-gate --version)"
in_root dpkg -L artifact-gate | grep -qx /usr/share/man/man1/artifact-gate.1.gz || fail "no manual page"
zcat "$R/usr/share/man/man1/artifact-gate.1.gz" | grep -q '^\.SS "artifact-gate install"' ||
    fail "the manual page has no section for the install command"
ok "the manual page is installed, with a section per command"
in_root systemd-analyze verify /usr/lib/systemd/system/artifact-gate.service \
    /usr/lib/systemd/system/artifact-gate.socket || fail "systemd-analyze verify"
ok "systemd-analyze verify accepts the installed units"
[[ -L $R/etc/systemd/system/sockets.target.wants/artifact-gate.socket ]] || fail "the socket is not enabled"
[[ -L $R/etc/systemd/system/multi-user.target.wants/artifact-gate.service ]] || fail "the service is not enabled"
ok "the socket and the service are enabled"
in_root getent group artifact-gate >/dev/null || fail "no artifact-gate group"
ok "the artifact-gate group exists"
conf=/etc/artifact-gate/artifact-gate.toml
in_root dpkg-query -W -f='${Conffiles}\n' artifact-gate | grep -q " $conf " ||
    fail "$conf is not a conffile"
ok "$conf is a conffile"

echo "== 2. a second install keeps a changed conffile"
printf '\n[update]\nmodule_delivery = "spool"\n' >>"$R$conf"
changed=$(sha256sum <"$R$conf")
in_root dpkg -i "$pkg" >"$W/dpkg.log" 2>&1 || { tail -20 "$W/dpkg.log"; fail "second install"; }
[[ $(sha256sum <"$R$conf") == "$changed" ]] || fail "the second install replaced the changed $conf"
ok "the changed $conf survived the second install"

echo "== 3. remove, then purge"
mkdir -p "$R/var/lib/mender/artifact-gate"
echo '{}' >"$R/var/lib/mender/artifact-gate/floor.json"
in_root apt-get remove -y artifact-gate >"$W/remove.log" 2>&1 || { tail -20 "$W/remove.log"; fail "remove"; }
[[ ! -e $R/usr/bin/artifact-gate ]] || fail "remove left the binary"
[[ -e $R$conf && -e $R/var/lib/mender/artifact-gate/floor.json ]] || fail "remove took the settings or the state"
ok "remove took the binary and kept the settings and the state"
in_root apt-get purge -y artifact-gate >"$W/purge.log" 2>&1 || { tail -20 "$W/purge.log"; fail "purge"; }
[[ ! -e $R$conf ]] || fail "purge left $conf"
[[ ! -e $R/var/lib/mender/artifact-gate ]] || fail "purge left /var/lib/mender/artifact-gate"
for f in etc/mender/mender.conf var/lib/mender/device_type var/lib/mender/mender-agent.pem; do
    [[ -e $R/$f ]] || fail "purge removed /$f, which is not artifact-gate's"
done
ok "purge removed artifact-gate's state and settings, and left mender.conf, device_type and the device key"
echo "package test: every check passed"
