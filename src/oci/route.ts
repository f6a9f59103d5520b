// Which front end a command line is for. Kept apart from the OCI front end
// itself, which bunker's own commands never load.

import { existsSync } from "node:fs";
import { UsageError, type OptionDefs, type Parsed } from "../options";
import type * as Store from "../runtime/store";

import type { LogFormat } from "../logfile";

export interface OciGlobals {
  root?: string;
  log?: string;
  logFormat: LogFormat;
  debug: boolean;
  systemdCgroup: boolean;
  rootless: "auto" | "true" | "false";
}

/** runc's global flags, taken before any command (bunker's own --log-level stays too). */
export const OCI_GLOBAL_OPTIONS: OptionDefs = {
  root: { type: "string", valueHint: "DIR", description: "OCI: the state directory (default bunker's own)" },
  log: { type: "string", valueHint: "FILE", description: "OCI: write log lines to FILE" },
  "log-format": { type: "string", valueHint: "text|json", description: "OCI: the log file's format (default text)" },
  debug: { type: "boolean", description: "OCI: log at debug level" },
  "systemd-cgroup": { type: "boolean", description: "OCI: cgroupsPath is a systemd slice:prefix:name" },
  rootless: { type: "string", valueHint: "auto|true|false", description: "OCI: rootless mode (bunker decides by the caller and the config)" },
  criu: { type: "string", valueHint: "PATH", description: "OCI: accepted for runc's clients; checkpoints are not supported" },
};

export function ociGlobals(values: Parsed["values"]): OciGlobals {
  const format = (values["log-format"] as string | undefined) ?? "text";
  if (format !== "text" && format !== "json") throw new UsageError(`--log-format: "${format}" is not text or json`);
  const rootless = (values.rootless as string | undefined) ?? "auto";
  if (rootless !== "auto" && rootless !== "true" && rootless !== "false") throw new UsageError(`--rootless: "${rootless}" is not auto, true or false`);
  const root = values.root as string | undefined;
  if (root === "") throw new UsageError("--root: the path is empty");
  return {
    ...(root !== undefined ? { root } : {}),
    ...(values.log !== undefined ? { log: values.log as string } : {}),
    logFormat: format,
    debug: values.debug === true,
    systemdCgroup: values["systemd-cgroup"] === true,
    rootless,
  };
}

/** The commands of runc's command line that bunker has (create and start in both front ends' senses). */
const OCI_NAMES = ["create", "run", "start", "state", "kill", "delete", "list", "pause", "resume", "spec", "features", "exec", "ps", "update"];

/** A signal as runc's clients pass it: a number, or a name in capitals with or without SIG. */
const SIGNAL = /^(\d+|(SIG)?(HUP|INT|QUIT|ILL|TRAP|ABRT|BUS|FPE|KILL|USR1|SEGV|USR2|PIPE|ALRM|TERM|STKFLT|CHLD|CONT|STOP|TSTP|TTIN|TTOU|URG|XCPU|XFSZ|VTALRM|PROF|WINCH|IO|PWR|SYS|RTMIN(\+\d+)?))$/;

/** Flags that take a value, in either front end's form of a command, so that the value is not taken for the first argument. */
const VALUE_FLAGS: Record<string, string[]> = {
  exec: ["-u", "--user", "-e", "--env", "-w", "--workdir", "--ns", "-p", "--process", "--console-socket", "--cwd", "-g", "--additional-gids", "-c", "--cap", "--preserve-fds", "--pid-file", "--process-label", "--apparmor"],
  run: ["-b", "--bundle", "--pid-file", "--console-socket", "--preserve-fds"],
  ps: ["-f", "--format"],
};

/** The flags before the first argument that is not one (where the container id or the command starts). */
function leadingFlags(name: string, argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--" || !a.startsWith("-") || a === "-") break;
    out.push(a);
    if (!a.includes("=") && (VALUE_FLAGS[name] ?? []).includes(a)) i++;
  }
  return out;
}

/** Commands only the OCI front end has: always theirs, with or without global flags. */
export const OCI_ONLY = ["state", "delete", "resume", "spec", "features", "update"];

/** runc create's flags, which docker's create (bunker's own) does not have. */
const OCI_CREATE_FLAGS = /^(-b|--bundle|--pid-file|--console-socket|--no-pivot|--no-new-keyring|--preserve-fds)(=|$)/;

/** docker start's flags, which runc's start does not have. */
const DOCKER_START_FLAGS = /^(-a|-i|-ai|-ia|--attach|--interactive|--detach-keys)(=|$)/;

/** Whether the container `ref` names was created by an OCI client (its state records the bundle). */
function createdByOciClient(ref: string): boolean {
  try {
    // Loaded only here: every command line passes through this file, and most never need the store.
    const { findExact, isDamaged } = require("../runtime/store") as typeof Store;
    const e = findExact(ref);
    return e !== null && !isDamaged(e) && e.oci !== undefined;
  } catch {
    // no state directory, or an unreadable one: not a container of an OCI client that bunker knows
    return false;
  }
}

/**
 * Whether a command bunker's own front end also has (run, kill, list, pause)
 * is meant in runc's sense: global OCI flags came first, or its arguments
 * take runc's shape (kill ID SIGNAL, kill --all, run --bundle).
 */
export function wantsOci(name: string, argv: readonly string[], globalsGiven: boolean): boolean {
  if (OCI_ONLY.includes(name) || globalsGiven) return true;
  if (!OCI_NAMES.includes(name)) return false;
  const flags = leadingFlags(name, argv);
  const has = (re: RegExp) => flags.some((f) => re.test(f));
  if (name === "kill") {
    if (has(/^(--all|-a)$/)) return true;
    return argv.length === 2 && !argv[0]!.startsWith("-") && SIGNAL.test(argv[1]!);
  }
  if (name === "run") return has(/^(-b|--bundle)(=|$)/);
  // runc's create makes a container from a bundle (the current directory by default) and takes only its
  // id; docker's takes an image (or --rootfs, --host-root) and run's flags.
  if (name === "create") return has(OCI_CREATE_FLAGS) || (argv.length === 1 && !argv[0]!.startsWith("-") && existsSync("config.json"));
  // runc's start names one container an OCI client created; docker's starts stopped containers of bunker's own.
  if (name === "start") return !has(DOCKER_START_FLAGS) && argv.length === 1 && createdByOciClient(argv[0]!);
  // runc's ps names one container (bunker's own lists them all, and takes no argument).
  if (name === "ps") return argv.length > flags.length + (flags.some((f) => /^(-f|--format)$/.test(f)) ? 1 : 0);
  // runc's exec flags that bunker's own exec does not have: a process.json, a pid file, a console socket, --detach.
  if (name === "exec") return has(/^(-p|-d|--process|--pid-file|--console-socket|--detach)(=|$)/);
  return false;
}

