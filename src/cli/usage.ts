// Help text, rendered by citty from the same option definitions the parser
// uses; and what `bunker completion` learns of each command from the same place.

import { silenceOut, writeOut } from "../output";
import { parseOptions, suggestion, toCittyArgs, UsageError, type OptionDefs, type Parsed } from "../options";

export async function printUsage(
  name: string,
  description: string,
  options: OptionDefs,
  positional: string,
  examples: readonly string[] = [],
): Promise<void> {
  // citty decides on colours when it loads; none unless stdout is a terminal.
  const { isatty } = await import("node:tty");
  if (!isatty(1)) process.env.NO_COLOR = "1";
  const { defineCommand, renderUsage } = await import("citty");
  const title = name ? `bunker ${name}` : "bunker";
  const cmd = defineCommand({ meta: { name: title, description }, args: toCittyArgs(options) });
  let text = await renderUsage(cmd);
  text = text.replace(/^(.*USAGE.*)$/m, (line) => `${line.replace(/\s+$/, "")} ${positional}`);
  const lines = [text];
  if (examples.length) lines.push("", "EXAMPLES", "", ...examples.map((e) => `  ${e}`));
  await writeOut(`${lines.join("\n")}\n`);
}

/**
 * What a shell completes for a command's words after its options; without it
 * the positional's first word decides (IMAGE: images, ID|NAME or CONTAINER:
 * every container, FILE: files, ls|prune: those words).
 */
export type Operands = "containers" | "running" | "images" | "files" | "none";

export interface CommandHelp {
  name: string;
  description: string;
  positional: string;
  examples?: readonly string[];
  operands?: Operands;
}

/** A command as `bunker completion` sees it: its options and help, and a group's sub-commands. */
export interface CommandShape {
  options: OptionDefs;
  help: CommandHelp;
  subcommands?: string[];
}

/** Thrown in place of running a command while its shape is asked for. */
class Probe {
  constructor(readonly shape: CommandShape) {}
}

let probing = false;

/**
 * The shape of the command `start` runs, learnt by starting it (with --help)
 * and stopping it where it declares its options: the tables the parser uses
 * are the only list of them. Null for a command that never declared them.
 */
export async function probeCommand(start: () => Promise<unknown>): Promise<CommandShape | null> {
  probing = true;
  silenceOut(true);
  try {
    await start();
    return null;
  } catch (e) {
    if (e instanceof Probe) return e.shape;
    return null;
  } finally {
    probing = false;
    silenceOut(false);
  }
}

/**
 * The start of every command: parse its options, and answer --help. Returns
 * null when help was printed (the command is done).
 */
export async function parseCommand(argv: readonly string[], options: OptionDefs, help: CommandHelp): Promise<Parsed | null> {
  if (probing) throw new Probe({ options, help });
  const parsed = parseOptions(argv, options, help.name);
  if (!parsed.help) return parsed;
  await printUsage(help.name, help.description, options, help.positional, help.examples ?? []);
  return null;
}

export interface Group {
  name: string;
  description: string;
  /** Each sub-command by name (aliases as names of their own). */
  commands: Record<string, (argv: string[]) => Promise<number>>;
  examples: readonly string[];
}

/** A command made of sub-commands (image, container, system): runs the one named, or says which there are. */
export async function runGroup(argv: readonly string[], group: Group): Promise<number> {
  const known = Object.keys(group.commands);
  const [sub, ...rest] = argv;
  const command = sub !== undefined && Object.hasOwn(group.commands, sub) ? group.commands[sub] : undefined;
  if (command) return command(rest);
  if (probing) throw new Probe({ options: {}, help: { name: group.name, description: group.description, positional: "COMMAND" }, subcommands: known });
  if (sub === undefined || sub === "--help" || sub === "-h") {
    const text = [
      `${group.description}`,
      "",
      `USAGE bunker ${group.name} COMMAND [OPTIONS]`,
      "",
      "COMMANDS",
      "",
      `  ${known.join(", ")}`,
      "",
      "EXAMPLES",
      "",
      ...group.examples.map((e) => `  ${e}`),
      "",
      `Run bunker ${group.name} COMMAND --help for a command's options.`,
    ];
    await writeOut(`${text.join("\n")}\n`);
    if (sub === undefined) throw new UsageError(`${group.name}: give a command: ${known.join(", ")}`);
    return 0;
  }
  throw new UsageError(`${group.name}: unknown command "${sub}"${suggestion(sub, known) || `: use ${known.join(", ")}`}`);
}
