// bunker inspect ID|NAME...

import { isFailure } from "../errors";
import { jsonText, writeErr, writeOut } from "../output";
import { currentStatus, isDamaged, killedWithSupervisor, resolveEntry, restartPending, type ContainerState } from "../runtime/store";
import { readHealth, type HealthRecord } from "../runtime/health-record";
import { displayStatus } from "./ps";
import { UsageError, type OptionDefs } from "../options";
import { parseCommand } from "./usage";

const options: OptionDefs = {};

function healthState(s: ContainerState): { State?: { Health: Omit<HealthRecord, "started"> } } {
  const h = readHealth(s);
  if (!h) return {};
  return { State: { Health: { Status: h.Status, FailingStreak: h.FailingStreak, Log: h.Log } } };
}

export async function inspect(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, { name: "inspect", description: "Show containers' state as JSON", positional: "ID|NAME...", examples: ["bunker inspect web", "bunker inspect web | jq -r '.[0].pid'"] });
  if (!parsed) return 0;
  if (parsed.rest.length === 0) throw new UsageError("inspect: no container given");
  const missing: string[] = [];
  const out = parsed.rest.flatMap((ref) => {
    let s;
    try {
      s = resolveEntry(ref);
    } catch (e) {
      // As docker: the others are shown, this one named.
      if (!isFailure(e)) throw e;
      missing.push(e.message);
      return [];
    }
    // All that is known of a damaged one: its id, its names, and what is wrong with its state.
    if (isDamaged(s)) return { id: s.id, name: s.names[0] ?? null, status: "damaged", damaged: true, problem: s.problem };
    const status = currentStatus(s);
    const running = status === "running";
    return {
      ...s,
      status: displayStatus(s),
      restartCount: s.restartCount ?? 0,
      restarting: restartPending(s),
      paused: running && s.paused === true,
      oomKilled: s.oomKilled === true,
      killedWithSupervisor: killedWithSupervisor(s),
      ...(status === "stopped" ? { pid: undefined, pidStart: undefined, namespaces: undefined } : {}),
      // docker's State.Health, with a health check: the status, the failing streak and the last results.
      ...healthState(s),
    };
  });
  await writeOut(`${jsonText(out, 2)}\n`);
  for (const m of missing) await writeErr(`bunker: ${m}\n`);
  return missing.length ? 1 : 0;
}
