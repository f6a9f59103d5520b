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

export interface Process {
  terminal?: boolean;
  user: User;
  args: string[];
  env: string[];
  cwd: string;
}

export interface Root {
  path: string;
  readonly?: boolean;
}

export interface Linux {
  namespaces: LinuxNamespace[];
  devices?: LinuxDevice[];
  maskedPaths?: string[];
  readonlyPaths?: string[];
}

export interface OciSpec {
  ociVersion: string;
  process: Process;
  root: Root;
  hostname?: string;
  domainname?: string;
  mounts: Mount[];
  linux: Linux;
}

/** bunker's own settings that OCI does not cover. */
export interface Sidecar {
  id: string;
  /**
   * "dir": root.path is a root filesystem to pivot into.
   * "host": the host's / is the container's root, read-only (root.path is "/").
   */
  rootMode: "dir" | "host";
  network: NetworkMode;
  /** Files bunker writes into the container: /etc/hostname, /etc/hosts. */
  etcFiles: boolean;
}

export type NetworkMode = "none" | "host";

export interface ContainerSpec {
  oci: OciSpec;
  bunker: Sidecar;
}
