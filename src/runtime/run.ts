// `bunker run` end to end: create the container, record it running (its
// command has started by then), and wait for it.

import { mark } from "../log";
import type { ContainerSpec } from "../spec/types";
import { startTime } from "../sys/proc";
import { withLock, writeState } from "./store";
import { createContainer, leaveCreated, namespacePaths, type Created, type RunRecord } from "./create";
import { waitContainer } from "./wait";
import { startHealthMonitor } from "./health-monitor";
import { containerEvent } from "./events";

export type { OciCreate, RunRecord } from "./create";
export { initialState } from "./create";

/** The command runs: the state says so, with the namespaces it runs in. */
function recordRunning(c: Created): void {
  const { state, pid } = c;
  withLock(state.id, () => {
    state.status = "running";
    state.pid = pid;
    state.pidStart = startTime(pid) ?? undefined;
    state.started = new Date().toISOString();
    state.namespaces = namespacePaths(pid);
    state.network = c.net.state;
    writeState(state);
  });
  containerEvent("start", state);
  mark("running");
}

/**
 * Runs the container and waits for it; resolves to its exit status. Its state
 * is recorded for ps, inspect, exec and the rest while it runs and, unless
 * autoRemove, after it ends. With OCI create it returns once the container
 * waits at its start gate.
 */
export async function runContainer(spec: ContainerSpec, record: RunRecord = { autoRemove: true, detached: false }): Promise<number> {
  const created = await createContainer(spec, record);
  if (record.oci?.create) return leaveCreated(created, record.oci.create);
  recordRunning(created);
  startHealthMonitor(created.state, created.pid);
  record.onStarted?.();
  return waitContainer(created, record);
}
