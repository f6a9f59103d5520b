// Classic BPF as seccomp uses it: instruction encoding, a tiny assembler with
// labels, and an interpreter so compiled filters can be tested without a kernel.

import { BunkerError } from "../../errors";
import { SECCOMP_DATA_LAYOUT as SD, SOCK_FILTER_LAYOUT } from "../../sys/layouts";

export interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

export const BPF = {
  LD_W_ABS: 0x20,
  ALU_AND_K: 0x54,
  JMP_JA: 0x05,
  JEQ_K: 0x15,
  JGT_K: 0x25,
  JGE_K: 0x35,
  JSET_K: 0x45,
  RET_K: 0x06,
} as const;

export const RET = {
  KILL_PROCESS: 0x80000000,
  KILL_THREAD: 0x00000000,
  TRAP: 0x00030000,
  ERRNO: 0x00050000,
  LOG: 0x7ffc0000,
  ALLOW: 0x7fff0000,
} as const;

/** The words a filter loads from struct seccomp_data (an argument is 64 bits, little-endian: low word first). */
export const DATA = { nr: SD.nr, arch: SD.arch, argLo: (i: number) => SD.args + 8 * i, argHi: (i: number) => SD.args + 8 * i + 4 } as const;

type Target = string | number; // a label, or "next" as 0

interface Pending {
  code: number;
  k: number;
  jt?: Target;
  jf?: Target;
  /** JA's target: its 32-bit offset goes in k. */
  to?: string;
}

/** A program the kernel would not take: a conditional jump over 255 instructions, or over 4096 in all. */
export class FilterSizeError extends BunkerError {
  override name = "FilterSizeError";
}

/** Builds a program with symbolic jump targets; `label()` marks the next instruction. */
export class Assembler {
  private items: Pending[] = [];
  private labels = new Map<string, number>();
  private n = 0;

  label(name: string): void {
    if (this.labels.has(name)) throw new Error(`label ${name} defined twice`);
    this.labels.set(name, this.items.length);
  }

  fresh(prefix: string): string {
    return `${prefix}${this.n++}`;
  }

  ld(offset: number): void {
    this.items.push({ code: BPF.LD_W_ABS, k: offset });
  }

  and(k: number): void {
    this.items.push({ code: BPF.ALU_AND_K, k: k >>> 0 });
  }

  /** A conditional jump; 0 means the next instruction. */
  jump(code: number, k: number, jt: Target, jf: Target): void {
    this.items.push({ code, k: k >>> 0, jt, jf });
  }

  /** An unconditional jump, any distance forward. */
  ja(to: string): void {
    this.items.push({ code: BPF.JMP_JA, k: 0, to });
  }

  ret(k: number): void {
    this.items.push({ code: BPF.RET_K, k: k >>> 0 });
  }

  get length(): number {
    return this.items.length;
  }

  private distance(from: number, t: string): number {
    const at = this.labels.get(t);
    if (at === undefined) throw new Error(`unknown label ${t}`);
    const d = at - from - 1;
    if (d < 0) throw new Error(`jump to ${t} goes backwards`);
    return d;
  }

  assemble(): Insn[] {
    const off = (from: number, t: Target | undefined): number => {
      if (t === undefined || t === 0) return 0;
      if (typeof t === "number") return t;
      const d = this.distance(from, t);
      if (d > 255) throw new FilterSizeError(`a conditional jump spans ${d} instructions; classic BPF allows 255`);
      return d;
    };
    const out = this.items.map((it, i) => ({ code: it.code, k: it.to === undefined ? it.k : this.distance(i, it.to), jt: off(i, it.jt), jf: off(i, it.jf) }));
    if (out.length > 4096) throw new FilterSizeError(`the filter has ${out.length} instructions; the kernel takes 4096`);
    return out;
  }
}

/** struct sock_filter[] as bytes. */
export function encode(prog: readonly Insn[]): Uint8Array {
  const F = SOCK_FILTER_LAYOUT;
  const buf = new Uint8Array(prog.length * F.SIZE);
  const dv = new DataView(buf.buffer);
  prog.forEach((p, i) => {
    dv.setUint16(i * F.SIZE + F.code, p.code, true);
    dv.setUint8(i * F.SIZE + F.jt, p.jt);
    dv.setUint8(i * F.SIZE + F.jf, p.jf);
    dv.setUint32(i * F.SIZE + F.k, p.k, true);
  });
  return buf;
}

export interface SeccompData {
  nr: number;
  arch: number;
  args?: readonly bigint[];
}

/** Runs a filter as the kernel would; returns the action word. */
export function run(prog: readonly Insn[], d: SeccompData): number {
  const word = (off: number): number => {
    if (off === DATA.nr) return d.nr >>> 0;
    if (off === DATA.arch) return d.arch >>> 0;
    const i = Math.floor((off - 16) / 8);
    const v = BigInt.asUintN(64, d.args?.[i] ?? 0n);
    return Number((off - 16) % 8 === 0 ? v & 0xffffffffn : v >> 32n);
  };
  let a = 0;
  for (let pc = 0; pc < prog.length; ) {
    const p = prog[pc]!;
    switch (p.code) {
      case BPF.LD_W_ABS:
        a = word(p.k);
        pc++;
        break;
      case BPF.ALU_AND_K:
        a = (a & p.k) >>> 0;
        pc++;
        break;
      case BPF.JMP_JA:
        pc += 1 + p.k;
        break;
      case BPF.JEQ_K:
        pc += 1 + (a === p.k ? p.jt : p.jf);
        break;
      case BPF.JGT_K:
        pc += 1 + (a > p.k ? p.jt : p.jf);
        break;
      case BPF.JGE_K:
        pc += 1 + (a >= p.k ? p.jt : p.jf);
        break;
      case BPF.JSET_K:
        pc += 1 + ((a & p.k) !== 0 ? p.jt : p.jf);
        break;
      case BPF.RET_K:
        return p.k;
      default:
        throw new Error(`unknown BPF instruction ${p.code}`);
    }
  }
  throw new Error("the filter ran off its end");
}
