#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what the tests use, then runs
# formatting, lints and every test (fixtures are made by the real mender-artifact and OpenSSL),
# then the same suite under ARM emulation and the full-system ARM boot. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh arm

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --locked --all-targets 2>&1 | tee "$log"
# The doctests: among them the compile_fail proofs that no code outside a stage can build what
# that stage mints (a VerifiedArtifact, a CheckedHeader, a PayloadName...).
cargo test --locked --doc 2>&1 | tee -a "$log"
# One closing line over every test binary (unit and integration tests).
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
# The systemd units: systemd-analyze verify, and a security exposure of 3.0 or less.
scripts/check-units.sh
# A short coverage-guided fuzzing run of every parser of untrusted bytes (issue #6).
scripts/fuzz.sh smoke 15
# ARM (issue #5): the whole suite again, built for armv7 and run under qemu-arm on a Cortex-A8;
# the shipped binary (glibc 2.28 floor, size checked, by build-deb.sh armhf below); and that
# binary, installed from its package, booted as a systemd service on an emulated ARM board
# through an A/B update and a rollback.
scripts/test-arm.sh
# The Debian packages (issue #17): each is built with cargo-deb and checked by lintian; the amd64
# one is installed, upgraded, removed and purged in a bookworm chroot, and the armhf one (with
# the shipped binary from build-release.sh) is what the full-system test installs in the guest.
deb=$(scripts/build-deb.sh amd64 | tail -n 1)
scripts/deb-test.sh "$deb"
armhf_deb=$(scripts/build-deb.sh armhf | tail -n 1)
scripts/system-test.sh "$armhf_deb"
