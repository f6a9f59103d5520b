// What an integration test must leave as it found it: the host's mount table
// and the set of processes living in other PID namespaces.

import { existsSync, readdirSync, readFileSync, readlinkSync } from "node:fs";

function mounts(): Set<string> {
  return new Set(
    readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => l.split(" ").slice(0, 5).join(" ")),
  );
}

function foreignPidnsProcesses(): Set<string> {
  const own = readlinkSync("/proc/self/ns/pid");
  const out = new Set<string>();
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (readlinkSync(`/proc/${e}/ns/pid`) !== own) {
        const stat = readFileSync(`/proc/${e}/stat`, "utf8");
        if (stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z") continue;
        out.add(`${e} ${readFileSync(`/proc/${e}/cmdline`, "utf8").replaceAll("\0", " ").trim()}`);
      }
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Containers' state directories (root's). */
function states(): Set<string> {
  try {
    return new Set(readdirSync("/run/bunker").filter((e) => /^[0-9a-f]{12}$/.test(e)));
  } catch {
    return new Set();
  }
}

const NFT = ["/usr/sbin/nft", "/sbin/nft"].find((p) => existsSync(p));

/** Containers' veths, bridge leases, NAT elements of published ports, and user-mode network helpers still running. */
function network(): Set<string> {
  const out = new Set<string>();
  if (NFT) {
    const r = Bun.spawnSync([NFT, "-j", "list", "table", "ip", "bunker"], { stderr: "ignore" });
    if (r.exitCode === 0) {
      for (const o of JSON.parse(r.stdout.toString()).nftables as { map?: { name: string; elem?: unknown[] } }[]) {
        for (const e of o.map?.elem ?? []) out.add(`nat ${o.map!.name} ${JSON.stringify(e)}`);
      }
    }
  }
  for (const l of readdirSync("/sys/class/net")) if (/^bk[0-9a-f]+$/.test(l)) out.add(`link ${l}`);
  try {
    for (const l of readdirSync("/run/bunker/networks/bunker0/leases")) out.add(`lease ${l}`);
  } catch {
    // no bridge yet
  }
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const comm = readFileSync(`/proc/${e}/comm`, "utf8").trim();
      const stat = readFileSync(`/proc/${e}/stat`, "utf8");
      if (stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) === "Z") continue;
      if (/^(slirp4netns|passt|pasta)/.test(comm)) out.add(`helper ${e} ${comm}`);
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

/** Containers' cgroups: directories under bunker's parent in every hierarchy. */
export function cgroups(): Set<string> {
  const out = new Set<string>();
  const parents = ["/sys/fs/cgroup/bunker"];
  try {
    for (const h of readdirSync("/sys/fs/cgroup")) parents.push(`/sys/fs/cgroup/${h}/bunker`);
  } catch {
    // no cgroups mounted
  }
  for (const p of parents) {
    try {
      for (const e of readdirSync(p)) if (/^[0-9a-f]{12}$/.test(e)) out.add(`${p}/${e}`);
    } catch {
      // not a hierarchy, or no bunker parent in it
    }
  }
  return out;
}

export const bridgeExists = () => existsSync("/sys/class/net/bunker0");

export interface Snapshot {
  mounts: Set<string>;
  procs: Set<string>;
  states: Set<string>;
  network: Set<string>;
  cgroups: Set<string>;
  /** Whether the bunker0 bridge was there. */
  bridge: boolean;
}

export function snapshot(): Snapshot {
  return { mounts: mounts(), procs: foreignPidnsProcesses(), states: states(), network: network(), cgroups: cgroups(), bridge: bridgeExists() };
}

/** Containers a test left on purpose (runs without --rm): removed, as a user would with bunker rm. */
export function newContainers(before: Snapshot): string[] {
  return [...states()].filter((s) => !before.states.has(s));
}

/** Lists what appeared since `before`: new mounts, new processes in other PID namespaces. */
export function leaksSince(before: Snapshot): string[] {
  const now = snapshot();
  const out: string[] = [];
  for (const m of now.mounts) if (!before.mounts.has(m)) out.push(`mount: ${m}`);
  for (const p of now.procs) if (!before.procs.has(p)) out.push(`process: ${p}`);
  for (const s of now.states) if (!before.states.has(s)) out.push(`state: /run/bunker/${s}`);
  for (const n of now.network) if (!before.network.has(n)) out.push(`network: ${n}`);
  for (const c of now.cgroups) if (!before.cgroups.has(c)) out.push(`cgroup: ${c}`);
  return out;
}
