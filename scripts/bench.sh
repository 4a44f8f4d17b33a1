#!/usr/bin/env bash
# Benchmark: wall time, throughput and peak RSS of `artifact-gate validate` beside
# `mender-artifact validate` and the two lower bounds on the same data — libdeflate-gunzip on the
# compressed payload (the fastest inflate) and `openssl dgst -sha256` on the image — all in one
# run, so the ratios compare like with like. Not a test: it prints figures for
# docs/performance.md.
#
#   scripts/bench.sh [SIZES_MIB...]     default: 64 1024 2048
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

SIZES=("$@")
((${#SIZES[@]})) || SIZES=(64 1024 2048)
W=$ROOT/bench-work
mkdir -p "$W"
cd "$W"
[[ -f key.pem ]] || openssl genrsa -traditional -out key.pem 3072 2>/dev/null
[[ -f pub.pem ]] || openssl rsa -in key.pem -pubout -out pub.pem 2>/dev/null

source "$ROOT/scripts/lib/bench.sh"

echo "# artifact-gate benchmark, $(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m)"
echo "# artifact-gate $("$GATE" --version | cut -d' ' -f2), $(mender-artifact --version | head -1)"
echo
row "artifact" "tool" "wall s" "MiB/s (image)" "peak RSS MiB"
row "---" "---" "---" "---" "---"
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
echo
cat ratios.txt
rm -f ratios.txt

# The install comparison with `mender install` needs root and loop devices: scripts/bench-install.sh.
