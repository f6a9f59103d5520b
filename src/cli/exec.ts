// bunker exec [-i] [-u USER] [-e K=V] [-w DIR] ID COMMAND...
// bunker exec --ns DIR [...] COMMAND...

import { closeSync, openSync } from "node:fs";
import { BunkerError, EXIT_BUNKER } from "../errors";
import { containerUser, execIn, openPinned, openTarget } from "../runtime/exec";
import { currentStatus, newId, resolveContainer } from "../runtime/store";
import { containerEvent } from "../runtime/events";
import { buildEnvironment } from "../spec/env";
import { DEFAULT_PATH } from "../spec/defaults";
import type { User } from "../spec/types";
import { requirePaths, UsageError, type OptionDefs } from "../options";
import { parseCommand } from "./usage";

const options: OptionDefs = {
  interactive: { type: "boolean", alias: ["i"], description: "Pass your input to the command (without -i its stdin is /dev/null)" },
  tty: { type: "boolean", alias: ["t"], description: "Give the command a terminal (from the container's devpts)" },
  user: { type: "string", alias: ["u"], valueHint: "USER[:GROUP]", description: "Run as this user (default: the container's)" },
  env: { type: "string", alias: ["e"], multiple: true, valueHint: "KEY[=VALUE]", description: "Set a variable on top of the container's (repeatable)" },
  workdir: { type: "string", alias: ["w"], valueHint: "DIR", description: "Working directory (default: the container's)" },
  ns: { type: "string", valueHint: "DIR", description: "Enter namespaces pinned in DIR instead of a container's (with docker's default capabilities, no_new_privs and seccomp filter)" },
  privileged: { type: "boolean", description: "With --ns: every capability and no seccomp filter" },
};

function envMerge(base: string[], flags: string[], caller: Record<string, string | undefined>): string[] {
  const extra = buildEnvironment({ hostname: "", callerEnv: caller, files: [], flags }).slice(3);
  const out = new Map(base.map((e) => [e.slice(0, e.indexOf("=")), e] as const));
  for (const e of extra) {
    const k = e.slice(0, e.indexOf("="));
    if (k === "TERM" && !flags.some((f) => f === "TERM" || f.startsWith("TERM="))) continue;
    out.set(k, e);
  }
  return [...out.values()];
}

export async function exec(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, { name: "exec", description: "Run a command inside a running container", positional: "ID|NAME COMMAND [ARG...]", examples: ["bunker exec -it web sh", "bunker exec -u nobody -e DEBUG=1 web env"], operands: "running" });
  if (!parsed) return 0;
  const v = parsed.values;
  requirePaths(v, { workdir: "-w/--workdir", ns: "--ns" });
  // -t: TERM=xterm, as run gives it (-e TERM=... wins).
  const flags = [...(v.tty ? ["TERM=xterm"] : []), ...((v.env as string[] | undefined) ?? [])];
  const tty = v.tty ? { tty: { interactive: v.interactive === true } } : {};
  // docker's rule, as run's: without -i, nothing of the caller's input reaches the command.
  const nullStdin = !v.interactive && !v.tty ? openSync("/dev/null", "r") : undefined;
  try {
    return await execWith(v, parsed.rest, flags, tty, nullStdin !== undefined ? { stdinFd: nullStdin } : {});
  } finally {
    if (nullStdin !== undefined) closeSync(nullStdin);
  }
}

async function execWith(v: Record<string, unknown>, rest: string[], flags: string[], tty: { tty?: { interactive: boolean } }, stdin: { stdinFd?: number }): Promise<number> {
  const workdir = v.workdir as string | undefined;
  if (workdir !== undefined && !workdir.startsWith("/")) throw new UsageError(`working directory "${workdir}" must be absolute`);
  const pinned = v.ns as string | undefined;

  if (pinned !== undefined) {
    if (rest.length === 0) throw new UsageError("exec: no command given: bunker exec --ns DIR COMMAND [ARG...]");
    if (v.user !== undefined && !/^\d+(:\d+)?$/.test(v.user as string)) throw new UsageError("exec --ns: --user takes numeric IDs (there is no container passwd to look names up in)");
    const [u, g] = ((v.user as string | undefined) ?? "0:0").split(":");
    const user: User = { uid: Number(u), gid: Number(g ?? 0), additionalGids: [Number(g ?? 0)] };
    const env = envMerge([`PATH=${DEFAULT_PATH}`, "HOME=/root"], flags, process.env);
    return execIn({ target: openPinned(pinned), args: rest, env, cwd: workdir ?? "/", user, privileged: v.privileged === true, ...tty, ...stdin });
  }
  if (v.privileged) throw new UsageError("exec: --privileged is for --ns: a command run in a container gets the container's own privileges");

  if (rest.length < 2) throw new UsageError("exec: give a container and a command: bunker exec ID|NAME COMMAND [ARG...]");
  const [ref, ...args] = rest as [string, ...string[]];
  const s = resolveContainer(ref);
  const name = s.name ?? s.id;
  if (currentStatus(s) !== "running" || s.pid === undefined || s.pidStart === undefined) throw new BunkerError(`container ${name} is not running`);
  if (s.paused) throw new BunkerError(`container ${name} is paused: unpause it first (bunker unpause ${name})`);
  const target = openTarget(s.pid, s.pidStart, name);
  const user: User = v.user !== undefined ? containerUser(s, v.user as string) : s.spec.oci.process.user;
  const env = envMerge(s.spec.oci.process.env, flags, process.env);
  // docker's exec events: the command in the action's name, an id for the exec in its attributes.
  const exec = { execID: newId() };
  containerEvent(`exec_create: ${args.join(" ")}`, s, exec);
  containerEvent(`exec_start: ${args.join(" ")}`, s, exec);
  let code = EXIT_BUNKER;
  try {
    code = await execIn({ target, args, env, cwd: workdir ?? s.spec.oci.process.cwd, user, spec: s.spec, ...(s.cgroup ? { cgroup: s.cgroup } : {}), ...tty, ...stdin });
    return code;
  } catch (e) {
    // A command not found (127), not executable (126), or a set-up that failed (125) ends it too.
    if (e instanceof BunkerError) code = e.exitCode;
    throw e;
  } finally {
    containerEvent("exec_die", s, { ...exec, exitCode: String(code) });
  }
}
