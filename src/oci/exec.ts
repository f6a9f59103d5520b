// bunker exec (runc's): a process in a running container, described by a
// process.json (--process, as containerd and conmon send it) or by flags over
// the container's own process. --detach returns once it runs; the caller (or
// its subreaper) is its parent and collects its end.

import { BunkerError } from "../errors";
import { UsageError, type OptionDefs } from "../options";
import { execIn, openTarget } from "../runtime/exec";
import { findExact, isDamaged, type ContainerState } from "../runtime/store";
import type { Process } from "../spec/types";
import { processOf } from "./bundle";
import { capabilities, ConfigError } from "./config";
import { parseOci, preserveFds } from "./parse";
import type { OciGlobals } from "./route";
import { bundleHost, connectConsole, readJson } from "../runtime/bundle-host";
import { ociStatus } from "./lifecycle";

const OPTIONS: OptionDefs = {
  process: { type: "string", alias: ["p"], valueHint: "FILE", description: "The process, as process.json (the config's process object)" },
  "console-socket": { type: "string", valueHint: "SOCK", description: "With a terminal: send the pty's master to this AF_UNIX socket" },
  cwd: { type: "string", valueHint: "DIR", description: "The working directory" },
  env: { type: "string", alias: ["e"], multiple: true, valueHint: "NAME=VALUE", description: "Add to the environment" },
  tty: { type: "boolean", alias: ["t"], description: "A pseudo-terminal" },
  user: { type: "string", alias: ["u"], valueHint: "UID[:GID]", description: "Run as this user (numeric)" },
  "additional-gids": { type: "string", alias: ["g"], multiple: true, valueHint: "GID", description: "Supplementary groups" },
  cap: { type: "string", alias: ["c"], multiple: true, valueHint: "CAP_NAME", description: "Add a capability" },
  "no-new-privs": { type: "boolean", description: "Set no_new_privs" },
  "preserve-fds": { type: "string", valueHint: "N", description: "Pass descriptors 3 to 3+N-1 to the process" },
  detach: { type: "boolean", alias: ["d"], description: "Return once the process runs" },
  "pid-file": { type: "string", valueHint: "FILE", description: "Write the process's pid there" },
  "process-label": { type: "string", valueHint: "LABEL", description: "SELinux label (refused where SELinux is enforcing)" },
  apparmor: { type: "string", valueHint: "PROFILE", description: "AppArmor profile (refused where AppArmor is enabled)" },
};

const USAGE = "exec [--process FILE | OPTIONS] [--detach] [--pid-file FILE] [--tty --console-socket SOCK] ID [COMMAND [ARG...]]";

function processFile(path: string): Process {
  const value = readJson(path, "--process");
  try {
    return processOf(value, bundleHost());
  } catch (e) {
    if (e instanceof ConfigError) throw new BunkerError(`--process ${path}: ${e.message}`);
    throw e;
  }
}

/** runc's exec without --process: the container's process with the flags' changes. */
function processFromFlags(s: ContainerState, v: Record<string, unknown>, args: string[]): Process {
  const base = s.spec.oci.process;
  if (args.length === 0) throw new UsageError(`exec: no command given: bunker ${USAGE}`);
  const p: Process = { ...base, args, env: [...base.env, ...((v.env as string[] | undefined) ?? [])], terminal: v.tty === true };
  delete p.consoleSize;
  if (v.cwd !== undefined) {
    if (!(v.cwd as string).startsWith("/")) throw new UsageError(`exec: --cwd "${v.cwd}" must be absolute`);
    p.cwd = v.cwd as string;
  }
  if (v.user !== undefined) {
    const m = (v.user as string).match(/^(\d+)(?::(\d+))?$/);
    if (!m) throw new UsageError(`exec: --user "${v.user}" is not UID[:GID]`);
    p.user = { uid: Number(m[1]), gid: Number(m[2] ?? 0) };
  }
  const gids = v["additional-gids"] as string[] | undefined;
  if (gids) {
    if (gids.some((g) => !/^\d+$/.test(g))) throw new UsageError("exec: --additional-gids takes numeric group IDs");
    p.user = { ...p.user, additionalGids: gids.map(Number) };
  }
  const caps = v.cap as string[] | undefined;
  if (caps) {
    try {
      capabilities({ bounding: caps }, "--cap");
    } catch (e) {
      if (e instanceof ConfigError) throw new UsageError(`exec: ${e.message}`);
      throw e;
    }
    const add = (set: string[] | undefined) => [...new Set([...(set ?? []), ...caps])];
    const c = base.capabilities ?? {};
    p.capabilities = { ...c, bounding: add(c.bounding), effective: add(c.effective), permitted: add(c.permitted), ...(p.user.uid !== 0 ? { ambient: add(c.ambient), inheritable: add(c.inheritable) } : {}) };
  }
  if (v["no-new-privs"]) p.noNewPrivileges = true;
  return p;
}

export async function exec(_g: OciGlobals, argv: string[]): Promise<number> {
  const parsed = parseOci(argv, OPTIONS, USAGE);
  const v = parsed.values;
  const [id, ...args] = parsed.rest;
  if (id === undefined) throw new UsageError(`exec: no container given: bunker ${USAGE}`);
  const e = findExact(id);
  if (!e) throw new BunkerError(`container ${id} does not exist`);
  if (isDamaged(e)) throw new BunkerError(`container ${id} is damaged (${e.problem})`);
  const status = ociStatus(e);
  if (status !== "running" || e.pid === undefined || e.pidStart === undefined) throw new BunkerError(status === "paused" ? `container ${id} is paused` : "container not running");
  let proc: Process;
  if (v.process !== undefined) {
    if (args.length) throw new UsageError("exec: --process names the command; give no command after the id");
    proc = processFile(v.process as string);
    // A process.json without capabilities gets the container's, as runc gives them.
    if (!proc.capabilities) proc.capabilities = e.spec.oci.process.capabilities ?? {};
  } else proc = processFromFlags(e, v, args);
  const host = bundleHost();
  if (v["process-label"] && host.lsm.selinux) throw new BunkerError("--process-label: SELinux labels are not supported, and this host has SELinux enabled");
  if (v.apparmor && host.lsm.apparmor) throw new BunkerError("--apparmor: AppArmor profiles are not supported, and this host has AppArmor enabled");
  const socket = v["console-socket"] as string | undefined;
  const detach = v.detach === true;
  if (proc.terminal && detach && socket === undefined) throw new BunkerError("a detached exec with a terminal needs --console-socket");
  if (socket !== undefined && !proc.terminal) throw new BunkerError("--console-socket is given but the process has no terminal");
  const preserve = preserveFds(v["preserve-fds"]);
  const target = openTarget(e.pid, e.pidStart, id);
  const console = socket !== undefined ? connectConsole(socket) : undefined;
  try {
    return await execIn({
      target,
      args: proc.args,
      env: proc.env,
      cwd: proc.cwd,
      user: proc.user,
      spec: e.spec,
      process: proc,
      ...(e.cgroup ? { cgroup: e.cgroup } : {}),
      ...(proc.terminal && console === undefined ? { tty: { interactive: true } } : {}),
      ...(console !== undefined ? { console: console.fd } : {}),
      ...(detach ? { detach: v["pid-file"] !== undefined ? { pidFile: v["pid-file"] as string } : {} } : {}),
      preserveFds: preserve,
    });
  } finally {
    console?.close();
  }
}
