// bunker wait ID: prints the container's exit status and exits with it.

import { writeOut } from "../output";
import { BunkerError } from "../runtime/errors";
import { waitStopped } from "../runtime/lifecycle";
import { resolveContainer } from "../runtime/store";
import { parseOptions, UsageError, type OptionDefs } from "./options";
import { printUsage } from "./usage";

const options: OptionDefs = {};

export async function wait(argv: string[]): Promise<number> {
  const parsed = parseOptions(argv, options, "wait");
  if (parsed.help) {
    await printUsage("wait", "Wait for a container to stop; print and exit with its status", options, "ID|NAME");
    return 0;
  }
  if (parsed.rest.length !== 1) throw new UsageError("wait: give exactly one container");
  const s = resolveContainer(parsed.rest[0]!);
  const done = await waitStopped(s.id);
  if (!done) throw new BunkerError(`container ${parsed.rest[0]} was removed before it stopped`);
  if (done.exitCode === undefined) throw new BunkerError(`container ${parsed.rest[0]} ended without a recorded status (its bunker process was killed)`);
  await writeOut(`${done.exitCode}\n`);
  return done.exitCode;
}
