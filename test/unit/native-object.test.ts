// The interpreter as the build compiles it (native/object.ts): a shared object
// for each architecture, loaded from a memfd, with the run-time compile as the
// fallback when it does not load. The interpreter's own tests
// (test/unit/native.test.ts) run once more against the object.

import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkObject, compileChildObject, type Arch } from "../../native/object";
import { openNative } from "../../src/sys/native";

const host: Arch = process.arch === "arm64" ? "aarch64" : "x86_64";
const other: Arch = host === "x86_64" ? "aarch64" : "x86_64";
const built = compileChildObject(host);
if ("error" in built) console.warn(`skipping the prebuilt interpreter's tests: ${built.error}`);
const cross = compileChildObject(other);
if ("error" in cross) console.warn(`skipping the ${other} object's build: ${cross.error}`);

const dir = mkdtempSync(join(tmpdir(), "bunker-native-object-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("the prebuilt interpreter", () => {
  test.skipIf("error" in built)(`is a small ${host} shared object that needs nothing and exports one symbol`, () => {
    const { bytes } = built as { bytes: Uint8Array };
    expect(checkObject(bytes, host)).toBeNull();
    expect(bytes.length).toBeLessThan(32 * 1024);
    const file = join(dir, "child.so");
    writeFileSync(file, bytes);
    const nm = Bun.spawnSync(["nm", "-D", file], { stdout: "pipe", stderr: "pipe" });
    if (nm.exitCode === 0) expect(nm.stdout.toString().trim().split("\n").map((l) => l.split(" ").slice(1).join(" "))).toEqual(["T bunker_table"]);
  });

  test.skipIf("error" in cross)(`builds for ${other} as well`, () => {
    expect(checkObject((cross as { bytes: Uint8Array }).bytes, other)).toBeNull();
    expect(checkObject((cross as { bytes: Uint8Array }).bytes, host)).toMatch(/^built for ELF machine \d+, not /);
  });

  test.skipIf("error" in built)("loads from memory; an object that does not load falls back to the run-time compile, which says why", () => {
    // The broken one first: the dynamic loader knows a library by its path, and a second memfd
    // may get the same descriptor number (a process loads the interpreter once; this test twice).
    const broken = openNative(new TextEncoder().encode("not an object"));
    expect(broken.origin).toMatch(/^compiled at run time \(the prebuilt object did not load: .+\)$/);
    // The fallback is a working interpreter: its table is there.
    expect(broken.childEntry).toBeGreaterThan(0);
    expect(broken.nonDefaultSignals().includes(9)).toBe(false);
    expect(openNative(null, undefined, "none here").origin).toBe("compiled at run time (none here)");
    expect(openNative((built as { bytes: Uint8Array }).bytes).origin).toBe("prebuilt object");
  });

  test.skipIf("error" in built)("runs every test of the interpreter", () => {
    const file = join(dir, "child-for-tests.so");
    writeFileSync(file, (built as { bytes: Uint8Array }).bytes);
    const r = Bun.spawnSync([process.execPath, "test", "--timeout", "30000", "test/unit/native.test.ts"], {
      cwd: join(import.meta.dir, "../.."),
      env: { ...process.env, BUNKER_TEST_CHILD_OBJECT: file },
      stdout: "pipe",
      stderr: "pipe",
    });
    const out = r.stderr.toString();
    expect(out).toContain("(pass) the interpreter is the prebuilt object");
    expect(out).toMatch(/^ 0 fail$/m);
    expect(r.exitCode).toBe(0);
  }, 120_000);
});
