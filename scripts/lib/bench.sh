# Shared by the benchmark scripts; source it after `cd` into the work directory ($W set).

# Measures a command: prints "<seconds> <peak RSS KiB>".
measure() {
    /usr/bin/time -o "$W/time.out" -f '%e %M' "$@" >/dev/null 2>&1 || true
    tail -1 "$W/time.out"
}
# Measures a command's CPU time too: prints "<seconds> <peak RSS KiB> <user s> <system s>".
measure_cpu() {
    /usr/bin/time -o "$W/time.out" -f '%e %M %U %S' "$@" >/dev/null 2>&1 || true
    tail -1 "$W/time.out"
}
# Keeps the faster (by wall time, the first field) of two measure/measure_cpu results.
faster() {
    if [[ -z $1 ]] || awk -v a="${2%% *}" -v b="${1%% *}" 'BEGIN{exit !(a<b)}'; then echo "$2"; else echo "$1"; fi
}

make_image() { # size_mib → rootfs-<size>.img filled with real files
    local size=$1 img=rootfs-$1.img
    [[ -f $img ]] && return
    local src=src-$size
    rm -rf "$src"; mkdir -p "$src"
    # Copy real files until the tree is ~90% of the image.
    local budget=$((size * 1024 * 9 / 10)) used=0
    while read -r kb path; do
        ((used + kb > budget)) && break
        mkdir -p "$src/$(dirname "$path")"
        cp -a "$path" "$src/$path" 2>/dev/null || true
        used=$((used + kb))
    done < <(find /usr/lib /usr/share -xdev -type f -size +4k -printf '%k %p\n' 2>/dev/null | sort -k2)
    mke2fs -q -F -t ext4 -d "$src" "$img" "${size}M" >/dev/null 2>&1
    rm -rf "$src"
}

mib_s() { awk -v b="$1" -v s="$2" 'BEGIN{ if (s<=0) s=0.01; printf "%.0f", b/1048576/s }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b<=0) b=0.01; printf "%.2f", a/b }'; }

make_artifact() { # size compression → art-<size>-<compression>.mender
    local size=$1 comp=$2 art=art-$1-$2.mender
    [[ -f $art ]] && return
    mender-artifact write rootfs-image -n bench-$size -t beaglebone -f rootfs-$size.img \
        -k key.pem --compression "$comp" -o "$art" >/dev/null 2>&1
}

row() { printf '| %s | %s | %s | %s | %s |\n' "$@"; }
