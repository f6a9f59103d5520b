import { describe, expect, test } from "bun:test";
import { syscallName, syscallNumber } from "../../src/sys/syscalls";
import { SYSCALL_TABLE } from "../../src/sys/syscall-table";

// Every number is checked against each architecture's own asm/unistd.h, through its
// compiler, by abi.test.ts; these few are written out to read at a glance.

describe("syscall tables", () => {
  test("well-known numbers", () => {
    expect(syscallNumber("mount", "x86_64")).toBe(165);
    expect(syscallNumber("mount", "aarch64")).toBe(40);
    expect(syscallNumber("execve", "aarch64")).toBe(221);
    expect(syscallNumber("pivot_root", "x86_64")).toBe(155);
    // glibc's stat, lstat and fstatat on aarch64; the default seccomp profile names it newfstatat.
    expect(SYSCALL_TABLE.newfstatat).toEqual([262, 79]);
  });

  test("aarch64 has newfstatat (79) and no open or stat, as its asm/unistd.h says", () => {
    expect(SYSCALL_TABLE.newfstatat).toEqual([262, 79]);
    expect(SYSCALL_TABLE.open![1]).toBe(-1);
    expect(SYSCALL_TABLE.stat![1]).toBe(-1);
  });

  test("reverse lookup", () => {
    expect(syscallName(165, "x86_64")).toBe("mount");
    expect(syscallName(41, "aarch64")).toBe("pivot_root");
    expect(syscallName(9999, "x86_64")).toBe("syscall 9999");
  });
});
