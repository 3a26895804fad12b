#!/bin/sh
# Boot a Debian arm kernel in QEMU with an initramfs holding busybox, the
# loader and test objects, and run boot/init.sh in it.
#
# usage: run-qemu.sh armhf|arm64 LOADER OBJ_DIR
#   LOADER   the cross-built static open-example
#   OBJ_DIR  BPF objects (compiled for the same arch) copied to /obj
# needs: .fixtures/env.sh (EBPF_CROSS_<ARCH>_IMAGE, _BUSYBOX), cpio, gzip, qemu
set -eu
arch=$1 loader=$2 objdir=$3
here=$(cd "$(dirname "$0")" && pwd)
. "${FIXTURES_ENV:-$here/../../../.fixtures/env.sh}"
case $arch in
armhf)
	image=$EBPF_CROSS_ARMHF_IMAGE busybox=$EBPF_CROSS_ARMHF_BUSYBOX
	set -- qemu-system-arm -M virt -cpu cortex-a15 ;;
arm64)
	image=$EBPF_CROSS_ARM64_IMAGE busybox=$EBPF_CROSS_ARM64_BUSYBOX
	set -- qemu-system-aarch64 -M virt -cpu cortex-a57 ;;
*) echo "usage: $0 armhf|arm64 LOADER OBJ_DIR" >&2; exit 2 ;;
esac

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/bin" "$root/obj" "$root/proc" "$root/sys" "$root/dev" "$root/tmp" "$root/etc"
cp "$busybox" "$root/bin/busybox"
cp "$loader" "$root/open-example"
cp "$objdir"/*.o "$root/obj/"
cp "$here/init.sh" "$root/init"
chmod 755 "$root/init" "$root/open-example" "$root/bin/busybox"
echo "root:x:0:0:root:/:/bin/sh" >"$root/etc/passwd"
# newc is the only cpio format the kernel unpacks. No /dev/console node is
# needed (that would take root for mknod): init.sh reopens its stdio on the
# console once devtmpfs is mounted.
(cd "$root" && find . | cpio -o -H newc --quiet) >"$work/initramfs.cpio"
gzip -9 "$work/initramfs.cpio"

timeout "${QEMU_TIMEOUT:-120}" "$@" -m 512 -smp 1 -display none -monitor none \
	-serial stdio -nic none -no-reboot -kernel "$image" -initrd "$work/initramfs.cpio.gz" \
	-append 'console=ttyAMA0 rdinit=/init panic=-1 quiet' </dev/null
