// bunker cp between containers and the host: both directions, running
// containers (through their own root, so their tmpfs mounts show) and stopped
// ones (a --rootfs directory, an image's layers merged and its own upper
// directory written), docker's path rules, -a, -L, "-" as a tar stream read
// and written by GNU tar, and the errors with docker's exit codes.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bunker, BUNKER, isRoot, until } from "../helpers/bunker";
import { busyboxAvailable, makeRootfs, type Rootfs } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";
import { makeTar, tarListing } from "../helpers/tar";
import { createUser, publicBinary, removeUser, runAs, type TestUser } from "../helpers/users";

const ready = isRoot && busyboxAvailable();
if (!ready) console.warn("skipping the cp tests: they need root and busybox-static");
const rootless = ready && existsSync("/usr/bin/newuidmap") && existsSync("/usr/bin/setpriv");
if (ready && !rootless) console.warn("skipping the rootless cp tests: they need uidmap (newuidmap/newgidmap) and setpriv");

let dir: string;
let store: string;
const env = () => ({ PATH: process.env.PATH ?? "/usr/bin:/bin", BUNKER_STORAGE: store });
const b = (args: string[], stdin?: string) => bunker(args, { env: env(), ...(stdin !== undefined ? { stdin } : {}) });
const users: { u: TestUser; fs: Rootfs }[] = [];
let bin: { path: string; dir: string };
const suite = containerSuite(ready, () => {
  for (const n of ["cp-run", "cp-dir", "cp-img", "cp-img-gone", "cp-img-run"]) b(["rm", "-f", n]);
  for (const { u, fs } of users) {
    runAs(u, [bin.path, "rm", "-f", "cp-user"], {}, bin.dir);
    fs.remove();
    removeUser(u);
  }
  if (bin) rmSync(bin.dir, { recursive: true, force: true });
});

/** A shell command's output inside the running container `name`. */
function inside(name: string, cmd: string): string {
  const r = b(["exec", name, "sh", "-c", cmd]);
  expect(r.stderr).toBe("");
  return r.stdout;
}


const MTIME = 1_600_000_000;

beforeAll(() => {
  if (!ready) return;
  dir = mkdtempSync("/var/tmp/bunker-cp-");
  chmodSync(dir, 0o700);
  store = join(dir, "store");
  // What the copies carry: a tree with owners, a mode, an old mtime, links of both kinds.
  const data = join(suite.fs.path, "data");
  mkdirSync(join(data, "sub"), { recursive: true });
  writeFileSync(join(data, "sub", "a"), "a\n");
  writeFileSync(join(data, "owned"), "owned\n");
  Bun.spawnSync(["chown", "1234:2345", join(data, "owned")]);
  chmodSync(join(data, "owned"), 0o640);
  utimesSync(join(data, "owned"), MTIME, MTIME);
  linkSync(join(data, "owned"), join(data, "hard"));
  symlinkSync("/etc/passwd", join(data, "link"));
  symlinkSync("sub", join(data, "sublink"));
  // An image of the same tree, for the stopped and running containers of an image.
  const tarball = join(dir, "base.tar");
  expect(Bun.spawnSync(["tar", "-C", suite.fs.path, "--numeric-owner", "-cf", tarball, "."]).exitCode).toBe(0);
  expect(b(["import", "-c", 'CMD ["sh"]', tarball, "cp:base"]).code).toBe(0);
});

afterAll(() => {
  if (!ready) return;
  b(["rmi", "cp:base"]);
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!ready)("cp with a running container", () => {
  beforeAll(async () => {
    const r = b(["run", "-d", "--name", "cp-run", "--network", "none", "--tmpfs", "/scratch", "--rootfs", suite.fs.path, "--", "sleep", "1000"]);
    expect(r.code).toBe(0);
    await until(() => b(["exec", "cp-run", "true"]).code === 0, 10_000, "cp-run to accept exec");
  });

  test("out: a file to a new name, into a directory, and a directory with owners, mode, mtime, hard and symbolic links", () => {
    const out = join(dir, "run-out");
    mkdirSync(out);
    expect(b(["cp", "cp-run:/data/sub/a", join(out, "renamed")])).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(readFileSync(join(out, "renamed"), "utf8")).toBe("a\n");
    expect(b(["cp", "cp-run:data/sub/a", out]).code).toBe(0);
    expect(readFileSync(join(out, "a"), "utf8")).toBe("a\n");
    // Without -a the files are the invoking user's; with it, the container's owners.
    expect(b(["cp", "cp-run:/data", join(out, "plain")]).code).toBe(0);
    expect(statSync(join(out, "plain", "owned")).uid).toBe(0);
    expect(b(["cp", "-a", "cp-run:/data", join(out, "kept")]).code).toBe(0);
    const st = statSync(join(out, "kept", "owned"));
    expect([st.uid, st.gid, st.mode & 0o7777, st.mtimeMs / 1000]).toEqual([1234, 2345, 0o640, MTIME]);
    expect(statSync(join(out, "kept", "hard")).ino).toBe(st.ino);
    expect(readlinkSync(join(out, "kept", "link"))).toBe("/etc/passwd");
    expect(readFileSync(join(out, "kept", "sub", "a"), "utf8")).toBe("a\n");
    // An existing directory: the source goes inside it; with /. its content goes into it.
    expect(b(["cp", "cp-run:/data/sub", join(out, "plain")]).code).toBe(0);
    expect(readFileSync(join(out, "plain", "sub", "a"), "utf8")).toBe("a\n");
    mkdirSync(join(out, "content"));
    expect(b(["cp", "cp-run:/data/sub/.", join(out, "content")]).code).toBe(0);
    expect(readdirSync(join(out, "content"))).toEqual(["a"]);
  });

  test("in: through the container's own mounts (a tmpfs), owned by its root unless -a, into an existing directory or to a new name", () => {
    const src = join(dir, "run-in");
    mkdirSync(join(src, "tree"), { recursive: true });
    writeFileSync(join(src, "tree", "f"), "from the host\n");
    chmodSync(join(src, "tree", "f"), 0o604);
    utimesSync(join(src, "tree", "f"), MTIME, MTIME);
    Bun.spawnSync(["chown", "-R", "4321:4322", join(src, "tree")]);
    expect(b(["cp", join(src, "tree"), "cp-run:/scratch"]).code).toBe(0);
    expect(inside("cp-run", "cat /scratch/tree/f; stat -c '%u:%g %a %Y' /scratch/tree/f")).toBe(`from the host\n0:0 604 ${MTIME}\n`);
    // The tmpfs is the container's: nothing of it in the rootfs directory on the host.
    expect(existsSync(join(suite.fs.path, "scratch", "tree"))).toBe(false);
    expect(b(["cp", "-a", join(src, "tree", "f"), "cp-run:/scratch/kept"]).code).toBe(0);
    expect(inside("cp-run", "stat -c '%u:%g' /scratch/kept")).toBe("4321:4322\n");
    // /. copies the directory's content; a file onto an existing file replaces it.
    expect(b(["cp", `${join(src, "tree")}/.`, "cp-run:/scratch/tree"]).code).toBe(0);
    writeFileSync(join(src, "g"), "second\n");
    expect(b(["cp", join(src, "g"), "cp-run:/scratch/kept"]).code).toBe(0);
    expect(inside("cp-run", "cat /scratch/kept; ls /scratch/tree")).toBe("second\nf\n");
  });

  test("-L follows a symlink named as the source; without it the link itself is copied", () => {
    const out = join(dir, "run-link");
    mkdirSync(out);
    expect(b(["cp", "cp-run:/data/link", join(out, "as-link")]).code).toBe(0);
    expect(lstatSync(join(out, "as-link")).isSymbolicLink()).toBe(true);
    expect(b(["cp", "-L", "cp-run:/data/link", join(out, "followed")]).code).toBe(0);
    // The container's /etc/passwd, not the host's.
    expect(readFileSync(join(out, "followed"), "utf8")).toBe(readFileSync(join(suite.fs.path, "etc", "passwd"), "utf8"));
    // A link to a directory with a trailing slash is followed too.
    expect(b(["cp", "cp-run:/data/sublink/", join(out, "subdir")]).code).toBe(0);
    expect(readdirSync(join(out, "subdir"))).toEqual(["a"]);
  });

  test("- writes a tar stream named by the source (GNU tar reads it) and reads one into a directory", () => {
    const r = Bun.spawnSync([BUNKER, "cp", "cp-run:/data/sub", "-"], { env: env() });
    expect([r.exitCode, r.stderr.toString()]).toEqual([0, ""]);
    expect(tarListing(r.stdout).map((l) => l.split(" ").slice(1).join(" "))).toEqual(["0/0 sub/", "0/0 sub/a"]);
    const tarDir = join(dir, "stream");
    mkdirSync(join(tarDir, "x"), { recursive: true });
    writeFileSync(join(tarDir, "x", "y"), "streamed\n");
    const tar = Bun.spawnSync(["tar", "-C", tarDir, "-cf", "-", "x"]).stdout;
    const put = Bun.spawnSync([BUNKER, "cp", "-", "cp-run:/tmp"], { env: env(), stdin: tar });
    expect([put.exitCode, put.stderr.toString()]).toEqual([0, ""]);
    expect(inside("cp-run", "cat /tmp/x/y")).toBe("streamed\n");
    // A stream is unpacked into a directory only.
    const onFile = Bun.spawnSync([BUNKER, "cp", "-", "cp-run:/tmp/x/y"], { env: env(), stdin: tar });
    expect([onFile.exitCode, onFile.stderr.toString()]).toEqual([1, "bunker: copy to cp-run:/tmp/x/y: not a directory: an archive from stdin is unpacked into a directory\n"]);
  });

  test("docker's path rules as errors: a missing parent, a directory onto a file, a file to a missing directory, a missing source; exit 1", () => {
    const out = join(dir, "run-rules");
    mkdirSync(out);
    writeFileSync(join(out, "file"), "x");
    const cases: [string[], string][] = [
      [["cp", "cp-run:/data/sub/a", join(out, "no", "such")], `bunker: copy to ${join(out, "no", "such")}: no such directory ${join(out, "no")}\n`],
      [["cp", "cp-run:/data/sub", join(out, "file")], `bunker: copy to ${join(out, "file")}: cannot copy a directory to a file\n`],
      [["cp", "cp-run:/data/sub/a", `${join(out, "missing")}/`], `bunker: copy to ${join(out, "missing")}/: the destination directory must exist\n`],
      [["cp", "cp-run:/nope", out], "bunker: copy cp-run:/nope: no such file or directory\n"],
      [["cp", "cp-run:/data/sub/a/", out], "bunker: copy cp-run:/data/sub/a/: not a directory\n"],
      [["cp", join(out, "file"), "cp-run:/nope/x"], "bunker: copy to cp-run:/nope/x: no such directory /nope\n"],
      [["cp", join(out, "nothing"), "cp-run:/tmp"], `bunker: copy ${join(out, "nothing")}: no such file or directory\n`],
      [["cp", "cp-none:/x", out], "bunker: no such container: cp-none\n"],
    ];
    for (const [args, err] of cases) expect([args.join(" "), b(args)]).toEqual([args.join(" "), { code: 1, stdout: "", stderr: err }]);
    expect(readdirSync(out)).toEqual(["file"]);
    // Usage: 125, with the closest flag suggested.
    expect(b(["cp", "/a", "/b"])).toEqual({ code: 125, stdout: "", stderr: "bunker: cp: one of SRC and DEST must be a container path (CONTAINER:PATH)\n" });
    const flag = b(["cp", "--archiv", "cp-run:/a", out]);
    expect([flag.code, flag.stderr]).toEqual([125, expect.stringContaining("did you mean --archive?") as unknown as string]);
    expect(b(["container", "cp", "cp-run:/data/sub/a", join(out, "via-container")]).code).toBe(0);
    expect(readFileSync(join(out, "via-container"), "utf8")).toBe("a\n");
  });
});

describe.skipIf(!ready)("cp with a stopped container", () => {
  test("a --rootfs container: its directory, both ways", () => {
    expect(b(["run", "--name", "cp-dir", "--network", "none", "--rootfs", suite.fs.path, "--", "true"]).code).toBe(0);
    const out = join(dir, "dir-out");
    expect(b(["cp", "cp-dir:/data/sub", out]).code).toBe(0);
    expect(readFileSync(join(out, "a"), "utf8")).toBe("a\n");
    writeFileSync(join(dir, "dir-in"), "in\n");
    expect(b(["cp", join(dir, "dir-in"), "cp-dir:/tmp/"]).code).toBe(0);
    expect(readFileSync(join(suite.fs.path, "tmp", "dir-in"), "utf8")).toBe("in\n");
    rmSync(join(suite.fs.path, "tmp", "dir-in"));
    expect(b(["rm", "cp-dir"]).code).toBe(0);
  });

  test("an image's container: read from its layers merged, written to its own changes, which the container then sees", async () => {
    expect(b(["run", "--name", "cp-img", "--network", "none", "cp:base", "sh", "-c", "echo changed > /data/sub/a; rm /data/owned"]).code).toBe(0);
    const out = join(dir, "img-out");
    expect(b(["cp", "-a", "cp-img:/data", out]).code).toBe(0);
    expect(readFileSync(join(out, "sub", "a"), "utf8")).toBe("changed\n");
    expect(existsSync(join(out, "owned"))).toBe(false);
    expect(statSync(join(out, "hard")).uid).toBe(1234);
    // -L through a link to a directory of a lower layer.
    expect(b(["cp", "cp-img:/data/sublink/", join(dir, "img-sub")]).code).toBe(0);
    expect(readdirSync(join(dir, "img-sub"))).toEqual(["a"]);
    // In: below a directory only the image has, and over a file the container removed.
    writeFileSync(join(dir, "img-in"), "new\n");
    expect(b(["cp", join(dir, "img-in"), "cp-img:/data/sub/new"]).code).toBe(0);
    expect(b(["cp", join(dir, "img-in"), "cp-img:/data/owned"]).code).toBe(0);
    const seen = (path: string) => Bun.spawnSync(["sh", "-c", `"$0" export cp-img | tar -xOf - "$1"`, BUNKER, path], { env: env() }).stdout.toString();
    expect([seen("data/sub/new"), seen("data/owned"), seen("data/sub/a")]).toEqual(["new\n", "new\n", "changed\n"]);
    // The image itself is untouched: a new container has the old files.
    const fresh = b(["run", "--rm", "--network", "none", "cp:base", "sh", "-c", "cat /data/owned /data/sub/a; ls /data/sub"]);
    expect(fresh.stdout).toBe("owned\na\na\n");
    expect(b(["rm", "cp-img"]).code).toBe(0);
  });

  test("an image's container: a directory copied where it removed the image's one has only what was copied", () => {
    expect(b(["run", "--name", "cp-img-gone", "--network", "none", "cp:base", "rm", "-r", "/data/sub"]).code).toBe(0);
    const src = join(dir, "gone", "sub");
    mkdirSync(src, { recursive: true });
    writeFileSync(join(src, "b"), "b\n");
    expect(b(["cp", src, "cp-img-gone:/data/"]).code).toBe(0);
    const list = Bun.spawnSync(["sh", "-c", `"$0" export cp-img-gone | tar -tf - data/sub`, BUNKER], { env: env() }).stdout.toString();
    expect(list.trim().split("\n").sort()).toEqual(["data/sub/", "data/sub/b"]);
    expect(b(["rm", "cp-img-gone"]).code).toBe(0);
  });

  test("an image's running container: through its root, not its storage", async () => {
    expect(b(["run", "-d", "--name", "cp-img-run", "--network", "none", "cp:base", "sleep", "1000"]).code).toBe(0);
    await until(() => b(["exec", "cp-img-run", "true"]).code === 0, 10_000, "cp-img-run to accept exec");
    writeFileSync(join(dir, "img-run-in"), "live\n");
    expect(b(["cp", join(dir, "img-run-in"), "cp-img-run:/data/"]).code).toBe(0);
    expect(inside("cp-img-run", "cat /data/img-run-in")).toBe("live\n");
    expect(b(["rm", "-f", "cp-img-run"]).code).toBe(0);
  });
});

describe.skipIf(!rootless)("cp as an unprivileged user", () => {
  /** The user's own container, running, with a file only its user 5 may read (through the ranges) and a directory of its own. */
  async function setUp(name: string, ranges: boolean): Promise<{ u: TestUser; fs: Rootfs; as: (args: string[], stdin?: Uint8Array) => { code: number; stdout: string; stderr: string }; out: string }> {
    bin ??= publicBinary(BUNKER);
    const u = createUser(name, ranges);
    const fs = makeRootfs({ owner: { uid: u.uid, gid: u.gid } });
    users.push({ u, fs });
    writeFileSync(join(fs.path, "tmp", "private"), "only five\n");
    Bun.spawnSync(["chown", ranges ? `${u.subStart! + 4}:${u.subStart! + 6}` : `${u.uid}:${u.gid}`, join(fs.path, "tmp", "private")]);
    chmodSync(join(fs.path, "tmp", "private"), 0o600);
    const out = join(fs.path, "..", "out");
    mkdirSync(out);
    Bun.spawnSync(["chown", `${u.uid}:${u.gid}`, out]);
    const as = (args: string[], stdin?: Uint8Array) => {
      const r = Bun.spawnSync(["setpriv", `--reuid=${u.uid}`, `--regid=${u.gid}`, "--init-groups", bin.path, ...args], { env: { PATH: "/usr/bin:/bin" }, cwd: bin.dir, stdin: stdin ?? "ignore", timeout: 60_000 });
      return { code: r.exitCode ?? -1, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
    };
    expect(as(["run", "-d", "--name", "cp-user", "--network", "none", "--rootfs", fs.path, "--", "sleep", "1000"]).code).toBe(0);
    await until(() => as(["exec", "cp-user", "true"]).code === 0, 10_000, "the user's container to accept exec");
    return { u, fs, as, out };
  }

  test("with subordinate ranges: a file of another container user is read, and owners are the container's IDs", async () => {
    const { u, as, out } = await setUp("bunker-ci-cp-sub", true);
    expect(as(["cp", "cp-user:/tmp/private", join(out, "private")])).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(readFileSync(join(out, "private"), "utf8")).toBe("only five\n");
    // The invoking user's file on the host.
    expect(statSync(join(out, "private")).uid).toBe(u.uid);
    const tar = makeTar([{ path: "owned", data: "x\n", uid: 5, gid: 7 }]);
    expect(as(["cp", "-a", "-", "cp-user:/tmp"], tar).code).toBe(0);
    expect(as(["exec", "cp-user", "stat", "-c", "%u:%g", "/tmp/owned"]).stdout).toBe("5:7\n");
    expect(statSync(join(users.at(-1)!.fs.path, "tmp", "owned")).uid).toBe(u.subStart! + 4);
    expect(as(["cp", "-", "cp-user:/tmp"], makeTar([{ path: "rooted", data: "x\n", uid: 5, gid: 7 }])).code).toBe(0);
    expect(as(["exec", "cp-user", "stat", "-c", "%u:%g", "/tmp/rooted"]).stdout).toBe("0:0\n");
    // A host file: the user's own, which the container sees as its root.
    writeFileSync(join(out, "from-host"), "host\n");
    Bun.spawnSync(["chown", `${u.uid}:${u.gid}`, join(out, "from-host")]);
    expect(as(["cp", "-a", join(out, "from-host"), "cp-user:/tmp/"]).code).toBe(0);
    expect(as(["exec", "cp-user", "sh", "-c", "cat /tmp/from-host; stat -c %u:%g /tmp/from-host"]).stdout).toBe("host\n0:0\n");
    // Stopped: its directory, through the same helper.
    expect(as(["kill", "cp-user"]).code).toBe(0);
    expect(as(["wait", "cp-user"]).stdout).toBe("137\n");
    expect(as(["cp", "cp-user:/tmp/private", join(out, "stopped")])).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(readFileSync(join(out, "stopped"), "utf8")).toBe("only five\n");
    expect(as(["rm", "cp-user"]).code).toBe(0);
  });

  test("without ranges: both ways with a running container, the files the user's", async () => {
    const { u, as, out } = await setUp("bunker-ci-cp-nosub", false);
    expect(as(["cp", "cp-user:/tmp/private", join(out, "private")])).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(statSync(join(out, "private")).uid).toBe(u.uid);
    writeFileSync(join(out, "in"), "in\n");
    Bun.spawnSync(["chown", `${u.uid}:${u.gid}`, join(out, "in")]);
    expect(as(["cp", join(out, "in"), "cp-user:/tmp/in"]).code).toBe(0);
    expect(as(["exec", "cp-user", "sh", "-c", "cat /tmp/in; stat -c %u /tmp/in"]).stdout).toBe("in\n0\n");
    expect(as(["rm", "-f", "cp-user"]).code).toBe(0);
  });
});
