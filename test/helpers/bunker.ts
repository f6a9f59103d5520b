// Running the built executable the way a user does.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

export const ROOT = join(import.meta.dir, "..", "..");
export const BUNKER = process.env.BUNKER_BIN ?? join(ROOT, "dist", "bunker");

export function requireBinary(): void {
  if (!existsSync(BUNKER)) throw new Error(`${BUNKER} is missing: build it first with \`bun run build\``);
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

export function bunker(args: string[], opts: { env?: Record<string, string>; cwd?: string; stdin?: string } = {}): Result {
  const r = Bun.spawnSync([BUNKER, ...args], {
    env: opts.env ?? { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    cwd: opts.cwd,
    stdin: opts.stdin !== undefined ? new TextEncoder().encode(opts.stdin) : "ignore",
    stdout: "pipe",
    stderr: "pipe",
    // A hang is a failure of its own, not a suite that never ends.
    timeout: 180_000,
    killSignal: "SIGKILL",
  });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

export const isRoot = process.geteuid?.() === 0;

/** Skips with a printed reason rather than passing silently. */
export function skipUnlessRoot(what: string): boolean {
  if (!isRoot) console.warn(`skipping ${what}: needs root (running as uid ${process.geteuid?.()})`);
  return !isRoot;
}

/** Waits until `pred` holds, polling; fails after `ms`. */
export async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(10);
  }
}

/**
 * Shell for inside a --init container: waits (2 s at most) until PID 1 has
 * exec'd native/init.c, just after the command started, and has set itself up.
 * Until the exec it is a non-dumpable copy of bunker, whose /proc/1/exe cannot
 * be read; after it, init rewrites its command line and then names itself
 * "init", so the name is the last step.
 */
export const NATIVE_INIT_READY =
  'i=0; until { readlink /proc/1/exe && [ "$(cat /proc/1/comm)" = init ]; } > /dev/null 2>&1 || [ $i -ge 200 ]; do sleep 0.01; i=$((i + 1)); done';

/** Whether process `pid` exists and has not exited (a zombie counts as gone). */
export function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !"ZX".includes(stat.slice(stat.lastIndexOf(")") + 2)[0]!);
  } catch {
    return false;
  }
}

/** `args` for bunker run on the host's own files (--host-root), unless they name a root filesystem themselves. */
export function onHostRoot(args: readonly string[]): string[] {
  return args.some((a) => a === "--rootfs" || a === "--root" || a.startsWith("--rootfs=")) ? [...args] : ["--host-root", ...args];
}

/**
 * What a detached container wrote, stdout and stderr as its log recorded
 * them (docker's json-file lines in STATE/ID/container.log), "" before it
 * has written anything.
 */
export function containerLog(stateDir: string, id: string): string {
  const path = `${stateDir}/${id}/container.log`;
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    // nothing written yet, or the container is gone
    return "";
  }
  return text
    .split("\n")
    .filter((l) => l.endsWith("}"))
    .map((l) => (JSON.parse(l) as { log: string }).log)
    .join("");
}
