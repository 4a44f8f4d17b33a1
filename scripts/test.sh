#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what the tests use, then runs
# formatting, lints and every test (fixtures are made by the real mender-artifact and OpenSSL).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh

cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
