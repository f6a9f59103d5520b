// The IPv6 building blocks together, in network namespaces of the test's own
// making: container H (--network none) plays the host and holds two bridges,
// bk-t6a (fd00:6a::/64) and bk-t6b (fd00:6b::/64), made with bunker's rtnetlink,
// sysctl and nft code (test/helpers/net6-plumb.ts, entered into H's
// namespace with nsenter); containers A1 and A2 are on bk-t6a, B1 on bk-t6b,
// each with an IPv6 address and a default route through its gateway; O plays
// the world outside, on an uplink of H's (up6, fd00:99::/64) with no route
// back to the bridges' subnets. All traffic stays between these namespaces.

import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { bunker, isRoot, ROOT } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";
import type { Plan } from "../helpers/net6-plumb";
import { addPortsScript6, tableScript6, type Nat6Network } from "../../src/net/nat6";
import { parseSubnet6 } from "../../src/net/addr6";
import { parsePublish } from "../../src/spec/ports";

const nft = ["/usr/sbin/nft", "/sbin/nft"].find((p) => existsSync(p));
const nsenter = ["/usr/bin/nsenter", "/bin/nsenter"].find((p) => existsSync(p));
const ipv6 = existsSync("/proc/sys/net/ipv6/conf/all/forwarding");
const missing = !isRoot ? "they need root" : !busyboxAvailable() ? "busybox-static is not installed" : !nft ? "nft is not installed (nftables package)" : !nsenter ? "nsenter is not installed (util-linux)" : !ipv6 ? "this kernel has no IPv6" : "";
const ready = missing === "";
if (!ready) console.warn(`skipping the IPv6 tests: ${missing}`);

const names: Record<string, string> = {};
const pids: Record<string, number> = {};
const suite = containerSuite(ready, () => {
  const ids = Object.values(names);
  if (ids.length) bunker(["rm", "-f", ...ids]);
});

const NET_A: Nat6Network = { table: "bunker-t6a", bridge: "bk-t6a", subnet6: parseSubnet6("fd00:6a::/64"), internal: false };

function start(name: string, cmd: string): void {
  const r = bunker(["run", "-d", "--network", "none", "--rootfs", suite.fs.path, "--", "sh", "-c", cmd]);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  names[name] = r.stdout.trim();
  pids[name] = JSON.parse(bunker(["inspect", names[name]!]).stdout)[0].pid;
}

interface Plumbed {
  /** Links that would lose their router-advertised default route (linksLosingRouterAdverts). */
  losing: string[];
  /** hostSubnets6InUse, printed. */
  inUse: string[];
}

/** Carries out `plan` in H's network namespace; returns what it found there afterwards. */
function plumb(plan: Plan): Plumbed {
  const r = Bun.spawnSync([nsenter!, `--net=/proc/${pids.H}/ns/net`, process.execPath, join(ROOT, "test/helpers/net6-plumb.ts"), JSON.stringify(plan)], {
    stdout: "pipe",
    stderr: "pipe",
  });
  expect(r.stderr.toString()).toBe("");
  return JSON.parse(r.stdout.toString()) as Plumbed;
}

/** What the first plumbing (the uplink, forwarding still off) and the second (bridges, forwarding on) found. */
const found: Plumbed[] = [];

const sh = (who: string, cmd: string) => bunker(["exec", names[who]!, "sh", "-c", cmd]).stdout.trim();

/** What wget in container `who` gets from `url`, or "failed" (nothing within `secs`; busybox 1.35's own wget -T crashes). */
const fetchIn = (who: string, url: string, secs = 2) => sh(who, `timeout ${secs} wget -q -O- '${url}' 2>/dev/null || echo failed`);

/** Serves `text` over HTTP on `listen` ([ADDR]:PORT or PORT), from a directory of its own (the containers share the rootfs). */
const httpd = (text: string, listen: string) => `mkdir -p /tmp/www-${text} && echo ${text} > /tmp/www-${text}/index.html && exec httpd -f -p '${listen}' -h /tmp/www-${text}`;

/** /proc/net/if_inet6 flags of the container's `ip` (32 hex digits): PERMANENT 0x80, NODAD 0x02, TENTATIVE 0x40. */
const flagsOf = (who: string, hex: string) => sh(who, `grep ^${hex} /proc/net/if_inet6 | cut -d' ' -f5`);

beforeAll(() => {
  if (!ready) return;
  // H answers on its own ::1 only: what the output chain must leave alone.
  start("H", httpd("host", "[::1]:8080"));
  start("A1", "exec sleep 600");
  start("A2", httpd("a2", "80"));
  start("B1", httpd("b1", "80"));
  start("O", httpd("outside", "80"));
  // First the uplink, with a default route as a router advertisement would
  // leave it, while H does not forward yet; and links that start without IPv6.
  found.push(plumb({ ipv6OffByDefault: true, veths: [{ host: "up6", hostIp: "fd00:99::1", pid: pids.O!, ip: "fd00:99::2", prefix: 64 }], raDefaultRoute: "up6" }));
  found.push(
    plumb({
      // As on a host without br_netfilter: frames between two ports of a bridge
      // then never meet conntrack, and a hairpin connection through the
      // gateway works only by the masquerade (where it is loaded, conntrack
      // undoes the DNAT of the reply within the bridge by itself).
      bridgeNetfilter: "0",
      bridges: [
        { name: "bk-t6a", gateway: "fd00:6a::1", prefix: 64 },
        { name: "bk-t6b", gateway: "fd00:6b::1", prefix: 64 },
      ],
      veths: [
        { host: "bkt6a1", bridge: "bk-t6a", pid: pids.A1!, ip: "fd00:6a::2", prefix: 64, gateway: "fd00:6a::1" },
        { host: "bkt6a2", bridge: "bk-t6a", pid: pids.A2!, ip: "fd00:6a::3", prefix: 64, gateway: "fd00:6a::1" },
        { host: "bkt6b1", bridge: "bk-t6b", pid: pids.B1!, ip: "fd00:6b::2", prefix: 64, gateway: "fd00:6b::1" },
      ],
    }),
  );
});

// The tests build on each other, in order: the plain bridges, then network A's table, then a published port.
describe.skipIf(!ready)("IPv6 networks", () => {
  test("a router-advertised default route that forwarding would cost the host is named before forwarding is on, and bridges get IPv6 where new links start without it", () => {
    expect(found.map((f) => f.losing)).toEqual([["up6"], []]);
    expect(Bun.spawnSync([nsenter!, `--net=/proc/${pids.H}/ns/net`, "sh", "-c", "cat /proc/sys/net/ipv6/conf/default/disable_ipv6 /proc/sys/net/ipv6/conf/bk-t6a/disable_ipv6 /proc/sys/net/ipv6/conf/all/forwarding"]).stdout.toString()).toBe("1\n0\n1\n");
  });

  test("the host's IPv6 subnets in use: every route but the default one, whoever made it, and every address", () => {
    const inUse = found[1]!.inUse;
    // The bridges' and the uplink's on-link routes, which the kernel made (proto kernel).
    for (const s of ["fd00:6a::/64", "fd00:6b::/64", "fd00:99::/64", "fe80::/64", "fd00:6a::1/128", "fd00:6b::1/128", "fd00:99::1/128", "::1/128"]) expect(inUse).toContain(s);
    // The default route (from the router advertisement) is no subnet in use.
    expect(inUse).not.toContain("::/0");
    // Containers' own addresses are in their namespaces, not this one.
    expect(inUse).not.toContain("fd00:6a::2/128");
  });

  test("containers on one bridge reach each other at once over IPv6 (no duplicate address detection), by wget and nc", () => {
    expect(flagsOf("A2", "fd00006a000000000000000000000003")).toBe("82");
    expect(sh("A2", "cat /proc/net/ipv6_route | grep -c '^00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd00006a000000000000000000000001 '")).toBe("1");
    expect(fetchIn("A1", "http://[fd00:6a::3]/")).toBe("a2");
    expect(sh("A1", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 2 nc fd00:6a::3 80 | tail -n 1")).toBe("a2");
    // The gateway answers too: the bridge's own address.
    expect(sh("B1", "ping -6 -c 1 -W 2 fd00:6b::1 >/dev/null && echo answers")).toBe("answers");
    // The control for the masquerade: the outside has no route back to the subnet.
    expect(fetchIn("A1", "http://[fd00:99::2]/", 1)).toBe("failed");
  });

  test("two networks' containers are routed through the host until a network's table isolates them, both ways", () => {
    // The control: forwarding between the bridges works without the table.
    expect(fetchIn("B1", "http://[fd00:6a::3]/")).toBe("a2");
    expect(fetchIn("A2", "http://[fd00:6b::2]/")).toBe("b1");
    // Network B has no ip6 table of its own (as an IPv4-only network): A's alone must isolate.
    plumb({ nft: tableScript6(NET_A) });
    expect(fetchIn("B1", "http://[fd00:6a::3]/", 1)).toBe("failed");
    expect(fetchIn("A2", "http://[fd00:6b::2]/", 1)).toBe("failed");
    // Within the network nothing changed.
    expect(fetchIn("A1", "http://[fd00:6a::3]/")).toBe("a2");
  });

  test("what leaves the host through another interface is masqueraded to the host's address there", () => {
    expect(fetchIn("A1", "http://[fd00:99::2]/")).toBe("outside");
    // B's subnet has no table to masquerade it: the same request from B1 still finds no way back.
    expect(fetchIn("B1", "http://[fd00:99::2]/", 1)).toBe("failed");
  });

  test("a published port: DNAT to the container's IPv6 address from its network, another network and the host, but not from ::1", () => {
    plumb({ nft: addPortsScript6(NET_A.table, parsePublish("8080:80"), "fd00:6a::3") });
    // Through the gateway from the same bridge: the answer comes back from the gateway (hairpin masquerade).
    expect(fetchIn("A1", "http://[fd00:6a::1]:8080/")).toBe("a2");
    // From the isolated network: a published port is open to it as to the world.
    expect(fetchIn("B1", "http://[fd00:6b::1]:8080/")).toBe("a2");
    expect(fetchIn("B1", "http://[fd00:6a::1]:8080/")).toBe("a2");
    // From the host itself, to one of its addresses: the output chain.
    expect(fetchIn("H", "http://[fd00:6a::1]:8080/")).toBe("a2");
    expect(fetchIn("H", "http://[fd00:6b::1]:8080/")).toBe("a2");
    // ::1 stays the host's own: its listener there answers, not the container.
    expect(fetchIn("H", "http://[::1]:8080/")).toBe("host");
  });

  test("an internal network forwards nothing out of its bridge, not even to a published port, and the host still answers it", () => {
    plumb({ nft: tableScript6({ table: "bunker-t6b", bridge: "bk-t6b", subnet6: parseSubnet6("fd00:6b::/64"), internal: true }) });
    expect(fetchIn("B1", "http://[fd00:6b::1]:8080/", 1)).toBe("failed");
    expect(fetchIn("A2", "http://[fd00:6b::2]/", 1)).toBe("failed");
    expect(sh("B1", "ping -6 -c 1 -W 2 fd00:6b::1 >/dev/null && echo answers")).toBe("answers");
    // Network A's own traffic is untouched by B's table.
    expect(fetchIn("A1", "http://[fd00:6a::1]:8080/")).toBe("a2");
    expect(fetchIn("A1", "http://[fd00:99::2]/")).toBe("outside");
  });
});
