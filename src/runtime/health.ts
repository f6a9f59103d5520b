// A running container's health check, run once: its command inside the
// container as `bunker exec` runs one (the container's user, environment,
// working directory, capabilities and seccomp filter), killed at its time
// limit, its output capped as docker caps it, and the result recorded
// (health-record.ts).

import { BunkerError } from "../errors";
import { healthCommand, healthTimings } from "../spec/health";
import { nextHealth, readHealth, writeHealth, type HealthRecord, type HealthResult } from "./health-record";
import type { HealthConfig } from "../spec/types";
import { AT, F_SETFL, O, SIGNALS } from "../sys/constants";
import { cstr } from "../sys/fs";
import { closeFd, pipe, sys, trySys } from "../sys/libc";
import { formatDuration } from "../spec/duration";
import { openTarget, spawnIn } from "./exec";
import { containerEvent } from "./events";
import { waitWithin } from "./hooks";
import { currentStatus, readState, withLock, type ContainerState } from "./store";

/** The output kept of a run (docker's cap; "..." marks what was cut). */
const MAX_OUTPUT = 4096;

/** Why the container cannot be checked now, or null. */
function notCheckable(s: ContainerState): string | null {
  const name = s.name ?? s.id;
  if (!s.spec.bunker.healthcheck) return `container ${name} has no health check (run it with --health-cmd, or from an image with a HEALTHCHECK)`;
  if (currentStatus(s) !== "running" || s.pid === undefined || s.pidStart === undefined) return `container ${name} is not running`;
  if (s.paused) return `container ${name} is paused`;
  return null;
}

/**
 * Runs the container's check once and records its result; the container's
 * health after it. A BunkerError (exit 125) if it cannot be checked.
 */
export async function checkHealth(s: ContainerState): Promise<HealthRecord> {
  const why = notCheckable(s);
  if (why) throw new BunkerError(why);
  const h = s.spec.bunker.healthcheck!;
  const result = await runCheck(s, h);
  return withLock(s.id, () => {
    // Recorded only for the container as it still is: not one stopped, removed or restarted meanwhile.
    const now = readState(s.id);
    if (!now || now.started !== s.started || notCheckable(now)) throw new BunkerError(`container ${s.name ?? s.id} is not running`);
    const before = readHealth(now)!;
    const next = { ...nextHealth(before, result, h, now.started), ...(now.started !== undefined ? { started: now.started } : {}) };
    writeHealth(s.id, next);
    // docker's, when the status changes: "health_status: healthy".
    if (next.Status !== before.Status) containerEvent(`health_status: ${next.Status}`, now);
    return next;
  });
}

/** One run of the check: its exit code and its output (stdout and stderr together, capped as docker caps it). */
async function runCheck(s: ContainerState, h: HealthConfig): Promise<HealthResult> {
  const timeout = healthTimings(h).timeout;
  const start = new Date().toISOString();
  const [outRead, outWrite] = pipe("create the health check's output pipe", O.CLOEXEC);
  const nul = sys("open /dev/null", "openat", AT.FDCWD, cstr("/dev/null"), O.RDONLY | O.CLOEXEC, 0);
  let pid: number;
  try {
    const proc = s.spec.oci.process;
    pid = await spawnIn({
      target: openTarget(s.pid!, s.pidStart!, s.name ?? s.id),
      args: healthCommand(h),
      env: proc.env,
      cwd: proc.cwd,
      user: proc.user,
      spec: s.spec,
      ...(s.cgroup ? { cgroup: s.cgroup } : {}),
      stdio: { stdin: nul, output: outWrite },
    });
  } catch (e) {
    closeFd(outRead);
    // As docker records a check that could not start: -1, and why.
    if (e instanceof BunkerError) return { Start: start, End: new Date().toISOString(), ExitCode: -1, Output: e.message };
    throw e;
  } finally {
    closeFd(nul);
    closeFd(outWrite);
  }
  // Read as it comes (the read end alone is non-blocking): a check that says much never stalls on a full pipe.
  trySys("fcntl", outRead, F_SETFL, O.NONBLOCK);
  const kept = new Uint8Array(MAX_OUTPUT);
  let size = 0;
  let truncated = false;
  const buf = new Uint8Array(16384);
  const drain = () => {
    for (;;) {
      const n = trySys("read", outRead, buf, buf.length);
      if (n <= 0) return;
      const room = Math.min(n, MAX_OUTPUT - size);
      kept.set(buf.subarray(0, room), size);
      size += room;
      if (room < n) truncated = true;
    }
  };
  const code = await waitWithin(pid, Math.ceil(timeout / 1e6), drain);
  // Its whole process group goes with it: what the check started is part of the check.
  if (code === null) trySys("kill", -pid, SIGNALS.SIGKILL);
  else drain();
  closeFd(outRead);
  const out = new TextDecoder().decode(kept.subarray(0, size)) + (truncated ? "..." : "");
  const end = new Date().toISOString();
  if (code === null) return { Start: start, End: end, ExitCode: -1, Output: `Health check exceeded timeout (${formatDuration(timeout)})${out ? `: ${out}` : ""}` };
  return { Start: start, End: end, ExitCode: code, Output: out };
}
