// Version, target and commit: baked in by build.ts, read from the checkout when run from source.

import pkg from "../package.json";
import { readText } from "./sys/fs";

declare const BUNKER_VERSION: string | undefined;
declare const BUNKER_COMMIT: string | undefined;
declare const BUNKER_TARGET: string | undefined;

function sourceCommit(): string {
  try {
    const git = `${import.meta.dir}/../.git`;
    const head = readText(`${git}/HEAD`).trim();
    if (!head.startsWith("ref: ")) return head.slice(0, 12);
    const ref = head.slice(5);
    try {
      return readText(`${git}/${ref}`).trim().slice(0, 12);
    } catch {
      // a packed ref
      const packed = readText(`${git}/packed-refs`);
      const line = packed.split("\n").find((l) => l.endsWith(` ${ref}`));
      return line ? line.slice(0, 12) : "unknown";
    }
  } catch {
    // not a git checkout
    return "unknown";
  }
}

export function versionString(): string {
  const version = typeof BUNKER_VERSION === "string" ? BUNKER_VERSION : pkg.version;
  const commit = typeof BUNKER_COMMIT === "string" ? BUNKER_COMMIT : sourceCommit();
  // The target the file was built for; from source, the Bun that runs it.
  const target = typeof BUNKER_TARGET === "string" ? BUNKER_TARGET : `linux-${process.arch}`;
  return `bunker ${version} (${target}, commit ${commit})`;
}
