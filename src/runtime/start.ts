// Starting a container OCI create left waiting at its start gate (gate.ts):
// the gate opens under the container's lock, and the state says running.

import { BunkerError } from "../errors";
import { gateShut, openGateForStart } from "./gate";
import { containerDir, currentStatus, processAlive, readState, withLock, writeState, type ContainerState } from "./store";

const label = (s: ContainerState) => s.name ?? s.id;

export async function startContainer(s: ContainerState): Promise<void> {
  withLock(s.id, () => {
    const now = readState(s.id);
    if (!now) throw new BunkerError(`container ${label(s)} does not exist`);
    const dir = containerDir(now.id);
    if (!now.oci || !gateShut(dir)) {
      const status = currentStatus(now);
      throw new BunkerError(status === "stopped" ? `cannot start container ${label(now)}: it has stopped` : `cannot start container ${label(now)}: it is ${status === "created" ? "not one bunker create made" : "already running"}`);
    }
    if (!processAlive(now) || !openGateForStart(dir)) throw new BunkerError(`cannot start container ${label(now)}: its process has ended`);
    now.status = "running";
    now.started = new Date().toISOString();
    writeState(now);
  });
}
