// Building a container spec with the defaults runc, crun and podman users expect.

import type { ContainerSpec, LinuxDevice, LinuxIDMapping, Mount, NamespaceType, NetworkMode, User, UsernsSetup } from "./types";
import { orderMounts } from "./volumes";

export const OCI_VERSION = "1.2.0";
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export interface RunOptions {
  id: string;
  args: string[];
  rootfs?: string;
  hostname?: string;
  network: NetworkMode;
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
  if (c.userns && c.network === "host") {
    mounts.push({ destination: "/sys", type: "bind", source: "/sys", options: ["rbind", "nosuid", "noexec", "nodev", "ro"] });
  } else {
    mounts.push({ destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] });
  }
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

export function createSpec(o: RunOptions): ContainerSpec {
  const hostRoot = o.rootfs === undefined;
  const hostname = o.hostname ?? o.id;
  const namespaces: NamespaceType[] = ["pid", "mount", "ipc", "uts", "cgroup"];
  if (o.network !== "host") namespaces.push("network");
  if (o.userns) namespaces.push("user");
  const mounts = [
    ...defaultMounts({
      hostRoot,
      userns: o.userns !== undefined,
      ttyGroupMapped: mapped(o.userns?.gid, 5),
      network: o.network,
      hostResolvConf: o.hostResolvConf ?? false,
    }),
    ...orderMounts(o.extraMounts ?? []),
  ];
  return {
    oci: {
      ociVersion: OCI_VERSION,
      process: {
        terminal: false,
        user: o.user ?? { uid: 0, gid: 0 },
        args: o.args,
        env: o.env ?? buildEnv(hostname, o.callerEnv),
        cwd: o.cwd ?? "/",
      },
      root: hostRoot ? { path: "/", readonly: true } : { path: o.rootfs!, readonly: false },
      hostname,
      domainname: "",
      mounts,
      linux: {
        namespaces: namespaces.map((type) => ({ type })),
        devices: defaultDevices(),
        ...(o.userns ? { uidMappings: o.userns.uid, gidMappings: o.userns.gid } : {}),
      },
    },
    bunker: {
      id: o.id,
      rootMode: hostRoot ? "host" : "dir",
      network: o.network,
      etcFiles: hostRoot ? true : (o.rootfsHasEtc ?? false),
      ...(o.userns ? { userns: o.userns.setup } : {}),
      setgroups: o.userns ? o.userns.setgroups : true,
      cwd: { create: o.createCwd ?? false, optional: o.cwdOptional ?? false },
      ...(o.init ? { init: true } : {}),
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
