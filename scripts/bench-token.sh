#!/usr/bin/env bash
# Benchmark: what a verify key in a PKCS#11 token costs per artifact. `validate` of a small
# RSA-3072-signed artifact, run N times with the key as a PEM file and N times with the same key
# in a SoftHSM2 token (verified there with C_Verify); the difference per run is the token's cost
# for a whole process: loading the module, C_Initialize, finding token and key, a probe, and the
# verification itself. Not a test: it prints figures for docs/performance.md.
#
#   scripts/bench-token.sh [RUNS]      default: 50
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-50}
scripts/install-deps.sh >/dev/null
cargo build --release --locked >/dev/null 2>&1
GATE=$PWD/target/release/artifact-gate
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
mkdir tokens
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' "$W" >softhsm2.conf
export SOFTHSM2_CONF=$W/softhsm2.conf
softhsm2-util --init-token --free --label bench --so-pin 12345678 --pin 1234 >/dev/null
openssl genrsa -traditional -out key.pem 3072 2>/dev/null
openssl rsa -in key.pem -pubout -out pub.pem 2>/dev/null
GNUTLS_PIN=1234 p11tool --provider /usr/lib/softhsm/libsofthsm2.so --login --write \
    --load-pubkey pub.pem --label root --id 01 "pkcs11:token=bench" >/dev/null
head -c 65536 /dev/urandom >payload.bin
mender-artifact write module-image -T single-file -n bench -t beaglebone -f payload.bin \
    -k key.pem -o art.mender >/dev/null
URI="pkcs11:token=bench;object=root?module-path=/usr/lib/softhsm/libsofthsm2.so"

run_many() { # key → seconds for RUNS validations
    local start end
    start=$(date +%s.%N)
    for _ in $(seq "$RUNS"); do "$GATE" validate -k "$1" art.mender >/dev/null; done
    end=$(date +%s.%N)
    awk -v a="$start" -v b="$end" 'BEGIN{printf "%.4f", b-a}'
}
# Interleaved rounds; the best of three counts for each.
file_best="" token_best=""
for _ in 1 2 3; do
    f=$(run_many pub.pem); t=$(run_many "$URI")
    [[ -z $file_best ]] || awk -v a="$f" -v b="$file_best" 'BEGIN{exit !(a<b)}' && file_best=$f
    [[ -z $token_best ]] || awk -v a="$t" -v b="$token_best" 'BEGIN{exit !(a<b)}' && token_best=$t
done
awk -v f="$file_best" -v t="$token_best" -v n="$RUNS" 'BEGIN{
    printf "validate of a 64 KiB RSA-3072-signed artifact, %d runs, best of 3 rounds\n", n
    printf "key file (PEM):        %.2f ms per run\n", f*1000/n
    printf "key in SoftHSM2 token: %.2f ms per run\n", t*1000/n
    printf "token cost:            %.2f ms per run\n", (t-f)*1000/n
}'
