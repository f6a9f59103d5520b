// bunker container ls|rm|inspect|stop|kill|logs|rename|port|prune: docker's
// container group, the same commands as at the top level, and prune.

import { writeErr, writeOut } from "../output";
import { removeContainer } from "../runtime/remove";
import { currentStatus, listStates } from "../runtime/store";
import { suggestion, UsageError } from "../options";
import { parseCommand } from "./usage";

async function prune(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, { force: { type: "boolean", alias: ["f"], description: "Do not ask (bunker never asks here: it only says what it removed)" } }, { name: "container prune", description: "Remove every stopped container", positional: "" });
  if (!parsed) return 0;
  if (parsed.rest.length) throw new UsageError(`container prune: unexpected argument "${parsed.rest[0]}"`);
  const gone: string[] = [];
  const failures: string[] = [];
  for (const s of listStates()) {
    if (currentStatus(s) !== "stopped") continue;
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

const SAME: Record<string, () => Promise<(argv: string[]) => Promise<number>>> = {
  ls: async () => (await import("./ps")).ps,
  list: async () => (await import("./ps")).ps,
  rm: async () => (await import("./rm")).rm,
  inspect: async () => (await import("./inspect")).inspect,
  stop: async () => (await import("./stop")).stop,
  kill: async () => (await import("./kill")).kill,
  logs: async () => (await import("./logs")).logs,
  rename: async () => (await import("./rename")).rename,
  port: async () => (await import("./port")).port,
  export: async () => (await import("./export")).exportCmd,
  wait: async () => (await import("./wait")).wait,
  diff: async () => (await import("./diff")).diff,
  cp: async () => (await import("./cp")).cp,
  top: async () => (await import("./top")).top,
};

export async function container(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "prune") return prune(rest);
  const same = sub !== undefined ? SAME[sub] : undefined;
  if (same) return (await same())(rest);
  const known = [...Object.keys(SAME), "prune"];
  if (sub === undefined || sub === "--help" || sub === "-h") {
    await writeOut(`Usage: bunker container ${known.join("|")} ...\n\nRun bunker container COMMAND --help for a command's options.\n`);
    if (sub === undefined) throw new UsageError(`container: give a command: ${known.join(", ")}`);
    return 0;
  }
  throw new UsageError(`container: unknown command "${sub}"${suggestion(sub, known) || `: use ${known.join(", ")}`}`);
}
