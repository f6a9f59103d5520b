// Version and commit: baked in by build.ts, read from the checkout when run from source.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import pkg from "../package.json";

declare const BUNKER_VERSION: string | undefined;
declare const BUNKER_COMMIT: string | undefined;

function sourceCommit(): string {
  try {
    const git = join(import.meta.dir, "..", ".git");
    const head = readFileSync(join(git, "HEAD"), "utf8").trim();
    if (!head.startsWith("ref: ")) return head.slice(0, 12);
    const ref = head.slice(5);
    try {
      return readFileSync(join(git, ref), "utf8").trim().slice(0, 12);
    } catch {
      const packed = readFileSync(join(git, "packed-refs"), "utf8");
      const line = packed.split("\n").find((l) => l.endsWith(` ${ref}`));
      return line ? line.slice(0, 12) : "unknown";
    }
  } catch {
    return "unknown";
  }
}

export function versionString(): string {
  const version = typeof BUNKER_VERSION === "string" ? BUNKER_VERSION : pkg.version;
  const commit = typeof BUNKER_COMMIT === "string" ? BUNKER_COMMIT : sourceCommit();
  return `bunker ${version} (commit ${commit})`;
}
