// The kernel ABI values bunker passes, read from the kernel's own headers
// for each architecture (Debian's linux-libc-dev for x86_64, and
// linux-libc-dev-arm64-cross, which gcc-aarch64-linux-gnu brings), not from
// a second hand-written table.

import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { openFlags } from "../../src/sys/constants";

const GENERIC = "/usr/include/asm-generic/fcntl.h";
const HEADERS = { x86_64: "/usr/include/x86_64-linux-gnu/asm/fcntl.h", aarch64: "/usr/aarch64-linux-gnu/include/asm/fcntl.h" } as const;
const missing = [GENERIC, ...Object.values(HEADERS)].filter((h) => !existsSync(h));
if (missing.length) console.warn(`skipping the open flags' ABI check: ${missing.join(", ")} missing (install linux-libc-dev and linux-libc-dev-arm64-cross)`);

/** `#define O_X value` lines of a header, octal as C writes them; an architecture's own header first, as its #ifndef guards make the generic one yield. */
function defines(path: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of readFileSync(path, "utf8").matchAll(/^#define\s+(O_[A-Z]+)\s+(0[0-7]*|[1-9]\d*)\b/gm)) {
    if (!out.has(m[1]!)) out.set(m[1]!, m[2]!.startsWith("0") ? parseInt(m[2]!, 8) : Number(m[2]));
  }
  return out;
}

describe.skipIf(missing.length > 0)("open flags per architecture, from the kernel's headers", () => {
  for (const arch of ["x86_64", "aarch64"] as const) {
    test(`${arch}: every flag bunker passes has the header's value`, () => {
      const own = defines(HEADERS[arch]);
      const values = new Map([...defines(GENERIC), ...own]);
      const flags = openFlags(arch);
      for (const [name, value] of Object.entries(flags)) expect([name, value as number | undefined]).toEqual([name, values.get(`O_${name}`)]);
    });
  }

  test("the two differ exactly where aarch64's header says (O_DIRECTORY, O_NOFOLLOW)", () => {
    const x = openFlags("x86_64");
    const a = openFlags("aarch64");
    expect(Object.keys(x).filter((k) => x[k as keyof typeof x] !== a[k as keyof typeof a]).sort()).toEqual(["DIRECTORY", "NOFOLLOW"]);
  });
});
