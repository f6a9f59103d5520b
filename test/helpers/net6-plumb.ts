// Run inside a throw-away network namespace (a container's, entered with
// nsenter --net): makes bridges with an IPv6 gateway address and veths into
// other containers with bunker's own rtnetlink, sysctl and nft code, as the
// network code does on the host. The plan comes as JSON in argv[2].

import { NetlinkSocket, openInNamespace } from "../../src/sys/netlink";
import { addAddress6, addDefaultRoute6, createBridge, createVeth, hostSubnets6InUse, linkIndex, randomMac, setUp } from "../../src/net/rtnl";
import { enableIpv6Forwarding, enableIpv6On, linksLosingRouterAdverts, readSysctl, setSysctl } from "../../src/net/sysctl";
import { formatSubnet6, parseIp6 } from "../../src/net/addr6";
import { runNft } from "../../src/net/nat";
import { openSync, closeSync } from "node:fs";

export interface Plan {
  bridges?: { name: string; gateway: string; prefix: number }[];
  /** Without a bridge, the host end gets `hostIp` (an uplink); without a gateway, the container gets no default route. */
  veths?: { host: string; bridge?: string; hostIp?: string; pid: number; ip: string; prefix: number; gateway?: string }[];
  nft?: string;
  /** Turns IPv6 forwarding on (before the bridges are made, and with them). */
  forwarding?: boolean;
  /** Links that start with IPv6 off (net.ipv6.conf.default.disable_ipv6), as on some hosts. */
  ipv6OffByDefault?: boolean;
  /** A default route as if learned from a router advertisement, on this link (to its first veth's container). */
  raDefaultRoute?: string;
  /** net.bridge.bridge-nf-call-ip6tables in this namespace, where br_netfilter is loaded. */
  bridgeNetfilter?: "0" | "1";
}

const plan = JSON.parse(process.argv[2]!) as Plan;
const nl = NetlinkSocket.open(0);
const index = (name: string) => {
  const i = linkIndex(nl, name);
  if (i === null) throw new Error(`${name} is missing`);
  return i;
};

if (plan.ipv6OffByDefault) setSysctl("net/ipv6/conf/default/disable_ipv6", "1");
if (plan.forwarding || plan.bridges?.length) enableIpv6Forwarding();
const BRNF = "net/bridge/bridge-nf-call-ip6tables";
if (plan.bridgeNetfilter && readSysctl(BRNF) !== undefined) setSysctl(BRNF, plan.bridgeNetfilter);
for (const b of plan.bridges ?? []) {
  createBridge(nl, b.name, randomMac());
  enableIpv6On(b.name);
  addAddress6(nl, index(b.name), b.name, parseIp6(b.gateway), b.prefix);
  setUp(nl, index(b.name), b.name);
}
for (const v of plan.veths ?? []) {
  createVeth(nl, v.host, "eth0", v.pid, v.bridge ? index(v.bridge) : 0);
  if (v.hostIp) {
    enableIpv6On(v.host);
    addAddress6(nl, index(v.host), v.host, parseIp6(v.hostIp), v.prefix);
  }
  setUp(nl, index(v.host), v.host);
  const fd = openSync(`/proc/${v.pid}/ns/net`, "r");
  const inner = openInNamespace(0, fd);
  closeSync(fd);
  const eth0 = linkIndex(inner, "eth0")!;
  addAddress6(inner, eth0, "eth0", parseIp6(v.ip), v.prefix);
  setUp(inner, eth0, "eth0");
  if (v.gateway) addDefaultRoute6(inner, parseIp6(v.gateway), eth0);
  inner.close();
}
if (plan.raDefaultRoute) {
  const ra = Bun.spawnSync(["ip", "-6", "route", "add", "default", "via", plan.veths![0]!.ip, "dev", plan.raDefaultRoute, "proto", "ra"], { stderr: "pipe" });
  if (ra.exitCode !== 0) throw new Error(`ip route: ${ra.stderr}`);
}
if (plan.nft) runNft(plan.nft, "load the test's ip6 tables");
// What a caller about to turn forwarding on would warn about, and what a new network's subnet must avoid.
const losing = linksLosingRouterAdverts(nl);
const inUse = hostSubnets6InUse(nl).map(formatSubnet6);
nl.close();
console.log(JSON.stringify({ losing, inUse }));
