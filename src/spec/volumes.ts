// -v HOST:CONTAINER[:OPTS], -v NAME:CONTAINER[:OPTS] (a named volume), -v
// CONTAINER (an anonymous one) and --tmpfs PATH[:OPTS], as OCI mounts.
// --mount's syntax is in mount-flag.ts.

import type { Mount } from "./types";
import { SpecError } from "./validate";

export interface Volume {
  source: string;
  destination: string;
  readonly: boolean;
  recursive: boolean;
  flags: string[];
  /** Whether ro or rw was said (the read-only default is then no surprise). */
  explicit?: boolean;
  /**
   * "volume": a volume of the store, by name in `source` ("" for a new
   * anonymous one), read-write unless ro is said; absent: a host path.
   */
  kind?: "volume";
  /** nocopy: the volume does not start with what the image has there. */
  nocopy?: boolean;
  /** A bind's propagation (rprivate, shared, ...). */
  propagation?: string;
}

/** A name docker takes for a local volume: never a path, never "." or "..", no NUL. */
export const VOLUME_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/;

/** Refuses what is no volume name, in docker's words. */
export function checkVolumeName(name: string, what = "volume"): void {
  if (!VOLUME_NAME.test(name)) {
    throw new SpecError(`${what}: "${name.replace(/\0/g, "\\0")}" includes invalid characters for a local volume name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use absolute path`);
  }
}

/** Whether a -v source is a host path rather than a volume's name (docker's rule: a path has a slash, or starts with . or ~). */
export const isHostPath = (source: string) => source.includes("/") || source.startsWith(".") || source.startsWith("~");

const VOLUME_FLAGS = ["nosuid", "nodev", "noexec"];

export function checkDestination(dest: string, what: string): string {
  if (dest === "") throw new SpecError(`${what}: the container path is empty`);
  if (!dest.startsWith("/")) throw new SpecError(`${what}: container path "${dest}" must be absolute`);
  const clean = `/${dest.split("/").filter((p) => p !== "" && p !== ".").join("/")}`;
  if (clean.split("/").includes("..")) throw new SpecError(`${what}: container path "${dest}" must not contain ".."`);
  if (clean === "/") throw new SpecError(`${what}: cannot mount over the container's /`);
  return clean;
}

/**
 * Parses one -v value. Host paths are read-only unless "rw" is given
 * (bunker's own default); volumes of the store are read-write unless "ro" is.
 */
export function parseVolume(value: string): Volume {
  const parts = value.split(":");
  if (value === "") throw new SpecError(`invalid volume "": it is empty: use HOST:CONTAINER[:OPTIONS]`);
  // -v /data: a new anonymous volume there.
  if (parts.length === 1 && value.startsWith("/")) return { source: "", destination: checkDestination(value, `volume ${value}`), readonly: false, recursive: true, flags: [], kind: "volume" };
  if (parts.length < 2 || parts.length > 3) throw new SpecError(`invalid volume "${value}": use HOST:CONTAINER[:OPTIONS], NAME:CONTAINER[:OPTIONS] or CONTAINER`);
  // An empty host path would quietly mean the current directory.
  if (parts[0] === "") throw new SpecError(`volume "${value}": the host path is empty`);
  if (parts[1] === "") throw new SpecError(`volume "${value}": the container path is empty`);
  const destination = checkDestination(parts[1]!, `volume ${value}`);
  const v: Volume = { source: parts[0]!, destination, readonly: true, recursive: true, flags: [] };
  for (const opt of parts[2] !== undefined ? parts[2].split(",") : []) {
    if (opt === "ro" || opt === "rw") {
      v.readonly = opt === "ro";
      v.explicit = true;
    }
    else if (opt === "rbind") v.recursive = true;
    else if (opt === "bind") v.recursive = false;
    else if (VOLUME_FLAGS.includes(opt)) v.flags.push(opt);
    else if (opt === "nocopy" && !isHostPath(v.source)) v.nocopy = true;
    else if (PROPAGATIONS.includes(opt)) v.propagation = opt;
    else throw new SpecError(`volume ${value}: unknown option "${opt}" (use ro, rw, bind, rbind, nosuid, nodev, noexec, nocopy, ${PROPAGATIONS.join(", ")})`);
  }
  if (isHostPath(v.source)) return v;
  checkVolumeName(v.source, `volume ${value}`);
  return { ...v, kind: "volume", readonly: v.explicit === true && v.readonly };
}

export const PROPAGATIONS = ["rprivate", "private", "rshared", "shared", "rslave", "slave"];

export function volumeMount(v: Volume): Mount {
  return {
    destination: v.destination,
    type: "bind",
    source: v.source,
    options: [v.recursive ? "rbind" : "bind", v.readonly ? "ro" : "rw", ...v.flags, ...(v.propagation !== undefined ? [v.propagation] : [])],
  };
}

const TMPFS_DATA = /^(size=\d+[kKmMgG%]?|mode=[0-7]{3,4}|uid=\d+|gid=\d+|nr_inodes=\d+[kKmMgG]?)$/;
const TMPFS_FLAGS = ["ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec", "noatime", "relatime", "strictatime"];

/** Parses one --tmpfs value: PATH[:size=..,mode=..,...]. */
export function parseTmpfs(value: string): Mount {
  const colon = value.indexOf(":");
  const path = colon >= 0 ? value.slice(0, colon) : value;
  if (path === "") throw new SpecError(`tmpfs "${value}": the container path is empty`);
  const destination = checkDestination(path, `tmpfs ${value}`);
  const opts = colon >= 0 ? value.slice(colon + 1).split(",").filter(Boolean) : [];
  for (const o of opts) {
    if (!TMPFS_DATA.test(o) && !TMPFS_FLAGS.includes(o)) throw new SpecError(`tmpfs ${value}: unknown option "${o}"`);
  }
  return { destination, type: "tmpfs", source: "tmpfs", options: ["nosuid", "nodev", ...opts] };
}

/** Parents before children, so a mount inside another lands in it; otherwise command-line order. */
export function orderMounts(mounts: Mount[]): Mount[] {
  const depth = (m: Mount) => m.destination.split("/").length;
  return mounts.map((m, i) => [m, i] as const).sort((a, b) => depth(a[0]) - depth(b[0]) || a[1] - b[1]).map(([m]) => m);
}
