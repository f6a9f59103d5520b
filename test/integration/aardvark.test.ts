// Container names through aardvark-dns, driven as the network code drives it
// (src/net/aardvark.ts), with no container: aardvark-dns listens on loopback
// addresses (every 127/8 address is this host's) standing for the networks'
// gateways, and the test asks it over UDP itself. Only names aardvark-dns
// holds, and names of one label, are asked: it answers NXDOMAIN for a
// one-label name it does not hold and forwards nothing off the machine.

import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { createSocket } from "node:dgram";
import { ask, found, NXDOMAIN } from "../helpers/dns";
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { isRoot, until } from "../helpers/bunker";
import { hostBunCopy, type HostBun } from "../helpers/hostbun";
import { guardLeaks } from "../helpers/suite";
import { createUser, removeUser, runAs, type TestUser } from "../helpers/users";
import { dnsAttach, dnsDetach, dnsReconcile } from "../../src/net/aardvark";
import { AT, O } from "../../src/sys/constants";
import { closeFd, trySys, waitFor } from "../../src/sys/libc";

const BINARY = ["/usr/lib/podman/aardvark-dns", "/usr/libexec/podman/aardvark-dns", "/usr/bin/aardvark-dns"].find(existsSync);
const ready = isRoot && BINARY !== undefined;
const UNSHARE = ["/usr/bin/unshare", "/bin/unshare"].find(existsSync);
if (ready && !UNSHARE) console.warn("skipping the aardvark-dns test as an unprivileged user: unshare is not installed (package util-linux)");
if (!ready) console.warn(`skipping the aardvark-dns tests: ${isRoot ? "aardvark-dns is not installed (package aardvark-dns)" : "binding port 53 needs root"}`);

const guard = guardLeaks(ready);
const tmp = mkdtempSync("/tmp/bunker-aardvark-");
let dir = "";
let n = 0;

const GW_A = "127.88.0.1";
const GW_B = "127.88.0.2";
const GW_C = "127.88.0.3";
const A = `a1${"0".repeat(62)}`;
const B = `b2${"0".repeat(62)}`;
const C = `c3${"0".repeat(62)}`;
const netA = { name: "neta", gateways: [GW_A] };
const netB = { name: "netb", gateways: [GW_B] };

/** The process's state letter (R, S, Z...), "" once it is gone. */
function state(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0]!;
  } catch {
    return "";
  }
}

const PR_SET_CHILD_SUBREAPER = 36;


/** Live aardvark-dns processes serving this test's directory (a zombie is not one). */
function servers(): number[] {
  const out: number[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if ("ZX".includes(state(Number(e)) || "X")) continue;
      if (readFileSync(`/proc/${e}/cmdline`, "utf8").split("\0").includes(`${dir}/config`)) out.push(Number(e));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

function onlyServer(): number {
  const s = servers();
  expect(s.length).toBe(1);
  return s[0]!;
}

describe.skipIf(!ready)("aardvark-dns", () => {
  afterEach(() => {
    // whatever a failed test left: its process and files
    for (const pid of servers()) process.kill(pid, "SIGKILL");
    dir = `${tmp}/dns${++n}`;
  });
  afterAll(async () => {
    for (const pid of servers()) process.kill(pid, "SIGKILL");
    rmSync(tmp, { recursive: true, force: true });
    await guard.check();
  });
  dir = `${tmp}/dns${++n}`;

  test("a container's name, alias and short id resolve to its address (A and AAAA), another name does not", async () => {
    dnsAttach(dir, netA, { id: A, ipv4: ["10.89.0.2"], ipv6: ["fd89::2"], names: ["web", "Front"] });
    expect(await ask(GW_A, "web")).toEqual(found("10.89.0.2"));
    expect(await ask(GW_A, "front")).toEqual(found("10.89.0.2"));
    expect(await ask(GW_A, "a10000000000")).toEqual(found("10.89.0.2"));
    expect(await ask(GW_A, "web", "AAAA")).toEqual(found("fd89:0:0:0:0:0:0:2"));
    expect(await ask(GW_A, "db")).toEqual(NXDOMAIN);
    dnsDetach(dir, "neta", A);
  });

  test("an entry added later answers when attach returns, from the same process re-reading its files", async () => {
    dnsAttach(dir, netA, { id: A, ipv4: ["10.89.0.2"], ipv6: [], names: ["web"] });
    const pid = onlyServer();
    dnsAttach(dir, netA, { id: B, ipv4: ["10.89.0.3"], ipv6: [], names: ["db"] });
    expect(await ask(GW_A, "db")).toEqual(found("10.89.0.3"));
    expect(await ask(GW_A, "web")).toEqual(found("10.89.0.2"));
    expect(onlyServer()).toBe(pid);
    dnsDetach(dir, "neta", A);
    dnsDetach(dir, "neta", B);
  });

  test("a detached entry stops answering when detach returns; the others still answer", async () => {
    dnsAttach(dir, netA, { id: A, ipv4: ["10.89.0.2"], ipv6: [], names: ["web"] });
    dnsAttach(dir, netA, { id: B, ipv4: ["10.89.0.3"], ipv6: [], names: ["db"] });
    expect(await ask(GW_A, "db")).toEqual(found("10.89.0.3"));
    dnsDetach(dir, "neta", B);
    expect(await ask(GW_A, "db")).toEqual(NXDOMAIN);
    expect(await ask(GW_A, "b20000000000")).toEqual(NXDOMAIN);
    expect(await ask(GW_A, "web")).toEqual(found("10.89.0.2"));
    dnsDetach(dir, "neta", A);
  });

  test("two networks in one directory: each gateway answers its own network's names only", async () => {
    dnsAttach(dir, netA, { id: A, ipv4: ["10.89.0.2"], ipv6: [], names: ["web"] });
    dnsAttach(dir, netB, { id: B, ipv4: ["10.90.0.2"], ipv6: [], names: ["db"] });
    expect(await ask(GW_A, "web")).toEqual(found("10.89.0.2"));
    expect(await ask(GW_B, "db")).toEqual(found("10.90.0.2"));
    expect(await ask(GW_A, "db")).toEqual(NXDOMAIN);
    expect(await ask(GW_B, "web")).toEqual(NXDOMAIN);
    // one process for both
    onlyServer();
    // the last entry of a network takes its gateway out of service; the other network stays
    dnsDetach(dir, "netb", B);
    expect(await ask(GW_B, "db")).toBeNull();
    expect(await ask(GW_A, "web")).toEqual(found("10.89.0.2"));
    dnsDetach(dir, "neta", A);
  });

  test("the process stops with the last detach and leaves nothing", async () => {
    dnsAttach(dir, netA, { id: A, ipv4: ["10.89.0.2"], ipv6: [], names: ["web"] });
    dnsAttach(dir, netB, { id: B, ipv4: ["10.90.0.2"], ipv6: [], names: ["db"] });
    const pid = onlyServer();
    dnsDetach(dir, "neta", A);
    expect(servers()).toEqual([pid]);
    dnsDetach(dir, "netb", B);
    expect(servers()).toEqual([]);
    expect(await ask(GW_A, "web")).toBeNull();
    expect(await ask(GW_B, "db")).toBeNull();
    expect(readdirSync(`${dir}/config`)).toEqual([]);
  });

  test("an aardvark-dns killed with SIGKILL between calls is replaced by the next attach, with every entry", async () => {
    dnsAttach(dir, netA, { id: A, ipv4: ["10.89.0.2"], ipv6: [], names: ["web"] });
    const first = onlyServer();
    process.kill(first, "SIGKILL");
    expect(await ask(GW_A, "web")).toBeNull();
    dnsAttach(dir, netA, { id: B, ipv4: ["10.89.0.3"], ipv6: [], names: ["db"] });
    expect(onlyServer()).not.toBe(first);
    expect(await ask(GW_A, "web")).toEqual(found("10.89.0.2"));
    expect(await ask(GW_A, "db")).toEqual(found("10.89.0.3"));
    dnsDetach(dir, "neta", A);
    dnsDetach(dir, "neta", B);
    expect(servers()).toEqual([]);
  });

  test("an aardvark-dns that died and stays a zombie (nobody reaped it) counts as gone: the next attach starts another", async () => {
    // This process as the subreaper: aardvark-dns's daemon, orphaned when the first process of its start exits,
    // becomes its child, and nothing here reaps it; as on a host whose PID 1 does not reap.
    expect(trySys("prctl", PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)).toBe(0);
    let first = 0;
    try {
      dnsAttach(dir, netA, { id: A, ipv4: ["10.89.0.2"], ipv6: [], names: ["web"] });
      first = onlyServer();
    } finally {
      trySys("prctl", PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0);
    }
    try {
      process.kill(first, "SIGKILL");
      await until(() => state(first) === "Z", 2000, "the killed aardvark-dns to be a zombie");
      dnsAttach(dir, netA, { id: B, ipv4: ["10.89.0.3"], ipv6: [], names: ["db"] });
      expect(onlyServer()).not.toBe(first);
      expect(await ask(GW_A, "web")).toEqual(found("10.89.0.2"));
      expect(await ask(GW_A, "db")).toEqual(found("10.89.0.3"));
      dnsDetach(dir, "neta", A);
      dnsDetach(dir, "neta", B);
      expect(servers()).toEqual([]);
    } finally {
      waitFor(first);
    }
  });

  test("dnsReconcile after an attach cut short (its file written, nothing started): no process, no entry of the dead container, no stale pid file", () => {
    mkdirSync(`${dir}/config`, { recursive: true });
    writeFileSync(`${dir}/config/neta`, `${GW_A}\n${A} 10.89.0.2  web,a10000000000\n`);
    writeFileSync(`${dir}/pending`, "");
    // a pid file left by an aardvark-dns long gone, its pid now another program's: this test's own
    writeFileSync(`${dir}/config/aardvark.pid`, String(process.pid));
    dnsReconcile(dir, () => false);
    expect(servers()).toEqual([]);
    expect(readdirSync(`${dir}/config`)).toEqual([]);
    expect(existsSync(`${dir}/pending`)).toBe(false);
  });

  test("dnsReconcile keeps and serves a live container's entry, drops a dead one's, and stops a process nobody needs", async () => {
    mkdirSync(`${dir}/config`, { recursive: true });
    writeFileSync(`${dir}/config/neta`, `${GW_A}\n${A} 10.89.0.2  web,a10000000000\n${B} 10.89.0.3  db,b20000000000\n`);
    writeFileSync(`${dir}/pending`, "");
    dnsReconcile(dir, (id) => id === A);
    onlyServer();
    expect(await ask(GW_A, "web")).toEqual(found("10.89.0.2"));
    expect(await ask(GW_A, "db")).toEqual(NXDOMAIN);
    expect(readFileSync(`${dir}/config/neta`, "utf8")).not.toContain(B);
    // A ends too, its bunker killed before its detach
    dnsReconcile(dir, () => false);
    expect(servers()).toEqual([]);
    expect(await ask(GW_A, "web")).toBeNull();
    expect(readdirSync(`${dir}/config`)).toEqual([]);
  });

  test("aardvark-dns inherits none of the caller's descriptors", () => {
    // a descriptor without close-on-exec, as a lock or a published port's socket could be
    const fd = trySys("openat", AT.FDCWD, new TextEncoder().encode(`${tmp}\0`), O.RDONLY | O.DIRECTORY, 0);
    expect(fd).toBeGreaterThan(2);
    try {
      dnsAttach(dir, netA, { id: A, ipv4: ["10.89.0.2"], ipv6: [], names: ["web"] });
      const pid = onlyServer();
      const targets = readdirSync(`/proc/${pid}/fd`).map((f) => {
        try {
          return readlinkSync(`/proc/${pid}/fd/${f}`);
        } catch {
          return "";
        }
      });
      expect(targets.filter((t) => t === tmp || t.startsWith(`${dir}`))).toEqual([]);
      // its own: /dev/null for stdio, its sockets, epoll and event descriptors
      expect(targets.filter((t) => !/^(\/dev\/null|socket:\[\d+\]|anon_inode:\[?(eventpoll|eventfd)\]?)$/.test(t))).toEqual([]);
      dnsDetach(dir, "neta", A);
    } finally {
      closeFd(fd);
    }
  });

  test("port 53 taken on a gateway: one line naming the address and why, and nothing changed", async () => {
    dnsAttach(dir, netA, { id: A, ipv4: ["10.89.0.2"], ipv6: [], names: ["web"] });
    const pid = onlyServer();
    const blocker = createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      blocker.once("error", reject);
      blocker.bind(53, GW_C, () => resolve());
    });
    try {
      let message = "";
      try {
        dnsAttach(dir, { name: "netc", gateways: [GW_C] }, { id: C, ipv4: ["10.91.0.2"], ipv6: [], names: ["cache"] });
      } catch (e) {
        message = (e as Error).message;
      }
      expect(message).toBe(`aardvark-dns cannot answer on ${GW_C}: port 53 there is taken by another program`);
      expect(readdirSync(`${dir}/config`).sort()).toEqual(["aardvark.pid", "neta"]);
      expect(onlyServer()).toBe(pid);
      expect(await ask(GW_A, "web")).toEqual(found("10.89.0.2"));
    } finally {
      blocker.close();
    }
    dnsDetach(dir, "neta", A);
  });

  test("a gateway address this namespace does not have: refused at once, naming it, nothing written", () => {
    // 192.0.2.0/24 is for documentation: no host has it
    expect(() => dnsAttach(dir, { name: "netd", gateways: ["192.0.2.1"] }, { id: C, ipv4: ["192.0.2.2"], ipv6: [], names: ["cache"] })).toThrow(
      "aardvark-dns cannot answer on 192.0.2.1: 192.0.2.1 is not an address of this network namespace",
    );
    expect(readdirSync(`${dir}/config`)).toEqual([]);
    expect(servers()).toEqual([]);
  });
});

// As an unprivileged user, in a user and network namespace of the user's own: where a rootless
// user's containers get their names answered (the user's rootless network namespace).
describe.skipIf(!ready || !UNSHARE)("aardvark-dns for an unprivileged user", () => {
  let user: TestUser | undefined;
  let host: HostBun | undefined;
  let script = "";
  beforeAll(async () => {
    user = createUser("bunker-ci-dns", false);
    host = hostBunCopy("bunker-aardvark");
    const built = await Bun.build({ entrypoints: [`${import.meta.dir}/aardvark-as-user.ts`], target: "bun", outdir: host.dir });
    if (!built.success) throw new Error(`build aardvark-as-user.ts: ${built.logs.join("; ")}`);
    script = built.outputs[0]!.path;
    chmodSync(script, 0o644);
    mkdirSync(`${host.dir}/dns`);
    chownSync(`${host.dir}/dns`, user.uid, user.gid);
  });
  afterAll(() => {
    host?.remove();
    if (user) removeUser(user);
  });

  test("attach, answers, detach and the stop work without root, in the user's own namespaces", () => {
    const r = runAs(user!, [UNSHARE!, "-Urn", "sh", "-c", 'ip link set lo up && exec "$0" "$@"', host!.bun, script, `${host!.dir}/dns`]);
    expect(r.stderr).toBe("");
    expect(JSON.parse(r.stdout)).toEqual({
      // root inside its user namespace, the user outside
      uid: 0,
      web: found("10.88.5.2"),
      db: found("10.88.5.3"),
      webDetached: NXDOMAIN,
      afterLast: null,
    });
    // nothing of the user's left: no aardvark-dns, its files gone
    const left = () => Bun.spawnSync(["ps", "-o", "pid=,ppid=,stat=,args=", "-u", String(user!.uid)]).stdout.toString();
    const end = Date.now() + 2000;
    while (left() !== "" && Date.now() < end) Bun.sleepSync(20);
    expect(left()).toBe("");
    expect(readdirSync(`${host!.dir}/dns/config`)).toEqual([]);
  });
});
