/*
 * cargo-ebpf-cross compatibility layer, appended to <bpf/bpf_helpers.h>.
 *
 * Kernel helper headers gained PT_REGS_* per architecture over time: arm in
 * 5.2, s390 in 5.3 (4.x spelled it "s930x"), riscv in 5.16, and from 5.5
 * they live in bpf_tracing.h rather than bpf_helpers.h. The real headers are
 * included before this file; it only fills in what they left undefined, so
 * a header that knows better always wins.
 *
 * Offsets follow the kernel's struct pt_regs for the arch (we compile with
 * -D__KERNEL__ and the target's own clang triple).
 */
#ifndef __EBPF_CROSS_COMPAT_H
#define __EBPF_CROSS_COMPAT_H

#if !defined(PT_REGS_PARM1)

#if defined(__TARGET_ARCH_arm)
/* As the 2019 arm32 patch: uregs[0..4] are r0..r4. IP is r12, not the PC. */
#define PT_REGS_PARM1(x) ((x)->uregs[0])
#define PT_REGS_PARM2(x) ((x)->uregs[1])
#define PT_REGS_PARM3(x) ((x)->uregs[2])
#define PT_REGS_PARM4(x) ((x)->uregs[3])
#define PT_REGS_PARM5(x) ((x)->uregs[4])
#define PT_REGS_RET(x) ((x)->uregs[14])
#define PT_REGS_FP(x) ((x)->uregs[11])
#define PT_REGS_RC(x) ((x)->uregs[0])
#define PT_REGS_SP(x) ((x)->uregs[13])
#define PT_REGS_IP(x) ((x)->uregs[12])
#define EBPF_CROSS_PT_REGS 1

#elif defined(__TARGET_ARCH_arm64)
#define PT_REGS_PARM1(x) ((x)->regs[0])
#define PT_REGS_PARM2(x) ((x)->regs[1])
#define PT_REGS_PARM3(x) ((x)->regs[2])
#define PT_REGS_PARM4(x) ((x)->regs[3])
#define PT_REGS_PARM5(x) ((x)->regs[4])
#define PT_REGS_RET(x) ((x)->regs[30])
#define PT_REGS_FP(x) ((x)->regs[29])
#define PT_REGS_RC(x) ((x)->regs[0])
#define PT_REGS_SP(x) ((x)->sp)
#define PT_REGS_IP(x) ((x)->pc)
#define EBPF_CROSS_PT_REGS 1

#elif defined(__TARGET_ARCH_x86)
/* Kernel field names, because we build with __KERNEL__. */
#define PT_REGS_PARM1(x) ((x)->di)
#define PT_REGS_PARM2(x) ((x)->si)
#define PT_REGS_PARM3(x) ((x)->dx)
#define PT_REGS_PARM4(x) ((x)->cx)
#define PT_REGS_PARM5(x) ((x)->r8)
#define PT_REGS_RET(x) ((x)->sp)
#define PT_REGS_FP(x) ((x)->bp)
#define PT_REGS_RC(x) ((x)->ax)
#define PT_REGS_SP(x) ((x)->sp)
#define PT_REGS_IP(x) ((x)->ip)
#define EBPF_CROSS_PT_REGS 1

#elif defined(__TARGET_ARCH_s390)
#define PT_REGS_PARM1(x) ((x)->gprs[2])
#define PT_REGS_PARM2(x) ((x)->gprs[3])
#define PT_REGS_PARM3(x) ((x)->gprs[4])
#define PT_REGS_PARM4(x) ((x)->gprs[5])
#define PT_REGS_PARM5(x) ((x)->gprs[6])
#define PT_REGS_RET(x) ((x)->gprs[14])
#define PT_REGS_FP(x) ((x)->gprs[11])
#define PT_REGS_RC(x) ((x)->gprs[2])
#define PT_REGS_SP(x) ((x)->gprs[15])
#define PT_REGS_IP(x) ((x)->psw.addr)
#define EBPF_CROSS_PT_REGS 1

#elif defined(__TARGET_ARCH_riscv)
/* The kernel's pt_regs calls the PC epc (user_regs_struct says pc). */
#define PT_REGS_PARM1(x) ((x)->a0)
#define PT_REGS_PARM2(x) ((x)->a1)
#define PT_REGS_PARM3(x) ((x)->a2)
#define PT_REGS_PARM4(x) ((x)->a3)
#define PT_REGS_PARM5(x) ((x)->a4)
#define PT_REGS_RET(x) ((x)->ra)
#define PT_REGS_FP(x) ((x)->s0)
#define PT_REGS_RC(x) ((x)->a0)
#define PT_REGS_SP(x) ((x)->sp)
#define PT_REGS_IP(x) ((x)->epc)
#define EBPF_CROSS_PT_REGS 1

#elif defined(__TARGET_ARCH_mips)
#define PT_REGS_PARM1(x) ((x)->regs[4])
#define PT_REGS_PARM2(x) ((x)->regs[5])
#define PT_REGS_PARM3(x) ((x)->regs[6])
#define PT_REGS_PARM4(x) ((x)->regs[7])
#define PT_REGS_PARM5(x) ((x)->regs[8])
#define PT_REGS_RET(x) ((x)->regs[31])
#define PT_REGS_FP(x) ((x)->regs[30])
#define PT_REGS_RC(x) ((x)->regs[2])
#define PT_REGS_SP(x) ((x)->regs[29])
#define PT_REGS_IP(x) ((x)->cp0_epc)
#define EBPF_CROSS_PT_REGS 1

#elif defined(__TARGET_ARCH_powerpc)
/* r1 is the stack pointer; the return address is in the link register. */
#define PT_REGS_PARM1(x) ((x)->gpr[3])
#define PT_REGS_PARM2(x) ((x)->gpr[4])
#define PT_REGS_PARM3(x) ((x)->gpr[5])
#define PT_REGS_PARM4(x) ((x)->gpr[6])
#define PT_REGS_PARM5(x) ((x)->gpr[7])
#define PT_REGS_RET(x) ((x)->link)
#define PT_REGS_RC(x) ((x)->gpr[3])
#define PT_REGS_SP(x) ((x)->gpr[1])
#define PT_REGS_IP(x) ((x)->nip)
#define EBPF_CROSS_PT_REGS 1

#elif defined(__TARGET_ARCH_loongarch)
#define PT_REGS_PARM1(x) ((x)->regs[4])
#define PT_REGS_PARM2(x) ((x)->regs[5])
#define PT_REGS_PARM3(x) ((x)->regs[6])
#define PT_REGS_PARM4(x) ((x)->regs[7])
#define PT_REGS_PARM5(x) ((x)->regs[8])
#define PT_REGS_RET(x) ((x)->regs[1])
#define PT_REGS_FP(x) ((x)->regs[22])
#define PT_REGS_RC(x) ((x)->regs[4])
#define PT_REGS_SP(x) ((x)->regs[3])
#define PT_REGS_IP(x) ((x)->csr_era)
#define EBPF_CROSS_PT_REGS 1
#endif

#endif /* !PT_REGS_PARM1 */

/* bpf_printk arrived in the helper headers with 5.2-era selftests. */
#if !defined(bpf_printk) && !defined(EBPF_CROSS_NO_PRINTK)
#define bpf_printk(fmt, ...)                                        \
	({                                                          \
		char ____fmt[] = fmt;                               \
		bpf_trace_printk(____fmt, sizeof(____fmt), ##__VA_ARGS__); \
	})
#endif

#endif /* __EBPF_CROSS_COMPAT_H */
