#!/usr/bin/env bash
# Builds the armhf sysroot that qemu-arm uses as its library prefix (QEMU_LD_PREFIX) when the test
# suite runs under emulation (issue #5): Debian bookworm's armhf glibc plus the PKCS#11 modules
# the token tests load (SoftHSM2, tpm2-pkcs11 with its TSS libraries).
#   scripts/arm-sysroot.sh DIR
# The packages come from a private apt instance (its own lists, cache and an empty dpkg status),
# so the machine's dpkg architectures and package state are not touched: `dpkg
# --add-architecture armhf` broke `apt-get update` on the CI machines (toolchain notes §5).
set -euo pipefail
ROOT=${1:?usage: scripts/arm-sysroot.sh DIR}
source "$(dirname "$0")/lib/armhf.sh"
A=$(mktemp -d)
trap 'rm -rf "$A"' EXIT
armhf_apt "$A"
mkdir -p "$A/debs"
# The token modules and the shared libraries they need (apt-cache depends --recurse, minus the
# packages that only carry programs or configuration).
packages=(libc6 libgcc-s1 libstdc++6 libssl3 libsqlite3-0 libzstd1 libyaml-0-2
    libsofthsm2 libtpm2-pkcs11-1 libtss2-esys-3.0.2-0 libtss2-mu0 libtss2-rc0 libtss2-sys1
    libtss2-tctildr0 libtss2-tcti-swtpm0 libtss2-tcti-device0 libtss2-tcti-mssim0)
(cd "$A/debs" && apt-get "${APT_ARM[@]}" -q download "${packages[@]}" >/dev/null 2>&1)
rm -rf "$ROOT"
mkdir -p "$ROOT"
for deb in "$A"/debs/*.deb; do dpkg-deb -x "$deb" "$ROOT"; done

# qemu-user looks a path up under the prefix first, then on the host. Giving the ARM module the
# host's path lets one pkcs11: URI name the module for both the x86 provisioning tools (which
# find the x86 module on the host) and the ARM binary under test (which finds this one).
# SoftHSM's module path (/usr/lib/softhsm/libsofthsm2.so) is already the same on both.
host_tpm=/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so
mkdir -p "$ROOT$(dirname "$host_tpm")"
# Relative: an absolute link target would be resolved on the host, not under the prefix.
ln -sf ../../arm-linux-gnueabihf/pkcs11/libtpm2_pkcs11.so "$ROOT$host_tpm"
echo "armhf sysroot: $ROOT ($(du -sh "$ROOT" | cut -f1))"
