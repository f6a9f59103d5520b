// Named and anonymous volumes, --mount and --volumes-from, as root and as a
// user with subordinate ranges: what a container sees in them, what stays
// after it, and what the store refuses (names that are paths, volumes in
// use, a volume store another user could point elsewhere).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bunker, BUNKER, isRoot, until } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";
import { createUser, publicBinary, removeUser, runAs, type TestUser } from "../helpers/users";

const ready = isRoot && busyboxAvailable();
if (!ready) console.warn("skipping the volume tests: they need root and busybox-static");

let dir: string;
let store: string;
let tarball: string;

const suite = containerSuite(ready);
const env = () => ({ PATH: process.env.PATH ?? "/usr/bin:/bin", BUNKER_STORAGE: store });
const b = (args: string[]) => bunker(args, { env: env() });
const run = (args: string[]) => b(["run", "--network", "none", ...args]);
const volumeNames = () => b(["volume", "ls", "-q"]).stdout.split("\n").filter(Boolean);

/** Makes the image NAME from the busybox rootfs with `extra` done to a copy of it. */
function image(name: string, extra: (src: string) => void): void {
  const src = join(dir, `src-${name}`);
  expect(Bun.spawnSync(["cp", "-a", `${suite.fs.path}/.`, src]).exitCode).toBe(0);
  extra(src);
  const tar = join(dir, `${name}.tar`);
  expect(Bun.spawnSync(["tar", "-C", src, "--numeric-owner", "-cf", tar, "."]).exitCode).toBe(0);
  chmodSync(tar, 0o644);
  expect(b(["import", tar, name]).code).toBe(0);
}

beforeAll(() => {
  if (!ready) return;
  dir = mkdtempSync("/var/tmp/bunker-volumes-");
  chmodSync(dir, 0o755);
  store = join(dir, "store");
  image("vol-img", (src) => {
    mkdirSync(join(src, "data", "sub"), { recursive: true });
    writeFileSync(join(src, "data", "seed"), "seeded\n");
    writeFileSync(join(src, "data", "sub", "deep"), "deep\n");
    Bun.spawnSync(["chown", "-R", "999:998", join(src, "data")]);
    chmodSync(join(src, "data"), 0o750);
  });
  tarball = join(dir, "vol-img.tar");
});

afterAll(() => {
  if (ready) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!ready)("root", () => {
  test("a named volume: made on first use, read-write, filled with the image's files and owners, kept after its containers", () => {
    const first = run(["--rm", "-v", "vol-a:/data", "vol-img", "sh", "-c", "stat -c '%u:%g %a' /data /data/seed; cat /data/sub/deep; echo mine > /data/written"]);
    expect([first.code, first.stdout, first.stderr]).toEqual([0, "999:998 750\n999:998 644\ndeep\n", ""]);
    // The second container sees the first one's file; the image's content is not copied over it again.
    const second = run(["--rm", "-v", "vol-a:/data", "vol-img", "sh", "-c", "cat /data/written; ls /data"]);
    expect([second.code, second.stdout]).toEqual([0, "mine\nseed\nsub\nwritten\n"]);
    // nocopy: an empty volume stays empty; a volume on a rootfs container has nothing to copy.
    expect(run(["--rm", "-v", "vol-b:/data:nocopy", "vol-img", "ls", "-A", "/data"]).stdout).toBe("");
    expect(run(["--rm", "-v", "vol-c:/data:ro", "vol-img", "sh", "-c", "cat /data/seed; touch /data/x 2>&1 | sed 's/.*: //'"]).stdout).toBe("seeded\nRead-only file system\n");
    const [info] = JSON.parse(b(["volume", "inspect", "vol-a"]).stdout);
    expect(info).toMatchObject({ Name: "vol-a", Driver: "local", Scope: "local", Mountpoint: join(store, "volumes", "vol-a", "_data"), Labels: {}, Options: {} });
    expect(info.CreatedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    // The data is where inspect says, on the host.
    expect(Bun.file(join(info.Mountpoint, "written")).size).toBe(5);
    expect(b(["volume", "ls", "--format", "{{.Name}} {{.Driver}}", "--filter", "name=vol-"]).stdout).toBe("vol-a local\nvol-b local\nvol-c local\n");
    expect(b(["volume", "rm", "vol-a", "vol-b", "vol-c"])).toMatchObject({ code: 0, stdout: "vol-a\nvol-b\nvol-c\n" });
    expect(volumeNames()).toEqual([]);
  });

  test("an empty volume a running container uses is not filled under it; once nothing runs with it, it is", () => {
    expect(run(["-d", "--name", "vol-holder", "-v", "vol-shared:/data", "--rootfs", suite.fs.path, "--", "sleep", "100"]).code).toBe(0);
    // The image's files would be copied in while the running one could change what they are written into.
    expect(run(["--rm", "-v", "vol-shared:/data", "vol-img", "ls", "-A", "/data"])).toMatchObject({ code: 0, stdout: "" });
    expect(b(["rm", "-f", "vol-holder"]).code).toBe(0);
    // The control: with no container running with it, the empty volume gets the image's files.
    expect(run(["--rm", "-v", "vol-shared:/data", "vol-img", "ls", "-A", "/data"])).toMatchObject({ code: 0, stdout: "seed\nsub\n" });
    expect(b(["volume", "rm", "vol-shared"]).code).toBe(0);
  });

  test("a bunker killed mid-way: a volume half-made in the store's tmp is cleared, a copy cut short is made again", () => {
    // What a bunker killed before its rename leaves: a staging directory whose lock nobody holds.
    expect(b(["volume", "ls"]).code).toBe(0);
    const staging = join(store, "tmp", "volume-killed");
    mkdirSync(join(staging, "_data"), { recursive: true });
    writeFileSync(`${staging}.lock`, "");
    expect(b(["volume", "ls", "-q"]).stdout).toBe("");
    expect(existsSync(staging)).toBe(false);
    // A copy into an empty volume cut short: its marker stays, with part of the image's files and whatever else.
    expect(b(["volume", "create", "cut"]).code).toBe(0);
    writeFileSync(join(store, "volumes", "cut", "copying"), "/data");
    mkdirSync(join(store, "volumes", "cut", "_data", "sub"));
    writeFileSync(join(store, "volumes", "cut", "_data", "partial"), "");
    const r = run(["--rm", "-v", "cut:/data", "vol-img", "ls", "/data", "/data/sub"]);
    expect([r.code, r.stdout]).toEqual([0, "/data:\nseed\nsub\n\n/data/sub:\ndeep\n"]);
    expect(existsSync(join(store, "volumes", "cut", "copying"))).toBe(false);
    expect(b(["volume", "rm", "cut"]).code).toBe(0);
  });

  test("volume create, ls filters and formats, inspect, and names that are no volume names", () => {
    expect(b(["volume", "create", "--label", "team=web", "lab"])).toMatchObject({ code: 0, stdout: "lab\n" });
    // Again: the volume is left as it is, as docker's.
    expect(b(["volume", "create", "lab"])).toMatchObject({ code: 0, stdout: "lab\n" });
    const random = b(["volume", "create"]).stdout.trim();
    expect(random).toMatch(/^[0-9a-f]{64}$/);
    expect(b(["volume", "ls", "-q", "--filter", "label=team=web"]).stdout).toBe("lab\n");
    expect(b(["volume", "ls", "-q", "--filter", "label=team=db"]).stdout).toBe("");
    expect(b(["volume", "ls", "-q", "--filter", "dangling=true"]).stdout.split("\n").filter(Boolean).sort()).toEqual(["lab", random].sort());
    const json = b(["volume", "ls", "--format", "json", "--filter", "name=lab"]).stdout.trim().split("\n").map((l) => JSON.parse(l));
    expect(json).toEqual([{ Driver: "local", Labels: "team=web", Links: "N/A", Mountpoint: join(store, "volumes", "lab", "_data"), Name: "lab", Scope: "local", Size: "N/A" }]);
    expect(b(["volume", "inspect", "-f", "{{json .Labels}}", "lab"]).stdout).toBe('{"team":"web"}\n');
    const missing = b(["volume", "inspect", "lab", "nope"]);
    expect([missing.code, missing.stderr]).toEqual([1, "bunker: volume inspect nope: no such volume\n"]);
    expect(JSON.parse(missing.stdout).map((v: { Name: string }) => v.Name)).toEqual(["lab"]);
    for (const bad of ["a/b", "..", "../x", "_x", "x"]) {
      const r = b(["volume", "create", bad]);
      expect([r.code, r.stderr]).toEqual([125, `bunker: volume create: "${bad}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path\n`]);
    }
    const mount = run(["--rm", "--mount", "type=volume,src=../x,dst=/x", "vol-img", "true"]);
    expect(mount.code).toBe(125);
    expect(mount.stderr).toContain('"../x" includes invalid characters for a local volume name');
    expect(readdirSync(join(store, "volumes")).sort()).toEqual(["lab", random].sort());
    expect(b(["volume", "lss"])).toMatchObject({ code: 125, stderr: 'bunker: volume: unknown command "lss": did you mean ls?\n' });
    expect(b(["volume", "rm", "lab", random]).code).toBe(0);
  });

  test("volume rm refuses a volume a container uses, kept or running, naming it; acts on each name and exits 1 for a failure", () => {
    expect(run(["--name", "vol-keeper", "-v", "held:/data", "vol-img", "true"]).code).toBe(0);
    expect(b(["volume", "create", "free"]).code).toBe(0);
    const r = b(["volume", "rm", "free", "held", "nope"]);
    expect([r.code, r.stdout, r.stderr]).toEqual([1, "free\n", "bunker: remove volume held: volume is in use by container vol-keeper: remove it first\nbunker: remove volume nope: no such volume\n"]);
    expect(b(["volume", "rm", "-f", "held"]).stderr).toBe("bunker: remove volume held: volume is in use by container vol-keeper: remove it first\n");
    expect(b(["volume", "rm", "-f", "nope"]).code).toBe(0);
    expect(b(["volume", "ls", "-q", "--filter", "dangling=false"]).stdout).toBe("held\n");
    // Prune keeps it too, even with -a.
    expect(b(["volume", "prune", "-af"]).stdout).not.toContain("held");
    expect(b(["rm", "vol-keeper"]).code).toBe(0);
    expect(b(["volume", "rm", "held"]).stdout).toBe("held\n");
  });

  test("a run starting with a volume holds it: volume rm meanwhile is refused, not raced", () => {
    expect(b(["volume", "create", "starting"]).code).toBe(0);
    // What a starting run holds: the volume's lock, shared, until its state names the volume.
    const holder = Bun.spawn(["flock", "-s", join(store, "volumes", "starting", "lock"), "sh", "-c", "echo held; read x"], { stdin: "pipe", stdout: "pipe" });
    const reader = holder.stdout.getReader();
    return (async () => {
      expect(new TextDecoder().decode((await reader.read()).value)).toBe("held\n");
      const r = b(["volume", "rm", "starting"]);
      expect([r.code, r.stderr]).toEqual([1, "bunker: remove volume starting: volume is in use by a container being started\n"]);
      holder.stdin.end();
      await holder.exited;
      expect(b(["volume", "rm", "starting"]).stdout).toBe("starting\n");
    })();
  });

  test("anonymous volumes: -v PATH makes one, --rm removes it, rm -v removes a kept container's, rm alone keeps it", async () => {
    const r = run(["--rm", "-v", "/anon", "vol-img", "sh", "-c", "echo x > /anon/f; cat /anon/f"]);
    expect([r.code, r.stdout]).toEqual([0, "x\n"]);
    expect(volumeNames()).toEqual([]);
    // Detached, with the store named by --storage (which the bunker finishing it is not given): removed at its end too.
    const d = bunker(["--storage", store, "run", "-d", "--rm", "--network", "none", "-v", "/anon", "vol-img", "sh", "-c", "echo x > /anon/f"], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
    expect(d.code).toBe(0);
    await until(() => b(["ps", "-a", "-q"]).stdout === "" && volumeNames().length === 0, 10_000, "the detached --rm container and its anonymous volume to go");
    // Over an image path: the image's content, as a named volume gets it.
    expect(run(["--name", "vol-anon", "-v", "/data", "vol-img", "cat", "/data/seed"]).stdout).toBe("seeded\n");
    const [made] = volumeNames();
    expect(made).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.parse(b(["volume", "inspect", made!]).stdout)[0].Labels).toEqual({ "com.docker.volume.anonymous": "" });
    expect(b(["rm", "-v", "vol-anon"]).code).toBe(0);
    expect(volumeNames()).toEqual([]);
    expect(run(["--name", "vol-anon2", "-v", "/anon", "vol-img", "true"]).code).toBe(0);
    expect(b(["rm", "vol-anon2"]).code).toBe(0);
    expect(volumeNames().length).toBe(1);
    // prune without -a: anonymous volumes nobody uses; a named one stays until -a.
    expect(b(["volume", "create", "named"]).code).toBe(0);
    const pruned = b(["volume", "prune", "-f"]);
    expect(pruned.stdout).toMatch(/^Deleted Volumes:\n[0-9a-f]{64}\n\nTotal reclaimed space: .+\n$/);
    expect(volumeNames()).toEqual(["named"]);
    const df = b(["system", "df"]).stdout;
    expect(df).toMatch(/\nLocal Volumes +1 +0 /);
    // system prune --volumes: the anonymous ones (-a would take the named one and every unused image too).
    expect(run(["--name", "vol-anon3", "-v", "/anon", "vol-img", "true"]).code).toBe(0);
    expect(b(["rm", "vol-anon3"]).code).toBe(0);
    const sys = b(["system", "prune", "-f", "--volumes"]);
    expect(sys.stdout).toMatch(/(^|\n)Deleted volume: [0-9a-f]{64}\n/);
    expect(volumeNames()).toEqual(["named"]);
    expect(b(["volume", "prune", "-af"]).stdout).toMatch(/^Deleted Volumes:\nnamed\n\nTotal reclaimed space: /);
    expect(volumeNames()).toEqual([]);
  });

  test("--mount: bind read-write unless readonly, volume, tmpfs with size and mode; docker's errors", () => {
    const host = join(dir, "bind");
    mkdirSync(host, { recursive: true });
    const r = run([
      "--rm",
      "--mount", `type=bind,source=${host},target=/b`,
      "--mount", `type=bind,src=${host},dst=/r,readonly`,
      "--mount", "type=volume,src=mnt-vol,destination=/v",
      "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770",
      "--mount", '"type=volume",target=/anon',
      "vol-img", "sh", "-c",
      "echo w > /b/w; cat /r/w; touch /r/x 2>&1 | sed 's/.*: //'; echo v > /v/f; stat -c %a /t; grep ' /t ' /proc/self/mountinfo | grep -o 'size=[0-9a-z]*'; ls -d /anon",
    ]);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, "w\nRead-only file system\n1770\nsize=1024k\n/anon\n", ""]);
    expect(Bun.file(join(host, "w")).size).toBe(2);
    expect(run(["--rm", "-v", "mnt-vol:/v", "vol-img", "cat", "/v/f"]).stdout).toBe("v\n");
    for (const [value, why] of [
      ["foo", "invalid field 'foo' must be a key=value pair"],
      ["type=bind,src=/a,dst=/x,bogus=1", "unexpected key 'bogus' in 'bogus=1'"],
      ["type=bind,src=/a", "target is required"],
      ["type=bind,src=/a,dst=/x,volume-nocopy", "cannot mix 'volume-*' options with mount type 'bind'"],
      ["type=bind,src=/a,dst=/x,readonly=maybe", "invalid value for readonly: maybe"],
      ["type=bind,dst=/x", "source is required for a bind mount"],
    ]) {
      const bad = run(["--rm", "--mount", value!, "vol-img", "true"]);
      expect([bad.code, bad.stderr]).toEqual([125, `bunker: --mount ${value}: ${why}\n`]);
    }
    expect(b(["volume", "rm", "mnt-vol"]).code).toBe(0);
    expect(volumeNames()).toEqual([]);
  });

  test("--volumes-from: the other container's binds and volumes at the same paths, read-only with :ro, never its tmpfs", () => {
    const host = join(dir, "from");
    mkdirSync(host, { recursive: true });
    writeFileSync(join(host, "h"), "host\n");
    expect(run(["--name", "vol-src", "-v", `${host}:/h:rw`, "-v", "shared:/data", "-v", "/anon", "--tmpfs", "/scratch", "vol-img", "sh", "-c", "echo a > /anon/a"]).code).toBe(0);
    const r = run(["--rm", "--volumes-from", "vol-src", "vol-img", "sh", "-c", "cat /h/h /data/seed /anon/a; echo more > /data/more; ls -d /scratch 2>&1 | sed 's/.*: //'"]);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, "host\nseeded\na\nNo such file or directory\n", ""]);
    const ro = run(["--rm", "--volumes-from", "vol-src:ro", "vol-img", "sh", "-c", "cat /data/more; touch /data/x /h/x 2>&1 | sed 's/.*: //'"]);
    expect(ro.stdout).toBe("more\nRead-only file system\nRead-only file system\n");
    // The container it lent them to is gone: its anonymous volume is still the other's.
    expect(volumeNames().length).toBe(2);
    expect(b(["rm", "-v", "vol-src"]).code).toBe(0);
    expect(volumeNames()).toEqual(["shared"]);
    expect(b(["volume", "rm", "shared"]).code).toBe(0);
    const nope = run(["--rm", "--volumes-from", "vol-nope", "vol-img", "true"]);
    expect([nope.code, nope.stderr]).toEqual([125, "bunker: no such container: vol-nope\n"]);
  });

  test("hostile: an image's symlink is copied as a symlink, never followed; a volume store another user could change is refused", () => {
    const outside = join(dir, "outside");
    mkdirSync(outside);
    image("vol-link", (src) => {
      mkdirSync(join(src, "data"));
      symlinkSync(outside, join(src, "data", "esc"));
      symlinkSync("/usr", join(src, "etcdata"));
    });
    // /data/esc points out of the container's root on the host; /etcdata at the host's /usr: neither is followed when the volumes are filled.
    const r = run(["--rm", "-v", "lnk:/data", "-v", "lnk2:/etcdata", "vol-link", "sh", "-c", "echo x > /data/esc/planted 2>&1; true"]);
    expect(r.code).toBe(0);
    expect(lstatSync(join(store, "volumes", "lnk", "_data", "esc")).isSymbolicLink()).toBe(true);
    expect(readdirSync(join(store, "volumes", "lnk2", "_data"))).toEqual([]);
    expect(readdirSync(outside)).toEqual([]);
    expect(b(["volume", "rm", "lnk", "lnk2"]).code).toBe(0);
    // A volume that is a symlink (to a directory of another's) is not a volume: refused, not followed.
    symlinkSync(outside, join(store, "volumes", "evil"));
    const evil = run(["--rm", "-v", "evil:/data", "vol-img", "true"]);
    expect([evil.code, evil.stderr]).toEqual([125, `bunker: volume evil: ${join(store, "volumes", "evil")} is a symlink, not a directory: it was not made by bunker; remove it\n`]);
    expect(b(["volume", "rm", "evil"])).toMatchObject({ code: 1, stderr: `bunker: volume evil: ${join(store, "volumes", "evil")} is a symlink, not a directory: it was not made by bunker; remove it\n` });
    rmSync(join(store, "volumes", "evil"));
    // A volumes directory another user may write to (or owns) is refused as a whole.
    chmodSync(join(store, "volumes"), 0o777);
    const open = b(["volume", "ls"]);
    expect([open.code, open.stderr]).toEqual([125, `bunker: volume store ${join(store, "volumes")}: ${join(store, "volumes")} is writable by other users (mode 777)\n`]);
    chmodSync(join(store, "volumes"), 0o700);
    expect(readdirSync(outside)).toEqual([]);
  });
});

describe.skipIf(!ready)("rootless", () => {
  let u: TestUser | undefined;
  let bin: { path: string; dir: string } | undefined;
  let home: string;
  const as = (args: string[]) => runAs(u!, [bin!.path, ...args], { HOME: home });
  beforeAll(() => {
    if (!ready) return;
    u = createUser("bunker-ci-vol", true);
    bin = publicBinary(BUNKER);
    home = `/var/tmp/bunker-vol-home-${u.uid}`;
    mkdirSync(home, { recursive: true });
    Bun.spawnSync(["chown", `${u.uid}:${u.gid}`, home]);
    expect(as(["import", tarball, "vol-img"]).code).toBe(0);
  });
  afterAll(() => {
    if (bin) rmSync(bin.dir, { recursive: true, force: true });
    if (u) {
      rmSync(home, { recursive: true, force: true });
      removeUser(u);
    }
  });

  test.skipIf(!existsSync("/usr/bin/newuidmap"))("a user's volume belongs to the container's IDs: root owns a new one, the image's files keep their owners, and volume rm removes them all", () => {
    const r = as(["run", "--rm", "--network", "none", "-v", "uvol:/data", "-v", "uempty:/empty", "vol-img", "sh", "-c", "stat -c '%u:%g %a' /data /data/seed /empty; echo hi > /empty/f; chown 5:5 /empty/f; mkdir /data/own; chown 7:7 /data/own"]);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, "999:998 750\n999:998 644\n0:0 755\n", ""]);
    const again = as(["run", "--rm", "--network", "none", "-v", "uvol:/data", "-v", "uempty:/empty", "vol-img", "stat", "-c", "%u:%g %n", "/empty/f", "/data/own"]);
    expect(again.stdout).toBe("5:5 /empty/f\n7:7 /data/own\n");
    // On the host, the files are the user's subordinate IDs.
    const mount = JSON.parse(as(["volume", "inspect", "uvol"]).stdout)[0].Mountpoint as string;
    expect(mount).toBe(join(home, ".local/share/bunker/volumes/uvol/_data"));
    expect(Bun.spawnSync(["stat", "-c", "%u", join(mount, "own")]).stdout.toString().trim()).toBe(String(u!.subStart! + 6));
    const anon = as(["run", "--rm", "--network", "none", "-v", "/anon", "vol-img", "sh", "-c", "mkdir /anon/d; touch /anon/d/x; chown -R 3:3 /anon/d; chmod 700 /anon/d"]);
    expect(anon.code).toBe(0);
    // Gone with the container, the files of the user's other IDs too.
    expect(readdirSync(join(home, ".local/share/bunker/tmp")).filter((e) => e.startsWith("gone-"))).toEqual([]);
    expect(as(["volume", "ls", "-q"]).stdout).toBe("uempty\nuvol\n");
    expect(as(["volume", "rm", "uvol", "uempty"]).code).toBe(0);
    expect(readdirSync(join(home, ".local/share/bunker/volumes"))).toEqual([]);
    expect(readdirSync(join(home, ".local/share/bunker/tmp")).filter((e) => e.startsWith("gone-"))).toEqual([]);
  });
});
