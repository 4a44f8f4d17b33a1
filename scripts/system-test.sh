#!/usr/bin/env bash
# Full-system test on emulated ARM (issue #5): qemu-system-arm -M virt boots Debian's armmp
# kernel with a Debian bookworm armhf userland running systemd and our armhf package (installed
# with apt, issue #17), from a virtio disk laid out like a Mender A/B device:
#
#   4 MiB, 8 MiB   the two copies of the U-Boot environment (redundant, /etc/fw_env.config)
#   /dev/vda1      rootfs A          /dev/vda2   rootfs B
#   /dev/vda3      data, mounted at /var/lib/mender (shared by both slots: the install record)
#
# The bootloader is played by this script, from the same environment variables U-Boot would
# use (see README, "Full-system test"): before each boot it runs Mender's boot logic on the
# disk image's environment (count a boot of an update on trial; after bootlimit, switch back to
# the other slot and clear upgrade_available), then boots the kernel with root=/dev/vda<part>.
# A busybox initramfs loads the virtio and ext4 modules and switches to that root.
#
# Scenario 1, an update that works: slot A installs release-2 through the daemon's socket; the
# daemon reboots; the bootloader starts slot B; the daemon verifies the boot and commits.
# Scenario 2, an update that fails its boot check: slot B installs release-3 (whose
# ArtifactCommit_Enter script, its health check, fails); the bootloader starts slot A; the
# daemon's commit fails, it rolls back and reboots; the bootloader starts slot B again, and
# release-2 is still the installed artifact with nothing pending.
# Scenario 3, an update from a channel (issue #14): the operator turns on `[channel]` on slot
# B; its daemon polls nginx on the host (the guest reaches the host's loopback as 10.0.2.2
# through QEMU's user-mode network, nothing else), reads release-4's signed head, downloads and
# installs it, reboots into slot A and commits.
# Scenario 4, a deployment from a Mender server (issue #15): the operator points slot A at the
# Mender server stand-in (tests/standin/mender_server.py behind nginx on the host); its daemon
# authenticates, sends its inventory, takes the deployment of release-5, installs it into
# slot B, reports `rebooting` and reboots; in slot B the boot check commits and the agent
# reports `success`.
#
#   scripts/system-test.sh ARMHF_DEB     the package from `scripts/build-deb.sh armhf` (issue #17),
#                                        installed in the guest with apt as a user would (needs
#                                        root; installs its tools with scripts/install-deps.sh arm)
# Set SYSTEST_KEEP=1 to keep the work directory (consoles in boot-*.log). For development only,
# SYSTEST_BASE=DIR reuses a debootstrap tree made by an earlier run (`$W/rootfs.base` of a kept
# one) instead of making one; CI always makes its own.
set -euo pipefail
cd "$(dirname "$0")/.."
DEB=$(realpath "${1:?usage: scripts/system-test.sh ARTIFACT_GATE_ARMHF_DEB}")
scripts/install-deps.sh arm >/dev/null
source scripts/lib/armhf.sh
source scripts/lib/nginx.sh
W=$(mktemp -d /tmp/systest.XXXXXX)
cleanup() {
    binfmt_arm_unregister
    if [[ ${SYSTEST_KEEP:-} == 1 ]]; then echo "kept $W"; else rm -rf "$W"; fi
}
trap cleanup EXIT
started=$SECONDS
step() { printf '== [%4ds] %s\n' $((SECONDS - started)) "$*"; }
fail() {
    echo "SYSTEM TEST FAILED: $*" >&2
    exit 1
}

ROOTFS_MB=200
DATA_MB=160
PART_START_MB=16
ENV_A=0x400000
ENV_B=0x800000
ENV_SIZE=0x4000

# --- Kernel and busybox (armhf), from a private apt instance --------------------------------
step "armhf kernel and busybox"
armhf_apt "$W/apt"
mkdir -p "$W/debs"
KPKG=$(apt-cache "${APT_ARM[@]}" depends linux-image-armmp | awk '/Depends: linux-image/{print $2; exit}')
(cd "$W/debs" && apt-get "${APT_ARM[@]}" -q download "$KPKG" busybox-static >/dev/null 2>&1)
dpkg-deb -x "$W"/debs/linux-image-*.deb "$W/kernel"
dpkg-deb -x "$W"/debs/busybox-static_*.deb "$W/busybox"
KVER=$(ls "$W/kernel/lib/modules")
KERNEL=$W/kernel/boot/vmlinuz-$KVER
depmod -b "$W/kernel" "$KVER"

# --- Initramfs: load virtio-mmio, virtio-blk and ext4, mount root=, switch to its systemd -----
step "initramfs"
I=$W/initramfs
mkdir -p "$I"/{bin,dev,proc,sys,newroot,modules}
cp "$W/busybox/bin/busybox" "$I/bin/"
for applet in sh mount umount insmod sleep cat switch_root; do ln -s busybox "$I/bin/$applet"; done
# The modules in dependency order (modules.dep), then crc32c, which ext4 and jbd2 request for
# metadata checksums.
mods=()
add_module() {
    local m=$1 dep
    for dep in $(awk -F': ' -v m="$m" '$1 == m { print $2 }' "$W/kernel/lib/modules/$KVER/modules.dep"); do
        add_module "$dep"
    done
    [[ " ${mods[*]} " == *" $m "* ]] || mods+=("$m")
}
for m in kernel/crypto/crc32c_generic.ko kernel/drivers/virtio/virtio_mmio.ko \
    kernel/drivers/block/virtio_blk.ko kernel/fs/ext4/ext4.ko kernel/drivers/net/virtio_net.ko; do
    add_module "$m"
done
for m in "${mods[@]}"; do
    cp "$W/kernel/lib/modules/$KVER/$m" "$I/modules/"
    basename "$m" >>"$I/modules/order"
done
cat >"$I/init" <<'EOF'
#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules/order); do insmod "/modules/$m"; done
root=
for arg in $(cat /proc/cmdline); do
    case $arg in root=*) root=${arg#root=} ;; esac
done
n=0
while [ ! -b "$root" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
mount -t ext4 -o rw "$root" /newroot || { echo "INITRAMFS: cannot mount $root"; exec sh; }
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
EOF
chmod +x "$I/init"
(cd "$I" && find . | cpio -o -H newc --quiet | gzip -1 >"$W/initramfs.gz")

# --- Debian armhf userland with systemd ---------------------------------------------------------
step "debootstrap (armhf, systemd)"
binfmt_arm_register
R=$W/rootfs
if [[ -n ${SYSTEST_BASE:-} ]]; then
    cp -a "$SYSTEST_BASE" "$R"
else
    mirror=$(grep -m1 -h -oP '^URIs: \K\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    debootstrap --arch=armhf --foreign --variant=minbase \
        --include=systemd,systemd-sysv,udev,libubootenv-tool \
        bookworm "$R" "${mirror:-http://deb.debian.org/debian}" >"$W/debootstrap.log" 2>&1 ||
        { tail -20 "$W/debootstrap.log"; fail "debootstrap (first stage)"; }
    chroot "$R" /debootstrap/debootstrap --second-stage >>"$W/debootstrap.log" 2>&1 ||
        { tail -20 "$W/debootstrap.log"; fail "debootstrap (second stage)"; }
    rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/var/lib/apt/lists/* \
        "$R"/usr/share/{doc,man,info,locale}/*
    if [[ ${SYSTEST_KEEP:-} == 1 ]]; then cp -a "$R" "$W/rootfs.base"; fi
fi

step "our package (apt install ./artifact-gate_…_armhf.deb) and configuration"
cp "$DEB" "$R/tmp/"
chroot "$R" apt-get install -y --no-install-recommends "/tmp/$(basename "$DEB")" >"$W/apt.log" 2>&1 ||
    { tail -20 "$W/apt.log"; fail "apt install of $(basename "$DEB")"; }
rm -f "$R/tmp/$(basename "$DEB")"
# The package put the binary and the units in place and enabled both units, the Debian way.
for f in usr/bin/artifact-gate usr/lib/systemd/system/artifact-gate.service \
    etc/systemd/system/sockets.target.wants/artifact-gate.socket \
    etc/systemd/system/multi-user.target.wants/artifact-gate.service; do
    [[ -e $R/$f || -L $R/$f ]] || fail "the package left no /$f"
done
echo "   ok: the package installed the binary and enabled the socket and the service"
mkdir -p "$R/etc/artifact-gate" "$R/etc/mender" "$R/var/lib/mender"
# The daemon reboots by itself; the reboot waits (at most a minute) until the test driver has
# reported what it saw in this boot, so a fast reboot cannot cut its report short.
cat >"$R/etc/artifact-gate/artifact-gate.toml" <<'EOF'
[update]
reboot_after_install = true
reboot_command = ["/usr/local/bin/agtest-reboot"]
EOF
cat >"$R/usr/local/bin/agtest-reboot" <<'EOF'
#!/bin/sh
n=0
while [ ! -e /run/agtest.reported ] && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
exec systemctl reboot
EOF
chmod 0755 "$R/usr/local/bin/agtest-reboot"
# mender-artifact takes an RSA key in PKCS#1 form.
openssl genrsa -traditional -out "$W/signing.key" 3072 2>/dev/null
openssl pkey -in "$W/signing.key" -pubout -out "$R/etc/mender/artifact-verify-key.pem"
cat >"$R/etc/mender/mender.conf" <<'EOF'
{
  "ArtifactVerifyKey": "/etc/mender/artifact-verify-key.pem",
  "RootfsPartA": "/dev/vda1",
  "RootfsPartB": "/dev/vda2"
}
EOF
mkdir -p "$R/usr/share/mender/identity"
printf '#!/bin/sh\necho mac=52:54:00:12:34:56\n' >"$R/usr/share/mender/identity/mender-device-identity"
chmod 0755 "$R/usr/share/mender/identity/mender-device-identity"
printf '/dev/vda %s %s\n/dev/vda %s %s\n' $ENV_A $ENV_SIZE $ENV_B $ENV_SIZE >"$R/etc/fw_env.config"
printf '/dev/vda3 /var/lib/mender ext4 defaults 0 0\n' >"$R/etc/fstab"
echo artifact-gate-test >"$R/etc/hostname"
# QEMU's user-mode network, when a boot has one: the guest is 10.0.2.15, the host 10.0.2.2.
mkdir -p "$R/etc/systemd/network"
printf '[Match]\nName=e*\n\n[Network]\nAddress=10.0.2.15/24\nGateway=10.0.2.2\n' \
    >"$R/etc/systemd/network/10-qemu.network"
# The journal goes to the serial console too, so the harness sees the daemon's log lines.
mkdir -p "$R/etc/systemd/journald.conf.d"
printf '[Journal]\nForwardToConsole=yes\nMaxLevelConsole=info\nTTYPath=/dev/ttyAMA0\n' \
    >"$R/etc/systemd/journald.conf.d/console.conf"
ln -sf /dev/null "$R/etc/systemd/system/serial-getty@ttyAMA0.service"
ln -sf /dev/null "$R/etc/systemd/system/getty@tty1.service"

# The test driver inside the guest: what to do in this boot comes from the kernel command line
# (agtest.step=…); everything it reports is an "AGTEST" line on the console.
cat >"$R/usr/local/bin/agtest" <<'EOF'
#!/bin/sh
say() { echo "AGTEST $*" >/dev/ttyAMA0; }
step=
for arg in $(cat /proc/cmdline); do
    case $arg in agtest.step=*) step=${arg#agtest.step=} ;; esac
done
say "boot root=$(findmnt -no SOURCE /) image=$(cat /etc/agtest-image) step=$step"
say "service $(systemctl is-active artifact-gate.service) $(systemctl show -P StatusText artifact-gate.service)"
say "env $(fw_printenv mender_boot_part upgrade_available bootcount | tr '\n' ' ')"
say "status $(artifact-gate status --json | tr -d '\n')"
case $step in
    install:*)
        file=/var/lib/mender/incoming/${step#install:}
        # Through the daemon's socket (the CLI is its client while the socket exists).
        artifact-gate install "$file" >/tmp/install.out 2>&1
        say "install exit=$? $(tail -n 3 /tmp/install.out | tr '\n' ' ')"
        ;;
    wait) ;; # the daemon acts on its own in this boot
    check) say "done"; systemctl poweroff --no-block ;;
    settle)
        # The agent reports the deployment kept across the reboot, then clears it.
        n=0
        while [ -e /var/lib/mender/artifact-gate/deployment.json ] && [ $n -lt 1200 ]; do
            sleep 0.1; n=$((n + 1))
        done
        [ -e /var/lib/mender/artifact-gate/deployment.json ] || say "deployment settled"
        say "done"; systemctl poweroff --no-block ;;
esac
touch /run/agtest.reported
EOF
chmod 0755 "$R/usr/local/bin/agtest"
cat >"$R/etc/systemd/system/agtest.service" <<'EOF'
[Unit]
Description=artifact-gate full-system test driver
After=artifact-gate.service
Wants=artifact-gate.service

[Service]
Type=oneshot
ExecStart=/usr/local/bin/agtest
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
EOF
systemctl --root="$R" enable agtest.service systemd-networkd.service >/dev/null 2>&1
binfmt_arm_unregister

# --- Three slot images, two signed artifacts, the disk --------------------------------------
step "slot images and artifacts"
make_image() { # NAME OUTPUT
    echo "$1" >"$R/etc/agtest-image"
    printf 'artifact_name=%s\n' "$1" >"$R/etc/mender/artifact_info"
    mkfs.ext4 -q -F -L "$1" -d "$R" "$2" "${ROOTFS_MB}M" >/dev/null
}
make_image release-1 "$W/release-1.ext4"
make_image release-2 "$W/release-2.ext4"
make_image release-3 "$W/release-3.ext4"
# The channel's server: nginx on the host's loopback with the self-signed certificate a bare
# `openssl req -x509` makes (CA:TRUE), for the address the guest sees the host at.
N=$W/nginx
mkdir -p "$N/www/beaglebone"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$N/srv.key" \
    -out "$N/srv.pem" -subj /CN=10.0.2.2 -days 2 -addext subjectAltName=IP:10.0.2.2 2>/dev/null
NGINX_PORT=$(free_port)
CHANNEL_URL="https://10.0.2.2:$NGINX_PORT/{device_type}/stable.mender"
# The channel's settings, as the operator writes them; release-4 ships with them already.
C=$W/channel-config
mkdir -p "$C"
cat >"$C/artifact-gate.toml" <<EOF
[update]
reboot_after_install = true
reboot_command = ["/usr/local/bin/agtest-reboot"]

[channel]
url = "$CHANNEL_URL"
poll_seconds = 10
EOF
cat >"$C/mender.conf" <<'EOF'
{
  "ArtifactVerifyKey": "/etc/mender/artifact-verify-key.pem",
  "ServerCertificate": "/etc/mender/server.crt",
  "RootfsPartA": "/dev/vda1",
  "RootfsPartB": "/dev/vda2"
}
EOF
cp "$C/artifact-gate.toml" "$R/etc/artifact-gate/artifact-gate.toml"
cp "$C/mender.conf" "$R/etc/mender/mender.conf"
cp "$N/srv.pem" "$R/etc/mender/server.crt"
make_image release-4 "$W/release-4.ext4"
# The Mender server's settings, as the operator writes them; release-5 ships with them.
API_PORT=$(free_port)
S=$W/server-config
mkdir -p "$S"
cat >"$S/artifact-gate.toml" <<'EOF'
[update]
reboot_after_install = true
reboot_command = ["/usr/local/bin/agtest-reboot"]
EOF
cat >"$S/mender.conf" <<EOF
{
  "ArtifactVerifyKey": "/etc/mender/artifact-verify-key.pem",
  "ServerURL": "https://10.0.2.2:$NGINX_PORT",
  "ServerCertificate": "/etc/mender/server.crt",
  "UpdatePollIntervalSeconds": 5,
  "InventoryPollIntervalSeconds": 300,
  "RetryPollIntervalSeconds": 5,
  "RootfsPartA": "/dev/vda1",
  "RootfsPartB": "/dev/vda2"
}
EOF
cp "$S/artifact-gate.toml" "$R/etc/artifact-gate/artifact-gate.toml"
cp "$S/mender.conf" "$R/etc/mender/mender.conf"
make_image release-5 "$W/release-5.ext4"
mkdir -p "$W/data/incoming"
# A P-256 device key made ahead: an RSA 3072 key made on an emulated CPU would cost minutes.
openssl ecparam -name prime256v1 -genkey -noout -out "$W/data/mender-agent.pem"
chmod 0600 "$W/data/mender-agent.pem"
echo "device_type=beaglebone" >"$W/data/device_type"
printf '#!/bin/sh\necho "health check: the service this release needs is missing" >&2\nexit 1\n' \
    >"$W/ArtifactCommit_Enter_50_health"
write_artifact() { # NAME [mender-artifact options…]
    local name=$1
    shift
    mender-artifact write rootfs-image -n "$name" -t beaglebone -f "$W/$name.ext4" "$@" \
        -k "$W/signing.key" -o "$W/data/incoming/$name.mender" >"$W/mender-artifact.log" 2>&1 ||
        { tail -5 "$W/mender-artifact.log"; fail "mender-artifact write $name"; }
}
write_artifact release-2
write_artifact release-3 -s "$W/ArtifactCommit_Enter_50_health"
write_artifact release-4
write_artifact release-5
mv "$W/data/incoming/release-4.mender" "$N/www/beaglebone/stable.mender"
mkdir -p "$N/www/artifacts"
mv "$W/data/incoming/release-5.mender" "$N/www/artifacts/release-5.mender"
mkfs.ext4 -q -F -L data -d "$W/data" "$W/data.ext4" "${DATA_MB}M" >/dev/null

DISK=$W/disk.img
truncate -s $((PART_START_MB + 2 * ROOTFS_MB + DATA_MB + 1))M "$DISK"
mib=$((1024 * 1024 / 512))
sfdisk -q "$DISK" <<EOF
label: dos
start=$((PART_START_MB * mib)), size=$((ROOTFS_MB * mib)), type=83
start=$(((PART_START_MB + ROOTFS_MB) * mib)), size=$((ROOTFS_MB * mib)), type=83
start=$(((PART_START_MB + 2 * ROOTFS_MB) * mib)), size=$((DATA_MB * mib)), type=83
EOF
dd if="$W/release-1.ext4" of="$DISK" bs=1M seek=$PART_START_MB conv=notrunc,sparse status=none
dd if="$W/data.ext4" of="$DISK" bs=1M seek=$((PART_START_MB + 2 * ROOTFS_MB)) conv=notrunc,sparse status=none
rm -f "$W"/release-*.ext4 "$W/data.ext4"

# The bootloader's view of the same environment the guest's fw_setenv writes.
FWCONF=$W/fw_env.config
printf '%s %s %s\n%s %s %s\n' "$DISK" $ENV_A $ENV_SIZE "$DISK" $ENV_B $ENV_SIZE >"$FWCONF"
printf 'mender_boot_part=1\nmender_boot_part_hex=1\nupgrade_available=0\nbootcount=0\nbootlimit=1\n' \
    >"$W/env.init"
# A blank area: the defaults (-f) make the first copy, the script (-s) sets the same values.
fw_setenv -c "$FWCONF" -f "$W/env.init" -s "$W/env.init" >/dev/null
var() { fw_printenv -c "$FWCONF" -n "$1" 2>/dev/null; }

# --- The bootloader and the boots -----------------------------------------------------------
BOOTS=0
# Mender's U-Boot logic, run on the disk's environment before each boot.
bootloader() {
    if [[ $(var upgrade_available) == 1 ]]; then
        local count=$(($(var bootcount) + 1))
        fw_setenv -c "$FWCONF" bootcount "$count"
        if ((count > $(var bootlimit))); then
            # altbootcmd: the update had its chance; back to the other slot.
            local back=$((3 - $(var mender_boot_part)))
            printf 'mender_boot_part=%s\nmender_boot_part_hex=%s\nupgrade_available=0\n' \
                "$back" "$back" >"$W/env.alt"
            fw_setenv -c "$FWCONF" -s "$W/env.alt"
        fi
    fi
    var mender_boot_part
}

NIC=(-nic none)
# boot STEP EXPECTED_PART: one boot until the guest powers off or reboots; its console is
# boot-N.log.
boot() {
    local step=$1 expect=$2 part log
    BOOTS=$((BOOTS + 1))
    part=$(bootloader)
    log=$W/boot-$BOOTS.log
    step "boot $BOOTS: slot $part, agtest.step=$step"
    [[ $part == "$expect" ]] || fail "boot $BOOTS: the bootloader chose slot $part, expected $expect"
    timeout 600 qemu-system-arm -M virt -cpu cortex-a15 -smp 2 -m 1024 -nographic -no-reboot \
        "${NIC[@]}" -monitor none -serial stdio \
        -drive "if=none,id=disk,format=raw,file=$DISK" -device virtio-blk-device,drive=disk \
        -kernel "$KERNEL" -initrd "$W/initramfs.gz" \
        -append "console=ttyAMA0 root=/dev/vda$part rootwait panic=-1 quiet agtest.step=$step" \
        </dev/null >"$log" 2>&1 || fail "boot $BOOTS: qemu failed or timed out ($log)"
    grep -a '^AGTEST' "$log" | sed 's/^/   /'
}

# expect BOOT PATTERN WHAT
expect() {
    grep -aqE "$2" "$W/boot-$1.log" || {
        tail -n 60 "$W/boot-$1.log" >&2
        fail "boot $1: $3 (no line matching '$2')"
    }
    echo "   ok: $3"
}

expect_env() { # NAME VALUE
    [[ $(var "$1") == "$2" ]] || fail "after boot $BOOTS: $1=$(var "$1"), expected $2"
}

# Scenario 1: release-2 installs, boots and commits.
boot install:release-2.mender 1
expect 1 '^AGTEST boot root=/dev/vda1 image=release-1' "slot A runs release-1"
expect 1 '^AGTEST service active' "the service reached READY (Type=notify)"
expect 1 '^AGTEST install exit=0' "release-2 installed through the socket"
expect 1 'rebooting into the update' "the daemon rebooted the device"
expect_env mender_boot_part 2
expect_env upgrade_available 1

boot install:release-3.mender 2
expect 2 '^AGTEST boot root=/dev/vda2 image=release-2' "slot B runs release-2"
expect 2 'boot check: .*"artifact_name":"release-2".*"result":"committed"' "the boot check committed release-2"
expect 2 '^AGTEST env mender_boot_part=2 upgrade_available=0' "committed in the boot environment"
expect 2 '^AGTEST status .*"artifact_name": ?"release-2"' "release-2 is the installed artifact"

# Scenario 2: release-3 boots, fails its health check, and the device goes back.
expect 2 '^AGTEST install exit=0' "release-3 installed through the socket"
expect_env mender_boot_part 1
expect_env upgrade_available 1

boot wait 1
expect 3 '^AGTEST boot root=/dev/vda1 image=release-3' "slot A runs release-3"
expect 3 'health check: the service this release needs is missing' "its health check ran and failed"
expect 3 'boot check: .*"artifact_name":"release-3".*"result":"commit failed, rolled back"' "the daemon rolled back"
expect 3 'rebooting back into the previous system' "and rebooted"
expect_env mender_boot_part 2
expect_env upgrade_available 0

boot check 2
expect 4 '^AGTEST boot root=/dev/vda2 image=release-2' "slot B runs release-2 again"
expect 4 'boot check: .*"result":"nothing pending"' "nothing is pending"
expect 4 '^AGTEST status .*"artifact_name": ?"release-2"' "release-2 is still the installed artifact"
expect 4 '^AGTEST done' "the guest finished"

# Scenario 3: the operator turns the channel on in slot B (its configuration files, written
# into the partition); nginx on the host serves release-4.
step "scenario 3: nginx on 127.0.0.1:$NGINX_PORT serves the channel; slot B's channel is on"
# The Mender server stand-in, behind the same nginx (scenario 4).
python3 tests/standin/mender_server.py --port "$API_PORT" --auto-accept >/dev/null 2>"$W/standin.log" &
STANDIN_PID=$!
nginx_start "$N" "$NGINX_PORT" "$API_PORT" || fail "nginx did not start ($N/error.log)"
trap 'nginx_stop "$N"; kill $STANDIN_PID 2>/dev/null; cleanup' EXIT
# configure_slot PART DIR: the operator's settings from DIR (artifact-gate.toml, mender.conf)
# and the server's certificate, written into slot PART's partition as if edited on the device.
configure_slot() {
    local offset=$((PART_START_MB + ($1 - 1) * ROOTFS_MB)) image=$W/slot.ext4
    dd if="$DISK" of="$image" bs=1M skip=$offset count=$ROOTFS_MB status=none
    # `write` refuses to replace a file, hence the `rm`s (a missing file is only a message).
    debugfs -w "$image" >"$W/debugfs.log" 2>&1 <<EOF || fail "debugfs on slot $1"
rm /etc/artifact-gate/artifact-gate.toml
write $2/artifact-gate.toml /etc/artifact-gate/artifact-gate.toml
rm /etc/mender/mender.conf
write $2/mender.conf /etc/mender/mender.conf
rm /etc/mender/server.crt
write $N/srv.pem /etc/mender/server.crt
EOF
    dd if="$image" of="$DISK" bs=1M seek=$offset conv=notrunc status=none
    rm -f "$image"
}
configure_slot 2 "$C"
NIC=(-netdev user,id=net0 -device virtio-net-device,netdev=net0)
boot wait 2
expect 5 '^AGTEST boot root=/dev/vda2 image=release-2' "slot B runs release-2 with the channel on"
expect 5 'channel: release-4 is new for this device' "the daemon read release-4's head from the channel"
expect 5 'rebooting into the update' "installed it and rebooted"
expect_env mender_boot_part 1
expect_env upgrade_available 1
grep -qE '^206 /beaglebone/stable.mender "bytes=0-65535"' "$N/access.log" ||
    fail "nginx's log shows no head request: $(cat "$N/access.log")"
grep -qE '^200 /beaglebone/stable.mender' "$N/access.log" ||
    fail "nginx's log shows no download: $(cat "$N/access.log")"
echo "   ok: nginx served the head (206) and then the artifact (200)"

boot check 1
expect 6 '^AGTEST boot root=/dev/vda1 image=release-4' "slot A runs release-4"
expect 6 'boot check: .*"artifact_name":"release-4".*"result":"committed"' "the boot check committed release-4"
expect 6 '^AGTEST status .*"artifact_name": ?"release-4"' "release-4 is the installed artifact"

# Scenario 4: slot A (release-4) is pointed at the Mender server; release-5 is deployed.
step "scenario 4: the Mender server stand-in on 127.0.0.1:$API_PORT deploys release-5"
configure_slot 1 "$S"
DEPLOYMENT=0b5a4c56-0e2e-4000-8000-00000000000f
printf '{"id":"%s","artifact_name":"release-5","uri":"https://10.0.2.2:%s/artifacts/release-5.mender"}' \
    "$DEPLOYMENT" "$NGINX_PORT" >"$W/deploy.json"
curl -sSf -X POST --data-binary @"$W/deploy.json" "http://127.0.0.1:$API_PORT/_control/deploy" \
    >/dev/null || fail "the stand-in took no deployment ($W/standin.log)"
statuses() {
    curl -sS "http://127.0.0.1:$API_PORT/_control/state" | python3 -c '
import json, sys
print(" ".join(s["status"] for s in json.load(sys.stdin)["statuses"] if s["deployment"] == sys.argv[1]))' "$DEPLOYMENT"
}
boot wait 1
expect 7 '^AGTEST boot root=/dev/vda1 image=release-4' "slot A runs release-4, pointed at the server"
expect 7 'authenticated with https://10.0.2.2' "the agent authenticated with the stand-in"
expect 7 'rebooting into the update' "it installed release-5 and rebooted"
expect_env mender_boot_part 2
expect_env upgrade_available 1
[[ $(statuses) == "downloading installing rebooting" ]] || fail "statuses after boot 7: $(statuses)"
echo "   ok: the stand-in heard downloading, installing, rebooting"

boot settle 2
expect 8 '^AGTEST boot root=/dev/vda2 image=release-5' "slot B runs release-5"
expect 8 'boot check: .*"artifact_name":"release-5".*"result":"committed"' "the boot check committed release-5"
expect 8 '^AGTEST deployment settled' "the agent delivered the deployment's end"
[[ $(statuses) == "downloading installing rebooting success" ]] || fail "statuses after boot 8: $(statuses)"
echo "   ok: the stand-in heard success"
step "full-system test passed: $BOOTS boots, four scenarios"
