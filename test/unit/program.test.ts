import { describe, expect, test } from "bun:test";
import { read } from "bun:ffi";
import { ChildProgram, F_CONTINUE, F_EXPECT, F_SAVE, HEADER_WORDS, NSLOTS, STEP_WORDS } from "../../src/child/program";
import { syscallNumber } from "../../src/sys/syscalls";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { childLayoutHeader, LAYOUT_INCLUDE, SLOT_BASE, STEP, TABLE } from "../../native/layout";

describe("child program encoding", () => {
  test("lays out each step as number, six arguments, flags, slot, slot map, ignored errnos, expectation", () => {
    const p = new ChildProgram();
    const slot = p.newSlot();
    const other = p.newSlot();
    p.call("open", "openat", [-100, 1234, 0, 0], { save: other });
    p.call("write", "write", [other, 5678, 5], { expect: { value: 5, errno: 5 }, ignore: [4, 11] });
    p.call("exec", "execve", [1, 2, 3], { continueOnFail: true });
    p.call("use slot 0 as arg 3", "close", [0, 0, 0, slot]);
    const enc = p.encode({ sys: 0x1111, errnoLocation: 0x2222, errfd: 9, arch: "aarch64" });
    const w = enc.words;
    expect(w.length).toBe(4 * STEP_WORDS);
    expect(w[0]).toBe(BigInt(syscallNumber("openat", "aarch64")));
    expect(w[1]).toBe(-100n);
    expect(w[2]).toBe(1234n);
    expect(w[7]).toBe(BigInt(F_SAVE));
    expect(w[8]).toBe(1n);
    const s1 = STEP_WORDS;
    expect(w[s1 + 7]).toBe(BigInt(F_EXPECT));
    expect(w[s1 + 9]).toBe(2n); // argument 0 from slot 1 (stored as slot+1)
    expect(w[s1 + 10]).toBe(4n | (11n << 16n));
    expect(w[s1 + 11]).toBe(5n);
    expect(w[s1 + 12]).toBe(5n);
    expect(w[2 * STEP_WORDS + 7]).toBe(BigInt(F_CONTINUE));
    expect(w[3 * STEP_WORDS + 9]).toBe(1n << 24n); // argument 3 from slot 0
    // Header: sys, errno location, count, steps address, error fd, write and exit_group numbers, slots.
    expect(read.u64(enc.addr, 0)).toBe(0x1111n);
    expect(read.u64(enc.addr, 8)).toBe(0x2222n);
    expect(read.u64(enc.addr, 16)).toBe(4n);
    expect(read.u64(enc.addr, 32)).toBe(9n);
    expect(read.u64(enc.addr, 40)).toBe(BigInt(syscallNumber("write", "aarch64")));
    expect(read.u64(enc.addr, 48)).toBe(BigInt(syscallNumber("exit_group", "aarch64")));
    const stepsAddr = Number(read.u64(enc.addr, 24));
    expect(read.i64(stepsAddr, 8)).toBe(-100n);
    expect(HEADER_WORDS).toBe(9 + NSLOTS);
  });

  test("refuses more slots than the interpreter has, more than six arguments, more than four ignored errnos", () => {
    const p = new ChildProgram();
    for (let i = 0; i < NSLOTS; i++) p.newSlot();
    expect(() => p.newSlot()).toThrow(/more than 64 slots/);
    expect(() => p.call("x", "close", [1, 2, 3, 4, 5, 6, 7])).toThrow(/more than six/);
    expect(() => p.call("x", "close", [1], { ignore: [1, 2, 3, 4, 5] })).toThrow(/more than four/);
  });

  test("strings go into the arena NUL-terminated; NUL inside is refused", () => {
    const p = new ChildProgram();
    const a = p.str("héllo");
    expect(read.u8(a, 0)).toBe(0x68);
    expect(read.u8(a, 6)).toBe(0);
    expect(() => p.str("a\0b")).toThrow(/NUL/);
    const v = p.arena.strv(["a", "bc"]);
    expect(read.u8(Number(read.u64(v, 8)), 1)).toBe(0x63);
    expect(read.u64(v, 16)).toBe(0n);
  });

  test("describes steps by index, and the end of the program as the start", () => {
    const p = new ChildProgram().call("mount proc on /proc", "mount", []);
    expect(p.describe(0)).toBe("mount proc on /proc");
    expect(p.describe(1)).toBe("start the container process");
    expect(p.listing("x86_64")[0]).toContain("mount()");
  });
});

describe("the layout shared with native/child.c (native/layout.ts)", () => {
  const cc = ["cc", "gcc", "clang"].find((c) => Bun.spawnSync(["sh", "-c", `command -v ${c}`]).exitCode === 0);
  if (!cc) console.warn("skipping the generated header's compile check: no C compiler here");
  const compiles = (header: string) => {
    const src = `typedef long (*sys_fn)(long, ...);\ntypedef int *(*errno_fn)(void);\ntypedef int (*clone_fn)(int (*)(void *), void *, int, void *, ...);\n${header}`;
    return Bun.spawnSync([cc!, "-std=c11", "-fsyntax-only", "-x", "c", "-"], { stdin: new TextEncoder().encode(src), stderr: "pipe" });
  };

  test.skipIf(!cc)("the generated header compiles, and its size checks stop a struct that is not the encoder's size", () => {
    const header = childLayoutHeader();
    expect(compiles(header).exitCode).toBe(0);
    // A step one word longer than the encoder lays out.
    const broken = compiles(header.replace("  long pad;", "  long pad;\n  long extra;"));
    expect(broken.exitCode).not.toBe(0);
    expect(broken.stderr.toString()).toContain("struct step is 14 words");
  });

  test("the encoder writes where the header's fields are: flags at word 7, slots after the 9 header words", () => {
    expect(STEP.flags).toBe(7);
    expect(STEP.slotargs).toBe(9);
    expect(SLOT_BASE).toBe(9);
    expect(TABLE.indexOf("bunker_child")).toBe(0);
    // The C source takes the layout from the header, not from definitions of its own.
    const source = readFileSync(join(import.meta.dir, "../../native/child.c"), "utf8");
    expect(source).toContain(LAYOUT_INCLUDE);
    expect(source).not.toMatch(/^struct (step|program|init_args) \{/m);
    expect(source).not.toMatch(/^#define (NSLOTS|OP_FORK|OP_INIT|F_SAVE)\b/m);
  });
});
