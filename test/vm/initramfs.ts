// The guest's initramfs: static busybox, the modules needed to reach the host's root (virtio,
// 9p, overlay) and init.sh. Built in memory for every run, since it carries the run's command.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { cpio, type Entry } from "./cpio";
import { VmError } from "./fail";
import type { Kernel } from "./kernel";
import { loadOrder, parseBuiltin, parseModulesDep } from "./modules";

/**
 * virtio_pci and virtio_console: the PCI transport and the serial ports stage2.sh writes to;
 * 9pnet_virtio, 9p, overlay: the root; tun: /dev/net/tun exists only once it is loaded, and
 * nothing asks for it by name, so modprobe would never load it.
 */
const MODULES = ["virtio_pci", "virtio_console", "9pnet_virtio", "9p", "overlay", "tun"];

export interface Job {
  /** the working directory, a path on the host and so in the guest */
  cwd: string;
  env: Record<string, string>;
  argv: string[];
  /** the line that ends each output stream, unguessable by the command */
  mark: string;
}

export interface InitramfsOptions {
  kernel: Kernel;
  /** the static busybox's path in the guest's root */
  busybox: string;
  /** where the harness reads that busybox from, when the guest's root is not the host's (arm64) */
  busyboxFile?: string;
  /** directories that must stay visible although they are under /tmp or /run */
  keep: string[];
  /**
   * Host directories shown at their own paths from the second share (hostfs), each under an
   * overlay of its own: the repository in a guest whose root is not the host's.
   */
  shares?: string[];
  hostname: string;
  /** the 9p message size: bigger means fewer round trips per read of a large binary */
  msize: number;
  job: Job;
}

/** Where init.sh mounts fresh file systems over what the shared host root has. */
const FRESH = ["/tmp", "/run", "/dev", "/proc", "/sys"];

/** Of `paths`, the outermost ones: a directory inside another that is shown anyway is not shown twice. */
export function outermost(paths: string[]): string[] {
  const out: string[] = [];
  for (const p of [...new Set(paths)].sort((x, y) => x.length - y.length)) if (!out.some((k) => p === k || p.startsWith(`${k}/`))) out.push(p);
  return out;
}

/** Of `paths` (the repository, the working directory), those a fresh mount would hide, outermost only. */
export function keepVisible(paths: string[]): string[] {
  const keep: string[] = [];
  for (const p of [...new Set(paths)].sort((x, y) => x.length - y.length)) {
    if (!FRESH.some((f) => p.startsWith(`${f}/`))) continue;
    if (keep.some((k) => p.startsWith(`${k}/`))) continue;
    keep.push(p);
  }
  return keep;
}

export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

function moduleBytes(path: string): Uint8Array {
  // busybox's insmod only takes what it was built to decompress: hand it plain ELF files.
  if (path.endsWith(".ko")) return readFileSync(path);
  if (path.endsWith(".ko.gz")) return Bun.gunzipSync(readFileSync(path));
  if (path.endsWith(".ko.xz")) {
    const r = Bun.spawnSync(["xz", "-dc", path], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    if (!r.success) throw new VmError("initramfs", `xz -dc ${path}: ${r.stderr.toString().trim() || `exit status ${r.exitCode}`} (install xz-utils)`);
    return r.stdout;
  }
  throw new VmError("initramfs", `${path}: compressed in a format the harness does not unpack`);
}

function jobScript(job: Job): string {
  const lines = [`VM_CWD=${shellQuote(job.cwd)}`, `VM_MARK=${shellQuote(job.mark)}`, "vm_env() {"];
  for (const [k, v] of Object.entries(job.env)) lines.push(`\texport ${k}=${shellQuote(v)}`);
  lines.push("}", `set -- ${job.argv.map(shellQuote).join(" ")}`, "");
  return lines.join("\n");
}

export function buildInitramfs(o: InitramfsOptions): Uint8Array {
  for (const p of [...o.keep, ...(o.shares ?? []), o.job.cwd]) if (p.includes("\n")) throw new VmError("initramfs", `path with a newline: ${JSON.stringify(p)}`);
  const db = parseModulesDep(readFileSync(join(o.kernel.modules, "modules.dep"), "utf8"));
  let builtin = new Set<string>();
  try {
    builtin = parseBuiltin(readFileSync(join(o.kernel.modules, "modules.builtin"), "utf8"));
  } catch {
    // Without the list every module must be a file.
  }
  let order: string[];
  try {
    order = loadOrder(db, MODULES, builtin);
  } catch (e) {
    throw new VmError("initramfs", (e as Error).message);
  }
  const enc = new TextEncoder();
  const here = import.meta.dir;
  const config = [
    `VM_BUSYBOX=${shellQuote(o.busybox)}`,
    `VM_RELEASE=${shellQuote(o.kernel.release)}`,
    `VM_MODULES=${shellQuote(o.kernel.modules)}`,
    `VM_MSIZE=${o.msize}`,
    `VM_HOSTNAME=${shellQuote(o.hostname)}`,
    "",
  ].join("\n");
  const names = order.map((p) => p.slice(p.lastIndexOf("/") + 1).replace(/\.(xz|gz)$/, ""));
  const entries: Entry[] = [
    { kind: "dir", path: "bin" },
    { kind: "dir", path: "dev" },
    // The kernel opens /dev/console for init's stdin, stdout and stderr before anything is mounted.
    { kind: "chardev", path: "dev/console", major: 5, minor: 1 },
    { kind: "dir", path: "proc" },
    { kind: "dir", path: "sys" },
    { kind: "dir", path: "lib" },
    { kind: "dir", path: "lib/modules" },
    { kind: "dir", path: "vm" },
    { kind: "file", path: "bin/busybox", data: readFileSync(o.busyboxFile ?? o.busybox), mode: 0o755 },
    { kind: "file", path: "init", data: readFileSync(join(here, "init.sh")), mode: 0o755 },
    { kind: "file", path: "vm/stage2.sh", data: readFileSync(join(here, "stage2.sh")) },
    { kind: "file", path: "vm/config", data: enc.encode(config) },
    { kind: "file", path: "vm/modules", data: enc.encode(names.map((n) => `${n}\n`).join("")) },
    { kind: "file", path: "vm/keep", data: enc.encode(o.keep.map((p) => `${p}\n`).join("")) },
    { kind: "file", path: "vm/shares", data: enc.encode((o.shares ?? []).map((p) => `${p}\n`).join("")) },
    { kind: "file", path: "vm/job", data: enc.encode(jobScript(o.job)) },
  ];
  order.forEach((p, i) => entries.push({ kind: "file", path: `lib/modules/${names[i]}`, data: moduleBytes(join(o.kernel.modules, p)) }));
  return cpio(entries);
}
