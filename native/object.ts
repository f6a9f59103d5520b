// Compiles native/child.c into a small shared object for one architecture, at
// build time: the executable carries it and loads it from memory, so a run
// needs no compiler (src/sys/native.ts). The interpreter uses no headers and
// no libc symbols, so any gcc or clang that can target the architecture will
// do; the object exports one symbol, bunker_table, and needs nothing.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type Arch = "x86_64" | "aarch64";

const SOURCE = join(import.meta.dir, "child.c");

/** ELF e_machine of each architecture: what the object must say it is built for. */
const MACHINE: Record<Arch, number> = { x86_64: 62, aarch64: 183 };

const FLAGS = [
  "-O2",
  "-shared",
  "-fPIC",
  "-nostdlib",
  "-ffreestanding",
  // Code that runs between clone and execve, and in signal handlers: no canary, no unwind tables.
  "-fno-stack-protector",
  "-fno-asynchronous-unwind-tables",
  "-fno-ident",
  "-Wall",
  "-Werror",
  "-Wl,-z,now",
  "-Wl,-z,noseparate-code",
  "-Wl,--hash-style=gnu",
  "-Wl,--build-id=none",
  "-s",
];

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

/** Compiles the interpreter for `arch`; the first compiler that works wins. */
export function compileChildObject(arch: Arch): ObjectResult {
  const dir = mkdtempSync(join(tmpdir(), "bunker-child-object-"));
  const tried: string[] = [];
  try {
    const script = join(dir, "exports.map");
    writeFileSync(script, "{ global: bunker_table; local: *; };\n");
    for (const cmd of candidates(arch)) {
      const out = join(dir, "child.so");
      rmSync(out, { force: true });
      let r: ReturnType<typeof Bun.spawnSync>;
      try {
        r = Bun.spawnSync([...cmd, ...FLAGS, `-Wl,--version-script=${script}`, "-o", out, SOURCE], { stdout: "pipe", stderr: "pipe" });
      } catch {
        continue; // not installed
      }
      const name = cmd.join(" ");
      if (r.exitCode !== 0) {
        tried.push(`${name}: ${(r.stderr?.toString() ?? "").trim().split("\n")[0] || `exit ${r.exitCode}`}`);
        continue;
      }
      const bytes = new Uint8Array(readFileSync(out));
      const why = checkObject(bytes, arch);
      if (why) {
        tried.push(`${name}: ${why}`);
        continue;
      }
      return { bytes, compiler: name };
    }
    return { error: `no C compiler here builds the child interpreter for ${arch}${tried.length ? ` (${tried.join("; ")})` : " (none of gcc, clang or a cross gcc is installed)"}` };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Why `bytes` is not a 64-bit little-endian ELF shared object for `arch`, or null if it is. */
export function checkObject(bytes: Uint8Array, arch: Arch): string | null {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 64 || dv.getUint32(0, false) !== 0x7f454c46) return "not an ELF file";
  if (bytes[4] !== 2 || bytes[5] !== 1) return "not a 64-bit little-endian ELF file";
  if (dv.getUint16(16, true) !== 3) return "not a shared object";
  const machine = dv.getUint16(18, true);
  if (machine !== MACHINE[arch]) return `built for ELF machine ${machine}, not ${arch}`;
  return null;
}
