import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { syscallName, syscallNames, syscallNumber } from "../../src/sys/syscalls";
import { SYSCALL_TABLE } from "../../src/sys/syscall-table";

function parseHeader(path: string, prefix: RegExp): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of readFileSync(path, "utf8").split("\n")) {
    const m = line.match(prefix);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

/**
 * asm-generic/unistd.h's numbers as a 64-bit architecture (aarch64) sees them: the __NR3264_x
 * numbers under the names its `__BITS_PER_LONG == 64` block gives them (__NR3264_fstatat is
 * aarch64's newfstatat, the call glibc's stat and fstatat use; no call is named fstatat there).
 */
function parseGeneric64(path: string): Map<string, number> {
  const text = readFileSync(path, "utf8");
  const out = parseHeader(path, /^#define __NR(?:3264)?_(\w+) (\d+)$/);
  const block = /^#if __BITS_PER_LONG == 64[^\n]*\n([\s\S]*?)^#else/m.exec(text)?.[1] ?? "";
  for (const m of block.matchAll(/^#define __NR_(\w+) __NR3264_(\w+)$/gm)) {
    const nr = out.get(m[2]!);
    if (nr === undefined) continue;
    out.delete(m[2]!);
    out.set(m[1]!, nr);
  }
  return out;
}

const X86 = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h";
const GENERIC = "/usr/include/asm-generic/unistd.h";

describe("syscall tables", () => {
  test.skipIf(!existsSync(X86))("x86_64 numbers match the kernel's unistd_64.h", () => {
    const kernel = parseHeader(X86, /^#define __NR_(\w+) (\d+)$/);
    for (const name of syscallNames) expect([name, syscallNumber(name, "x86_64")]).toEqual([name, kernel.get(name)!]);
  });

  test.skipIf(!existsSync(GENERIC))("aarch64 numbers match asm-generic/unistd.h", () => {
    // The generic table names some calls __NR3264_x or __NR_x; aarch64 uses the 64-bit variants.
    const kernel = parseGeneric64(GENERIC);
    for (const name of syscallNames) expect([name, syscallNumber(name, "aarch64")]).toEqual([name, kernel.get(name)!]);
  });

  test.skipIf(!existsSync(X86) || !existsSync(GENERIC))("the full table for seccomp profiles matches both headers", () => {
    const x86 = parseHeader(X86, /^#define __NR_(\w+) (\d+)$/);
    const generic = parseGeneric64(GENERIC);
    for (const [name, [a, b]] of Object.entries(SYSCALL_TABLE)) {
      expect([name, a]).toEqual([name, x86.get(name) ?? -1]);
      expect([name, b]).toEqual([name, generic.get(name) ?? -1]);
    }
    for (const name of x86.keys()) expect(SYSCALL_TABLE[name]).toBeDefined();
  });

  if (!existsSync(X86) || !existsSync(GENERIC)) console.warn("skipping a header comparison: install linux-libc-dev to check the tables");

  test("well-known numbers", () => {
    expect(syscallNumber("mount", "x86_64")).toBe(165);
    expect(syscallNumber("mount", "aarch64")).toBe(40);
    expect(syscallNumber("execve", "aarch64")).toBe(221);
    expect(syscallNumber("pivot_root", "x86_64")).toBe(155);
    // glibc's stat, lstat and fstatat on aarch64; the default seccomp profile names it newfstatat.
    expect(SYSCALL_TABLE.newfstatat).toEqual([262, 79]);
  });

  test("reverse lookup", () => {
    expect(syscallName(165, "x86_64")).toBe("mount");
    expect(syscallName(41, "aarch64")).toBe("pivot_root");
    expect(syscallName(9999, "x86_64")).toBe("syscall 9999");
  });
});
