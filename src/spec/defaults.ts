// Building a container spec with the defaults runc, crun and podman users expect.

import type { ContainerSpec, LinuxDevice, Mount, NamespaceType, NetworkMode } from "./types";

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
  /** Working directory inside the container; defaults to / (or the caller's cwd with the host root). */
  cwd?: string;
  /** Whether the rootfs has an /etc directory bunker may place hostname and hosts files in. */
  rootfsHasEtc?: boolean;
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

export function defaultMounts(hostRoot: boolean): Mount[] {
  const mounts: Mount[] = [
    { destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
    {
      destination: "/dev/pts",
      type: "devpts",
      source: "devpts",
      options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"],
    },
    { destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
    { destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
    { destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", "ro"] },
  ];
  if (hostRoot) {
    mounts.push(
      { destination: "/tmp", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=1777"] },
      { destination: "/run", type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", "mode=755"] },
    );
  }
  return mounts;
}

export function buildEnv(hostname: string, callerEnv: Record<string, string | undefined>): string[] {
  const env = [`PATH=${DEFAULT_PATH}`, "HOME=/root", `HOSTNAME=${hostname}`];
  if (callerEnv.TERM) env.push(`TERM=${callerEnv.TERM}`);
  return env;
}

export function createSpec(o: RunOptions): ContainerSpec {
  const hostRoot = o.rootfs === undefined;
  const hostname = o.hostname ?? o.id;
  const namespaces: NamespaceType[] = ["pid", "mount", "ipc", "uts", "cgroup"];
  if (o.network !== "host") namespaces.push("network");
  return {
    oci: {
      ociVersion: OCI_VERSION,
      process: {
        terminal: false,
        user: { uid: 0, gid: 0 },
        args: o.args,
        env: buildEnv(hostname, o.callerEnv),
        cwd: o.cwd ?? "/",
      },
      root: hostRoot ? { path: "/", readonly: true } : { path: o.rootfs!, readonly: false },
      hostname,
      domainname: "",
      mounts: defaultMounts(hostRoot),
      linux: {
        namespaces: namespaces.map((type) => ({ type })),
        devices: defaultDevices(),
      },
    },
    bunker: {
      id: o.id,
      rootMode: hostRoot ? "host" : "dir",
      network: o.network,
      etcFiles: hostRoot ? true : (o.rootfsHasEtc ?? false),
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
