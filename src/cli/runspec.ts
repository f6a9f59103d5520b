// bunker run's flags as a container spec, without touching the host: first
// the flags' own syntax (runFlags), then, with what the host said about them
// (RunHost, read by runtime/runhost.ts), the spec (runSpec). The OCI front
// end's counterpart is oci/bundle.ts.

import { resolve } from "node:path";
import type { Identity, UsernsMode } from "../identity/resolve";
import { createSpec, type SecurityOptions } from "../spec/defaults";
import { capName, resolveCaps } from "../security/caps";
import { RLIMITS } from "../security/plan";
import type { Profile } from "../security/seccomp/profile";
import type { ImageConfig, ImageRecord } from "../image/store";
import { buildEnvironment } from "../spec/env";
import type { ContainerSpec, ImageRoot, LinuxDeviceCgroup, LinuxResources, Mount, PortMapping, POSIXRlimit, VolumeUse } from "../spec/types";
import { parseBytes, parseResources } from "../spec/resources";
import { SpecError, validateHostname, mayBeNetworkName, validateNetworkMode, validateSpec } from "../spec/validate";
import { parseTmpfs, parseVolume, volumeMount, type Volume } from "../spec/volumes";
import { parseMountFlag } from "../spec/mount-flag";
import { parseLogging, type LogSettings } from "../spec/logging";
import { parseAddHost, parseDns } from "../spec/hosts";
import { SYSCTL_NAME, sysctlNamespace } from "../spec/sysctl";
import type { DnsSettings, ExtraHost } from "../spec/types";
import { checkPublished, parseExpose, parsePublish } from "../spec/ports";
import { parseDevice, parseDeviceRule, type DeviceFlag } from "../spec/devices";
import type { HostDevice } from "../runtime/devices";
import type { JoinedContainer, JoinedUserns } from "../runtime/join-container";
import { parseNetworkArg, type NetworkArg } from "../spec/network";
import type { NetworkChoice } from "../runtime/runhost";
import type { CgroupsMode } from "../runtime/cgroup";
import { requirePaths, UsageError, type Parsed } from "../options";
import { parseSignal } from "../spec/signals";
import { parseRestart, type RestartPolicy } from "../spec/restart";
import { mergeHealthcheck, parseHealthFlags, type HealthFlags } from "../spec/health";

export const USERNS_MODES: UsernsMode[] = ["private", "keep-id", "host"];
/** What --pull takes. */
export const PULL_POLICIES = ["missing", "always", "never"] as const;

/** What the flags say, checked for syntax; paths are absolute. */
export interface RunFlags {
  /** The command, as given after the image (or after --rootfs/--host-root's options); may be empty with an image. */
  args: string[];
  /** The image to run, when neither --rootfs nor --host-root is given. */
  image?: string;
  /** --host-root: the host's own files, read-only. */
  hostRoot: boolean;
  /** --entrypoint: the image's entrypoint instead ("" for none). */
  entrypoint?: string;
  /** --pull: when the image is pulled. */
  pull: "missing" | "always" | "never";
  /** --platform: the image's platform when it is pulled. */
  platform?: string;
  /** --stop-signal, checked. */
  stopSignal?: number;
  /** -P: every port the image exposes, each on a free host port. */
  publishAll: boolean;
  /** --device's nodes, and --device-cgroup-rule's rules. */
  devices: DeviceFlag[];
  deviceRules: LinuxDeviceCgroup[];
  /** --expose's ports, as image ExposedPorts keys ("80/tcp"). */
  expose: string[];
  userns: UsernsMode;
  network: NetworkArg;
  /** --network given more than once: each a network made by `network create`, with --ip (the first's) and --network-alias. */
  networks: { names: string[]; ip?: string; aliases: string[] };
  ports: PortMapping[];
  subnet?: string;
  resources?: LinuxResources;
  cgroups: CgroupsMode;
  hostname?: string;
  workdir?: string;
  rootfs?: string;
  /** -v and --mount's binds and volumes, in that order. */
  volumes: { value: string; volume: Volume }[];
  /** --tmpfs and --mount type=tmpfs. */
  tmpfs: Mount[];
  /** --volumes-from CONTAINER[:ro|rw]. */
  volumesFrom: { ref: string; mode?: "ro" | "rw" }[];
  /** -e, with TERM=xterm first under -t. */
  env: string[];
  envFiles: string[];
  user?: string;
  mapUid?: number;
  mapGid?: number;
  capAdd: string[];
  capDrop: string[];
  privileged: boolean;
  noNewPrivileges: boolean;
  /** The seccomp filter: docker's default, none, or a profile file. */
  seccomp: "default" | "unconfined" | { file: string };
  rlimits: POSIXRlimit[];
  readOnly: boolean;
  init: boolean;
  pidsLimitGiven: boolean;
  name?: string;
  pin?: string;
  joinNs?: string;
  tty: boolean;
  interactive: boolean;
  /** --sig-proxy (default true): signals bunker receives go on to a foreground container. */
  sigProxy: boolean;
  detach: boolean;
  /** --log-driver and --log-opt: a detached container's log. */
  log: LogSettings;
  /** --add-host. */
  extraHosts: ExtraHost[];
  /** --dns, --dns-search, --dns-option. */
  dns?: DnsSettings;
  /** --label KEY=VALUE (the files of --label-file come from the host). */
  labels: Record<string, string>;
  labelFiles: string[];
  /** --cidfile: where the id is written once the container is made. */
  cidfile?: string;
  /** --shm-size: bytes of /dev/shm. */
  shmSize?: number;
  /** --sysctl KEY=VALUE. */
  sysctls: Record<string, string>;
  /** --oom-score-adj. */
  oomScoreAdj?: number;
  /** --stop-timeout: seconds. */
  stopTimeout?: number;
  /** --restart, other than no. */
  restart?: RestartPolicy;
  /** --group-add: groups by name or number. */
  groupAdd: string[];
  /** --health-* and --no-healthcheck. */
  health?: HealthFlags;
  /** --pid host, --ipc host, --uts host: the host's namespace of that kind. */
  hostNamespaces: ("pid" | "ipc" | "uts")[];
  /** --pid container:REF, --ipc container:REF: the container whose namespace is joined. */
  joinContainers: { pid?: string; ipc?: string };
  /** --ipc shareable (the default: others may join it), private (they may not), none (no /dev/shm either). */
  ipcMode?: "shareable" | "private" | "none";
  rm: boolean;
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

function idOption(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  if (!/^\d+$/.test(value) || Number(value) > 0xfffffffe) throw new UsageError(`${flag} ${value}: not a user or group ID`);
  return Number(value);
}

const strings = (v: unknown) => (v as string[] | undefined) ?? [];
const optString = (v: unknown) => v as string | undefined;

/** A whole number flag within its range. */
function intOption(value: string | undefined, flag: string, min: number, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (!/^-?\d+$/.test(value) || Number(value) < min || Number(value) > max) throw new UsageError(`${flag} ${value}: a whole number from ${min} to ${max}`);
  return Number(value);
}

/** KEY=VALUE labels (a KEY alone is an empty label, as docker reads it); `what` names where they came from. */
export function labelsOf(lines: readonly string[], what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of lines) {
    const eq = l.indexOf("=");
    const key = eq >= 0 ? l.slice(0, eq) : l;
    if (key === "" || /\s/.test(key)) throw new UsageError(`${what} "${l}": give KEY=VALUE`);
    out[key] = eq >= 0 ? l.slice(eq + 1) : "";
  }
  return out;
}

/** --sysctl KEY=VALUE, each a sysctl of a namespace the container has of its own (checked against the network mode later). */
function sysctlsOf(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf("=");
    const key = eq > 0 ? v.slice(0, eq) : "";
    if (!SYSCTL_NAME.test(key)) throw new UsageError(`--sysctl ${v}: give NAME=VALUE, e.g. net.ipv4.ip_forward=1`);
    if (sysctlNamespace(key) === null) throw new UsageError(`--sysctl ${key}: not a namespaced sysctl; it would change the host (net.*, kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*)`);
    out[key] = v.slice(eq + 1);
  }
  return out;
}

/** --pid, --ipc and --uts: host, private, container:REF (pid and ipc), shareable and none (ipc); checked. */
function namespaceModes(v: Record<string, unknown>): Pick<RunFlags, "joinContainers" | "ipcMode"> {
  const joinContainers: RunFlags["joinContainers"] = {};
  for (const t of ["pid", "ipc", "uts"] as const) {
    const value = optString(v[t]);
    if (value === undefined || value === "host" || value === "private") continue;
    const ref = value.startsWith("container:") ? value.slice("container:".length) : undefined;
    if (t !== "uts" && ref) joinContainers[t] = ref;
    else if (t !== "ipc" || (value !== "shareable" && value !== "none")) {
      const what = t === "pid" ? "processes" : t === "ipc" ? "IPC objects" : "host name";
      const others = t === "pid" ? ", container:ID (another's), or private" : t === "ipc" ? ", container:ID (another's), shareable, private or none" : ", or private";
      throw new UsageError(`--${t} ${value}: use host (the host's ${what})${others}`);
    }
  }
  const ipc = optString(v.ipc);
  return { joinContainers, ...(ipc === "shareable" || ipc === "private" || ipc === "none" ? { ipcMode: ipc } : {}) };
}

/** The parsed flags of bunker run, checked for syntax (nothing on the host is looked at). */
export function runFlags(v: Record<string, unknown>, rest: string[], callerEnv: Record<string, string | undefined>): RunFlags {
  const hostRoot = v["host-root"] === true;
  const rootfs = optString(v.rootfs);
  if (hostRoot && rootfs !== undefined) throw new UsageError("run: --host-root and --rootfs both name the root filesystem: give one");
  const image = hostRoot || rootfs !== undefined ? undefined : rest[0];
  const args = image !== undefined ? rest.slice(1) : rest;
  if (rest.length === 0) {
    throw new UsageError(hostRoot || rootfs !== undefined ? "run: no command given: bunker run [OPTIONS] --rootfs DIR|--host-root [--] COMMAND [ARG...]" : "run: give an image, or --rootfs DIR or --host-root and a command: bunker run [OPTIONS] IMAGE [COMMAND [ARG...]]");
  }
  if (image === undefined && args.length === 0) throw new UsageError("run: no command given");
  const entrypoint = optString(v.entrypoint);
  const pull = (optString(v.pull) ?? "missing") as RunFlags["pull"];
  if (!(PULL_POLICIES as readonly string[]).includes(pull)) throw new UsageError(`run: --pull takes missing, always or never, not "${pull}"`);
  if (entrypoint !== undefined && image === undefined) throw new UsageError("run: --entrypoint is for images (with --rootfs or --host-root, the command is all there is)");
  requirePaths(v as Parsed["values"], { rootfs: "--rootfs", workdir: "-w/--workdir", "env-file": "--env-file", pin: "--pin", "join-ns": "--join-ns" });
  const userns = ((v.userns as string | undefined) ?? "auto") as UsernsMode;
  if (userns !== "auto" && !USERNS_MODES.includes(userns)) throw new UsageError(`unknown --userns mode "${userns}": use one of ${USERNS_MODES.join(", ")}`);
  const cgroups = ((v.cgroups as string | undefined) ?? "enabled") as CgroupsMode;
  if (cgroups !== "enabled" && cgroups !== "disabled") throw new SpecError(`unknown --cgroups mode "${cgroups}": use enabled or disabled`);
  const resources = parseResources({
    memory: optString(v.memory),
    memorySwap: optString(v["memory-swap"]),
    memoryReservation: optString(v["memory-reservation"]),
    oomKillDisable: v["oom-kill-disable"] === true,
    cpus: optString(v.cpus),
    cpuPeriod: optString(v["cpu-period"]),
    cpuQuota: optString(v["cpu-quota"]),
    cpuShares: optString(v["cpu-shares"]),
    cpuWeight: optString(v["cpu-weight"]),
    cpusetCpus: optString(v["cpuset-cpus"]),
    pidsLimit: optString(v["pids-limit"]),
    blkioWeight: optString(v["blkio-weight"]),
  });
  const networkArgs = strings(v.network);
  const network = parseNetworkArg(networkArgs[0] ?? "private");
  validateNetworkMode(network.mode);
  for (const more of networkArgs.slice(1)) {
    if (!mayBeNetworkName(more) || !mayBeNetworkName(network.mode)) throw new UsageError(`run: --network given more than once: each must name a network made by bunker network create (not "${mayBeNetworkName(more) ? network.mode : more}")`);
  }
  const ports = strings(v.publish).flatMap(parsePublish);
  checkPublished(ports);
  const hostname = optString(v.hostname);
  if (hostname !== undefined) validateHostname(hostname);
  const workdir = optString(v.workdir);
  if (workdir !== undefined && !workdir.startsWith("/")) throw new SpecError(`working directory "${workdir}" must be absolute`);
  const volumes = strings(v.volume).map((value) => ({ value, volume: parseVolume(value) }));
  const tmpfs = strings(v.tmpfs).map(parseTmpfs);
  for (const value of strings(v.mount)) {
    const m = parseMountFlag(value);
    if ("tmpfs" in m) tmpfs.push(m.tmpfs);
    else volumes.push({ value: `--mount ${value}`, volume: m.volume });
  }
  const volumesFrom = strings(v["volumes-from"]).map((value) => {
    const m = /^([^:]+)(?::(ro|rw))?$/.exec(value);
    if (!m) throw new UsageError(`--volumes-from ${value}: give CONTAINER, CONTAINER:ro or CONTAINER:rw`);
    return { ref: m[1]!, ...(m[2] !== undefined ? { mode: m[2] as "ro" | "rw" } : {}) };
  });
  let noNewPrivileges = true;
  let seccomp: RunFlags["seccomp"] = "default";
  for (const opt of strings(v["security-opt"])) {
    const nnp = opt.match(/^no-new-privileges(?:[=:](true|false))?$/);
    const sc = opt.match(/^seccomp[=:](.*)$/);
    if (nnp) noNewPrivileges = nnp[1] !== "false";
    else if (sc && sc[1] === "") throw new SpecError(`--security-opt ${opt}: the profile path is empty (give a file, or seccomp=unconfined)`);
    else if (sc && sc[1] === "unconfined") seccomp = "unconfined";
    else if (sc) seccomp = { file: sc[1]! };
    else throw new SpecError(`unknown --security-opt "${opt}": bunker knows no-new-privileges[=true|false], seccomp=unconfined|FILE`);
  }
  const capAdd = strings(v["cap-add"]);
  const capDrop = strings(v["cap-drop"]);
  // Checked now: a name that is no capability is a flag's mistake.
  resolveCaps(capAdd, capDrop, false);
  const opt = <T>(key: string, value: T | undefined) => (value !== undefined ? { [key]: value } : {});
  return {
    args,
    ...opt("image", image),
    hostRoot,
    ...opt("entrypoint", entrypoint),
    pull,
    ...opt("platform", optString(v.platform)),
    publishAll: v["publish-all"] === true,
    expose: [...new Set(strings(v.expose).flatMap(parseExpose))],
    devices: strings(v.device).map(parseDevice),
    deviceRules: strings(v["device-cgroup-rule"]).map(parseDeviceRule),
    ...opt("stopSignal", optString(v["stop-signal"]) !== undefined ? parseSignal(optString(v["stop-signal"])!) : undefined),
    ...opt("health", parseHealthFlags(v)),
    userns,
    network,
    networks: { names: networkArgs, ...opt("ip", optString(v.ip)), aliases: strings(v["network-alias"]) },
    ports,
    ...opt("subnet", optString(v.subnet)),
    ...opt("resources", resources),
    cgroups,
    ...opt("hostname", hostname),
    ...opt("workdir", workdir),
    ...opt("rootfs", rootfs),
    volumes,
    tmpfs,
    volumesFrom,
    // -t: TERM=xterm, not the caller's, whose terminfo the rootfs may lack (-e TERM=... wins).
    env: [...(v.tty ? ["TERM=xterm"] : []), ...strings(v.env)],
    envFiles: strings(v["env-file"]),
    ...opt("user", optString(v.user)),
    ...opt("mapUid", idOption(optString(v["map-uid"]), "--map-uid")),
    ...opt("mapGid", idOption(optString(v["map-gid"]), "--map-gid")),
    capAdd,
    capDrop,
    privileged: v.privileged === true,
    noNewPrivileges,
    seccomp,
    rlimits: strings(v.ulimit).map(parseUlimit),
    readOnly: v["read-only"] === true,
    init: v.init === true,
    pidsLimitGiven: v["pids-limit"] !== undefined,
    ...opt("name", optString(v.name)),
    ...opt("pin", optString(v.pin) !== undefined ? resolve(optString(v.pin)!) : undefined),
    ...opt("joinNs", optString(v["join-ns"]) !== undefined ? resolve(optString(v["join-ns"])!) : undefined),
    tty: v.tty === true,
    interactive: v.interactive === true,
    sigProxy: v["sig-proxy"] !== false,
    detach: v.detach === true,
    log: parseLogging(optString(v["log-driver"]), strings(v["log-opt"])),
    extraHosts: strings(v["add-host"]).map(parseAddHost),
    ...opt("dns", parseDns(strings(v.dns), strings(v["dns-search"]), strings(v["dns-option"]))),
    labels: labelsOf(strings(v.label), "--label"),
    labelFiles: strings(v["label-file"]),
    ...opt("cidfile", optString(v.cidfile)),
    ...opt("shmSize", optString(v["shm-size"]) !== undefined ? parseBytes(optString(v["shm-size"])!, "--shm-size") : undefined),
    sysctls: sysctlsOf(strings(v.sysctl)),
    groupAdd: strings(v["group-add"]),
    hostNamespaces: (["pid", "ipc", "uts"] as const).filter((t) => optString(v[t]) === "host"),
    ...namespaceModes(v),
    ...opt("oomScoreAdj", intOption(optString(v["oom-score-adj"]), "--oom-score-adj", -1000, 1000)),
    ...opt("stopTimeout", intOption(optString(v["stop-timeout"]), "--stop-timeout", 0, 86400 * 365)),
    rm: v.rm === true,
    ...opt("restart", restartFlag(optString(v.restart), v.rm === true, optString(v.pin) !== undefined)),
  };
}

/** --restart, which a container removed at its end, or one whose namespaces are pinned, cannot have. */
function restartFlag(value: string | undefined, rm: boolean, pin: boolean): RestartPolicy | undefined {
  if (value === undefined) return undefined;
  const policy = parseRestart(value);
  if (policy.name === "no") return undefined;
  if (rm) throw new UsageError(`--restart ${value} and --rm do not go together: a container removed when it ends is not restarted`);
  if (pin) throw new UsageError(`--restart ${value} and --pin do not go together: a restarted container's namespaces are new ones`);
  return policy;
}

/** What the host said about the flags (runtime/runhost.ts). */
export interface RunHost {
  id: string;
  /** The image to run, from the store, and its container's root filesystem. */
  image?: { record: ImageRecord; root: ImageRoot; hasEtc: boolean };
  /** -P's ports: the image's exposed ones not published by -p. */
  exposed?: PortMapping[];
  uid: number;
  callerEnv: Record<string, string | undefined>;
  rootfs?: { path: string; hasEtc: boolean };
  identity: Identity;
  /** Whether the container gets a cgroup of its own. */
  cgroups: boolean;
  net: NetworkChoice;
  /** Each volume's host path, absolute, in the order of the flags (a volume's data directory for one of the store). */
  volumeSources: string[];
  /** What the container binds, as its state records it (spec.bunker.volumes): the flags', then --volumes-from's. */
  volumeUses?: VolumeUse[];
  /** --volumes-from's binds. */
  volumesFrom?: VolumeUse[];
  envFiles: { path: string; text: string }[];
  /** --label-file's lines (blank ones and comments left out). */
  labelFiles: { path: string; lines: string[] }[];
  /** Without a rootfs: where the caller is, if the sandbox shows it. */
  sandboxCwd?: string;
  hostResolvConf: boolean;
  /** The profile --security-opt seccomp=FILE named. */
  seccompProfile?: Profile;
  /** The namespaces pinned in the --join-ns directory. */
  pinned: string[];
  /** --device's nodes on the host. */
  devices?: HostDevice[];
  /** --pid and --ipc container:ID: the namespaces joined. */
  joins?: { pid?: JoinedContainer; ipc?: JoinedContainer };
  /** A user's container that joins another's namespaces: the user namespace that owns them. */
  joinedUserns?: JoinedUserns;
}

function security(f: RunFlags, h: RunHost): SecurityOptions {
  return {
    caps: resolveCaps(f.capAdd, f.capDrop, f.privileged),
    added: f.privileged ? resolveCaps([], [], true) : f.capAdd.flatMap((a) => (capName(a) === "ALL" ? resolveCaps(["ALL"], [], false) : [capName(a) as string])),
    privileged: f.privileged,
    noNewPrivileges: f.noNewPrivileges,
    rlimits: f.rlimits,
    readonlyRoot: f.readOnly,
    seccomp: typeof f.seccomp === "string" ? f.seccomp : { profile: h.seccompProfile! },
  };
}

/**
 * The working directory: -w (made if missing); else an image's WorkingDir
 * (made if missing, as docker makes it), or /; else the user's home with a
 * rootfs (if it exists); else / with a rootfs, or the caller's with the host's root.
 */
function workingDirectory(f: RunFlags, h: RunHost): { cwd: string; cwdOptional: boolean; createCwd: boolean } {
  if (f.workdir !== undefined) return { cwd: f.workdir, cwdOptional: false, createCwd: true };
  if (h.image) {
    const dir = h.image.record.config.config?.WorkingDir;
    return dir ? { cwd: dir, cwdOptional: false, createCwd: true } : { cwd: "/", cwdOptional: false, createCwd: false };
  }
  return { ...otherWorkingDirectory(h), createCwd: false };
}

function otherWorkingDirectory(h: RunHost): { cwd: string; cwdOptional: boolean } {
  if (h.rootfs && h.identity.account) return { cwd: h.identity.account.home, cwdOptional: true };
  if (h.rootfs) return { cwd: "/", cwdOptional: false };
  return { cwd: h.sandboxCwd ?? "/", cwdOptional: true };
}

/** The ports a container exposes: its image's ("80/tcp", "53/udp"), then --expose's. */
export function exposedKeys(f: RunFlags, config: ImageConfig["config"] = {}): string[] {
  return [...new Set([...Object.keys(config.ExposedPorts ?? {}), ...f.expose])];
}

/** -P: the exposed ports (exposedKeys) that -p does not publish already, each on a free host port. */
export function exposedPorts(f: RunFlags, config: ImageConfig["config"] = {}): PortMapping[] {
  if (!f.publishAll) return [];
  const out: PortMapping[] = [];
  for (const key of exposedKeys(f, config)) {
    const m = /^(\d+)(?:\/(tcp|udp))?$/.exec(key);
    if (!m) continue;
    const port = Number(m[1]);
    const protocol = (m[2] ?? "tcp") as "tcp" | "udp";
    const taken = f.ports.some((p) => p.protocol === protocol && port >= p.containerPort && port < p.containerPort + (p.range ?? 1));
    if (!taken && port >= 1 && port <= 65535) out.push({ hostIp: "0.0.0.0", hostPort: 0, containerPort: port, protocol });
  }
  return out;
}

/**
 * The command of an image's container, by docker's rules: the entrypoint
 * (the image's, or --entrypoint's, which also drops the image's Cmd) and then
 * the command given, else the image's Cmd.
 */
export function imageCommand(f: RunFlags, config: ImageConfig["config"] = {}): string[] {
  const entrypoint = f.entrypoint !== undefined ? (f.entrypoint === "" ? [] : [f.entrypoint]) : (config.Entrypoint ?? []);
  const cmd = f.args.length ? f.args : f.entrypoint !== undefined ? [] : (config.Cmd ?? []);
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw new UsageError(`run: image ${f.image} has no command (no Entrypoint or Cmd): give one after the image`);
  return args;
}

/** --add-host, --dns*, --label, --shm-size, --sysctl, --oom-score-adj, --stop-timeout, --expose, on the spec. */
function applyDockerFlags(spec: ContainerSpec, f: RunFlags, h: RunHost): void {
  if (f.extraHosts.length) spec.bunker.extraHosts = f.extraHosts;
  if (f.dns) {
    if (spec.bunker.network === "host") throw new UsageError("run: --dns, --dns-search and --dns-option do not go with --network host: the host's resolv.conf is the container's");
    spec.bunker.dns = f.dns;
  }
  // The image's labels, then the files', then the flags': the last word wins.
  const labels = { ...h.image?.record.config.config?.Labels, ...Object.assign({}, ...h.labelFiles.map((t) => labelsOf(t.lines, t.path))), ...f.labels };
  if (Object.keys(labels).length) spec.bunker.labels = labels;
  if (f.shmSize !== undefined) {
    const shm = spec.oci.mounts.find((m) => m.destination === "/dev/shm");
    if (!shm) throw new UsageError("run: --shm-size: this container has no /dev/shm of its own (it sees the host's)");
    shm.options = [...(shm.options ?? []).filter((o) => !o.startsWith("size=")), `size=${f.shmSize}`];
  }
  for (const key of Object.keys(f.sysctls)) {
    const ns = sysctlNamespace(key)!;
    const shared = ns === "network" ? spec.bunker.network === "host" : !spec.oci.linux.namespaces.some((n) => n.type === (ns === "uts" ? "uts" : "ipc") && n.path === undefined);
    if (shared) throw new UsageError(`--sysctl ${key}: the container shares the host's ${ns} namespace: it would change the host`);
  }
  if (Object.keys(f.sysctls).length) spec.oci.linux.sysctl = { ...spec.oci.linux.sysctl, ...f.sysctls };
  if (f.oomScoreAdj !== undefined) spec.oci.process.oomScoreAdj = f.oomScoreAdj;
  applyHostNamespaces(spec, f, h);
  applyDevices(spec, f, h);
  if (h.identity.files) spec.bunker.userFiles = h.identity.files;
  if (f.stopTimeout !== undefined) spec.bunker.stopTimeout = f.stopTimeout;
  const exposed = exposedKeys(f, h.image?.record.config.config);
  if (exposed.length) spec.bunker.exposedPorts = exposed;
}

/**
 * --device: each node made in the container's /dev (bound from the host
 * where it cannot be made, in a user namespace) and allowed by its device
 * rules with the permissions given; --device-cgroup-rule: more rules. Without
 * device rules (rootless) the user's own access to the node is the limit.
 */
function applyDevices(spec: ContainerSpec, f: RunFlags, h: RunHost): void {
  const devices = h.devices ?? [];
  if (devices.length === 0 && f.deviceRules.length === 0) return;
  const paths = new Set(devices.map((d) => d.device.path));
  if (paths.size !== devices.length) throw new UsageError("run: --device names the same container path twice");
  spec.oci.linux.devices = [...(spec.oci.linux.devices ?? []).filter((d) => !paths.has(d.path)), ...devices.map((d) => d.device)];
  const sources = Object.fromEntries(devices.filter((d) => d.source !== d.device.path).map((d) => [d.device.path, d.source]));
  if (Object.keys(sources).length) spec.bunker.deviceSources = sources;
  const rules = spec.oci.linux.resources?.devices;
  if (!rules && f.deviceRules.length) throw new UsageError("run: --device-cgroup-rule: this container has no device rules to add to (a rootless one's devices are those you can open; as root, it needs a cgroup)");
  if (!rules) return;
  for (const d of devices) rules.push({ allow: true, type: d.device.type === "b" ? "b" : "c", major: d.device.major, minor: d.device.minor, access: d.access });
  rules.push(...f.deviceRules);
}

/**
 * --pid host, --ipc host, --uts host: the container keeps the host's
 * namespace of that kind (root only for PID and IPC: a user's container
 * could not mount /proc or /dev/mqueue for the host's). With the host's IPC
 * namespace comes the host's /dev/shm; with its UTS namespace, its name.
 */
function applyHostNamespaces(spec: ContainerSpec, f: RunFlags, h: RunHost): void {
  for (const t of f.hostNamespaces) {
    if (t !== "uts" && h.uid !== 0) throw new UsageError(`run: --${t} host is for root: a user's container cannot mount ${t === "pid" ? "/proc" : "/dev/mqueue"} for the host's namespace`);
    if (spec.oci.linux.namespaces.some((n) => n.type === t && n.path !== undefined)) throw new UsageError(`run: --${t} host and --join-ns both name the ${t} namespace`);
    spec.oci.linux.namespaces = spec.oci.linux.namespaces.filter((n) => n.type !== t);
  }
  if (f.hostNamespaces.includes("pid") && f.init) throw new UsageError("run: --init with --pid host: the init would not be PID 1 of anything");
  if (f.hostNamespaces.includes("uts")) {
    if (f.hostname !== undefined) throw new UsageError("run: --hostname with --uts host: the host's name is the container's");
    delete spec.oci.hostname;
  }
  if (f.hostNamespaces.includes("ipc")) {
    const shm = spec.oci.mounts.find((m) => m.destination === "/dev/shm");
    if (shm) Object.assign(shm, { type: "bind", source: "/dev/shm", options: ["rbind", "rw", "nosuid", "nodev", "noexec"] });
  }
  applyJoinedNamespaces(spec, f, h);
}

/**
 * --pid container:ID and --ipc container:ID: the other container's
 * namespace, through its first process's (as --network container:ID); with
 * its IPC namespace, its /dev/shm, bound. --ipc none: no /dev/shm at all.
 * When that container stops, one in its PID namespace is killed with it, as
 * the kernel ends a PID namespace; one in its IPC namespace keeps it.
 */
function applyJoinedNamespaces(spec: ContainerSpec, f: RunFlags, h: RunHost): void {
  for (const t of ["pid", "ipc"] as const) {
    const joined = h.joins?.[t];
    if (!joined) continue;
    if (f.hostNamespaces.includes(t)) throw new UsageError(`run: --${t} host and --${t} container:ID both name the ${t} namespace`);
    if (spec.oci.linux.namespaces.some((n) => n.type === t && n.path !== undefined)) throw new UsageError(`run: --${t} container:ID and --join-ns both name the ${t} namespace`);
    spec.oci.linux.namespaces = [...spec.oci.linux.namespaces.filter((n) => n.type !== t), { type: t, path: joined.path }];
    spec.bunker[t === "pid" ? "pidMode" : "ipcMode"] = `container:${joined.id}`;
  }
  if (h.joins?.pid && f.init) throw new UsageError("run: --init with --pid container:ID: the init would not be PID 1 of anything");
  const shmAt = spec.oci.mounts.findIndex((m) => m.destination === "/dev/shm");
  if (h.joins?.ipc) {
    if (f.shmSize !== undefined) throw new UsageError("run: --shm-size with --ipc container:ID: its /dev/shm is the other container's");
    if (shmAt >= 0) {
      spec.oci.mounts[shmAt] = { destination: "/dev/shm", type: "bind", source: `/proc/${h.joins.ipc.pid}/root/dev/shm`, options: ["rbind", "rw", "nosuid", "nodev", "noexec"] };
      spec.bunker.shmFrom = h.joins.ipc.pid;
    }
  } else if (f.ipcMode !== undefined) {
    spec.bunker.ipcMode = f.ipcMode;
    if (f.ipcMode === "none" && f.shmSize !== undefined) throw new UsageError("run: --shm-size with --ipc none: there is no /dev/shm");
    if (f.ipcMode === "none" && shmAt >= 0) spec.oci.mounts.splice(shmAt, 1);
  }
  // Entered instead of made: its maps (the spec's, the same) are already written.
  const userns = h.joinedUserns;
  if (!userns) return;
  spec.oci.linux.namespaces = spec.oci.linux.namespaces.map((n) => (n.type === "user" ? { type: "user", path: userns.path } : n));
  // That user namespace owns the network namespace joined with it: sysfs may be mounted for it, not only the host's
  // /sys bound (whose cgroup2 mount a pure v2 host's /sys/fs/cgroup would then be mounted over, which the kernel refuses).
  const sys = spec.oci.mounts.find((m) => m.destination === "/sys");
  if (sys?.type === "bind" && spec.bunker.net?.joined?.startsWith("container:")) Object.assign(sys, { type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] });
}

/** The spec of bunker run's flags, given what the host said about them; validated. */
export function runSpec(f: RunFlags, h: RunHost, cgroupsPath: (id: string) => string): ContainerSpec {
  const hostname = f.hostname ?? h.id;
  const imageConfig = h.image?.record.config.config;
  const env = buildEnvironment({
    hostname,
    callerEnv: h.callerEnv,
    ...(h.identity.account ? { user: h.identity.account } : {}),
    ...(imageConfig?.Env ? { image: imageConfig.Env } : {}),
    files: h.envFiles,
    flags: f.env,
  });
  // The image's anonymous volumes first: a mount the run asks for inside one goes on top of it. nodev: a
  // device node the image put there opens only in the container's own /dev, as its layers' do.
  const imageVolumes = (h.image?.root.volumes ?? []).map((v) => volumeMount({ destination: v.destination, source: v.source, readonly: false, recursive: true, flags: ["nodev"] }));
  const fromMounts = (h.volumesFrom ?? []).map((u) => volumeMount({ source: u.source, destination: u.destination, readonly: u.readonly, recursive: true, flags: [] }));
  const extraMounts = [...imageVolumes, ...f.volumes.map(({ volume }, i) => volumeMount({ ...volume, source: h.volumeSources[i]! })), ...fromMounts, ...f.tmpfs];
  const rootfs = h.image ? { path: h.image.root.upper, hasEtc: h.image.hasEtc } : h.rootfs;
  const spec = createSpec({
    id: h.id,
    args: h.image ? imageCommand(f, imageConfig) : f.args,
    rootfs: rootfs?.path,
    rootfsHasEtc: rootfs?.hasEtc,
    hostname,
    network: h.net.mode,
    ...(h.net.path !== undefined ? { networkPath: h.net.path } : {}),
    net: {
      ports: [...f.ports, ...(h.exposed ?? [])],
      ...(f.subnet !== undefined ? { subnet: f.subnet } : {}),
      ...(h.net.joined !== undefined ? { joined: h.net.joined } : {}),
      ...(f.network.allowHostLoopback ? { allowHostLoopback: true } : {}),
      ...(h.net.networks ? { networks: h.net.networks } : {}),
    },
    callerEnv: h.callerEnv,
    env,
    ...workingDirectory(f, h),
    ...(h.identity.user ? { user: h.identity.user } : {}),
    extraMounts,
    ...(h.identity.userns ? { userns: h.identity.userns } : {}),
    hostResolvConf: h.hostResolvConf,
    init: f.init,
    security: security(f, h),
    ...(f.resources ? { resources: f.resources } : {}),
    ...(h.cgroups ? { cgroupsPath: cgroupsPath(h.id) } : {}),
    // A rootless container cannot reach a device the user could not open on the host: no device rules for it.
    defaultLimits: { pids: !f.pidsLimitGiven, devices: h.uid === 0 },
  });
  if (h.image) {
    spec.bunker.rootMode = "image";
    spec.bunker.image = h.image.root;
  }
  // A foreground container's output goes where bunker's does; its log settings are for a later start.
  spec.bunker.log = f.log;
  if (f.restart) spec.bunker.restart = f.restart;
  // What it keeps when it runs detached (-dit, or started later): a terminal, and an open stdin, for bunker attach.
  if (f.tty) spec.oci.process.terminal = true;
  if (f.interactive) spec.bunker.stdin = true;
  if (h.volumeUses?.length) spec.bunker.volumes = h.volumeUses;
  applyDockerFlags(spec, f, h);
  // --stop-signal, else the image's StopSignal (docker's order).
  const imageStop = imageConfig?.StopSignal;
  const stopSignal = f.stopSignal ?? (imageStop ? parseSignal(imageStop) : undefined);
  if (stopSignal !== undefined && stopSignal !== 15) spec.bunker.stopSignal = stopSignal;
  // The flags' health check over the image's HEALTHCHECK (docker's merge).
  const health = mergeHealthcheck(f.health, imageConfig?.Healthcheck);
  if (health) spec.bunker.healthcheck = health;
  if (f.joinNs !== undefined) {
    const present = (["ipc", "uts"] as const).filter((t) => h.pinned.includes(t));
    for (const t of present) {
      const entry = spec.oci.linux.namespaces.find((n) => n.type === t);
      if (entry) entry.path = `${f.joinNs}/${t}`;
      else spec.oci.linux.namespaces.push({ type: t, path: `${f.joinNs}/${t}` });
    }
    // The pinned UTS namespace keeps the names it has.
    if (present.includes("uts") && f.hostname === undefined) delete spec.oci.hostname;
  }
  validateSpec(spec);
  return spec;
}
