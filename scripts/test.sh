#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what the tests use, then runs
# formatting, lints and every test (fixtures are made by the real mender-artifact and OpenSSL).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --locked --all-targets 2>&1 | tee "$log"
# One closing line over every test binary (unit and integration tests).
awk '/^test result:/ { p += $4; f += $6 } END { printf "tests: %d passed, %d failed\n", p, f }' "$log"
# The systemd units: systemd-analyze verify, and a security exposure of 3.0 or less.
scripts/check-units.sh
# A short coverage-guided fuzzing run of every parser of untrusted bytes (issue #6).
scripts/fuzz.sh smoke 15
