#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer with AddressSanitizer) of every parser of
# untrusted bytes (issue #6): the whole artifact stream, the manifest, the header, signatures
# and keys, pkcs11: URIs and the daemon's requests. Seeds come from the real mender-artifact
# and OpenSSL at run time.
#   scripts/fuzz.sh smoke [SECONDS]   every target for SECONDS each (default 20): what CI runs
#   scripts/fuzz.sh long [RUNS]       every target for RUNS executions (default 10000000)
# A crash fails the script; its input is left in fuzz/artifacts/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:-smoke}
AMOUNT=${2:-}
TARGETS=(artifact manifest header signature_and_keys pkcs11_uri daemon_requests)

scripts/install-deps.sh >/dev/null
# cargo-fuzz needs a nightly compiler (for the sanitizer); it does not change the stable build.
# A nightly already on the machine is used; otherwise a pinned one is installed.
if rustup toolchain list | grep -q '^nightly-x86_64\|^nightly '; then
    NIGHTLY=nightly
else
    NIGHTLY=nightly-2026-05-19
    rustup toolchain install "$NIGHTLY" --profile minimal
fi
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

S=$PWD/fuzz/seeds
rm -rf "$S"
mkdir -p "$S"/work
for t in "${TARGETS[@]}"; do mkdir -p "$S/$t" "fuzz/corpus/$t"; done
(
    cd "$S/work"
    openssl genrsa -traditional -out rsa.key 2048 2>/dev/null
    openssl rsa -in rsa.key -pubout -out rsa.pub 2>/dev/null
    openssl rsa -in rsa.key -pubout -RSAPublicKey_out -out rsa.pkcs1.pub 2>/dev/null
    openssl ecparam -genkey -name prime256v1 -noout -out ec.key
    openssl ec -in ec.key -pubout -out ec.pub 2>/dev/null
    openssl genpkey -algorithm ED25519 -out ed.key
    openssl pkey -in ed.key -pubout -out ed.pub
    openssl req -x509 -new -key ec.key -subj /CN=seed -days 1 -out ec.cert.pem
    openssl x509 -in ec.cert.pem -outform DER -out ec.cer
    printf 'seed payload\n' >f1.txt
    head -c 3000 /dev/urandom >f2.bin
    printf '#!/bin/sh\ntrue\n' >ArtifactInstall_Enter_00
    head -c 20000 /dev/urandom >rootfs.img
    ma() { mender-artifact "$@" >/dev/null 2>&1; }
    ma write module-image -T single-file -n s-none -t beaglebone -f f1.txt -f f2.bin -o a1.mender --compression none
    ma write module-image -T single-file -n s-gz -t beaglebone -t other -f f1.txt -o a2.mender -k rsa.key
    ma write module-image -T directory -n s-xz -t beaglebone -f f2.bin -o a3.mender -k ec.key --compression lzma
    ma write rootfs-image -n s-rootfs -t beaglebone -f rootfs.img -o a4.mender -s ArtifactInstall_Enter_00 --compression none
    ma write bootstrap-artifact -n s-boot -t beaglebone -o a5.mender --compression none
    ma write module-image -T single-file -n s-deps -t beaglebone -f f1.txt -o a6.mender \
        --depends rootfs-image.version:v1 --provides app.version:v2 --clears-provides 'app.*' --compression none
    for a in a*.mender; do
        cp "$a" "$S/artifact/"
        dir=x-$a
        mkdir "$dir"
        tar -xf "$a" -C "$dir"
        cp "$dir/manifest" "$S/manifest/$a.manifest"
        [[ -f $dir/manifest.sig ]] && cp "$dir/manifest.sig" "$S/signature_and_keys/$a.sig"
        for h in "$dir"/header.tar*; do
            # The header target's first byte picks the name: 0 tar, 1 gz, 2 xz, 3 zst.
            case $h in
                *.gz) p='\x01' ;; *.xz) p='\x02' ;; *.zst) p='\x03' ;; *) p='\x00' ;;
            esac
            { printf "$p"; cat "$h"; } >"$S/header/$a.header"
        done
    done
    cp rsa.pub rsa.pkcs1.pub ec.pub ed.pub ec.cert.pem ec.cer "$S/signature_and_keys/"
)
printf '%s' 'pkcs11:token=upd-keys;object=rsa-root;type=public?module-path=/usr/lib/softhsm/libsofthsm2.so' >"$S/pkcs11_uri/1"
printf '%s' 'pkcs11:model=SW%20%20%20TPM%00;manufacturer=IBM;serial=0000;token=upd-tpm;id=%30%31;object=k;type=public?module-name=libtpm2_pkcs11&pin-source=file:/etc/pin' >"$S/pkcs11_uri/2"
printf '%s' 'pkcs11:id=%01%ff?module-path=/m.so&pin-value=1234' >"$S/pkcs11_uri/3"
printf '%s' '{"path":"/data/a.mender"}' >"$S/daemon_requests/1"
printf '%s' '{"url":"https://example.com/a.mender"}' >"$S/daemon_requests/2"
cp conf/artifact-gate.toml.example "$S/daemon_requests/3"
rm -rf "$S/work"

case $MODE in
    smoke) limit=(-max_total_time="${AMOUNT:-20}") ;;
    long) limit=(-runs="${AMOUNT:-10000000}") ;;
    *) echo "usage: scripts/fuzz.sh smoke [SECONDS] | long [RUNS]" >&2; exit 2 ;;
esac
cargo "+$NIGHTLY" fuzz build -O
for t in "${TARGETS[@]}"; do
    echo "== $t"
    # -rss_limit_mb: memory stays flat; 1 GiB (with the sanitizer's own overhead) is a cap no
    # input may reach.
    cargo "+$NIGHTLY" fuzz run -O "$t" "fuzz/corpus/$t" "$S/$t" -- \
        "${limit[@]}" -rss_limit_mb=1024 -print_final_stats=1 2>&1 |
        grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb|==|SUMMARY|Done)|ERROR|panicked' || true
    if compgen -G "fuzz/artifacts/$t/*" >/dev/null; then
        echo "fuzz target $t found a failing input: fuzz/artifacts/$t/" >&2
        exit 1
    fi
done
