#!/usr/bin/env bash
# The shipped armv7 binary (issue #5): built with cargo-zigbuild against a glibc 2.28 floor so it
# runs on Debian 10, 11 and 12 BeagleBone images (a plain cross-gcc build needs glibc 2.34,
# i.e. Debian 12 only), with the pkcs11 feature (the default: it must be dynamically linked to
# load PKCS#11 modules). Checks the floor with objdump and the stripped size (≤ 6 MiB).
#   scripts/build-release.sh      prints the binary's path on its last line
# Installs zig (Python package, in /opt/zig) and cargo-zigbuild when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=armv7-unknown-linux-gnueabihf
scripts/install-deps.sh arm >/dev/null
GLIBC_FLOOR=2.28
MAX_BYTES=$((6 * 1024 * 1024))
rustup target add "$TARGET" >/dev/null
# cargo-zigbuild runs zig as `python3 -m ziglang` when no `zig` is on PATH: the venv's python3
# comes first on PATH below.
if ! /opt/zig/bin/python3 -c 'import ziglang' 2>/dev/null; then
    python3 -m venv /opt/zig
    /opt/zig/bin/pip install -q ziglang
fi
cargo install --list | grep -q '^cargo-zigbuild ' || cargo install --locked cargo-zigbuild
PATH=/opt/zig/bin:$PATH cargo zigbuild --locked --release --target "$TARGET.$GLIBC_FLOOR" >&2
BIN=$PWD/target/$TARGET/release/artifact-gate

file "$BIN" >&2
# The newest glibc symbol version the binary asks for must not be newer than the floor.
newest=$(arm-linux-gnueabihf-objdump -T "$BIN" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -1)
if [[ $(printf '%s\n%s\n' "$newest" "$GLIBC_FLOOR" | sort -V | tail -1) != "$GLIBC_FLOOR" ]]; then
    echo "the binary needs GLIBC_$newest, above the floor GLIBC_$GLIBC_FLOOR" >&2
    exit 1
fi
cp "$BIN" "$BIN.stripped-check"
arm-linux-gnueabihf-strip "$BIN.stripped-check"
size=$(stat -c %s "$BIN.stripped-check")
rm -f "$BIN.stripped-check"
echo "armv7 release: newest glibc symbol GLIBC_$newest (floor $GLIBC_FLOOR), stripped size $size bytes ($(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1048576 }') MiB, limit 6 MiB)" >&2
if ((size > MAX_BYTES)); then
    echo "the stripped binary is over 6 MiB" >&2
    exit 1
fi
echo "$BIN"
