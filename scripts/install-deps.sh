#!/usr/bin/env bash
# Installs what the project's commands need on a Debian 12 machine (run as root, or with sudo).
#   scripts/install-deps.sh          tools for the demo and the tests
#   scripts/install-deps.sh bench    also the benchmark's reference tools
#   scripts/install-deps.sh arm      also the armv7 build, qemu and the full-system test (#5)
#   scripts/install-deps.sh deb      also the Debian package's tools (#17)
set -euo pipefail

want=(
    mender-artifact   # makes and signs real fixtures; the differential oracle
    openssl           # keys, certificates, re-signing variants
    ca-certificates
    gcc libc6-dev     # C parts of liblzma-sys / zstd-sys
    xz-utils zstd
    mender-client     # the real Update Modules (single-file, directory, script) the tests drive
    libubootenv-tool  # fw_setenv/fw_printenv for the A/B boot variables (U-Boot)
    grub-common       # grub-editenv for the A/B boot variables (GRUB)
    python3           # the demo edits a tar to show a tampered artifact
    # Verify keys in tokens (issue #7): a SoftHSM2 token and a software TPM behind tpm2-pkcs11.
    softhsm2 gnutls-bin opensc                 # the token, p11tool and pkcs11-tool to fill it
    swtpm tpm2-tools libtss2-tcti-swtpm0       # the TPM and its direct TCTI
    libtpm2-pkcs11-1 libtpm2-pkcs11-tools      # the PKCS#11 module and tpm2_ptool
    tpm2-abrmd libtss2-tcti-tabrmd0 dbus       # the resource manager tpm2_ptool import needs
    # The daemon (issue #4): a client for its socket, and systemd's tools for the units
    # (systemd-analyze) and for socket activation (systemd-socket-activate).
    curl systemd util-linux
    strace            # fault injection: SIGKILL at chosen system calls (issue #6)
    nginx-light       # the real web server of the HTTPS, resume and channel tests (issue #14)
)
for group in "$@"; do
    case $group in
        # cmake builds zlib-ng for bench-arm.sh's inflate comparison (#17).
        bench) want+=(libdeflate-tools e2fsprogs time cmake) ;;
        arm)
            want+=(
                gcc-arm-linux-gnueabihf libc6-dev-armhf-cross  # the armv7 linker and glibc
                qemu-user-static    # runs the ARM tests (binfmt_misc entry made by the script)
                python3-venv file   # zig for the glibc-2.28 release build comes from PyPI
                # The full-system test: the emulated board, a Debian armhf userland, the disk.
                qemu-system-arm debootstrap cpio kmod fdisk e2fsprogs
            )
            ;;
        # The Debian package (#17): dpkg-shlibdeps for its Depends, lintian to check it,
        # help2man for its manual page, and a bookworm chroot to install it into.
        deb) want+=(dpkg-dev lintian help2man debootstrap) ;;
        *) echo "unknown group $group (bench, arm, deb)" >&2; exit 2 ;;
    esac
done

SUDO=""
if [[ "$(id -u)" != 0 ]]; then SUDO="sudo"; fi

missing=()
for pkg in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    export DEBIAN_FRONTEND=noninteractive
    # A mirror caught mid-sync fails one update now and then; try again before giving up.
    $SUDO apt-get update -o Acquire::Retries=3 || $SUDO apt-get update -o Acquire::Retries=3
    # nginx's package starts the service on port 80 unless policy-rc.d says no; the tests
    # start their own nginx, so nothing is started here.
    made_policy=""
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
        $SUDO chmod 755 /usr/sbin/policy-rc.d
        made_policy=1
    fi
    $SUDO apt-get install -y --no-install-recommends -o Acquire::Retries=3 "${missing[@]}"
    if [[ -n "$made_policy" ]]; then $SUDO rm -f /usr/sbin/policy-rc.d; fi
fi

if ! command -v cargo >/dev/null; then
    echo "cargo not found: install the Rust toolchain (rustup) first" >&2
    exit 1
fi
