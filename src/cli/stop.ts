// bunker stop [-t SECONDS] ID...

import { SIGNALS } from "../sys/constants";
import { signalContainer, waitStopped } from "../runtime/lifecycle";
import { resolveContainer } from "../runtime/store";
import { containerEvent } from "../runtime/events";
import { UsageError, type OptionDefs } from "../options";
import { forEach } from "./each";
import { parseCommand } from "./usage";

const options: OptionDefs = {
  time: { type: "string", alias: ["t"], valueHint: "SECONDS", description: "Grace time before SIGKILL (default the container's --stop-timeout, or 10)" },
};

export async function stop(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, { name: "stop", description: "Stop containers: SIGTERM (or their stop signal), then SIGKILL after the grace time", positional: "ID|NAME..." });
  if (!parsed) return 0;
  if (parsed.rest.length === 0) throw new UsageError("stop: no container given");
  const t = parsed.values.time as string | undefined;
  if (t !== undefined && !/^\d+(\.\d+)?$/.test(t)) throw new UsageError(`stop: -t ${t}: not a number of seconds`);
  return forEach(parsed.rest, resolveContainer, async (s) => {
    if (await signalContainer(s, s.spec.bunker.stopSignal ?? SIGNALS.SIGTERM)) {
      // -t, else the container's --stop-timeout, else 10 s.
      const after = await waitStopped(s.id, Number(t ?? s.spec.bunker.stopTimeout ?? 10) * 1000);
      // A starting container receives SIGTERM only when its set-up ends: the grace time covers that too.
      if (after && after.status !== "stopped" && (await signalContainer(after, SIGNALS.SIGKILL))) await waitStopped(s.id);
      else if (after) await waitStopped(s.id, 5000);
      // docker's: only for a container that was running.
      containerEvent("stop", s);
    }
  });
}
