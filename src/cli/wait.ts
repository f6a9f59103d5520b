// bunker wait ID: prints the container's exit status and exits with it.

import { writeOut } from "../output";
import { BunkerError } from "../errors";
import { waitStopped } from "../runtime/lifecycle";
import { resolveContainer } from "../runtime/store";
import { UsageError, type OptionDefs } from "../options";
import { parseCommand } from "./usage";

const options: OptionDefs = {};

export async function wait(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, { name: "wait", description: "Wait for a container to stop; print and exit with its status", positional: "ID|NAME", examples: ["bunker wait web", "bunker run -d --name job alpine make && bunker wait job"] });
  if (!parsed) return 0;
  if (parsed.rest.length !== 1) throw new UsageError("wait: give exactly one container");
  const s = resolveContainer(parsed.rest[0]!);
  const done = await waitStopped(s.id);
  if (!done) throw new BunkerError(`container ${parsed.rest[0]} was removed before it stopped`);
  if (done.exitCode === undefined) throw new BunkerError(`container ${parsed.rest[0]} ended without a recorded status (its bunker process was killed)`);
  await writeOut(`${done.exitCode}\n`);
  return done.exitCode;
}
