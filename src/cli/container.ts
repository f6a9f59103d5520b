// bunker container ls|rm|inspect|stop|kill|logs|rename|port|prune: docker's
// container group, the same commands as at the top level, and prune.

import { writeErr, writeOut } from "../output";
import { removeContainer } from "../runtime/remove";
import { currentStatus, listStates, restartPending } from "../runtime/store";
import { UsageError } from "../options";
import { parseCommand, runGroup } from "./usage";

async function prune(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, { force: { type: "boolean", alias: ["f"], description: "Do not ask (bunker never asks here: it only says what it removed)" } }, { name: "container prune", description: "Remove every stopped container", positional: "", examples: ["bunker container prune"] });
  if (!parsed) return 0;
  if (parsed.rest.length) throw new UsageError(`container prune: unexpected argument "${parsed.rest[0]}"`);
  const gone: string[] = [];
  const failures: string[] = [];
  for (const s of listStates()) {
    if (currentStatus(s) !== "stopped" || restartPending(s)) continue;
    try {
      await removeContainer(s, false);
      gone.push(s.id);
    } catch (e) {
      failures.push(`bunker: ${(e as Error).message}`);
    }
  }
  if (gone.length) await (await import("../runtime/userns-helper")).sweepLeftovers();
  await writeOut(gone.length ? `Deleted containers:\n${gone.join("\n")}\n` : "");
  if (failures.length) {
    await writeErr(`${failures.join("\n")}\n`);
    return 1;
  }
  return 0;
}

const load = (get: () => Promise<(argv: string[]) => Promise<number>>) => async (argv: string[]) => (await get())(argv);

/** The same commands as at the top level, and prune. */
const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  ls: load(async () => (await import("./ps")).ps),
  list: load(async () => (await import("./ps")).ps),
  rm: load(async () => (await import("./rm")).rm),
  inspect: load(async () => (await import("./inspect")).inspect),
  stop: load(async () => (await import("./stop")).stop),
  kill: load(async () => (await import("./kill")).kill),
  logs: load(async () => (await import("./logs")).logs),
  rename: load(async () => (await import("./rename")).rename),
  port: load(async () => (await import("./port")).port),
  export: load(async () => (await import("./export")).exportCmd),
  wait: load(async () => (await import("./wait")).wait),
  diff: load(async () => (await import("./diff")).diff),
  cp: load(async () => (await import("./cp")).cp),
  top: load(async () => (await import("./top")).top),
  create: load(async () => (await import("./create")).create),
  start: load(async () => (await import("./start")).start),
  restart: load(async () => (await import("./restart")).restart),
  attach: load(async () => (await import("./attach")).attach),
  prune,
};

export async function container(argv: string[]): Promise<number> {
  return runGroup(argv, {
    name: "container",
    description: "Manage containers: the container commands of the top level, and prune",
    commands: COMMANDS,
    examples: ["bunker container ls -a", "bunker container prune"],
  });
}
