// A bundle (a directory with config.json and a root filesystem) as a
// container spec: the config as the runtime-spec defines it, checked field by
// field, plus the sidecar bunker derives from it. What the config asks for
// and bunker cannot honour is an error naming the field.

import { SYSCTL_NAME, sysctlNamespace } from "../spec/sysctl";
import type { ContainerSpec, LinuxDevice, NetworkMode, Process, Sidecar, UsernsSetup } from "../spec/types";
import { DEFAULT_DEVICE_RULES, defaultDevices } from "../spec/defaults";
import { SCHED_FLAG, SCHED_POLICY } from "../spec/sched";
import type { HostFacts } from "../runtime/bundle-host";
import { validateHostname, SpecError } from "../spec/validate";
import { capabilities, ConfigError, devices, hooks, idMappings, int, mounts, namespaces, obj, offsets, refuseNotYet, optInt, optObj, optStr, optStrings, resources, rlimits, str, strings, bool, user } from "./config";
import { SECCOMP_FILTER_FLAG } from "../sys/constants";

export interface BundleContext extends HostFacts {
  /** The bundle directory, absolute. */
  bundle: string;
  /** bunker's id for the container (the OCI id is its name). */
  id: string;
}

const NOT_YET_TOP: Record<string, string> = {
  solaris: "is for Solaris",
  windows: "is for Windows",
  vm: "is for virtual-machine runtimes",
  zos: "is for z/OS",
};
const PROCESS_NOT_YET: Record<string, string> = {
  commandLine: "is for Windows",
  execCPUAffinity: "is not supported yet",
};
/** linux.seccomp.flags: seccomp(2)'s filter flags (the notification ones go with listenerPath, which is refused). */
const SECCOMP_FLAGS: Record<string, number> = Object.fromEntries(Object.entries(SECCOMP_FILTER_FLAG).map(([k, v]) => [`SECCOMP_FILTER_FLAG_${k}`, v]));

const LINUX_NOT_YET: Record<string, string> = {
  intelRdt: "is not supported yet",
  memoryPolicy: "is not supported yet",
  netDevices: "is not supported yet",
};

/** The runtime-spec versions this reads: any 1.x, as crun and runc accept those they predate. */
function checkVersion(v: unknown): string {
  const version = str(v, "ociVersion");
  if (!/^1\.\d+\.\d+/.test(version)) throw new ConfigError(`ociVersion: "${version}" is not a runtime-spec 1.x version`);
  return version;
}

export function processOf(v: unknown, ctx: Pick<BundleContext, "lsm">): Process {
  const o = obj(v, "process");
  refuseNotYet(o, "process", PROCESS_NOT_YET);
  const args = strings(o.args, "process.args");
  if (args.length === 0 || args[0] === "") throw new ConfigError("process.args: must name a command");
  const cwd = str(o.cwd, "process.cwd");
  if (!cwd.startsWith("/")) throw new ConfigError(`process.cwd: "${cwd}" must be absolute`);
  const env = optStrings(o.env, "process.env") ?? [];
  env.forEach((e, i) => {
    if (!e.includes("=")) throw new ConfigError(`process.env[${i}]: "${e}" is not NAME=VALUE`);
  });
  const p: Process = { user: user(o.user, "process.user"), args, env, cwd };
  const terminal = bool(o.terminal, "process.terminal");
  if (terminal) p.terminal = true;
  const size = optObj(o.consoleSize, "process.consoleSize");
  if (size) p.consoleSize = { height: int(size.height, "process.consoleSize.height", 0, 65535), width: int(size.width, "process.consoleSize.width", 0, 65535) };
  if (o.capabilities !== undefined && o.capabilities !== null) p.capabilities = capabilities(o.capabilities, "process.capabilities");
  if (o.rlimits !== undefined && o.rlimits !== null) p.rlimits = rlimits(o.rlimits, "process.rlimits");
  const nnp = bool(o.noNewPrivileges, "process.noNewPrivileges");
  if (nnp) p.noNewPrivileges = true;
  const oom = optInt(o.oomScoreAdj, "process.oomScoreAdj", -1000, 1000);
  if (oom !== undefined) p.oomScoreAdj = oom;
  const io = optObj(o.ioPriority, "process.ioPriority");
  if (io) {
    const cls = str(io.class, "process.ioPriority.class");
    if (cls !== "IOPRIO_CLASS_RT" && cls !== "IOPRIO_CLASS_BE" && cls !== "IOPRIO_CLASS_IDLE") throw new ConfigError(`process.ioPriority.class: "${cls}" is not IOPRIO_CLASS_RT, IOPRIO_CLASS_BE or IOPRIO_CLASS_IDLE`);
    p.ioPriority = { class: cls, priority: int(io.priority, "process.ioPriority.priority", 0, 7) };
  }
  const sched = optObj(o.scheduler, "process.scheduler");
  if (sched) p.scheduler = scheduler(sched);
  // As crun: a profile or label is an error only where the host enforces one, which bunker does not apply.
  if (optStr(o.apparmorProfile, "process.apparmorProfile") && ctx.lsm.apparmor) throw new ConfigError("process.apparmorProfile: AppArmor profiles are not supported, and this host has AppArmor enabled");
  if (optStr(o.selinuxLabel, "process.selinuxLabel") && ctx.lsm.selinux) throw new ConfigError("process.selinuxLabel: SELinux labels are not supported, and this host has SELinux enabled");
  return p;
}

/** process.scheduler, each value in the range sched_setattr takes. */
function scheduler(o: Record<string, unknown>): NonNullable<Process["scheduler"]> {
  const policy = str(o.policy, "process.scheduler.policy");
  if (SCHED_POLICY[policy] === undefined) throw new ConfigError(`process.scheduler.policy: "${policy}" is not one of ${Object.keys(SCHED_POLICY).join(", ")}`);
  const flags = optStrings(o.flags, "process.scheduler.flags") ?? [];
  flags.forEach((f, i) => {
    if (SCHED_FLAG[f] === undefined) throw new ConfigError(`process.scheduler.flags[${i}]: unknown flag "${f}"`);
  });
  const out: NonNullable<Process["scheduler"]> = { policy, flags };
  const nice = optInt(o.nice, "process.scheduler.nice", -20, 19);
  if (nice !== undefined) out.nice = nice;
  const priority = optInt(o.priority, "process.scheduler.priority", 0, 99);
  if (priority !== undefined) out.priority = priority;
  for (const k of ["runtime", "deadline", "period"] as const) {
    const v = optInt(o[k], `process.scheduler.${k}`, 0);
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/** Writes the maps: root directly; a user its own single ID directly, anything more through newuidmap/newgidmap. */
function mapWriter(ctx: BundleContext, uidMaps: { hostID: number; size: number }[], gidMaps: { hostID: number; size: number }[]): { setup: UsernsSetup; setgroups: boolean } {
  if (ctx.uid === 0) return { setup: { writer: "direct" }, setgroups: true };
  const own = (maps: { hostID: number; size: number }[], id: number) => maps.length === 1 && maps[0]!.hostID === id && maps[0]!.size === 1;
  if (own(uidMaps, ctx.uid) && own(gidMaps, ctx.gid)) return { setup: { writer: "direct" }, setgroups: false };
  if (!ctx.helpers) throw new ConfigError("linux.uidMappings: mapping more than your own IDs needs newuidmap and newgidmap: install the uidmap package");
  return { setup: { writer: "helpers", ...ctx.helpers }, setgroups: true };
}

/** Sysctls a container may set: those of namespaces that are not the host's (runc's rule). */
function checkSysctl(v: unknown, own: (type: string) => boolean): Record<string, string> {
  const o = obj(v, "linux.sysctl");
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(o)) {
    const at = `linux.sysctl.${key}`;
    out[key] = str(value, at);
    if (!SYSCTL_NAME.test(key)) throw new ConfigError(`${at}: not a sysctl name`);
    const ns = sysctlNamespace(key);
    if (ns === null) throw new ConfigError(`${at}: not a namespaced sysctl; it would change the host`);
    if (!own(ns)) throw new ConfigError(`${at}: needs a ${ns} namespace that is not the host's`);
  }
  return out;
}

export function bundleSpec(config: unknown, ctx: BundleContext): ContainerSpec {
  const c = obj(config, "config.json");
  refuseNotYet(c, "", NOT_YET_TOP);
  const ociVersion = checkVersion(c.ociVersion);
  if (c.process === undefined || c.process === null) throw new ConfigError("process: missing (bunker runs the config's process)");
  const process = processOf(c.process, ctx);
  // No capabilities named: none held (runc's reading), never all of root's.
  process.capabilities ??= {};
  const root = obj(c.root, "root");
  const rel = str(root.path, "root.path");
  if (rel === "") throw new ConfigError("root.path: is empty");
  const rootPath = rel.startsWith("/") ? rel : `${ctx.bundle}/${rel}`;
  if (!ctx.isDir(rootPath)) throw new ConfigError(`root.path: ${rootPath} is not a directory`);
  const hookList = c.hooks !== undefined && c.hooks !== null ? hooks(c.hooks, "hooks") : undefined;
  const linux = optObj(c.linux, "linux") ?? {};
  refuseNotYet(linux, "linux", LINUX_NOT_YET);
  const ns = linux.namespaces !== undefined && linux.namespaces !== null ? namespaces(linux.namespaces, "linux.namespaces") : [];
  const own = (type: string) => ns.some((n) => n.type === type && !n.path);
  const notHosts = (type: string) => ns.some((n) => n.type === type && (!n.path || !ctx.isHostNamespace(n.path, type)));
  const has = (type: string) => ns.some((n) => n.type === type);
  const hostname = optStr(c.hostname, "hostname");
  const domainname = optStr(c.domainname, "domainname");
  if ((hostname || domainname) && !notHosts("uts")) throw new ConfigError(`${hostname ? "hostname" : "domainname"}: needs a uts namespace that is not the host's`);
  if (hostname) {
    try {
      validateHostname(hostname);
    } catch (e) {
      if (e instanceof SpecError) throw new ConfigError(`hostname: ${e.message}`);
      throw e;
    }
  }
  if (!has("mount")) throw new ConfigError("linux.namespaces: bunker needs a mount namespace for the container's root filesystem");
  const uidMappings = linux.uidMappings !== undefined && linux.uidMappings !== null ? idMappings(linux.uidMappings, "linux.uidMappings") : undefined;
  const gidMappings = linux.gidMappings !== undefined && linux.gidMappings !== null ? idMappings(linux.gidMappings, "linux.gidMappings") : undefined;
  const userns = own("user");
  if ((uidMappings?.length || gidMappings?.length) && !userns) throw new ConfigError("linux.uidMappings: mappings need a user namespace of the container's own");
  if (userns && (!uidMappings?.length || !gidMappings?.length)) throw new ConfigError("linux.uidMappings: a new user namespace needs uidMappings and gidMappings");
  if (!has("user") && ctx.uid !== 0) throw new ConfigError("linux.namespaces: an unprivileged caller needs a user namespace (bunker spec --rootless writes one)");
  const writer = userns ? mapWriter(ctx, uidMappings!, gidMappings!) : undefined;

  const netns = ns.find((n) => n.type === "network");
  const network: NetworkMode = !netns ? "host" : netns.path ? "joined" : "none";
  const configDevices = linux.devices !== undefined && linux.devices !== null ? devices(linux.devices, "linux.devices") : [];
  // The devices every container has (runc's defaults), unless the config names the same path.
  const allDevices: LinuxDevice[] = [...defaultDevices().filter((d) => !configDevices.some((x) => x.path === d.path)), ...configDevices];
  const cgroupsPath = optStr(linux.cgroupsPath, "linux.cgroupsPath");
  if (cgroupsPath !== undefined) {
    if (/^[^/]*:[^/]*:/.test(cgroupsPath)) throw new ConfigError(`linux.cgroupsPath: "${cgroupsPath}" is a systemd slice:prefix:name, and bunker manages cgroups itself (leave out --systemd-cgroup, or give a path)`);
    const parts = cgroupsPath.split("/").filter(Boolean);
    if (parts.length === 0 || parts.includes("..") || parts.includes(".")) throw new ConfigError(`linux.cgroupsPath: "${cgroupsPath}" must name a cgroup below the root, without . or ..`);
  }
  const res = linux.resources !== undefined && linux.resources !== null ? resources(linux.resources, "linux.resources") : undefined;
  // As runc: after the config's device rules, the devices every container needs, and its own devices.
  if (res?.devices) {
    res.devices.push(...DEFAULT_DEVICE_RULES.filter((r) => r.allow).map((r) => ({ ...r })));
    for (const d of allDevices) if (d.type !== "p") res.devices.push({ allow: true, type: d.type === "b" ? "b" : "c", major: d.major, minor: d.minor, access: "rwm" });
  }
  const propagation = optStr(linux.rootfsPropagation, "linux.rootfsPropagation");
  if (propagation && !/^r?(shared|slave|private|unbindable)$/.test(propagation)) throw new ConfigError(`linux.rootfsPropagation: "${propagation}" is not shared, slave, private or unbindable`);
  if (optStr(linux.mountLabel, "linux.mountLabel") && ctx.lsm.selinux) throw new ConfigError("linux.mountLabel: SELinux labels are not supported, and this host has SELinux enabled");
  const sysctl = linux.sysctl !== undefined && linux.sysctl !== null ? checkSysctl(linux.sysctl, notHosts) : undefined;
  const seccomp = linux.seccomp !== undefined && linux.seccomp !== null ? obj(linux.seccomp, "linux.seccomp") : undefined;
  if (seccomp?.listenerPath) throw new ConfigError("linux.seccomp.listenerPath: seccomp notification is not supported yet");
  let seccompFlags = 0;
  for (const [i, f] of (seccomp?.flags !== undefined && seccomp.flags !== null ? strings(seccomp.flags, "linux.seccomp.flags") : []).entries()) {
    const bit = SECCOMP_FLAGS[f];
    if (bit === undefined) throw new ConfigError(`linux.seccomp.flags[${i}]: "${f}" is not a flag bunker applies (${Object.keys(SECCOMP_FLAGS).join(", ")}; seccomp notification is not supported yet)`);
    seccompFlags |= bit;
  }
  const timeOffsets = linux.timeOffsets !== undefined && linux.timeOffsets !== null ? offsets(linux.timeOffsets, "linux.timeOffsets") : undefined;
  if (timeOffsets && !own("time")) throw new ConfigError("linux.timeOffsets: needs a time namespace of the container's own");
  const persona = optObj(linux.personality, "linux.personality");
  if (persona) {
    const domain = str(persona.domain, "linux.personality.domain");
    if (domain !== "LINUX" && domain !== "LINUX32") throw new ConfigError(`linux.personality.domain: "${domain}" is not LINUX or LINUX32`);
    if ((optStrings(persona.flags, "linux.personality.flags") ?? []).length) throw new ConfigError("linux.personality.flags: not supported yet");
  }
  const annotations = optObj(c.annotations, "annotations");
  if (annotations) for (const [k, v] of Object.entries(annotations)) str(v, `annotations.${k}`);

  const sidecar: Sidecar = {
    id: ctx.id,
    rootMode: "dir",
    network,
    ...(netns?.path ? { net: { ports: [], joined: `ns:${netns.path}` } } : {}),
    etcFiles: false,
    ...(writer ? { userns: writer.setup } : {}),
    setgroups: writer ? writer.setgroups : true,
    // runc makes a missing working directory.
    cwd: { create: true, optional: false },
    seccomp: seccomp ? "custom" : "unconfined",
    ...(seccompFlags ? { seccompFlags } : {}),
    // As root the client reads the container's cgroup and relies on its device rules: made, or an error.
    ...(ctx.uid === 0 ? { cgroupRequired: true } : {}),
  };
  return {
    oci: {
      ociVersion,
      process,
      root: { path: rootPath, ...(bool(root.readonly, "root.readonly") ? { readonly: true } : {}) },
      ...(hostname !== undefined ? { hostname } : {}),
      ...(domainname !== undefined ? { domainname } : {}),
      mounts: c.mounts !== undefined && c.mounts !== null ? mounts(c.mounts, "mounts", ctx.bundle) : [],
      linux: {
        namespaces: ns,
        devices: allDevices,
        ...(uidMappings ? { uidMappings } : {}),
        ...(gidMappings ? { gidMappings } : {}),
        ...(cgroupsPath !== undefined ? { cgroupsPath } : {}),
        ...(res ? { resources: res } : {}),
        ...(seccomp ? { seccomp } : {}),
        ...(sysctl ? { sysctl } : {}),
        ...(propagation ? { rootfsPropagation: propagation } : {}),
        ...(persona ? { personality: { domain: persona.domain as "LINUX" | "LINUX32" } } : {}),
        ...(timeOffsets ? { timeOffsets } : {}),
        maskedPaths: optStrings(linux.maskedPaths, "linux.maskedPaths") ?? [],
        readonlyPaths: optStrings(linux.readonlyPaths, "linux.readonlyPaths") ?? [],
      },
      ...(annotations ? { annotations: annotations as Record<string, string> } : {}),
      ...(hookList ? { hooks: hookList } : {}),
    },
    bunker: sidecar,
  };
}
