// The container model: the OCI runtime-spec config (the subset bunker reads
// and writes, typed), plus a sidecar for what OCI leaves to higher layers.

export type NamespaceType = "pid" | "network" | "mount" | "ipc" | "uts" | "user" | "cgroup" | "time";

export interface LinuxNamespace {
  type: NamespaceType;
  path?: string;
}

export interface Mount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
  /** An id-mapped bind: IDs of its source (containerID) and what they show as (hostID). */
  uidMappings?: LinuxIDMapping[];
  gidMappings?: LinuxIDMapping[];
}

export interface LinuxDevice {
  path: string;
  type: "c" | "b" | "u" | "p";
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface User {
  uid: number;
  gid: number;
  umask?: number;
  additionalGids?: number[];
}

export interface LinuxCapabilities {
  bounding?: string[];
  effective?: string[];
  inheritable?: string[];
  permitted?: string[];
  ambient?: string[];
}

export interface POSIXRlimit {
  type: string;
  hard: number;
  soft: number;
}

export interface Process {
  terminal?: boolean;
  /** With terminal: its size in characters. */
  consoleSize?: { height: number; width: number };
  user: User;
  args: string[];
  env: string[];
  cwd: string;
  capabilities?: LinuxCapabilities;
  noNewPrivileges?: boolean;
  rlimits?: POSIXRlimit[];
  /** Written to /proc/PID/oom_score_adj before the process runs (-1000 to 1000). */
  oomScoreAdj?: number;
  /** The CPU scheduling policy and its parameters (sched_setattr's), runtimes in nanoseconds. */
  scheduler?: { policy: string; nice?: number; priority?: number; flags?: string[]; runtime?: number; deadline?: number; period?: number };
  /** The I/O scheduling class and its priority (0, highest, to 7). */
  ioPriority?: { class: "IOPRIO_CLASS_RT" | "IOPRIO_CLASS_BE" | "IOPRIO_CLASS_IDLE"; priority: number };
}

export interface Root {
  path: string;
  readonly?: boolean;
}

export interface LinuxIDMapping {
  containerID: number;
  hostID: number;
  size: number;
}

/** linux.resources: cgroup limits, in OCI's units (v1 semantics: swap is memory + swap). */
export interface LinuxResources {
  /** reservation: a soft limit (v1 soft_limit_in_bytes, v2 memory.low); swappiness 0-100, v1 only. */
  memory?: { limit?: number; swap?: number; reservation?: number; swappiness?: number; disableOOMKiller?: boolean };
  /**
   * shares 2-262144; quota and period in microseconds; cpus and mems cpuset
   * lists ("0-2,4"); realtime runtime and period in microseconds (v1 only);
   * idle 0 or 1 (v2 only).
   */
  cpu?: { shares?: number; quota?: number; period?: number; cpus?: string; mems?: string; realtimeRuntime?: number; realtimePeriod?: number; idle?: number };
  pids?: { limit: number };
  /** weight 10-1000. */
  blockIO?: {
    weight?: number;
    /** Per device: a weight (10-1000), and byte and operation rates (per second) for reads and writes. */
    weightDevice?: { major: number; minor: number; weight: number }[];
    throttleReadBpsDevice?: DeviceRate[];
    throttleWriteBpsDevice?: DeviceRate[];
    throttleReadIOPSDevice?: DeviceRate[];
    throttleWriteIOPSDevice?: DeviceRate[];
  };
  /** Huge pages each size may use, in bytes ("2MB": the kernel's name of the size). */
  hugepageLimits?: { pageSize: string; limit: number }[];
  /** cgroup v2 files and the values to write to them (memory.high: "1G"), as they are. */
  unified?: Record<string, string>;
  /** The device cgroup: rules applied in order on top of "deny everything". */
  devices?: LinuxDeviceCgroup[];
}

export interface DeviceRate {
  major: number;
  minor: number;
  rate: number;
}

/** One device cgroup rule; a missing type, major or minor matches any. access: some of r, w, m (default all). */
export interface LinuxDeviceCgroup {
  allow: boolean;
  type?: "a" | "c" | "b";
  major?: number;
  minor?: number;
  access?: string;
}

export interface TimeOffset {
  secs: number;
  nanosecs: number;
}

export interface Linux {
  namespaces: LinuxNamespace[];
  resources?: LinuxResources;
  /** The container's cgroup, relative to each hierarchy's root ("/bunker/ID"); absent: no cgroup of its own. */
  cgroupsPath?: string;
  /** A custom seccomp profile (docker/OCI format); bunker's default is named in the sidecar instead. */
  seccomp?: unknown;
  uidMappings?: LinuxIDMapping[];
  gidMappings?: LinuxIDMapping[];
  devices?: LinuxDevice[];
  maskedPaths?: string[];
  readonlyPaths?: string[];
  /** The root's propagation type (shared, slave, private, unbindable), for it and the mounts below it. */
  rootfsPropagation?: string;
  /** The execution domain: LINUX, or LINUX32 (uname reports a 32-bit machine). */
  personality?: { domain: "LINUX" | "LINUX32" };
  /** With a new time namespace: how far its monotonic and boot-time clocks are set from the host's. */
  timeOffsets?: { monotonic?: TimeOffset; boottime?: TimeOffset };
  /** Namespaced kernel parameters (net.*, the IPC ones), written once /proc is mounted. */
  sysctl?: Record<string, string>;
}

/** An OCI hook: a program, its argv (args[0] included), its environment, a time limit in seconds. */
export interface Hook {
  path: string;
  args?: string[];
  env?: string[];
  timeout?: number;
}

export interface Hooks {
  prestart?: Hook[];
  createRuntime?: Hook[];
  createContainer?: Hook[];
  startContainer?: Hook[];
  poststart?: Hook[];
  poststop?: Hook[];
}

export interface OciSpec {
  ociVersion: string;
  process: Process;
  root: Root;
  hostname?: string;
  domainname?: string;
  mounts: Mount[];
  linux: Linux;
  annotations?: Record<string, string>;
  hooks?: Hooks;
}

/** bunker's own settings that OCI does not cover. */
export interface Sidecar {
  id: string;
  /**
   * "dir": root.path is a root filesystem to pivot into.
   * "host": the host's / is the container's root, read-only (root.path is "/").
   * "image": overlayfs of an image's layers under the container's own upper
   * directory (see `image`; root.path is that directory).
   */
  rootMode: "dir" | "host" | "image";
  /** rootMode "image": the image and the directories its root filesystem is made of. */
  image?: ImageRoot;
  network: NetworkMode;
  /** Published ports, the bridge's subnet, a joined namespace's owner. */
  net?: NetworkSettings;
  /** Files bunker writes into the container: /etc/hostname, /etc/hosts. */
  etcFiles: boolean;
  /** With a user namespace: how the ID maps get written. */
  userns?: UsernsSetup;
  /** Whether the --user process may call setgroups (false after writing "deny"). */
  setgroups: boolean;
  /** The working directory: created (as root, before --user applies) if missing; or left at / if missing. */
  cwd: { create: boolean; optional: boolean };
  /** --init: a native PID 1 that reaps orphans and passes signals to the command. */
  init?: boolean;
  /** Which seccomp filter: bunker's default, none, or linux.seccomp. */
  seccomp?: "default" | "unconfined" | "custom";
  /** A container's log when it runs detached (--log-driver, --log-opt). */
  log?: LogSettings;
  /** --add-host: more lines of /etc/hosts. */
  extraHosts?: ExtraHost[];
  /** --dns, --dns-search, --dns-option: what /etc/resolv.conf says instead. */
  dns?: DnsSettings;
  /** --label (and an image's Labels): shown by inspect. */
  labels?: Record<string, string>;
  /** --ipc: shareable (others may join it; the default), private, none (no /dev/shm), or container:ID (joined). */
  ipcMode?: string;
  /** --pid container:ID: the container whose PID namespace it joined. */
  pidMode?: string;
  /** --ipc container:ID: the other container's first process, whose /dev/shm is bound as this one's. */
  shmFrom?: number;
  /** --userns keep-id: /etc/passwd and /etc/group as the container gets them, with the caller's entries added. */
  userFiles?: { passwd?: string; group?: string };
  /** --device: the host node behind each of linux.devices' paths that is not the same path on the host. */
  deviceSources?: Record<string, string>;
  /** The ports it exposes ("80/tcp"): the image's ExposedPorts and --expose's; -P publishes them. */
  exposedPorts?: string[];
  /** --stop-timeout: the seconds `bunker stop` waits before SIGKILL (10 otherwise). */
  stopTimeout?: number;
  /** -i with -d (or create): its stdin stays open for `bunker attach`. */
  stdin?: boolean;
  /** --restart: what happens when a detached container ends (none: it stays stopped). */
  restart?: RestartPolicy;
  /** The signal `bunker stop` sends first (--stop-signal, an image's StopSignal); SIGTERM otherwise. */
  stopSignal?: number;
  /** seccomp(2)'s filter flags for the filter (linux.seccomp.flags: LOG, SPEC_ALLOW, TSYNC). */
  seccompFlags?: number;
  /** linux.resources.pids is bunker's default, not asked for: dropped, not an error, where it cannot apply. */
  pidsDefault?: boolean;
  /** The cgroup at linux.cgroupsPath must be made (an OCI client's, as root): never run without it. */
  cgroupRequired?: boolean;
  /** What -v, --mount and --volumes-from bound (not tmpfs): what --volumes-from of this container takes, and which volumes it uses. */
  volumes?: VolumeUse[];
  /** --health-cmd and the rest, or the image's HEALTHCHECK (spec/health.ts). */
  healthcheck?: HealthConfig;
}

/** A bind of the run's flags: a host path, or a volume of the store by name. */
export interface VolumeUse {
  destination: string;
  /** The host path bound: the volume's data directory for a volume. */
  source: string;
  readonly: boolean;
  /** A volume of the store. */
  name?: string;
  /** A volume made for this container alone (-v PATH): removed with it by --rm or rm -v. */
  anonymous?: boolean;
}

/** A health check (docker's Healthcheck): durations in nanoseconds, 0 for docker's default. */
export interface HealthConfig {
  /** ["CMD", PROGRAM, ARG...] or ["CMD-SHELL", "COMMAND"]. */
  test: string[];
  interval: number;
  timeout: number;
  startPeriod: number;
  startInterval: number;
  retries: number;
}

export interface ImageRoot {
  /** sha256:... of the image's config. */
  id: string;
  /** The name it was run by, as given. */
  ref: string;
  /** Its layers' directories, bottom first. */
  lower: string[];
  /** The container's own: where its changes go, and overlayfs's work directory. */
  upper: string;
  work: string;
  /** overlayfs's userxattr: whiteouts and opaque directories in user.* attributes (a user namespace's). */
  userxattr: boolean;
  /**
   * How the root filesystem is made: "overlay", the kernel's overlayfs,
   * mounted by the container's child; "fuse-overlayfs", that program serving
   * it from the container's user and mount namespaces (for a user whose
   * kernel refuses overlayfs there); "copy", a copy of the layers.
   */
  driver: RootfsDriver;
  /** fuse-overlayfs's mount point, or the copy: where the container's root is bound from. */
  merged: string;
  /**
   * The image's volumes no mount of the run covers: each a directory of the
   * container's own, filled with what the image has there, bound read-write
   * (docker's anonymous volumes; removed with the container).
   */
  volumes?: { destination: string; source: string }[];
}

export type RootfsDriver = "overlay" | "fuse-overlayfs" | "copy";

/** --add-host NAME:IP (spec/hosts.ts); IP may be "host-gateway". */
export interface ExtraHost {
  name: string;
  ip: string;
}

/** --dns, --dns-search, --dns-option (spec/hosts.ts). */
export interface DnsSettings {
  servers: string[];
  search: string[];
  options: string[];
}

/** A detached container's log (spec/logging.ts). */
export interface LogSettings {
  driver: "json-file" | "none";
  /** Bytes a file may reach before it rotates (0: no cap). */
  maxSize: number;
  /** Files kept, the current one included. */
  maxFiles: number;
}

export interface UsernsSetup {
  /** "helpers": newuidmap/newgidmap with subordinate ranges; "direct": bunker writes the maps itself. */
  writer: "helpers" | "direct";
  /** Paths of newuidmap and newgidmap when writer is "helpers". */
  newuidmap?: string;
  newgidmap?: string;
}

/**
 * none: own namespace with lo only; host: the host's; bridge: a veth on bunker0;
 * slirp4netns, pasta: a user-mode helper; joined: another container's or a pinned namespace.
 */
export type NetworkMode = "none" | "host" | "bridge" | "slirp4netns" | "pasta" | "joined" | "named";

export interface PortMapping {
  /** 0.0.0.0 for every host address. */
  hostIp: string;
  /** 0 until the container starts: any free port. */
  hostPort: number;
  containerPort: number;
  protocol: "tcp" | "udp";
  /** A range: this many consecutive ports from hostPort and containerPort (absent: one). */
  range?: number;
}

export interface NetworkSettings {
  /** -p/--publish. */
  ports: PortMapping[];
  /** --subnet for the bridge (used when bunker0 is created). */
  subnet?: string;
  /** What a joined namespace belongs to: "container:ID" or "ns:PATH". */
  joined?: string;
  /** slirp4netns, pasta: the container may reach the host's loopback (allow_host_loopback). */
  allowHostLoopback?: boolean;
  /** --network NAME (one or more): networks made by `network create`, in order; the first has the default route and the published ports. */
  networks?: NetworkAttachment[];
  /**
   * A user's container on a user-defined network: the user namespace it is
   * made in (the rootless network namespace's, /proc/PID/ns/user), with a
   * network namespace of its own that the network's veth is plumbed into
   * once made (see runtime/userns-from.ts).
   */
  usernsFrom?: string;
}

/** A container on a network made by `network create`: --ip and --network-alias (connect's --ip and --alias). */
export interface NetworkAttachment {
  name: string;
  ip?: string;
  aliases?: string[];
}

export interface ContainerSpec {
  oci: OciSpec;
  bunker: Sidecar;
}

/** docker's restart policies (--restart). */
export interface RestartPolicy {
  name: "no" | "on-failure" | "always" | "unless-stopped";
  /** on-failure:N, the most restarts (none: no limit). */
  maxRetries?: number;
}
