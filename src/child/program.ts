// The child program: a flat list of raw system calls that native/child.c
// walks between clone and execve. Every step carries a human description;
// when the child reports (step index, errno) the parent turns it into
// "bunker: <description>: <reason>".

import { ptr } from "bun:ffi";
import { Arena } from "../sys/mem";
import { hostArch, syscallName, syscallNumber, type Arch, type SyscallName } from "../sys/syscalls";
import { FLAG, HEADER, HEADER_WORDS, NSLOTS, OP, STEP, STEP_WORDS } from "../../native/layout";

// The layout is native/layout.ts's, which native/child.c's header is generated from.
export { HEADER_WORDS, NSLOTS, SLOT_BASE, STEP_WORDS } from "../../native/layout";
export const F_CONTINUE = FLAG.CONTINUE;
export const F_EXPECT = FLAG.EXPECT;
export const F_SAVE = FLAG.SAVE;
export const F_PROBE = FLAG.PROBE;

/** A place in the child where one step's result (a file descriptor) is kept for later steps. */
export interface Slot {
  readonly slot: number;
}

export type Arg = number | bigint | Slot;

export interface StepOptions {
  /** errno values that count as success (EEXIST for mkdir...). At most four. */
  ignore?: readonly number[];
  /** On failure, remember the error and go on (execve along PATH). */
  continueOnFail?: boolean;
  /** One of consecutive alternatives: the first success ends the group; all failing fails it (see FLAG.PROBE). */
  probe?: boolean;
  /** Keep the result for later steps. */
  save?: Slot;
  /** The result must be exactly `value`, or the step fails with `errno`. */
  expect?: { value: number; errno: number };
  /** Marks an execve attempt, so a failure maps to exit status 126 or 127. */
  exec?: { command: string; searched: boolean };
}

export type Call = SyscallName | "fork" | "init";

export interface Step {
  readonly call: Call;
  readonly args: readonly Arg[];
  readonly desc: string;
  readonly opts: StepOptions;
}

export interface Encoded {
  /** Address of the program header, the argument to the clone entry point. */
  addr: number;
  words: BigInt64Array;
}

function isSlot(a: Arg): a is Slot {
  return typeof a === "object";
}

export class ChildProgram {
  readonly arena = new Arena();
  readonly steps: Step[] = [];
  private slots = 0;
  private keep: unknown[] = [];

  newSlot(): Slot {
    if (this.slots >= NSLOTS) throw new Error(`child program needs more than ${NSLOTS} slots`);
    return { slot: this.slots++ };
  }

  /** Appends one system call. Pointer arguments are arena addresses. */
  call(desc: string, call: Call, args: readonly Arg[], opts: StepOptions = {}): this {
    if (args.length > 6) throw new Error(`${call}: more than six arguments`);
    if ((opts.ignore?.length ?? 0) > 4) throw new Error(`${desc}: more than four ignored errno values`);
    this.steps.push({ call, args, desc, opts });
    return this;
  }

  str(s: string): number {
    return this.arena.cstr(s);
  }

  /** The top of a stack for a process that OP_FORK starts (kept alive with the program). */
  forkStack(size = 128 * 1024): number {
    const stack = new Uint8Array(size);
    this.retain(stack);
    const top = ptr(stack) + size - 64;
    return top - (top % 16);
  }

  /** Keeps an object alive as long as the program (a buffer a step points into). */
  retain(o: unknown): void {
    this.keep.push(o);
  }

  describe(index: number): string {
    return this.steps[index]?.desc ?? "start the container process";
  }

  /** Lays the program out in memory for native/child.c. */
  encode(env: { sys: number; errnoLocation: number; errfd: number; clone?: number; arch?: Arch }): Encoded {
    const arch = env.arch ?? hostArch();
    const steps = new BigInt64Array(Math.max(1, this.steps.length) * STEP_WORDS);
    this.steps.forEach((s, i) => {
      const o = i * STEP_WORDS;
      steps[o + STEP.nr] = BigInt(s.call === "fork" ? OP.FORK : s.call === "init" ? OP.INIT : syscallNumber(s.call, arch));
      let slotargs = 0n;
      s.args.forEach((a, k) => {
        if (isSlot(a)) slotargs |= BigInt(a.slot + 1) << BigInt(8 * k);
        else steps[o + STEP.arg + k] = BigInt.asIntN(64, BigInt(a));
      });
      let flags = 0;
      if (s.opts.continueOnFail) flags |= FLAG.CONTINUE;
      if (s.opts.probe) flags |= FLAG.PROBE;
      if (s.opts.expect) flags |= FLAG.EXPECT;
      if (s.opts.save) flags |= FLAG.SAVE;
      steps[o + STEP.flags] = BigInt(flags);
      steps[o + STEP.save] = BigInt(s.opts.save?.slot ?? 0);
      steps[o + STEP.slotargs] = slotargs;
      let ignore = 0n;
      (s.opts.ignore ?? []).forEach((e, k) => (ignore |= BigInt(e & 0xffff) << BigInt(16 * k)));
      steps[o + STEP.ignore] = ignore;
      steps[o + STEP.expect] = BigInt(s.opts.expect?.value ?? 0);
      steps[o + STEP.experr] = BigInt(s.opts.expect?.errno ?? 0);
    });
    const stepsAddr = this.arena.bytes(new Uint8Array(steps.buffer));
    const header = new Array<number>(HEADER_WORDS).fill(0);
    header[HEADER.sys] = env.sys;
    header[HEADER.err] = env.errnoLocation;
    header[HEADER.nsteps] = this.steps.length;
    header[HEADER.steps] = stepsAddr;
    header[HEADER.errfd] = env.errfd;
    header[HEADER.sys_write] = syscallNumber("write", arch);
    header[HEADER.sys_exit_group] = syscallNumber("exit_group", arch);
    header[HEADER.clone] = env.clone ?? 0;
    const addr = this.arena.words(header);
    return { addr, words: steps };
  }

  /** One line per step, for --log-level debug. */
  listing(arch: Arch = hostArch()): string[] {
    return this.steps.map((s, i) => {
      const args = s.args.map((a) => (isSlot(a) ? `slot${a.slot}` : typeof a === "bigint" ? `0x${a.toString(16)}` : String(a)));
      const extra = [
        s.opts.save ? `-> slot${s.opts.save.slot}` : "",
        s.opts.ignore?.length ? `ignore ${s.opts.ignore.join(",")}` : "",
        s.opts.continueOnFail ? "continue" : "",
        s.opts.probe ? "probe" : "",
      ].filter(Boolean);
      const name = s.call === "fork" || s.call === "init" ? s.call : syscallName(syscallNumber(s.call, arch), arch);
      return `${String(i).padStart(3)} ${name}(${args.join(", ")}) ${extra.join(" ")}  # ${s.desc}`;
    });
  }
}
