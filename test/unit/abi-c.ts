// Values of C constant expressions (macros, sizeof, offsetof) as each
// architecture's compiler and headers see them: a generated C file names
// each one in an asm statement, `gcc -S` substitutes the value, and the
// assembly is read back. Nothing is run, so a cross compiler is enough; no
// value is written out by hand.

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type Arch = "x86_64" | "aarch64";
export const ARCHES: readonly Arch[] = ["x86_64", "aarch64"];

/** Debian's compiler for each architecture, by its triple; the plain gcc where that is this machine's. */
function compilerFor(arch: Arch): string | null {
  const native = (process.arch === "x64" ? "x86_64" : process.arch === "arm64" ? "aarch64" : "") === arch;
  for (const cc of [`${arch}-linux-gnu-gcc`, ...(native ? ["gcc", "cc"] : [])]) {
    if (spawnSync(cc, ["--version"], { stdio: "ignore" }).status === 0) return cc;
  }
  return null;
}

const compilers = new Map<Arch, string | null>();
export function compiler(arch: Arch): string | null {
  if (!compilers.has(arch)) compilers.set(arch, compilerFor(arch));
  return compilers.get(arch)!;
}

/** Why the check cannot run here, or null when it can. */
export function unavailable(): string | null {
  const missing = ARCHES.filter((a) => !compiler(a)).map((a) => `${a}-linux-gnu-gcc`);
  if (missing.length) return `${missing.join(" and ")} missing (install gcc, gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, linux-libc-dev-arm64-cross)`;
  return null;
}

/** One value to read: a C constant expression, optionally only where macro `ifdef` is defined. */
export interface Expr {
  expr: string;
  ifdef?: string;
}

export interface Unit {
  /** `#include` lines' targets, in order: "<linux/sched.h>", or a path in quotes. */
  headers: readonly string[];
  /** Lines before the includes (feature macros, stubs). */
  prelude?: readonly string[];
  values: Readonly<Record<string, string | Expr>>;
  /** Compile with optimisation: a value computed by an inline function (glibc's makedev) is a constant only then. */
  optimize?: boolean;
  /** Directories searched for quoted includes. */
  includeDirs?: readonly string[];
}

// The value in four 16-bit pieces: x86's assembler syntax prints no immediate beyond 32 signed bits.
const MARK = `#define ABI_(name, v) __asm__ volatile("\\n@ABI " name " %c0 %c1 %c2 %c3\\n" :: "i"((int)(((unsigned long long)(v) >> 48) & 0xffff)), "i"((int)(((unsigned long long)(v) >> 32) & 0xffff)), "i"((int)(((unsigned long long)(v) >> 16) & 0xffff)), "i"((int)((unsigned long long)(v) & 0xffff)))`;

function source(u: Unit): string {
  const lines = [...(u.prelude ?? []), ...u.headers.map((h) => `#include ${h}`), "#include <stddef.h>", MARK, "void abi_values(void) {"];
  for (const [name, v] of Object.entries(u.values)) {
    const e = typeof v === "string" ? { expr: v } : v;
    if (e.ifdef) lines.push(`#ifdef ${e.ifdef}`);
    lines.push(`ABI_("${name}", (${e.expr}));`);
    if (e.ifdef) lines.push("#endif");
  }
  lines.push("}");
  return `${lines.join("\n")}\n`;
}

function run(cc: string, args: string[], input: string): string {
  const r = spawnSync(cc, args, { input, encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`${cc} ${args.join(" ")} failed:\n${r.stderr}`);
  return r.stdout;
}

const cache = new Map<string, Map<string, bigint>>();

/**
 * The values of `u` for `arch`, as signed 64-bit numbers; a name whose
 * `ifdef` macro is not defined there is absent from the map.
 */
export function cValues(arch: Arch, u: Unit): Map<string, bigint> {
  const cc = compiler(arch);
  if (!cc) throw new Error(`no C compiler for ${arch}`);
  const src = source(u);
  const key = `${arch}\n${u.optimize ? "O2" : "O0"}\n${(u.includeDirs ?? []).join(":")}\n${src}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const dir = mkdtempSync(join(tmpdir(), "bunker-abi-"));
  try {
    const file = join(dir, "abi.c");
    writeFileSync(file, src);
    const asm = run(cc, ["-S", u.optimize ? "-O2" : "-O0", "-w", ...(u.includeDirs ?? []).map((d) => `-I${d}`), "-o", "-", file], "");
    const out = new Map<string, bigint>();
    for (const m of asm.matchAll(/@ABI (\S+) (\d+) (\d+) (\d+) (\d+)/g)) {
      const v = (BigInt(m[2]!) << 48n) | (BigInt(m[3]!) << 32n) | (BigInt(m[4]!) << 16n) | BigInt(m[5]!);
      out.set(m[1]!, BigInt.asIntN(64, v));
    }
    cache.set(key, out);
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Names of the macros `headers` define for `arch` that match `pattern` (the preprocessor's own list). */
export function macroNames(arch: Arch, headers: readonly string[], pattern: RegExp, prelude: readonly string[] = []): string[] {
  const cc = compiler(arch);
  if (!cc) throw new Error(`no C compiler for ${arch}`);
  const out = run(cc, ["-dM", "-E", "-"], [...prelude, ...headers.map((h) => `#include ${h}`)].join("\n") + "\n");
  const names: string[] = [];
  for (const m of out.matchAll(/^#define (\w+)[ (]/gm)) if (pattern.test(m[1]!)) names.push(m[1]!);
  return names;
}

/** The macros a C file defines itself (`#define NAME`), in its own text: what a native program hard-codes. */
export function ownMacros(text: string, pattern: RegExp): string[] {
  const names = new Set<string>();
  for (const m of text.matchAll(/^\s*#define\s+(\w+)\s/gm)) if (pattern.test(m[1]!)) names.add(m[1]!);
  return [...names];
}
