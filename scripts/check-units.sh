#!/usr/bin/env bash
# Checks the systemd units in systemd/: `systemd-analyze verify` accepts both, and
# `systemd-analyze security` rates the service at an exposure of 3.0 or less (issue #4).
#   scripts/check-units.sh [BINARY]     default: target/debug/artifact-gate (built if missing)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${1:-$PWD/target/debug/artifact-gate}
[[ -x $BIN ]] || cargo build --locked
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
# verify wants ExecStart's program to exist; point it at the build, change nothing else.
sed "s|^ExecStart=/usr/bin/artifact-gate|ExecStart=$BIN|" systemd/artifact-gate.service >"$W/artifact-gate.service"
cp systemd/artifact-gate.socket "$W/"
systemd-analyze verify "$W/artifact-gate.service" "$W/artifact-gate.socket"
line=$(systemd-analyze security --offline=true "$W/artifact-gate.service" | grep 'Overall exposure level')
echo "$line"
score=$(sed -E 's/.*: ([0-9.]+) .*/\1/' <<<"$line")
if ! awk -v s="$score" 'BEGIN{exit !(s <= 3.0)}'; then
    echo "exposure $score is above 3.0" >&2
    exit 1
fi
echo "units: verify passed, exposure $score (limit 3.0)"
