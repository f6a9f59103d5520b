// What a state.json must hold before anything acts on it. Every command
// reads every container's state, and cgroup paths and pids in it are later
// removed and signalled: a damaged or foreign file is reported as such,
// never half-used.

/** Why `value` is not a container state for `id` (said of state.json: "is ...", "has ..."), or null if it is one. */
export function stateProblem(value: unknown, id: string): string | null {
  if (!isObject(value)) return "is not a JSON object";
  const s = value;
  if (s.id !== id) return typeof s.id === "string" ? `is the state of container ${JSON.stringify(s.id)}` : "has no id";
  if (s.status !== "created" && s.status !== "running" && s.status !== "stopped") return "has no valid status";
  if (!optional(s.name, (v) => typeof v === "string" && NAME.test(v))) return "has an invalid name";
  for (const k of ["pid", "pidStart", "supervisor", "supervisorStart", "memoryLimit", "restartCount", "restartDelay"] as const) {
    if (!optional(s[k], (v) => Number.isSafeInteger(v) && (v as number) >= 0)) return `has an invalid ${k}`;
  }
  if (!optional(s.exitCode, (v) => Number.isSafeInteger(v))) return "has an invalid exitCode";
  if (s.rootfs !== null && typeof s.rootfs !== "string") return "has an invalid rootfs";
  if (!strings(s.command)) return "has no command";
  if (typeof s.created !== "string") return "has no creation time";
  for (const k of ["started", "finished"] as const) if (!optional(s[k], (v) => typeof v === "string")) return `has an invalid ${k} time`;
  for (const k of ["autoRemove", "detached"] as const) if (typeof s[k] !== "boolean") return `has no ${k} flag`;
  for (const k of ["paused", "oomKilled", "killedWithSupervisor", "restarting"] as const) if (!optional(s[k], (v) => typeof v === "boolean")) return `has an invalid ${k} flag`;
  if (!optional(s.namespaces, (v) => isObject(v) && Object.values(v).every((p) => typeof p === "string"))) return "has invalid namespaces";
  if (!optional(s.pinned, (v) => strings(v) && v.every((p) => p.startsWith("/")))) return "has invalid pinned directories";
  if (!optional(s.namespaceIds, (v) => isObject(v) && Object.values(v).every((p) => typeof p === "string"))) return "has invalid namespace identities";
  if (!optional(s.network, validNetwork)) return "has an invalid network";
  if (!optional(s.error, (v) => typeof v === "string")) return "has an invalid error";
  if (!optional(s.logPath, (v) => typeof v === "string" && v.startsWith("/"))) return "has an invalid log path";
  if (!optional(s.rootfsHelper, (h) => isObject(h) && Number.isSafeInteger(h.pid) && optional(h.pidStart, Number.isSafeInteger))) return "has an invalid root filesystem helper";
  if (!optional(s.healthMonitor, (h) => isObject(h) && Number.isSafeInteger(h.pid) && (h.pid as number) > 0 && optional(h.pidStart, Number.isSafeInteger))) return "has an invalid health check process";
  if (!isObject(s.spec) || !isObject(s.spec.bunker) || !isObject(s.spec.oci) || typeof s.spec.bunker.network !== "string") return "has no container spec";
  if (!optional(s.oci, (v) => isObject(v) && typeof v.bundle === "string" && v.bundle.startsWith("/") && optional(v.annotations, (a) => isObject(a) && Object.values(a).every((x) => typeof x === "string")))) return "has an invalid OCI record";
  // Its cgroups are removed and their processes killed: only directories named after this container,
  // or, for one an OCI client created, at the cgroupsPath its config asked for.
  const linux = isObject(s.spec.oci.linux) ? s.spec.oci.linux : {};
  const asked = s.oci !== undefined && typeof linux.cgroupsPath === "string" ? linux.cgroupsPath : undefined;
  if (!optional(s.cgroup, (v) => isObject(v) && Array.isArray(v.dirs) && v.dirs.every((d) => validCgroupDir(d, id, asked)))) return "has invalid cgroups";
  return null;
}

/**
 * Names a container can have: those `--name` accepts (see validateName), and
 * the ids OCI clients give (runc's characters, "+" included, up to 255).
 */
export const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.+-]{0,254}$/;

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function optional(v: unknown, ok: (v: unknown) => boolean): boolean {
  return v === undefined || ok(v);
}

function strings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

function validNetwork(v: unknown): boolean {
  if (!isObject(v) || typeof v.mode !== "string" || !Array.isArray(v.ports) || !v.ports.every(isObject)) return false;
  for (const k of ["ip", "gateway", "subnet", "bridge", "hostLoopback", "joined"]) if (!optional(v[k], (x) => typeof x === "string")) return false;
  if (!optional(v.networks, (n) => Array.isArray(n) && n.every((a) => isObject(a) && ["name", "id", "ip", "gateway", "subnet", "ifname", "veth"].every((k) => typeof a[k] === "string") && strings(a.aliases)))) return false;
  return optional(v.helper, (h) => isObject(h) && typeof h.name === "string" && Number.isSafeInteger(h.pid) && optional(h.pidStart, Number.isSafeInteger));
}

function validCgroupDir(d: unknown, id: string, asked: string | undefined): boolean {
  if (!isObject(d) || typeof d.path !== "string" || d.path.includes("/..") || (d.version !== 1 && d.version !== 2) || !strings(d.controllers)) return false;
  if (d.path.endsWith(`/bunker/${id}`)) return true;
  return asked !== undefined && /^\/?[^/]/.test(asked) && !asked.split("/").includes("..") && d.path.endsWith(`/${asked.replace(/^\//, "")}`);
}
