// bunker's entry point. Sub-commands are loaded on demand: start-up time
// counts, and `run` should not pay for code it does not use.

import { LOG_LEVELS, mark, setLogLevel, type LogLevel } from "./log";

mark("main");
import { BunkerError, EXIT_BUNKER, isFailure } from "./errors";
import { UsageError, type OptionDefs } from "./options";
import { writeErr, writeOut } from "./output";
import { OCI_GLOBAL_OPTIONS, ociGlobals, wantsOci } from "./oci/route";
import { ROOTFS_DRIVERS } from "./spec/rootfs-drivers";

type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, { describe: string; load: () => Promise<Command> }> = {
  run: { describe: "Run a command in a new container", load: async () => (await import("./cli/run")).run },
  exec: { describe: "Run a command inside a running container", load: async () => (await import("./cli/exec")).exec },
  ns: { describe: "Show a container's namespaces; pin and unpin them", load: async () => (await import("./cli/ns")).ns },
  ps: { describe: "List containers (alias: list)", load: async () => (await import("./cli/ps")).ps },
  list: { describe: "", load: async () => (await import("./cli/ps")).ps },
  inspect: { describe: "Show a container's state as JSON", load: async () => (await import("./cli/inspect")).inspect },
  create: { describe: "Make a container without running it (docker's create; runc's takes --bundle)", load: async () => (await import("./cli/create")).create },
  start: { describe: "Start stopped containers, detached", load: async () => (await import("./cli/start")).start },
  stop: { describe: "Stop containers: SIGTERM, then SIGKILL after a grace time", load: async () => (await import("./cli/stop")).stop },
  restart: { describe: "Stop containers and start them again", load: async () => (await import("./cli/restart")).restart },
  attach: { describe: "Attach to a running detached container (ctrl-p ctrl-q leaves it)", load: async () => (await import("./cli/attach")).attach },
  kill: { describe: "Send a signal to containers", load: async () => (await import("./cli/kill")).kill },
  rm: { describe: "Remove stopped containers (-f: running ones too)", load: async () => (await import("./cli/rm")).rm },
  pause: { describe: "Freeze every process of containers", load: async () => (await import("./cli/pause")).pause },
  unpause: { describe: "Let paused containers run again", load: async () => (await import("./cli/pause")).unpause },
  stats: { describe: "Show containers' CPU, memory and process use, live", load: async () => (await import("./cli/stats")).stats },
  volume: { describe: "Manage named volumes (create, ls, inspect, rm, prune)", load: async () => (await import("./cli/volume")).volume },
  network: { describe: "Show or remove the bunker0 bridge (ls, prune)", load: async () => (await import("./cli/network")).network },
  wait: { describe: "Wait for a container to stop; print and exit with its status", load: async () => (await import("./cli/wait")).wait },
  images: { describe: "List images", load: async () => async (argv: string[]) => (await import("./cli/image")).images(argv) },
  import: { describe: "Make an image from a root filesystem tarball", load: async () => (await import("./cli/image")).importCmd },
  pull: { describe: "Download an image from a registry", load: async () => (await import("./cli/image")).pull },
  load: { describe: "Load images from a docker save or OCI archive", load: async () => (await import("./cli/image")).load },
  info: { describe: "What this host offers bunker, and what will not work here (alias of system info)", load: async () => async (argv: string[]) => (await import("./cli/system")).system(["info", ...argv]) },
  container: { describe: "Manage containers (ls, create, start, restart, rm, inspect, stop, kill, logs, rename, port, export, cp, wait, prune)", load: async () => (await import("./cli/container")).container },
  top: { describe: "List a running container's processes", load: async () => (await import("./cli/top")).top },
  cp: { describe: "Copy files between a container and the host", load: async () => (await import("./cli/cp")).cp },
  diff: { describe: "List what a container changed in its image's files", load: async () => (await import("./cli/diff")).diff },
  rename: { describe: "Give a container another name", load: async () => (await import("./cli/rename")).rename },
  port: { describe: "List a running container's published ports", load: async () => (await import("./cli/port")).port },
  healthcheck: { describe: "Run a container's health check now (run)", load: async () => (await import("./cli/healthcheck")).healthcheck },
  logs: { describe: "Print what a detached container wrote", load: async () => (await import("./cli/logs")).logs },
  events: { describe: "Show what happens to containers and images, live (--since: from then on)", load: async () => (await import("./cli/events")).events },
  save: { describe: "Write images as a tar archive", load: async () => (await import("./cli/save")).save },
  export: { describe: "Write a container's root filesystem as a tar archive", load: async () => (await import("./cli/export")).exportCmd },
  login: { describe: "Log in to a registry", load: async () => (await import("./cli/login")).login },
  system: { describe: "Disk use of images and containers (df); remove what nothing uses (prune); what this host offers (info)", load: async () => (await import("./cli/system")).system },
  logout: { describe: "Forget a registry's credentials", load: async () => (await import("./cli/login")).logout },
  tag: { describe: "Give an image another name", load: async () => (await import("./cli/image")).tag },
  rmi: { describe: "Remove images", load: async () => async (argv: string[]) => (await import("./cli/image")).rmi(argv) },
  image: { describe: "Manage images (ls, rm, inspect, prune, import, tag, pull, load, save)", load: async () => (await import("./cli/image")).image },
  completion: {
    describe: "Print a shell completion script: bash, zsh or fish",
    load: async () => async (argv: string[]) => (await import("./cli/completion")).completion(argv, commands, globalOptions),
  },
  __complete: { describe: "", load: async () => (await import("./cli/completion")).complete },
  __supervise: {
    describe: "",
    load: async () => async (argv: string[]) => (await import("./runtime/detach")).supervise(argv[0] ?? "", argv.slice(1)),
  },
  __health: {
    describe: "",
    load: async () => async (argv: string[]) => (await import("./runtime/health-monitor")).healthLoop(argv),
  },
  __userns: { describe: "", load: async () => (await import("./runtime/userns-helper")).usernsHelper },
  __netns: { describe: "", load: async () => (await import("./runtime/netns-command")).netnsCommand },
  "__rootless-netns": { describe: "", load: async () => (await import("./cli/rootless-netns")).rootlessNetns },
  __finish: {
    describe: "",
    load: async () => async (argv: string[]) => (await import("./runtime/finish")).finishContainer(argv[0] ?? "", argv[1] ?? "", argv[2] ?? ""),
  },
  version: {
    describe: "Print the version and commit",
    load: async () => async (argv: string[]) => {
      const { parseCommand } = await import("./cli/usage");
      const parsed = await parseCommand(argv, {}, { name: "version", description: "Print the version and commit", positional: "", examples: ["bunker version"] });
      if (!parsed) return 0;
      if (parsed.rest.length) throw new UsageError(`version: unexpected argument "${parsed.rest[0]}"`);
      const { versionString } = await import("./version");
      await writeOut(`${versionString()}\n`);
      return 0;
    },
  },
};

const globalOptions: OptionDefs = {
  "log-level": { type: "string", valueHint: "LEVEL", values: LOG_LEVELS, description: `Logging to stderr: ${LOG_LEVELS.join(", ")} (default warn)` },
  version: { type: "boolean", alias: ["v"], description: "Print the version and commit" },
  storage: { type: "string", valueHint: "DIR", description: "The image store (default /var/lib/bunker, or ~/.local/share/bunker for a user; also $BUNKER_STORAGE)" },
  "storage-driver": { type: "string", valueHint: "DRIVER", values: ROOTFS_DRIVERS, description: "How an image's container gets its root: overlay, fuse-overlayfs or copy (default: the first that works here; also $BUNKER_STORAGE_DRIVER)" },
  ...OCI_GLOBAL_OPTIONS,
};

async function mainUsage(): Promise<void> {
  const { printUsage } = await import("./cli/usage");
  await printUsage("", "Linux containers and sandboxes in one executable", globalOptions, "COMMAND [OPTIONS]", []);
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands)
    .filter(([, c]) => c.describe !== "")
    .map(([name, c]) => `  ${name.padEnd(width)}  ${c.describe}`);
  await writeOut(
    `COMMANDS\n\n${lines.join("\n")}\n\nOCI runtime (runc's command line, for podman, containerd, docker): create, start, run --bundle, state,\nkill ID SIGNAL, delete, exec --process, ps ID, pause, resume, update, list, spec, features\n\nRun bunker COMMAND --help for a command's options.\n`,
  );
}

async function main(argv: string[]): Promise<number> {
  const { parseOptions } = await import("./options");
  const parsed = parseOptions(argv, globalOptions, "");
  const storage = parsed.values.storage as string | undefined;
  if (storage !== undefined) {
    if (storage === "") throw new UsageError("--storage: the path is empty");
    (await import("./image/store")).useStore((await import("node:path")).resolve(storage));
  }
  const driver = parsed.values["storage-driver"] as string | undefined;
  if (driver !== undefined) (await import("./runtime/rootfs-driver")).useDriver(driver);
  const level = parsed.values["log-level"] as string | undefined;
  if (level !== undefined) {
    if (!LOG_LEVELS.includes(level as LogLevel)) throw new UsageError(`unknown log level "${level}": use one of ${LOG_LEVELS.join(", ")}`);
    setLogLevel(level as LogLevel);
  }
  if (parsed.values.version) return commands.version!.load().then((c) => c([]));
  const [name, ...rest] = parsed.rest;
  if (parsed.help || name === "help") {
    await mainUsage();
    return 0;
  }
  if (name === undefined) {
    await mainUsage();
    throw new UsageError("no command given: see bunker --help");
  }
  const ociGiven = Object.keys(OCI_GLOBAL_OPTIONS).some((k) => parsed.values[k] !== undefined);
  if (wantsOci(name, rest, ociGiven)) {
    const { oci } = await import("./oci/cli");
    return oci(ociGlobals(parsed.values), name, rest);
  }
  const command = commands[name];
  if (!command) {
    const { suggestion } = await import("./options");
    const known = Object.entries(commands).filter(([, c]) => c.describe !== "").map(([n]) => n);
    throw new UsageError(`unknown command "${name}"${suggestion(name, known) || ": see bunker --help"}`);
  }
  const load = await command.load();
  mark(`load ${name}`);
  return load(rest);
}

/** A reader that went away (`bunker logs ID | head`) ends bunker as SIGPIPE ends other programs: quietly, 128+13. */
const EXIT_BROKEN_PIPE = 141;

async function report(err: unknown): Promise<number> {
  const e = err as Error;
  if ((err as { code?: string })?.code === "EPIPE") return EXIT_BROKEN_PIPE;
  if (isFailure(err)) {
    await writeErr(`bunker: ${e.message}\n`);
    return err instanceof BunkerError ? err.exitCode : EXIT_BUNKER;
  }
  await writeErr(`bunker: internal error: ${e?.stack ?? String(err)}\n`);
  return EXIT_BUNKER;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  async (err) => process.exit(await report(err)),
);
