// A seccomp profile compiled to classic BPF for one architecture: the
// architecture check first (a foreign or x32 system call is refused), then
// one group per system call named by an applicable rule, then the default.

import { AUDIT_ARCH, X32_SYSCALL_BIT } from "../../sys/constants";
import { Errno } from "../../sys/errno";
import { SYSCALL_TABLE } from "../../sys/syscall-table";
import type { Arch } from "../../sys/syscalls";
import { Assembler, BPF, DATA, FilterSizeError, RET, type Insn } from "./bpf";
import type { Action, ArgRule, Profile, SyscallRule } from "./profile";

const SCMP_ARCH: Record<Arch, string> = { x86_64: "SCMP_ARCH_X86_64", aarch64: "SCMP_ARCH_AARCH64" };
const EPERM = Errno.EPERM;

function actionWord(a: Action, errno: number | undefined, fallback: number): number {
  switch (a) {
    case "SCMP_ACT_ALLOW":
      return RET.ALLOW;
    case "SCMP_ACT_ERRNO":
      return (RET.ERRNO | ((errno ?? fallback) & 0xffff)) >>> 0;
    case "SCMP_ACT_KILL":
    case "SCMP_ACT_KILL_THREAD":
      return RET.KILL_THREAD;
    case "SCMP_ACT_KILL_PROCESS":
      return RET.KILL_PROCESS;
    case "SCMP_ACT_TRAP":
      return RET.TRAP;
    case "SCMP_ACT_LOG":
      return RET.LOG;
  }
}

function applies(r: SyscallRule, caps: ReadonlySet<string>, arch: Arch): boolean {
  const inc = r.includes;
  const exc = r.excludes;
  if (inc?.caps && !inc.caps.every((c) => caps.has(c))) return false;
  if (inc?.arches && !inc.arches.some((a) => a === arch || a === SCMP_ARCH[arch] || (arch === "x86_64" && a === "amd64") || (arch === "aarch64" && a === "arm64"))) return false;
  if (exc?.caps && exc.caps.some((c) => caps.has(c))) return false;
  if (exc?.arches && exc.arches.some((a) => a === arch || a === SCMP_ARCH[arch] || (arch === "x86_64" && a === "amd64") || (arch === "aarch64" && a === "arm64"))) return false;
  return true;
}

const hi = (v: bigint) => Number((v >> 32n) & 0xffffffffn);
const lo = (v: bigint) => Number(v & 0xffffffffn);

/** Code that falls through when the condition holds and jumps to `fail` when it does not. */
function condition(asm: Assembler, c: ArgRule, fail: string): void {
  const v = BigInt.asUintN(64, BigInt(c.value));
  const pass = asm.fresh("pass");
  const { argLo, argHi } = DATA;
  switch (c.op) {
    case "SCMP_CMP_EQ":
    case "SCMP_CMP_NE": {
      const [onEq, onNe] = c.op === "SCMP_CMP_EQ" ? [pass, fail] : [fail, pass];
      const checkLo = asm.fresh("lo");
      asm.ld(argHi(c.index));
      asm.jump(BPF.JEQ_K, hi(v), checkLo, onNe);
      asm.label(checkLo);
      asm.ld(argLo(c.index));
      asm.jump(BPF.JEQ_K, lo(v), onEq, onNe);
      break;
    }
    case "SCMP_CMP_MASKED_EQ": {
      // docker's format: value is the mask, valueTwo the value to compare with.
      const want = BigInt.asUintN(64, BigInt(c.valueTwo ?? 0));
      const checkLo = asm.fresh("lo");
      asm.ld(argHi(c.index));
      asm.and(hi(v));
      asm.jump(BPF.JEQ_K, hi(want), checkLo, fail);
      asm.label(checkLo);
      asm.ld(argLo(c.index));
      asm.and(lo(v));
      asm.jump(BPF.JEQ_K, lo(want), pass, fail);
      break;
    }
    default: {
      // Ordered comparisons on 64-bit values: the high words decide unless equal.
      const strict = c.op === "SCMP_CMP_GT" || c.op === "SCMP_CMP_LE";
      const above = c.op === "SCMP_CMP_GT" || c.op === "SCMP_CMP_GE";
      const [yes, no] = above ? [pass, fail] : [fail, pass];
      const checkLo = asm.fresh("lo");
      asm.ld(argHi(c.index));
      asm.jump(BPF.JGT_K, hi(v), yes, 0);
      asm.jump(BPF.JEQ_K, hi(v), checkLo, no);
      asm.label(checkLo);
      asm.ld(argLo(c.index));
      asm.jump(strict ? BPF.JGT_K : BPF.JGE_K, lo(v), yes, no);
    }
  }
  asm.label(pass);
}

export interface CompileOptions {
  arch: Arch;
  /** The container's capabilities ("CAP_X"), for docker's includes/excludes. */
  caps: readonly string[];
}

export function compile(profile: Profile, o: CompileOptions): Insn[] {
  try {
    return build(profile, o, false);
  } catch (e) {
    if (!(e instanceof FilterSizeError)) throw e;
    // A system call with many argument rules: skip its group with JA, which reaches any distance.
    return build(profile, o, true);
  }
}

function build(profile: Profile, o: CompileOptions, far: boolean): Insn[] {
  const caps = new Set(o.caps);
  const archIndex = o.arch === "x86_64" ? 0 : 1;
  const def = actionWord(profile.defaultAction, profile.defaultErrnoRet, EPERM);
  // Rules by system call number, in profile order.
  const byNr = new Map<number, SyscallRule[]>();
  for (const r of profile.syscalls) {
    if (!applies(r, caps, o.arch)) continue;
    for (const name of r.names) {
      const nr = SYSCALL_TABLE[name]?.[archIndex];
      if (nr === undefined || nr < 0) continue;
      const list = byNr.get(nr) ?? [];
      list.push(r);
      byNr.set(nr, list);
    }
  }
  const asm = new Assembler();
  const refuse = (RET.ERRNO | EPERM) >>> 0;
  asm.ld(DATA.arch);
  asm.jump(BPF.JEQ_K, AUDIT_ARCH[o.arch], 1, 0);
  asm.ret(refuse);
  asm.ld(DATA.nr);
  if (o.arch === "x86_64") {
    asm.jump(BPF.JGE_K, X32_SYSCALL_BIT, 0, 1);
    asm.ret(refuse);
  }
  for (const [nr, rules] of byNr) {
    const end = asm.fresh("end");
    if (far) {
      asm.jump(BPF.JEQ_K, nr, 1, 0);
      asm.ja(end);
    } else asm.jump(BPF.JEQ_K, nr, 0, end);
    let decided = false;
    for (const r of rules) {
      const word = actionWord(r.action, r.errnoRet, EPERM);
      if (!r.args?.length) {
        asm.ret(word);
        decided = true;
        break;
      }
      const next = asm.fresh("next");
      for (const c of r.args) condition(asm, c, next);
      asm.ret(word);
      asm.label(next);
    }
    if (!decided) asm.ret(def);
    asm.label(end);
    // Argument checks load other words: the number is back in A for the next group.
    if (rules.some((r) => r.args?.length)) asm.ld(DATA.nr);
  }
  asm.ret(def);
  return asm.assemble();
}
