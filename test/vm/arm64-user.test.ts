// The arm64 file under qemu-user: what runs without a kernel of its own (qemu-user refuses clone
// with namespace flags, so containers run only in the arm64 VM, test/vm/arm64-suite.ts): start-up,
// flag parsing and spec building. The file is cross-built here, so the test checks this checkout.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const QEMU = "/usr/bin/qemu-aarch64-static";
const SYSROOT = "/usr/aarch64-linux-gnu";
const ROOT = join(import.meta.dir, "..", "..");

const missing = [
  existsSync(QEMU) ? "" : `${QEMU} (install qemu-user-static)`,
  existsSync(join(SYSROOT, "lib", "ld-linux-aarch64.so.1")) ? "" : `${SYSROOT}/lib/ld-linux-aarch64.so.1 (install libc6-arm64-cross)`,
  Bun.which("aarch64-linux-gnu-gcc") ? "" : "aarch64-linux-gnu-gcc (install gcc-aarch64-linux-gnu)",
].filter(Boolean);
if (missing.length) console.warn(`skipping the qemu-user smoke test of the arm64 file: no ${missing.join(", no ")}`);

let dir = "";
let file = "";

function arm64(args: string[], cwd?: string): { code: number; stdout: string; stderr: string } {
  const r = Bun.spawnSync([QEMU, "-L", SYSROOT, file, ...args], { cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { PATH: "/usr/bin:/bin" }, timeout: 60_000 });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

describe.skipIf(missing.length > 0)("the arm64 file under qemu-user", () => {
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "bunker-arm64-"));
    file = join(dir, "bunker-linux-arm64");
    const b = Bun.spawnSync([process.execPath, "build.ts", "--target", "linux-arm64", "--outfile", file], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
    if (!b.success) throw new Error(`cross build failed: ${b.stderr.toString()}`);
    // The child interpreter compiled for aarch64, not left to TinyCC at run time.
    expect(b.stdout.toString() + b.stderr.toString()).toContain("by aarch64-linux-gnu-gcc");
  }, 120_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  // Each start of the 110 MB file under emulation takes a second or two.
  const SLOW = 60_000;

  test("it is an aarch64 executable and --version runs", () => {
    const elf = readFileSync(file).subarray(0, 20);
    // e_machine 183: EM_AARCH64.
    expect(elf.readUInt16LE(18)).toBe(183);
    const r = arm64(["--version"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toMatch(/^bunker \d+\.\d+\.\d+ .*\n$/);
  }, SLOW);

  test("flags: an unknown one suggests the closest (125), a bad value is a one-line 125 error, --help shows usage", () => {
    const typo = arm64(["run", "--netwrk", "none", "--", "true"]);
    expect([typo.code, typo.stdout, typo.stderr]).toEqual([125, "", "bunker: run: unknown flag --netwrk: did you mean --network?\n"]);
    const bad = arm64(["run", "--memory", "lots", "--rootfs", "/nonexistent", "--", "true"]);
    expect(bad.code).toBe(125);
    expect(bad.stderr).toMatch(/^bunker: [^\n]*lots[^\n]*\n$/);
    const help = arm64(["run", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("USAGE bunker run");
  }, SLOW);

  test("spec writes runc's default config.json, and with --rootless a user namespace mapping the caller", () => {
    const plain = join(dir, "plain");
    const rootless = join(dir, "rootless");
    for (const [bundle, extra] of [[plain, []], [rootless, ["--rootless"]]] as const) {
      Bun.spawnSync(["mkdir", "-p", bundle]);
      const r = arm64(["spec", ...extra, "--bundle", bundle]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
    }
    const config = (bundle: string) => JSON.parse(readFileSync(join(bundle, "config.json"), "utf8"));
    const p = config(plain);
    expect(p.ociVersion).toMatch(/^1\./);
    expect(p.process.args).toEqual(["sh"]);
    expect(p.root).toEqual({ path: "rootfs", readonly: true });
    expect(p.linux.namespaces.map((n: { type: string }) => n.type)).not.toContain("user");
    const u = config(rootless);
    expect(u.linux.namespaces.map((n: { type: string }) => n.type)).toContain("user");
    expect(u.linux.uidMappings).toEqual([{ containerID: 0, hostID: process.getuid!(), size: 1 }]);
    // An existing config is not overwritten.
    const again = arm64(["spec", "--bundle", plain]);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toBe(`bunker: ${join(plain, "config.json")} exists: remove it first\n`);
  }, SLOW);
});
