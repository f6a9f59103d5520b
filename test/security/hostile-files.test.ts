// Files a hostile image, a hostile container or a careless user hands to
// bunker: a FIFO where a file is read blocks the reader forever, a device or
// a directory is not what was meant, a huge file is cut short. Each must be a
// one-line 125 error naming the path, or be mounted over untouched, never a
// hang. Every case runs as root and rootless, each bunker with a deadline.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNKER, isRoot, requireBinary } from "../helpers/bunker";
import { busyboxAvailable, makeRootfs, type Rootfs, giveRootfs } from "../helpers/rootfs";
import { guardLeaks } from "../helpers/suite";
import { createUser, publicBinary, removeUser, type TestUser } from "../helpers/users";

const ready = isRoot && busyboxAvailable() && existsSync("/usr/bin/newuidmap") && existsSync("/usr/bin/setpriv") && existsSync("/usr/bin/mkfifo");
if (!ready) console.warn("skipping the hostile files suite: it needs root (to make a test user), busybox-static, uidmap, setpriv and mkfifo");

/** Long enough for any start on a loaded machine; a hang is what runs into it. */
const DEADLINE_MS = 15_000;

interface Mode {
  name: string;
  uid: number;
  gid: number;
  fs: Rootfs;
}

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Whether bunker had to be killed at the deadline. */
  hung: boolean;
}

let user: TestUser;
let bin: { path: string; dir: string };
/** Files named on the command line, where both modes can reach them. */
let shared: string;
const modes: Mode[] = [];

// Before the file's own hooks: its snapshot comes first, its check before the users and files go.
const guard = guardLeaks(ready);

beforeAll(() => {
  if (!ready) return;
  requireBinary();
  user = createUser("bunker-ci-files", true);
  bin = publicBinary(BUNKER);
  shared = mkdtempSync("/tmp/bunker-hostile-");
  chmodSync(shared, 0o755);
  const rootFs = makeRootfs();
  const userFs = makeRootfs();
  giveRootfs(userFs, user);
  modes.push({ name: "root", uid: 0, gid: 0, fs: rootFs }, { name: "rootless", uid: user.uid, gid: user.gid, fs: userFs });
});

afterAll(async () => {
  if (!ready) return;
  await guard.check(() => {
    for (const m of modes) m.fs.remove();
    rmSync(bin.dir, { recursive: true, force: true });
    rmSync(shared, { recursive: true, force: true });
    removeUser(user);
  });
});

/** bunker as the mode's user, killed (SIGKILL: the set-up child blocks the others) if it outlives the deadline. */
function run(m: Mode, args: string[]): Outcome {
  const started = Date.now();
  const r = Bun.spawnSync(["setpriv", `--reuid=${m.uid}`, `--regid=${m.gid}`, "--init-groups", bin.path, ...args], {
    env: { PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin" },
    cwd: bin.dir,
    stdout: "pipe",
    stderr: "pipe",
    timeout: DEADLINE_MS,
    killSignal: "SIGKILL",
  });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString(), hung: Date.now() - started >= DEADLINE_MS };
}

/** Replaces `path` with a FIFO (or a directory, or a big file) owned by the mode's user; returns the undo. */
function replace(m: Mode, path: string, kind: "fifo" | "dir" | "big"): () => void {
  const saved = existsSync(path) ? readFileSync(path) : undefined;
  rmSync(path, { recursive: true, force: true });
  if (kind === "fifo") expect(Bun.spawnSync(["mkfifo", "-m", "644", path]).exitCode).toBe(0);
  else if (kind === "dir") mkdirSync(path);
  else writeFileSync(path, `root:x:0:0:root:/root:/bin/sh\n${"#".repeat(1 << 20)}\n`);
  chownSync(path, m.uid, m.gid);
  return () => {
    rmSync(path, { recursive: true, force: true });
    if (saved !== undefined) {
      writeFileSync(path, saved);
      chownSync(path, m.uid, m.gid);
    }
  };
}

const each = (name: string, fn: (m: Mode) => void | Promise<void>) => {
  for (const mode of ["root", "rootless"]) {
    test.skipIf(!ready)(`${name} (${mode})`, () => fn(modes.find((m) => m.name === mode)!), 8 * DEADLINE_MS);
  }
};

const REASONS = { fifo: "not a regular file (a FIFO)", dir: "not a regular file (a directory)", big: "too large (over 1 MiB)" };

describe("hostile files", () => {
  each("the rootfs's /etc/passwd or /etc/group as a FIFO, a directory or a huge file is a 125 error, with and without --user", (m) => {
    for (const name of ["passwd", "group"]) {
      for (const kind of ["fifo", "dir", "big"] as const) {
        const path = join(m.fs.path, "etc", name);
        const undo = replace(m, path, kind);
        try {
          for (const extra of [[], ["--user", "root"]]) {
            const r = run(m, ["run", "--rm", "--network", "none", ...extra, "--rootfs", m.fs.path, "--", "true"]);
            expect([name, kind, extra, r.hung, r.code, r.stderr]).toEqual([name, kind, extra, false, 125, `bunker: ${path}: ${REASONS[kind]}\n`]);
          }
        } finally {
          undo();
        }
      }
    }
    // Control: the same runs with the files as they were.
    const r = run(m, ["run", "--rm", "--network", "none", "--user", "root", "--rootfs", m.fs.path, "--", "true"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
  });

  each("a FIFO as the rootfs's /etc/hostname, /etc/hosts or /etc/resolv.conf is mounted over, and left as it was", (m) => {
    const names = ["hostname", "hosts", "resolv.conf"];
    const undos = names.map((n) => replace(m, join(m.fs.path, "etc", n), "fifo"));
    try {
      // --network host: the host's resolv.conf is bound in too, besides the generated hostname and hosts.
      const r = run(m, ["run", "--rm", "--network", "host", "--hostname", "box", "--rootfs", m.fs.path, "--", "sh", "-c", "cat /etc/hostname; grep -c box /etc/hosts; cat /etc/resolv.conf"]);
      expect([r.hung, r.code, r.stderr]).toEqual([false, 0, ""]);
      expect(r.stdout).toBe(`box\n1\n${readFileSync("/etc/resolv.conf", "utf8")}`);
      for (const n of names) expect(lstatSync(join(m.fs.path, "etc", n)).isFIFO()).toBe(true);
    } finally {
      for (const undo of undos) undo();
    }
  });

  each("a container that makes its own /etc/passwd a FIFO cannot hang exec -u", (m) => {
    const passwd = join(m.fs.path, "etc/passwd");
    const saved = readFileSync(passwd);
    const started = run(m, ["run", "-d", "--network", "none", "--rootfs", m.fs.path, "--", "sleep", "1000"]);
    expect([started.code, started.stderr]).toEqual([0, ""]);
    const id = started.stdout.trim();
    try {
      // Control: before, a user from the container's passwd resolves.
      expect(run(m, ["exec", "-u", "nobody", id, "true"]).code).toBe(0);
      const made = run(m, ["exec", id, "sh", "-c", "rm /etc/passwd && mkfifo /etc/passwd"]);
      expect([made.code, made.stderr]).toEqual([0, ""]);
      const r = run(m, ["exec", "-u", "nobody", id, "true"]);
      expect([r.hung, r.code]).toEqual([false, 125]);
      expect(r.stderr).toMatch(/^bunker: read \/etc\/passwd in \/proc\/\d+\/root: not a regular file \(a FIFO\)\n$/);
    } finally {
      run(m, ["rm", "-f", id]);
      rmSync(passwd, { force: true });
      writeFileSync(passwd, saved);
      chownSync(passwd, m.uid, m.gid);
    }
  });

  each("--env-file, --security-opt seccomp= and --network ns: given a FIFO are 125 errors, not hangs", (m) => {
    const fifo = join(shared, `fifo-${m.name}`);
    expect(Bun.spawnSync(["mkfifo", "-m", "666", fifo]).exitCode).toBe(0);
    try {
      const cases: [string[], string][] = [
        [["--env-file", fifo], `bunker: env file ${fifo}: not a regular file (a FIFO)\n`],
        [["--security-opt", `seccomp=${fifo}`], `bunker: seccomp profile ${fifo}: not a regular file (a FIFO)\n`],
        [["--network", `ns:${fifo}`], `bunker: open the network namespace ${fifo}: not a namespace file (a FIFO)\n`],
      ];
      for (const [flags, err] of cases) {
        const r = run(m, ["run", "--rm", ...flags, "--rootfs", m.fs.path, "--", "true"]);
        expect([flags, r.hung, r.code, r.stderr]).toEqual([flags, false, 125, err]);
      }
    } finally {
      rmSync(fifo, { force: true });
    }
  });

  each("exec --ns with a FIFO among the pinned files is a 125 error, not a hang", (m) => {
    const dir = join(shared, `pins-${m.name}`);
    mkdirSync(dir);
    expect(Bun.spawnSync(["mkfifo", "-m", "666", join(dir, "net")]).exitCode).toBe(0);
    try {
      const r = run(m, ["exec", "--ns", dir, "true"]);
      // Only namespaces mounted in a pin directory count: the FIFO is never opened.
      expect([r.hung, r.code, r.stderr]).toEqual([false, 125, `bunker: no pinned namespaces in ${dir}\n`]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
