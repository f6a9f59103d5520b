// bunker rename CONTAINER NEW_NAME

import { renameContainer, resolveContainer } from "../runtime/store";
import { containerEvent } from "../runtime/events";
import { UsageError, type OptionDefs } from "../options";
import { parseCommand } from "./usage";

const options: OptionDefs = {};

export async function rename(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, { name: "rename", description: "Give a container another name", positional: "CONTAINER NEW_NAME", examples: ["bunker rename 3f2a1c web"] });
  if (!parsed) return 0;
  const [ref, name, extra] = parsed.rest;
  if (ref === undefined || name === undefined) throw new UsageError("rename: give a container and its new name");
  if (extra !== undefined) throw new UsageError(`rename: unexpected argument "${extra}"`);
  const s = resolveContainer(ref);
  renameContainer(s.id, name);
  containerEvent("rename", { ...s, name }, { oldName: s.name ?? "" });
  return 0;
}
