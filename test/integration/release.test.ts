// The release files: `bun build.ts --release` builds both architectures with their native parts,
// each naming its target and commit, and a SHA256SUMS that sha256sum(1) accepts.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");
const BUN = process.execPath;
const EM_X86_64 = 62;
const EM_AARCH64 = 183;

function which(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? "").split(":")) if (dir && existsSync(join(dir, name))) return join(dir, name);
  return undefined;
}

const crossGcc = which("aarch64-linux-gnu-gcc");
const qemu = which("qemu-aarch64-static");
const armLibc = existsSync("/usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1");
const why = crossGcc ? "" : "aarch64-linux-gnu-gcc is not installed (Debian: gcc-aarch64-linux-gnu)";
if (why) console.log(`skipping the release build: ${why}`);

function elfMachine(file: string): number {
  const head = readFileSync(file).subarray(0, 20);
  expect(head.subarray(0, 4).toString("latin1")).toBe("\x7fELF");
  return head.readUInt16LE(18);
}

function head(): string {
  return Bun.spawnSync(["git", "rev-parse", "--short=12", "HEAD"], { cwd: ROOT }).stdout.toString().trim();
}

describe.skipIf(!!why)("release", () => {
  let out: string;
  let build: ReturnType<typeof Bun.spawnSync>;
  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), "bunker-release-"));
    build = Bun.spawnSync([BUN, "build.ts", "--release", "--outdir", out], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
  });
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  test("both architectures with their native parts, and a SHA256SUMS that sha256sum checks", () => {
    expect([build.exitCode, build.stderr!.toString().includes("compiled at run time")]).toEqual([0, false]);
    expect(elfMachine(join(out, "bunker-linux-x64"))).toBe(EM_X86_64);
    expect(elfMachine(join(out, "bunker-linux-arm64"))).toBe(EM_AARCH64);
    const lines = readFileSync(join(out, "SHA256SUMS"), "utf8").trimEnd().split("\n");
    const want = ["bunker-linux-x64", "bunker-linux-arm64"].map((n) => `${createHash("sha256").update(readFileSync(join(out, n))).digest("hex")}  ${n}`);
    expect(lines).toEqual(want);
    const check = Bun.spawnSync(["sha256sum", "-c", "SHA256SUMS"], { cwd: out });
    expect([check.exitCode, check.stdout.toString()]).toEqual([0, "bunker-linux-x64: OK\nbunker-linux-arm64: OK\n"]);
  });

  test("each file's --version names its target and the commit", () => {
    const version = (argv: string[]) => Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" }).stdout.toString();
    const commit = `commit ${head()}`;
    if (process.arch === "x64") {
      expect(version([join(out, "bunker-linux-x64"), "--version"])).toMatch(new RegExp(`^bunker \\d+\\.\\d+\\.\\d+ \\(linux-x64, ${commit}(-dirty)?\\)\\n$`));
    }
    if (process.arch === "arm64") {
      expect(version([join(out, "bunker-linux-arm64"), "--version"])).toMatch(new RegExp(`^bunker \\d+\\.\\d+\\.\\d+ \\(linux-arm64, ${commit}(-dirty)?\\)\\n$`));
    } else if (qemu && armLibc) {
      const argv = [qemu, "-L", "/usr/aarch64-linux-gnu", join(out, "bunker-linux-arm64"), "--version"];
      expect(version(argv)).toMatch(new RegExp(`^bunker \\d+\\.\\d+\\.\\d+ \\(linux-arm64, ${commit}(-dirty)?\\)\\n$`));
    } else {
      console.log("skipping the arm64 file's --version: qemu-aarch64-static or libc6-arm64-cross is not installed");
    }
  });
});

describe("release refusals", () => {
  test("--release takes neither --target nor --outfile; --outdir needs --release", () => {
    for (const [args, msg] of [
      [["--release", "--target", "linux-x64"], "build: --release builds every target: it takes --outdir, not --target or --outfile\n"],
      [["--outdir", "/nonexistent"], "build: --outdir goes with --release (use --outfile for one file)\n"],
      [["--target", "linux-mips"], 'build: unknown target "linux-mips": use linux-x64 or linux-arm64\n'],
    ] as const) {
      const r = Bun.spawnSync([BUN, "build.ts", ...args], { cwd: ROOT, stdout: "pipe", stderr: "pipe" });
      expect([args, r.exitCode, r.stderr.toString()]).toEqual([args, 2, msg]);
    }
  });

  test.skipIf(!which("gcc"))("a release without a compiler for arm64 is refused, where a development build only warns", () => {
    // A PATH with the tools the build needs but no compiler for arm64.
    const bin = mkdtempSync(join(tmpdir(), "bunker-release-path-"));
    const out = join(bin, "out");
    mkdirSync(out);
    try {
      for (const tool of ["gcc", "cc", "git", "ld", "as"]) {
        const at = which(tool);
        if (at) symlinkSync(at, join(bin, tool));
      }
      const env = { ...process.env, PATH: bin };
      const r = Bun.spawnSync([BUN, "build.ts", "--release", "--outdir", out], { cwd: ROOT, env, stdout: "pipe", stderr: "pipe" });
      expect(r.exitCode).toBe(2);
      expect(r.stderr.toString()).toMatch(/^build: no C compiler here builds .* for aarch64 .*: a release file needs it \(install gcc, and gcc-aarch64-linux-gnu for arm64\)$/m);
      expect(existsSync(join(out, "SHA256SUMS"))).toBe(false);
      const dev = Bun.spawnSync([BUN, "build.ts", "--target", "linux-arm64", "--outfile", join(out, "dev")], { cwd: ROOT, env, stdout: "pipe", stderr: "pipe" });
      expect([dev.exitCode, dev.stderr.toString()]).toEqual([0, expect.stringContaining("build: warning: no C compiler here builds")]);
      expect(elfMachine(join(out, "dev"))).toBe(EM_AARCH64);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });
});
