// The VM harness's pure parts: the cpio writer, the end-mark filter, module ordering, options.

import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "./args";
import { FILES, REDUCED } from "./arm64-suite";
import { cpio } from "./cpio";
import { EXIT_SETUP, EXIT_UNAVAILABLE, VmError } from "./fail";
import { ensureKernel } from "./kernel";
import { keepVisible, outermost, shellQuote } from "./initramfs";
import { loadOrder, parseBuiltin, parseModulesDep } from "./modules";
import { UntilMark } from "./stream";

/** Reads a newc archive back: name, mode, rdev and data of each entry. */
function readCpio(buf: Uint8Array): { name: string; mode: number; rdev: [number, number]; data: string }[] {
  const text = (at: number, n: number): string => new TextDecoder().decode(buf.subarray(at, at + n));
  const field = (at: number, i: number): number => parseInt(text(at + 6 + i * 8, 8), 16);
  const out = [];
  let at = 0;
  for (;;) {
    expect(text(at, 6)).toBe("070701");
    const mode = field(at, 1);
    const size = field(at, 6);
    const nameSize = field(at, 11);
    const name = text(at + 110, nameSize - 1);
    expect(buf[at + 110 + nameSize - 1]).toBe(0);
    const dataAt = at + 110 + nameSize + ((4 - ((110 + nameSize) % 4)) % 4);
    if (name === "TRAILER!!!") break;
    out.push({ name, mode, rdev: [field(at, 9), field(at, 10)] as [number, number], data: text(dataAt, size) });
    at = dataAt + size + ((4 - (size % 4)) % 4);
  }
  expect(at % 4).toBe(0);
  return out;
}

describe("cpio", () => {
  test("entries come back with their names, types, modes and data, 4-byte aligned", () => {
    const archive = cpio([
      { kind: "dir", path: "/bin" },
      { kind: "file", path: "bin/busybox", data: new TextEncoder().encode("abcde"), mode: 0o755 },
      { kind: "symlink", path: "bin/sh", target: "busybox" },
      { kind: "chardev", path: "dev/console", major: 5, minor: 1 },
    ]);
    expect(archive.length % 4).toBe(0);
    expect(readCpio(archive)).toEqual([
      { name: "bin", mode: 0o040755, rdev: [0, 0], data: "" },
      { name: "bin/busybox", mode: 0o100755, rdev: [0, 0], data: "abcde" },
      { name: "bin/sh", mode: 0o120777, rdev: [0, 0], data: "busybox" },
      { name: "dev/console", mode: 0o020600, rdev: [5, 1], data: "" },
    ]);
  });
});

describe("end mark", () => {
  const mark = "\n<vm-end-1234>\n";
  const run = (chunks: string[]): { out: string; ended: boolean } => {
    const f = new UntilMark(mark);
    let out = "";
    for (const c of chunks) out += new TextDecoder().decode(f.push(new TextEncoder().encode(c)));
    return { out, ended: f.ended };
  };

  test("output before the mark passes whole, the mark and what follows do not", () => {
    expect(run([`hello\nworld${mark}late`])).toEqual({ out: "hello\nworld", ended: true });
  });

  test("a mark split across chunks is still found, byte by byte too", () => {
    const all = `abc${mark}`;
    expect(run([all.slice(0, 5), all.slice(5, 9), all.slice(9)])).toEqual({ out: "abc", ended: true });
    expect(run([...all])).toEqual({ out: "abc", ended: true });
  });

  test("text that only starts like the mark is held back until it is not the mark", () => {
    const f = new UntilMark(mark);
    const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
    expect(dec(f.push(new TextEncoder().encode("x\n<vm-e")))).toBe("x");
    // The last newline could begin the mark.
    expect(dec(f.push(new TextEncoder().encode("nd-99>\n")))).toBe("\n<vm-end-99>");
    expect(dec(f.push(new TextEncoder().encode("<vm")))).toBe("");
    expect(dec(f.flush())).toBe("\n<vm");
    expect(f.ended).toBe(false);
  });
});

describe("modules", () => {
  const dep = parseModulesDep(
    [
      "kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/netfs/netfs.ko",
      "kernel/net/9p/9pnet.ko:",
      "kernel/fs/netfs/netfs.ko:",
      "kernel/net/9p/9pnet_virtio.ko: kernel/drivers/virtio/virtio.ko kernel/net/9p/9pnet.ko",
      "kernel/drivers/virtio/virtio.ko:",
      "kernel/drivers/net/tun.ko.xz:",
      "",
    ].join("\n"),
  );

  test("dependencies load first, each once", () => {
    expect(loadOrder(dep, ["9p", "9pnet_virtio", "tun"], new Set())).toEqual([
      "kernel/net/9p/9pnet.ko",
      "kernel/fs/netfs/netfs.ko",
      "kernel/fs/9p/9p.ko",
      "kernel/drivers/virtio/virtio.ko",
      "kernel/net/9p/9pnet_virtio.ko",
      "kernel/drivers/net/tun.ko.xz",
    ]);
  });

  test("built-in modules are skipped; unknown ones are an error", () => {
    expect(loadOrder(dep, ["overlay"], parseBuiltin("kernel/fs/overlayfs/overlay.ko\n"))).toEqual([]);
    expect(() => loadOrder(dep, ["overlay"], new Set())).toThrow("kernel module overlay not found");
  });
});

describe("options", () => {
  test("options before the command, the command kept whole after --", () => {
    const a = parseArgs(["--memory", "1G", "--cpus=3", "--timeout", "90s", "--env", "A=b=c", "--env", "HOSTVAR", "--", "sh", "-c", "--x"], { HOSTVAR: "h" });
    expect(a).toMatchObject({ memory: "1G", cpus: 3, timeoutMs: 90_000, env: { A: "b=c", HOSTVAR: "h" }, command: ["sh", "-c", "--x"] });
  });

  test("the command may start without --; bad values are errors", () => {
    expect(parseArgs(["--timeout", "20m", "true", "--verbose"], {})).toMatchObject({ timeoutMs: 1_200_000, verbose: false, command: ["true", "--verbose"] });
    expect(() => parseArgs(["--timeout", "soon", "true"], {})).toThrow("vm: --timeout:");
    expect(() => parseArgs(["--env", "1X=2", "true"], {})).toThrow("not a variable name");
    expect(() => parseArgs(["--verbose"], {})).toThrow("vm: command: missing");
  });

  test("--arch picks amd64 (the default) or arm64, and nothing else", () => {
    expect(parseArgs(["true"], {})).toMatchObject({ arch: "amd64" });
    expect(parseArgs(["--arch", "arm64", "--suite", "bookworm", "--", "true"], {})).toMatchObject({ arch: "arm64", suite: "bookworm", command: ["true"] });
    expect(() => parseArgs(["--arch", "aarch64", "true"], {})).toThrow('vm: --arch: "aarch64" is not amd64 or arm64');
  });
});

const apt = existsSync("/usr/bin/apt-get");
if (!apt) console.warn("skipping the kernel download failure test: apt-get is not installed");

describe("kernel failures", () => {
  /** ensureKernel's error for `pkg` in an empty cache made by `prepare`. */
  const failure = (pkg: string, prepare: (cache: string) => void = () => {}): VmError => {
    const cache = mkdtempSync(join(tmpdir(), "bunker-vm-kernel-"));
    try {
      prepare(cache);
      ensureKernel(cache, "/bin/busybox", pkg);
    } catch (e) {
      if (e instanceof VmError) return e;
      throw e;
    } finally {
      rmSync(cache, { recursive: true, force: true });
    }
    throw new Error(`ensureKernel(${pkg}) did not fail`);
  };

  test.skipIf(!apt)("a package the mirror does not have: kernel unavailable, status 69 (the one failure CI may skip)", () => {
    const e = failure("linux-image-0.0.0-nonexistent-amd64");
    expect([e.what, e.status]).toEqual(["kernel unavailable", EXIT_UNAVAILABLE]);
    expect(e.message).toStartWith("vm: kernel unavailable: apt-get download linux-image-0.0.0-nonexistent-amd64: E: ");
  });

  test("a kernel in the cache that is incomplete is the harness's failure: status 125", () => {
    const e = failure("linux-image-0.0.0-broken-amd64", (cache) => mkdirSync(join(cache, "linux-image-0.0.0-broken-amd64")));
    expect([e.what, e.status]).toEqual(["kernel", EXIT_SETUP]);
    expect(e.message).toContain("is incomplete");
  });
});

describe("initramfs helpers", () => {
  test("only paths a fresh /tmp or /run would hide are kept, outermost first", () => {
    expect(keepVisible(["/work/main", "/work/main/test"])).toEqual([]);
    expect(keepVisible(["/tmp/ci/sub", "/tmp/ci", "/run"])).toEqual(["/tmp/ci"]);
  });

  test("shared directories: outermost only, each once", () => {
    expect(outermost(["/work/wt/a/sub", "/work/wt/a", "/work/main/node_modules", "/work/wt/a"])).toEqual(["/work/wt/a", "/work/main/node_modules"]);
    expect(outermost(["/tmp/x", "/tmp/xy"])).toEqual(["/tmp/x", "/tmp/xy"]);
  });

  test("shell quoting survives quotes", () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
  });
});

describe("the arm64 set", () => {
  test("every name of the reduced set is a test of its file (bun counts a name that matches none as filtered out, not failed)", () => {
    const root = join(import.meta.dir, "..", "..");
    const missing: string[] = [];
    for (const [file, names] of Object.entries(REDUCED)) {
      expect(FILES).toContain(file);
      const text = readFileSync(join(root, file), "utf8");
      const tests = [...text.matchAll(/\b(?:test|each)(?:\.\w+\([^)]*\))?\(\s*"((?:[^"\\]|\\.)*)"/g)].map((m) => JSON.parse(`"${m[1]}"`) as string);
      for (const name of names) if (!tests.some((t) => t.includes(name))) missing.push(`${file}: ${name}`);
    }
    expect(missing).toEqual([]);
  });
});
