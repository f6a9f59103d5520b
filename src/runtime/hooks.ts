// OCI hooks: programs the config names, run at set points of the lifecycle
// with the container's state as JSON on stdin and a time limit each.
// createRuntime, prestart, poststart and poststop run where bunker runs (the
// runtime namespace); createContainer and startContainer inside the
// container's namespaces, as processes bunker's exec starts (createContainer
// before the container's root is entered: its path resolves as on the host;
// startContainer after: its path resolves in the container).

import { BunkerError } from "../errors";
import type { Hook, Hooks } from "../spec/types";
import { SIGNALS, WNOHANG } from "../sys/constants";
import { closeFd, exitCodeOf, pipe, trySys, writeAll } from "../sys/libc";
import { F_SETFL, O } from "../sys/constants";
import { Errno } from "../sys/errno";
import { openTarget, spawnIn } from "./exec";
import type { ContainerState } from "./store";

export type HookKind = keyof Hooks;

/** The state a hook reads on stdin (runtime-spec's state, with the status of its moment). */
export function hookState(s: ContainerState, status: string, pid = s.pid ?? 0): string {
  return JSON.stringify({
    ociVersion: s.spec.oci.ociVersion,
    id: s.name ?? s.id,
    status,
    pid,
    bundle: s.oci?.bundle ?? "",
    ...(s.oci?.annotations ? { annotations: s.oci.annotations } : {}),
  });
}

/** What the hook printed, cut to its last line, for an error message. */
const lastLine = (out: string) => out.trim().split("\n").pop()?.slice(0, 200) ?? "";

function describe(kind: HookKind, i: number, h: Hook): string {
  return `${kind} hook ${i} (${h.path})`;
}

/** A hook where bunker runs: its own process, given its env only, killed at its time limit. */
async function runOnHost(kind: HookKind, i: number, h: Hook, state: string): Promise<void> {
  const what = describe(kind, i, h);
  let proc;
  try {
    proc = Bun.spawn([h.path, ...(h.args ?? [h.path]).slice(1)], {
      argv0: h.args?.[0] ?? h.path,
      env: Object.fromEntries((h.env ?? []).map((e) => [e.slice(0, e.indexOf("=")), e.slice(e.indexOf("=") + 1)])),
      stdin: new TextEncoder().encode(state),
      stdout: "pipe",
      stderr: "pipe",
    });
  } catch (e) {
    throw new BunkerError(`${what}: ${(e as Error).message}`);
  }
  let timedOut = false;
  const timer = h.timeout !== undefined ? setTimeout(() => {
    timedOut = true;
    proc.kill(SIGNALS.SIGKILL);
  }, h.timeout * 1000) : undefined;
  const [code, out, err] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  if (timer) clearTimeout(timer);
  if (timedOut) throw new BunkerError(`${what} timed out after ${h.timeout} s`);
  if (code !== 0) throw new BunkerError(`${what} failed (${proc.signalCode ? `killed by ${proc.signalCode}` : `exit status ${code}`})${lastLine(err || out) ? `: ${lastLine(err || out)}` : ""}`);
}

/**
 * Waits for `pid` (a child of bunker) for at most `ms`, calling `drain` as it
 * goes; its exit status, or null on timeout (then it is killed).
 */
export async function waitWithin(pid: number, ms: number, drain: () => void): Promise<number | null> {
  const status = new Int32Array(1);
  const end = Date.now() + ms;
  for (let delay = 1; ; delay = Math.min(delay * 2, 20)) {
    drain();
    const r = trySys("wait4", pid, status, WNOHANG, 0);
    if (r === pid) return exitCodeOf(status[0]!);
    if (r < 0 && r !== -Errno.EINTR) throw new BunkerError(`wait for process ${pid}: errno ${-r}`);
    if (Date.now() > end) {
      trySys("kill", pid, SIGNALS.SIGKILL);
      trySys("wait4", pid, status, 0, 0);
      return null;
    }
    await Bun.sleep(delay);
  }
}

/**
 * A hook inside the container's namespaces and cgroups, started by bunker's
 * exec. createContainer's program comes from the host (the container's root
 * is not entered yet), as the config's author named it: it runs as root with
 * every capability, as runc's does. startContainer's comes from the
 * container's root, which the image controls: it runs with the container's
 * own privileges (its user, capabilities, no_new_privs and seccomp filter).
 */
async function runInContainer(kind: HookKind, i: number, h: Hook, state: string, s: ContainerState): Promise<void> {
  const what = describe(kind, i, h);
  if (s.pid === undefined || s.pidStart === undefined) throw new BunkerError(`${what}: the container has no process`);
  const [stdinRead, stdinWrite] = pipe("create a hook's stdin", O.CLOEXEC);
  const [outRead, outWrite] = pipe("create a hook's output pipe", O.CLOEXEC);
  let pid: number;
  try {
    // The state is small: it fits the pipe's buffer before the hook reads it.
    writeAll(`write ${what}'s stdin`, stdinWrite, new TextEncoder().encode(state));
    closeFd(stdinWrite);
    const fromImage = kind === "startContainer";
    pid = await spawnIn({
      target: openTarget(s.pid, s.pidStart, s.name ?? s.id),
      args: h.args ?? [h.path],
      path: h.path,
      env: h.env ?? [],
      cwd: "/",
      ...(fromImage
        ? { user: s.spec.oci.process.user, spec: s.spec, process: { ...s.spec.oci.process, args: h.args ?? [h.path], env: h.env ?? [], cwd: "/", terminal: false } }
        : { user: { uid: 0, gid: 0 }, privileged: true }),
      ...(s.cgroup ? { cgroup: s.cgroup } : {}),
      stdio: { stdin: stdinRead, output: outWrite },
    });
  } catch (e) {
    closeFd(outRead);
    throw new BunkerError(`${what}: ${(e as Error).message}`);
  } finally {
    closeFd(stdinRead);
    closeFd(outWrite);
  }
  // Read as it comes (the read end alone is non-blocking), so a hook that says much never stalls on a full pipe.
  trySys("fcntl", outRead, F_SETFL, O.NONBLOCK);
  let out = "";
  const buf = new Uint8Array(16384);
  const drain = () => {
    for (;;) {
      const n = trySys("read", outRead, buf, buf.length);
      if (n <= 0) return;
      if (out.length < 65536) out += new TextDecoder().decode(buf.subarray(0, n));
    }
  };
  const code = await waitWithin(pid, (h.timeout ?? 0) > 0 ? h.timeout! * 1000 : 2 ** 31 - 1, drain);
  drain();
  closeFd(outRead);
  if (code === null) throw new BunkerError(`${what} timed out after ${h.timeout} s`);
  if (code !== 0) throw new BunkerError(`${what} failed (exit status ${code})${lastLine(out) ? `: ${lastLine(out)}` : ""}`);
}

const IN_CONTAINER: readonly HookKind[] = ["createContainer", "startContainer"];

/** Hooks after which the lifecycle goes on whatever they do: each failure is a warning, and the next hook runs. */
const WARN_ONLY: readonly HookKind[] = ["poststart", "poststop"];

/**
 * Runs the container's hooks of one kind, in order. A failure is an error at
 * once, except for poststart and poststop hooks, whose failures are returned
 * (as the runtime spec has it, they only warn).
 */
export async function runHooks(kind: HookKind, s: ContainerState, status: string, pid?: number): Promise<string[]> {
  const hooks = s.spec.oci.hooks?.[kind] ?? [];
  const state = hookState(s, status, pid);
  const warnings: string[] = [];
  for (const [i, h] of hooks.entries()) {
    try {
      if (IN_CONTAINER.includes(kind)) await runInContainer(kind, i, h, state, s);
      else await runOnHost(kind, i, h, state);
    } catch (e) {
      if (!WARN_ONLY.includes(kind)) throw e;
      warnings.push((e as Error).message);
    }
  }
  return warnings;
}
