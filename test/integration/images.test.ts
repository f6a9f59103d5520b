// Images from root filesystem tarballs: import, the store, and containers of
// them, whose root filesystem is overlayfs of the image's layers over a
// directory of their own. Each test file has a store of its own.

import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bunker, BUNKER, isRoot, until } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";
import { createUser, publicBinary, removeUser, runAs, type TestUser } from "../helpers/users";

const ready = isRoot && busyboxAvailable();
if (!ready) console.warn("skipping the image tests: they need root and busybox-static");

let dir: string;
let store: string;
let tarball: string;

const suite = containerSuite(ready);
const env = () => ({ PATH: process.env.PATH ?? "/usr/bin:/bin", BUNKER_STORAGE: store });
const b = (args: string[], stdin?: string) => bunker(args, { env: env(), ...(stdin !== undefined ? { stdin } : {}) });
const sha256 = (bytes: Uint8Array) => `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`;

beforeAll(() => {
  if (!ready) return;
  dir = mkdtempSync("/var/tmp/bunker-images-");
  store = join(dir, "store");
  tarball = join(dir, "busybox.tar");
  expect(Bun.spawnSync(["tar", "-C", suite.fs.path, "--numeric-owner", "-cf", tarball, "."]).exitCode).toBe(0);
});

afterEach(() => {
  if (!ready) return;
  // No container's upper directory outlives it.
  if (existsSync(join(store, "containers"))) expect(readdirSync(join(store, "containers"))).toEqual([]);
});

afterAll(() => {
  if (ready) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!ready)("import and the store", () => {
  test("a plain or compressed tarball, a file or stdin, becomes an image of one layer whose DiffID is the tar's digest", () => {
    const tar = new Uint8Array(readFileSync(tarball));
    const plain = b(["import", tarball, "busybox:plain"]);
    expect([plain.code, plain.stderr]).toEqual([0, ""]);
    expect(plain.stdout).toMatch(/^sha256:[0-9a-f]{64}\n$/);
    const gz = join(dir, "busybox.tar.gz");
    writeFileSync(gz, Bun.gzipSync(tar));
    expect(b(["import", gz, "busybox:gzip"]).code).toBe(0);
    const zst = join(dir, "busybox.tar.zst");
    writeFileSync(zst, Bun.zstdCompressSync(tar));
    const viaStdin = Bun.spawnSync(["sh", "-c", `"$0" import - busybox:zstd < "$1"`, BUNKER, zst], { env: env() });
    expect([viaStdin.exitCode, viaStdin.stderr.toString()]).toEqual([0, ""]);
    const inspect = JSON.parse(b(["image", "inspect", "busybox:plain", "busybox:gzip", "busybox:zstd"]).stdout);
    for (const i of inspect) expect(i.config.rootfs.diff_ids).toEqual([sha256(tar)]);
    // One layer, unpacked once, for the three.
    expect(readdirSync(join(store, "layers"))).toEqual([sha256(tar).slice(7)]);
    const list = b(["images"]).stdout.split("\n");
    expect(list[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(list.filter((l) => /^busybox\s+(plain|gzip|zstd)\s+[0-9a-f]{12}\s/.test(l)).length).toBe(3);
    expect(JSON.parse(b(["images", "--json"]).stdout).map((i: { names: string[] }) => i.names).flat().sort()).toEqual([
      "docker.io/library/busybox:gzip",
      "docker.io/library/busybox:plain",
      "docker.io/library/busybox:zstd",
    ]);
    expect(b(["images", "-q", "busybox:gzip"]).stdout).toMatch(/^[0-9a-f]{12}\n$/);
    for (const t of ["plain", "gzip", "zstd"]) expect(b(["rmi", `busybox:${t}`]).code).toBe(0);
  });

  test("--change sets the image's config as Dockerfile lines do; a bad one is refused before anything is stored", () => {
    const r = b(["import", "-c", 'ENTRYPOINT ["/bin/sh", "-c"]', "-c", 'CMD ["echo from-cmd; pwd; id -u; echo $GREETING"]', "-c", "ENV GREETING=hello", "-c", "WORKDIR /srv/app", "-c", "USER 1000", tarball, "configured"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    const [i] = JSON.parse(b(["image", "inspect", "configured"]).stdout);
    expect(i.config.config).toMatchObject({ Entrypoint: ["/bin/sh", "-c"], Cmd: ["echo from-cmd; pwd; id -u; echo $GREETING"], WorkingDir: "/srv/app", User: "1000" });
    expect(i.config.config.Env).toContain("GREETING=hello");
    const bad = b(["import", "-c", "FROM scratch", tarball, "nope"]);
    expect([bad.code, bad.stderr]).toEqual([125, "bunker: --change \"FROM scratch\": FROM is not an instruction import takes (CMD, ENTRYPOINT, ENV, WORKDIR, USER, EXPOSE, VOLUME, LABEL, STOPSIGNAL)\n"]);
    expect(b(["images", "-q", "nope"]).stdout).toBe("");
    expect(b(["rmi", "configured"]).code).toBe(0);
  });

  test("a file that is not a tar archive, or one that leaves the layer, is refused in one line and leaves nothing in the store", () => {
    const junk = join(dir, "junk");
    writeFileSync(junk, "x".repeat(4096));
    const r = b(["import", junk, "junk"]);
    expect([r.code, r.stderr]).toEqual([125, "bunker: a tar header with a bad checksum (not a tar archive, or a damaged one)\n"]);
    const empty = join(dir, "empty.tar");
    writeFileSync(empty, "");
    expect(b(["import", empty, "empty"])).toMatchObject({ code: 125, stderr: "bunker: the archive is empty\n" });
    expect(b(["import", dir, "adir"])).toMatchObject({ code: 125, stderr: `bunker: import ${dir}: not a file (a directory)\n` });
    expect(b(["load", "-i", join(dir, "nothing.tar")])).toMatchObject({ code: 125, stderr: `bunker: load ${join(dir, "nothing.tar")}: no such file\n` });
    const evil = join(dir, "evil.tar");
    const src = join(dir, "evil-src");
    mkdirSync(join(src, "a"), { recursive: true });
    writeFileSync(join(src, "a", "x"), "x");
    // GNU tar writes a ../ path when told to with --transform.
    expect(Bun.spawnSync(["tar", "-C", src, "--transform", "s,^a/x,../escaped,", "-cf", evil, "a/x"]).exitCode).toBe(0);
    const e = b(["import", evil, "evil"]);
    expect([e.code, e.stderr]).toEqual([125, 'bunker: layer entry "../escaped" leaves the layer (..)\n']);
    expect(existsSync(join(store, "escaped"))).toBe(false);
    expect(readdirSync(join(store, "tmp"))).toEqual([]);
    expect(readdirSync(join(store, "images")).length).toBe(readdirSync(join(store, "images")).filter((f) => !f.includes("junk")).length);
  });
});

describe.skipIf(!ready)("containers of an image", () => {
  beforeAll(() => {
    expect(b(["import", "-c", "ENV FROM_IMAGE=1", tarball, "box"]).code).toBe(0);
    expect(b(["import", "-c", 'ENTRYPOINT ["/bin/sh", "-c"]', "-c", 'CMD ["echo from-cmd; pwd; id -u; echo $GREETING"]', "-c", "ENV GREETING=hello", "-c", "WORKDIR /srv/app", "-c", "USER 1000", tarball, "configured"]).code).toBe(0);
  });

  test("the root filesystem is the image's; what a container writes is its own, and goes with it", () => {
    const layer = join(store, "layers", readdirSync(join(store, "layers"))[0]!);
    const first = b(["run", "--rm", "--network", "none", "box", "sh", "-c", "echo mine > /etc/written; cat /etc/written; echo $FROM_IMAGE; grep -c overlay /proc/self/mountinfo"]);
    expect([first.code, first.stderr]).toEqual([0, ""]);
    expect(first.stdout).toMatch(/^mine\n1\n[1-9]\d*\n$/);
    expect(existsSync(join(layer, "etc", "written"))).toBe(false);
    const second = b(["run", "--rm", "--network", "none", "box", "sh", "-c", "cat /etc/written 2>&1 || echo absent"]);
    expect(second.stdout).toMatch(/absent\n$/);
  });

  test("docker's rules for the command: Entrypoint then Cmd; a command replaces Cmd; --entrypoint replaces both; WorkingDir, User, Env apply; flags win", () => {
    const asIs = b(["run", "--rm", "--network", "none", "configured"]);
    expect([asIs.code, asIs.stderr, asIs.stdout]).toEqual([0, "", "from-cmd\n/srv/app\n1000\nhello\n"]);
    const cmd = b(["run", "--rm", "--network", "none", "-e", "GREETING=flag", "-u", "0", "-w", "/tmp", "configured", "echo $GREETING; id -u; pwd"]);
    expect(cmd.stdout).toBe("flag\n0\n/tmp\n");
    const entry = b(["run", "--rm", "--network", "none", "--entrypoint", "echo", "configured", "plain", "words"]);
    expect(entry.stdout).toBe("plain words\n");
    const none = b(["run", "--rm", "--network", "none", "box"]);
    expect([none.code, none.stderr]).toEqual([125, "bunker: run: image box has no command (no Entrypoint or Cmd): give one after the image\n"]);
  });

  test("a word that is no image says what to type; --host-root and --rootfs keep their meaning", () => {
    // --pull never: a test reaches no registry but its own.
    const r = b(["run", "--rm", "--pull", "never", "ls", "/"]);
    expect(r.code).toBe(125);
    expect(r.stderr).toBe(`bunker: run: no image "ls" in ${store} (bunker pull or bunker import FILE ls makes one; a command on the host's files: bunker run --host-root -- ls ...; on a directory: --rootfs DIR)\n`);
    expect(b(["run", "--rm", "--network", "none", "--host-root", "--", "test", "-e", "/etc/os-release"]).code).toBe(0);
    expect(b(["run", "--rm", "--network", "none", "--rootfs", suite.fs.path, "--", "true"]).code).toBe(0);
    expect(b(["run", "--rm", "--host-root", "--rootfs", suite.fs.path, "--", "true"]).stderr).toBe("bunker: run: --host-root and --rootfs both name the root filesystem: give one\n");
    const userns = b(["run", "--rm", "--userns", "private", "box", "true"]);
    expect([userns.code, userns.stderr]).toEqual([125, "bunker: run: an image with --userns private as root is not supported yet: run it without --userns, or as a user\n"]);
  });

  test("a detached container keeps its changes until it is removed; rm -f after its bunker was killed removes them too", async () => {
    const id = b(["run", "-d", "--network", "none", "box", "sh", "-c", "echo kept > /kept; sleep 100"]).stdout.trim();
    expect(id).toMatch(/^[0-9a-f]{12}$/);
    await until(() => existsSync(join(store, "containers", id, "upper", "kept")), 5000, "the container's write");
    const ps = JSON.parse(b(["inspect", id]).stdout)[0];
    expect(ps.spec.bunker.image.ref).toBe("box");
    // Its bunker process killed outright: the next command finishes for it.
    const sup = Number(ps.supervisor);
    process.kill(sup, "SIGKILL");
    expect(b(["rm", "-f", id]).code).toBe(0);
    expect(existsSync(join(store, "containers", id))).toBe(false);
  });

  test("stop sends the image's StopSignal first (or --stop-signal's), then SIGKILL after the grace time", async () => {
    expect(b(["import", "-c", "STOPSIGNAL SIGUSR1", tarball, "stopper"]).code).toBe(0);
    const loop = "trap 'echo $1 > /got; exit 0' USR1 USR2; while :; do sleep 0.1; done";
    const start = (extra: string[], tag: string) => b(["run", "-d", "--network", "none", ...extra, "stopper", "sh", "-c", loop.replace("$1", tag)]).stdout.trim();
    const viaImage = start([], "from-image");
    const viaFlag = start(["--stop-signal", "USR2"], "from-flag");
    await Bun.sleep(300);
    const t0 = Date.now();
    expect(b(["stop", "-t", "20", viaImage, viaFlag]).code).toBe(0);
    // The command's own handler ended it: no 20 s wait for SIGKILL.
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(readFileSync(join(store, "containers", viaImage, "upper", "got"), "utf8")).toBe("from-image\n");
    expect(readFileSync(join(store, "containers", viaFlag, "upper", "got"), "utf8")).toBe("from-flag\n");
    expect(JSON.parse(b(["inspect", viaImage]).stdout)[0].exitCode).toBe(0);
    expect(b(["rm", viaImage, viaFlag]).code).toBe(0);
    expect(b(["rmi", "stopper"]).code).toBe(0);
    expect(b(["run", "--rm", "--stop-signal", "NOPE", "box", "true"]).stderr).toBe('bunker: unknown signal "NOPE"\n');
  });

  test("system df counts layers once and containers' own directories; system prune removes stopped containers and what nothing uses", () => {
    const kept = b(["run", "--network", "none", "box", "sh", "-c", "head -c 300000 /dev/zero > /blob"]);
    expect(kept.code).toBe(0);
    const df = JSON.parse(b(["system", "df", "--json"]).stdout);
    expect(df.images.count).toBeGreaterThanOrEqual(2);
    expect(df.images.bytes).toBeGreaterThan(1_000_000);
    expect(df.containers).toMatchObject({ count: 1, active: 0 });
    expect(df.containers.reclaimable).toBeGreaterThanOrEqual(300_000);
    expect(b(["system", "df"]).stdout).toMatch(/^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE\nImages\s+\d+\s+1\s+[\d.]+ MiB\s+.*\nContainers\s+1\s+0\s+/);
    expect(b(["system", "prune"]).stderr).toBe("bunker: system prune: removes stopped containers and unused images: add -f to do it without asking\n");
    const pruned = b(["system", "prune", "-f"]);
    expect(pruned.code).toBe(0);
    expect(pruned.stdout).toMatch(/^Deleted container: [0-9a-f]{12}\n/);
    expect(readdirSync(join(store, "containers"))).toEqual([]);
    // Named images stay without -a.
    expect(b(["images", "-q", "box"]).stdout).not.toBe("");
  });

  test("-P publishes every port the image exposes on a free host port; -p's own stay as given", async () => {
    expect(b(["import", "-c", "EXPOSE 8080 9090/udp", tarball, "web"]).code).toBe(0);
    const id = b(["run", "-d", "-P", "--network", "bridge", "web", "sh", "-c", "mkdir -p /www && echo served > /www/index.html && exec httpd -f -p 8080 -h /www"]).stdout.trim();
    try {
      expect(id).toMatch(/^[0-9a-f]{12}$/);
      const ports = JSON.parse(b(["inspect", id]).stdout)[0].network.ports as { hostPort: number; containerPort: number; protocol: string }[];
      expect(ports.map((p) => [p.containerPort, p.protocol]).sort()).toEqual([[8080, "tcp"], [9090, "udp"]]);
      const web = ports.find((p) => p.containerPort === 8080)!;
      expect(web.hostPort).toBeGreaterThan(0);
      let body = "";
      await until(() => {
        const r = Bun.spawnSync(["bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${web.hostPort} && printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3 && cat <&3`], { stdout: "pipe", stderr: "ignore" });
        body = r.stdout.toString();
        return body.includes("served");
      }, 5000, "the published port to answer").catch(() => {});
      expect(body).toContain("served");
    } finally {
      b(["rm", "-f", id]);
      b(["rmi", "web"]);
      b(["network", "prune"]);
    }
  });

  test("rmi: a name goes, the image with its last; an image a container uses stays unless -f; prune takes unused layers", () => {
    expect(b(["tag", "box", "box:second"]).code).toBe(0);
    expect(b(["rmi", "box:second"]).stdout).toBe("Untagged: box:second\n");
    const id = b(["run", "-d", "--network", "none", "configured", "sleep 100"]).stdout.trim();
    try {
      const refused = b(["rmi", "configured"]);
      expect([refused.code, refused.stderr]).toEqual([125, `bunker: image configured is used by container ${id}: remove it first, or use -f\n`]);
    } finally {
      expect(b(["rm", "-f", id]).code).toBe(0);
    }
    const gone = b(["rmi", "configured"]);
    expect(gone.stdout).toMatch(/^Untagged: configured:latest\nDeleted: sha256:[0-9a-f]{64}\n$/);
    expect(b(["rmi", "nothing-here"]).stderr).toBe("bunker: no such image: nothing-here\n");
    // box still uses the one layer, and its archive and config.
    expect(readdirSync(join(store, "layers")).length).toBe(1);
    expect(readdirSync(join(store, "blobs", "sha256")).length).toBe(2);
    expect(b(["rmi", "box"]).code).toBe(0);
    expect(readdirSync(join(store, "layers"))).toEqual([]);
    expect(readdirSync(join(store, "blobs", "sha256"))).toEqual([]);
  });
});

describe.skipIf(!ready)("rootless", () => {
  let u: TestUser | undefined;
  let bin: { path: string; dir: string } | undefined;
  beforeAll(() => {
    u = createUser("bunker-ci-img", true);
    bin = publicBinary(BUNKER);
  });
  afterAll(() => {
    if (bin) rmSync(bin.dir, { recursive: true, force: true });
    if (u) {
      rmSync(`/var/tmp/bunker-img-home-${u.uid}`, { recursive: true, force: true });
      removeUser(u);
    }
  });

  test("a user imports into a store of their own and runs it: overlayfs in the container's user namespace; files keep their IDs through the user's ranges", () => {
    const user = u!;
    const home = `/var/tmp/bunker-img-home-${user.uid}`;
    mkdirSync(home, { recursive: true });
    Bun.spawnSync(["chown", `${user.uid}:${user.gid}`, home]);
    // The busybox tree with a file of user 1000 in a directory of theirs, and a setuid program.
    const src = join(dir, "owned-src");
    expect(Bun.spawnSync(["cp", "-a", `${suite.fs.path}/.`, src]).exitCode).toBe(0);
    mkdirSync(join(src, "home", "u"), { recursive: true });
    writeFileSync(join(src, "home", "u", "file"), "theirs\n");
    Bun.spawnSync(["chown", "-R", "1000:1000", join(src, "home", "u")]);
    Bun.spawnSync(["cp", join(src, "bin", "busybox"), join(src, "bin", "suid")]);
    chmodSync(join(src, "bin", "suid"), 0o4755);
    const owned = join(dir, "owned.tar");
    expect(Bun.spawnSync(["tar", "-C", src, "--numeric-owner", "-cf", owned, "."]).exitCode).toBe(0);
    chmodSync(owned, 0o644);
    chmodSync(dir, 0o755);
    const as = (args: string[]) => runAs(user, [bin!.path, ...args], { HOME: home });
    const imported = as(["import", owned, "mine"]);
    expect([imported.code, imported.stderr]).toEqual([0, ""]);
    const store = `${home}/.local/share/bunker`;
    const layer = join(store, "layers", readdirSync(join(store, "layers"))[0]!);
    // On the host, through the ranges: container user 1000 is subStart + 999.
    expect(Bun.spawnSync(["stat", "-c", "%u:%g", join(layer, "home/u/file")]).stdout.toString()).toBe(`${user.subStart! + 999}:${user.subStart! + 999}\n`);
    const r = as(["run", "--network", "none", "--name", "mine-1", "mine", "sh", "-c", "id -u; stat -c '%u:%g %A' /home/u/file /bin/suid; mkdir /x && touch /x/f && chown -R 1000:1000 /x"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toBe("0\n1000:1000 -rw-r--r--\n0:0 -rwsr-xr-x\n");
    // Its own directory holds a directory of another ID: removed all the same.
    expect(as(["rm", "mine-1"]).code).toBe(0);
    expect(readdirSync(join(store, "containers"))).toEqual([]);
    expect(readdirSync(join(store, "tmp"))).toEqual([]);
    expect(as(["rmi", "mine"]).code).toBe(0);
    expect(readdirSync(join(store, "layers"))).toEqual([]);
    expect(readdirSync(join(store, "tmp"))).toEqual([]);
  });

  test("a user's layer whose root (the tar's \".\") belongs to another ID is stored, runs, and goes with rmi", () => {
    const user = u!;
    const home = `/var/tmp/bunker-img-root-${user.uid}`;
    mkdirSync(home, { recursive: true });
    Bun.spawnSync(["chown", `${user.uid}:${user.gid}`, home]);
    // Every entry of user 1000's, "." included: on the host the layer's top directory is a subordinate ID's, which the user may not rename into another directory.
    const owned = join(dir, "root-owned.tar");
    expect(Bun.spawnSync(["tar", "-C", suite.fs.path, "--numeric-owner", "--owner=1000", "--group=1000", "-cf", owned, "."]).exitCode).toBe(0);
    chmodSync(owned, 0o644);
    chmodSync(dir, 0o755);
    const as = (args: string[]) => runAs(user, [bin!.path, ...args], { HOME: home });
    try {
      const imported = as(["import", owned, "rooted"]);
      expect([imported.code, imported.stderr]).toEqual([0, ""]);
      const store = `${home}/.local/share/bunker`;
      const layers = readdirSync(join(store, "layers"));
      expect(layers.length).toBe(1);
      expect(Bun.spawnSync(["stat", "-c", "%u", join(store, "layers", layers[0]!)]).stdout.toString()).toBe(`${user.subStart! + 999}\n`);
      const r = as(["run", "--rm", "--network", "none", "rooted", "stat", "-c", "%u", "/bin/busybox"]);
      expect([r.code, r.stdout, r.stderr]).toEqual([0, "1000\n", ""]);
      expect(as(["rmi", "rooted"]).code).toBe(0);
      expect(readdirSync(join(store, "layers"))).toEqual([]);
      expect(readdirSync(join(store, "tmp"))).toEqual([]);
    } finally {
      Bun.spawnSync(["rm", "-rf", home]);
    }
  });
});
