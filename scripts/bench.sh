#!/usr/bin/env bash
# Benchmark: wall time, throughput and peak RSS of `artifact-gate validate` beside
# `mender-artifact validate` and the two lower bounds on the same data — libdeflate-gunzip on the
# compressed payload (the fastest inflate) and `openssl dgst -sha256` on the image — all in one
# run, so the ratios compare like with like. Not a test: it prints figures for
# docs/performance.md.
#
#   scripts/bench.sh [SIZES_MIB...]     default: 64 1024 2048
#   scripts/bench.sh --one-core         only the single-core block below
#
# The single-core block (issue #17) runs every tool under `taskset -c 0` on the 1 GiB gzip
# artifact, as on a one-core board: artifact-gate then takes its inline path (no worker
# threads), and the limit is libdeflate-gunzip of the payload plus openssl of the image one
# after the other, so their times add. It reports user CPU beside wall time because
# libdeflate-gunzip holds its whole output in memory, and on a VM the page faults of that
# buffer (system time) can dominate its wall time and flatter the wall ratio.
#
# Images are ext4 file systems filled with real files (mke2fs -d over a copy of /usr/lib), so
# the payload compresses like a real root file system. Work files go to bench-work/ (kept
# between runs; delete it to start afresh).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

scripts/install-deps.sh bench
cargo build --release --locked
GATE=$ROOT/target/release/artifact-gate

ONE_CORE_ONLY=""
[[ ${1:-} == --one-core ]] && { ONE_CORE_ONLY=1; shift; }
SIZES=("$@")
((${#SIZES[@]})) || SIZES=(64 1024 2048)
[[ -n $ONE_CORE_ONLY ]] && SIZES=()
W=$ROOT/bench-work
mkdir -p "$W"
cd "$W"
[[ -f key.pem ]] || openssl genrsa -traditional -out key.pem 3072 2>/dev/null
[[ -f pub.pem ]] || openssl rsa -in key.pem -pubout -out pub.pem 2>/dev/null

source "$ROOT/scripts/lib/bench.sh"

echo "# artifact-gate benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m)"
echo "# artifact-gate $("$GATE" --version | cut -d' ' -f2), $(mender-artifact --version | head -1)"
: >ratios.txt
if ((${#SIZES[@]})); then
    echo
    row "artifact" "tool" "wall s" "MiB/s (image)" "peak RSS MiB"
    row "---" "---" "---" "---" "---"
fi
for size in "${SIZES[@]}"; do
    make_image "$size"
    bytes=$(stat -c %s "rootfs-$size.img")
    comps=(gzip)
    [[ $size == 1024 ]] && comps=(gzip lzma none)
    for comp in "${comps[@]}"; do
        make_artifact "$size" "$comp"
        art=art-$size-$comp.mender
        label="$size MiB $comp"
        # Rounds interleave the tools, so a noisy neighbour slows all of them alike; each tool's
        # best round counts. mender-artifact is slow, so it runs in the first two rounds only.
        g="" m="" d="" h=""
        [[ $comp == gzip ]] && tar -xf "$art" data/0000.tar.gz
        for round in 1 2 3 4 5; do
            g=$(faster "$g" "$(measure "$GATE" validate -k pub.pem "$art")")
            ((round <= 2)) && m=$(faster "$m" "$(measure mender-artifact validate -k pub.pem "$art")")
            [[ $comp == gzip ]] && d=$(faster "$d" "$(measure libdeflate-gunzip -c data/0000.tar.gz)")
            h=$(faster "$h" "$(measure openssl dgst -sha256 "rootfs-$size.img")")
        done
        rm -rf data
        row "$label" "artifact-gate validate" "${g% *}" "$(mib_s "$bytes" "${g% *}")" "$((${g#* } / 1024))"
        row "$label" "mender-artifact validate" "${m% *}" "$(mib_s "$bytes" "${m% *}")" "$((${m#* } / 1024))"
        if [[ $comp == gzip ]]; then
            row "$label" "libdeflate-gunzip (limit)" "${d% *}" "$(mib_s "$bytes" "${d% *}")" "$((${d#* } / 1024))"
        fi
        row "$label" "openssl sha256 (limit)" "${h% *}" "$(mib_s "$bytes" "${h% *}")" "$((${h#* } / 1024))"
        slower=${h% *}
        [[ $comp == gzip ]] && slower=$(awk -v a="${d% *}" -v b="${h% *}" 'BEGIN{print (a>b)?a:b}')
        echo "ratios $label: mender-artifact/artifact-gate = $(ratio "${m% *}" "${g% *}")x;" \
            "artifact-gate/slower-limit = $(ratio "${g% *}" "$slower")" >>ratios.txt
    done
done

# One core: the 1 GiB gzip artifact, every tool pinned to CPU 0, rounds interleaved as above.
one_core() {
    local art=art-1024-gzip.mender bytes g="" m="" d="" h="" cpu=(taskset -c 0)
    make_image 1024
    make_artifact 1024 gzip
    bytes=$(stat -c %s rootfs-1024.img)
    tar -xf "$art" data/0000.tar.gz
    for round in 1 2 3 4 5; do
        g=$(faster "$g" "$(measure_cpu "${cpu[@]}" "$GATE" validate -k pub.pem "$art")")
        ((round <= 2)) && m=$(faster "$m" "$(measure_cpu "${cpu[@]}" mender-artifact validate -k pub.pem "$art")")
        d=$(faster "$d" "$(measure_cpu "${cpu[@]}" libdeflate-gunzip -c data/0000.tar.gz)")
        h=$(faster "$h" "$(measure_cpu "${cpu[@]}" openssl dgst -sha256 rootfs-1024.img)")
    done
    rm -rf data
    local gw gr gu gs mw mr mu ms dw dr du ds hw hr hu hs lw lu
    read -r gw gr gu gs <<<"$g"
    read -r mw mr mu ms <<<"$m"
    read -r dw dr du ds <<<"$d"
    read -r hw hr hu hs <<<"$h"
    lw=$(awk -v a="$dw" -v b="$hw" 'BEGIN{printf "%.2f", a+b}')
    lu=$(awk -v a="$du" -v b="$hu" 'BEGIN{printf "%.2f", a+b}')
    local lsys
    lsys=$(awk -v a="$ds" -v b="$hs" 'BEGIN{printf "%.2f", a+b}')
    echo
    echo "# one core: every tool under taskset -c 0, 1024 MiB gzip (best wall of 5 rounds, mender-artifact of 2)"
    echo
    printf '| %s | %s | %s | %s | %s | %s |\n' tool "wall s" "user s" "system s" "MiB/s (image, wall)" "peak RSS MiB" --- --- --- --- --- ---
    printf '| %s | %s | %s | %s | %s | %s |\n' "artifact-gate validate" "$gw" "$gu" "$gs" "$(mib_s "$bytes" "$gw")" "$((gr / 1024))"
    printf '| %s | %s | %s | %s | %s | %s |\n' "mender-artifact validate" "$mw" "$mu" "$ms" "$(mib_s "$bytes" "$mw")" "$((mr / 1024))"
    printf '| %s | %s | %s | %s | %s | %s |\n' "libdeflate-gunzip payload" "$dw" "$du" "$ds" "$(mib_s "$bytes" "$dw")" "$((dr / 1024))"
    printf '| %s | %s | %s | %s | %s | %s |\n' "openssl dgst -sha256 image" "$hw" "$hu" "$hs" "$(mib_s "$bytes" "$hw")" "$((hr / 1024))"
    printf '| %s | %s | %s | %s | %s | %s |\n' "limit: the two, one after the other" "$lw" "$lu" "$lsys" "$(mib_s "$bytes" "$lw")" "-"
    echo "ratios 1024 MiB gzip, one core: artifact-gate/limit = $(ratio "$gw" "$lw")x wall," \
        "$(ratio "$gu" "$lu")x user CPU; mender-artifact/artifact-gate = $(ratio "$mw" "$gw")x wall" >>ratios.txt
}
if [[ -n $ONE_CORE_ONLY ]] || [[ " ${SIZES[*]} " == *" 1024 "* ]]; then
    one_core
fi

echo
cat ratios.txt
rm -f ratios.txt

# The install comparison with `mender install` needs root and loop devices: scripts/bench-install.sh.
