// bunker's state as root's containers leave it on the host, read directly.

import { readdirSync, readFileSync, readlinkSync } from "node:fs";

export const STATE = "/run/bunker";
export const LEASES = `${STATE}/networks/bunker0/leases`;

/** The container id a name points to in a state directory, or null. */
export function linkOf(name: string, dir = STATE): string | null {
  try {
    return readlinkSync(`${dir}/names/${name}`);
  } catch {
    return null;
  }
}

/** The ids of containers holding a lease on bunker0. */
export function leaseIds(): string[] {
  try {
    return readdirSync(LEASES)
      .filter((f) => f.endsWith(".json"))
      .map((f) => JSON.parse(readFileSync(`${LEASES}/${f}`, "utf8")).id);
  } catch {
    return [];
  }
}
