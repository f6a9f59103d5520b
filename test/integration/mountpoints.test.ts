// Mount points bunker creates in a user's rootfs directory (etc/hostname,
// etc/hosts, volume and tmpfs targets and their parents, a missing /proc,
// /dev or /sys) are gone again when the container ends, also after bunker
// is killed, and never while another container still mounts on them; and
// the sandbox without a rootfs keeps nothing of the host's mounts below its
// own /run, /tmp and /dev. As root and rootless.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, chownSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNKER, isRoot, requireBinary, until } from "../helpers/bunker";
import { busyboxAvailable, makeRootfs, type Rootfs, giveRootfs } from "../helpers/rootfs";
import { guardLeaks } from "../helpers/suite";
import { createUser, publicBinary, removeUser, type TestUser } from "../helpers/users";

const ready = isRoot && busyboxAvailable() && existsSync("/usr/bin/newuidmap") && existsSync("/usr/bin/setpriv");
if (!ready) console.warn("skipping mount point tests: they need root (to make a test user), busybox-static, uidmap and setpriv");

interface Mode {
  name: string;
  uid: number;
  gid: number;
  /** Where this mode's bunker keeps its state. */
  state: string;
}

let user: TestUser;
let bin: { path: string; dir: string };
/** Volume sources both modes can read: a file and a directory. */
let src: { dir: string; file: string; sub: string };
const modes: Mode[] = [];

// Before the file's own hooks: its snapshot comes first, its check before the users and files go.
const guard = guardLeaks(ready);

beforeAll(() => {
  if (!ready) return;
  requireBinary();
  user = createUser("bunker-ci-mounts", true);
  bin = publicBinary(BUNKER);
  const dir = mkdtempSync("/tmp/bunker-mp-src-");
  chmodSync(dir, 0o755);
  src = { dir, file: join(dir, "file"), sub: join(dir, "sub") };
  writeFileSync(src.file, "file volume\n", { mode: 0o644 });
  mkdirSync(src.sub, { mode: 0o755 });
  writeFileSync(join(src.sub, "inside"), "dir volume\n", { mode: 0o644 });
  modes.push({ name: "root", uid: 0, gid: 0, state: "/run/bunker" }, { name: "rootless", uid: user.uid, gid: user.gid, state: `/tmp/bunker-${user.uid}` });
});

afterAll(async () => {
  if (!ready) return;
  await guard.check(() => {
    rmSync(bin.dir, { recursive: true, force: true });
    rmSync(src.dir, { recursive: true, force: true });
    removeUser(user);
  });
});

const argvAs = (m: Mode, args: string[]) => ["setpriv", `--reuid=${m.uid}`, `--regid=${m.gid}`, "--init-groups", bin.path, ...args];
const ENV = { PATH: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin" };

function run(m: Mode, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = Bun.spawnSync(argvAs(m, args), { env: ENV, cwd: bin.dir, stdout: "pipe", stderr: "pipe", timeout: 20_000, killSignal: "SIGKILL" });
  return { code: r.exitCode, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

/** A busybox rootfs without /proc, /dev, /sys, etc/hostname and etc/hosts, owned by the mode's user. */
function bareRootfs(m: Mode): Rootfs {
  const fs = makeRootfs();
  for (const d of ["proc", "dev", "sys"]) rmSync(join(fs.path, d), { recursive: true });
  giveRootfs(fs, m);
  return fs;
}

/** Every entry of a tree with its type and mode, and the size of files and the target of links: what a run must not change. */
function listing(root: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const path = join(rel, name);
      const st = lstatSync(join(root, path));
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isDirectory()) {
        out.push(`${path} dir ${mode}`);
        walk(path);
      } else if (st.isSymbolicLink()) out.push(`${path} link -> ${readlinkSync(join(root, path))}`);
      else if (st.isFile()) out.push(`${path} file ${mode} ${st.size}`);
      else out.push(`${path} other ${mode}`);
    }
  };
  walk("");
  return out;
}

/** The records bunker keeps in its state directory of what it made in `root` (none once nothing is pending). */
const records = (m: Mode, root: string) => {
  let names: string[] = [];
  try {
    names = readdirSync(join(m.state, "rootfs")).filter((n) => n.endsWith(".json"));
  } catch {
    // none yet
  }
  return names.filter((n) => JSON.parse(readFileSync(join(m.state, "rootfs", n), "utf8")).root === root);
};

const VOLUMES = () => ["-v", `${src.file}:/data/x/file`, "-v", `${src.sub}:/vol/d`, "--tmpfs", "/scratch/t"];

const each = (name: string, fn: (m: Mode) => void | Promise<void>) => {
  for (const mode of ["root", "rootless"]) test.skipIf(!ready)(`${name} (${mode})`, () => fn(modes.find((m) => m.name === mode)!), 60_000);
};

/** Starts bunker in the foreground, in the background; resolves once the container printed "ready". */
async function startForeground(m: Mode, args: string[]) {
  const proc = Bun.spawn(argvAs(m, args), { env: ENV, cwd: bin.dir, stdout: "pipe", stderr: "pipe" });
  const reader = proc.stdout.getReader();
  let out = "";
  const deadline = Date.now() + 20_000;
  while (!out.includes("ready")) {
    const { value, done } = await reader.read();
    if (done || Date.now() > deadline) throw new Error(`container did not get ready: ${out} ${await new Response(proc.stderr).text()}`);
    out += new TextDecoder().decode(value);
  }
  return proc;
}

function bunkerChildren(pid: number): number[] {
  const out: number[] = [];
  const visit = (p: number) => {
    let kids: number[] = [];
    try {
      kids = readFileSync(`/proc/${p}/task/${p}/children`, "utf8").trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      // gone
    }
    for (const k of kids) {
      out.push(k);
      visit(k);
    }
  };
  visit(pid);
  return out;
}

describe("mount points bunker creates in a rootfs directory", () => {
  each("are removed after the run: the rootfs is as it was, entry for entry", (m) => {
    const fs = bareRootfs(m);
    try {
      const was = listing(fs.path);
      const r = run(m, [
        "run", "--rm", "--network", "none", "--hostname", "box", ...VOLUMES(), "--rootfs", fs.path, "--",
        "sh", "-c", "cat /etc/hostname /data/x/file /vol/d/inside; grep -c ' /scratch/t ' /proc/self/mountinfo; ls -d /proc/1 /dev/null /sys/kernel",
      ]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(r.stdout).toBe("box\nfile volume\ndir volume\n1\n/dev/null\n/proc/1\n/sys/kernel\n");
      expect(listing(fs.path)).toEqual(was);
      expect(records(m, fs.path)).toEqual([]);
    } finally {
      fs.remove();
    }
  });

  each("a container keeps its mounts while another one that shared its rootfs ends", async (m) => {
    const fs = bareRootfs(m);
    const ids: string[] = [];
    try {
      const was = listing(fs.path);
      for (const name of ["first", "second"]) {
        const r = run(m, ["run", "-d", "--network", "none", "--hostname", name, ...VOLUMES(), "--rootfs", fs.path, "--", "sleep", "1000"]);
        expect([r.code, r.stderr]).toEqual([0, ""]);
        ids.push(r.stdout.trim());
      }
      // The first container made the mount points; the second mounts on them too. The first ends.
      expect(run(m, ["kill", ids[0]!]).code).toBe(0);
      expect(run(m, ["wait", ids[0]!]).stdout).toBe("137\n");
      const second = JSON.parse(run(m, ["inspect", ids[1]!]).stdout)[0];
      expect(second.status).toBe("running");
      const inside = `/proc/${second.pid}/root`;
      expect(readFileSync(`${inside}/etc/hostname`, "utf8")).toBe("second\n");
      expect(readFileSync(`${inside}/data/x/file`, "utf8")).toBe("file volume\n");
      expect(readFileSync(`${inside}/vol/d/inside`, "utf8")).toBe("dir volume\n");
      expect(listing(fs.path)).not.toEqual(was);
      // The last one out removes them.
      expect(run(m, ["kill", ids[1]!]).code).toBe(0);
      expect(run(m, ["wait", ids[1]!]).stdout).toBe("137\n");
      expect(listing(fs.path)).toEqual(was);
      expect(records(m, fs.path)).toEqual([]);
    } finally {
      if (ids.length) run(m, ["rm", "-f", ...ids]);
      fs.remove();
    }
  });

  // Whoever can change the path to the rootfs (its owner, rootless) puts a symlink to another
  // directory in its place while the container runs: the clean-up at its end, done with the
  // caller's rights, must not reach through it.
  each("a rootfs path replaced by a symlink meanwhile: nothing is removed where it leads now", (m) => {
    const fs = bareRootfs(m);
    const parent = join(fs.path, "..");
    const victim = join(parent, "victim");
    let id = "";
    try {
      const r = run(m, ["run", "-d", "--network", "none", "--rootfs", fs.path, "--", "sleep", "1000"]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      id = r.stdout.trim();
      // Empty files where the container's mount points are: what the clean-up would take for its own.
      mkdirSync(join(victim, "etc"), { recursive: true });
      for (const f of ["etc/hostname", "etc/hosts"]) writeFileSync(join(victim, f), "");
      mkdirSync(join(victim, "proc"));
      Bun.spawnSync(["mv", fs.path, join(parent, "moved")]);
      Bun.spawnSync(["ln", "-s", victim, fs.path]);
      expect(run(m, ["kill", id]).code).toBe(0);
      expect(run(m, ["wait", id]).stdout).toBe("137\n");
      expect([existsSync(join(victim, "etc/hostname")), existsSync(join(victim, "etc/hosts")), existsSync(join(victim, "proc"))]).toEqual([true, true, true]);
    } finally {
      if (id) run(m, ["rm", "-f", id]);
      rmSync(fs.path, { force: true });
      Bun.spawnSync(["mv", join(parent, "moved"), fs.path]);
      fs.remove();
    }
  });

  // The same inside the rootfs: a directory on the way to a mount point (data, of
  // data/x/file) replaced by a symlink to another tree that holds an empty file and
  // directory of the same names. The clean-up follows no symlink on the way.
  each("a directory on the way to a mount point replaced by a symlink meanwhile: nothing is removed where it leads", (m) => {
    const fs = bareRootfs(m);
    const victim = mkdtempSync("/tmp/bunker-mp-victim-");
    let id = "";
    try {
      mkdirSync(join(victim, "x"));
      writeFileSync(join(victim, "x/file"), "");
      for (const [p, mode] of [[victim, 0o755], [join(victim, "x"), 0o755], [join(victim, "x/file"), 0o644]] as const) {
        chmodSync(p, mode);
        chownSync(p, m.uid, m.gid);
      }
      const r = run(m, ["run", "-d", "--network", "none", "-v", `${src.file}:/data/x/file`, "--rootfs", fs.path, "--", "sleep", "1000"]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      id = r.stdout.trim();
      // Control: bunker made the mount point there, an empty file in an empty directory.
      expect([lstatSync(join(fs.path, "data/x")).isDirectory(), lstatSync(join(fs.path, "data/x/file")).isFile(), lstatSync(join(fs.path, "data/x/file")).size]).toEqual([true, true, 0]);
      renameSync(join(fs.path, "data"), join(fs.path, "data.moved"));
      symlinkSync(victim, join(fs.path, "data"));
      expect(run(m, ["kill", id]).code).toBe(0);
      expect(run(m, ["wait", id]).stdout).toBe("137\n");
      expect(listing(victim)).toEqual(["x dir 755", "x/file file 644 0"]);
    } finally {
      if (id) run(m, ["rm", "-f", id]);
      rmSync(victim, { recursive: true, force: true });
      fs.remove();
    }
  });

  each("after bunker is killed with SIGKILL, the next bunker ps removes them", async (m) => {
    const fs = bareRootfs(m);
    try {
      const was = listing(fs.path);
      const proc = await startForeground(m, ["run", "--rm", "--network", "none", ...VOLUMES(), "--rootfs", fs.path, "--", "sh", "-c", "echo ready; exec sleep 1000"]);
      const container = bunkerChildren(proc.pid);
      expect(existsSync(join(fs.path, "etc/hostname"))).toBe(true);
      proc.kill("SIGKILL");
      await proc.exited;
      await until(() => container.every((p) => !existsSync(`/proc/${p}`) || readFileSync(`/proc/${p}/stat`, "utf8").includes(") Z ")), 10_000, "the container to die with bunker");
      // Control: nothing removed them yet.
      expect(listing(fs.path)).not.toEqual(was);
      expect(records(m, fs.path).length).toBe(1);
      expect(run(m, ["ps"]).code).toBe(0);
      expect(listing(fs.path)).toEqual(was);
      expect(records(m, fs.path)).toEqual([]);
    } finally {
      fs.remove();
    }
  });

  each("after a detached container's bunker is killed, bunker rm -f removes them", async (m) => {
    const fs = bareRootfs(m);
    try {
      const was = listing(fs.path);
      const d = run(m, ["run", "-d", "--network", "none", ...VOLUMES(), "--rootfs", fs.path, "--", "sleep", "1000"]);
      expect([d.code, d.stderr]).toEqual([0, ""]);
      const id = d.stdout.trim();
      const st = JSON.parse(readFileSync(join(m.state, id, "state.json"), "utf8"));
      process.kill(st.supervisor, "SIGKILL");
      await until(() => !existsSync(`/proc/${st.pid}`) || readFileSync(`/proc/${st.pid}/stat`, "utf8").includes(") Z "), 10_000, "the container to die with its bunker");
      // Control: nothing removed them yet.
      expect(listing(fs.path)).not.toEqual(was);
      expect(records(m, fs.path).length).toBe(1);
      const r = run(m, ["rm", "-f", id]);
      expect([r.code, r.stdout, r.stderr]).toEqual([0, `${id}\n`, ""]);
      expect(listing(fs.path)).toEqual(was);
      expect(records(m, fs.path)).toEqual([]);
    } finally {
      fs.remove();
    }
  });

  each("a directory volume on a former file volume's target works, also right after a killed run", async (m) => {
    const fs = bareRootfs(m);
    try {
      let r = run(m, ["run", "--rm", "--network", "none", "-v", `${src.file}:/data/x`, "--rootfs", fs.path, "--", "cat", "/data/x"]);
      expect([r.code, r.stdout]).toEqual([0, "file volume\n"]);
      r = run(m, ["run", "--rm", "--network", "none", "-v", `${src.sub}:/data/x`, "--rootfs", fs.path, "--", "cat", "/data/x/inside"]);
      expect([r.code, r.stderr, r.stdout]).toEqual([0, "", "dir volume\n"]);
      // A killed run leaves its file target behind; the next run undoes it before it starts.
      const proc = await startForeground(m, ["run", "--rm", "--network", "none", "-v", `${src.file}:/data/x`, "--rootfs", fs.path, "--", "sh", "-c", "echo ready; exec sleep 1000"]);
      const container = bunkerChildren(proc.pid);
      proc.kill("SIGKILL");
      await proc.exited;
      await until(() => container.every((p) => !existsSync(`/proc/${p}`) || readFileSync(`/proc/${p}/stat`, "utf8").includes(") Z ")), 10_000, "the container to die with bunker");
      expect(lstatSync(join(fs.path, "data/x")).isFile()).toBe(true);
      r = run(m, ["run", "--rm", "--network", "none", "-v", `${src.sub}:/data/x`, "--rootfs", fs.path, "--", "cat", "/data/x/inside"]);
      expect([r.code, r.stderr, r.stdout]).toEqual([0, "", "dir volume\n"]);
      expect(existsSync(join(fs.path, "data"))).toBe(false);
      run(m, ["ps"]);
    } finally {
      fs.remove();
    }
  });
});

describe("mount points of a container whose mount namespace is pinned", () => {
  test.skipIf(!ready)("stay until it is unpinned: the pinned namespace still mounts on them (root; pinning needs root)", () => {
    const m = modes.find((x) => x.name === "root")!;
    const fs = bareRootfs(m);
    const pins = mkdtempSync("/tmp/bunker-mp-pins-");
    try {
      const was = listing(fs.path);
      let r = run(m, ["run", "--rm", "--network", "none", "--hostname", "pinned", "--pin", `${pins}/ns`, "--rootfs", fs.path, "--", "true"]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      // The container is gone; its mount namespace is not, and its /etc/hostname is still mounted there.
      r = run(m, ["exec", "--ns", `${pins}/ns`, "cat", "/etc/hostname"]);
      expect([r.code, r.stdout]).toEqual([0, "pinned\n"]);
      expect(run(m, ["ps"]).code).toBe(0);
      expect(listing(fs.path)).not.toEqual(was);
      expect(run(m, ["ns", "unpin", `${pins}/ns`]).code).toBe(0);
      // unpin itself, the namespace's last user going, removes them; a later command finds nothing to do.
      expect(listing(fs.path)).toEqual(was);
      expect(records(m, fs.path)).toEqual([]);
      expect(run(m, ["ps"]).code).toBe(0);
      expect(listing(fs.path)).toEqual(was);
      expect(records(m, fs.path)).toEqual([]);
    } finally {
      run(m, ["ns", "unpin", `${pins}/ns`]);
      rmSync(pins, { recursive: true, force: true });
      fs.remove();
    }
  });
});

describe("the sandbox without a rootfs", () => {
  each("keeps no host mount below its own /run, /tmp and /dev (rootless: the kernel keeps them, locked and covered)", (m) => {
    const made = [`/run/bunker-hostmount-${process.pid}`, `/run/bunker-hostmount-${process.pid}/inner`, `/tmp/bunker-hostmount-${process.pid}`, `/dev/bunker-hostmount-${process.pid}`];
    const mounted: string[] = [];
    try {
      for (const dir of made) {
        mkdirSync(dir);
        expect(Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir]).exitCode).toBe(0);
        mounted.unshift(dir);
        writeFileSync(join(dir, "host-file"), "host\n");
      }
      const r = Bun.spawnSync(argvAs(m, ["run", "--host-root", "--rm", "--network", "none", "--", "sh", "-c", "cat /proc/self/mountinfo; echo ---; ls -A /run /tmp; ls /dev"]), {
        env: ENV,
        cwd: "/",
        stdout: "pipe",
        stderr: "pipe",
        timeout: 20_000,
        killSignal: "SIGKILL",
      });
      expect([r.exitCode, r.stderr.toString()]).toEqual([0, ""]);
      const [mountinfo, listings] = r.stdout.toString().split("---\n") as [string, string];
      const points = mountinfo.trim().split("\n").map((l) => l.split(" ")[4]!);
      const below = points.filter((p) => /^\/(run|tmp|dev)\//.test(p) && !["/dev/pts", "/dev/shm", "/dev/mqueue"].includes(p));
      if (m.name === "root") expect(below).toEqual([]);
      // Rootless, the kernel refuses to detach them: mounts copied into a user namespace stay locked to their
      // parents. (The device nodes there are the host's, bound in.)
      else expect(below.filter((p) => p.includes("bunker-hostmount")).sort()).toEqual([...made].sort());
      // Either way nothing of them is reachable: the container's own tmpfs covers them.
      expect(listings).not.toContain("bunker-hostmount");
      expect(listings).not.toContain("host-file");
    } finally {
      for (const dir of mounted) Bun.spawnSync(["umount", "-l", dir]);
      for (const dir of [...made].reverse()) rmSync(dir, { recursive: true, force: true });
    }
  });
});
