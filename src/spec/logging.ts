// A detached container's log: docker's --log-driver and --log-opt, checked.
// "json-file" (the default) keeps what the container writes to stdout and
// stderr as docker's json-file records, in files of at most max-size,
// max-file of them; "none" keeps nothing.

import { parseBytes } from "./resources";
import type { LogSettings } from "./types";
import { SpecError } from "./validate";

export type { LogSettings };

/** Without --log-opt: three files of 10 MiB, kept beside the container's state (in memory, under /run). */
/** What --log-driver takes. */
export const LOG_DRIVERS = ["json-file", "none"] as const;

export const DEFAULT_LOG: LogSettings = { driver: "json-file", maxSize: 10 * 1024 * 1024, maxFiles: 3 };

export function parseLogging(driver: string | undefined, opts: readonly string[]): LogSettings {
  if (driver !== undefined && !(LOG_DRIVERS as readonly string[]).includes(driver)) throw new SpecError(`--log-driver ${driver}: use json-file or none`);
  const out: LogSettings = { ...DEFAULT_LOG, driver: (driver as LogSettings["driver"] | undefined) ?? "json-file" };
  let files: number | undefined;
  let size: number | undefined;
  for (const o of opts) {
    const eq = o.indexOf("=");
    const [key, value] = eq > 0 ? [o.slice(0, eq), o.slice(eq + 1)] : [o, ""];
    if (out.driver === "none") throw new SpecError(`--log-opt ${o}: the none log driver takes no options`);
    if (key === "max-size") {
      size = value === "-1" ? 0 : parseBytes(value, "--log-opt max-size");
      if (size !== 0 && size < 4096) throw new SpecError(`--log-opt max-size=${value}: at least 4k`);
    } else if (key === "max-file") {
      files = /^\d+$/.test(value) ? Number(value) : NaN;
      if (!(files >= 1 && files <= 1000)) throw new SpecError(`--log-opt max-file=${value}: a number from 1 to 1000`);
    } else throw new SpecError(`--log-opt ${o}: unknown option (json-file takes max-size=SIZE and max-file=N)`);
  }
  if (files !== undefined && files > 1 && size === 0) throw new SpecError("--log-opt max-file: needs max-size (files rotate when one reaches it)");
  if (size !== undefined) out.maxSize = size;
  if (files !== undefined) out.maxFiles = files;
  return out;
}
