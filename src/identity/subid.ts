// /etc/subuid and /etc/subgid: the ID ranges a user may map into a user
// namespace through the setuid helpers newuidmap and newgidmap.

import { BunkerError } from "../errors";

export interface IdRange {
  start: number;
  count: number;
}

export class SubidError extends BunkerError {
  override name = "SubidError";
}

const MAX_ID = 0xffffffff;

/**
 * The ranges of `name` (or its numeric `id`) in a subuid/subgid file, in file
 * order. Lines are "owner:start:count"; comments and blank lines are skipped.
 */
export function parseSubids(text: string, name: string | undefined, id: number, file: string): IdRange[] {
  const out: IdRange[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const parts = line.split(":");
    if (parts.length !== 3) return;
    const [owner, s, c] = parts as [string, string, string];
    if (owner !== name && owner !== String(id)) return;
    const start = Number(s);
    const count = Number(c);
    if (!/^\d+$/.test(s) || !/^\d+$/.test(c) || count === 0 || start + count - 1 > MAX_ID) {
      throw new SubidError(`${file} line ${i + 1}: invalid range "${line}"`);
    }
    out.push({ start, count });
  });
  return out;
}
