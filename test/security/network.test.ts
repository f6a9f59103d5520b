// Reaching the host through bunker's networking, as a hostile container would.
//
// Rootless: slirp4netns and pasta can map an address inside the container to
// the host's loopback; bunker asks them not to unless the user opts in
// (allow_host_loopback=true). Those tests run bunker, its helper and the
// host's services in a network namespace the test makes, whose default
// route leads to a veth whose peer answers nothing: what the container
// sends "out" never leaves the machine.
//
// CVE-2020-8558: route_localnet on a bridge (bunker sets it so the host's
// 127.0.0.1:PORT reaches published ports) makes the host accept packets a
// container addresses to 127.0.0.1, so a service the host binds to loopback
// only is reachable from every container. A container with the default
// CAP_NET_RAW sends such a frame for real here, built byte by byte and sent
// on an AF_PACKET socket (a copy of Bun runs it, in a container without a
// rootfs that sees the host's files), and the test watches the host's
// loopback for it.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNKER, bunker, isRoot, until } from "../helpers/bunker";
import { hostBunCopy } from "../helpers/hostbun";
import { busyboxAvailable, makeRootfs, type Rootfs, giveRootfs } from "../helpers/rootfs";
import { freePort } from "../helpers/ports";
import { fetchWhenUp } from "../helpers/tcp";
import { containerSuite } from "../helpers/suite";
import { createUser, publicBinary, removeUser, type TestUser } from "../helpers/users";

const nft = ["/usr/sbin/nft", "/sbin/nft"].find((p) => existsSync(p));
const ready = isRoot && busyboxAvailable() && nft !== undefined;
if (!ready) console.warn(`skipping the network escape tests: ${!isRoot ? "they need root" : !nft ? "nft is not installed (nftables package)" : "busybox-static is not installed"}`);

const suite = containerSuite(ready, () => {
  bunker(["network", "prune"]);
});

// The sender, run inside the container: waits until the bridge forwards (a TCP
// connection to the host's bridge address), learns the gateway's MAC address
// from the ARP cache, then sends each UDP datagram as a raw Ethernet frame to
// that MAC address, whatever its IP destination. Arguments: GATEWAY READYPORT
// then DEST PORT PAYLOAD triples; DEST is dotted IPv4 or 32 hex digits of IPv6.
const PROBE = `
import { dlopen, FFIType as T, ptr } from "bun:ffi";
const fs = require("fs");
const [gw, readyPort, ...rest] = process.argv.slice(2);
const libc = dlopen("libc.so.6", {
  socket: { args: [T.i32, T.i32, T.i32], returns: T.i32 },
  sendto: { args: [T.i32, T.ptr, T.u64, T.i32, T.ptr, T.u32], returns: T.i64 },
  if_nametoindex: { args: [T.ptr], returns: T.u32 },
});
const end = Date.now() + 10000;
for (;;) {
  const ok = await new Promise((res) => {
    Bun.connect({ hostname: gw, port: Number(readyPort), socket: { open(s) { s.end(); res(true); }, data() {}, error() { res(false); }, connectError() { res(false); } } }).catch(() => res(false));
  });
  if (ok) break;
  if (Date.now() > end) { console.log("the bridge never forwarded"); process.exit(3); }
  await Bun.sleep(20);
}
const arp = fs.readFileSync("/proc/net/arp", "utf8").split("\\n").find((l) => l.startsWith(gw + " "));
const mac = arp.trim().split(/\\s+/)[3].split(":").map((h) => parseInt(h, 16));
const src4 = require("os").networkInterfaces().eth0.find((a) => a.family === "IPv4").address.split(".").map(Number);
let src6 = null;
try {
  const l = fs.readFileSync("/proc/net/if_inet6", "utf8").split("\\n").find((x) => x.endsWith(" eth0") && x.split(/\\s+/)[3] === "20");
  if (l) src6 = l.split(" ")[0];
} catch {}
const hex = (h) => Uint8Array.from(h.match(/../g).map((b) => parseInt(b, 16)));
const sum16 = (bytes, start = 0) => { let s = start; for (let i = 0; i < bytes.length; i += 2) s += (bytes[i] << 8) | (bytes[i + 1] ?? 0); return s; };
const fold = (s) => { while (s >> 16) s = (s & 0xffff) + (s >> 16); return ~s & 0xffff; };
function udp(dport, body) {
  const u = new Uint8Array(8 + body.length);
  const dv = new DataView(u.buffer);
  dv.setUint16(0, 40000); dv.setUint16(2, dport); dv.setUint16(4, u.length);
  u.set(body, 8);
  return u;
}
function frame(dst, dport, payload) {
  const body = new TextEncoder().encode(payload);
  const u = udp(dport, body);
  if (dst.includes(".")) {
    const p = new Uint8Array(20 + u.length);
    const dv = new DataView(p.buffer);
    dv.setUint8(0, 0x45); dv.setUint16(2, p.length); dv.setUint16(6, 0x4000); dv.setUint8(8, 64); dv.setUint8(9, 17);
    p.set(src4, 12); p.set(dst.split(".").map(Number), 16);
    dv.setUint16(10, fold(sum16(p.subarray(0, 20))));
    p.set(u, 20);
    return [0x0800, p];
  }
  if (!src6) return null;
  const s = hex(src6), d = hex(dst);
  const p = new Uint8Array(40 + u.length);
  const dv = new DataView(p.buffer);
  dv.setUint32(0, 0x60000000); dv.setUint16(4, u.length); dv.setUint8(6, 17); dv.setUint8(7, 64);
  p.set(s, 8); p.set(d, 24);
  const pseudo = new Uint8Array(40); pseudo.set(s, 0); pseudo.set(d, 16);
  new DataView(pseudo.buffer).setUint32(32, u.length); pseudo[39] = 17;
  const c = fold(sum16(u, sum16(pseudo)));
  new DataView(u.buffer).setUint16(6, c === 0 ? 0xffff : c);
  p.set(u, 40);
  return [0x86dd, p];
}
const ifindex = libc.symbols.if_nametoindex(ptr(Buffer.from("eth0\\0")));
for (let k = 0; k < rest.length; k += 3) {
  const f = frame(rest[k], Number(rest[k + 1]), rest[k + 2]);
  if (!f) { console.log("skip " + rest[k + 2] + ": eth0 has no IPv6 link-local address"); continue; }
  const [proto, pkt] = f;
  const fd = libc.symbols.socket(17, 2, ((proto & 0xff) << 8) | (proto >> 8));
  const sll = new Uint8Array(20);
  const sv = new DataView(sll.buffer);
  sv.setUint16(0, 17, true); sv.setUint16(2, proto); sv.setInt32(4, ifindex, true);
  sll[11] = 6; sll.set(mac, 12);
  const n = libc.symbols.sendto(fd, ptr(pkt), pkt.length, 0, ptr(sll), 20);
  console.log((Number(n) === pkt.length ? "sent " : "failed ") + rest[k + 2]);
}
`;

let hostDir: string;
let hostBun: string;

beforeAll(() => {
  if (!ready) return;
  // Outside /tmp, which a run without --rootfs replaces with its own.
  ({ dir: hostDir, bun: hostBun } = hostBunCopy("bunker-netescape"));
  writeFileSync(join(hostDir, "probe.ts"), PROBE);
});

afterAll(() => {
  if (ready) rmSync(hostDir, { recursive: true, force: true });
});

/** A UDP socket on the host that records what it receives. */
async function catcher(hostname: string) {
  const got: string[] = [];
  const socket = await Bun.udpSocket({
    hostname,
    port: 0,
    socket: {
      data(_s, buf) {
        got.push(buf.toString());
      },
    },
  });
  return { port: socket.port, got, close: () => socket.close() };
}

function bridgeConfig(): { gateway: string; subnet: string } {
  return JSON.parse(readFileSync("/run/bunker/networks/bunker0/network.json", "utf8"));
}

/** The bridge's IPv6 link-local address once usable (not tentative), as 32 hex digits; null without IPv6. */
async function bridgeLinkLocal(): Promise<string | null> {
  const find = () => {
    try {
      const line = readFileSync("/proc/net/if_inet6", "utf8")
        .split("\n")
        .find((l) => l.endsWith(" bunker0") && l.split(/\s+/)[3] === "20");
      if (!line) return undefined;
      const [addr, , , , flags] = line.split(/\s+/);
      // IFA_F_TENTATIVE: duplicate address detection is not finished.
      return parseInt(flags!, 16) & 0x40 ? undefined : addr!;
    } catch {
      return undefined;
    }
  };
  if (readFileSync("/proc/sys/net/ipv6/conf/bunker0/disable_ipv6", "utf8").trim() === "1") return null;
  // IPv6 is on: the bridge gets its address, and not getting it is a failure, not a reason to test less.
  await until(() => find() !== undefined, 10_000, "the bridge's IPv6 link-local address");
  return find()!;
}

const LOOPBACK6 = "00000000000000000000000000000001";

describe.skipIf(!ready)("the host's loopback from the bridge", () => {
  test("a frame a root container addresses to 127.0.0.1 or ::1 through the bridge reaches no host service bound to loopback", async () => {
    // A container that stays keeps the bridge up (carrier, IPv6 link-local address) throughout.
    const keeper = bunker(["run", "-d", "--rootfs", suite.fs.path, "--", "sleep", "60"]).stdout.trim();
    const { gateway } = bridgeConfig();
    const ready = Bun.listen({ hostname: gateway, port: 0, socket: { open: (s) => void s.end(), data() {} } });
    const lo4 = await catcher("127.0.0.1");
    const lo6 = await catcher("::1");
    const mark4 = await catcher(gateway);
    const mark6 = await catcher("::");
    const linkLocal = await bridgeLinkLocal();
    if (!linkLocal) console.warn("IPv6 part skipped: the bridge has no IPv6 link-local address (IPv6 is off on this host)");
    let exemption: string | undefined;
    try {
      const send = () => {
        mark4.got.length = 0;
        mark6.got.length = 0;
        const frames = ["127.0.0.1", lo4.port, "hostile-v4", gateway, mark4.port, "marker-v4"];
        if (linkLocal) frames.push(LOOPBACK6, lo6.port, "hostile-v6", linkLocal, mark6.port, "marker-v6");
        const r = bunker(["run", "--rm", "--host-root", "--", hostBun, join(hostDir, "probe.ts"), gateway, String(ready.port), ...frames.map(String)]);
        expect(r.stdout).toContain("sent hostile-v4\nsent marker-v4\n");
        if (linkLocal) expect(r.stdout).toContain("sent hostile-v6\nsent marker-v6\n");
        expect(r.code).toBe(0);
      };
      // The markers follow the hostile frames on the same path: once they are in, so would those be.
      const markers = () => until(() => mark4.got.includes("marker-v4") && (!linkLocal || mark6.got.includes("marker-v6")), 10_000, "the marker datagrams");

      send();
      await markers();
      expect(lo4.got).toEqual([]);
      expect(lo6.got).toEqual([]);

      // Control: the same frame with the drop rule stepped around (an accept for this one
      // datagram ahead of it) does reach the service: only the rule stood in its way.
      const ins = Bun.spawnSync([nft!, "--echo", "--handle", "insert", "rule", "ip", "bunker", "localnet", "ip", "daddr", "127.0.0.1", "udp", "dport", String(lo4.port), "accept"]);
      expect(ins.exitCode).toBe(0);
      exemption = ins.stdout.toString().match(/# handle (\d+)/)?.[1];
      expect(exemption).toBeDefined();
      send();
      await markers();
      await until(() => lo4.got.includes("hostile-v4"), 10_000, "the hostile datagram with the rule stepped around");
      // IPv6 has no route_localnet: the kernel itself drops ::1 arriving on a non-loopback device.
      expect(lo6.got).toEqual([]);
    } finally {
      if (exemption) Bun.spawnSync([nft!, "delete", "rule", "ip", "bunker", "localnet", "handle", exemption]);
      for (const c of [lo4, lo6, mark4, mark6]) c.close();
      ready.stop(true);
      bunker(["rm", "-f", keeper]);
    }
  }, 60_000);

  test("a firewall reload that removes bunker's table does not leave the bridge open: the next start restores the guard and the published ports", async () => {
    const port = freePort();
    const id = bunker(["run", "-d", "-p", `127.0.0.1:${port}:80`, "--rootfs", suite.fs.path, "--", "sh", "-c", "while true; do echo hairpin | nc -l -p 80; done"]).stdout.trim();
    try {
      // The host's 127.0.0.1 reaches a port published on 127.0.0.1 (route_localnet at work).
      expect(await fetchWhenUp("127.0.0.1", port, "hairpin")).toContain("hairpin");
      // What `nft flush ruleset` (a firewall reload) does to bunker's table.
      expect(Bun.spawnSync([nft!, "delete", "table", "ip", "bunker"]).exitCode).toBe(0);
      expect(readFileSync("/proc/sys/net/ipv4/conf/bunker0/route_localnet", "utf8").trim()).toBe("1");
      // Any container start on the bridge notices and repairs.
      expect(bunker(["run", "--rm", "--rootfs", suite.fs.path, "--", "true"]).code).toBe(0);
      const chain = Bun.spawnSync([nft!, "list", "chain", "ip", "bunker", "localnet"]).stdout.toString();
      expect(chain).toContain('iifname "bunker0" ip daddr 127.0.0.0/8 drop');
      expect(chain).toContain('iifname "bunker0" ip saddr 127.0.0.0/8 drop');
      expect(await fetchWhenUp("127.0.0.1", port, "hairpin")).toContain("hairpin");
    } finally {
      bunker(["rm", "-f", id]);
    }
  }, 30_000);
});

// Rootless: the helpers need /dev/net/tun open to everyone, and the test its own network namespace.
const tunOpen = (() => {
  try {
    return (Bun.spawnSync(["stat", "-c", "%a", "/dev/net/tun"]).stdout.toString().trim() === "666");
  } catch {
    return false;
  }
})();
const installed = (["slirp4netns", "pasta"] as const).filter((h) => ["/usr/bin", "/bin", "/usr/sbin"].some((d) => existsSync(`${d}/${h}`)));
const tools = ["/usr/bin/unshare", "/usr/sbin/ip", "/usr/bin/setpriv"].every((t) => existsSync(t));
const rootlessReady = isRoot && busyboxAvailable() && tunOpen && installed.length > 0 && tools;
if (isRoot && !rootlessReady) {
  console.warn(`skipping the rootless host-loopback tests: ${!tunOpen ? "/dev/net/tun is not mode 0666" : !tools ? "unshare, ip or setpriv is missing" : "neither slirp4netns nor passt is installed"}`);
}

// Runs inside the test's network namespace: services on the namespace's
// loopback and on its two other addresses, all on one port and each saying
// which it is; then each --network mode as the test user, with a container
// that tries the address that leads to the host's loopback when allowed
// (slirp4netns 10.0.2.2, pasta the gateway), and host.bunker.internal.
const RUNNER = `
const [bunkerPath, uid, gid, rootfs, modesJson] = process.argv.slice(2);
const seen = {};
const serve = (hostname, name) => Bun.listen({ hostname, port, socket: { open(s) { seen[name] = (seen[name] ?? 0) + 1; s.write("hello-" + name + "\\n"); s.end(); }, data() {} } });
let port = 0;
const lo = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open(s) { seen.lo = (seen.lo ?? 0) + 1; s.write("hello-lo\\n"); s.end(); }, data() {} } });
port = lo.port;
serve("10.200.0.2", "a");
serve("10.201.0.1", "b");
const results = [];
for (const mode of JSON.parse(modesJson)) {
  for (const k of Object.keys(seen)) delete seen[k];
  const loop = mode.startsWith("pasta") ? "$(ip route | awk '/^default/ {print $3}')" : "10.0.2.2";
  const probe = [
    // Each attempt bounded: Debian 12's pasta may accept a connection through its gateway mapping and then relay nothing.
    'try() { for i in 1 2 3 4 5; do r=$(echo | timeout 2 nc -w 2 $1 ' + port + ' 2>/dev/null); [ -n "$r" ] && { echo "$2=$r"; return; }; sleep 0.2; done; echo "$2=none"; }',
    'H=$(grep -w host.bunker.internal /etc/hosts | cut -f1); echo "hbi=$H"',
    "try " + loop + " loopback",
    '[ -n "$H" ] && try $H host',
    "true",
  ].join("; ");
  const p = Bun.spawn(["setpriv", "--reuid=" + uid, "--regid=" + gid, "--init-groups", bunkerPath, "run", "--rm", "--network", mode, "--rootfs", rootfs, "--", "sh", "-c", probe], { env: { PATH: "/usr/bin:/bin:/usr/sbin:/sbin" }, stdout: "pipe", stderr: "pipe" });
  // A start that never ends is a failure the test reports, not a hang: its container dies with bunker.
  const watchdog = setTimeout(() => p.kill(9), 40000);
  const [out, err, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  clearTimeout(watchdog);
  results.push({ mode, out, err, code, seen: { ...seen } });
}
console.log(JSON.stringify(results));
process.exit(0);
`;

// The namespace: vout 10.200.0.2/24 with the default route via 10.200.0.1 (nothing
// answers there: the peer of the veth has no address), vside 10.201.0.1/24, lo up.
const NETNS_SETUP = [
  "ip link set lo up",
  "ip link add vout type veth peer name voutp",
  "ip addr add 10.200.0.2/24 dev vout",
  "ip link set vout up",
  "ip link set voutp up",
  "ip route add default via 10.200.0.1 dev vout",
  "ip link add vside type veth peer name vsidep",
  "ip addr add 10.201.0.1/24 dev vside",
  "ip link set vside up",
  "ip link set vsidep up",
].join(" && ");

interface ModeResult {
  mode: string;
  out: string;
  err: string;
  code: number;
  seen: Record<string, number>;
}

describe.skipIf(!rootlessReady)("the host's loopback through slirp4netns and pasta (rootless)", () => {
  let user: TestUser;
  let bin: { path: string; dir: string };
  let userFs: Rootfs;
  let dir: string;
  beforeAll(() => {
    user = createUser("bunker-netsec", false);
    bin = publicBinary(BUNKER);
    userFs = makeRootfs();
    giveRootfs(userFs, user);
    dir = mkdtempSync("/var/tmp/bunker-netns-");
    chmodSync(dir, 0o755);
    writeFileSync(join(dir, "runner.js"), RUNNER);
  });
  afterAll(() => {
    userFs.remove();
    rmSync(bin.dir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
    removeUser(user);
  });

  /** Each mode's run, in a fresh network namespace of the test's making. */
  function runModes(modes: string[]): ModeResult[] {
    const r = Bun.spawnSync(
      ["unshare", "--net", "--", "sh", "-c", `${NETNS_SETUP} && exec "$0" "$@"`, process.execPath, join(dir, "runner.js"), bin.path, String(user.uid), String(user.gid), userFs.path, JSON.stringify(modes)],
      { stdout: "pipe", stderr: "pipe" },
    );
    const text = r.stdout.toString();
    if (r.exitCode !== 0 || !text.trim()) throw new Error(`the test's network namespace failed: ${r.stderr.toString()}`);
    return JSON.parse(text) as ModeResult[];
  }

  const line = (out: string, key: string) => out.split("\n").find((l) => l.startsWith(`${key}=`))?.slice(key.length + 1);

  for (const helper of installed) {
    test(`${helper}: a service the host binds to loopback only is out of reach by default, reached with allow_host_loopback=true; host.bunker.internal is a non-loopback address of the host`, () => {
      const [closed, open] = runModes([helper, `${helper}:allow_host_loopback=true`]);
      expect(closed!.err).not.toContain("bunker:");
      expect(closed!.code).toBe(0);
      // Default: the address that would lead to the host's loopback leads nowhere.
      expect(line(closed!.out, "loopback")).toBe("none");
      expect(closed!.seen.lo ?? 0).toBe(0);
      // host.bunker.internal names an address of the host that is not loopback, and reaches what listens there:
      // slirp4netns the default route's address (vout), pasta another interface's (vside; vout's it copies).
      const expected = helper === "slirp4netns" ? ["10.200.0.2", "hello-a"] : ["10.201.0.1", "hello-b"];
      expect(line(closed!.out, "hbi")).toBe(expected[0]);
      expect(line(closed!.out, "host")).toBe(expected[1]);
      // Control, the same probe with the opt-in: the host's loopback is reached, and host.bunker.internal leads there.
      expect(open!.err).not.toContain("bunker:");
      expect(open!.code).toBe(0);
      expect(line(open!.out, "loopback")).toBe("hello-lo");
      expect(line(open!.out, "hbi")).toBe(helper === "slirp4netns" ? "10.0.2.2" : "10.200.0.1");
      expect(line(open!.out, "host")).toBe("hello-lo");
      expect(open!.seen.lo).toBeGreaterThan(0);
    }, 60_000);
  }

  test("the rootless default (private) keeps the host's loopback closed too, and takes the same opt-in", () => {
    const [closed, open] = runModes(["private", "private:allow_host_loopback=true"]);
    expect(closed!.code).toBe(0);
    expect(line(closed!.out, "loopback")).toBe("none");
    expect(closed!.seen.lo ?? 0).toBe(0);
    expect(open!.code).toBe(0);
    expect(line(open!.out, "loopback")).toBe("hello-lo");
  }, 60_000);
});
