// bunker stop [-t SECONDS] ID...

import { SIGNALS } from "../sys/constants";
import { signalContainer, waitStopped } from "../runtime/lifecycle";
import { resolveContainer, type ContainerState } from "../runtime/store";
import { holdRestarts } from "../runtime/restart";
import { signalName } from "../spec/signals";
import { log } from "../log";
import { containerEvent } from "../runtime/events";
import { UsageError, type OptionDefs } from "../options";
import { forEach } from "./each";
import { parseCommand } from "./usage";

const options: OptionDefs = {
  time: { type: "string", alias: ["t"], valueHint: "SECONDS", description: "Grace time before SIGKILL (default the container's --stop-timeout, or 10)" },
};

export async function stop(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, { name: "stop", description: "Stop containers: SIGTERM (or their stop signal), then SIGKILL after the grace time", positional: "ID|NAME...", examples: ["bunker stop web", "bunker stop -t 30 web db"], operands: "running" });
  if (!parsed) return 0;
  if (parsed.rest.length === 0) throw new UsageError("stop: no container given");
  const t = parsed.values.time as string | undefined;
  if (t !== undefined && !/^\d+(\.\d+)?$/.test(t)) throw new UsageError(`stop: -t ${t}: not a number of seconds`);
  return forEach(parsed.rest, resolveContainer, (s) => stopContainer(s, t !== undefined ? Number(t) : undefined));
}

/**
 * Stops container `s`: its stop signal, then SIGKILL after `seconds` (its
 * --stop-timeout, else 10), saying so when it came to that; its restart
 * policy leaves it stopped.
 */
export async function stopContainer(s: ContainerState, seconds?: number): Promise<void> {
  holdRestarts(s.id);
  const signal = s.spec.bunker.stopSignal ?? SIGNALS.SIGTERM;
  if (!(await signalContainer(s, signal))) return;
  const grace = seconds ?? s.spec.bunker.stopTimeout ?? 10;
  const after = await waitStopped(s.id, grace * 1000);
  // A starting container receives its signal only when its set-up ends: the grace time covers that too.
  if (after && after.status !== "stopped" && (await signalContainer(after, SIGNALS.SIGKILL))) {
    await log.warn(`container ${s.name ?? s.id} did not stop within ${grace} s of ${signalName(signal)}: killed with SIGKILL`);
    await waitStopped(s.id);
  } else if (after) await waitStopped(s.id, 5000);
  // docker's: only for a container that was running.
  containerEvent("stop", s);
}
