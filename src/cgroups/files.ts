// Reading cgroup files that may be missing: a controller not enabled, a
// kernel without the file, a cgroup already removed.

import { readText } from "../sys/fs";

/** The file's text, or null when it cannot be read. */
export function readOptional(path: string): string | null {
  try {
    return readText(path);
  } catch {
    // a controller's file the kernel does not have, or the cgroup gone meanwhile
    return null;
  }
}

/** The file's whitespace-separated words (cgroup.controllers, cgroup.procs, ...); none when it cannot be read. */
export function readWords(path: string): string[] {
  return (readOptional(path) ?? "").trim().split(/\s+/).filter(Boolean);
}
