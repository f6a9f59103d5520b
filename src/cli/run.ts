// bunker run [OPTIONS] [--] COMMAND [ARG...]

import { resolveIdentity, type UsernsMode } from "../identity/resolve";
import { LOG_LEVELS, log, mark, setLogLevel, type LogLevel } from "../log";
import { BunkerError } from "../errors";
import { detach } from "../runtime/detach";
import { runContainer } from "../runtime/run";
import { createSpec, type SecurityOptions } from "../spec/defaults";
import { capName, resolveCaps } from "../security/caps";
import { RLIMITS } from "../security/plan";
import { loadProfile } from "../security/seccomp/profile";
import { buildEnvironment } from "../spec/env";
import type { LinuxResources, Mount, NetworkMode, PortMapping, POSIXRlimit } from "../spec/types";
import { parseResources } from "../spec/resources";
import { cgroupsPath, chooseCgroups, type CgroupsMode } from "../runtime/cgroup";
import { SpecError, validateHostname, validateNetworkMode, validateSpec } from "../spec/validate";
import { parseTmpfs, parseVolume, volumeMount } from "../spec/volumes";
import { checkPublished, parsePublish } from "../spec/ports";
import { parseNetworkArg, type NetworkArg } from "../spec/network";
import { privateMode } from "../runtime/network";
import { pinnedTypes } from "../runtime/pin";
import { rootfsExposure } from "../runtime/exposure";
import { currentStatus, newId, resolveContainer, validateName } from "../runtime/store";
import { absolute, FileError, fileType, readRegularFile } from "../sys/fs";
import { requirePaths, UsageError, type OptionDefs } from "../options";
import { parseCommand } from "./usage";

export const runOptions: OptionDefs = {
  rootfs: {
    type: "string",
    alias: ["root"],
    valueHint: "DIR",
    description: "Root filesystem to run in (default: the host's /, read-only, with private /tmp, /run, /dev, /proc)",
  },
  user: { type: "string", alias: ["u"], valueHint: "USER[:GROUP]", description: "Run as this user (name or ID, looked up in the container's /etc/passwd)" },
  workdir: { type: "string", alias: ["w"], valueHint: "DIR", description: "Working directory inside the container, created if missing" },
  env: { type: "string", alias: ["e"], multiple: true, valueHint: "KEY[=VALUE]", description: "Set a variable; KEY alone takes yours (repeatable)" },
  "env-file": { type: "string", multiple: true, valueHint: "FILE", description: "Read KEY=VALUE lines from a file (repeatable; -e wins)" },
  volume: {
    type: "string",
    alias: ["v"],
    multiple: true,
    valueHint: "HOST:CONTAINER[:OPTS]",
    description: "Bind-mount a host path; READ-ONLY unless OPTS has rw (ro, rw, bind, nosuid, nodev, noexec; repeatable)",
  },
  tmpfs: { type: "string", multiple: true, valueHint: "PATH[:OPTS]", description: "Mount a tmpfs (size=, mode=; repeatable)" },
  name: { type: "string", valueHint: "NAME", description: "A unique name for the container" },
  detach: { type: "boolean", alias: ["d"], description: "Run in the background and print the container id" },
  tty: { type: "boolean", alias: ["t"], description: "Give the command a terminal (from the container's devpts)" },
  interactive: { type: "boolean", alias: ["i"], description: "Keep stdin attached (it always is without -t)" },
  rm: { type: "boolean", description: "Remove the container's state when it exits" },
  init: { type: "boolean", description: "Run a minimal init as PID 1: it reaps orphans and passes signals to the command" },
  pin: { type: "string", valueHint: "DIR", description: "Pin the container's namespaces into DIR (bunker ns unpin DIR frees them)" },
  "join-ns": { type: "string", valueHint: "DIR", description: "Join the network, IPC and UTS namespaces pinned in DIR" },
  hostname: { type: "string", valueHint: "NAME", description: "Container hostname (default: the container id)" },
  network: {
    type: "string",
    alias: ["net"],
    valueHint: "MODE",
    description:
      "private (default: bridge as root, slirp4netns or pasta rootless), bridge, slirp4netns, pasta, none (lo only), host, container:ID, ns:PATH; slirp4netns, pasta and private take :allow_host_loopback=true",
  },
  publish: {
    type: "string",
    alias: ["p"],
    multiple: true,
    valueHint: "[IP:][HOSTPORT:]PORT[/PROTO]",
    description: "Publish a container port on the host (8080:80, 127.0.0.1:5353:53/udp, 8000-8001:80-81; repeatable)",
  },
  subnet: { type: "string", valueHint: "CIDR", description: "Subnet for the bunker0 bridge when it is created (default: a free /16 in 10.89-10.127)" },
  userns: {
    type: "string",
    valueHint: "MODE",
    description: "User namespace: private (the default without root), keep-id (keep your IDs inside), host (root's default)",
  },
  "cap-add": { type: "string", multiple: true, valueHint: "CAP", description: "Add a capability (NET_ADMIN, CAP_SYS_TIME, ALL; repeatable)" },
  "cap-drop": { type: "string", multiple: true, valueHint: "CAP", description: "Drop a capability from the default set (or ALL; repeatable)" },
  privileged: {
    type: "boolean",
    description: "Every capability, no seccomp filter, no masked or read-only /proc and /sys paths: gives up most of the isolation from the host",
  },
  "security-opt": {
    type: "string",
    multiple: true,
    valueHint: "OPT",
    description: "no-new-privileges[=true|false] (default true); seccomp=unconfined or seccomp=FILE (a docker/OCI profile)",
  },
  "read-only": { type: "boolean", description: "Mount the rootfs read-only (with tmpfs /tmp and /run)" },
  ulimit: { type: "string", multiple: true, valueHint: "NAME=SOFT[:HARD]", description: "Set a resource limit (nofile=1024:2048, core=0, ...; repeatable)" },
  memory: { type: "string", alias: ["m"], valueHint: "SIZE", description: "Memory limit (512m, 1g; at least 6m); the container is killed with 137 past it" },
  "memory-swap": { type: "string", valueHint: "SIZE", description: "Memory plus swap limit (-1: unlimited swap; default or 0: twice --memory)" },
  cpus: { type: "string", valueHint: "N", description: "CPU time limit, in CPUs (1.5: one and a half CPUs' worth per period)" },
  "cpu-shares": { type: "string", valueHint: "N", description: "Relative CPU weight, 2-262144 (1024 is the default; 0: unset)" },
  "cpu-weight": { type: "string", valueHint: "N", description: "Relative CPU weight on cgroup v2's scale, 1-10000 (100 is the default)" },
  "cpuset-cpus": { type: "string", valueHint: "LIST", description: "CPUs the container may run on (0-2,4)" },
  "pids-limit": { type: "string", valueHint: "N", description: "Most processes and threads at once (default 2048 with a cgroup; 0 or -1: no limit)" },
  "blkio-weight": { type: "string", valueHint: "N", description: "Relative block I/O weight, 10-1000 (needs the BFQ scheduler or io cost model)" },
  cgroups: { type: "string", valueHint: "MODE", description: "enabled (default: a cgroup per container where allowed) or disabled" },
  "map-uid": { type: "string", valueHint: "ID", description: "Container user ID you become (default 0)" },
  "map-gid": { type: "string", valueHint: "ID", description: "Container group ID you become (default 0)" },
  "log-level": { type: "string", valueHint: "LEVEL", description: `Logging to stderr: ${LOG_LEVELS.join(", ")} (default warn)` },
};

const EXAMPLES = [
  "bunker run --rootfs ./alpine -- sh -c 'hostname; ps'",
  "bunker run --rootfs ./alpine --user alpine -v ./src:/src:rw -w /src -e CI=1 -- make test",
  "bunker run --map-uid 1100 --map-gid 1100 --rootfs ./alpine -- id",
  "bunker run -- ls /      # the host's files, read-only, in a sandbox",
  "bunker run -d --name web -p 8080:80 --rootfs ./alpine -- httpd -f -p 80",
  "bunker run -m 512m --cpus 1.5 --pids-limit 200 --rootfs ./alpine -- make -j4",
];

const USERNS_MODES: UsernsMode[] = ["private", "keep-id", "host"];

function checkRootfs(dir: string): { path: string; hasEtc: boolean } {
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

/** The caller's directory, unless the sandbox's private mounts hide it. */
async function sandboxCwd(): Promise<string> {
  const cwd = process.cwd();
  const hidden = ["/tmp", "/run", "/dev", "/proc", "/sys"].find((d) => cwd === d || cwd.startsWith(`${d}/`));
  if (!hidden) return cwd;
  await log.warn(`working directory ${cwd} is under the sandbox's private ${hidden}: starting in /`);
  return "/";
}

const UNLIMITED = 18446744073709551615;

function limitValue(s: string, what: string): number {
  if (s === "unlimited" || s === "-1") return UNLIMITED;
  if (!/^\d+$/.test(s)) throw new SpecError(`--ulimit ${what}: "${s}" is not a number or unlimited`);
  return Number(s);
}

/** --ulimit NAME=SOFT[:HARD] (docker's syntax; HARD defaults to SOFT). */
export function parseUlimit(value: string): POSIXRlimit {
  const m = value.match(/^([a-z]+)=([^:]+)(?::(.+))?$/);
  if (!m || RLIMITS[m[1]!] === undefined) {
    throw new SpecError(`invalid --ulimit "${value}": use NAME=SOFT[:HARD] with NAME one of ${Object.keys(RLIMITS).join(", ")}`);
  }
  const soft = limitValue(m[2]!, value);
  const hard = m[3] !== undefined ? limitValue(m[3], value) : soft;
  if (soft > hard) throw new SpecError(`--ulimit ${value}: the soft limit is above the hard one`);
  return { type: `RLIMIT_${m[1]!.toUpperCase()}`, soft, hard };
}

function securityOptions(v: Record<string, unknown>): SecurityOptions {
  const privileged = v.privileged === true;
  const add = (v["cap-add"] as string[] | undefined) ?? [];
  let noNewPrivileges = true;
  let seccomp: SecurityOptions["seccomp"] = "default";
  for (const opt of (v["security-opt"] as string[] | undefined) ?? []) {
    const nnp = opt.match(/^no-new-privileges(?:[=:](true|false))?$/);
    const sc = opt.match(/^seccomp[=:](.*)$/);
    if (nnp) noNewPrivileges = nnp[1] !== "false";
    else if (sc && sc[1] === "") throw new SpecError(`--security-opt ${opt}: the profile path is empty (give a file, or seccomp=unconfined)`);
    else if (sc && sc[1] === "unconfined") seccomp = "unconfined";
    else if (sc) {
      seccomp = { profile: loadProfile(absolute(sc[1]!), `seccomp profile ${sc[1]}`) };
    } else throw new SpecError(`unknown --security-opt "${opt}": bunker knows no-new-privileges[=true|false], seccomp=unconfined|FILE`);
  }
  return {
    caps: resolveCaps(add, (v["cap-drop"] as string[] | undefined) ?? [], privileged),
    added: privileged ? resolveCaps([], [], true) : add.flatMap((a) => (capName(a) === "ALL" ? resolveCaps(["ALL"], [], false) : [capName(a) as string])),
    privileged,
    noNewPrivileges,
    rlimits: ((v.ulimit as string[] | undefined) ?? []).map(parseUlimit),
    readonlyRoot: v["read-only"] === true,
    seccomp,
  };
}

/** A short random id (12 hex digits, as docker shows them). */
function idOption(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) > 0xfffffffe) throw new UsageError(`${flag} ${value}: not a user or group ID`);
  return Number(value);
}

function hostMounts(v: Record<string, unknown>): Mount[] {
  const mounts: Mount[] = [];
  for (const value of (v.volume as string[] | undefined) ?? []) {
    const vol = parseVolume(value);
    const source = absolute(vol.source);
    let type;
    try {
      type = fileType(source, true);
    } catch (e) {
      throw new BunkerError(`volume ${value}: ${(e as Error).message}`);
    }
    if (type === null) throw new BunkerError(`volume ${value}: ${vol.source}: no such file or directory`);
    mounts.push(volumeMount({ ...vol, source }));
  }
  for (const value of (v.tmpfs as string[] | undefined) ?? []) mounts.push(parseTmpfs(value));
  return mounts;
}

function envFiles(paths: string[]): { path: string; text: string }[] {
  return paths.map((path) => {
    try {
      return { path, text: readRegularFile(absolute(path)) };
    } catch (e) {
      if (e instanceof FileError) throw new BunkerError(`env file ${path}: ${e.reason}`);
      throw e;
    }
  });
}

interface NetworkChoice {
  mode: NetworkMode;
  /** A network namespace to join. */
  path?: string;
  joined?: string;
}

/** --network (with --join-ns, -p and --subnet) to a concrete mode. */
async function networkChoice(netArg: NetworkArg, uid: number, joinDir: string | undefined, ports: PortMapping[], subnet: string | undefined): Promise<NetworkChoice> {
  const arg = netArg.mode;
  let choice: NetworkChoice;
  const pinned = joinDir !== undefined ? pinnedTypes(joinDir) : [];
  const pinnedNet = pinned.includes("net");
  if (joinDir !== undefined && !pinnedNet && !["ipc", "uts"].some((t) => pinned.includes(t))) {
    throw new BunkerError(`--join-ns ${joinDir}: no pinned net, ipc or uts namespace there`);
  }
  if (pinnedNet) {
    if (arg !== "private" && arg !== "none") throw new UsageError(`--join-ns with a pinned network namespace and --network ${arg} contradict each other`);
    choice = { mode: "joined", path: `${joinDir}/net`, joined: `ns:${joinDir}/net` };
  } else if (arg === "private") {
    const r = privateMode(uid === 0, process.env.PATH ?? "");
    if (r.notice) await log.warn(r.notice);
    choice = { mode: r.mode };
  } else if (arg.startsWith("container:")) {
    const other = resolveContainer(arg.slice("container:".length));
    if (currentStatus(other) !== "running" || other.pid === undefined) throw new BunkerError(`--network ${arg}: container ${other.name ?? other.id} is not running`);
    if (uid !== 0) throw new BunkerError(`--network ${arg}: joining another container's network namespace needs root (each rootless container has its own user namespace)`);
    choice = { mode: "joined", path: `/proc/${other.pid}/ns/net`, joined: `container:${other.id}` };
  } else if (arg.startsWith("ns:")) {
    const path = absolute(arg.slice(3));
    if (fileType(path, true) === null) throw new BunkerError(`--network ${arg}: ${path}: no such file or directory`);
    choice = { mode: "joined", path, joined: `ns:${path}` };
  } else choice = { mode: arg as NetworkMode };
  if (ports.length && !["bridge", "pasta", "slirp4netns"].includes(choice.mode)) {
    throw new UsageError(`-p/--publish needs --network bridge, pasta or slirp4netns, not ${choice.mode === "joined" ? choice.joined : choice.mode}`);
  }
  if (subnet !== undefined && choice.mode !== "bridge") throw new UsageError(`--subnet is for --network bridge, not ${choice.mode}`);
  if (netArg.allowHostLoopback && choice.mode !== "slirp4netns" && choice.mode !== "pasta") {
    throw new UsageError(`allow_host_loopback is for slirp4netns and pasta, not ${choice.mode}: containers on the bridge never reach the host's loopback`);
  }
  return choice;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, runOptions, {
    name: "run",
    description: "Run a command in a new container",
    positional: "[--] COMMAND [ARG...]",
    examples: EXAMPLES,
  });
  if (!parsed) return 0;
  const v = parsed.values;
  const level = v["log-level"] as string | undefined;
  if (level !== undefined) {
    if (!LOG_LEVELS.includes(level as LogLevel)) throw new UsageError(`unknown log level "${level}": use one of ${LOG_LEVELS.join(", ")}`);
    setLogLevel(level as LogLevel);
  }
  if (parsed.rest.length === 0) throw new UsageError("run: no command given: bunker run [OPTIONS] [--] COMMAND [ARG...]");
  requirePaths(v, { rootfs: "--rootfs", workdir: "-w/--workdir", "env-file": "--env-file", pin: "--pin", "join-ns": "--join-ns" });
  const userns = ((v.userns as string | undefined) ?? "auto") as UsernsMode;
  if (userns !== "auto" && !USERNS_MODES.includes(userns)) throw new UsageError(`unknown --userns mode "${userns}": use one of ${USERNS_MODES.join(", ")}`);
  const networkArg = (v.network as string | undefined) ?? "private";
  let netArg: NetworkArg = { mode: networkArg };
  const workdir = v.workdir as string | undefined;
  let extraMounts: Mount[];
  let ports: PortMapping[] = [];
  let resources: LinuxResources | undefined;
  const cgroupsMode = ((v.cgroups as string | undefined) ?? "enabled") as CgroupsMode;
  if (cgroupsMode !== "enabled" && cgroupsMode !== "disabled") throw new SpecError(`unknown --cgroups mode "${cgroupsMode}": use enabled or disabled`);
  resources = parseResources({
    memory: v.memory as string | undefined,
    memorySwap: v["memory-swap"] as string | undefined,
    cpus: v.cpus as string | undefined,
    cpuShares: v["cpu-shares"] as string | undefined,
    cpuWeight: v["cpu-weight"] as string | undefined,
    cpusetCpus: v["cpuset-cpus"] as string | undefined,
    pidsLimit: v["pids-limit"] as string | undefined,
    blkioWeight: v["blkio-weight"] as string | undefined,
  });
  netArg = parseNetworkArg(networkArg);
  validateNetworkMode(netArg.mode);
  for (const p of (v.publish as string[] | undefined) ?? []) ports.push(...parsePublish(p));
  checkPublished(ports);
  if (v.hostname !== undefined) validateHostname(v.hostname as string);
  if (workdir !== undefined && !workdir.startsWith("/")) throw new SpecError(`working directory "${workdir}" must be absolute`);
  extraMounts = hostMounts(v);

  mark("opts");
  const rootfs = v.rootfs !== undefined ? checkRootfs(v.rootfs as string) : undefined;
  mark("rootfs");
  const uid = process.geteuid?.() ?? 0;
  const identity = resolveIdentity({
    uid,
    gid: process.getegid?.() ?? 0,
    userns,
    mapUid: idOption(v["map-uid"] as string | undefined, "--map-uid"),
    mapGid: idOption(v["map-gid"] as string | undefined, "--map-gid"),
    user: v.user as string | undefined,
    rootfs: rootfs?.path,
    path: process.env.PATH ?? "",
  });
  mark("identity");
  if (identity.notice) await log.warn(identity.notice);
  const cgroups = await chooseCgroups(cgroupsMode, uid, resources);
  mark("cgroups");
  const joinDir = v["join-ns"] !== undefined ? absolute(v["join-ns"] as string) : undefined;
  const net = await networkChoice(netArg, uid, joinDir, ports, v.subnet as string | undefined);
  const network = net.mode;

  const id = newId();
  const hostname = (v.hostname as string | undefined) ?? id;
  const env = buildEnvironment({
    hostname,
    callerEnv: process.env,
    ...(identity.account ? { user: identity.account } : {}),
    files: envFiles((v["env-file"] as string[] | undefined) ?? []),
    flags: [...(v.tty && !process.env.TERM ? ["TERM=xterm"] : []), ...((v.env as string[] | undefined) ?? [])],
  });

  // Working directory: -w (created if missing); else the user's home with a
  // rootfs (if it exists); else / with a rootfs, or the caller's with the host's root.
  let cwd: string;
  let cwdOptional = false;
  if (workdir !== undefined) cwd = workdir;
  else if (rootfs && identity.account) {
    cwd = identity.account.home;
    cwdOptional = true;
  } else if (rootfs) cwd = "/";
  else {
    cwd = await sandboxCwd();
    cwdOptional = true;
  }

  mark("env");
  const security = securityOptions(v);
  const spec = createSpec({
    id,
    args: parsed.rest,
    rootfs: rootfs?.path,
    rootfsHasEtc: rootfs?.hasEtc,
    hostname,
    network,
    ...(net.path !== undefined ? { networkPath: net.path } : {}),
    net: {
      ports,
      ...(v.subnet !== undefined ? { subnet: v.subnet as string } : {}),
      ...(net.joined !== undefined ? { joined: net.joined } : {}),
      ...(netArg.allowHostLoopback ? { allowHostLoopback: true } : {}),
    },
    callerEnv: process.env,
    env,
    cwd,
    createCwd: workdir !== undefined,
    cwdOptional,
    ...(identity.user ? { user: identity.user } : {}),
    extraMounts,
    ...(identity.userns ? { userns: identity.userns } : {}),
    hostResolvConf: fileType("/etc/resolv.conf", true) === "file",
    init: v.init === true,
    security,
    ...(resources ? { resources } : {}),
    ...(cgroups ? { cgroupsPath: cgroupsPath(id) } : {}),
    // A rootless container cannot reach a device the user could not open on the host: no device rules for it.
    defaultLimits: { pids: v["pids-limit"] === undefined, devices: uid === 0 },
  });
  validateSpec(spec);
  mark("spec");
  const exposure = rootfsExposure(spec, uid);
  if (exposure) await log.warn(exposure);
  const name = v.name as string | undefined;
  if (name !== undefined) validateName(name);
  if (joinDir !== undefined) {
    const pinned = pinnedTypes(joinDir);
    const present = (["ipc", "uts"] as const).filter((t) => pinned.includes(t));
    for (const t of present) {
      const entry = spec.oci.linux.namespaces.find((n) => n.type === t);
      if (entry) entry.path = `${joinDir}/${t}`;
      else spec.oci.linux.namespaces.push({ type: t, path: `${joinDir}/${t}` });
    }
    // The pinned UTS namespace keeps the names it has.
    if (present.includes("uts") && v.hostname === undefined) delete spec.oci.hostname;
  }
  const pin = v.pin !== undefined ? absolute(v.pin as string) : undefined;
  if (v.tty && v.detach) throw new UsageError("run: -t with -d: a detached container has no terminal to attach to; leave out -t");
  const record = {
    autoRemove: v.rm === true,
    detached: v.detach === true,
    ...(name !== undefined ? { name } : {}),
    ...(pin !== undefined ? { pin } : {}),
    ...(v.tty ? { tty: { interactive: v.interactive === true } } : {}),
  };
  if (record.detached) return detach(spec, record);
  return runContainer(spec, record);
}
