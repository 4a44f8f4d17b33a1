#!/usr/bin/env bash
# Benchmark: `artifact-gate install` beside `mender install` (Debian's mender-client 3.4, the Go
# client) writing the same rootfs-image artifact to the same A/B partitions. Not a test: it
# prints figures for docs/performance.md. Needs root (loop devices, a mount namespace).
#
#   scripts/bench-install.sh [SIZE_MIB [COMPRESSION...]]   default: 1024 gzip none
#   (the artifacts scripts/bench.sh makes; COMPRESSION is gzip, lzma or none)
#
# Set-up, identical for both tools:
#   * two sparse files of SIZE+76 MiB attached as loop devices serve as RootfsPartA/RootfsPartB;
#     they are made afresh for every run, so neither tool finds the image already in place (the
#     Go client skips writing frames whose bytes are already on the device);
#   * a file-backed U-Boot environment says mender_boot_part=<partition A>;
#   * one mender.conf with the verify key and both partitions.
# What the Go client needs beyond that, given to it only inside a private mount namespace:
#   * /etc/mender is fixed in that client, so a sandbox directory holding artifact_info is
#     bind-mounted over it;
#   * it runs fw_printenv/fw_setenv without -c, so wrappers on PATH add the sandbox's
#     fw_env.config;
#   * it takes the running partition from `mount`, which names this VM's real disk, so a wrapper
#     `mount` reports partition A as `/`. That choice only tells it which slot to write; the
#     bytes it writes and syncs are unchanged.
# artifact-gate needs none of the three: MENDER_CONF_DIR/MENDER_DATASTORE_DIR relocate it,
# ARTIFACT_GATE_FW_ENV_CONFIG names the environment, and it falls back to mender_boot_part when
# `/` is neither partition. Both run through the same `unshare` so the start-up cost matches.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
if [[ $(id -u) != 0 ]]; then
    echo "bench-install.sh needs root (loop devices and a mount namespace)" >&2
    exit 1
fi

SIZE=${1:-1024}
shift || true
COMPRESSIONS=("$@")
((${#COMPRESSIONS[@]})) || COMPRESSIONS=(gzip none)
scripts/install-deps.sh bench
cargo build --release --locked
GATE=$ROOT/target/release/artifact-gate
W=$ROOT/bench-work
S=$W/install-cmp
LOOPS=()
cleanup() {
    for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null || true; done
    rm -rf "$S"
}
trap cleanup EXIT

# Fresh partitions, environment and state for one run; sets LA/LB.
fresh_device() {
    for l in "${LOOPS[@]}"; do losetup -d "$l" 2>/dev/null || true; done
    LOOPS=()
    rm -rf "$S"
    mkdir -p "$S"/{etc,var,boot,bin,etc-mender,share}
    truncate -s $((SIZE + 76))M "$S/part-a" "$S/part-b"
    LA=$(losetup --direct-io=on -f --show "$S/part-a"); LOOPS+=("$LA")
    LB=$(losetup --direct-io=on -f --show "$S/part-b"); LOOPS+=("$LB")
    local na=${LA##*[!0-9]}
    printf '{"ArtifactVerifyKey":"%s","RootfsPartA":"%s","RootfsPartB":"%s"}' \
        "$W/pub.pem" "$LA" "$LB" >"$S/etc/mender.conf"
    printf 'device_type=beaglebone\n' >"$S/var/device_type"
    printf 'artifact_name=bench-old\n' >"$S/etc-mender/artifact_info"
    head -c 16384 /dev/zero >"$S/boot/env.bin"
    printf '%s 0x0000 0x4000\n' "$S/boot/env.bin" >"$S/boot/fw_env.config"
    printf 'mender_boot_part=%s\nmender_boot_part_hex=%X\nupgrade_available=0\nbootcount=0\n' \
        "$na" "$na" >"$S/boot/defaults"
    fw_setenv -c "$S/boot/fw_env.config" -f "$S/boot/defaults" -s "$S/boot/defaults" 2>/dev/null
    for tool in fw_printenv fw_setenv; do
        printf '#!/bin/sh\nexec /usr/bin/%s -c %s "$@"\n' "$tool" "$S/boot/fw_env.config" >"$S/bin/$tool"
    done
    printf '#!/bin/sh\necho "%s on / type ext4 (rw,relatime)"\n' "$LA" >"$S/bin/mount"
    chmod +x "$S/bin"/*
    sync
    echo 3 >/proc/sys/vm/drop_caches
}

# Runs one tool in a private mount namespace under GNU time; prints "<seconds> <peak RSS KiB>".
measure() {
    local inner=$1
    /usr/bin/time -o "$W/time.out" -f '%e %M' \
        unshare -m --propagation private sh -c "$inner" >"$W/run.log" 2>&1 || {
        echo "run failed:" >&2; tail -5 "$W/run.log" >&2; return 1
    }
    tail -1 "$W/time.out"
}

# The image must be on partition B and the boot variables must point there.
check_result() {
    local tool=$1 got
    got=$(head -c "$BYTES" "$LB" | sha256sum | cut -d' ' -f1)
    [[ $got == "$WANT" ]] || { echo "$tool: partition B does not hold the image" >&2; exit 1; }
    fw_printenv -c "$S/boot/fw_env.config" upgrade_available | grep -qx 'upgrade_available=1' ||
        { echo "$tool: upgrade_available is not 1" >&2; exit 1; }
}

faster() {
    if [[ -z $1 ]] || awk -v a="${2% *}" -v b="${1% *}" 'BEGIN{exit !(a<b)}'; then echo "$2"; else echo "$1"; fi
}
mib_s() { awk -v b="$1" -v s="$2" 'BEGIN{ if (s<=0) s=0.01; printf "%.0f", b/1048576/s }'; }

# The same install through the daemon: the artifact streamed with curl -T over the API socket.
# Timed from the upload's start to the result; peak RSS is the daemon's (VmHWM).
measure_daemon() {
    local sock=$S/api.sock pid start end
    printf '[api]\nsocket = "%s"\n' "$sock" >"$S/gate.toml"
    MENDER_CONF_DIR=$S/etc MENDER_DATASTORE_DIR=$S/var MENDER_DATA_DIR=$S/share \
        ARTIFACT_GATE_FW_ENV_CONFIG=$S/boot/fw_env.config \
        "$GATE" daemon --config-file "$S/gate.toml" >"$W/daemon.log" 2>&1 &
    pid=$!
    for _ in $(seq 200); do [[ -S $sock ]] && break; sleep 0.05; done
    start=$(date +%s.%N)
    curl -sS --unix-socket "$sock" -T "$ART" http://localhost/v1/install >"$W/run.log"
    end=$(date +%s.%N)
    local hwm
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
    kill -TERM "$pid"; wait "$pid" || true
    grep -q '"event":"result"' "$W/run.log" || { echo "daemon install failed:" >&2; tail -3 "$W/run.log" >&2; return 1; }
    awk -v a="$start" -v b="$end" -v m="$hwm" 'BEGIN{printf "%.2f %d\n", b-a, m}'
}

gate_cmd() {
    echo "MENDER_CONF_DIR=$S/etc MENDER_DATASTORE_DIR=$S/var MENDER_DATA_DIR=$S/share" \
        "ARTIFACT_GATE_FW_ENV_CONFIG=$S/boot/fw_env.config $GATE install $ART"
}
mender_cmd() {
    echo "mount --bind $S/etc-mender /etc/mender && PATH=$S/bin:\$PATH" \
        "mender -config $S/etc/mender.conf -data $S/var install $ART"
}

echo "# install of a $SIZE MiB rootfs-image onto a loop-device partition (direct I/O)," \
    "$(date -u +%Y-%m-%d), $(nproc) cores; best of 3 interleaved rounds, caches dropped before each"
printf '| %s | %s | %s | %s | %s |\n' artifact tool "wall s" "MiB/s (image)" "peak RSS MiB" --- --- --- --- ---
ratios=()
for comp in "${COMPRESSIONS[@]}"; do
    ART=$W/art-$SIZE-$comp.mender
    if [[ ! -f $ART ]]; then
        echo "no $ART: run scripts/bench.sh $SIZE first (it makes gzip, lzma and none at 1024)" >&2
        exit 1
    fi
    # The image's digest from the signed manifest, its size from the payload listing.
    WANT=$(tar -xOf "$ART" manifest | awk '$2 ~ /^data\/0000\// {print $1}')
    member=$(tar -tf "$ART" | grep '^data/0000' | head -1)
    case $comp in
        gzip) inflate=(gzip -dc) ;;
        lzma) inflate=(xz -dc) ;;
        *) inflate=(cat) ;;
    esac
    BYTES=$(tar -xOf "$ART" "$member" | "${inflate[@]}" | tar -tv | awk '{print $3}')
    g="" m="" dm=""
    for round in 1 2 3; do
        fresh_device
        g=$(faster "$g" "$(measure "$(gate_cmd)")")
        check_result artifact-gate
        fresh_device
        dm=$(faster "$dm" "$(measure_daemon)")
        check_result "artifact-gate daemon"
        fresh_device
        m=$(faster "$m" "$(measure "$(mender_cmd)")")
        check_result "mender install"
    done
    label="$SIZE MiB $comp"
    printf '| %s | %s | %s | %s | %s |\n' "$label" "artifact-gate install" "${g% *}" "$(mib_s "$BYTES" "${g% *}")" "$((${g#* } / 1024))"
    printf '| %s | %s | %s | %s | %s |\n' "$label" "artifact-gate daemon (curl -T)" "${dm% *}" "$(mib_s "$BYTES" "${dm% *}")" "$((${dm#* } / 1024))"
    printf '| %s | %s | %s | %s | %s |\n' "$label" "mender install (Go 3.4)" "${m% *}" "$(mib_s "$BYTES" "${m% *}")" "$((${m#* } / 1024))"
    vs_mender=$(awk -v a="${m% *}" -v b="${g% *}" 'BEGIN{printf "%.2f", a/b}')
    vs_local=$(awk -v a="${dm% *}" -v b="${g% *}" 'BEGIN{printf "%.2f", a/b}')
    ratios+=("ratio $label: mender/artifact-gate = ${vs_mender}x; daemon/local = ${vs_local}x")
done
printf '%s\n' "${ratios[@]}"
