// Reading a bundle's config.json: each field checked for its type, and named
// (process.args, mounts[2].options) when it is wrong or asks for something
// bunker cannot honour. Nothing is dropped silently.

import { CAPABILITIES } from "../security/caps";
import type { Hook, Hooks, LinuxCapabilities, LinuxDevice, LinuxDeviceCgroup, LinuxIDMapping, LinuxNamespace, LinuxResources, Linux, Mount, NamespaceType, POSIXRlimit, User } from "../spec/types";
import { BunkerError } from "../errors";

export class ConfigError extends BunkerError {
  override name = "ConfigError";
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

function fail(path: string, what: string): never {
  throw new ConfigError(`${path}: ${what}`);
}

export function obj(v: unknown, path: string): Obj {
  if (!isObj(v)) fail(path, "must be an object");
  return v;
}

export function optObj(v: unknown, path: string): Obj | undefined {
  return v === undefined || v === null ? undefined : obj(v, path);
}

export function str(v: unknown, path: string): string {
  if (typeof v !== "string") fail(path, "must be a string");
  return v;
}

export function optStr(v: unknown, path: string): string | undefined {
  return v === undefined ? undefined : str(v, path);
}

export function bool(v: unknown, path: string): boolean | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") fail(path, "must be true or false");
  return v;
}

/** An integer in [min, max]. */
export function int(v: unknown, path: string, min = -(2 ** 53), max = 2 ** 53): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) fail(path, `must be an integer${min > -(2 ** 53) ? ` from ${min}` : ""}${max < 2 ** 53 ? ` to ${max}` : ""}`);
  return v;
}

export function optInt(v: unknown, path: string, min?: number, max?: number): number | undefined {
  return v === undefined || v === null ? undefined : int(v, path, min, max);
}

export function strings(v: unknown, path: string): string[] {
  if (!Array.isArray(v)) fail(path, "must be a list of strings");
  v.forEach((x, i) => str(x, `${path}[${i}]`));
  return v as string[];
}

export function optStrings(v: unknown, path: string): string[] | undefined {
  return v === undefined || v === null ? undefined : strings(v, path);
}

function list(v: unknown, path: string): unknown[] {
  if (!Array.isArray(v)) fail(path, "must be a list");
  return v;
}

/**
 * Refuses the fields of `o` the runtime-spec defines and bunker does not
 * honour (`notYet`, with why), when they are set. Any property the spec does
 * not define is ignored, as its extensibility rule requires of runtimes (a
 * newer spec's field, a client's own extension).
 */
export function refuseNotYet(o: Obj, path: string, notYet: Record<string, string>): void {
  for (const [k, v] of Object.entries(o)) {
    if (v === undefined || v === null) continue;
    if (k in notYet) fail(path ? `${path}.${k}` : k, notYet[k]!);
  }
}

export function user(v: unknown, path: string): User {
  const o = obj(v, path);
  refuseNotYet(o, path, { username: "is for Windows containers" });
  const u: User = { uid: int(o.uid, `${path}.uid`, 0, 2 ** 32 - 2), gid: int(o.gid, `${path}.gid`, 0, 2 ** 32 - 2) };
  const umask = optInt(o.umask, `${path}.umask`, 0, 0o777);
  if (umask !== undefined) u.umask = umask;
  if (o.additionalGids !== undefined && o.additionalGids !== null) {
    u.additionalGids = list(o.additionalGids, `${path}.additionalGids`).map((g, i) => int(g, `${path}.additionalGids[${i}]`, 0, 2 ** 32 - 2));
  }
  return u;
}

const CAP_SETS = ["bounding", "effective", "inheritable", "permitted", "ambient"] as const;

export function capabilities(v: unknown, path: string): LinuxCapabilities {
  const o = obj(v, path);
  const caps: LinuxCapabilities = {};
  for (const set of CAP_SETS) {
    const names = optStrings(o[set], `${path}.${set}`);
    if (!names) continue;
    names.forEach((n, i) => {
      if (!n.startsWith("CAP_") || !(CAPABILITIES as readonly string[]).includes(n.slice(4))) fail(`${path}.${set}[${i}]`, `unknown capability "${n}"`);
    });
    caps[set] = names;
  }
  return caps;
}

const RLIMITS = ["RLIMIT_AS", "RLIMIT_CORE", "RLIMIT_CPU", "RLIMIT_DATA", "RLIMIT_FSIZE", "RLIMIT_LOCKS", "RLIMIT_MEMLOCK", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_RSS", "RLIMIT_RTPRIO", "RLIMIT_RTTIME", "RLIMIT_SIGPENDING", "RLIMIT_STACK"];

export function rlimits(v: unknown, path: string): POSIXRlimit[] {
  const seen = new Set<string>();
  return list(v, path).map((r, i) => {
    const at = `${path}[${i}]`;
    const o = obj(r, at);
    const type = str(o.type, `${at}.type`);
    if (!RLIMITS.includes(type)) fail(`${at}.type`, `unknown limit "${type}"`);
    if (seen.has(type)) fail(`${at}.type`, `${type} is given twice`);
    seen.add(type);
    const hard = int(o.hard, `${at}.hard`, 0, 2 ** 64);
    const soft = int(o.soft, `${at}.soft`, 0, 2 ** 64);
    if (soft > hard) fail(at, `the soft limit ${soft} is above the hard limit ${hard}`);
    return { type, hard, soft };
  });
}

const NS_TYPES: readonly NamespaceType[] = ["pid", "network", "mount", "ipc", "uts", "user", "cgroup", "time"];

export function namespaces(v: unknown, path: string): LinuxNamespace[] {
  const seen = new Set<string>();
  return list(v, path).map((n, i) => {
    const at = `${path}[${i}]`;
    const o = obj(n, at);
    const type = str(o.type, `${at}.type`);
    if (!NS_TYPES.includes(type as NamespaceType)) fail(`${at}.type`, `unknown namespace type "${type}" (one of ${NS_TYPES.join(", ")})`);
    if (seen.has(type)) fail(`${at}.type`, `the ${type} namespace is given twice`);
    seen.add(type);
    const p = optStr(o.path, `${at}.path`);
    if (p !== undefined && !p.startsWith("/")) fail(`${at}.path`, `"${p}" must be absolute`);
    return p ? { type: type as NamespaceType, path: p } : { type: type as NamespaceType };
  });
}

export function idMappings(v: unknown, path: string): LinuxIDMapping[] {
  return list(v, path).map((m, i) => {
    const at = `${path}[${i}]`;
    const o = obj(m, at);
    return { containerID: int(o.containerID, `${at}.containerID`, 0, 2 ** 32 - 1), hostID: int(o.hostID, `${at}.hostID`, 0, 2 ** 32 - 1), size: int(o.size, `${at}.size`, 1, 2 ** 32 - 1) };
  });
}

export function devices(v: unknown, path: string): LinuxDevice[] {
  return list(v, path).map((d, i) => {
    const at = `${path}[${i}]`;
    const o = obj(d, at);
    const p = str(o.path, `${at}.path`);
    if (!p.startsWith("/dev/") || p.split("/").includes("..")) fail(`${at}.path`, `"${p}" must lie in /dev`);
    const type = str(o.type, `${at}.type`);
    if (type !== "c" && type !== "u" && type !== "b" && type !== "p") fail(`${at}.type`, `unknown device type "${type}" (c, u, b or p)`);
    // A FIFO has no device number.
    const number = (v: unknown, what: string, max: number) => (type === "p" ? (optInt(v, `${at}.${what}`, 0, max) ?? 0) : int(v, `${at}.${what}`, 0, max));
    const dev: LinuxDevice = { path: p, type, major: number(o.major, "major", 4095), minor: number(o.minor, "minor", 2 ** 20 - 1) };
    const mode = optInt(o.fileMode, `${at}.fileMode`, 0, 0o7777);
    if (mode !== undefined) dev.fileMode = mode;
    const uid = optInt(o.uid, `${at}.uid`, 0, 2 ** 32 - 2);
    if (uid !== undefined) dev.uid = uid;
    const gid = optInt(o.gid, `${at}.gid`, 0, 2 ** 32 - 2);
    if (gid !== undefined) dev.gid = gid;
    return dev;
  });
}

/** crun's extensions. */
const NOT_YET = new Set(["tmpcopyup", "copy-symlink"]);

export function mounts(v: unknown, path: string, bundle: string): Mount[] {
  return list(v, path).map((m, i) => {
    const at = `${path}[${i}]`;
    const o = obj(m, at);
    const destination = str(o.destination, `${at}.destination`);
    if (!destination.startsWith("/")) fail(`${at}.destination`, `"${destination}" must be absolute`);
    const options = optStrings(o.options, `${at}.options`) ?? [];
    for (const opt of options) if (NOT_YET.has(opt)) fail(`${at}.options`, `"${opt}" is not supported yet`);
    let type = optStr(o.type, `${at}.type`);
    let source = optStr(o.source, `${at}.source`);
    const bind = type === "bind" || options.includes("bind") || options.includes("rbind");
    if (bind) {
      type = "bind";
      if (source === undefined || source === "") fail(`${at}.source`, "a bind mount needs a source");
      if (!source.startsWith("/")) source = `${bundle}/${source}`;
      // A bind without "bind" or "rbind" is recursive, as runc's "bind" type is.
      if (!options.includes("bind") && !options.includes("rbind")) options.push("rbind");
    } else {
      if (type === undefined || type === "") fail(`${at}.type`, "a mount that is not a bind needs a type");
      // cgroup and cgroup2 both give the container its own cgroups, read-only, as bunker mounts them.
      if (type === "cgroup2") type = "cgroup";
    }
    const uidMappings = o.uidMappings !== undefined && o.uidMappings !== null ? idMappings(o.uidMappings, `${at}.uidMappings`) : undefined;
    const gidMappings = o.gidMappings !== undefined && o.gidMappings !== null ? idMappings(o.gidMappings, `${at}.gidMappings`) : undefined;
    if ((uidMappings === undefined) !== (gidMappings === undefined)) fail(`${at}.${uidMappings ? "gidMappings" : "uidMappings"}`, "an id-mapped mount needs both uidMappings and gidMappings");
    const idmapped = uidMappings !== undefined || options.includes("idmap") || options.includes("ridmap");
    if (idmapped && type !== "bind") fail(`${at}.options`, "only bind mounts can be id-mapped");
    return { destination, type, ...(source !== undefined ? { source } : {}), options, ...(uidMappings ? { uidMappings, gidMappings: gidMappings! } : {}) };
  });
}

/** linux.resources: what bunker's cgroup drivers set; anything else asked for is an error naming it. */
export function resources(v: unknown, path: string): LinuxResources | undefined {
  const o = obj(v, path);
  const r: LinuxResources = {};
  const none = (x: unknown) => x === undefined || x === null || x === 0 || x === false || (Array.isArray(x) && x.length === 0) || (isObj(x) && Object.keys(x).length === 0);
  const refuse = (sub: Obj, at: string, keys: string[]) => {
    for (const k of Object.keys(sub)) if (!keys.includes(k) && !none(sub[k])) fail(`${at}.${k}`, "is not supported yet");
  };
  const mem = optObj(o.memory, `${path}.memory`);
  if (mem) {
    // Kernel memory limits are gone from the kernel (5.16 ignores them, cgroup v2 never had them): ignored, as runc does.
    refuse(mem, `${path}.memory`, ["limit", "swap", "reservation", "swappiness", "kernel", "kernelTCP", "disableOOMKiller", "useHierarchy", "checkBeforeUpdate"]);
    const limit = optInt(mem.limit, `${path}.memory.limit`, -1);
    const swap = optInt(mem.swap, `${path}.memory.swap`, -1);
    const reservation = optInt(mem.reservation, `${path}.memory.reservation`, -1);
    const swappiness = optInt(mem.swappiness, `${path}.memory.swappiness`, 0, 2 ** 64);
    if (swappiness !== undefined && swappiness > 100) fail(`${path}.memory.swappiness`, `${swappiness} is above 100`);
    const m: NonNullable<LinuxResources["memory"]> = {};
    // -1: no limit (what an update that lifts one sends); 0: none given.
    if (limit !== undefined && limit !== 0) m.limit = limit;
    if (swap !== undefined && swap !== 0) m.swap = swap;
    if (reservation !== undefined && reservation > 0) m.reservation = reservation;
    if (swappiness !== undefined) m.swappiness = swappiness;
    if (bool(mem.disableOOMKiller, `${path}.memory.disableOOMKiller`)) m.disableOOMKiller = true;
    if (Object.keys(m).length) r.memory = m;
  }
  const cpu = optObj(o.cpu, `${path}.cpu`);
  if (cpu) {
    refuse(cpu, `${path}.cpu`, ["shares", "quota", "period", "cpus", "mems", "realtimeRuntime", "realtimePeriod", "idle"]);
    const c: NonNullable<LinuxResources["cpu"]> = {};
    const shares = optInt(cpu.shares, `${path}.cpu.shares`, 0);
    if (shares) c.shares = shares;
    const quota = optInt(cpu.quota, `${path}.cpu.quota`, -1);
    if (quota !== undefined && quota !== 0) c.quota = quota;
    const period = optInt(cpu.period, `${path}.cpu.period`, 0);
    if (period) c.period = period;
    const cpus = optStr(cpu.cpus, `${path}.cpu.cpus`);
    if (cpus) c.cpus = cpus;
    const mems = optStr(cpu.mems, `${path}.cpu.mems`);
    if (mems) c.mems = mems;
    const rtRuntime = optInt(cpu.realtimeRuntime, `${path}.cpu.realtimeRuntime`, -1);
    if (rtRuntime) c.realtimeRuntime = rtRuntime;
    const rtPeriod = optInt(cpu.realtimePeriod, `${path}.cpu.realtimePeriod`, 0);
    if (rtPeriod) c.realtimePeriod = rtPeriod;
    const idle = optInt(cpu.idle, `${path}.cpu.idle`, 0, 1);
    if (idle !== undefined) c.idle = idle;
    if (Object.keys(c).length) r.cpu = c;
  }
  const pids = optObj(o.pids, `${path}.pids`);
  if (pids) {
    const limit = optInt(pids.limit, `${path}.pids.limit`, -1);
    if (limit !== undefined && limit !== 0) r.pids = { limit };
  }
  const bio = optObj(o.blockIO, `${path}.blockIO`);
  if (bio) {
    refuse(bio, `${path}.blockIO`, ["weight", "leafWeight", "weightDevice", "throttleReadBpsDevice", "throttleWriteBpsDevice", "throttleReadIOPSDevice", "throttleWriteIOPSDevice"]);
    if (!none(bio.leafWeight)) fail(`${path}.blockIO.leafWeight`, "is not supported (the kernel dropped it in 5.0)");
    const b: NonNullable<LinuxResources["blockIO"]> = {};
    const weight = optInt(bio.weight, `${path}.blockIO.weight`, 0, 1000);
    if (weight) b.weight = weight;
    const device = (d: unknown, at: string) => {
      const x = obj(d, at);
      return { major: int(x.major, `${at}.major`, 0, 4095), minor: int(x.minor, `${at}.minor`, 0, 2 ** 20 - 1), x };
    };
    if (!none(bio.weightDevice)) {
      b.weightDevice = list(bio.weightDevice, `${path}.blockIO.weightDevice`).map((d, i) => {
        const at = `${path}.blockIO.weightDevice[${i}]`;
        const { major, minor, x } = device(d, at);
        if (!none(x.leafWeight)) fail(`${at}.leafWeight`, "is not supported (the kernel dropped it in 5.0)");
        return { major, minor, weight: int(x.weight, `${at}.weight`, 10, 1000) };
      });
    }
    for (const field of ["throttleReadBpsDevice", "throttleWriteBpsDevice", "throttleReadIOPSDevice", "throttleWriteIOPSDevice"] as const) {
      if (none(bio[field])) continue;
      b[field] = list(bio[field], `${path}.blockIO.${field}`).map((d, i) => {
        const at = `${path}.blockIO.${field}[${i}]`;
        const { major, minor, x } = device(d, at);
        return { major, minor, rate: int(x.rate, `${at}.rate`, 0) };
      });
    }
    if (Object.keys(b).length) r.blockIO = b;
  }
  if (o.devices !== undefined && o.devices !== null) r.devices = deviceRules(o.devices, `${path}.devices`);
  if (!none(o.hugepageLimits)) {
    r.hugepageLimits = list(o.hugepageLimits, `${path}.hugepageLimits`).map((h, i) => {
      const at = `${path}.hugepageLimits[${i}]`;
      const x = obj(h, at);
      const pageSize = str(x.pageSize, `${at}.pageSize`);
      if (!/^\d+[KMG]B$/.test(pageSize)) fail(`${at}.pageSize`, `"${pageSize}" is not a page size as the kernel names them (2MB, 1GB, 64KB)`);
      return { pageSize, limit: int(x.limit, `${at}.limit`, 0) };
    });
  }
  if (!none(o.unified)) {
    const u = obj(o.unified, `${path}.unified`);
    r.unified = {};
    for (const [key, value] of Object.entries(u)) {
      // A file of the container's own cgroup directory, never a path out of it.
      if (!/^[a-z_]+\.[a-z0-9_.]+$/.test(key) || key.includes("..")) fail(`${path}.unified`, `"${key}" is not a cgroup v2 file name`);
      // cgroup.procs, cgroup.kill, cgroup.freeze, cgroup.subtree_control...: the container's own handling, not a limit.
      if (key.startsWith("cgroup.") && !/^cgroup\.max\.(depth|descendants)$/.test(key)) fail(`${path}.unified`, `"${key}" is not a limit (of the cgroup.* files only cgroup.max.depth and cgroup.max.descendants are)`);
      r.unified[key] = str(value, `${path}.unified["${key}"]`);
    }
  }
  for (const k of ["network", "rdma"]) if (!none(o[k])) fail(`${path}.${k}`, "is not supported yet");
  return Object.keys(r).length ? r : undefined;
}

function deviceRules(v: unknown, path: string): LinuxDeviceCgroup[] {
  return list(v, path).map((d, i) => {
    const at = `${path}[${i}]`;
    const o = obj(d, at);
    const allow = bool(o.allow, `${at}.allow`);
    if (allow === undefined) fail(`${at}.allow`, "must be true or false");
    const rule: LinuxDeviceCgroup = { allow };
    const type = optStr(o.type, `${at}.type`);
    if (type !== undefined) {
      if (type !== "a" && type !== "c" && type !== "b") fail(`${at}.type`, `"${type}" is not a, c or b`);
      rule.type = type;
    }
    const major = optInt(o.major, `${at}.major`, -1);
    if (major !== undefined && major >= 0) rule.major = major;
    const minor = optInt(o.minor, `${at}.minor`, -1);
    if (minor !== undefined && minor >= 0) rule.minor = minor;
    const access = optStr(o.access, `${at}.access`);
    if (access !== undefined) {
      if (!/^[rwm]*$/.test(access)) fail(`${at}.access`, `"${access}" is not made of r, w and m`);
      rule.access = access;
    }
    return rule;
  });
}

const HOOK_KINDS = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"] as const;

/** hooks: each kind a list of programs with an absolute path, their argv and environment, a time limit above 0. */
export function hooks(v: unknown, path: string): Hooks | undefined {
  const o = obj(v, path);
  const out: Hooks = {};
  for (const kind of HOOK_KINDS) {
    if (o[kind] === undefined || o[kind] === null) continue;
    out[kind] = list(o[kind], `${path}.${kind}`).map((h, i) => {
      const at = `${path}.${kind}[${i}]`;
      const x = obj(h, at);
      const p = str(x.path, `${at}.path`);
      if (!p.startsWith("/")) fail(`${at}.path`, `"${p}" must be absolute`);
      const hook: Hook = { path: p };
      const args = optStrings(x.args, `${at}.args`);
      if (args) hook.args = args;
      const env = optStrings(x.env, `${at}.env`);
      if (env) {
        env.forEach((e, j) => {
          if (!e.includes("=")) fail(`${at}.env[${j}]`, `"${e}" is not NAME=VALUE`);
        });
        hook.env = env;
      }
      const timeout = optInt(x.timeout, `${at}.timeout`, 1);
      if (timeout !== undefined) hook.timeout = timeout;
      return hook;
    });
  }
  return Object.keys(out).length ? out : undefined;
}

/** linux.timeOffsets: per clock (monotonic, boottime), whole seconds and nanoseconds below one second. */
export function offsets(v: unknown, path: string): NonNullable<Linux["timeOffsets"]> {
  const out: NonNullable<Linux["timeOffsets"]> = {};
  for (const [clock, value] of Object.entries(obj(v, path))) {
    if (clock !== "monotonic" && clock !== "boottime") fail(`${path}.${clock}`, "is not a clock a time namespace offsets (monotonic, boottime)");
    const o = obj(value, `${path}.${clock}`);
    out[clock] = { secs: optInt(o.secs, `${path}.${clock}.secs`) ?? 0, nanosecs: optInt(o.nanosecs, `${path}.${clock}.nanosecs`, 0, 999_999_999) ?? 0 };
  }
  return out;
}
