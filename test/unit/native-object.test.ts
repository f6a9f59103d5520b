// The interpreter as the build compiles it (native/object.ts): a shared object
// for each architecture, loaded from a memfd, with the run-time compile as the
// fallback when it does not load. The interpreter's own tests
// (test/unit/native.test.ts) run once more against the object. And the two
// static programs, the waiter and --init's PID 1, with the init run here.

import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkObject, compileChildObject, compileHealth, compileInit, compileWaiter, type Arch } from "../../native/object";
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

/** Whether the ELF file has a program header of type PT_INTERP (it would need a dynamic loader). */
function hasInterpreter(bytes: Uint8Array): boolean {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const phoff = Number(dv.getBigUint64(32, true));
  const size = dv.getUint16(54, true);
  for (let i = 0; i < dv.getUint16(56, true); i++) if (dv.getUint32(phoff + i * size, true) === 3) return true;
  return false;
}

describe("the static programs", () => {
  for (const [name, compile] of [
    ["the waiter", compileWaiter],
    ["the init", compileInit],
    ["the health check timer", compileHealth],
  ] as const) {
    for (const arch of [host, other]) {
      const r = compile(arch);
      if ("error" in r) console.warn(`skipping ${name} for ${arch}: ${r.error}`);
      test.skipIf("error" in r)(`${name} is a small static ${arch} executable with no loader`, () => {
        const { bytes } = r as { bytes: Uint8Array };
        expect(checkObject(bytes, arch, "executable")).toBeNull();
        expect(hasInterpreter(bytes)).toBe(false);
        expect(bytes.length).toBeLessThan(16 * 1024);
      });
    }
  }

  const init = compileInit(host);
  const initFile = join(dir, "init");
  if (!("error" in init)) {
    writeFileSync(initFile, init.bytes);
    chmodSync(initFile, 0o755);
  }
  /** A shell that starts `child` in the background, then becomes the init with that child's pid. */
  const underInit = (child: string) => Bun.spawn(["sh", "-c", `${child} & exec "$0" "$!"`, initFile], { stdout: "pipe", stderr: "pipe" });

  test.skipIf("error" in init)("init ends with its command's status, also when the command ended before init started", async () => {
    expect(await underInit("sleep 0.2; exit 7").exited).toBe(7);
    expect(await underInit("exit 5").exited).toBe(5);
  });

  test.skipIf("error" in init)("init passes a signal on to its command, reads as init, and refuses a bad argument", async () => {
    const p = underInit("sleep 30");
    const deadline = Date.now() + 5000;
    // Once the shell has exec'd the init, its command line is its name alone (inside a container, "init"): the pid is cleared.
    while (readFileSync(`/proc/${p.pid}/cmdline`, "latin1") !== `${initFile}\0`) {
      if (Date.now() > deadline) throw new Error("the shell never became init");
      await Bun.sleep(10);
    }
    expect(readFileSync(`/proc/${p.pid}/comm`, "utf8")).toBe("init\n");
    p.kill("SIGTERM");
    // sleep has no handler: it ends by SIGTERM, and init with 128 + 15.
    expect(await p.exited).toBe(143);
    expect(Bun.spawnSync([initFile, "x"]).exitCode).toBe(125);
    expect(Bun.spawnSync([initFile]).exitCode).toBe(125);
  });
});
