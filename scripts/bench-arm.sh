#!/usr/bin/env bash
# Benchmark under emulation (issue #5): `validate` throughput of the shipped armv7 binary under
# qemu-arm (Cortex-A8 model) beside the x86-64 build, on the same artifacts, in one run. The
# ratio says what emulation costs here; it is not a BeagleBone figure (a real Cortex-A8 at
# 1 GHz is slower still, and qemu's cost differs per instruction mix). Prints a table for
# docs/performance.md.
#   scripts/bench-arm.sh [SIZE_MIB]     default 256
#
# Then the primitives on that data path (issue #17), from memory (bench/primitives, its own
# crate): SHA-256 by sha2's portable Rust and by ring's assembly (OpenSSL's ARMv4 code, with a
# NEON variant), inflate by zlib-rs and by zlib-ng (built with cmake, NEON paths on). qemu runs
# NEON through slow helper calls, so each runs twice: on the Cortex-A8 model as is, and with
# NEON off (`cortex-a8,neon=off`), where both sides are integer code and qemu's cost follows
# the instruction count more closely. x86-64 figures of the same builds are for reference.
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

# The primitives: one build per inflate backend (flate2 takes one), for each architecture.
PB=$ROOT/bench/primitives
PT=armv7-unknown-linux-gnueabihf
for t in "$PT" x86_64-unknown-linux-gnu; do
    (cd "$PB" && cargo build --locked --release --target "$t" >&2 &&
        cargo build --locked --release --target "$t" --no-default-features --features zlib-ng \
            --target-dir target/ng >&2)
done
prim() { # arch build mode file → the tool's output lines
    local arch=$1 build=$2 dir=$PB/target
    [[ $build == ng ]] && dir=$PB/target/ng
    shift 2
    case $arch in
        x86) "$dir/x86_64-unknown-linux-gnu/release/artifact-gate-primitives-bench" "$@" ;;
        neon) QEMU_CPU=cortex-a8 qemu-arm-static -L /usr/arm-linux-gnueabihf "$dir/$PT/release/artifact-gate-primitives-bench" "$@" ;;
        noneon) QEMU_CPU=cortex-a8,neon=off qemu-arm-static -L /usr/arm-linux-gnueabihf "$dir/$PT/release/artifact-gate-primitives-bench" "$@" ;;
    esac
}
tar -xf "art-$SIZE-gzip.mender" data/0000.tar.gz
declare -A speed
for arch in neon noneon x86; do
    while read -r name mibs _; do speed[$arch.sha.$name]=$mibs; done < <(prim "$arch" rs sha256 "rootfs-$SIZE.img")
    for build in rs ng; do
        read -r name mibs _ < <(prim "$arch" "$build" inflate data/0000.tar.gz)
        speed[$arch.inflate.$name]=$mibs
    done
done
rm -rf data
echo
echo "# primitives from memory, MiB/s (inflate: of output), best of 3; armv7 columns are qemu-arm $(qemu-arm-static --version | head -1 | grep -o '[0-9.]*' | head -1), emulated"
echo
echo "| primitive | implementation | armv7 (qemu, cortex-a8) | armv7 (qemu, cortex-a8 neon=off) | x86-64 (native) |"
echo "| --- | --- | --- | --- | --- |"
for row in "SHA-256 sha sha2" "SHA-256 sha ring" "inflate inflate zlib-rs" "inflate inflate zlib-ng"; do
    read -r what kind name <<<"$row"
    echo "| $what | $name | ${speed[neon.$kind.$name]} | ${speed[noneon.$kind.$name]} | ${speed[x86.$kind.$name]} |"
done
echo
echo "ratios armv7 qemu neon=off: ring/sha2 = $(ratio "${speed[noneon.sha.ring]}" "${speed[noneon.sha.sha2]}")x," \
    "zlib-ng/zlib-rs = $(ratio "${speed[noneon.inflate.zlib-ng]}" "${speed[noneon.inflate.zlib-rs]}")x;" \
    "with NEON: ring/sha2 = $(ratio "${speed[neon.sha.ring]}" "${speed[neon.sha.sha2]}")x," \
    "zlib-ng/zlib-rs = $(ratio "${speed[neon.inflate.zlib-ng]}" "${speed[neon.inflate.zlib-rs]}")x"
