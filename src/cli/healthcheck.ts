// bunker healthcheck run ID|NAME: the container's health check, once, now
// (podman's command): exit 0 when it passed, 1 when it failed (printing the
// status it leaves, unhealthy, or starting while failures do not count yet),
// 125 when it could not run.

import { writeOut } from "../output";
import { checkHealth } from "../runtime/health";
import { resolveContainer } from "../runtime/store";
import { UsageError, type OptionDefs } from "../options";
import { parseCommand } from "./usage";

const options: OptionDefs = {};

export async function healthcheck(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, {
    name: "healthcheck",
    description: "run: run a running container's health check now and record its result (exit 0 passed, 1 failed, 125 error)",
    positional: "run ID|NAME",
    examples: ["bunker healthcheck run web", "bunker healthcheck run web || echo \"web is unwell\""],
  });
  if (!parsed) return 0;
  const [sub, ref, extra] = parsed.rest;
  if (sub !== "run") throw new UsageError(sub === undefined ? "healthcheck: no sub-command given: bunker healthcheck run ID" : `healthcheck: unknown sub-command "${sub}": use run`);
  if (ref === undefined) throw new UsageError("healthcheck run: no container given");
  if (extra !== undefined) throw new UsageError(`healthcheck run: unexpected argument "${extra}"`);
  const health = await checkHealth(resolveContainer(ref));
  if (health.Log.at(-1)?.ExitCode === 0) return 0;
  await writeOut(`${health.Status === "starting" ? "starting" : "unhealthy"}\n`);
  return 1;
}
