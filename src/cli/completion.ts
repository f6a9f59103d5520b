// bunker completion bash|zsh|fish: a completion script for the shell, made
// from the commands' own option tables (see probeCommand), so a flag added to
// a table completes once the script is made again. bunker __complete
// containers [--running] | images: the names the script asks for on a TAB.

import { writeOut } from "../output";
import { UsageError, type OptionDefs } from "../options";
import { parseCommand, probeCommand, type CommandShape, type Operands } from "./usage";
import { SHELLS, type Shell } from "./completion-scripts";

export interface Flag {
  /** Every spelling: --long, --alias, -s. */
  names: string[];
  takesValue: boolean;
  /** What a shell offers for the value: words, "@files" or "@dirs" (or nothing). */
  values: string[];
  description: string;
}

export interface Node {
  /** The command's words: "" for bunker itself, "run", "image ls". */
  path: string;
  description: string;
  flags: Flag[];
  subcommands: string[];
  /** What its operands are: words, "@files", "@containers", "@running", "@images"; and whether every one is (or only the first). */
  operands: string[];
  repeat: boolean;
}

export interface CommandEntry {
  describe: string;
  load: () => Promise<(argv: string[]) => Promise<number>>;
}

const PATH_HINT = /^(FILE|DIR|PATH|HOST)\b/;
const CHOICES = /^[a-z][a-z0-9-]*(\|[a-z][a-z0-9-]*)+$/;

function valuesOf(hint: string | undefined, values: readonly string[] | undefined): string[] {
  if (values) return [...values];
  if (hint === undefined) return [];
  if (CHOICES.test(hint)) return hint.split("|");
  if (/^DIR\b/.test(hint)) return ["@dirs"];
  return PATH_HINT.test(hint) ? ["@files"] : [];
}

export function flagsOf(options: OptionDefs): Flag[] {
  return Object.entries(options).map(([name, d]) => ({
    names: [`--${name}`, ...(d.alias ?? []).map((a) => (a.length === 1 ? `-${a}` : `--${a}`))],
    takesValue: d.type === "string",
    values: d.type === "string" ? valuesOf(d.valueHint, d.values) : [],
    description: d.description,
  }));
}

const KINDS: Record<Operands, string[]> = { containers: ["@containers"], running: ["@running"], images: ["@images"], files: ["@files"], none: [] };

/** What the positional's first word names, unless the command says. */
function operandsOf(shape: CommandShape): { operands: string[]; repeat: boolean } {
  const first = shape.help.positional.trim().split(/\s+/)[0] ?? "";
  const word = first.replace(/^\[(.*)\]$/, "$1");
  const repeat = word.endsWith("...");
  const bare = word.replace(/\.\.\.$/, "");
  if (shape.help.operands) return { operands: KINDS[shape.help.operands], repeat };
  if (/^IMAGE\b/.test(bare)) return { operands: ["@images"], repeat };
  if (/^(CONTAINER|ID|NAME)(\|(CONTAINER|ID|NAME|PID))*$/.test(bare)) return { operands: ["@containers"], repeat };
  if (/^FILE\b/.test(bare)) return { operands: ["@files"], repeat };
  if (CHOICES.test(bare)) return { operands: bare.split("|"), repeat };
  return { operands: [], repeat: false };
}

function nodeOf(path: string, description: string, shape: CommandShape | null): Node {
  if (!shape) return { path, description, flags: [], subcommands: [], operands: [], repeat: false };
  return { path, description, flags: flagsOf(shape.options), subcommands: shape.subcommands ?? [], ...operandsOf(shape) };
}

/**
 * Every command and sub-command with its flags and operands, learnt from
 * the commands themselves: each is started with --help and stopped where it
 * declares its options.
 */
export async function commandTree(commands: Record<string, CommandEntry>, globals: OptionDefs): Promise<Node[]> {
  const visible = Object.entries(commands).filter(([name, c]) => c.describe !== "" && !name.startsWith("__"));
  const root: Node = { path: "", description: "", flags: flagsOf(globals), subcommands: visible.map(([n]) => n), operands: [], repeat: false };
  const out = [root];
  for (const [name, c] of visible) {
    const run = await c.load();
    const shape = await probeCommand(() => run(["--help"]));
    const node = nodeOf(name, c.describe, shape);
    out.push(node);
    if (shape?.subcommands) {
      for (const sub of shape.subcommands) {
        const s = await probeCommand(() => run([sub, "--help"]));
        out.push(nodeOf(`${name} ${sub}`, s?.help.description ?? "", s));
      }
    } else if (node.operands.length && CHOICES.test(node.operands.join("|")) && !node.repeat) {
      // `network ls|prune`: the words act as sub-commands that take the same options.
      node.subcommands = node.operands;
      for (const sub of node.operands) out.push({ ...node, path: `${name} ${sub}`, subcommands: [], operands: [] });
      node.operands = [];
    }
  }
  return out;
}

const HELP = {
  name: "completion",
  description: "Print a script that completes bunker's commands, flags, containers and images in bash, zsh or fish",
  positional: "bash|zsh|fish",
  examples: [
    "bunker completion bash > /etc/bash_completion.d/bunker      # bash, for every user (or: source <(bunker completion bash) in ~/.bashrc)",
    "source <(bunker completion zsh)                              # zsh, in ~/.zshrc after compinit",
    "bunker completion fish > ~/.config/fish/completions/bunker.fish",
  ],
};

export async function completion(argv: string[], commands: Record<string, CommandEntry>, globals: OptionDefs): Promise<number> {
  const parsed = await parseCommand(argv, {}, HELP);
  if (!parsed) return 0;
  const [shell, extra] = parsed.rest;
  if (shell === undefined) throw new UsageError("completion: name the shell: bash, zsh or fish");
  if (extra !== undefined) throw new UsageError(`completion: unexpected argument "${extra}"`);
  const make = SHELLS[shell as Shell];
  if (!Object.hasOwn(SHELLS, shell) || !make) throw new UsageError(`completion: unknown shell "${shell}": use bash, zsh or fish`);
  await writeOut(make(await commandTree(commands, globals)));
  return 0;
}

/** bunker __complete containers [--running] | images: one name a line; nothing when there is none, or no store. */
export async function complete(argv: string[]): Promise<number> {
  const { containerNames, imageNames } = await import("../runtime/names");
  const [kind, flag] = argv;
  const names = kind === "containers" ? containerNames(flag === "--running") : kind === "images" ? imageNames() : [];
  await writeOut(names.map((n) => `${n}\n`).join(""));
  return 0;
}
