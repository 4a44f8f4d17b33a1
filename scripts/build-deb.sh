#!/usr/bin/env bash
# The Debian package (issue #17), made by cargo-deb from [package.metadata.deb] in Cargo.toml:
# the binary, the units (enabled as debhelper would), the settings file as a conffile, README
# and docs, and the maintainer scripts in debian/. Checked with lintian (no error allowed).
#   scripts/build-deb.sh amd64     the x86-64 build of this machine
#   scripts/build-deb.sh armhf     the shipped armv7 binary (scripts/build-release.sh: zigbuild,
#                                  glibc 2.28 floor, so Debian 10 to 13 images take it)
# Prints the package's path as its last line. Needs root the first time (installs cargo-deb,
# dpkg-dev and lintian).
set -euo pipefail
cd "$(dirname "$0")/.."
ARCH=${1:?usage: scripts/build-deb.sh amd64|armhf}
scripts/install-deps.sh deb >/dev/null
# cargo-deb's own lock file pins what it was released with.
command -v cargo-deb >/dev/null || cargo install --locked cargo-deb >&2
OUT=$PWD/target/debian
mkdir -p "$OUT"

# The manual page, made by help2man from the native build's --help (the text is the same on
# every architecture), with each command's own --help as a section of its own, so `man
# artifact-gate` holds the whole reference. Cargo.toml's assets take it from target/man.
man_page() {
    local bin=$1 extra cmd
    mkdir -p target/man
    extra=$(mktemp)
    {
        echo "[COMMANDS]"
        for cmd in $("$bin" --help | awk '/^Commands:/ {f = 1; next} /^$/ {f = 0} f && $1 != "help" {print $1}'); do
            echo ".SS \"artifact-gate $cmd\""
            echo ".nf"
            # Wrapped to fit man's indent on 80 columns; then the roff escapes: backslashes,
            # and a leading dot or quote that would read as a request.
            "$bin" "$cmd" --help | awk -v width=72 -f scripts/lib/help-wrap.awk |
                sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/"
            echo ".fi"
        done
        echo "[FILES]"
        echo ".TP"; echo "/etc/artifact-gate/artifact-gate.toml"; echo "The service's settings (a conffile)."
        echo ".TP"; echo "/etc/mender/mender.conf"; echo "Verify keys, A/B partitions and server, read as Mender reads them."
        echo ".TP"; echo "/var/lib/mender"; echo "Device type, provides and the state of an install in progress."
        echo ".TP"; echo "/run/artifact-gate/api.sock"; echo "The daemon's local API (docs/api.md)."
        echo "[SEE ALSO]"
        echo "/usr/share/doc/artifact-gate/README.md and /usr/share/doc/artifact-gate/docs/."
    } >"$extra"
    help2man --no-info --section 1 --name "verify and install signed Mender Artifacts on the device" \
        --include "$extra" "$bin" | gzip -9n >target/man/artifact-gate.1.gz
    rm -f "$extra"
}
cargo build --release --locked >&2
man_page target/release/artifact-gate

case $ARCH in
    amd64)
        # $auto: dpkg-shlibdeps works out Depends from the binary and this machine's packages.
        deb=$(cargo deb --locked --output "$OUT" | tail -n 1)
        ;;
    armhf)
        TARGET=armv7-unknown-linux-gnueabihf
        BIN=$(scripts/build-release.sh | tail -n 1)
        # dpkg-shlibdeps cannot see armhf packages on this machine (no foreign architecture
        # is added), so Depends is worked out from the binary here: every library it links
        # must be one of glibc's or libgcc's, and libc6 must be at least the newest GLIBC_
        # symbol version it asks for.
        needed=$(arm-linux-gnueabihf-readelf -d "$BIN" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
        glibc=$(arm-linux-gnueabihf-objdump -T "$BIN" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -n 1)
        depends="libc6 (>= $glibc)"
        for lib in $needed; do
            case $lib in
                libc.so.6 | libm.so.6 | libdl.so.2 | libpthread.so.0 | librt.so.1 | ld-linux-armhf.so.3) ;;
                # Debian 10 calls it libgcc1, 11 and later libgcc-s1.
                libgcc_s.so.1) depends+=", libgcc-s1 | libgcc1" ;;
                *) echo "the armv7 binary links $lib, which this script has no package for" >&2; exit 1 ;;
            esac
        done
        echo "armhf Depends from the binary ($(echo $needed)): $depends" >&2
        # cargo-deb takes the zigbuild output where cargo puts a --target build.
        [[ $BIN == $PWD/target/$TARGET/release/artifact-gate ]] ||
            { echo "unexpected release binary path $BIN" >&2; exit 1; }
        deb=$(cargo deb --locked --no-build --no-strip --target "$TARGET" --output "$OUT" | tail -n 1)
        # cargo-deb's $auto reads the cross toolchain's libc (libc6:armhf >= 2.36, the build
        # machine's); the package carries the Depends worked out above instead.
        work=$(mktemp -d)
        trap 'rm -rf "$work"' EXIT
        dpkg-deb -R "$deb" "$work/pkg"
        sed -i "s/^Depends: .*/Depends: $depends/" "$work/pkg/DEBIAN/control"
        grep -qxF "Depends: $depends" "$work/pkg/DEBIAN/control" ||
            { echo "no Depends line to replace in $deb" >&2; exit 1; }
        dpkg-deb --root-owner-group -Zxz -b "$work/pkg" "$deb" >&2
        ;;
    *) echo "unknown architecture $ARCH (amd64, armhf)" >&2; exit 2 ;;
esac
dpkg-deb -I "$deb" >&2
# Every lintian error fails the build; the warning it prints is explained in
# docs/packaging.md (initial-upload-closes-no-bugs).
lintian --fail-on error "$deb" >&2
echo "$deb"
