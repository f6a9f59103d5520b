// bunker pull from a real registry: Debian's docker-registry (distribution
// v2) started by the test on 127.0.0.1 with its own storage, images made
// here from busybox with umoci and pushed with skopeo, OCI and Docker
// schema 2, gzip and zstd, a layer with a whiteout and a hard link, an index
// of two platforms, a token service, a damaged blob and a pull cut short.
// Nothing reaches beyond this machine.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bunker, BUNKER, isRoot, until } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";
import { createUser, publicBinary, removeUser, runAs, type TestUser } from "../helpers/users";

const tools = ["docker-registry", "skopeo", "umoci"];
const absent = tools.find((t) => !Bun.which(t));
const missing = !isRoot ? "they need root" : !busyboxAvailable() ? "busybox-static is not installed" : absent ? `${absent} is not installed (Debian's docker-registry, skopeo and umoci)` : null;
const ready = missing === null;
if (!ready) console.warn(`skipping the registry tests: ${missing}`);

let dir = "";
let store = "";
const registries: { port: number; pid: number; data: string }[] = [];
let tokens: ReturnType<typeof Bun.serve> | undefined;
const tokenRequests: URL[] = [];
/** The Authorization headers the token service was sent. */
const tokenAuth: string[] = [];

const suite = containerSuite(ready, () => {
  for (const r of registries) Bun.spawnSync(["sh", "-c", `kill ${r.pid} 2>/dev/null; true`]);
  tokens?.stop(true);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The store's layer directories (none before its first pull). */
const layers = () => (existsSync(join(store, "layers")) ? readdirSync(join(store, "layers")).sort() : []);
const env = () => ({ PATH: process.env.PATH ?? "/usr/bin:/bin", BUNKER_STORAGE: store });
const b = (args: string[]) => bunker(args, { env: env() });

function sh(cmd: string[]): string {
  const r = Bun.spawnSync(cmd, { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.toString()}`);
  return r.stdout.toString();
}

function freePort(): number {
  const s = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = s.port;
  s.stop(true);
  return port;
}

/** A registry of the test's own; with `auth`, it sends clients to `auth` for a token (distribution's "silly" auth). */
async function startRegistry(auth?: string): Promise<{ port: number; data: string }> {
  const port = freePort();
  const data = join(dir, `registry-${port}`);
  mkdirSync(data);
  const config = join(data, "config.yml");
  writeFileSync(
    config,
    `version: 0.1\nlog: {level: error}\nstorage: {filesystem: {rootdirectory: ${data}/data}, delete: {enabled: true}}\nhttp: {addr: 127.0.0.1:${port}}\n${auth ? `auth: {silly: {realm: "${auth}", service: test-registry}}\n` : ""}`,
  );
  const started = Bun.spawnSync(["sh", "-c", 'docker-registry serve "$0" > "$0.log" 2>&1 < /dev/null & echo $!', config], { stdout: "pipe" });
  registries.push({ port, pid: Number(started.stdout.toString().trim()), data });
  await until(() => Bun.spawnSync(["bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${port}`], { stderr: "ignore" }).exitCode === 0, 10000, "the registry to listen");
  return { port, data };
}

/** An OCI layout at `layout`:`tag` of `rootfs` with `cmd`, as umoci makes one. */
function makeImage(layout: string, tag: string, rootfs: string, cmd: string[], from?: string): void {
  if (!existsSync(layout)) sh(["umoci", "init", "--layout", layout]);
  if (from) sh(["umoci", "config", "--image", `${layout}:${from}`, "--tag", tag]);
  else sh(["umoci", "new", "--image", `${layout}:${tag}`]);
  sh(["umoci", "insert", "--image", `${layout}:${tag}`, rootfs, "/"]);
  sh(["umoci", "config", "--image", `${layout}:${tag}`, ...cmd.flatMap((c) => ["--config.cmd", c]), "--os", "linux", "--architecture", process.arch === "arm64" ? "arm64" : "amd64"]);
}

function push(layout: string, tag: string, port: number, name: string, extra: string[] = []): void {
  sh(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", ...extra, `oci:${layout}:${tag}`, `docker://127.0.0.1:${port}/${name}`]);
}

let reg: { port: number; data: string };
let layout = "";

beforeAll(async () => {
  if (!ready) return;
  dir = mkdtempSync("/var/tmp/bunker-registry-");
  store = join(dir, "store");
  reg = await startRegistry();
  layout = join(dir, "layout");
  makeImage(layout, "base", suite.fs.path, ["/bin/sh", "-c", "echo from-the-registry"]);
  // A second layer over the first: a file removed (a whiteout), one added with a hard link to it.
  const upper = join(dir, "upper");
  mkdirSync(join(upper, "etc"), { recursive: true });
  writeFileSync(join(upper, "etc", "added"), "second layer\n");
  linkSync(join(upper, "etc", "added"), join(upper, "etc", "linked"));
  sh(["umoci", "config", "--image", `${layout}:base`, "--tag", "layered"]);
  sh(["umoci", "insert", "--image", `${layout}:layered`, upper, "/"]);
  sh(["umoci", "insert", "--image", `${layout}:layered`, "--whiteout", "/bin/vi"]);
  sh(["umoci", "config", "--image", `${layout}:layered`, "--config.cmd", "/bin/sh", "--config.cmd", "-c", "--config.cmd", "cat /etc/added; stat -c %h /etc/linked; test -e /bin/vi && echo vi-here || echo vi-gone"]);
  push(layout, "base", reg.port, "busybox:latest");
  push(layout, "base", reg.port, "busybox:docker", ["--format", "v2s2"]);
  push(layout, "base", reg.port, "busybox:zstd", ["--dest-compress-format", "zstd"]);
  push(layout, "layered", reg.port, "layered:latest");
});

afterAll(() => {
  // No staging directory outlives its pull, nor any container directory its container.
  if (ready && existsSync(join(store, "tmp"))) expect(readdirSync(join(store, "tmp"))).toEqual([]);
});

describe.skipIf(!ready)("bunker pull", () => {
  test("an OCI image by tag, then run: its layers unpacked, its config applied", () => {
    const r = b(["pull", `127.0.0.1:${reg.port}/busybox`]);
    expect([r.code, r.stdout]).toEqual([0, `127.0.0.1:${reg.port}/busybox:latest: ${r.stdout.trim().split(": ")[1]}\n`]);
    expect(r.stderr).toMatch(/: done\n/);
    const run = b(["run", "--rm", "--network", "none", `127.0.0.1:${reg.port}/busybox`]);
    expect([run.code, run.stdout, run.stderr]).toEqual([0, "from-the-registry\n", ""]);
    const [i] = JSON.parse(b(["image", "inspect", `127.0.0.1:${reg.port}/busybox`]).stdout);
    expect(i.digests[0]).toMatch(new RegExp(`^127\\.0\\.0\\.1:${reg.port}/busybox@sha256:[0-9a-f]{64}$`));
    // By that digest: the same image, and nothing downloaded again.
    const again = b(["pull", i.digests[0]]);
    expect(again.code).toBe(0);
    expect(again.stderr).toMatch(/already here/);
  });

  test("Docker schema 2 and zstd layers: the same root filesystem, one layer directory", () => {
    const before = readdirSync(join(store, "layers")).length;
    expect(b(["pull", "-q", `127.0.0.1:${reg.port}/busybox:docker`]).code).toBe(0);
    const z = b(["pull", "-q", `127.0.0.1:${reg.port}/busybox:zstd`]);
    expect([z.code, z.stderr]).toEqual([0, ""]);
    // The uncompressed layer is the same: its ChainID, and so its directory, are too.
    expect(readdirSync(join(store, "layers")).length).toBe(before);
    // And its size: an image whose layer was already here counts it as stored, not as downloaded.
    const sizes = JSON.parse(b(["image", "inspect", `127.0.0.1:${reg.port}/busybox:latest`, `127.0.0.1:${reg.port}/busybox:docker`, `127.0.0.1:${reg.port}/busybox:zstd`]).stdout).map((i: { size: number }) => i.size);
    expect(new Set(sizes).size).toBe(1);
    expect(sizes[0]).toBeGreaterThan(1_000_000);
    expect(b(["run", "--rm", "--network", "none", `127.0.0.1:${reg.port}/busybox:zstd`]).stdout).toBe("from-the-registry\n");
    // Listed by repository, whose registry has a port: every tag of it.
    const tags = b(["images", `127.0.0.1:${reg.port}/busybox`]).stdout.split("\n").slice(1).filter(Boolean).map((l) => l.split(/\s+/)[1]).sort();
    expect(tags).toEqual(["docker", "latest", "zstd"]);
  });

  test("a layer's whiteout hides the file below; its hard links are links", () => {
    expect(b(["pull", "-q", `127.0.0.1:${reg.port}/layered`]).code).toBe(0);
    const r = b(["run", "--rm", "--network", "none", `127.0.0.1:${reg.port}/layered`]);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, "second layer\n2\nvi-gone\n", ""]);
  });

  test("an index: the entry for this machine's platform, or --platform's", async () => {
    // Two manifests under one index: this machine's and "arm64" (another image, to tell them apart).
    makeImage(layout, "other", suite.fs.path, ["/bin/sh", "-c", "echo the-other-one"]);
    push(layout, "other", reg.port, "multi:other");
    const manifestOf = async (tag: string) => {
      const res = await fetch(`http://127.0.0.1:${reg.port}/v2/multi/manifests/${tag}`, { headers: { Accept: "application/vnd.oci.image.manifest.v1+json" } });
      const bytes = new Uint8Array(await res.arrayBuffer());
      return { digest: `sha256:${new Bun.CryptoHasher("sha256").update(bytes).digest("hex")}`, size: bytes.length };
    };
    push(layout, "base", reg.port, "multi:base");
    const here = await manifestOf("base");
    const other = await manifestOf("other");
    const arch = process.arch === "arm64" ? "arm64" : "amd64";
    const otherArch = arch === "amd64" ? "arm64" : "amd64";
    const index = JSON.stringify({
      schemaVersion: 2,
      mediaType: "application/vnd.oci.image.index.v1+json",
      manifests: [
        { mediaType: "application/vnd.oci.image.manifest.v1+json", ...other, platform: { os: "linux", architecture: otherArch, ...(otherArch === "arm64" ? { variant: "v8" } : {}) } },
        { mediaType: "application/vnd.oci.image.manifest.v1+json", ...here, platform: { os: "linux", architecture: arch } },
        { mediaType: "application/vnd.oci.image.manifest.v1+json", ...other, platform: { os: "unknown", architecture: "unknown" } },
      ],
    });
    const put = await fetch(`http://127.0.0.1:${reg.port}/v2/multi/manifests/latest`, { method: "PUT", headers: { "Content-Type": "application/vnd.oci.image.index.v1+json" }, body: index });
    expect(put.status).toBe(201);
    expect(b(["pull", "-q", `127.0.0.1:${reg.port}/multi`]).code).toBe(0);
    expect(b(["run", "--rm", "--network", "none", `127.0.0.1:${reg.port}/multi`]).stdout).toBe("from-the-registry\n");
    expect(b(["pull", "-q", "--platform", `linux/${otherArch}`, `127.0.0.1:${reg.port}/multi:latest`]).code).toBe(0);
    const [i] = JSON.parse(b(["image", "inspect", `127.0.0.1:${reg.port}/multi`]).stdout);
    expect(i.config.config.Cmd).toEqual(["/bin/sh", "-c", "echo the-other-one"]);
    const none = b(["pull", "--platform", "linux/s390x", `127.0.0.1:${reg.port}/multi`]);
    expect([none.code, none.stderr]).toEqual([125, `bunker: pull 127.0.0.1:${reg.port}/multi:latest: no image for linux/s390x (it has linux/${otherArch}${otherArch === "arm64" ? "/v8" : ""}, linux/${arch})\n`]);
  });

  test("a token service: the 401's challenge is followed, with the repository's pull scope", async () => {
    tokens = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      fetch(req) {
        tokenRequests.push(new URL(req.url));
        const auth = req.headers.get("authorization");
        if (auth) tokenAuth.push(auth);
        return Response.json({ token: "a-token-for-the-test", expires_in: 300 });
      },
    });
    const guarded = await startRegistry(`http://127.0.0.1:${tokens.port}/token`);
    push(layout, "base", reg.port, "busybox:latest");
    // Spawned, not run synchronously: the token service answers from this process's event loop.
    const spawned = async (cmd: string[], e?: Record<string, string>) => {
      const p = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", ...(e ? { env: e } : {}) });
      const [code, stdout, stderr] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
      return { code, stdout, stderr };
    };
    const copied = await spawned(["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false", "--dest-creds", "any:thing", `docker://127.0.0.1:${reg.port}/busybox:latest`, `docker://127.0.0.1:${guarded.port}/private/busybox:latest`]);
    expect([copied.code, copied.stderr]).toEqual([0, ""]);
    tokenRequests.length = 0;
    tokenAuth.length = 0;
    const r = await spawned([BUNKER, "pull", "-q", `127.0.0.1:${guarded.port}/private/busybox`], env());
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(tokenRequests.length).toBeGreaterThan(0);
    expect(tokenRequests[0]!.searchParams.get("scope")).toBe("repository:private/busybox:pull");
    expect(tokenRequests[0]!.searchParams.get("service")).toBe("test-registry");
    // Anonymous: the token service saw no credentials.
    expect(tokenAuth).toEqual([]);

    // bunker login: checked against the registry, kept where REGISTRY_AUTH_FILE says, sent to the token service by pulls.
    const authFile = join(dir, "auth.json");
    const withAuth = { ...env(), REGISTRY_AUTH_FILE: authFile };
    const p = Bun.spawn([BUNKER, "login", "-u", "tester", "--password-stdin", `127.0.0.1:${guarded.port}`], { env: withAuth, stdin: new TextEncoder().encode("s3cret\n"), stdout: "pipe", stderr: "pipe" });
    const [code, out, err] = await Promise.all([p.exited, new Response(p.stdout).text(), new Response(p.stderr).text()]);
    expect([code, out, err]).toEqual([0, "Login Succeeded\n", ""]);
    const saved = JSON.parse(readFileSync(authFile, "utf8"));
    expect(saved.auths[`127.0.0.1:${guarded.port}`].auth).toBe(btoa("tester:s3cret"));
    expect(statSync(authFile).mode & 0o777).toBe(0o600);
    tokenAuth.length = 0;
    const pulled = await spawned([BUNKER, "pull", "-q", `127.0.0.1:${guarded.port}/private/busybox`], withAuth);
    expect([pulled.code, pulled.stderr]).toEqual([0, ""]);
    expect(tokenAuth).toContain(`Basic ${btoa("tester:s3cret")}`);
    // Never shown: not in what the pull printed.
    expect(pulled.stdout.includes("s3cret")).toBe(false);
    const out2 = await spawned([BUNKER, "logout", `127.0.0.1:${guarded.port}`], withAuth);
    expect([out2.code, out2.stdout]).toEqual([0, `Removed login credentials for 127.0.0.1:${guarded.port}\n`]);
    expect(JSON.parse(readFileSync(authFile, "utf8")).auths).toEqual({});
    expect((await spawned([BUNKER, "logout", `127.0.0.1:${guarded.port}`], withAuth)).stderr).toBe(`bunker: not logged in to 127.0.0.1:${guarded.port}\n`);
  });

  test("bad answers are one line, exit 125, and leave nothing in the store", () => {
    const layersBefore = layers();
    const unknown = b(["pull", `127.0.0.1:${reg.port}/busybox:nope`]);
    expect([unknown.code, unknown.stderr]).toEqual([125, `bunker: pull 127.0.0.1:${reg.port}/busybox:nope: not found (404)\n`]);
    const closed = freePort();
    const unreachable = b(["pull", `127.0.0.1:${closed}/x`]);
    expect([unreachable.code, unreachable.stderr]).toEqual([125, `bunker: pull 127.0.0.1:${closed}/x:latest: cannot reach http://127.0.0.1:${closed}: connection refused\n`]);
    expect(b(["pull", "Bad/Name"]).stderr).toBe('bunker: invalid reference "Bad/Name": repository names must be lowercase\n');
    expect(layers()).toEqual(layersBefore);
  });

  test("a blob whose content is not its digest is refused, and no layer of it is kept", () => {
    // Another image, so that its layer is not in the store yet; then its blob damaged in the registry's storage.
    const src = join(dir, "damaged-src");
    mkdirSync(src);
    writeFileSync(join(src, "payload"), "x".repeat(100000));
    makeImage(layout, "damaged", src, ["/bin/true"]);
    push(layout, "damaged", reg.port, "damaged:latest");
    const blobs = join(reg.data, "data", "docker", "registry", "v2", "blobs", "sha256");
    const manifest = JSON.parse(sh(["skopeo", "inspect", "--raw", "--tls-verify=false", `docker://127.0.0.1:${reg.port}/damaged:latest`]));
    const digest = (manifest.layers.at(-1).digest as string).slice(7);
    const data = join(blobs, digest.slice(0, 2), digest, "data");
    const bytes = new Uint8Array(readFileSync(data));
    // The gzip header's time stamp: the stream still inflates to the very layer the image names,
    // so only the blob's own digest tells.
    bytes[4] = bytes[4]! ^ 0xff;
    writeFileSync(data, bytes);
    const layersBefore = layers();
    const r = b(["pull", `127.0.0.1:${reg.port}/damaged`]);
    expect(r.code).toBe(125);
    expect(r.stderr).toMatch(new RegExp(`^(.*\\n)*bunker: pull 127\\.0\\.0\\.1:${reg.port}/damaged:latest: layer ${digest.slice(0, 12)}: the blob's digest is sha256:[0-9a-f]{64}, not sha256:${digest}: refused\\n$`));
    expect(layers()).toEqual(layersBefore);
    expect(b(["images", "-q", `127.0.0.1:${reg.port}/damaged`]).stdout).toBe("");
  });

  test("a pull killed halfway leaves nothing used; the next one completes it and clears what was left", async () => {
    const src = join(dir, "big-src");
    mkdirSync(src);
    writeFileSync(join(src, "big"), crypto.getRandomValues(new Uint8Array(65536)).join(",").repeat(40));
    makeImage(layout, "big", src, ["/bin/true"], "base");
    push(layout, "big", reg.port, "big:latest");
    const p = Bun.spawn([BUNKER, "pull", `127.0.0.1:${reg.port}/big`], { env: env(), stdout: "ignore", stderr: "pipe" });
    // Killed once its layer is on the way.
    const reader = p.stderr.getReader();
    let seen = "";
    while (!seen.includes("downloading")) {
      const { value, done } = await reader.read();
      if (done) break;
      seen += new TextDecoder().decode(value);
    }
    p.kill("SIGKILL");
    await p.exited;
    expect(b(["images", "-q", `127.0.0.1:${reg.port}/big`]).stdout).toBe("");
    const r = b(["pull", "-q", `127.0.0.1:${reg.port}/big`]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(readdirSync(join(store, "tmp"))).toEqual([]);
    expect(b(["run", "--rm", "--network", "none", `127.0.0.1:${reg.port}/big`, "sh", "-c", "test -s /big && echo whole"]).stdout).toBe("whole\n");
  });

  test("load: a docker save archive (skopeo's docker-archive) and an OCI layout in a tar, named as they say", () => {
    const saved = join(dir, "saved.tar");
    sh(["skopeo", "copy", "--quiet", `oci:${layout}:layered`, `docker-archive:${saved}:example.com/team/saved:v1`]);
    const r = b(["load", "-q", "-i", saved]);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, "Loaded image: example.com/team/saved:v1\n", ""]);
    expect(b(["run", "--rm", "--network", "none", "example.com/team/saved:v1"]).stdout).toBe("second layer\n2\nvi-gone\n");
    // An OCI layout whose index names its image by tag alone: loaded unnamed, run by id.
    const ociTar = join(dir, "layout.tar.gz");
    sh(["sh", "-c", `tar -C "$0" -cf - oci-layout index.json blobs | gzip > "$1"`, layout, ociTar]);
    const o = Bun.spawnSync(["sh", "-c", `"$0" load < "$1"`, BUNKER, ociTar], { env: env(), stdout: "pipe", stderr: "pipe" });
    expect(o.exitCode).toBe(0);
    const ids = o.stdout.toString().trim().split("\n");
    expect(ids.length).toBeGreaterThan(1);
    for (const l of ids) expect(l).toMatch(/^Loaded image ID: sha256:[0-9a-f]{64}$/);
    const junk = join(dir, "not-an-archive.tar");
    sh(["tar", "-C", dir, "-cf", junk, "saved.tar"]);
    expect(b(["load", "-i", junk])).toMatchObject({ code: 125, stderr: "bunker: load: neither a docker save archive (manifest.json) nor an OCI layout (oci-layout, index.json)\n" });
  });

  test("save: skopeo reads bunker's archive as a docker-archive and as an OCI archive; pushed back and pulled, it is the same image", () => {
    expect(b(["pull", "-q", `127.0.0.1:${reg.port}/layered`]).code).toBe(0);
    const [pulled] = JSON.parse(b(["image", "inspect", `127.0.0.1:${reg.port}/layered`]).stdout);
    const saved = join(dir, "bunker-saved.tar");
    const r = b(["save", "-o", saved, `127.0.0.1:${reg.port}/layered`]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    sh(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", `docker-archive:${saved}`, `docker://127.0.0.1:${reg.port}/resaved:docker`]);
    sh(["skopeo", "copy", "--quiet", "--dest-tls-verify=false", `oci-archive:${saved}:latest`, `docker://127.0.0.1:${reg.port}/resaved:oci`]);
    for (const tag of ["docker", "oci"]) {
      expect(b(["pull", "-q", `127.0.0.1:${reg.port}/resaved:${tag}`]).code).toBe(0);
      const [again] = JSON.parse(b(["image", "inspect", `127.0.0.1:${reg.port}/resaved:${tag}`]).stdout);
      expect(again.id).toBe(pulled.id);
    }
    // The layers went out as they came in (compressed as the registry served them).
    const manifest = JSON.parse(sh(["skopeo", "inspect", "--raw", "--tls-verify=false", `docker://127.0.0.1:${reg.port}/resaved:oci`]));
    expect(manifest.layers.map((l: { digest: string }) => l.digest)).toEqual(pulled.blobs.map((l: { digest: string }) => l.digest));
    expect(b(["run", "--rm", "--network", "none", `127.0.0.1:${reg.port}/resaved:docker`]).stdout).toBe("second layer\n2\nvi-gone\n");
  });

  test("run pulls an image the store does not have (--pull missing), and --pull never does not", () => {
    expect(b(["rmi", "-f", `127.0.0.1:${reg.port}/busybox:latest`]).code).toBe(0);
    const never = b(["run", "--rm", "--pull", "never", "--network", "none", `127.0.0.1:${reg.port}/busybox`]);
    expect(never.code).toBe(125);
    const r = b(["run", "--rm", "--network", "none", `127.0.0.1:${reg.port}/busybox`]);
    expect([r.code, r.stdout]).toEqual([0, "from-the-registry\n"]);
  });
});

describe.skipIf(!ready)("rootless pull", () => {
  let u: TestUser | undefined;
  let bin: { path: string; dir: string } | undefined;
  beforeAll(() => {
    u = createUser("bunker-ci-pull", true);
    bin = publicBinary(BUNKER);
  });
  afterAll(() => {
    if (bin) rmSync(bin.dir, { recursive: true, force: true });
    if (u) removeUser(u);
  });

  test("a user pulls into a store of their own and runs the image in a user namespace", () => {
    const user = u!;
    const home = join(dir, "home");
    mkdirSync(home);
    chmodSync(dir, 0o755);
    Bun.spawnSync(["chown", `${user.uid}:${user.gid}`, home]);
    const as = (args: string[]) => runAs(user, [bin!.path, ...args], { HOME: home });
    const pulled = as(["pull", "-q", `127.0.0.1:${reg.port}/layered`]);
    expect([pulled.code, pulled.stderr]).toEqual([0, ""]);
    expect(readdirSync(join(home, ".local/share/bunker/layers")).length).toBe(3);
    const r = as(["run", "--rm", "--network", "none", `127.0.0.1:${reg.port}/layered`]);
    expect([r.code, r.stdout, r.stderr]).toEqual([0, "second layer\n2\nvi-gone\n", ""]);
  });
});
