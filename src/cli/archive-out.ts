// Where export and save write an archive: stdout (never a terminal, as
// docker refuses too), or a file given by -o, written beside it under a
// temporary name and renamed into place once whole, so an interrupted or
// failed command leaves no partial archive by that name.

import { closeSync, openSync, renameSync, rmSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { BunkerError } from "../errors";
import { isTerminal } from "../output";
import { parseSignal } from "../spec/signals";

const STOPS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

export async function withArchiveOutput(file: string | undefined, what: string, write: (fd: number) => Promise<void>): Promise<void> {
  if (file === undefined) {
    if (isTerminal(1)) throw new BunkerError(`${what}: refusing to write an archive to a terminal: use -o FILE, or redirect the output`);
    await write(1);
    return;
  }
  if (file === "") throw new BunkerError(`${what}: -o: the path is empty`);
  const temp = join(dirname(file), `.${basename(file)}.bunker-${Math.random().toString(36).slice(2, 10)}`);
  let fd: number;
  try {
    fd = openSync(temp, "wx", 0o666);
  } catch (e) {
    throw new BunkerError(`${what}: create ${file}: ${(e as Error).message.replace(/^[A-Z]+: /, "")}`);
  }
  const stop = (signal: (typeof STOPS)[number]) => {
    rmSync(temp, { force: true });
    process.exit(128 + parseSignal(signal));
  };
  for (const s of STOPS) process.on(s, stop);
  try {
    await write(fd);
    closeSync(fd);
    fd = -1;
    renameSync(temp, file);
  } catch (e) {
    if (fd >= 0) closeSync(fd);
    rmSync(temp, { force: true });
    throw e;
  } finally {
    for (const s of STOPS) process.off(s, stop);
  }
}
