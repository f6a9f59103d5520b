// --restart: docker's restart policies, checked. What a policy does when a
// container ends is the runtime's (runtime/restart.ts).

import type { RestartPolicy } from "./types";
import { SpecError } from "./validate";

export type { RestartPolicy };

const NAMES = ["no", "on-failure", "always", "unless-stopped"] as const;

export function parseRestart(value: string): RestartPolicy {
  const colon = value.indexOf(":");
  const name = colon < 0 ? value : value.slice(0, colon);
  const count = colon < 0 ? undefined : value.slice(colon + 1);
  if (!(NAMES as readonly string[]).includes(name)) throw new SpecError(`--restart ${value}: use no, on-failure[:MAX], always or unless-stopped`);
  if (count === undefined) return { name: name as RestartPolicy["name"] };
  if (name !== "on-failure") throw new SpecError(`--restart ${value}: only on-failure takes a most number of retries`);
  if (!/^\d{1,9}$/.test(count)) throw new SpecError(`--restart ${value}: the most retries is a number (0: no limit)`);
  return { name: "on-failure", ...(Number(count) > 0 ? { maxRetries: Number(count) } : {}) };
}

/** The policy as docker writes it: "on-failure:3". */
export const formatRestart = (p: RestartPolicy): string => (p.maxRetries ? `${p.name}:${p.maxRetries}` : p.name);
