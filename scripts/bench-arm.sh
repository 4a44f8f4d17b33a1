#!/usr/bin/env bash
# Benchmark under emulation (issue #5): `validate` throughput of the shipped armv7 binary under
# qemu-arm (Cortex-A8 model) beside the x86-64 build, on the same artifacts, in one run. The
# ratio says what emulation costs here; it is not a BeagleBone figure (a real Cortex-A8 at
# 1 GHz is slower still, and qemu's cost differs per instruction mix). Prints a table for
# docs/performance.md.
#   scripts/bench-arm.sh [SIZE_MIB]     default 256
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SIZE=${1:-256}
scripts/install-deps.sh bench arm >/dev/null
cargo build --release --locked
X86=$ROOT/target/release/artifact-gate
ARM=$(scripts/build-release.sh | tail -n 1)

W=$ROOT/bench-work
mkdir -p "$W"
cd "$W"
source "$ROOT/scripts/lib/bench.sh"
[[ -f key.pem ]] || openssl genrsa -traditional -out key.pem 3072 2>/dev/null
[[ -f pub.pem ]] || openssl rsa -in key.pem -pubout -out pub.pem 2>/dev/null
make_image "$SIZE"
bytes=$(stat -c %s "rootfs-$SIZE.img")

echo "# validate, x86-64 vs armv7 under qemu-arm $(qemu-arm-static --version | head -1 | grep -o '[0-9.]*' | head -1) (QEMU_CPU=cortex-a8), $(date -u +%Y-%m-%d), $(nproc) cores"
echo
echo "| artifact | x86-64 s | x86-64 MiB/s | armv7 (qemu) s | armv7 (qemu) MiB/s | armv7 / x86-64 time |"
echo "| --- | --- | --- | --- | --- | --- |"
for comp in gzip none; do
    make_artifact "$SIZE" "$comp"
    art=art-$SIZE-$comp.mender
    # measure ignores the exit code: check once that both accept the artifact.
    "$X86" validate -k pub.pem "$art" >/dev/null
    QEMU_CPU=cortex-a8 qemu-arm-static -L /usr/arm-linux-gnueabihf "$ARM" validate -k pub.pem "$art" >/dev/null
    x="" a=""
    for _ in 1 2 3; do
        x=$(faster "$x" "$(measure "$X86" validate -k pub.pem "$art")")
        a=$(faster "$a" "$(measure env QEMU_CPU=cortex-a8 qemu-arm-static -L /usr/arm-linux-gnueabihf "$ARM" validate -k pub.pem "$art")")
    done
    printf '| %s MiB %s | %s | %s | %s | %s | %s× |\n' "$SIZE" "$comp" "${x% *}" "$(mib_s "$bytes" "${x% *}")" \
        "${a% *}" "$(mib_s "$bytes" "${a% *}")" "$(ratio "${a% *}" "${x% *}")"
done
