#!/usr/bin/env bash
# The whole test suite built for armv7 (the BeagleBone's armv7-unknown-linux-gnueabihf) and run
# under qemu-arm on the BeagleBone's CPU model, Cortex-A8 (issue #5).
#   scripts/test-arm.sh [cargo test arguments…]
#
# - The test binaries run through cargo's runner (qemu-arm-static).
# - Tests also start the project binary, and that is an ARM binary too. A binfmt_misc entry
#   (made here, removed on exit) lets the kernel hand every ARM executable to qemu-arm-static,
#   so the tests spawn it exactly as on x86, under strace and systemd-socket-activate as well.
# - qemu-arm finds the ARM glibc and PKCS#11 modules in an armhf sysroot
#   (scripts/arm-sysroot.sh) through QEMU_LD_PREFIX; QEMU_CPU picks the Cortex-A8 for every
#   ARM process, so an instruction the BeagleBone lacks fails the run.
# Needs root (binfmt_misc); installs its packages with scripts/install-deps.sh arm.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=armv7-unknown-linux-gnueabihf
scripts/install-deps.sh arm >/dev/null
rustup target add "$TARGET" >/dev/null

source scripts/lib/armhf.sh
SYSROOT=$(mktemp -d /tmp/armhf-sysroot.XXXXXX)
log=$(mktemp)
trap 'binfmt_arm_unregister; rm -rf "$SYSROOT" "$log"' EXIT
scripts/arm-sysroot.sh "$SYSROOT"
binfmt_arm_register

export QEMU_CPU=cortex-a8
export QEMU_LD_PREFIX=$SYSROOT
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_RUNNER=qemu-arm-static
cargo test --locked --target "$TARGET" "$@" 2>&1 | tee "$log"
awk '/^test result:/ { p += $4; f += $6 } END { printf "armv7 tests (qemu-arm, cortex-a8): %d passed, %d failed\n", p, f }' "$log"
