// Starting a container OCI create left waiting at its start gate (gate.ts):
// the gate opens under the container's lock, and the state says running.

import { BunkerError } from "../errors";
import { gateShut, openGateForStart } from "./gate";
import { containerDir, currentStatus, processAlive, readState, withLockAsync, writeState, type ContainerState } from "./store";
import { runHooks } from "./hooks";
import { log } from "../log";
import { SIGNALS } from "../sys/constants";
import { trySys } from "../sys/libc";

const label = (s: ContainerState) => s.name ?? s.id;

/**
 * Opens the gate: startContainer hooks first (inside the container: a failure
 * stops it), then the command runs, then poststart hooks (a failure is only
 * reported, as the runtime spec has it: the command runs already).
 */
export async function startContainer(s: ContainerState): Promise<void> {
  const started = await withLockAsync(s.id, async () => {
    const now = readState(s.id);
    if (!now) throw new BunkerError(`container ${label(s)} does not exist`);
    const dir = containerDir(now.id);
    if (!now.oci || !gateShut(dir)) {
      const status = currentStatus(now);
      throw new BunkerError(status === "stopped" ? `cannot start container ${label(now)}: it has stopped` : `cannot start container ${label(now)}: it is ${status === "created" ? "not one bunker create made" : "already running"}`);
    }
    if (!processAlive(now)) throw new BunkerError(`cannot start container ${label(now)}: its process has ended`);
    try {
      await runHooks("startContainer", now, "created");
    } catch (e) {
      if (now.pid !== undefined) trySys("kill", now.pid, SIGNALS.SIGKILL);
      throw e;
    }
    if (!openGateForStart(dir)) throw new BunkerError(`cannot start container ${label(now)}: its process has ended`);
    now.status = "running";
    now.started = new Date().toISOString();
    writeState(now);
    return now;
  });
  for (const w of await runHooks("poststart", started, "running")) await log.warn(w);
}
