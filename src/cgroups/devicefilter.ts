// cgroup v2 has no devices controller: the kernel asks an eBPF program
// (BPF_PROG_TYPE_CGROUP_DEVICE) attached to the cgroup instead, for every
// open and mknod of a device node. This builds that program from OCI device
// rules, with the meaning the v1 controller gives them: applied in order on
// top of "deny everything", so the last rule that matches a request decides.

import type { LinuxDeviceCgroup } from "../spec/types";
import { BPF_DEVCG_ACC, BPF_DEVCG_DEV } from "../sys/constants";
import { BPF_CGROUP_DEV_CTX_LAYOUT as CTX, BPF_INSN_SIZE } from "../sys/layouts";

// struct bpf_cgroup_dev_ctx's access_type: the device type in the low 16 bits, the access in the high.
const DEV_TYPE = { b: BPF_DEVCG_DEV.BLOCK, c: BPF_DEVCG_DEV.CHAR } as const;
const ACCESS: Record<string, number> = { m: BPF_DEVCG_ACC.MKNOD, r: BPF_DEVCG_ACC.READ, w: BPF_DEVCG_ACC.WRITE };
const ALL_ACCESS = BPF_DEVCG_ACC.MKNOD | BPF_DEVCG_ACC.READ | BPF_DEVCG_ACC.WRITE;

/** The instruction encodings used (linux/bpf.h: class | op | source). */
export const OP = {
  LDX_W: 0x61, // dst = *(u32 *)(src + off)
  AND32_K: 0x54,
  RSH32_K: 0x74,
  MOV32_K: 0xb4,
  MOV32_X: 0xbc,
  JEQ_K: 0x15, // if dst == imm goto pc + off
  JNE_K: 0x55,
  JSET_K: 0x45, // if dst & imm goto pc + off
  EXIT: 0x95,
};

/** Registers: r1 the context on entry, then type, access, major and minor. */
const R = { ret: 0, ctx: 1, scratch: 1, type: 2, access: 3, major: 4, minor: 5 };

interface Insn {
  code: number;
  dst: number;
  src: number;
  off: number;
  imm: number;
}

const insn = (code: number, dst: number, src: number, off: number, imm: number): Insn => ({ code, dst, src, off, imm });

/** "rwm" as BPF_DEVCG_ACC_* bits; absent means all. */
export function accessBits(access: string | undefined): number {
  if (access === undefined) return ALL_ACCESS;
  let bits = 0;
  for (const ch of access) {
    const b = ACCESS[ch];
    if (b === undefined) throw new Error(`device rule access "${access}": use some of r, w and m`);
    bits |= b;
  }
  return bits;
}

/** A missing (or negative) major or minor matches every number. */
export const isWildcard = (n: number | undefined) => n === undefined || n < 0;

/** Whether a rule is about every access to every device. */
export const coversEverything = (r: LinuxDeviceCgroup) => (r.type ?? "a") === "a" && isWildcard(r.major) && isWildcard(r.minor) && accessBits(r.access) === ALL_ACCESS;

/**
 * The instructions of one rule: each test jumps past the rule when it does
 * not hold; falling through all of them returns the rule's verdict. An allow
 * rule holds when it grants all the access asked for; a deny rule when it
 * takes away any of it.
 */
function ruleBlock(rule: LinuxDeviceCgroup): Insn[] {
  // Each test ends in the jump past the rule, by `skip` instructions.
  const tests: ((skip: number) => Insn[])[] = [];
  const type = rule.type ?? "a";
  if (type !== "a") {
    const t = DEV_TYPE[type];
    if (t === undefined) throw new Error(`device rule type "${type}": use a, c or b`);
    tests.push((skip) => [insn(OP.JNE_K, R.type, 0, skip, t)]);
  }
  const bits = accessBits(rule.access);
  if (rule.allow && bits !== ALL_ACCESS) tests.push((skip) => [insn(OP.JSET_K, R.access, 0, skip, ALL_ACCESS & ~bits)]);
  if (!rule.allow && bits !== ALL_ACCESS) {
    tests.push((skip) => [insn(OP.MOV32_X, R.scratch, R.access, 0, 0), insn(OP.AND32_K, R.scratch, 0, 0, bits), insn(OP.JEQ_K, R.scratch, 0, skip, 0)]);
  }
  if (!isWildcard(rule.major)) tests.push((skip) => [insn(OP.JNE_K, R.major, 0, skip, rule.major!)]);
  if (!isWildcard(rule.minor)) tests.push((skip) => [insn(OP.JNE_K, R.minor, 0, skip, rule.minor!)]);
  const verdict = [insn(OP.MOV32_K, R.ret, 0, 0, rule.allow ? 1 : 0), insn(OP.EXIT, 0, 0, 0, 0)];
  const lengths = tests.map((t) => t(0).length);
  const total = lengths.reduce((a, b) => a + b, 0) + verdict.length;
  const out: Insn[] = [];
  for (const [i, t] of tests.entries()) out.push(...t(total - (out.length + lengths[i]!)));
  return [...out, ...verdict];
}

/** Whether the rules allow every access to every device, so that no program is needed. */
export function allowsEverything(rules: readonly LinuxDeviceCgroup[]): boolean {
  const last = rules.at(-1);
  return last !== undefined && last.allow && coversEverything(last);
}

/** The program's instructions, 8 bytes each (struct bpf_insn). */
export function deviceProgram(rules: readonly LinuxDeviceCgroup[]): Uint8Array {
  const prog: Insn[] = [
    insn(OP.LDX_W, R.type, R.ctx, CTX.accessType, 0),
    insn(OP.AND32_K, R.type, 0, 0, 0xffff),
    insn(OP.LDX_W, R.access, R.ctx, CTX.accessType, 0),
    insn(OP.RSH32_K, R.access, 0, 0, 16),
    insn(OP.LDX_W, R.major, R.ctx, CTX.major, 0),
    insn(OP.LDX_W, R.minor, R.ctx, CTX.minor, 0),
  ];
  let decided = false;
  for (const rule of [...rules].reverse()) {
    const block = ruleBlock(rule);
    prog.push(...block);
    // A rule without tests decides every request: what comes after it could never run, which the verifier refuses.
    decided = block.length === 2;
    if (decided) break;
  }
  // Nothing matched: denied, as the rules start from "deny everything".
  if (!decided) prog.push(insn(OP.MOV32_K, R.ret, 0, 0, 0), insn(OP.EXIT, 0, 0, 0, 0));
  // struct bpf_insn: code, dst_reg:4 and src_reg:4, off, imm.
  const out = new Uint8Array(prog.length * BPF_INSN_SIZE);
  const dv = new DataView(out.buffer);
  prog.forEach((i, n) => {
    dv.setUint8(n * BPF_INSN_SIZE, i.code);
    dv.setUint8(n * BPF_INSN_SIZE + 1, (i.src << 4) | i.dst);
    dv.setInt16(n * BPF_INSN_SIZE + 2, i.off, true);
    dv.setInt32(n * BPF_INSN_SIZE + 4, i.imm, true);
  });
  return out;
}
