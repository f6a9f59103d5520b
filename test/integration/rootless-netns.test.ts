// The user's rootless network namespace (src/runtime/rootless-netns.ts): made
// on first ensure, held by a process of a few KiB, connected out through
// slirp4netns or pasta, gone after release (process, helper, state), made
// again after a bunker killed while making it; `__netns` runs in it as root
// of its user namespace; a container made in its user namespace with a
// network namespace of its own is reached over a veth from it, and from the
// host's loopback through a published port.

import { describe, expect, test } from "bun:test";
import { appendFileSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { alive, isRoot, until } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { guardLeaks } from "../helpers/suite";
import { helperInstalled, tunOpen } from "../helpers/netenv";
import { freePort } from "../helpers/ports";
import { runAs } from "../helpers/users";
import { userSuite, type UserSuite } from "../helpers/user-suite";

const uidmap = existsSync("/usr/bin/newuidmap") && existsSync("/usr/bin/newgidmap");
const helper = helperInstalled("slirp4netns") || helperInstalled("pasta");
const ready = isRoot && busyboxAvailable() && uidmap && existsSync("/usr/bin/setpriv") && tunOpen() && helper;
if (!ready) {
  const why = !isRoot ? "they need root to create test users" : !uidmap ? "uidmap (newuidmap/newgidmap) is not installed" : !tunOpen() ? "/dev/net/tun is not mode 0666" : !helper ? "neither slirp4netns nor pasta is installed" : "busybox-static or setpriv is missing";
  console.warn(`skipping the rootless network namespace tests: ${why}`);
}

guardLeaks(ready);

interface Netns {
  pid: number;
  pidStart: number;
  userns: string;
  netns: string;
  helper: string;
}

const ensure = (s: UserSuite): Netns => {
  const r = s.as(["__rootless-netns", "ensure"]);
  expect([r.code, r.stderr]).toEqual([0, ""]);
  return JSON.parse(r.stdout) as Netns;
};
const stateOf = (s: UserSuite) => `/tmp/bunker-${s.user.uid}/rootless-netns`;
/** What the namespace's directory holds besides its lock. */
const leftIn = (s: UserSuite) => (existsSync(stateOf(s)) ? readdirSync(stateOf(s)).filter((f) => f !== "lock") : []);
/** The user's processes named `comm` (zombies aside). */
function processesOf(s: UserSuite, comm: RegExp): number[] {
  return readdirSync("/proc")
    .filter((e) => /^\d+$/.test(e))
    .filter((e) => {
      try {
        const status = readFileSync(`/proc/${e}/status`, "utf8");
        return new RegExp(`^Uid:\\s+${s.user.uid}\\s`, "m").test(status) && !/^State:\s+Z/m.test(status) && comm.test(readFileSync(`/proc/${e}/comm`, "utf8").trim());
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** GET `url` until it answers (10 s at most): the server may still be starting. */
async function fetchWhenServed(url: string): Promise<string> {
  const end = Date.now() + 10_000;
  for (;;) {
    try {
      const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (r.ok) return await r.text();
    } catch (e) {
      if (Date.now() > end) throw e;
    }
    if (Date.now() > end) throw new Error(`no answer from ${url}`);
    await Bun.sleep(20);
  }
}

describe.skipIf(!ready)("the rootless network namespace", () => {
  const s = userSuite("bunker-ci-rlnet", (u) => u.as(["__rootless-netns", "release"]));

  test("ensure makes one holder of a few KiB with its helper; a second ensure finds it; release leaves nothing", () => {
    const ns = ensure(s);
    expect(alive(ns.pid)).toBe(true);
    expect(readFileSync(`/proc/${ns.pid}/comm`, "utf8").trim()).toBe("bunker-netns");
    // Its own user and network namespaces, not the host's.
    expect(readlinkSync(ns.userns)).not.toBe(readlinkSync("/proc/self/ns/user"));
    expect(readlinkSync(ns.netns)).not.toBe(readlinkSync("/proc/self/ns/net"));
    // Mapped as the user's containers are: 0 is the user, then their range.
    expect(readFileSync(`/proc/${ns.pid}/uid_map`, "utf8").trim().split(/\s+/).map(Number)).toEqual([0, s.user.uid, 1, 1, s.user.subStart!, 65536]);
    const rss = Number(/^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${ns.pid}/status`, "utf8"))![1]);
    expect(rss).toBeLessThan(200);
    const helpers = processesOf(s, /^(slirp4netns|pasta|passt)/);
    expect(helpers.length).toBe(1);
    expect(ensure(s)).toEqual(ns);
    expect(s.as(["__rootless-netns", "release"]).code).toBe(0);
    expect(alive(ns.pid)).toBe(false);
    expect(processesOf(s, /^(slirp4netns|pasta|passt|bunker-netns)/)).toEqual([]);
    expect(existsSync(ns.netns)).toBe(false);
    expect(leftIn(s)).toEqual([]);
  });

  test("a bunker killed at any step of making the namespace leaves nothing beside the one the next ensure makes", async () => {
    const record = () => {
      try {
        return JSON.parse(readFileSync(`${stateOf(s)}/holder.json`, "utf8"));
      } catch {
        return null;
      }
    };
    // Killed once its intent is recorded, once the holder exists, and once the helper does.
    const stages: [string, (r: { pid?: number; helper?: { pid?: number } } | null) => boolean][] = [
      ["the record", (r) => r !== null],
      ["the holder", (r) => r?.pid !== undefined],
      ["the helper", (r) => r?.helper?.pid !== undefined],
    ];
    try {
      for (const [stage, reached] of stages) {
        const p = Bun.spawn(["setpriv", `--reuid=${s.user.uid}`, `--regid=${s.user.gid}`, "--init-groups", s.bin.path, "__rootless-netns", "ensure"], { env: { PATH: "/usr/bin:/bin" }, stdout: "ignore", stderr: "ignore" });
        const end = Date.now() + 10_000;
        while (!reached(record())) {
          if (Date.now() > end) throw new Error(`timed out waiting for ${stage} of the namespace`);
          await Bun.sleep(1);
        }
        p.kill("SIGKILL");
        await p.exited;
        const left = record();
        if (left?.state !== "creating") console.warn(`the kill after ${stage} came once the namespace was made`);
        const ns = ensure(s);
        // One holder and one helper, the new ones, working.
        if (left?.pid !== undefined && left.pid !== ns.pid) await until(() => !alive(left.pid), 5000, "the killed bunker's holder to go");
        expect(processesOf(s, /^bunker-netns$/)).toEqual([ns.pid]);
        expect(processesOf(s, /^(slirp4netns|pasta|passt)/).length).toBe(1);
        expect(JSON.parse(s.as(["__rootless-netns", "run", "id"]).stdout).net).toBe(readlinkSync(ns.netns));
        expect(s.as(["__rootless-netns", "release"]).code).toBe(0);
        expect(processesOf(s, /^(slirp4netns|pasta|passt|bunker-netns)/)).toEqual([]);
        expect(leftIn(s)).toEqual([]);
      }
    } finally {
      s.as(["__rootless-netns", "release"]);
    }
  });

  test("a namespace whose helper died is made anew by the next ensure, its old holder gone", async () => {
    try {
      const old = ensure(s);
      const [helper] = processesOf(s, /^(slirp4netns|pasta|passt)/);
      process.kill(helper!, "SIGKILL");
      await until(() => !alive(helper!), 5000, "the helper to end");
      const ns = ensure(s);
      expect(ns.pid).not.toBe(old.pid);
      await until(() => !alive(old.pid), 5000, "the old holder to go");
      expect(processesOf(s, /^bunker-netns$/)).toEqual([ns.pid]);
      expect(processesOf(s, /^(slirp4netns|pasta|passt)/).length).toBe(1);
    } finally {
      s.as(["__rootless-netns", "release"]);
    }
  });

  test("__netns runs as root of the namespace's user namespace, in its network namespace", () => {
    const ns = ensure(s);
    try {
      const r = s.as(["__rootless-netns", "run", "id"]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      const id = JSON.parse(r.stdout);
      expect([id.uid, id.gid]).toEqual([0, 0]);
      expect(id.net).toBe(readlinkSync(ns.netns));
      expect(id.user).toBe(readlinkSync(ns.userns));
      expect(id.net).not.toBe(readlinkSync("/proc/self/ns/net"));
      // Its own mount namespace, where its own resolv.conf (nameservers reachable from its network) is bound
      // over the host's: a line added to that file shows there, and not in the host's.
      expect(id.mnt).not.toBe(readlinkSync("/proc/self/ns/mnt"));
      expect(id.nameservers.some((a: string) => a.startsWith("127."))).toBe(false);
      appendFileSync(`${stateOf(s)}/resolv.conf`, "nameserver 192.0.2.53\n");
      expect(JSON.parse(s.as(["__rootless-netns", "run", "id"]).stdout).nameservers).toEqual([...id.nameservers, "192.0.2.53"]);
      expect(readFileSync("/etc/resolv.conf", "utf8")).not.toContain("192.0.2.53");
    } finally {
      s.as(["__rootless-netns", "release"]);
    }
  });

  test("a container made in its user namespace with a network namespace of its own: a veth from it, and a published port from the host's loopback", async () => {
    const ns = ensure(s);
    try {
      await servedThroughHolder(ns);
    } finally {
      s.as(["__rootless-netns", "release"]);
    }
  });

  async function servedThroughHolder(ns: Netns): Promise<void> {
    // An OCI bundle whose container enters the holder's user namespace and makes the others.
    const b = join(dirname(s.fs.path), "bundle");
    mkdirSync(b);
    chownSync(b, s.user.uid, s.user.gid);
    const as = (args: string[]) => runAs(s.user, [s.bin.path, ...args], {}, b);
    expect(as(["spec", "--rootless", "--bundle", b]).code).toBe(0);
    const c = JSON.parse(readFileSync(join(b, "config.json"), "utf8"));
    c.root = { path: s.fs.path, readonly: true };
    c.process.terminal = false;
    c.process.args = ["httpd", "-f", "-p", "8080", "-h", "/etc"];
    c.linux.namespaces = c.linux.namespaces.map((n: { type: string }) => (n.type === "user" ? { type: "user", path: ns.userns } : n));
    expect(c.linux.namespaces.map((n: { type: string }) => n.type).sort()).toEqual(["cgroup", "ipc", "mount", "network", "pid", "user", "uts"]);
    delete c.linux.uidMappings;
    delete c.linux.gidMappings;
    writeFileSync(join(b, "config.json"), JSON.stringify(c));
    const out = join(b, "out");
    const created = runAs(s.user, ["sh", "-c", 'exec "$@" > "$0" 2>&1 < /dev/null', out, s.bin.path, "create", "--bundle", b, "rl-web"], {}, b);
    expect([created.code, readFileSync(out, "utf8")]).toEqual([0, ""]);
    let publisher: ReturnType<typeof Bun.spawn> | undefined;
    try {
      const pid = JSON.parse(as(["state", "rl-web"]).stdout).pid as number;
      expect(readlinkSync(`/proc/${pid}/ns/user`)).toBe(readlinkSync(ns.userns));
      expect(readlinkSync(`/proc/${pid}/ns/net`)).not.toBe(readlinkSync(ns.netns));
      expect(as(["start", "rl-web"]).code).toBe(0);
      // The stand-in for a network's plumbing: a veth from the holder's network namespace into the container's.
      const veth = s.as(["__rootless-netns", "run", "veth", "bkt0", String(pid), "10.123.0.1/24", "10.123.0.2/24"]);
      expect([veth.code, veth.stderr]).toEqual([0, ""]);
      const port = freePort();
      publisher = Bun.spawn(["setpriv", `--reuid=${s.user.uid}`, `--regid=${s.user.gid}`, "--init-groups", s.bin.path, "__rootless-netns", "publish", `127.0.0.1:${port}:8080`, "10.123.0.2"], {
        env: { PATH: "/usr/bin:/bin" },
        stdin: "pipe",
        stdout: "pipe",
        stderr: "pipe",
      });
      const reader = (publisher.stdout as ReadableStream<Uint8Array>).getReader();
      const first = await reader.read();
      expect(new TextDecoder().decode(first.value)).toBe("published\n");
      expect(await fetchWhenServed(`http://127.0.0.1:${port}/passwd`)).toContain("root:x:0:0:");
      // Its end: the forward goes.
      (publisher.stdin as import("bun").FileSink).end();
      expect(await publisher.exited).toBe(0);
      publisher = undefined;
      expect(await fetch(`http://127.0.0.1:${port}/passwd`).then((r) => r.text(), (e) => String(e))).not.toContain("root:x:0:0:");
    } finally {
      publisher?.kill("SIGKILL");
      expect(as(["delete", "--force", "rl-web"]).code).toBe(0);
    }
  }
});
