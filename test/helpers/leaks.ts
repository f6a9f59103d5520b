// What an integration test must leave as it found it: every piece of host
// state bunker can make. Each entry of a snapshot is one thing, keyed so that
// the same thing before and after compares equal and a changed one does not,
// and labelled with its kind and where it is, for the report.
//
// By design, and so never counted: the bunker0 bridge itself (with its NAT
// table, its network.json and route_localnet on it) outlives its containers,
// as docker0 does; IPv4 forwarding, which the bridge turns on, stays on
// (bunker never turns it off again: other software may rely on it by then);
// the state directory's skeleton (names/, rootfs/, helpers/, networks/ and
// their lock files) and the cgroup parent directories named bunker.

import { existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, type Dirent } from "node:fs";

/** One piece of host state: `key` is what is compared, `label` what is reported. */
type Entries = Map<string, string>;

const ID = /^[0-9a-f]{12}$/;

function isZombie(pid: string): boolean {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z";
}

/** The process's start time in clock ticks: with the pid, it names one process for good. */
function startTime(pid: string): string {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19] ?? "?";
}

const cmdline = (pid: string) => readFileSync(`/proc/${pid}/cmdline`, "utf8").replaceAll("\0", " ").trim();

function mounts(out: Entries): void {
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    if (!line) continue;
    const f = line.split(" ");
    const dash = f.indexOf("-");
    out.set(`mount ${f.slice(0, 5).join(" ")}`, `mount: ${f[4]} (${f[dash + 1]} from ${f[dash + 2]}, mount ${f[0]})`);
  }
}

/** Programs bunker runs beside a container, which must end with it (bunker-netns: a user's rootless network namespace, with their last). */
const HELPERS = /^(slirp4netns|passt|pasta|newuidmap|newgidmap|nft|aardvark-dns|bunker-netns)(\.avx2)?$/;

/**
 * Processes in other PID namespaces (containers' processes), and in this
 * one those that are bunker's: a bunker executable still running (a stuck
 * supervisor, a `run` nobody waited for) and its helpers.
 */
function processes(out: Entries): void {
  const own = readlinkSync("/proc/self/ns/pid");
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (isZombie(e)) continue;
      const key = `process ${e} ${startTime(e)}`;
      if (readlinkSync(`/proc/${e}/ns/pid`) !== own) {
        out.set(key, `process in another PID namespace: ${e} ${cmdline(e)}`);
        continue;
      }
      const comm = readFileSync(`/proc/${e}/comm`, "utf8").trim();
      if (HELPERS.test(comm)) {
        out.set(key, `helper process: ${e} ${cmdline(e)}`);
        continue;
      }
      let exe = "";
      try {
        exe = readlinkSync(`/proc/${e}/exe`);
      } catch {
        // a kernel thread
      }
      const args = cmdline(e);
      // The waiter a detached container's supervisor becomes runs from a memory file. Its comm is
      // the descriptor's number from execveat until it names itself, so its file and argv[0] count too.
      const waiter = comm === "bunker-wait" || exe.startsWith("/memfd:bunker-wait") || args.split(" ")[0] === "bunker-wait";
      if (/\/bunker( \(deleted\))?$/.test(exe) || args.split(" ").includes("__supervise") || waiter) out.set(key, `bunker process: ${e} ${args}`);
    } catch {
      // gone meanwhile
    }
  }
}

/** Where root and each user keep bunker's state (see src/runtime/state.ts). */
export function stateRoots(): string[] {
  const roots = ["/run/bunker"];
  for (const dir of ["/tmp"]) {
    try {
      for (const e of readdirSync(dir)) if (/^bunker-\d+$/.test(e)) roots.push(`${dir}/${e}`);
    } catch {
      // no such directory
    }
  }
  try {
    for (const uid of readdirSync("/run/user")) roots.push(`/run/user/${uid}/bunker`);
  } catch {
    // no per-user runtime directories
  }
  return roots.filter((r) => existsSync(r));
}

/** The state directory's skeleton, which stays once made (the events log too: it is kept, like docker's, across containers). */
const SKELETON = new Set(["events.log", "events.log.1", "names", "names/.lock", "rootfs", "rootfs/lock", "helpers", "dns", "dns/config", "dns/lock", "networks", "networks/lock", "networks/bunker0", "networks/bunker0/lock", "networks/bunker0/network.json", "networks/bunker0/leases", "rootless-netns", "rootless-netns/lock", "rootless-netns/forwards", "rootless-netns/starting"]);

/** A stopped container's state and names are kept until `bunker rm`, by design: its id, else null. */
function keptId(root: string, rel: string, d: Dirent): string | null {
  const id = rel.startsWith("names/") && d.isSymbolicLink() ? readlinkSync(`${root}/${rel}`) : rel;
  if (!ID.test(id)) return null;
  try {
    return JSON.parse(readFileSync(`${root}/${id}/state.json`, "utf8")).status === "stopped" ? id : null;
  } catch {
    return null;
  }
}

function stateLabel(rel: string, path: string, d: Dirent): string {
  if (ID.test(rel)) return `container state: ${path}`;
  if (rel.startsWith("names/")) return `name: ${path} -> ${d.isSymbolicLink() ? readlinkSync(path) : "(not a link)"}`;
  if (rel.startsWith("rootfs/")) return `rootfs record: ${path}`;
  if (rel.startsWith("helpers/")) return `helper record: ${path}`;
  if (rel.startsWith("networks/bunker0/leases/")) return `lease: ${path}`;
  return `state: ${path}`;
}

/** Small records whose content matters, not only their name: a user added to a rootfs record, ports to a lease. */
const WITH_CONTENT = /^(names\/|rootfs\/|helpers\/|networks\/bunker0\/leases\/)/;

function content(path: string, d: Dirent): string {
  if (d.isSymbolicLink()) return readlinkSync(path);
  if (!d.isFile()) return "";
  return String(Bun.hash(readFileSync(path)));
}

/** Everything under the state directories but their skeleton; below a new directory, only the directory. */
function state(out: Entries): void {
  for (const root of stateRoots()) {
    const walk = (rel: string) => {
      let list: Dirent[];
      try {
        list = readdirSync(rel ? `${root}/${rel}` : root, { withFileTypes: true });
      } catch {
        return;
      }
      for (const d of list) {
        const r = rel ? `${rel}/${d.name}` : d.name;
        const path = `${root}/${r}`;
        try {
          if (!SKELETON.has(r)) {
            const kept = keptId(root, r, d);
            // Kept entries are told apart by their key, and leaksSince passes over them.
            out.set(`${kept ? "kept" : "state"} ${path} ${WITH_CONTENT.test(r) ? content(path, d) : ""}`, `${kept ? "stopped container's " : ""}${stateLabel(r, path, d)}`);
          }
          if (SKELETON.has(r) && d.isDirectory()) walk(r);
        } catch {
          // removed meanwhile
        }
      }
    };
    walk("");
  }
}

const NFT = ["/usr/sbin/nft", "/sbin/nft"].find((p) => existsSync(p));

interface NftObject {
  table?: { name: string };
  map?: { name: string; elem?: unknown[] };
  rule?: { chain: string };
}

/** Elements of the NAT maps (published ports), and whether the loopback guard stands while route_localnet is on. */
function nat(out: Entries, bridge: boolean): void {
  let objects: NftObject[] = [];
  if (NFT) {
    const r = Bun.spawnSync([NFT, "-j", "list", "table", "ip", "bunker"], { stderr: "ignore" });
    if (r.exitCode === 0) objects = JSON.parse(r.stdout.toString()).nftables;
  }
  const table = objects.some((o) => o.table);
  // The table belongs to the bridge; without one it is what a removal left.
  if (table && !bridge) out.set("nat table", "nat: table ip bunker, with no bridge bunker0");
  for (const o of objects) for (const e of o.map?.elem ?? []) out.set(`nat ${o.map!.name} ${JSON.stringify(e)}`, `nat element: ${o.map!.name} ${JSON.stringify(e)}`);
  const guard = objects.filter((o) => o.rule?.chain === "localnet").length;
  if (bridge && sysctl("net/ipv4/conf/bunker0/route_localnet") === "1" && guard < 2) {
    out.set("guard", "sysctl: net.ipv4.conf.bunker0.route_localnet=1 without the loopback guard (chain localnet of table ip bunker)");
  }
}

function sysctl(name: string): string {
  try {
    return readFileSync(`/proc/sys/${name}`, "utf8").trim();
  } catch {
    return "";
  }
}

/**
 * route_localnet turned on anywhere but on bunker0 (see nat): bunker must
 * never open another interface to the host's loopback; ip_forward turned
 * off (turning it on is by design).
 */
function sysctls(out: Entries): void {
  for (const i of readdirSync("/proc/sys/net/ipv4/conf")) {
    // A network's bridge: its guard is checked with its table (networkTables).
    if (i === "bunker0" || /^bk-[0-9a-f]{12}$/.test(i)) continue;
    if (sysctl(`net/ipv4/conf/${i}/route_localnet`) === "1") out.set(`sysctl route_localnet ${i}`, `sysctl: net.ipv4.conf.${i}.route_localnet=1`);
  }
  if (sysctl("net/ipv4/ip_forward") === "0") out.set("sysctl ip_forward 0", "sysctl: net.ipv4.ip_forward=0");
}

/** The host's own device nodes a container's /dev binds or masks with: each must stay the device it is. */
const HOST_DEVICES: [string, number, number][] = [
  ["/dev/null", 1, 3],
  ["/dev/zero", 1, 5],
  ["/dev/full", 1, 7],
  ["/dev/random", 1, 8],
  ["/dev/urandom", 1, 9],
  ["/dev/tty", 5, 0],
];

function hostDevices(out: Entries): void {
  for (const [path, major, minor] of HOST_DEVICES) {
    let what: string;
    try {
      const st = lstatSync(path);
      const rdev = Number(st.rdev);
      if (st.isCharacterDevice() && Math.floor(rdev / 256) === major && rdev % 256 === minor) continue;
      what = st.isCharacterDevice() ? `the character device ${Math.floor(rdev / 256)}:${rdev % 256}` : st.isFile() ? `a regular file of ${st.size} bytes` : "not a character device";
    } catch {
      what = "missing";
    }
    out.set(`device ${path} ${what}`, `host device: ${path} is ${what}, not the character device ${major}:${minor}`);
  }
}

/** Containers' veths (bk<id>, bk<id><slot>) and the bridges of networks made by `network create` (bk-<id>). */
function links(out: Entries): void {
  for (const l of readdirSync("/sys/class/net")) if (/^bk-?[0-9a-f]+[0-9a-z]?$/.test(l)) out.set(`link ${l}`, `link: ${l}`);
}

/**
 * The NAT tables of networks made by `network create` (ip bk_<id>): their
 * published ports' elements, a table whose bridge is gone, and
 * route_localnet on a bridge whose table lacks the loopback guard.
 */
function networkTables(out: Entries): void {
  if (!NFT) return;
  for (const family of ["ip", "ip6"]) networkTablesOf(out, family);
}

function networkTablesOf(out: Entries, family: string): void {
  const r = Bun.spawnSync([NFT!, "-j", "list", "tables", family], { stderr: "ignore" });
  if (r.exitCode !== 0) return;
  const tables = (JSON.parse(r.stdout.toString()).nftables as NftObject[]).map((o) => o.table?.name).filter((n): n is string => n !== undefined && /^bk_[0-9a-f]{12}$/.test(n));
  for (const name of tables) {
    const t = family === "ip" ? name : `${name} (ip6)`;
    const bridge = `bk-${name.slice(3)}`;
    const listed = Bun.spawnSync([NFT!, "-j", "list", "table", family, name], { stderr: "ignore" });
    const objects: NftObject[] = listed.exitCode === 0 ? JSON.parse(listed.stdout.toString()).nftables : [];
    if (!existsSync(`/sys/class/net/${bridge}`)) out.set(`nat table ${t}`, `nat: table ip ${t}, with no bridge ${bridge}`);
    for (const o of objects) for (const e of o.map?.elem ?? []) out.set(`nat ${t} ${o.map!.name} ${JSON.stringify(e)}`, `nat element: ${t} ${o.map!.name} ${JSON.stringify(e)}`);
    if (family === "ip" && sysctl(`net/ipv4/conf/${bridge}/route_localnet`) === "1" && objects.filter((o) => o.rule?.chain === "localnet").length < 2) {
      out.set(`guard ${bridge}`, `sysctl: net.ipv4.conf.${bridge}.route_localnet=1 without the loopback guard (chain localnet of table ip ${t})`);
    }
  }
}

/** The mount points of every cgroup hierarchy. */
export function cgroupMounts(): string[] {
  const out: string[] = [];
  for (const line of readFileSync("/proc/self/mountinfo", "utf8").split("\n")) {
    const f = line.split(" ");
    const type = f[f.indexOf("-") + 1];
    if (type === "cgroup" || type === "cgroup2") out.push(f[4]!);
  }
  return out;
}

/**
 * Containers' cgroups: a directory with a container's id below a directory
 * named bunker, at any depth of any hierarchy (a user's delegated subtree
 * too); and any directory below one named bunker-oci, where the OCI tests'
 * configs put theirs (cgroupsPath).
 */
export function cgroups(): Set<string> {
  const out = new Set<string>();
  const walk = (dir: string, depth: number) => {
    let list: Dirent[];
    try {
      list = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const d of list) {
      if (!d.isDirectory()) continue;
      const path = `${dir}/${d.name}`;
      if ((ID.test(d.name) && dir.endsWith("/bunker")) || dir.endsWith("/bunker-oci")) out.add(path);
      else if (depth < 8) walk(path, depth + 1);
    }
  };
  for (const m of cgroupMounts()) walk(m, 0);
  return out;
}

export const bridgeExists = () => existsSync("/sys/class/net/bunker0");

export interface Snapshot {
  entries: Entries;
  /** Root's containers (ids of their state directories). */
  states: Set<string>;
  /** Whether the bunker0 bridge was there. */
  bridge: boolean;
  /** net.ipv4.ip_forward. */
  forward: string;
}

function rootContainers(): Set<string> {
  try {
    return new Set(readdirSync("/run/bunker").filter((e) => ID.test(e)));
  } catch {
    return new Set();
  }
}

export function snapshot(): Snapshot {
  const entries: Entries = new Map();
  const bridge = bridgeExists();
  mounts(entries);
  processes(entries);
  state(entries);
  nat(entries, bridge);
  networkTables(entries);
  sysctls(entries);
  links(entries);
  hostDevices(entries);
  for (const c of cgroups()) entries.set(`cgroup ${c}`, `cgroup: ${c}`);
  return { entries, states: rootContainers(), bridge, forward: sysctl("net/ipv4/ip_forward") };
}

/** Root's containers made since `before`. */
export function newContainers(before: Snapshot): string[] {
  return [...rootContainers()].filter((s) => !before.states.has(s));
}

/** What appeared or changed since `before`, one line each; a stopped container's state and names (kept by design until rm) excepted. */
export function leaksSince(before: Snapshot, now: Snapshot = snapshot()): string[] {
  const out: string[] = [];
  for (const [key, label] of now.entries) if (!before.entries.has(key) && !key.startsWith("kept ")) out.push(label);
  return out;
}

/** Root's stopped containers made since `before`: a test may keep them (run without --rm), and bunker rm must then leave nothing. */
export function keptContainers(before: Snapshot, now: Snapshot = snapshot()): string[] {
  const out: string[] = [];
  for (const key of now.entries.keys()) {
    const m = /^kept \/run\/bunker\/([0-9a-f]{12}) $/.exec(key);
    if (m && !before.entries.has(key)) out.push(m[1]!);
  }
  return out;
}

/** Mount points leaksSince reports, the newest mount first (a mount made on top of another comes off before it). */
export function leakedMounts(before: Snapshot, now: Snapshot = snapshot()): string[] {
  const out: { id: number; point: string }[] = [];
  for (const key of now.entries.keys()) {
    if (!key.startsWith("mount ") || before.entries.has(key)) continue;
    const f = key.split(" ");
    // mountinfo writes a space, a tab, a newline and a backslash in a path as octal escapes.
    out.push({ id: Number(f[1]), point: f[5]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))) });
  }
  return out.sort((a, b) => b.id - a.id).map((m) => m.point);
}

/** Processes leaksSince reports: the pids of bunker's own and its helpers, and of those in other PID namespaces. */
export function leakedPids(before: Snapshot, now: Snapshot = snapshot()): number[] {
  const out: number[] = [];
  for (const key of now.entries.keys()) if (key.startsWith("process ") && !before.entries.has(key)) out.push(Number(key.split(" ")[1]));
  return out;
}
