// Pure parts of IPv6 networking: addresses and subnets, the default unique
// local subnet, and the ip6 nft scripts (checked by nft itself where it is
// installed, in check mode, which changes nothing).

import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import {
  contains6,
  defaultSubnets6,
  formatIp6,
  formatSubnet6,
  gatewayOf6,
  hostNumber6,
  hostRange6,
  ip6Bytes,
  ip6FromBytes,
  maskOf6,
  nthHost6,
  overlaps6,
  parseIp6,
  parseSubnet6,
  pickSubnet6,
} from "../../src/net/addr6";
import { addPortsScript6, deletePortsScript6, deletePresentScript6, deleteTableScript6, repairScript6, tableScript6, undoPortsScript6, type Nat6Network } from "../../src/net/nat6";
import { parsePublish } from "../../src/spec/ports";
import { readSysctl, setSysctl } from "../../src/net/sysctl";

const p6 = (s: string) => formatIp6(parseIp6(s));

describe("IPv6 addresses", () => {
  test("every text form parses to the same number", () => {
    expect(parseIp6("::")).toBe(0n);
    expect(parseIp6("::1")).toBe(1n);
    expect(parseIp6("fd00::1")).toBe(0xfd000000000000000000000000000001n);
    expect(parseIp6("FD00:0:0:0:0:0:0:1")).toBe(0xfd000000000000000000000000000001n);
    expect(parseIp6("2001:db8::ff00:42:8329")).toBe(0x20010db8000000000000ff0000428329n);
    expect(parseIp6("::ffff:192.0.2.1")).toBe(0xffffc0000201n);
    expect(parseIp6("1:2:3:4:5:6:7:8")).toBe(0x00010002000300040005000600070008n);
    expect(parseIp6("1:2:3:4:5:6::")).toBe(0x00010002000300040005000600000000n);
  });

  test("malformed addresses are refused", () => {
    for (const bad of ["", ":", ":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1::2:3:4:5:6:7:8", "12345::", "g::1", ":1::", "fe80::1%eth0", "1.2.3.4::", "::1.2.3", "::256.1.1.1", "10.0.0.1"]) {
      expect(() => parseIp6(bad)).toThrow(`"${bad}" is not an IPv6 address`);
    }
  });

  test("printed in RFC 5952 form", () => {
    expect(p6("2001:0db8:0000:0000:0000:ff00:0042:8329")).toBe("2001:db8::ff00:42:8329");
    // A single zero group is not shortened; of two equal runs the first is.
    expect(p6("2001:db8:0:1:1:1:1:1")).toBe("2001:db8:0:1:1:1:1:1");
    expect(p6("2001:db8:0:0:1:0:0:1")).toBe("2001:db8::1:0:0:1");
    // The longest run wins over an earlier shorter one.
    expect(p6("2001:0:0:1:0:0:0:1")).toBe("2001:0:0:1::1");
    expect(p6("0:0:0:0:0:0:0:0")).toBe("::");
    expect(p6("0:0:0:0:0:0:0:1")).toBe("::1");
    expect(p6("1:0:0:0:0:0:0:0")).toBe("1::");
    expect(p6("FD12:3456:789A:1::1")).toBe("fd12:3456:789a:1::1");
    expect(p6("::ffff:c000:201")).toBe("::ffff:192.0.2.1");
  });

  test("bytes in network order, both ways", () => {
    const b = ip6Bytes(parseIp6("fd00:102:304::a0b"));
    expect([...b]).toEqual([0xfd, 0, 1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0x0a, 0x0b]);
    expect(formatIp6(ip6FromBytes(b))).toBe("fd00:102:304::a0b");
  });
});

describe("IPv6 subnets", () => {
  test("parse, masks, gateway and host addresses", () => {
    const s = parseSubnet6("fd00:1:2:3::/64");
    expect(formatSubnet6(s)).toBe("fd00:1:2:3::/64");
    expect(maskOf6(64)).toBe(0xffffffffffffffff0000000000000000n);
    expect(maskOf6(0)).toBe(0n);
    expect(maskOf6(128)).toBe((1n << 128n) - 1n);
    expect(formatIp6(gatewayOf6(s))).toBe("fd00:1:2:3::1");
    const r = hostRange6(s);
    expect([formatIp6(r.first), formatIp6(r.last)]).toEqual(["fd00:1:2:3::2", "fd00:1:2:3:ffff:ffff:ffff:ffff"]);
    expect(formatIp6(nthHost6(s, 1)!)).toBe("fd00:1:2:3::2");
    expect(formatIp6(nthHost6(s, 255)!)).toBe("fd00:1:2:3::100");
    expect(nthHost6(s, 0)).toBeUndefined();
    expect(hostNumber6(s, parseIp6("fd00:1:2:3::100"))).toBe(255n);
    expect(hostNumber6(s, parseIp6("fd00:1:2:3::1"))).toBeUndefined();
    expect(hostNumber6(s, parseIp6("fd00:1:2:4::2"))).toBeUndefined();
    const small = parseSubnet6("fd00::/120");
    expect(formatIp6(nthHost6(small, 254)!)).toBe("fd00::ff");
    expect(nthHost6(small, 255)).toBeUndefined();
    expect(contains6(s, parseIp6("fd00:1:2:3:4::5"))).toBe(true);
    expect(contains6(s, parseIp6("fd00:1:2:4::5"))).toBe(false);
  });

  test("bad subnets name what is wrong", () => {
    expect(() => parseSubnet6("fd00:1:2:3::1/64")).toThrow("host bits set (did you mean fd00:1:2:3::/64?)");
    expect(() => parseSubnet6("fd00::/32")).toThrow("between /48 and /120");
    expect(() => parseSubnet6("fd00::/124")).toThrow("between /48 and /120");
    expect(() => parseSubnet6("fd00::")).toThrow("is not an IPv6 subnet");
    expect(() => parseSubnet6("10.0.0.0/64")).toThrow('"10.0.0.0" is not an IPv6 address');
    expect(() => parseSubnet6("fd00::/064x")).toThrow("is not an IPv6 subnet");
  });

  test("overlap either way, whichever is larger", () => {
    const a = parseSubnet6("fd00:1:2:3::/64");
    expect(overlaps6(a, { base: parseIp6("fd00:1::"), prefix: 32 })).toBe(true);
    expect(overlaps6({ base: parseIp6("fd00:1::"), prefix: 32 }, a)).toBe(true);
    expect(overlaps6(a, { base: parseIp6("fd00:1:2:3::9"), prefix: 128 })).toBe(true);
    expect(overlaps6(a, parseSubnet6("fd00:1:2:4::/64"))).toBe(false);
    expect(overlaps6(a, { base: parseIp6("fd00:1:2:4::"), prefix: 63 })).toBe(false);
    expect(overlaps6(a, { base: parseIp6("fd00:1:2:2::"), prefix: 63 })).toBe(true);
  });

  test("the default subnet: a unique local /64 from the network's id, stable, avoiding what the host uses", () => {
    const id = "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b";
    const c = defaultSubnets6(id);
    expect(formatSubnet6(c[0]!)).toBe("fd1a:2b3c:4d5e::/64");
    expect(c.length).toBe(16);
    expect(new Set(c.map(formatSubnet6)).size).toBe(16);
    for (const s of c) {
      expect(s.prefix).toBe(64);
      expect(contains6({ base: 0xfdn << 120n, prefix: 8 }, s.base)).toBe(true);
    }
    // The same id gives the same subnets in another process, later.
    expect(defaultSubnets6(id).map(formatSubnet6)).toEqual(c.map(formatSubnet6));
    expect(formatSubnet6(defaultSubnets6("ffffffffff" + id.slice(10))[0]!)).toBe("fdff:ffff:ffff::/64");
    // A name that is no hex id still gets a stable unique local subnet.
    expect(formatSubnet6(defaultSubnets6("bridge")[0]!)).toBe(formatSubnet6(defaultSubnets6("bridge")[0]!));
    expect(formatSubnet6(defaultSubnets6("bridge")[0]!)).toMatch(/^fd[0-9a-f]{2}:[0-9a-f]{1,4}:[0-9a-f]{1,4}::\/64$/);

    expect(pickSubnet6(c, [])).toEqual(c[0]);
    // A route over the first candidate's /48, an address inside the second: the third.
    const used = [{ base: parseIp6("fd1a:2b3c:4d5e::"), prefix: 48 }, { base: c[1]!.base + 77n, prefix: 128 }];
    expect(pickSubnet6(c, used)).toEqual(c[2]);
    expect(pickSubnet6(c, [{ base: parseIp6("fd00::"), prefix: 8 }])).toBeUndefined();
  });
});

describe("sysctl settings", () => {
  test("a failed write names the setting as sysctl does (a dot in a link's name becomes a slash) and the reason", () => {
    expect(() => setSysctl("net/ipv6/conf/bk-no.such/disable_ipv6", "0")).toThrow("set net.ipv6.conf.bk-no/such.disable_ipv6 to 0: No such file or directory");
    expect(readSysctl("net/ipv6/conf/bk-no.such/disable_ipv6")).toBeUndefined();
    // A setting that already has the value is not written: no privilege needed.
    const current = readSysctl("net/core/somaxconn");
    expect(current).toMatch(/^\d+$/);
    expect(() => setSysctl("net/core/somaxconn", current!)).not.toThrow();
  });
});

const NET: Nat6Network = { table: "bunker-bk-1a2b3c4d5e6f", bridge: "bk-1a2b3c4d5e6f", subnet6: parseSubnet6("fd1a:2b3c:4d5e::/64"), internal: false };
const INTERNAL: Nat6Network = { ...NET, internal: true };
const nft = ["/usr/sbin/nft", "/sbin/nft"].find((p) => existsSync(p));

/** nft's own verdict on a script, in check mode (parsed and validated against the kernel, nothing applied). */
function nftCheck(script: string): string {
  const r = Bun.spawnSync([nft!, "-c", "-f", "-"], { stdin: new TextEncoder().encode(script), stdout: "pipe", stderr: "pipe" });
  return r.exitCode === 0 ? "ok" : r.stderr.toString();
}

describe("ip6 nft scripts", () => {
  test("a network's table masquerades its subnet leaving the host and answers hairpin connections from the gateway", () => {
    const t = tableScript6(NET);
    expect(t.startsWith("add table ip6 bunker-bk-1a2b3c4d5e6f\ndelete table ip6 bunker-bk-1a2b3c4d5e6f\ntable ip6 bunker-bk-1a2b3c4d5e6f {")).toBe(true);
    expect(t).toContain('ip6 saddr fd1a:2b3c:4d5e::/64 oifname != "bk-1a2b3c4d5e6f" masquerade');
    expect(t).toContain('oifname "bk-1a2b3c4d5e6f" ct status dnat ip6 saddr fd1a:2b3c:4d5e::/64 masquerade');
    expect(t).toContain("map tcp_ports { type inet_service : ipv6_addr . inet_service ; }");
    expect(t).toContain("dnat ip6 to tcp dport map @tcp_ports");
    expect(t).toContain("dnat ip6 to ip6 daddr . udp dport map @udp_addr_ports");
  });

  test("published ports are DNATed from every local address but ::1", () => {
    const t = tableScript6(NET);
    expect(t).toContain("chain prerouting { type nat hook prerouting priority dstnat; policy accept;\n    fib daddr type local jump published\n");
    expect(t).toContain("chain output { type nat hook output priority -100; policy accept;\n    ip6 daddr != ::1 fib daddr type local jump published\n");
  });

  test("forwarding between this network's bridge and any other network's bridge is dropped, both ways", () => {
    const t = tableScript6(NET);
    expect(t).toContain("chain forward { type filter hook forward priority filter; policy accept;");
    expect(t).toContain('iifname "bk-1a2b3c4d5e6f" oifname != "bk-1a2b3c4d5e6f" oifname { "bunker0", "bk-*" } drop');
    expect(t).toContain('oifname "bk-1a2b3c4d5e6f" iifname != "bk-1a2b3c4d5e6f" iifname { "bunker0", "bk-*" } drop');
    // Published ports stay reachable from other networks: the exception comes before the drops.
    expect(t).toContain("policy accept;\n    ct status dnat accept\n    iifname");
  });

  test("an internal network forwards nothing in or out, masquerades and publishes nothing", () => {
    const t = tableScript6(INTERNAL);
    expect(t).toContain('iifname "bk-1a2b3c4d5e6f" oifname != "bk-1a2b3c4d5e6f" drop');
    expect(t).toContain('oifname "bk-1a2b3c4d5e6f" iifname != "bk-1a2b3c4d5e6f" drop');
    expect(t).not.toContain("masquerade");
    expect(t).not.toContain("jump published");
    expect(t).not.toContain("ct status dnat accept");
  });

  test("the repair completes the table without emptying its maps", () => {
    const r = repairScript6(NET);
    expect(r).not.toContain("delete table");
    expect(r).not.toContain("flush map");
    expect(r).toContain("add map ip6 bunker-bk-1a2b3c4d5e6f tcp_ports { type inet_service : ipv6_addr . inet_service ; }");
    expect(r).toContain("flush chain ip6 bunker-bk-1a2b3c4d5e6f output\nadd rule ip6 bunker-bk-1a2b3c4d5e6f output ip6 daddr != ::1 fib daddr type local jump published\n");
    expect(r.lastIndexOf("add chain")).toBeLessThan(r.indexOf("add rule"));
    expect(deleteTableScript6("t6")).toBe("add table ip6 t6\ndelete table ip6 t6\n");
  });

  test("ports: on every address means IPv6 too, an IPv4 host address means IPv4 only", () => {
    const ports = [...parsePublish("8080:80"), ...parsePublish("127.0.0.1:5353:53/udp"), ...parsePublish("9000-9001:90-91/udp")];
    expect(addPortsScript6("t6", ports, "fd1a:2b3c:4d5e:0::0002")).toBe(
      "add element ip6 t6 tcp_ports { 8080 : fd1a:2b3c:4d5e::2 . 80 }\nadd element ip6 t6 udp_ports { 9000 : fd1a:2b3c:4d5e::2 . 90, 9001 : fd1a:2b3c:4d5e::2 . 91 }\n",
    );
    expect(deletePortsScript6("t6", ports, "fd1a:2b3c:4d5e::2")).toBe("delete element ip6 t6 tcp_ports { 8080 }\ndelete element ip6 t6 udp_ports { 9000, 9001 }\n");
    const v6host = [{ ...parsePublish("8080:80")[0]!, hostIp: "FD1A:2B3C:4D5E::1" }];
    expect(addPortsScript6("t6", v6host, "fd1a:2b3c:4d5e::2")).toBe("add element ip6 t6 tcp_addr_ports { fd1a:2b3c:4d5e::1 . 8080 : fd1a:2b3c:4d5e::2 . 80 }\n");
    expect(undoPortsScript6("t6", v6host, "fd1a:2b3c:4d5e::2")).toBe(
      "add element ip6 t6 tcp_addr_ports { fd1a:2b3c:4d5e::1 . 8080 : fd1a:2b3c:4d5e::2 . 80 }\ndelete element ip6 t6 tcp_addr_ports { fd1a:2b3c:4d5e::1 . 8080 }\n",
    );
    expect(addPortsScript6("t6", parsePublish("127.0.0.1:8080:80"), "fd1a:2b3c:4d5e::2")).toBe("");
  });

  test("stale elements: only keys present are deleted, and with onlyOwn only those still mapping to the container", () => {
    const ports = [...parsePublish("8080:80"), ...parsePublish("8081:81"), ...parsePublish("127.0.0.1:8082:82")];
    const present = new Map([["tcp_ports", new Map([["8080", "fd1a:2b3c:4d5e::2 . 80"], ["8081", "fd1a:2b3c:4d5e::9 . 81"]])]]);
    expect(deletePresentScript6("t6", ports, "fd1a:2b3c:4d5e::2", present, false)).toBe("delete element ip6 t6 tcp_ports { 8080, 8081 }\n");
    expect(deletePresentScript6("t6", ports, "fd1a:2b3c:4d5e:0:0::2", present, true)).toBe("delete element ip6 t6 tcp_ports { 8080 }\n");
    expect(deletePresentScript6("t6", ports, "fd1a:2b3c:4d5e::2", new Map(), false)).toBe("");
  });

  test.skipIf(!nft || process.geteuid?.() !== 0)("nft accepts every script", () => {
    const ports = [...parsePublish("8080:80"), { ...parsePublish("53:53/udp")[0]!, hostIp: "fd1a:2b3c:4d5e::1" }];
    const t = NET.table;
    // Check mode validates each script against the tables it creates itself, so a port script follows its table.
    expect(nftCheck(tableScript6(NET))).toBe("ok");
    expect(nftCheck(tableScript6(INTERNAL))).toBe("ok");
    expect(nftCheck(repairScript6(NET))).toBe("ok");
    expect(nftCheck(tableScript6(NET) + addPortsScript6(t, ports, "fd1a:2b3c:4d5e::2"))).toBe("ok");
    expect(nftCheck(tableScript6(NET) + undoPortsScript6(t, ports, "fd1a:2b3c:4d5e::2"))).toBe("ok");
    expect(nftCheck(deleteTableScript6(t))).toBe("ok");
    // A control: check mode does refuse a bad script.
    expect(nftCheck(`${tableScript6(NET)}add element ip6 ${t} tcp_ports { 8080 : 10.0.0.2 . 80 }\n`)).not.toBe("ok");
  });
});
if (!nft || process.geteuid?.() !== 0) console.warn("skipping the nft check of the ip6 scripts: it needs nft (nftables package) and root");
