#!/bin/busybox sh
# /init for a throw-away QEMU guest: load the embedded open-example, then the
# test objects under /obj, and check trace_pipe. Prints PASS/FAIL markers and
# powers off. Run by the kernel as PID 1 from the initramfs (rdinit=/init).
# Only /bin/busybox exists at first: mount /proc (busybox --install reads
# /proc/self/exe) and create the applet links.
/bin/busybox mkdir -p /proc /sys /dev /tmp
/bin/busybox mount -t proc proc /proc
/bin/busybox --install -s /bin
export PATH=/bin
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
# Without a /dev/console in the initramfs the kernel starts us with no stdio.
exec 0</dev/console 1>/dev/console 2>&1
mount -t debugfs debugfs /sys/kernel/debug
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
T=/sys/kernel/tracing
[ -e $T/trace_pipe ] || T=/sys/kernel/debug/tracing
echo "guest: uname -r $(uname -r); $(cat /proc/version)"
grep -w -e do_sys_open -e do_sys_openat2 -e vfs_fsync_range /proc/kallsyms

fail=0
# start_loader LOG ARGS...: runs the loader in the background, waits for it
# to attach (or exit), leaves its pid in $LPID.
start_loader() {
	log=$1; shift
	/open-example "$@" >$log 2>&1 &
	LPID=$!
	i=0
	while [ $i -lt 100 ]; do
		grep -q '^running' $log && return 0
		kill -0 $LPID 2>/dev/null || return 1
		usleep 100000; i=$((i + 1))
	done
	return 1
}
stop_loader() {
	kill -INT $LPID; wait $LPID; echo "loader exit status $?"
}
capture() { # capture SECONDS FILE: read trace_pipe while opening files
	timeout $1 cat $T/trace_pipe >$2 &
	cpid=$!
	sleep 1
	cat /proc/version /etc/passwd >/dev/null 2>&1; ls / /obj >/dev/null
	wait $cpid
}

echo "=== 1: embedded open-example"
if start_loader /tmp/l1; then
	cat /tmp/l1
	capture 3 /tmp/t1
	stop_loader
	grep 'file /' /tmp/t1 | head -5
	if grep -q 'file /' /tmp/t1; then echo "PASS open-example"; else echo "FAIL open-example"; fail=1; fi
else
	cat /tmp/l1; echo "FAIL open-example (did not start)"; fail=1
fi

echo "=== 2: tp_legacy_map.o + never_fires.o"
if start_loader /tmp/l2 /obj/tp_legacy_map.o /obj/never_fires.o; then
	cat /tmp/l2
	capture 3 /tmp/t2
	stop_loader
	grep -e 'tp openat count' -e never /tmp/t2 | head -5
	if grep -q 'tp openat count [0-9]' /tmp/t2; then echo "PASS tp_legacy_map"; else echo "FAIL tp_legacy_map"; fail=1; fi
	if grep -q 'never' /tmp/t2; then echo "FAIL never_fires fired"; fail=1; else echo "PASS never_fires silent"; fi
else
	cat /tmp/l2; echo "FAIL tp_legacy_map (did not start)"; fail=1
fi

echo "=== 3: verifier_reject.o"
/open-example /obj/verifier_reject.o >/tmp/l3 2>&1
rc=$?
cat /tmp/l3
if [ $rc -eq 1 ] && grep -q 'invalid bpf_context access' /tmp/l3; then echo "PASS verifier_reject"; else echo "FAIL verifier_reject rc=$rc"; fail=1; fi

[ $fail -eq 0 ] && echo "ALL PASS" || echo "SOME FAILED"
poweroff -f
