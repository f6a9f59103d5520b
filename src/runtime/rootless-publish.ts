// Published ports of a user's container in the rootless network namespace:
// slirp4netns listens on the host port and connects, inside the namespace,
// to the container's address there, which the namespace routes to it. pasta
// takes its forwards only when it starts, for the namespace's whole life: -p
// there needs slirp4netns.

import { BunkerError } from "../errors";
import { addHostfwd, removeHostfwd } from "../net/helpers";
import { expandPorts } from "../spec/ports";
import type { PortMapping } from "../spec/types";
import { currentRootlessNetns } from "./rootless-netns";

export type Undo = () => void;

/** Forwards each of `ports` (host port to container port, as -p gives them) to `containerIp` in the namespace; the Undo removes them. */
export function publishRootless(ports: readonly PortMapping[], containerIp: string, added: (ids: readonly number[]) => void = () => {}): Undo {
  const ns = currentRootlessNetns();
  if (!ns) throw new BunkerError("publish ports: there is no rootless network namespace (or its holder or helper has stopped)");
  if (ns.helper !== "slirp4netns" || ns.api === undefined) {
    throw new BunkerError(`publish ports: the rootless network namespace is connected through ${ns.helper}, whose forwards are fixed when it starts: install slirp4netns to publish ports of containers on user-defined networks`);
  }
  const api = ns.api;
  const ids: number[] = [];
  const undo = () => {
    for (const id of ids.splice(0)) {
      try {
        removeHostfwd(api, id);
      } catch {
        // slirp4netns went with the namespace: so did its forward
      }
    }
  };
  try {
    for (const p of expandPorts(ports)) {
      ids.push(addHostfwd(api, p, containerIp));
      added(ids);
    }
  } catch (e) {
    undo();
    throw e;
  }
  return undo;
}

/** Removes forwards by their ids (a container's that ended while its bunker was not there to). */
export function removeForwards(ids: readonly number[]): void {
  const api = currentRootlessNetns()?.api;
  if (api === undefined) return;
  for (const id of ids) {
    try {
      removeHostfwd(api, id);
    } catch {
      // gone already
    }
  }
}
