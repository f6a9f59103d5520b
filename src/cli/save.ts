// bunker save [-o FILE] IMAGE...

import { writeErr } from "../output";
import { saveImages } from "../image/save";
import { archiveTrees } from "../runtime/userns-helper";
import { UsageError, type OptionDefs } from "../options";
import { withArchiveOutput } from "./archive-out";
import { imageEvent } from "../runtime/events";
import { parseCommand } from "./usage";

const options: OptionDefs = {
  output: { type: "string", alias: ["o"], valueHint: "FILE", description: "Write to FILE instead of stdout" },
};

export async function save(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, options, {
    name: "save",
    description: "Write images as one tar archive (an OCI layout that docker load reads too)",
    positional: "IMAGE...",
    examples: ["bunker save -o alpine.tar alpine", "bunker save app:1 app:2 | ssh host bunker load"],
  });
  if (!parsed) return 0;
  if (parsed.rest.length === 0) throw new UsageError("save: no image given");
  let notes: string[] = [];
  await withArchiveOutput(parsed.values.output as string | undefined, "save", async (fd) => {
    notes = await saveImages(parsed.rest, fd, (dir, out) => archiveTrees([dir], "layer", out));
  });
  for (const ref of parsed.rest) imageEvent("save", ref);
  for (const n of notes) await writeErr(`bunker: save: ${n}\n`);
  return 0;
}
