// Shell completion as a shell drives it: the scripts `bunker completion`
// prints are valid for their shell, bash and fish complete commands, flags,
// fixed values and paths from them, and a flag added to a command's table is
// completed with no other change. And every command's --help has examples.
// (Completing container names, which needs containers, is in
// test/integration/surface.test.ts.)

import { beforeAll, describe, expect, test } from "bun:test";
import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { bunker, BUNKER, requireBinary } from "../helpers/bunker";
import { commandTree } from "../../src/cli/completion";
import { SHELLS } from "../../src/cli/completion-scripts";
import { parseCommand } from "../../src/cli/usage";

const which = (name: string) => Bun.which(name, { PATH: "/usr/local/bin:/usr/bin:/bin" });
const zsh = which("zsh");
const fish = which("fish");
if (!zsh) console.warn("skipping the zsh syntax check: zsh is not installed");
if (!fish) console.warn("skipping the fish completion tests: fish is not installed");
const setpriv = process.geteuid?.() === 0 ? which("setpriv") : null;
if (!setpriv) console.warn("skipping __complete as another user: it needs root and setpriv");

let dir = "";
const scripts: Record<string, string> = {};

beforeAll(() => {
  requireBinary();
  dir = mkdtempSync(join(tmpdir(), "bunker-completion-"));
  for (const shell of ["bash", "zsh", "fish"]) {
    const r = bunker(["completion", shell]);
    expect([shell, r.code, r.stderr]).toEqual([shell, 0, ""]);
    scripts[shell] = join(dir, `bunker.${shell}`);
    writeFileSync(scripts[shell]!, r.stdout);
  }
  return () => rmSync(dir, { recursive: true, force: true });
});

/** What bash's TAB offers after `words` (the last one is the word being completed), with `script` loaded. */
function bashComplete(words: string[], script = scripts.bash!): string[] {
  const r = Bun.spawnSync(
    ["bash", "-c", 'source "$1" || exit 9; shift; COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _bunker; printf "%s\\n" "${COMPREPLY[@]}"', "_", script, ...words],
    { env: { PATH: `${dirname(BUNKER)}:/usr/bin:/bin` }, stderr: "pipe" },
  );
  expect([words, r.exitCode, r.stderr.toString()]).toEqual([words, 0, ""]);
  return r.stdout.toString().split("\n").filter(Boolean).sort();
}

/** What fish offers for the command line `line`. */
function fishComplete(line: string): string[] {
  const r = Bun.spawnSync(["fish", "--no-config", "-c", 'source $argv[1]; complete -C $argv[2]', scripts.fish!, line], {
    env: { PATH: `${dirname(BUNKER)}:/usr/bin:/bin`, HOME: dir },
    stderr: "pipe",
  });
  expect([line, r.exitCode, r.stderr.toString()]).toEqual([line, 0, ""]);
  return r.stdout.toString().split("\n").filter(Boolean).map((l) => l.split("\t")[0]!).sort();
}

/** The commands `bunker --help` lists. */
function listedCommands(): string[] {
  const out = bunker(["--help"]).stdout;
  const section = out.slice(out.indexOf("COMMANDS\n"), out.indexOf("\nOCI runtime"));
  return section.split("\n").slice(1).map((l) => l.trim().split(/\s+/)[0]!).filter(Boolean);
}

/** The flags a command's --help lists, aliases too. */
function helpFlags(words: string[]): string[] {
  const out = bunker([...words, "--help"]).stdout;
  const flags = new Set<string>();
  for (const line of out.split("\n")) {
    const m = /^\s+((?:-[A-Za-z], )?--[a-z][a-z0-9-]*)/.exec(line);
    if (!m) continue;
    for (const f of m[1]!.split(", ")) flags.add(f);
    for (const a of line.matchAll(/\(also ((?:--[a-z0-9-]+(?:, )?)+)\)/g)) for (const f of a[1]!.split(", ")) flags.add(f);
  }
  return [...flags].sort();
}

describe("--help", () => {
  test("every command and sub-command prints its usage with an EXAMPLES section and exits 0", () => {
    const commands = listedCommands();
    expect(commands).toContain("run");
    expect(commands).toContain("completion");
    const seen: string[][] = [];
    for (const c of commands) {
      const r = bunker([c, "--help"]);
      seen.push([c]);
      expect([c, r.code, r.stderr]).toEqual([c, 0, ""]);
      const examples = r.stdout.split("\nEXAMPLES\n\n")[1]?.split("\n").filter((l) => l.startsWith("  ")) ?? [];
      expect([c, examples.length > 0 && examples.every((e) => e.includes("bunker"))]).toEqual([c, true]);
      // A command made of sub-commands lists them: each has its own help, with examples.
      const subs = r.stdout.split("\nCOMMANDS\n\n")[1]?.split("\n")[0]?.trim().split(/,\s*/) ?? [];
      for (const s of subs) {
        const sr = bunker([c, s, "--help"]);
        seen.push([c, s]);
        expect([c, s, sr.code, sr.stderr]).toEqual([c, s, 0, ""]);
        expect([c, s, sr.stdout.includes("\nEXAMPLES\n\n  ")]).toEqual([c, s, true]);
      }
    }
    // The groups were found and walked.
    for (const group of [["image", "ls"], ["container", "rm"], ["system", "df"]]) expect(seen).toContainEqual(group);
  });
});

describe("the scripts", () => {
  test("are valid for their shell", () => {
    const b = Bun.spawnSync(["bash", "-n", scripts.bash!], { stderr: "pipe" });
    expect([b.exitCode, b.stderr.toString()]).toEqual([0, ""]);
    if (zsh) {
      const z = Bun.spawnSync([zsh, "-n", scripts.zsh!], { stderr: "pipe" });
      expect([z.exitCode, z.stderr.toString()]).toEqual([0, ""]);
    }
    if (fish) {
      const f = Bun.spawnSync([fish, "--no-execute", scripts.fish!], { stderr: "pipe" });
      expect([f.exitCode, f.stderr.toString()]).toEqual([0, ""]);
    }
  });

  test("an unknown shell, or none, is a usage error", () => {
    expect(bunker(["completion", "tcsh"])).toMatchObject({ code: 125, stdout: "", stderr: 'bunker: completion: unknown shell "tcsh": use bash, zsh or fish\n' });
    expect(bunker(["completion"]).code).toBe(125);
  });

  test("a flag added to a command's table is completed, with its values, and nothing else to change", async () => {
    const demo = async (argv: string[]) => {
      const parsed = await parseCommand(argv, { "brand-new": { type: "string", alias: ["B"], values: ["alpha", "beta"], description: "new" }, quick: { type: "boolean", description: "q" } }, {
        name: "demo",
        description: "demo",
        positional: "IMAGE",
      });
      return parsed ? 0 : 0;
    };
    const tree = await commandTree({ demo: { describe: "A demo", load: async () => demo } }, {});
    const script = join(dir, "demo.bash");
    writeFileSync(script, SHELLS.bash(tree));
    expect(bashComplete(["bunker", "de"], script)).toEqual(["demo"]);
    expect(bashComplete(["bunker", "demo", "-"], script)).toEqual(["--brand-new", "--quick", "-B"]);
    expect(bashComplete(["bunker", "demo", "--brand-new", ""], script)).toEqual(["alpha", "beta"]);
    expect(bashComplete(["bunker", "demo", "-B", "b"], script)).toEqual(["beta"]);
  });
});

describe("a command that answers --help its own way", () => {
  test("writes nothing into the script, and is still completed by name", () => {
    // In a process of its own: what the command writes would go to the same stdout as the script.
    const program = join(dir, "own-help.ts");
    writeFileSync(
      program,
      `import { commandTree } from ${JSON.stringify(join(import.meta.dir, "../../src/cli/completion"))};
import { SHELLS } from ${JSON.stringify(join(import.meta.dir, "../../src/cli/completion-scripts"))};
import { writeOut } from ${JSON.stringify(join(import.meta.dir, "../../src/output"))};
const own = async () => { await writeOut("Usage: bunker own ...\\n"); return 0; };
const tree = await commandTree({ own: { describe: "Own help", load: async () => own } }, {});
await writeOut(SHELLS.bash(tree));
`,
    );
    const r = Bun.spawnSync([process.execPath, program], { stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    const text = r.stdout.toString();
    expect(text.startsWith("# Generated by bunker completion")).toBe(true);
    expect(text).not.toContain("Usage: bunker own");
    const script = join(dir, "own.bash");
    writeFileSync(script, text);
    expect(bashComplete(["bunker", "o"], script)).toEqual(["own"]);
  });
});

describe("bash", () => {
  test("completes every command, and every flag of run as its --help lists them", () => {
    const commands = listedCommands();
    expect(bashComplete([BUNKER, ""])).toEqual([...commands].sort());
    const flags = helpFlags(["run"]);
    expect(flags).toContain("--volume");
    expect(flags).toContain("--net");
    expect(bashComplete([BUNKER, "run", "-"])).toEqual(flags);
    expect(bashComplete([BUNKER, "container", "rm", "-"])).toEqual(helpFlags(["rm"]));
  });

  test("completes a command from its first letters, and sub-commands of image, container, system and network", () => {
    const st = listedCommands().filter((c) => c.startsWith("st"));
    expect(st).toContain("stats");
    expect(st).toContain("stop");
    expect(bashComplete([BUNKER, "st"])).toEqual(st.sort());
    expect(bashComplete([BUNKER, "image", "l"])).toEqual(["list", "load", "ls"]);
    expect(bashComplete([BUNKER, "system", ""])).toEqual(["df", "events", "info", "prune"]);
    expect(bashComplete([BUNKER, "network", ""])).toEqual(["connect", "create", "disconnect", "inspect", "list", "ls", "prune", "remove", "rm"]);
    expect(bashComplete([BUNKER, "container", "pr"])).toEqual(["prune"]);
    expect(bashComplete([BUNKER, "completion", ""])).toEqual(["bash", "fish", "zsh"]);
  });

  test("completes a flag from its first letters, and the fixed values of a flag, also after = and in a cluster", () => {
    expect(bashComplete([BUNKER, "run", "--net"])).toEqual(["--net", "--network", "--network-alias"]);
    expect(bashComplete([BUNKER, "run", "--network", ""])).toEqual(["bridge", "host", "none", "pasta", "private", "slirp4netns"]);
    // readline splits --network=ho at "=".
    expect(bashComplete([BUNKER, "run", "--network", "=", "ho"])).toEqual(["host"]);
    expect(bashComplete([BUNKER, "run", "-it", "--userns", ""])).toEqual(["host", "keep-id", "private"]);
    expect(bashComplete([BUNKER, "run", "--pull", ""])).toEqual(["always", "missing", "never"]);
    expect(bashComplete([BUNKER, "run", "--log-driver", ""])).toEqual(["json-file", "none"]);
    expect(bashComplete([BUNKER, "--log-level", ""])).toEqual(["debug", "error", "info", "trace", "warn"]);
    expect(bashComplete([BUNKER, "--storage-driver", ""])).toEqual(["copy", "fuse-overlayfs", "overlay"]);
    // A value is not a flag: after -dp 80 the next word is a flag again.
    expect(bashComplete([BUNKER, "run", "-dp", "80", "--pu"])).toEqual(["--publish", "--publish-all", "--pull"]);
    // After the image, words are the command's own.
    expect(bashComplete([BUNKER, "run", "alpine", "--"])).toEqual([]);
  });

  test("completes paths for the flags that take one", () => {
    const files = join(dir, "files");
    Bun.spawnSync(["mkdir", "-p", join(files, "rootdir")]);
    writeFileSync(join(files, "envfile"), "A=1\n");
    expect(bashComplete([BUNKER, "run", "--env-file", `${files}/en`])).toEqual([`${files}/envfile`]);
    expect(bashComplete([BUNKER, "run", "--cidfile", `${files}/e`])).toEqual([`${files}/envfile`]);
    expect(bashComplete([BUNKER, "run", "-v", `${files}/e`])).toEqual([`${files}/envfile`]);
    // --rootfs takes directories only.
    expect(bashComplete([BUNKER, "run", "--rootfs", `${files}/`])).toEqual([`${files}/rootdir`]);
    expect(bashComplete([BUNKER, "import", `${files}/en`])).toEqual([`${files}/envfile`]);
  });
});

describe.skipIf(!fish)("fish", () => {
  test("completes commands, flags and values", () => {
    expect(fishComplete("bunker run --ne")).toEqual(["--net", "--network", "--network-alias"]);
    expect(fishComplete("bunker run --network ")).toEqual(["bridge", "host", "none", "pasta", "private", "slirp4netns"]);
    expect(fishComplete("bunker image l")).toEqual(["list", "load", "ls"]);
    expect(fishComplete("bunker container rm -")).toEqual(["--force", "--volumes", "-f", "-v"]);
    expect(fishComplete("bunker completion ")).toEqual(["bash", "fish", "zsh"]);
  });
});

describe.skipIf(!zsh)("zsh", () => {
  test("completes a flag at a real prompt (compinit, the script sourced, TAB)", () => {
    // An interactive zsh in a pseudo-terminal: TAB turns --netw into --network, and Enter then
    // runs it without a value, which bunker answers with "needs a value".
    const driver = join(dir, "drive.zsh");
    writeFileSync(
      driver,
      [
        "zmodload zsh/zpty",
        "zpty z zsh -f -i",
        `zpty -w z "PROMPT='READY''>'; autoload -U compinit; compinit -u; source \${(q)1}; PATH=\${(q)2}:\\$PATH"`,
        "zpty -r -m z out '*READY>*'",
        `zpty -n -w z "$3"$'\\t\\n'`,
        "zpty -r -m z out '*needs a value*'",
        "print -r -- completed",
        "zpty -d z",
      ].join("\n"),
    );
    const r = Bun.spawnSync([zsh!, "-f", driver, scripts.zsh!, dirname(BUNKER), "bunker run --netw"], {
      env: { PATH: "/usr/bin:/bin", HOME: dir, ZDOTDIR: dir },
      timeout: 15_000,
    });
    expect(r.stdout.toString()).toBe("completed\n");
  });
});

describe("__complete", () => {
  test("prints nothing and exits 0 where there is no store, and makes none", () => {
    const store = join(dir, "no-store");
    const r = bunker(["__complete", "images"], { env: { PATH: "/usr/bin:/bin", BUNKER_STORAGE: store } });
    expect(r).toEqual({ code: 0, stdout: "", stderr: "" });
    expect(existsSync(store)).toBe(false);
    expect(bunker(["__complete", "nonsense"])).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  test.skipIf(!setpriv)("prints nothing for a user without a state directory, and makes none (ps, the control, makes it)", () => {
    const runtime = mkdtempSync(join(tmpdir(), "bunker-complete-user-"));
    try {
      chownSync(runtime, 65534, 65534);
      const asNobody = (args: string[]) =>
        Bun.spawnSync([setpriv!, "--reuid", "65534", "--regid", "65534", "--clear-groups", BUNKER, ...args], {
          env: { PATH: "/usr/bin:/bin", HOME: "/nonexistent", XDG_RUNTIME_DIR: runtime },
          stderr: "pipe",
        });
      const r = asNobody(["__complete", "containers", "--running"]);
      expect([r.exitCode, r.stdout.toString(), r.stderr.toString()]).toEqual([0, "", ""]);
      expect(existsSync(join(runtime, "bunker"))).toBe(false);
      expect(asNobody(["ps"]).exitCode).toBe(0);
      expect(existsSync(join(runtime, "bunker"))).toBe(true);
    } finally {
      rmSync(runtime, { recursive: true, force: true });
    }
  });
});
