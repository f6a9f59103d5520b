// Compiles bunker's native code for one architecture, at build time: the
// child interpreter (native/child.c) into a small shared object, loaded from
// memory by src/sys/native.ts; the waiter (native/waiter.c) into a static
// executable that a detached container's supervisor execs from memory
// (src/runtime/handoff.ts); and --init's PID 1 (native/init.c), exec'd from
// memory inside the container (src/runtime/initprog.ts). Neither uses headers or libc, so any gcc or clang
// that can target the architecture will do; the executable carries both, and
// a run needs no compiler.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { childLayoutHeader } from "./layout";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type Arch = "x86_64" | "aarch64";

const CHILD = join(import.meta.dir, "child.c");
const WAITER = join(import.meta.dir, "waiter.c");
const INIT = join(import.meta.dir, "init.c");
const HEALTH = join(import.meta.dir, "health.c");

/** ELF e_machine of each architecture: what the object must say it is built for. */
const MACHINE: Record<Arch, number> = { x86_64: 62, aarch64: 183 };

const COMMON = [
  "-O2",
  "-nostdlib",
  "-ffreestanding",
  // Code that runs between clone and execve, in signal handlers, or with no libc at all: no canary, no unwind tables.
  "-fno-stack-protector",
  "-fno-asynchronous-unwind-tables",
  "-fno-ident",
  "-Wall",
  "-Werror",
  "-Wl,-z,noseparate-code",
  "-Wl,--build-id=none",
  "-s",
];

/** The interpreter: a shared object bun:ffi loads, exporting one table. */
const CHILD_FLAGS = ["-shared", "-fPIC", "-Wl,-z,now", "-Wl,--hash-style=gnu"];
/** The waiter and init: static executables with its own entry point, no loader, no relocations. */
const STATIC_FLAGS = ["-static", "-fno-pie", "-no-pie", "-Wl,-z,norelro"];

/** The compilers to try for `arch` on this machine, first the native one where it is that machine. */
function candidates(arch: Arch): string[][] {
  const native = (process.arch === "x64" ? "x86_64" : process.arch === "arm64" ? "aarch64" : "") === arch;
  const triple = `${arch}-linux-gnu`;
  return [
    ...(native ? [["cc"], ["gcc"], ["clang"]] : []),
    [`${triple}-gcc`],
    // clang targets any architecture, given a linker for it (ld.lld, or the cross binutils).
    ["clang", `--target=${triple}`, "-fuse-ld=lld"],
    ["clang", `--target=${triple}`],
  ];
}

export type ObjectResult = { bytes: Uint8Array; compiler: string } | { error: string };

/** Compiles the interpreter for `arch`: a shared object. */
export function compileChildObject(arch: Arch): ObjectResult {
  return compile(arch, "the child interpreter", CHILD, CHILD_FLAGS, "shared", "{ global: bunker_table; local: *; };\n");
}

/** Compiles the detached containers' waiter for `arch`: a static executable. */
export function compileWaiter(arch: Arch): ObjectResult {
  return compile(arch, "the waiter", WAITER, STATIC_FLAGS, "executable");
}

/** Compiles --init's PID 1 for `arch`: a static executable. */
export function compileInit(arch: Arch): ObjectResult {
  return compile(arch, "the init", INIT, STATIC_FLAGS, "executable");
}

/** Compiles the periodic health check's timer for `arch`: a static executable. */
export function compileHealth(arch: Arch): ObjectResult {
  return compile(arch, "the health check timer", HEALTH, STATIC_FLAGS, "executable");
}

/** The first compiler that builds `source` for `arch` into an ELF file of `kind` wins. */
function compile(arch: Arch, what: string, source: string, flags: string[], kind: ElfKind, exports?: string): ObjectResult {
  const dir = mkdtempSync(join(tmpdir(), "bunker-native-build-"));
  const tried: string[] = [];
  try {
    // The interpreter's side of native/layout.ts, generated where `#include "child-layout.h"` finds it.
    writeFileSync(join(dir, "child-layout.h"), childLayoutHeader());
    const extra: string[] = [`-I${dir}`];
    if (exports !== undefined) {
      const script = join(dir, "exports.map");
      writeFileSync(script, exports);
      extra.push(`-Wl,--version-script=${script}`);
    }
    for (const cmd of candidates(arch)) {
      const out = join(dir, "out");
      rmSync(out, { force: true });
      let r: ReturnType<typeof Bun.spawnSync>;
      try {
        r = Bun.spawnSync([...cmd, ...COMMON, ...flags, ...extra, "-o", out, source], { stdout: "pipe", stderr: "pipe" });
      } catch {
        continue; // not installed
      }
      const name = cmd.join(" ");
      if (r.exitCode !== 0) {
        tried.push(`${name}: ${(r.stderr?.toString() ?? "").trim().split("\n")[0] || `exit ${r.exitCode}`}`);
        continue;
      }
      const bytes = new Uint8Array(readFileSync(out));
      const why = checkObject(bytes, arch, kind);
      if (why) {
        tried.push(`${name}: ${why}`);
        continue;
      }
      return { bytes, compiler: name };
    }
    return { error: `no C compiler here builds ${what} for ${arch}${tried.length ? ` (${tried.join("; ")})` : " (none of gcc, clang or a cross gcc is installed)"}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export type ElfKind = "shared" | "executable";
const ELF_TYPE: Record<ElfKind, number> = { executable: 2, shared: 3 };

/** Why `bytes` is not a 64-bit little-endian ELF file of `kind` for `arch`, or null if it is. */
export function checkObject(bytes: Uint8Array, arch: Arch, kind: ElfKind = "shared"): string | null {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 64 || dv.getUint32(0, false) !== 0x7f454c46) return "not an ELF file";
  if (bytes[4] !== 2 || bytes[5] !== 1) return "not a 64-bit little-endian ELF file";
  if (dv.getUint16(16, true) !== ELF_TYPE[kind]) return kind === "shared" ? "not a shared object" : "not a static executable";
  const machine = dv.getUint16(18, true);
  if (machine !== MACHINE[arch]) return `built for ELF machine ${machine}, not ${arch}`;
  return null;
}
