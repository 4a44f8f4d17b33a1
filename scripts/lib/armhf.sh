# Shared by the ARM scripts (issue #5); source it, do not run it.
#
# armhf_apt DIR: sets up a private apt instance for Debian bookworm armhf in DIR (its own lists,
#   cache and an empty dpkg status) and fills the array APT_ARM with the options that select it:
#   `apt-get "${APT_ARM[@]}" download …`. The machine's dpkg architectures stay untouched;
#   `dpkg --add-architecture armhf` broke `apt-get update` on the CI machines (toolchain §5).
# binfmt_arm_register / binfmt_arm_unregister: a binfmt_misc entry that hands every 32-bit ARM
#   executable to qemu-arm-static. 'F' opens the interpreter at registration, so it also works
#   inside chroots and other mount namespaces. The newest entry is matched first, so this one
#   wins over a system-wide qemu-arm entry without 'F'. Needs root.

armhf_apt() {
    local dir=$1 mirror
    mirror=$(grep -m1 -h -oP '^URIs: \K\S+' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    mirror=${mirror:-http://deb.debian.org/debian}
    mkdir -p "$dir"/lists/partial "$dir"/cache/archives/partial
    echo "deb [arch=armhf] $mirror bookworm main" >"$dir/sources.list"
    APT_ARM=(-o APT::Architecture=armhf -o APT::Architectures::=armhf
        -o Dir::State::Lists="$dir/lists" -o Dir::Etc::SourceList="$dir/sources.list"
        -o Dir::Etc::SourceParts=/dev/null -o Dir::Cache="$dir/cache"
        -o Dir::State::status=/dev/null -o Debug::NoLocking=1 -o Acquire::Retries=3
        -o APT::Sandbox::User=root)
    apt-get "${APT_ARM[@]}" -q update >/dev/null
}

BINFMT_DIR=/proc/sys/fs/binfmt_misc
# Per process: two scripts running side by side each keep their own entry.
BINFMT_ENTRY=artifact-gate-arm-$$
BINFMT_MOUNTED=false

binfmt_arm_register() {
    if [[ ! -e $BINFMT_DIR/register ]]; then
        mount -t binfmt_misc binfmt_misc "$BINFMT_DIR"
        BINFMT_MOUNTED=true
    fi
    [[ -e $BINFMT_DIR/$BINFMT_ENTRY ]] && echo -1 >"$BINFMT_DIR/$BINFMT_ENTRY"
    # ELF, 32-bit, little-endian, executable or shared object, machine 40 (ARM).
    printf '%s' ":$BINFMT_ENTRY:M::"'\x7f\x45\x4c\x46\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x28\x00'":"'\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff'":/usr/bin/qemu-arm-static:F" \
        >"$BINFMT_DIR/register"
}

binfmt_arm_unregister() {
    if [[ -e $BINFMT_DIR/$BINFMT_ENTRY ]]; then echo -1 >"$BINFMT_DIR/$BINFMT_ENTRY"; fi
    if $BINFMT_MOUNTED; then umount "$BINFMT_DIR" || true; fi
    return 0
}
