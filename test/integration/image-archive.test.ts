// Archives out of bunker: `export` of a container's root filesystem as the
// container sees it, and `save` of images that `load` (here, on a second
// store) brings back as the same images. The archives are read with GNU
// tar and Python, not bunker's own reader.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bunker, BUNKER, isRoot } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { tarListing } from "../helpers/tar";
import { containerSuite } from "../helpers/suite";
import { createUser, publicBinary, removeUser, runAs, type TestUser } from "../helpers/users";

const ready = isRoot && busyboxAvailable() && Bun.which("python3") !== null;
if (!ready) console.warn("skipping the archive tests: they need root, busybox-static and python3");

let dir: string;
let store: string;
let tarball: string;

const suite = containerSuite(ready);
const env = (s = store) => ({ PATH: process.env.PATH ?? "/usr/bin:/bin", BUNKER_STORAGE: s });
const b = (args: string[], s = store) => bunker(args, { env: env(s) });
const sha256 = (bytes: Uint8Array) => `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`;
// security.capability of a file with cap_net_raw permitted and effective (VFS_CAP_REVISION_2).
const CAP = "0100000200200000000000000000000000000000";


function extract(archive: string, into: string): void {
  mkdirSync(into, { recursive: true });
  const r = Bun.spawnSync(["tar", "--xattrs", "--xattrs-include=*", "--numeric-owner", "-xpf", archive, "-C", into]);
  expect([r.exitCode, r.stderr.toString()]).toEqual([0, ""]);
}

const xattrHex = (path: string, name: string) => Bun.spawnSync(["python3", "-c", "import os,sys; print(os.getxattr(sys.argv[1], sys.argv[2], follow_symlinks=False).hex())", path, name]).stdout.toString().trim();

beforeAll(() => {
  if (!ready) return;
  dir = mkdtempSync("/var/tmp/bunker-archives-");
  chmodSync(dir, 0o755);
  store = join(dir, "store");
  // The busybox tree with what an archive must carry: owners, setuid, a capability, hard and symbolic links, a FIFO, a device.
  const src = join(dir, "src");
  expect(Bun.spawnSync(["cp", "-a", `${suite.fs.path}/.`, src]).exitCode).toBe(0);
  mkdirSync(join(src, "data", "d"), { recursive: true });
  writeFileSync(join(src, "data", "changed"), "before\n");
  writeFileSync(join(src, "data", "removed"), "removed\n");
  writeFileSync(join(src, "data", "d", "old"), "old\n");
  writeFileSync(join(src, "data", "owned"), "owned\n");
  Bun.spawnSync(["chown", "1234:2345", join(src, "data", "owned")]);
  writeFileSync(join(src, "data", "linked"), "linked\n");
  linkSync(join(src, "data", "linked"), join(src, "data", "linked2"));
  symlinkSync("../bin/busybox", join(src, "data", "sym"));
  Bun.spawnSync(["cp", join(src, "bin", "busybox"), join(src, "data", "suid")]);
  chmodSync(join(src, "data", "suid"), 0o4755);
  writeFileSync(join(src, "data", "capped"), "capped\n");
  expect(Bun.spawnSync(["python3", "-c", `import os; os.setxattr("${join(src, "data", "capped")}", "security.capability", bytes.fromhex("${CAP}"))`]).exitCode).toBe(0);
  expect(Bun.spawnSync(["mkfifo", join(src, "data", "fifo")]).exitCode).toBe(0);
  expect(Bun.spawnSync(["mknod", join(src, "data", "null"), "c", "1", "3"]).exitCode).toBe(0);
  tarball = join(dir, "base.tar");
  expect(Bun.spawnSync(["tar", "--xattrs", "--xattrs-include=*", "-C", src, "--numeric-owner", "-cf", tarball, "."]).exitCode).toBe(0);
  chmodSync(tarball, 0o644);
  expect(b(["import", "-c", 'CMD ["sh"]', tarball, "arch:base"]).code).toBe(0);
});

afterAll(() => {
  if (ready) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!ready)("export", () => {
  test("a container's root filesystem as it sees it: its changes over the image's layers, with owners, modes, links, a capability, a FIFO and a device", () => {
    const r = b(["run", "--name", "arch-ex", "--network", "none", "arch:base", "sh", "-c", "echo after > /data/changed; rm /data/removed; rm -r /data/d; mkdir /data/d; echo new > /data/d/new; echo own > /data/mine; chown 77:88 /data/mine"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    const out = join(dir, "ex.tar");
    const viaPipe = Bun.spawnSync(["sh", "-c", `"$0" export arch-ex > "$1"`, BUNKER, out], { env: env() });
    expect([viaPipe.exitCode, viaPipe.stderr.toString()]).toEqual([0, ""]);
    const entries = tarListing(out).filter((l) => / data\//.test(l));
    expect(entries.sort()).toEqual(
      [
        "-rw-r--r-- 0/0 data/capped",
        "-rw-r--r-- 0/0 data/changed",
        "drwxr-xr-x 0/0 data/",
        "drwxr-xr-x 0/0 data/d/",
        "-rw-r--r-- 0/0 data/d/new",
        "prw-r--r-- 0/0 data/fifo",
        "-rw-r--r-- 0/0 data/linked",
        "hrw-r--r-- 0/0 data/linked2 link to data/linked",
        "-rw-r--r-- 77/88 data/mine",
        "crw-r--r-- 0/0 data/null",
        "-rw-r--r-- 1234/2345 data/owned",
        "-rwsr-xr-x 0/0 data/suid",
        "lrwxrwxrwx 0/0 data/sym -> ../bin/busybox",
      ].sort(),
    );
    const x = join(dir, "ex");
    extract(out, x);
    expect(readFileSync(join(x, "data", "changed"), "utf8")).toBe("after\n");
    expect(readFileSync(join(x, "data", "d", "new"), "utf8")).toBe("new\n");
    expect(existsSync(join(x, "data", "d", "old"))).toBe(false);
    expect(readFileSync(join(x, "bin", "busybox")).equals(readFileSync(join(suite.fs.path, "bin", "busybox")))).toBe(true);
    expect(statSync(join(x, "data", "linked")).ino).toBe(statSync(join(x, "data", "linked2")).ino);
    expect(xattrHex(join(x, "data", "capped"), "security.capability")).toBe(CAP);
    // No overlayfs bookkeeping (whiteouts, opaque markers) in the archive.
    expect(tarListing(out).some((l) => /\.wh\.|overlay/.test(l))).toBe(false);
    // -o writes the same archive to a file.
    const file = join(dir, "ex-o.tar");
    expect(b(["export", "-o", file, "arch-ex"]).code).toBe(0);
    expect(readFileSync(file).equals(readFileSync(out))).toBe(true);
    expect(b(["rm", "arch-ex"]).code).toBe(0);
  });

  test("a --rootfs container's directory as it is; a terminal, a --host-root container and an unknown one are refused, leaving no file behind", () => {
    const r = b(["run", "--name", "arch-dir", "--network", "none", "--rootfs", suite.fs.path, "--", "true"]);
    expect(r.code).toBe(0);
    const out = join(dir, "dir.tar");
    expect(b(["export", "-o", out, "arch-dir"]).code).toBe(0);
    expect(tarListing(out)).toContainEqual("-rwxr-xr-x 0/0 bin/busybox");
    expect(b(["rm", "arch-dir"]).code).toBe(0);
    const tty = Bun.spawnSync(["script", "-qec", `"${BUNKER}" export whatever`, "/dev/null"], { env: env() });
    expect(tty.stdout.toString()).toContain("bunker: export whatever: refusing to write an archive to a terminal: use -o FILE, or redirect the output");
    expect(tty.exitCode).toBe(125);
    const host = b(["run", "--name", "arch-host", "--network", "none", "--host-root", "--", "true"]);
    expect(host.code).toBe(0);
    const outs = join(dir, "refused");
    mkdirSync(outs);
    const refused = b(["export", "-o", join(outs, "host.tar"), "arch-host"]);
    expect([refused.code, refused.stderr]).toEqual([125, "bunker: export arch-host: it runs on the host's root (--host-root) and has no root filesystem of its own\n"]);
    expect(b(["rm", "arch-host"]).code).toBe(0);
    const unknown = b(["export", "-o", join(outs, "none.tar"), "arch-none"]);
    expect([unknown.code, unknown.stderr]).toEqual([125, "bunker: no such container: arch-none\n"]);
    expect(readdirSync(outs)).toEqual([]);
  });
});

describe.skipIf(!ready)("save", () => {
  test("save then load on another store gives the same images (ids, names, layers), in an archive both docker's and OCI's readers take", () => {
    expect(b(["tag", "arch:base", "example.org/team/arch:two"]).code).toBe(0);
    const out = join(dir, "saved.tar");
    const r = b(["save", "-o", out, "arch:base", "example.org/team/arch:two"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    const x = join(dir, "saved");
    extract(out, x);
    // Every blob is named by its content's digest.
    for (const f of readdirSync(join(x, "blobs", "sha256"))) expect(sha256(readFileSync(join(x, "blobs", "sha256", f)))).toBe(`sha256:${f}`);
    const manifest = JSON.parse(readFileSync(join(x, "manifest.json"), "utf8"));
    const id = JSON.parse(b(["image", "inspect", "arch:base"]).stdout)[0].id as string;
    expect(manifest).toEqual([{ Config: `blobs/sha256/${id.slice(7)}`, RepoTags: ["arch:base", "example.org/team/arch:two"], Layers: [`blobs/sha256/${sha256(readFileSync(tarball)).slice(7)}`] }]);
    expect(JSON.parse(readFileSync(join(x, "oci-layout"), "utf8"))).toEqual({ imageLayoutVersion: "1.0.0" });
    const index = JSON.parse(readFileSync(join(x, "index.json"), "utf8"));
    expect(index.manifests.map((m: { annotations: Record<string, string> }) => m.annotations["io.containerd.image.name"])).toEqual(["docker.io/library/arch:base", "example.org/team/arch:two"]);
    const ociManifest = JSON.parse(readFileSync(join(x, "blobs", "sha256", index.manifests[0].digest.slice(7)), "utf8"));
    expect(ociManifest.config.digest).toBe(id);
    const other = join(dir, "store2");
    const loaded = b(["load", "-i", out], other);
    expect([loaded.code, loaded.stdout]).toEqual([0, "Loaded image: arch:base\nLoaded image: example.org/team/arch:two\n"]);
    const again = JSON.parse(b(["image", "inspect", "example.org/team/arch:two"], other).stdout)[0];
    expect(again.id).toBe(id);
    const run = b(["run", "--rm", "--network", "none", "arch:base", "cat", "/data/owned"], other);
    expect([run.code, run.stdout]).toEqual([0, "owned\n"]);
    expect(b(["rmi", "example.org/team/arch:two"]).code).toBe(0);
  });

  test("a layer whose archive the store no longer has is rebuilt from its files: the same files, under a new id the user is told of", () => {
    const before = JSON.parse(b(["image", "inspect", "arch:base"]).stdout)[0];
    const blob = join(store, "blobs", "sha256", before.blobs[0].digest.slice(7));
    expect(existsSync(blob)).toBe(true);
    rmSync(blob);
    const out = join(dir, "rebuilt.tar");
    const r = b(["save", "-o", out, "arch:base"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/^bunker: save: docker\.io\/library\/arch:base: layers without their archive in the store were rebuilt from their files: saved as image sha256:[0-9a-f]{64}\n$/);
    const newId = /(sha256:[0-9a-f]{64})/.exec(r.stderr)![1]!;
    expect(newId).not.toBe(before.id);
    const other = join(dir, "store3");
    expect(b(["load", "-i", out], other).code).toBe(0);
    expect(JSON.parse(b(["image", "inspect", "arch:base"], other).stdout)[0].id).toBe(newId);
    // The rebuilt layer holds what the original did, owners and all.
    const x = join(dir, "rebuilt");
    extract(out, x);
    const layer = JSON.parse(readFileSync(join(x, "manifest.json"), "utf8"))[0].Layers[0];
    const strip = (l: string) => l.replace(/ \.\//g, " ").replace(/ \.?\/?$/, "");
    const want = tarListing(tarball).map(strip).filter((l) => !/ $|^d\S+ 0\/0$/.test(l)).sort();
    expect(tarListing(join(x, layer)).map(strip).sort()).toEqual(want);
    expect(xattrHex(join(dir, "src", "data", "capped"), "security.capability")).toBe(CAP);
  });

  test("an unknown image is refused by name, and nothing is written", () => {
    const out = join(dir, "none.tar");
    const r = b(["save", "-o", out, "arch:base", "arch:nope"]);
    expect([r.code, r.stderr]).toEqual([125, "bunker: save: no such image: arch:nope\n"]);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes(".bunker-"))).toEqual([]);
  });
});

describe.skipIf(!ready)("rootless", () => {
  let u: TestUser | undefined;
  let bin: { path: string; dir: string } | undefined;
  beforeAll(() => {
    u = createUser("bunker-ci-arc", true);
    bin = publicBinary(BUNKER);
  });
  afterAll(() => {
    if (bin) rmSync(bin.dir, { recursive: true, force: true });
    if (u) {
      rmSync(`/var/tmp/bunker-arc-home-${u.uid}`, { recursive: true, force: true });
      removeUser(u);
    }
  });

  test("a user with ranges exports and saves with the IDs their containers see, files of every ID read", () => {
    const user = u!;
    const home = `/var/tmp/bunker-arc-home-${user.uid}`;
    mkdirSync(home, { recursive: true });
    Bun.spawnSync(["chown", `${user.uid}:${user.gid}`, home]);
    const as = (args: string[]) => runAs(user, [bin!.path, ...args], { HOME: home });
    expect(as(["import", tarball, "mine"]).code).toBe(0);
    const r = as(["run", "--name", "mine-ex", "--network", "none", "mine", "sh", "-c", "echo secret > /data/private; chown 1000:1000 /data/private; chmod 600 /data/private"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    const out = `${home}/ex.tar`;
    const ex = as(["export", "-o", out, "mine-ex"]);
    expect([ex.code, ex.stderr]).toEqual([0, ""]);
    const entries = tarListing(out);
    expect(entries).toContainEqual("-rw------- 1000/1000 data/private");
    expect(entries).toContainEqual("-rw-r--r-- 1234/2345 data/owned");
    expect(entries).toContainEqual("-rwsr-xr-x 0/0 data/suid");
    const x = join(dir, "rootless-ex");
    extract(out, x);
    expect(readFileSync(join(x, "data", "private"), "utf8")).toBe("secret\n");
    expect(as(["rm", "mine-ex"]).code).toBe(0);
    // Its layer's archive gone, save rebuilds it from files of the user's ranges.
    const store = `${home}/.local/share/bunker`;
    for (const f of readdirSync(join(store, "blobs", "sha256"))) if (statSync(join(store, "blobs", "sha256", f)).size > 1 << 20) rmSync(join(store, "blobs", "sha256", f));
    const saved = as(["save", "-o", `${home}/saved.tar`, "mine"]);
    expect(saved.code).toBe(0);
    expect(saved.stderr).toContain("were rebuilt from their files");
    const sx = join(dir, "rootless-saved");
    extract(`${home}/saved.tar`, sx);
    const layer = JSON.parse(readFileSync(join(sx, "manifest.json"), "utf8"))[0].Layers[0];
    const layerEntries = tarListing(join(sx, layer));
    expect(layerEntries).toContainEqual("-rw-r--r-- 1234/2345 data/owned");
    expect(layerEntries).toContainEqual("-rwsr-xr-x 0/0 data/suid");
    expect(as(["rmi", "mine"]).code).toBe(0);
  });
});
