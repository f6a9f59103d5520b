// Unprivileged users for rootless tests: one with subordinate ID ranges, one
// without. Made at setup, removed at teardown, with their subuid/subgid lines.

import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TestUser {
  name: string;
  uid: number;
  gid: number;
  /** First subordinate ID (same for UIDs and GIDs), when the user has a range. */
  subStart?: number;
  subCount?: number;
}

const SUBFILES = ["/etc/subuid", "/etc/subgid"];

function dropLines(name: string): void {
  for (const f of SUBFILES) {
    let text = "";
    try {
      text = readFileSync(f, "utf8");
    } catch {
      continue;
    }
    writeFileSync(f, text.split("\n").filter((l) => l !== "" && !l.startsWith(`${name}:`)).map((l) => `${l}\n`).join(""));
  }
}

function freeStart(): number {
  let end = 1_000_000;
  for (const f of SUBFILES) {
    try {
      for (const l of readFileSync(f, "utf8").split("\n")) {
        const [, s, c] = l.split(":");
        if (s && c) end = Math.max(end, Number(s) + Number(c));
      }
    } catch {
      // a missing file has no ranges
    }
  }
  return Math.ceil(end / 65536) * 65536;
}

function idOf(name: string): { uid: number; gid: number } {
  const out = Bun.spawnSync(["id", "-u", name]).stdout.toString().trim();
  const gid = Bun.spawnSync(["id", "-g", name]).stdout.toString().trim();
  return { uid: Number(out), gid: Number(gid) };
}

export function createUser(name: string, withRanges: boolean): TestUser {
  if (!Bun.spawnSync(["id", name], { stderr: "ignore" }).success) {
    const r = Bun.spawnSync(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", name], { stderr: "pipe" });
    if (!r.success) throw new Error(`useradd ${name}: ${r.stderr.toString()}`);
  }
  // useradd may have given the user ranges already: start from a known state.
  dropLines(name);
  const user: TestUser = { name, ...idOf(name) };
  if (withRanges) {
    const start = freeStart();
    for (const f of SUBFILES) writeFileSync(f, `${name}:${start}:65536\n`, { flag: "a" });
    user.subStart = start;
    user.subCount = 65536;
  }
  return user;
}

export function removeUser(u: TestUser): void {
  dropLines(u.name);
  // userdel refuses (status 8) while a process of the user exists, a helper's exited child not yet reaped included.
  const end = Date.now() + 5000;
  while (Bun.spawnSync(["userdel", u.name], { stderr: "ignore" }).exitCode === 8) {
    if (Date.now() > end) throw new Error(`userdel ${u.name}: a process of the user still runs after 5 s`);
    Bun.sleepSync(20);
  }
  rmSync(`/tmp/bunker-${u.uid}`, { recursive: true, force: true });
  rmSync(`/dev/shm/bunker-${u.uid}`, { recursive: true, force: true });
  rmSync(`/tmp/bun-cc-${u.uid}`, { recursive: true, force: true });
}

/** A copy of the executable every user can run (the checkout may be private). */
export function publicBinary(bin: string): { path: string; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), "bunker-bin-"));
  chmodSync(dir, 0o755);
  const path = join(dir, "bunker");
  copyFileSync(bin, path);
  chmodSync(path, 0o755);
  return { path, dir };
}

export interface AsResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command as `u`, with exactly `env` as its environment. */
export function runAs(u: TestUser, cmd: string[], env: Record<string, string> = {}, cwd?: string): AsResult {
  const r = Bun.spawnSync(["setpriv", `--reuid=${u.uid}`, `--regid=${u.gid}`, "--init-groups", ...cmd], {
    env: { PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", ...env },
    cwd,
    stdout: "pipe",
    stderr: "pipe",
    // A hang is a failure of its own, not a suite that never ends.
    timeout: 120_000,
    killSignal: "SIGKILL",
  });
  return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}
