// Networks made with `bunker network create`, as root: their bridges and NAT
// tables, containers on one or several of them, connect and disconnect while
// a container runs, the separation between networks, --internal, bad input,
// and what a killed bunker leaves. All traffic stays between the test's own
// containers, and between the test and loopback. Names asked of the
// networks' resolver all have one label: aardvark-dns answers those itself
// (NXDOMAIN for one it does not hold) and forwards none off the machine.

import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { bunker, BUNKER, isRoot, until } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { freePort } from "../helpers/ports";
import { fetchWhenUp } from "../helpers/tcp";
import { containerSuite } from "../helpers/suite";

const ready = isRoot && busyboxAvailable();
if (!ready) console.warn(`skipping user-defined network tests: ${isRoot ? "busybox-static is not installed" : "they need root"}`);
const nft = ["/usr/sbin/nft", "/sbin/nft"].find((p) => existsSync(p));

const suite = containerSuite(ready);

/** What a test made: its containers and networks, removed at its end whatever happened (before the leak check looks). */
const made: { containers: string[]; networks: string[] } = { containers: [], networks: [] };

function cleanly(name: string, fn: () => void | Promise<void>, timeout?: number): void {
  test(
    name,
    async () => {
      try {
        await fn();
      } finally {
        if (made.containers.length) bunker(["rm", "-f", ...made.containers.splice(0)]);
        for (const n of made.networks.splice(0)) bunker(["network", "rm", "-f", n]);
      }
    },
    timeout,
  );
}

const ROOT = "/run/bunker/networks";

/** A network for this test; removed by the suite's cleanup if the test does not. */
function network(name: string, ...args: string[]): { id: string; bridge: string; subnet: string; gateway: string } {
  const r = bunker(["network", "create", ...args, name]);
  expect([r.stderr, r.code]).toEqual(["", 0]);
  made.networks.push(name);
  const id = r.stdout.trim();
  expect(id).toMatch(/^[0-9a-f]{64}$/);
  const shown = JSON.parse(bunker(["network", "inspect", name]).stdout)[0];
  return { id, bridge: `bk-${id.slice(0, 12)}`, subnet: shown.IPAM.Config[0].Subnet, gateway: shown.IPAM.Config[0].Gateway };
}

function detached(args: string[], cmd: string): string {
  const r = bunker(["run", "-d", ...args, "--rootfs", suite.fs.path, "--", "sh", "-c", cmd]);
  expect([r.stderr, r.code]).toEqual(["", 0]);
  made.containers.push(r.stdout.trim());
  return r.stdout.trim();
}

const inspect = (id: string) => JSON.parse(bunker(["inspect", id]).stdout)[0];

/** A server answering `text` on port 80 of the container, for as long as it runs. */
const serve = (text: string) => `while true; do echo ${text} | nc -l -p 80; done`;

/** From a new container with `args`: what port 80 of `ip` answers within 3 s, or "unreachable". */
function fetchFrom(args: string[], ip: string): string {
  const r = bunker(["run", "--rm", ...args, "--rootfs", suite.fs.path, "--", "sh", "-c", `for i in $(seq 15); do r=$(nc -w 2 ${ip} 80 </dev/null) && [ -n "$r" ] && { echo "$r"; exit 0; }; sleep 0.2; done; echo unreachable`]);
  expect(r.stderr).toBe("");
  return r.stdout.trim();
}

/** Whether `ip` answers on port 80 at once from `args`' container (for what must not be reachable: one try, 2 s). */
function reachableOnce(args: string[], ip: string): boolean {
  const r = bunker(["run", "--rm", ...args, "--rootfs", suite.fs.path, "--", "sh", "-c", `nc -w 2 ${ip} 80 </dev/null 2>/dev/null | grep -q . && echo yes || echo no`]);
  expect(r.stderr).toBe("");
  return r.stdout.trim() === "yes";
}

describe.skipIf(!ready)("network create, ls, inspect, rm", () => {
  cleanly("a network is a bridge with its address and a NAT table; ls and inspect show it; rm takes all of it away", () => {
    const n = network("bk-test-a", "--label", "project=web");
    expect(readFileSync(`/sys/class/net/${n.bridge}/operstate`, "utf8").trim()).not.toBe("");
    const addrs = Bun.spawnSync(["ip", "-o", "-4", "addr", "show", "dev", n.bridge]).stdout.toString();
    expect(addrs).toContain(`inet ${n.gateway}/${n.subnet.split("/")[1]}`);
    if (nft) expect(Bun.spawnSync([nft, "list", "table", "ip", `bk_${n.id.slice(0, 12)}`]).exitCode).toBe(0);
    const ls = bunker(["network", "ls"]).stdout;
    expect(ls).toMatch(new RegExp(`^${n.id.slice(0, 12)} +bk-test-a +bridge +${n.subnet.replaceAll(".", "\\.")} +${n.gateway.replaceAll(".", "\\.")} +0$`, "m"));
    expect(bunker(["network", "ls", "-q", "--filter", "label=project=web"]).stdout).toBe(`${n.id.slice(0, 12)}\n`);
    expect(bunker(["network", "ls", "--filter", "type=custom", "--format", "{{.Name}}"]).stdout.split("\n")).toContain("bk-test-a");
    const shown = JSON.parse(bunker(["network", "inspect", n.id.slice(0, 8)]).stdout)[0];
    expect(shown).toMatchObject({ Name: "bk-test-a", Id: n.id, Driver: "bridge", Internal: false, Labels: { project: "web" }, Containers: {} });
    expect(bunker(["network", "inspect", "-f", "{{.Name}} {{.Internal}}", "bk-test-a"]).stdout).toBe("bk-test-a false\n");
    const rm = bunker(["network", "rm", "bk-test-a"]);
    expect([rm.stdout, rm.stderr, rm.code]).toEqual(["bk-test-a\n", "", 0]);
    expect(existsSync(`/sys/class/net/${n.bridge}`)).toBe(false);
    expect(existsSync(`${ROOT}/bk-test-a`)).toBe(false);
    if (nft) expect(Bun.spawnSync([nft, "list", "table", "ip", `bk_${n.id.slice(0, 12)}`], { stderr: "ignore" }).exitCode).not.toBe(0);
    expect(bunker(["network", "inspect", "bk-test-a"])).toMatchObject({ code: 1, stderr: "bunker: network inspect bk-test-a: no such network\n" });
    expect(bunker(["network", "rm", "-f", "bk-test-a"]).code).toBe(0);
  });

  cleanly("bad input is one line, exit 125, and makes nothing: no bridge, no record", () => {
    const a = network("bk-test-b", "--subnet", "10.231.7.0/24");
    const before = readdirSync("/sys/class/net").filter((l) => l.startsWith("bk-")).sort();
    const cases: [string[], string][] = [
      [["network", "create", "bk-test-b"], "bunker: network bk-test-b already exists\n"],
      [["network", "create", "--subnet", "10.231.7.128/25", "bk-test-c"], "bunker: --subnet 10.231.7.128/25: overlaps network bk-test-b (10.231.7.0/24)\n"],
      [["network", "create", "--subnet", "10.231.8.1/24", "bk-test-c"], "bunker: subnet 10.231.8.1/24: the address has host bits set (did you mean 10.231.8.0/24?)\n"],
      [["network", "create", "--subnet", "10.231.8.0/33", "bk-test-c"], "bunker: subnet 10.231.8.0/33: the prefix must be between /8 and /29\n"],
      [["network", "create", "--subnet", "10.231.8/24", "bk-test-c"], 'bunker: "10.231.8" is not an IPv4 address\n'],
      [["network", "create", "--subnet", "10.231.8.0/24", "--gateway", "10.231.9.1", "bk-test-c"], "bunker: --gateway 10.231.9.1: not a host address of 10.231.8.0/24\n"],
      [["network", "create", "--gateway", "10.231.9.1", "bk-test-c"], "bunker: --gateway needs --subnet\n"],
      [["network", "create", "bad/name"], 'bunker: invalid network name "bad/name": use letters, digits, "_", ".", and "-", starting with a letter or digit, at most 64\n'.replace('".", and', '"." and')],
      [["network", "create", "host"], 'bunker: network name "host" is reserved: choose another\n'],
      [["network", "create", "--driver", "macvlan", "bk-test-c"], 'bunker: network create: driver "macvlan": bunker has only the bridge driver\n'],
      [["network", "create", "--subnet", "10.231.16.0/20", "--subnet", "fd42:bc2::/120", "bk-test-c"], "bunker: --subnet fd42:bc2::/120: smaller than 10.231.16.0/20: give an IPv6 subnet of /116 or larger\n"],
      [["run", "--rm", "--network", "bk-test-nosuch", "--rootfs", suite.fs.path, "--", "true"], "bunker: --network bk-test-nosuch: no such network\n"],
      [["run", "--rm", "--network", "bk-test-b", "--ip", "10.231.8.5", "--rootfs", suite.fs.path, "--", "true"], "bunker: --ip 10.231.8.5: not in the subnet 10.231.7.0/24 of network bk-test-b\n"],
      [["run", "--rm", "--network", "bk-test-b", "--ip", "10.231.7.1", "--rootfs", suite.fs.path, "--", "true"], "bunker: --ip 10.231.7.1: the gateway of network bk-test-b\n"],
      [["run", "--rm", "--network", "bk-test-b", "--ip", "10.231.7.255", "--rootfs", suite.fs.path, "--", "true"], "bunker: --ip 10.231.7.255: not an address for a container in 10.231.7.0/24\n"],
      [["run", "--rm", "--network", "bridge", "--ip", "10.231.7.5", "--rootfs", suite.fs.path, "--", "true"], "bunker: --ip is for a network made by bunker network create, not bridge\n"],
      [["run", "--rm", "--network", "bk-test-b", "--network", "host", "--rootfs", suite.fs.path, "--", "true"], 'bunker: run: --network given more than once: each must name a network made by bunker network create (not "host")\n'],
      [["run", "--rm", "--network", "bk-test-b", "--subnet", "10.231.9.0/24", "--rootfs", suite.fs.path, "--", "true"], "bunker: --subnet is for --network bridge, not bk-test-b: a network's subnet is set by bunker network create\n"],
    ];
    for (const [args, err] of cases) expect([args, bunker(args)]).toMatchObject([args, { code: 125, stderr: err, stdout: "" }]);
    // An address another container holds.
    const web = detached(["--network", "bk-test-b", "--ip", "10.231.7.9", "--name", "bk-test-holder"], "sleep 60");
    expect(inspect(web).network.ip).toBe("10.231.7.9");
    expect(bunker(["run", "--rm", "--network", "bk-test-b", "--ip", "10.231.7.9", "--rootfs", suite.fs.path, "--", "true"])).toMatchObject({ code: 125, stderr: "bunker: --ip 10.231.7.9: the address is taken by container bk-test-holder\n" });
    // In use: refused, naming the container; the network stays whole.
    expect(bunker(["network", "rm", "bk-test-b"])).toMatchObject({ code: 1, stderr: "bunker: network bk-test-b is in use by container bk-test-holder: stop it or disconnect it first\n" });
    expect(existsSync(`/sys/class/net/${a.bridge}`)).toBe(true);
    bunker(["rm", "-f", web]);
    expect(readdirSync("/sys/class/net").filter((l) => l.startsWith("bk-")).sort()).toEqual(before);
    expect(readdirSync(ROOT).filter((n) => n.startsWith("bk-test-"))).toEqual(["bk-test-b"]);
    expect(bunker(["network", "rm", "bk-test-b"]).code).toBe(0);
  });
});

describe.skipIf(!ready)("containers on networks", () => {
  cleanly("two containers on one network reach each other; a container of another network, or of the default bridge, does not (the same server reached from its own network is the control)", () => {
    const a = network("bk-test-one");
    network("bk-test-two");
    const web = detached(["--network", "bk-test-one", "--name", "bk-test-web"], serve("hello-one"));
    const ip = inspect(web).network.ip as string;
    expect(inspect(web).network).toMatchObject({ mode: "named", gateway: a.gateway, subnet: a.subnet, networks: [{ name: "bk-test-one", ip, ifname: "eth0" }] });
    expect(fetchFrom(["--network", "bk-test-one"], ip)).toBe("hello-one");
    expect(reachableOnce(["--network", "bk-test-two"], ip)).toBe(false);
    expect(reachableOnce(["--network", "bridge"], ip)).toBe(false);
    // On both networks at once: eth0 and eth1, the default route through the first.
    const both = bunker(["run", "--rm", "--network", "bk-test-two", "--network", "bk-test-one", "--rootfs", suite.fs.path, "--", "sh", "-c", `ip -o -4 addr | awk '{print $2, $4}'; ip route | grep default; nc -w 2 ${ip} 80 </dev/null`]);
    expect(both.stderr).toBe("");
    const [eth0, eth1, route, answer] = both.stdout.trim().split("\n").slice(1);
    expect(eth0).toStartWith("eth0 ");
    expect(eth1).toStartWith("eth1 ");
    expect(route).toContain(`via ${JSON.parse(bunker(["network", "inspect", "bk-test-two"]).stdout)[0].IPAM.Config[0].Gateway} dev eth0`);
    expect(answer).toBe("hello-one");
    expect(JSON.parse(bunker(["ps", "--json"]).stdout).find((c: { id: string }) => c.id === web).network).toBe("bk-test-one");
    bunker(["rm", "-f", web]);
  });

  cleanly("names: a third container fetches from web by its name, its alias and its short id; an app reaches its database by name; a name goes when its container leaves, and aardvark-dns with the last one", () => {
    network("bk-test-names");
    const web = detached(["--network", "bk-test-names", "--name", "bk-test-web", "--network-alias", "www"], serve("by-name"));
    const db = detached(["--network", "bk-test-names", "--name", "bk-test-db"], "while true; do nc -l -p 5432 -e sh -c 'read q; echo row-$q'; done");
    const ip = inspect(web).network.ip as string;
    const ask = (name: string) => {
      const r = bunker(["run", "--rm", "--network", "bk-test-names", "--rootfs", suite.fs.path, "--", "sh", "-c", `nslookup ${name} 2>&1 | grep -A1 '^Name:' | grep Address | head -1; for i in $(seq 15); do r=$(nc -w 2 ${name} 80 </dev/null 2>/dev/null) && [ -n "$r" ] && { echo "$r"; exit 0; }; sleep 0.2; done; echo unreachable`]);
      expect(r.stderr).toBe("");
      return r.stdout;
    };
    for (const name of ["bk-test-web", "www", web.slice(0, 12), "BK-TEST-WEB"]) expect([name, ask(name)]).toEqual([name, `Address: ${ip}\nby-name\n`]);
    // The resolver is the network's gateway; the app finds its database by name.
    const app = bunker(["run", "--rm", "--network", "bk-test-names", "--rootfs", suite.fs.path, "--", "sh", "-c", "grep nameserver /etc/resolv.conf; echo 7 | nc -w 2 bk-test-db 5432"]);
    expect(app.stdout).toBe(`nameserver ${JSON.parse(bunker(["network", "inspect", "bk-test-names"]).stdout)[0].IPAM.Config[0].Gateway}\nrow-7\n`);
    const aardvark = () => Bun.spawnSync(["pgrep", "-f", "aardvark-dns --config /run/bunker/dns/config"]).stdout.toString().trim().split("\n").filter((p) => p && !readFileSync(`/proc/${p}/stat`, "utf8").includes(") Z "));
    expect(aardvark().length).toBe(1);
    // A name on another network is not answered here.
    network("bk-test-elsewhere");
    expect(bunker(["run", "--rm", "--network", "bk-test-elsewhere", "--rootfs", suite.fs.path, "--", "sh", "-c", "nslookup bk-test-web >/dev/null 2>&1 && echo found || echo not-found"]).stdout).toBe("not-found\n");
    bunker(["rm", "-f", web]);
    expect(ask("bk-test-web")).toBe("unreachable\n");
    bunker(["rm", "-f", db]);
    expect(aardvark()).toEqual([]);
  });

  cleanly("--ipv6: dual-stack addresses, a name answered with its IPv6 address, reached over IPv6 by address, and a published port reached over IPv6 from another network", () => {
    const a = network("bk-test-v6a", "--ipv6", "--subnet", "fd42:bc1::/64");
    network("bk-test-v6b", "--ipv6");
    const shown = JSON.parse(bunker(["network", "inspect", "bk-test-v6a"]).stdout)[0];
    expect(shown.EnableIPv6).toBe(true);
    expect(shown.IPAM.Config[1]).toEqual({ Subnet: "fd42:bc1::/64", Gateway: "fd42:bc1::1" });
    expect(Bun.spawnSync(["ip", "-o", "-6", "addr", "show", "dev", a.bridge]).stdout.toString()).toContain("inet6 fd42:bc1::1/64");
    const port = freePort();
    const web = detached(["--network", "bk-test-v6a", "--name", "bk-test-web6", "-p", `${port}:80`], serve("over-v6"));
    const ip6 = Object.values(JSON.parse(bunker(["network", "inspect", "bk-test-v6a"]).stdout)[0].Containers as Record<string, { IPv6Address: string }>)[0]!.IPv6Address.split("/")[0]!;
    expect(ip6).toMatch(/^fd42:bc1::[0-9a-f]+$/);
    const from = (net: string, cmd: string) => bunker(["run", "--rm", "--network", net, "--rootfs", suite.fs.path, "--", "sh", "-c", cmd]);
    const r = from("bk-test-v6a", `ip -6 route | grep default; nslookup -type=AAAA bk-test-web6 | grep -c ${ip6}; for i in $(seq 15); do x=$(nc -w 2 ${ip6} 80 </dev/null) && [ -n "$x" ] && { echo "$x"; break; }; sleep 0.2; done`);
    expect(r.stdout).toBe(`default via fd42:bc1::1 dev eth0  metric 1024 \n1\nover-v6\n`);
    // From the other network: the published port on its own IPv6 gateway (an address of the host) leads to web.
    const gw6 = JSON.parse(bunker(["network", "inspect", "bk-test-v6b"]).stdout)[0].IPAM.Config[1].Gateway as string;
    const p = from("bk-test-v6b", `for i in $(seq 15); do x=$(nc -w 2 ${gw6} ${port} </dev/null) && [ -n "$x" ] && { echo "$x"; break; }; sleep 0.2; done; nc -w 2 ${ip6} 80 </dev/null 2>/dev/null | grep . || echo apart`);
    expect(p.stdout).toBe("over-v6\napart\n");
    bunker(["rm", "-f", web]);
    expect(Bun.spawnSync(["nft", "list", "map", "ip6", `bk_${a.id.slice(0, 12)}`, "tcp_ports"]).stdout.toString()).not.toContain(`${port} :`);
  });

  cleanly("network connect puts a running container on a network at once (eth1), disconnect takes it off; a stopped one gets it at its next start", () => {
    network("bk-test-front");
    const back = network("bk-test-back");
    const db = detached(["--network", "bk-test-back", "--name", "bk-test-db"], serve("from-db"));
    const dbIp = inspect(db).network.ip as string;
    const app = detached(["--network", "bk-test-front", "--name", "bk-test-app"], "sleep 60");
    const probe = () => bunker(["exec", app, "sh", "-c", `nc -w 2 ${dbIp} 80 </dev/null 2>/dev/null | grep . || echo unreachable`]).stdout.trim();
    expect(probe()).toBe("unreachable");
    // Its only network: it would have none to start on.
    expect(bunker(["network", "disconnect", "bk-test-front", "bk-test-app"])).toMatchObject({ code: 125, stderr: "bunker: network disconnect bk-test-front bk-test-app: it is the only network of container bk-test-app: connect it to another first\n" });
    const c = bunker(["network", "connect", "--alias", "api", "bk-test-back", "bk-test-app"]);
    expect([c.stderr, c.code]).toEqual(["", 0]);
    const shown = bunker(["exec", app, "ip", "-o", "-4", "addr", "show", "eth1"]).stdout;
    expect(shown).toContain(`/${back.subnet.split("/")[1]}`);
    expect(probe()).toBe("from-db");
    const listed = JSON.parse(bunker(["network", "inspect", "bk-test-back"]).stdout)[0].Containers;
    expect(Object.values(listed).map((c) => (c as { Name: string; Aliases: string[] }).Name).sort()).toEqual(["bk-test-app", "bk-test-db"]);
    expect(bunker(["network", "connect", "bk-test-back", "bk-test-app"])).toMatchObject({ code: 125, stderr: "bunker: network connect bk-test-back bk-test-app: container bk-test-app is already on network bk-test-back\n" });
    const d = bunker(["network", "disconnect", "bk-test-back", "bk-test-app"]);
    expect([d.stderr, d.code]).toEqual(["", 0]);
    expect(bunker(["exec", app, "ip", "-o", "link", "show", "eth1"]).code).not.toBe(0);
    expect(probe()).toBe("unreachable");
    expect(bunker(["network", "disconnect", "bk-test-back", "bk-test-app"])).toMatchObject({ code: 125, stderr: "bunker: network disconnect bk-test-back bk-test-app: container bk-test-app is not on network bk-test-back\n" });
    // Stopped: the network is its from the next start.
    bunker(["stop", "-t", "0", app]);
    expect(bunker(["network", "connect", "bk-test-back", app]).code).toBe(0);
    expect(bunker(["start", app]).code).toBe(0);
    expect(probe()).toBe("from-db");
    bunker(["rm", "-f", app, db]);
  });

  cleanly("--internal: containers reach each other, no default route, nothing published", () => {
    network("bk-test-inner", "--internal");
    const web = detached(["--network", "bk-test-inner"], serve("inner"));
    network("bk-test-outer");
    const out = detached(["--network", "bk-test-outer"], serve("outer"));
    expect(fetchFrom(["--network", "bk-test-inner"], inspect(web).network.ip)).toBe("inner");
    // The control: a container of the outer network itself reaches it.
    expect(fetchFrom(["--network", "bk-test-outer"], inspect(out).network.ip)).toBe("outer");
    const r = bunker(["run", "--rm", "--network", "bk-test-inner", "--rootfs", suite.fs.path, "--", "sh", "-c", `ip route | grep -c default; nc -w 2 ${inspect(out).network.ip} 80 </dev/null 2>/dev/null | grep . || echo no-way-out`]);
    expect(r.stdout).toBe("0\nno-way-out\n");
    expect(bunker(["run", "--rm", "--network", "bk-test-inner", "-p", "8080:80", "--rootfs", suite.fs.path, "--", "true"])).toMatchObject({ code: 125, stderr: "bunker: -p: network bk-test-inner is internal: nothing is published from it\n" });
    expect(JSON.parse(bunker(["network", "inspect", "bk-test-inner"]).stdout)[0].Internal).toBe(true);
    bunker(["rm", "-f", web, out]);
  });

  (nft ? cleanly : test.skip)("-p publishes from the first network, reachable on the host's 127.0.0.1; its NAT elements go with the container", async () => {
    const n = network("bk-test-pub");
    const port = freePort();
    const id = detached(["--network", "bk-test-pub", "-p", `${port}:80`], serve("published"));
    expect(await fetchWhenUp("127.0.0.1", port, "published")).toContain("published");
    const table = `bk_${n.id.slice(0, 12)}`;
    expect(Bun.spawnSync([nft!, "list", "map", "ip", table, "tcp_ports"]).stdout.toString()).toContain(`${port} : ${inspect(id).network.ip} . 80`);
    bunker(["rm", "-f", id]);
    expect(Bun.spawnSync([nft!, "list", "map", "ip", table, "tcp_ports"]).stdout.toString()).not.toContain(`${port} :`);
  });

  cleanly("a bunker killed while its container runs on a network: the next command frees the lease and veth, and rm then works", async () => {
    const n = network("bk-test-kill");
    const p = Bun.spawn([BUNKER, "run", "--rm", "--network", "bk-test-kill", "--rootfs", suite.fs.path, "--", "sleep", "60"], { stdout: "ignore", stderr: "ignore" });
    const leases = () => (existsSync(`${ROOT}/bk-test-kill/leases`) ? readdirSync(`${ROOT}/bk-test-kill/leases`) : []);
    await until(() => leases().length === 1 && readdirSync("/sys/class/net").some((l) => /^bk[0-9a-f]{12}0$/.test(l)), 10_000, "the container on the network");
    p.kill("SIGKILL");
    await p.exited;
    // The container dies with its bunker (PDEATHSIG); what it held is freed by the next command that looks.
    await until(() => !readdirSync("/sys/class/net").some((l) => /^bk[0-9a-f]{12}0$/.test(l)), 10_000, "the veth to go with the container's namespace");
    expect(leases().length).toBe(1);
    bunker(["ps", "-a"]);
    expect(leases()).toEqual([]);
    const rm = bunker(["network", "rm", "bk-test-kill"]);
    expect([rm.stderr, rm.code]).toEqual(["", 0]);
    expect(existsSync(`/sys/class/net/${n.bridge}`)).toBe(false);
  });

  cleanly("kills of network create and rm at random moments leave a whole network or none: no bridge without its record, no record without its bridge", async () => {
    let hits = 0;
    const before = new Set(readdirSync("/sys/class/net").filter((l) => l.startsWith("bk-")));
    for (let i = 0; i < 12; i++) {
      const name = `bk-test-k${i}`;
      made.networks.push(name);
      const p = Bun.spawn([BUNKER, "network", "create", name], { stdout: "ignore", stderr: "ignore" });
      await Bun.sleep(Math.random() * 60);
      p.kill("SIGKILL");
      if ((await p.exited) !== 0) hits++;
      // The next command finishes or undoes it.
      const shown = bunker(["network", "inspect", name]);
      const links = () => readdirSync("/sys/class/net").filter((l) => l.startsWith("bk-"));
      if (shown.code === 0) {
        const id = JSON.parse(shown.stdout)[0].Id as string;
        expect(links()).toContain(`bk-${id.slice(0, 12)}`);
        const q = Bun.spawn([BUNKER, "network", "rm", name], { stdout: "ignore", stderr: "ignore" });
        await Bun.sleep(Math.random() * 30);
        q.kill("SIGKILL");
        await q.exited;
        const again = bunker(["network", "inspect", name]);
        if (again.code === 0) expect(bunker(["network", "rm", name]).code).toBe(0);
        else bunker(["network", "ls"]);
        expect(links()).not.toContain(`bk-${id.slice(0, 12)}`);
      } else {
        expect(shown.stderr).toBe(`bunker: network inspect ${name}: no such network\n`);
      }
      expect(existsSync(`${ROOT}/${name}`) && bunker(["network", "inspect", name]).code !== 0).toBe(false);
    }
    bunker(["network", "ls"]);
    expect(readdirSync(ROOT).filter((n) => n.startsWith("bk-test-k"))).toEqual([]);
    // Every network bridge left belongs to a network on record.
    const bridges = new Set(readdirSync(ROOT).flatMap((n) => (existsSync(`${ROOT}/${n}/network.json`) && n !== "bunker0" ? [`bk-${JSON.parse(readFileSync(`${ROOT}/${n}/network.json`, "utf8")).id.slice(0, 12)}`] : [])));
    expect(readdirSync("/sys/class/net").filter((l) => l.startsWith("bk-") && !bridges.has(l) && !before.has(l))).toEqual([]);
    expect(hits).toBeGreaterThan(0);
  }, 60_000);
});
