#!/usr/bin/env bash
# The main job end to end on a fresh Debian 12 machine: install what is needed, build, make a
# signing key and a signed artifact with the real mender-artifact, validate it with
# artifact-gate using a mender.conf, show a tampered copy rejected, then install the genuine
# one into a sandbox root through Debian's single-file Update Module and commit it.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cargo build --release --locked
GATE="$PWD/target/release/artifact-gate"

W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W"
step() { printf '\n== %s\n' "$*"; }
expect_rejected() { # artifact: validate must exit 1
    local code=0
    "$GATE" validate "$1" || code=$?
    echo "exit code: $code (1 = artifact rejected)"
    [[ $code == 1 ]]
}

step "A signing key (stays with the build pipeline) and its public half (goes to the device)"
openssl genrsa -traditional -out signing.key 3072 2>/dev/null
openssl rsa -in signing.key -pubout -out verify.pem 2>/dev/null
echo "signing.key, verify.pem"

step "A signed Mender Artifact for the single-file Update Module, written by mender-artifact"
printf 'app v2\n' > app.conf
printf '%s/sandbox/etc/app' "$W" > dest_dir
printf 'app.conf' > filename
printf '644' > permissions
mender-artifact write module-image -T single-file -n app-2.0 -t beaglebone \
    -f dest_dir -f filename -f permissions -f app.conf -o app-2.0.mender -k signing.key >/dev/null
ls -l app-2.0.mender

step "The device's configuration names the verify key (as Mender's mender.conf does)"
mkdir -p etc/mender var/lib/mender share/mender/modules/v3
printf '{"ArtifactVerifyKey": "%s/verify.pem"}\n' "$W" > etc/mender/mender.conf
printf 'device_type=beaglebone\n' > var/lib/mender/device_type
cp /usr/share/mender/modules/v3/single-file share/mender/modules/v3/
cat etc/mender/mender.conf
export MENDER_CONF_DIR="$W/etc/mender" MENDER_DATASTORE_DIR="$W/var/lib/mender" \
    MENDER_DATA_DIR="$W/share/mender"

step "artifact-gate validate (exit 0 = valid)"
"$GATE" validate --device-type beaglebone app-2.0.mender

step "artifact-gate read"
"$GATE" read app-2.0.mender

step "A tampered copy: one byte of the payload changed in transit"
python3 - <<'PY'
import io, tarfile
src = tarfile.open("app-2.0.mender")
dst = tarfile.open("tampered.mender", "w", format=tarfile.USTAR_FORMAT)
for m in src.getmembers():
    data = src.extractfile(m).read()
    if m.name == "data/0000.tar.gz":
        import gzip
        inner = tarfile.open(fileobj=io.BytesIO(gzip.decompress(data)))
        out = io.BytesIO()
        new = tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT)
        for f in inner.getmembers():
            body = inner.extractfile(f).read().replace(b"v2", b"v3")
            f.size = len(body)
            new.addfile(f, io.BytesIO(body))
        new.close()
        data = gzip.compress(out.getvalue())
        m.size = len(data)
    dst.addfile(m, io.BytesIO(data))
dst.close()
PY
expect_rejected tampered.mender

step "And one signed by someone else's key"
openssl genrsa -traditional -out attacker.key 3072 2>/dev/null
mender-artifact write module-image -T single-file -n app-evil -t beaglebone \
    -f app.conf -o evil.mender -k attacker.key >/dev/null
expect_rejected evil.mender
step "Install the tampered copy: refused, nothing installed"
code=0
"$GATE" install tampered.mender || code=$?
echo "exit code: $code"
[[ $code == 1 && ! -e sandbox/etc/app/app.conf ]]

step "Install the genuine artifact into the sandbox root, then commit"
"$GATE" install app-2.0.mender
echo "sandbox/etc/app/app.conf now holds: $(cat sandbox/etc/app/app.conf)"
"$GATE" commit
"$GATE" show-provides

printf '\nDemo finished: the genuine artifact passed and was installed; both forgeries were rejected.\n'
