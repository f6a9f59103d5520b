// bunker network connect|disconnect: a container's networks changed while it
// runs (the veth now) or while it is stopped (at its next start). The list
// is kept in the container's own networks.json under its lock.

import { BunkerError } from "../errors";
import type { NetworkAttachment } from "../spec/types";
import { recordEvent } from "./events";
import { connectRunning, disconnectRunning, readAttachments, writeAttachments } from "./network-named";
import { networkByRef } from "./networks";
import { currentStatus, readState, resolveContainer, withLockAsync, type ContainerState } from "./store";
import { connectRootless, disconnectRootless } from "./network-rootless";

const isRoot = () => (process.geteuid?.() ?? 0) === 0;

function attachable(s: ContainerState, what: string): void {
  const mode = s.spec.bunker.network;
  if (mode !== "named" && mode !== "bridge") {
    throw new BunkerError(`${what}: container ${s.name ?? s.id} has ${mode === "joined" ? s.spec.bunker.net?.joined : `--network ${mode}`}: only a container on a bridge network can join another`);
  }
  if (mode === "bridge") throw new BunkerError(`${what}: container ${s.name ?? s.id} is on the default bridge: start it with --network NAME to connect it to other networks`);
}

export async function connectNetwork(netRef: string, ref: string, opts: { ip?: string; aliases: string[] }): Promise<void> {
  const record = networkByRef(netRef);
  const what = `network connect ${record.name} ${ref}`;
  const first = resolveContainer(ref);
  attachable(first, what);
  await withLockAsync(first.id, async () => {
    const s = readState(first.id) ?? first;
    const list = readAttachments(s.id, s.spec.bunker.net?.networks ?? []);
    if (list.some((a) => a.name === record.name)) throw new BunkerError(`${what}: container ${s.name ?? s.id} is already on network ${record.name}`);
    const a: NetworkAttachment = { name: record.name, ...(opts.ip !== undefined ? { ip: opts.ip } : {}), ...(opts.aliases.length ? { aliases: opts.aliases } : {}) };
    if (currentStatus(s) === "running" && s.pid !== undefined) {
      if (isRoot()) connectRunning(s.id, s.name, s.pid, a);
      else await connectRootless(s.id, s.name, s.pid, a);
    }
    writeAttachments(s.id, [...list, a]);
  });
  recordEvent("network", "connect", record.id, { container: first.id, name: record.name, type: "bridge" });
}

export async function disconnectNetwork(netRef: string, ref: string): Promise<void> {
  const record = networkByRef(netRef);
  const what = `network disconnect ${record.name} ${ref}`;
  const first = resolveContainer(ref);
  await withLockAsync(first.id, async () => {
    const s = readState(first.id) ?? first;
    const list = readAttachments(s.id, s.spec.bunker.net?.networks ?? []);
    const running = currentStatus(s) === "running";
    if (!list.some((a) => a.name === record.name)) throw new BunkerError(`${what}: container ${s.name ?? s.id} is not on network ${record.name}`);
    if (list.length === 1) throw new BunkerError(`${what}: it is the only network of container ${s.name ?? s.id}: connect it to another first`);
    if (running) {
      if (isRoot()) disconnectRunning(s.id, record);
      else await disconnectRootless(s.id, record.name);
    }
    writeAttachments(s.id, list.filter((a) => a.name !== record.name));
  });
  recordEvent("network", "disconnect", record.id, { container: first.id, name: record.name, type: "bridge" });
}
