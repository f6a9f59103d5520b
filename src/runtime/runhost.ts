// What `bunker run` needs to know about the host before its flags become a
// spec: the root filesystem, the volumes' sources, --env-file contents, a
// seccomp profile file, the caller's directory, and which network the
// --network, --join-ns and -p flags come to. Everything here reads the host;
// turning it and the flags into a spec is pure (cli/runspec.ts).

import { log } from "../log";
import { BunkerError } from "../errors";
import type { NetworkAttachment, NetworkMode, PortMapping } from "../spec/types";
import { mayBeNetworkName } from "../spec/validate";
import { networkByRef } from "./networks";
import type { NetworkRecord } from "../net/networks";
import { contains, parseIp, parseSubnet } from "../net/addr";
import type { NetworkArg } from "../spec/network";
import type { Profile } from "../security/seccomp/profile";
import { loadProfile } from "../security/seccomp/profile";
import { absolute, FileError, fileType, readRegularFile } from "../sys/fs";
import { privateMode } from "./host-network";
import { pinnedTypes } from "./pin";
import { joinContainer } from "./join-container";

/** The root filesystem named by --rootfs: an existing directory, with or without an /etc. */
export function checkRootfs(dir: string): { path: string; hasEtc: boolean } {
  const path = absolute(dir);
  let type;
  try {
    type = fileType(path, true);
  } catch (e) {
    throw new BunkerError(`rootfs ${dir}: ${(e as Error).message.replace(/^[^:]*: /, "").toLowerCase()}`);
  }
  if (type === null) throw new BunkerError(`rootfs ${dir}: no such file or directory`);
  if (type !== "dir") throw new BunkerError(`rootfs ${dir}: not a directory`);
  return { path, hasEtc: fileType(`${path}/etc`) === "dir" };
}

/** A volume's host path, absolute, once it is known to exist. */
export function volumeSource(value: string, source: string): string {
  const path = absolute(source);
  let type;
  try {
    type = fileType(path, true);
  } catch (e) {
    throw new BunkerError(`volume ${value}: ${(e as Error).message}`);
  }
  if (type === null) throw new BunkerError(`volume ${value}: ${source}: no such file or directory`);
  return path;
}

/** --env-file contents, in order. */
export function readEnvFiles(paths: readonly string[]): { path: string; text: string }[] {
  return paths.map((path) => {
    try {
      return { path, text: readRegularFile(absolute(path)) };
    } catch (e) {
      if (e instanceof FileError) throw new BunkerError(`env file ${path}: ${e.reason}`);
      throw e;
    }
  });
}

/** --security-opt seccomp=FILE. */
export function seccompProfile(file: string): Profile {
  return loadProfile(absolute(file), `seccomp profile ${file}`);
}

/** Whether the host has an /etc/resolv.conf to share with --network host. */
export function hostHasResolvConf(): boolean {
  return fileType("/etc/resolv.conf", true) === "file";
}

/** The caller's directory, unless the sandbox's private mounts hide it. */
export async function sandboxCwd(): Promise<string> {
  const cwd = process.cwd();
  const hidden = ["/tmp", "/run", "/dev", "/proc", "/sys"].find((d) => cwd === d || cwd.startsWith(`${d}/`));
  if (!hidden) return cwd;
  await log.warn(`working directory ${cwd} is under the sandbox's private ${hidden}: starting in /`);
  return "/";
}

export interface NetworkChoice {
  mode: NetworkMode;
  /** A network namespace to join. */
  path?: string;
  joined?: string;
  /** --network NAME...: the networks made by `network create`, by their names. */
  networks?: NetworkAttachment[];
}

/** --ip: an address of the network's subnet (whether it is free is known once its lock is held). */
function checkedIp(ip: string, r: NetworkRecord): string {
  let n: number;
  try {
    n = parseIp(ip);
  } catch {
    throw new BunkerError(`--ip ${ip}: not an IPv4 address`);
  }
  if (!contains(parseSubnet(r.subnet), n)) throw new BunkerError(`--ip ${ip}: not in the subnet ${r.subnet} of network ${r.name}`);
  if (ip === r.gateway) throw new BunkerError(`--ip ${ip}: the gateway of network ${r.name}`);
  return ip;
}

/** --network (with --join-ns, -p and --subnet) to a concrete mode. */
export async function networkChoice(
  netArg: NetworkArg,
  uid: number,
  joinDir: string | undefined,
  ports: readonly PortMapping[],
  subnet: string | undefined,
  named: { names: string[]; ip?: string; aliases: string[] } = { names: [], aliases: [] },
): Promise<NetworkChoice> {
  const arg = netArg.mode;
  let choice: NetworkChoice;
  const pinned = joinDir !== undefined ? pinnedTypes(joinDir) : [];
  const pinnedNet = pinned.includes("net");
  if (joinDir !== undefined && !pinnedNet && !["ipc", "uts"].some((t) => pinned.includes(t))) {
    throw new BunkerError(`--join-ns ${joinDir}: no pinned net, ipc or uts namespace there`);
  }
  if (pinnedNet) {
    if (arg !== "private" && arg !== "none") throw new BunkerError(`--join-ns with a pinned network namespace and --network ${arg} contradict each other`);
    choice = { mode: "joined", path: `${joinDir}/net`, joined: `ns:${joinDir}/net` };
  } else if (arg === "private") {
    const r = privateMode(uid === 0, process.env.PATH ?? "");
    if (r.notice) await log.warn(r.notice);
    choice = { mode: r.mode };
  } else if (arg.startsWith("container:")) {
    const other = joinContainer("network", arg.slice("container:".length));
    choice = { mode: "joined", path: other.path, joined: `container:${other.id}` };
  } else if (arg.startsWith("ns:")) {
    const path = absolute(arg.slice(3));
    if (fileType(path, true) === null) throw new BunkerError(`--network ${arg}: ${path}: no such file or directory`);
    choice = { mode: "joined", path, joined: `ns:${path}` };
  } else if (mayBeNetworkName(arg)) {
    const seen = new Set<string>();
    const networks = (named.names.length ? named.names : [arg]).map((ref, i): NetworkAttachment => {
      const r = networkByRef(ref, `--network ${ref}`);
      if (seen.has(r.name)) throw new BunkerError(`--network ${ref}: network ${r.name} is named twice`);
      seen.add(r.name);
      return { name: r.name, ...(i === 0 && named.ip !== undefined ? { ip: checkedIp(named.ip, r) } : {}), ...(named.aliases.length ? { aliases: named.aliases } : {}) };
    });
    choice = { mode: "named", networks };
  } else choice = { mode: arg as NetworkMode };
  if (choice.mode !== "named" && (named.ip !== undefined || named.aliases.length)) {
    throw new BunkerError(`${named.ip !== undefined ? "--ip" : "--network-alias"} is for a network made by bunker network create, not ${choice.mode === "joined" ? choice.joined : choice.mode}`);
  }
  if (ports.length && !["bridge", "pasta", "slirp4netns", "named"].includes(choice.mode)) {
    throw new BunkerError(`-p/--publish needs --network bridge, pasta or slirp4netns, not ${choice.mode === "joined" ? choice.joined : choice.mode}`);
  }
  if (subnet !== undefined && choice.mode !== "bridge") throw new BunkerError(`--subnet is for --network bridge, not ${choice.mode === "named" ? arg : choice.mode}: a network's subnet is set by bunker network create`);
  if (netArg.allowHostLoopback && choice.mode !== "slirp4netns" && choice.mode !== "pasta") {
    throw new BunkerError(`allow_host_loopback is for slirp4netns and pasta, not ${choice.mode}: containers on the bridge never reach the host's loopback`);
  }
  return choice;
}
