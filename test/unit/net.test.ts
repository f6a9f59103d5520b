// Pure parts of networking: -p parsing, addresses and subnets, the subnet
// choice, nft scripts, resolv.conf and hosts files, netlink attributes.

import { describe, expect, test } from "bun:test";
import { contains, formatIp, formatSubnet, gatewayOf, hostRange, overlaps, parseIp, parseSubnet } from "../../src/net/addr";
import { defaultSubnets, pickSubnet } from "../../src/net/bridge";
import { addPortsScript, deletePortsScript, deletePresentScript, defaultTable, repairScript, tableScript, undoPortsScript } from "../../src/net/nat";
import { parseNetworkArg } from "../../src/spec/network";
import { helperHostAddress } from "../../src/runtime/network";
import { hostsFile } from "../../src/runtime/facts";
import { resolvConf } from "../../src/runtime/host-network";
import { checkPublished, expandPorts, formatPort, parsePublish } from "../../src/spec/ports";
import { pastaPorts } from "../../src/net/helpers";
import { attr, attrString, attrU32, concat, nested, parseAttrs } from "../../src/sys/netlink";

describe("-p/--publish", () => {
  test("docker's forms", () => {
    expect(parsePublish("8080:80")).toEqual([{ hostIp: "0.0.0.0", hostPort: 8080, containerPort: 80, protocol: "tcp" }]);
    expect(parsePublish("127.0.0.1:5353:53/udp")).toEqual([{ hostIp: "127.0.0.1", hostPort: 5353, containerPort: 53, protocol: "udp" }]);
    expect(parsePublish("80")).toEqual([{ hostIp: "0.0.0.0", hostPort: 0, containerPort: 80, protocol: "tcp" }]);
    expect(parsePublish("127.0.0.1::80")).toEqual([{ hostIp: "127.0.0.1", hostPort: 0, containerPort: 80, protocol: "tcp" }]);
    // A range is one mapping (its length in `range`), one per port once expanded.
    expect(parsePublish("8000-8002:80-82")).toEqual([{ hostIp: "0.0.0.0", hostPort: 8000, containerPort: 80, protocol: "tcp", range: 3 }]);
    expect(expandPorts(parsePublish("8000-8002:80-82")).map((p) => [p.hostPort, p.containerPort])).toEqual([
      [8000, 80],
      [8001, 81],
      [8002, 82],
    ]);
  });

  test("bad values name what is wrong", () => {
    expect(() => parsePublish("")).toThrow("use [HOSTIP:][HOSTPORT:]CONTAINERPORT");
    expect(() => parsePublish("a:b")).toThrow('"b" is not a port or a range');
    expect(() => parsePublish("0:80")).toThrow("port 0 is out of range");
    expect(() => parsePublish("65536:80")).toThrow("port 65536 is out of range");
    expect(() => parsePublish("8080:80/icmp")).toThrow("the protocol must be tcp or udp");
    expect(() => parsePublish("300.1.1.1:80:80")).toThrow('"300.1.1.1" is not an IPv4 address');
    expect(() => parsePublish("8000-8001:80")).toThrow("the host and container ranges differ in length");
    expect(() => parsePublish("90-80:90-80")).toThrow("runs backwards");
    expect(() => parsePublish("1:2:3:4")).toThrow("use [HOSTIP:]");
  });

  test("the same host port twice is refused; tcp and udp may share a number", () => {
    expect(() => checkPublished([...parsePublish("8080:80"), ...parsePublish("8080:81")])).toThrow("host port 8080/tcp is published twice");
    expect(() => checkPublished([...parsePublish("127.0.0.1:8080:80"), ...parsePublish("8080:81")])).toThrow("published twice");
    expect(() => checkPublished([...parsePublish("8080:80"), ...parsePublish("127.0.0.1:8080:81")])).toThrow("published twice");
    expect(() => checkPublished([...parsePublish("8080:80"), ...parsePublish("8080:80/udp")])).not.toThrow();
    expect(() => checkPublished([...parsePublish("80"), ...parsePublish("81")])).not.toThrow();
    expect(formatPort(parsePublish("127.0.0.1:5353:53/udp")[0]!)).toBe("127.0.0.1:5353->53/udp");
  });

  test("ranges: overlaps are found however long the ranges, and each port is printed once as a range", () => {
    expect(() => checkPublished([...parsePublish("8000-8010:80-90"), ...parsePublish("8005:99")])).toThrow("host port 8005/tcp is published twice");
    expect(() => checkPublished([...parsePublish("8005:99"), ...parsePublish("127.0.0.1:8000-8010:80-90")])).toThrow("host port 8005/tcp is published twice");
    expect(() => checkPublished([...parsePublish("8000-8010:80-90"), ...parsePublish("8011-8020:80-89")])).not.toThrow();
    expect(() => checkPublished([...parsePublish("127.0.0.1:8000-8010:80-90"), ...parsePublish("127.0.0.2:8000-8010:80-90")])).not.toThrow();
    expect(() => checkPublished([...parsePublish("1-65535:1-65535"), ...parsePublish("1-65535:1-65535/udp")])).not.toThrow();
    expect(() => checkPublished([...parsePublish("1-65535:1-65535"), ...parsePublish("65535:1")])).toThrow("host port 65535/tcp is published twice");
    expect(formatPort(parsePublish("8000-8002:80-82")[0]!)).toBe("0.0.0.0:8000-8002->80-82/tcp");
    // Without host ports each container port gets its own free one when the container starts.
    expect(parsePublish("80-82")).toEqual([{ hostIp: "0.0.0.0", hostPort: 0, containerPort: 80, protocol: "tcp", range: 3 }]);
    expect(expandPorts(parsePublish("80-82")).map((p) => [p.hostPort, p.containerPort, p.range])).toEqual([
      [0, 80, undefined],
      [0, 81, undefined],
      [0, 82, undefined],
    ]);
    const all = parsePublish("1-65535:1-65535");
    expect(all.length).toBe(1);
    expect(expandPorts(all).length).toBe(65535);
  });

  test("pasta gets ranges as ranges", () => {
    const ports = [...parsePublish("8000-8002:80-82"), ...parsePublish("127.0.0.1:9000:90"), ...parsePublish("53:53/udp")];
    expect(pastaPorts(ports, "tcp")).toBe("8000-8002:80-82,127.0.0.1/9000:90");
    expect(pastaPorts(ports, "udp")).toBe("53:53");
    expect(pastaPorts([], "udp")).toBe("none");
  });
});

describe("addresses and subnets", () => {
  test("parse and print", () => {
    expect(parseIp("10.89.0.1")).toBe(0x0a590001);
    expect(formatIp(0xc0a80101)).toBe("192.168.1.1");
    expect(() => parseIp("10.0.0")).toThrow("not an IPv4 address");
    expect(() => parseIp("10.0.0.256")).toThrow("not an IPv4 address");
    const s = parseSubnet("10.89.0.0/16");
    expect(formatSubnet(s)).toBe("10.89.0.0/16");
    expect(formatIp(gatewayOf(s))).toBe("10.89.0.1");
    const r = hostRange(s);
    expect([formatIp(r.first), formatIp(r.last)]).toEqual(["10.89.0.2", "10.89.255.254"]);
    expect(contains(s, parseIp("10.89.3.4"))).toBe(true);
    expect(contains(s, parseIp("10.90.0.1"))).toBe(false);
    expect(() => parseSubnet("10.89.0.1/16")).toThrow("host bits set (did you mean 10.89.0.0/16?)");
    expect(() => parseSubnet("10.0.0.0/30")).toThrow("between /8 and /29");
    expect(() => parseSubnet("10.0.0.0")).toThrow("is not a subnet");
  });

  test("the default subnet avoids every route and address of the host", () => {
    const used = [parseSubnet("10.89.0.0/16"), { base: parseIp("10.90.4.5"), prefix: 32 }, parseSubnet("10.88.0.0/14")];
    expect(overlaps(parseSubnet("10.88.0.0/14"), parseSubnet("10.91.0.0/16"))).toBe(true);
    expect(formatSubnet(pickSubnet(defaultSubnets(), used)!)).toBe("10.92.0.0/16");
    expect(formatSubnet(pickSubnet(defaultSubnets(), [])!)).toBe("10.89.0.0/16");
    expect(pickSubnet(defaultSubnets(), [parseSubnet("10.0.0.0/8")])).toBeUndefined();
  });
});

describe("nft scripts", () => {
  test("a network made by network create drops what crosses to another bunker bridge; an internal one forwards nothing beyond its bridge and masquerades nothing", () => {
    const t = tableScript({ table: "bk_0123456789ab", bridge: "bk-0123456789ab", subnet: parseSubnet("10.90.3.0/24"), isolated: true });
    expect(t).toContain("chain forward { type filter hook forward priority filter; policy accept;");
    expect(t).toContain('iifname "bk-0123456789ab" oifname "bunker0" drop');
    expect(t).toContain('iifname "bk-0123456789ab" oifname != "bk-0123456789ab" oifname "bk-*" drop');
    expect(t).toContain('oifname "bk-0123456789ab" iifname != "bk-0123456789ab" iifname "bk-*" drop');
    expect(t).toContain('ip saddr 10.90.3.0/24 oifname != "bk-0123456789ab" masquerade');
    const inner = tableScript({ table: "bk_0123456789ab", bridge: "bk-0123456789ab", subnet: parseSubnet("10.90.3.0/24"), internal: true, isolated: true });
    expect(inner).toContain('iifname "bk-0123456789ab" oifname != "bk-0123456789ab" drop');
    expect(inner).toContain('oifname "bk-0123456789ab" iifname != "bk-0123456789ab" drop');
    expect(inner).not.toContain('oifname != "bk-0123456789ab" masquerade');
    // The default bridge keeps docker's default: no separation of its own.
    expect(tableScript(defaultTable(parseSubnet("10.89.0.0/16")))).not.toContain("chain forward");
  });

  test("the table masquerades the subnet leaving the host, and loopback and hairpin traffic into the bridge", () => {
    const t = tableScript(defaultTable(parseSubnet("10.89.0.0/16")));
    expect(t.startsWith("add table ip bunker\ndelete table ip bunker\ntable ip bunker {")).toBe(true);
    expect(t).toContain('ip saddr 10.89.0.0/16 oifname != "bunker0" masquerade');
    expect(t).toContain('oifname "bunker0" ip saddr 127.0.0.0/8 masquerade');
    expect(t).toContain("type nat hook output priority -100");
    expect(t).toContain("dnat ip to tcp dport map @tcp_ports");
  });

  test("the table drops what arrives from the bridge to or from 127.0.0.0/8, before conntrack and NAT", () => {
    const t = tableScript(defaultTable(parseSubnet("10.89.0.0/16")));
    expect(t).toContain("chain localnet { type filter hook prerouting priority raw; policy accept;");
    expect(t).toContain('iifname "bunker0" ip daddr 127.0.0.0/8 drop');
    expect(t).toContain('iifname "bunker0" ip saddr 127.0.0.0/8 drop');
  });

  test("the repair completes the table without emptying its maps", () => {
    const r = repairScript(defaultTable(parseSubnet("10.89.0.0/16")));
    expect(r).not.toContain("delete table");
    expect(r).not.toContain("flush map");
    expect(r).toContain("add map ip bunker tcp_ports { type inet_service : ipv4_addr . inet_service ; }");
    expect(r).toContain("flush chain ip bunker localnet\nadd rule ip bunker localnet iifname \"bunker0\" ip daddr 127.0.0.0/8 drop\n");
    // Every chain exists before the first rule, which may jump to one.
    expect(r.lastIndexOf("add chain")).toBeLessThan(r.indexOf("add rule"));
  });

  test("ports are map elements, keyed by port or by address and port", () => {
    const ports = [...parsePublish("8080:80"), ...parsePublish("127.0.0.1:5353:53/udp")];
    expect(addPortsScript(ports, "10.89.0.2")).toBe(
      "add element ip bunker tcp_ports { 8080 : 10.89.0.2 . 80 }\nadd element ip bunker udp_addr_ports { 127.0.0.1 . 5353 : 10.89.0.2 . 53 }\n",
    );
    expect(deletePortsScript(ports, "10.89.0.2")).toBe("delete element ip bunker tcp_ports { 8080 }\ndelete element ip bunker udp_addr_ports { 127.0.0.1 . 5353 }\n");
  });

  test("a range becomes one element per port, in one statement", () => {
    const script = addPortsScript(parsePublish("1-65535:1-65535"), "10.89.0.2");
    expect(script.split("\n").filter(Boolean).length).toBe(1);
    expect(script.split(",").length).toBe(65535);
    expect(script).toContain("{ 1 : 10.89.0.2 . 1, 2 : 10.89.0.2 . 2,");
    expect(script).toContain(", 65535 : 10.89.0.2 . 65535 }");
  });

  test("what is left of a container's elements: present ones only, and with onlyOwn only those still mapping to it", () => {
    const ports = parsePublish("8080-8082:80-82");
    const present = new Map([["tcp_ports", new Map([["8080", "10.89.0.2 . 80"], ["8081", "10.89.0.9 . 81"]])]]);
    expect(deletePresentScript(ports, "10.89.0.2", present, true)).toBe("delete element ip bunker tcp_ports { 8080 }\n");
    expect(deletePresentScript(ports, "10.89.0.2", present, false)).toBe("delete element ip bunker tcp_ports { 8080, 8081 }\n");
    expect(deletePresentScript(ports, "10.89.0.2", new Map(), false)).toBe("");
  });

  test("a container's elements go in one statement per map, and are removed whether or not they were added", () => {
    const ports = [...parsePublish("8080:80"), ...parsePublish("8081:81")];
    expect(addPortsScript(ports, "10.89.0.2")).toBe("add element ip bunker tcp_ports { 8080 : 10.89.0.2 . 80, 8081 : 10.89.0.2 . 81 }\n");
    expect(undoPortsScript(ports, "10.89.0.2")).toBe(
      "add element ip bunker tcp_ports { 8080 : 10.89.0.2 . 80, 8081 : 10.89.0.2 . 81 }\ndelete element ip bunker tcp_ports { 8080, 8081 }\n",
    );
  });
});

describe("files the container gets", () => {
  test("resolv.conf keeps the host's nameservers except loopback ones, with a fallback", () => {
    const host = "# comment\nnameserver 127.0.0.53\nnameserver 10.1.1.1\nsearch example.test\noptions ndots:2\n";
    expect(resolvConf(host, ["8.8.8.8"])).toBe("search example.test\noptions ndots:2\nnameserver 10.1.1.1\n");
    expect(resolvConf("nameserver 127.0.0.53\n", ["10.0.2.3"])).toBe("nameserver 10.0.2.3\n");
    expect(resolvConf(null, ["8.8.8.8", "8.8.4.4"])).toBe("nameserver 8.8.8.8\nnameserver 8.8.4.4\n");
  });

  test("hosts names the container by its address and its name", () => {
    const h = hostsFile("abc", undefined, { ip: "10.89.0.7", extra: ["10.89.0.1\thost.bunker.internal"], name: "web" });
    expect(h).toContain("10.89.0.7\tabc web\n10.89.0.1\thost.bunker.internal\n");
    expect(h).not.toContain("127.0.1.1");
    expect(hostsFile("abc")).toContain("127.0.1.1\tabc\n");
  });
});

describe("netlink attributes", () => {
  test("lengths, padding and nesting, and back", () => {
    const a = attrString(3, "eth0");
    expect(Array.from(a)).toEqual([9, 0, 3, 0, 101, 116, 104, 48, 0, 0, 0, 0]);
    const n = nested(18, attrString(1, "veth"), attrU32(10, 7));
    const outer = parseAttrs(concat([a, n, attr(4, Uint8Array.of(1, 2))]));
    expect(new TextDecoder().decode(outer.get(3)!)).toBe("eth0\0");
    const inner = parseAttrs(outer.get(18)!);
    expect(new TextDecoder().decode(inner.get(1)!)).toBe("veth\0");
    expect(new DataView(inner.get(10)!.buffer, inner.get(10)!.byteOffset).getUint32(0, true)).toBe(7);
    expect(Array.from(outer.get(4)!)).toEqual([1, 2]);
  });
});

describe("--network options", () => {
  test("allow_host_loopback for the user-mode helpers and the default, podman's spellings", () => {
    expect(parseNetworkArg("slirp4netns")).toEqual({ mode: "slirp4netns" });
    expect(parseNetworkArg("slirp4netns:allow_host_loopback=true")).toEqual({ mode: "slirp4netns", allowHostLoopback: true });
    expect(parseNetworkArg("slirp4netns:allow_host_loopback=false")).toEqual({ mode: "slirp4netns", allowHostLoopback: false });
    expect(parseNetworkArg("pasta:allow_host_loopback=true")).toEqual({ mode: "pasta", allowHostLoopback: true });
    expect(parseNetworkArg("pasta:--map-gw")).toEqual({ mode: "pasta", allowHostLoopback: true });
    expect(parseNetworkArg("private:allow_host_loopback=true")).toEqual({ mode: "private", allowHostLoopback: true });
    expect(parseNetworkArg("container:web")).toEqual({ mode: "container:web" });
    expect(parseNetworkArg("ns:/run/netns/x:y")).toEqual({ mode: "ns:/run/netns/x:y" });
  });

  test("bad options name what is wrong", () => {
    expect(() => parseNetworkArg("slirp4netns:mtu=1500")).toThrow('--network slirp4netns:mtu=1500: unknown option "mtu=1500": slirp4netns takes allow_host_loopback=true|false');
    expect(() => parseNetworkArg("slirp4netns:allow_host_loopback=yes")).toThrow('"yes" is not true or false');
    expect(() => parseNetworkArg("slirp4netns:--map-gw")).toThrow('unknown option "--map-gw"');
    expect(() => parseNetworkArg("bridge:allow_host_loopback=true")).toThrow("--network bridge takes no options");
  });
});

describe("host.bunker.internal with a helper", () => {
  const routes = {
    gateway: "192.0.2.1",
    ip: "192.0.2.10",
    oif: 2,
    addresses: [
      { ip: "192.0.2.10", index: 2 },
      { ip: "10.89.0.1", index: 5 },
    ],
  };
  test("the address leading to the host's loopback only when allowed; else an address of the host the container can reach", () => {
    expect(helperHostAddress("slirp4netns", true, routes)).toBe("10.0.2.2");
    expect(helperHostAddress("slirp4netns", false, routes)).toBe("192.0.2.10");
    expect(helperHostAddress("pasta", true, routes)).toBe("192.0.2.1");
    // pasta copies the default route's address into the container: another interface's is needed.
    expect(helperHostAddress("pasta", false, routes)).toBe("10.89.0.1");
    expect(helperHostAddress("pasta", false, { ...routes, addresses: [{ ip: "192.0.2.10", index: 2 }] })).toBeUndefined();
  });
});
