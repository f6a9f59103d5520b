// Building a container spec with the defaults runc, crun and podman users expect.

import type { ContainerSpec, LinuxCapabilities, LinuxDevice, LinuxDeviceCgroup, LinuxIDMapping, LinuxResources, LinuxNamespace, Mount, NamespaceType, NetworkMode, NetworkSettings, POSIXRlimit, User, UsernsSetup } from "./types";
import { DEFAULT_CAPS } from "../security/caps";

import { orderMounts } from "./volumes";

export const OCI_VERSION = "1.2.0";
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface RunOptions {
  id: string;
  args: string[];
  rootfs?: string;
  hostname?: string;
  network: NetworkMode;
  /** With network "joined": the namespace to join. */
  networkPath?: string;
  net?: NetworkSettings;
  /** The caller's environment, for TERM. */
  callerEnv: Record<string, string | undefined>;
  /** The environment, when already built (see env.ts); otherwise the clean default. */
  env?: string[];
  /** Working directory inside the container; defaults to / (or the caller's cwd with the host root). */
  cwd?: string;
  /** Create the working directory if it is missing (an explicit -w, like runc)... */
  createCwd?: boolean;
  /** ...or start in / when it is missing (a home directory, the caller's directory). */
  cwdOptional?: boolean;
  /** Whether the rootfs has an /etc directory bunker may place hostname and hosts files in. */
  rootfsHasEtc?: boolean;
  user?: User;
  /** -v and --tmpfs mounts. */
  extraMounts?: Mount[];
  /** A user namespace with these maps. */
  userns?: { uid: LinuxIDMapping[]; gid: LinuxIDMapping[]; setup: UsernsSetup; setgroups: boolean };
  /** Whether the host has an /etc/resolv.conf to share with --network host. */
  hostResolvConf?: boolean;
  init?: boolean;
  security?: SecurityOptions;
  /** Cgroup limits asked for, and the container's cgroup (none: no cgroup of its own). */
  resources?: LinuxResources;
  cgroupsPath?: string;
  /** The defaults a container with a cgroup of its own gets: a PID limit (unless one was given), the device allow-list (root). */
  defaultLimits?: { pids: boolean; devices: boolean };
}

export interface SecurityOptions {
  /** The bounding set (and root's capabilities). */
  caps: string[];
  /** Capabilities given on the command line: what a non-root user keeps. */
  added: string[];
  privileged: boolean;
  noNewPrivileges: boolean;
  rlimits: POSIXRlimit[];
  /** --read-only: the rootfs mounted read-only, with tmpfs /tmp and /run. */
  readonlyRoot: boolean;
  /** The seccomp filter: bunker's default, none, or a profile (docker/OCI JSON, already checked). */
  seccomp: "default" | "unconfined" | { profile: unknown };
}

/** The OCI defaults: hidden from the container, and read-only in it. */
export const MASKED_PATHS = [
  "/proc/acpi",
  "/proc/asound",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap",
];

/** podman's default: far above what ordinary workloads start, far below what exhausts a host's PIDs. */
export const DEFAULT_PIDS_LIMIT = 2048;

const allow = (type: "c" | "b", major?: number, minor?: number, access = "rwm"): LinuxDeviceCgroup => ({
  allow: true,
  type,
  ...(major !== undefined ? { major } : {}),
  ...(minor !== undefined ? { minor } : {}),
  access,
});

/**
 * runc's and docker's default device allow-list: every other device node,
 * wherever it lies (an image, a volume, one made with mknod), cannot be
 * opened; nodes of any kind may still be made (CAP_MKNOD and seccomp decide).
 */
export const DEFAULT_DEVICE_RULES: readonly LinuxDeviceCgroup[] = [
  { allow: false, access: "rwm" },
  allow("c", undefined, undefined, "m"),
  allow("b", undefined, undefined, "m"),
  allow("c", 1, 3), // null
  allow("c", 1, 5), // zero
  allow("c", 1, 7), // full
  allow("c", 1, 8), // random
  allow("c", 1, 9), // urandom
  allow("c", 5, 0), // tty
  allow("c", 5, 1), // console
  allow("c", 5, 2), // ptmx
  allow("c", 136), // pts/*
  allow("c", 10, 200), // net/tun
];

/** --privileged, as docker: every device. */
export const ALL_DEVICES: readonly LinuxDeviceCgroup[] = [{ allow: true, access: "rwm" }];

export const READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"];

export const DEFAULT_SECURITY: SecurityOptions = {
  caps: [...DEFAULT_CAPS],
  added: [],
  privileged: false,
  noNewPrivileges: true,
  rlimits: [],
  readonlyRoot: false,
  seccomp: "default",
};

export function capabilitiesFor(sec: SecurityOptions, uid: number): LinuxCapabilities {
  const oci = (list: readonly string[]) => list.map((c) => `CAP_${c}`);
  // docker's rule: a non-root user keeps only the capabilities added for it.
  const sets = uid === 0 ? sec.caps : sec.added.filter((c) => sec.caps.includes(c));
  return {
    bounding: oci(sec.caps),
    effective: oci(sets),
    permitted: oci(sets),
    inheritable: oci(sets),
    ambient: uid === 0 ? [] : oci(sets),
  };
}

export function defaultDevices(): LinuxDevice[] {
  const dev = (name: string, major: number, minor: number): LinuxDevice => ({
    path: `/dev/${name}`,
    type: "c",
    major,
    minor,
    fileMode: 0o666,
    uid: 0,
    gid: 0,
  });
  return [dev("null", 1, 3), dev("zero", 1, 5), dev("full", 1, 7), dev("random", 1, 8), dev("urandom", 1, 9), dev("tty", 5, 0)];
}

export interface MountContext {
  hostRoot: boolean;
  /** In a user namespace: what it can mount differs. */
  userns: boolean;
  /** Whether container GID 5 (tty) is mapped, for devpts' gid= option. */
  ttyGroupMapped: boolean;
  network: NetworkMode;
  hostResolvConf: boolean;
}

export function defaultMounts(c: MountContext): Mount[] {
  const devptsOpts = ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"];
  if (c.ttyGroupMapped) devptsOpts.push("gid=5");
  const mounts: Mount[] = [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    { destination: "/dev/pts", type: "devpts", source: "devpts", options: devptsOpts },
    { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
  ];
  // sysfs may only be mounted by a user namespace that owns the network namespace.
  if (c.userns && (c.network === "host" || c.network === "joined")) {
    mounts.push({ destination: "/sys", type: "bind", source: "/sys", options: ["rbind", "nosuid", "noexec", "nodev", "ro"] });
  } else {
    mounts.push({ destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] });
  }
  mounts.push({ destination: "/sys/fs/cgroup", type: "cgroup", source: "cgroup", options: ["nosuid", "noexec", "nodev", "relatime", "ro"] });
  if (c.hostRoot) {
    mounts.push(
      { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777"] },
      { destination: "/run", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=755"] },
    );
  } else if (c.network === "host" && c.hostResolvConf) {
    mounts.push({ destination: "/etc/resolv.conf", type: "bind", source: "/etc/resolv.conf", options: ["bind", "ro", "nosuid", "nodev", "noexec"] });
  }
  return mounts;
}

export function buildEnv(hostname: string, callerEnv: Record<string, string | undefined>): string[] {
  const env = [`PATH=${DEFAULT_PATH}`, "HOME=/root", `HOSTNAME=${hostname}`];
  if (callerEnv.TERM) env.push(`TERM=${callerEnv.TERM}`);
  return env;
}

function mapped(maps: readonly LinuxIDMapping[] | undefined, id: number): boolean {
  return maps === undefined || maps.some((m) => id >= m.containerID && id < m.containerID + m.size);
}

/** The limits asked for, plus the defaults that come with a cgroup of its own. */
function containerResources(o: RunOptions, privileged: boolean): LinuxResources | undefined {
  const r: LinuxResources = { ...o.resources };
  const d = o.cgroupsPath !== undefined ? o.defaultLimits : undefined;
  if (d?.pids && !r.pids) r.pids = { limit: DEFAULT_PIDS_LIMIT };
  if (d?.devices) r.devices = (privileged ? ALL_DEVICES : DEFAULT_DEVICE_RULES).map((rule) => ({ ...rule }));
  return Object.keys(r).length ? r : undefined;
}

export function createSpec(o: RunOptions): ContainerSpec {
  const hostRoot = o.rootfs === undefined;
  const hostname = o.hostname ?? o.id;
  const namespaces: NamespaceType[] = ["pid", "mount", "ipc", "uts", "cgroup"];
  if (o.network !== "host") namespaces.push("network");
  if (o.userns) namespaces.push("user");
  const sec = o.security ?? DEFAULT_SECURITY;
  const user = o.user ?? { uid: 0, gid: 0 };
  const resources = containerResources(o, sec.privileged);
  const extra = o.extraMounts ?? [];
  // --read-only keeps the usual scratch places writable, unless the caller mounted something there.
  const scratch: Mount[] =
    sec.readonlyRoot && !hostRoot
      ? ["/tmp", "/run"]
          .filter((d) => !extra.some((m) => m.destination === d))
          .map((d) => ({ destination: d, type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", d === "/tmp" ? "mode=1777" : "mode=755"] }))
      : [];
  const mounts = [
    ...defaultMounts({
      hostRoot,
      userns: o.userns !== undefined,
      ttyGroupMapped: mapped(o.userns?.gid, 5),
      network: o.network,
      hostResolvConf: o.hostResolvConf ?? false,
    }),
    ...orderMounts([...scratch, ...extra]),
  ];
  return {
    oci: {
      ociVersion: OCI_VERSION,
      process: {
        terminal: false,
        user,
        args: o.args,
        env: o.env ?? buildEnv(hostname, o.callerEnv),
        cwd: o.cwd ?? "/",
        capabilities: capabilitiesFor(sec, user.uid),
        noNewPrivileges: sec.noNewPrivileges,
        ...(sec.rlimits.length ? { rlimits: sec.rlimits } : {}),
      },
      root: hostRoot ? { path: "/", readonly: true } : { path: o.rootfs!, readonly: sec.readonlyRoot },
      hostname,
      domainname: "",
      mounts,
      linux: {
        namespaces: namespaces.map((type): LinuxNamespace => (type === "network" && o.networkPath !== undefined ? { type, path: o.networkPath } : { type })),
        devices: defaultDevices(),
        ...(sec.privileged ? {} : { maskedPaths: [...MASKED_PATHS], readonlyPaths: [...READONLY_PATHS] }),
        ...(typeof sec.seccomp === "object" ? { seccomp: sec.seccomp.profile } : {}),
        ...(o.userns ? { uidMappings: o.userns.uid, gidMappings: o.userns.gid } : {}),
        ...(resources ? { resources } : {}),
        ...(o.cgroupsPath !== undefined ? { cgroupsPath: o.cgroupsPath } : {}),
      },
    },
    bunker: {
      id: o.id,
      rootMode: hostRoot ? "host" : "dir",
      network: o.network,
      ...(o.net && (o.net.ports.length || o.net.subnet !== undefined || o.net.joined !== undefined || o.net.allowHostLoopback || o.net.networks?.length) ? { net: o.net } : {}),
      etcFiles: hostRoot ? true : (o.rootfsHasEtc ?? false),
      ...(o.userns ? { userns: o.userns.setup } : {}),
      setgroups: o.userns ? o.userns.setgroups : true,
      cwd: { create: o.createCwd ?? false, optional: o.cwdOptional ?? false },
      ...(o.init ? { init: true } : {}),
      seccomp: sec.privileged ? "unconfined" : typeof sec.seccomp === "object" ? "custom" : sec.seccomp,
      ...(resources?.pids && !o.resources?.pids ? { pidsDefault: true } : {}),
    },
  };
}
export function envValue(env: readonly string[], key: string): string | undefined {
  for (let i = env.length - 1; i >= 0; i--) {
    const e = env[i]!;
    if (e.startsWith(`${key}=`)) return e.slice(key.length + 1);
  }
  return undefined;
}
