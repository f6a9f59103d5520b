// Commands given several containers do what they can, as docker's do: each
// container that exists is acted on, each that does not (or fails) is named
// on a line of its own, and the command exits 1 if any failed.

import { isFailure } from "../errors";
import { writeErr, writeOut } from "../output";

/**
 * Resolves each of `refs` and acts on those found, all at once; prints the
 * reference of each that succeeded (in order) and a line for each failure.
 * Resolves to the exit status: 0, or 1 after a failure.
 */
export async function forEach<T>(refs: readonly string[], resolve: (ref: string) => T, act: (item: T, ref: string) => Promise<void>, echo = true): Promise<number> {
  const failures = new Map<number, Error>();
  const found: { i: number; ref: string; item: T }[] = [];
  refs.forEach((ref, i) => {
    try {
      found.push({ i, ref, item: resolve(ref) });
    } catch (e) {
      if (!isFailure(e)) throw e;
      failures.set(i, e);
    }
  });
  const results = await Promise.allSettled(found.map((f) => act(f.item, f.ref)));
  results.forEach((r, k) => {
    if (r.status === "fulfilled") return;
    if (!isFailure(r.reason)) throw r.reason;
    failures.set(found[k]!.i, r.reason);
  });
  if (echo) await writeOut(refs.filter((_, i) => !failures.has(i)).map((r) => `${r}\n`).join(""));
  for (const i of [...failures.keys()].sort((a, b) => a - b)) await writeErr(`bunker: ${failures.get(i)!.message}\n`);
  return failures.size ? 1 : 0;
}
