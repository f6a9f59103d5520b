// A container writes the command lines bunker shows (ps's COMMAND, the
// processes `bunker ns` lists, inspect's JSON): terminal control sequences
// in them must reach the operator's terminal as visible text, never as
// sequences the terminal acts on (retitling, clearing, recolouring the
// screen, or worse). Piped to a file, the same listing keeps the data.
// Root and rootless.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, rmSync } from "node:fs";
import { bunker, BUNKER, isRoot, requireBinary, until } from "../helpers/bunker";
import { busyboxAvailable, makeRootfs, type Rootfs, giveRootfs } from "../helpers/rootfs";
import { guardLeaks } from "../helpers/suite";
import { createUser, publicBinary, removeUser, runAs, type TestUser } from "../helpers/users";

const script = ["/usr/bin/script", "/bin/script"].find((p) => existsSync(p));
const ready = isRoot && busyboxAvailable() && script !== undefined && existsSync("/usr/bin/setpriv");
if (!ready) console.warn(`skipping terminal tests: they need root, busybox-static, setpriv and script (util-linux)${script ? "" : ": script is missing"}`);

const ESC = 0x1b;
const CSI8 = 0x9b;

/**
 * What a hostile image puts in its command lines: an OSC that retitles the
 * window, a CSI that clears the screen, the same CSI as one C1 character
 * (U+009B, which terminals also act on), DEL, and a raw 0x9b byte.
 */
const PAYLOAD = "\\033]0;PWNED\\007\\033[2J\\302\\233" + "31mRED\\177\\233x";
// A process made inside the container carries the payload in its arguments.
const EVIL = `x=$(printf '${PAYLOAD}'); sh -c 'while :; do sleep 1; done' "$x" & while :; do sleep 1; done`;
const TITLE = "title\x1b]0;OWNED\x07\u009b2J\x7f";

let user: TestUser;
let bin: { path: string; dir: string };
let rootFs: Rootfs;
let userFs: Rootfs;

// Before the file's own hooks: its snapshot comes first, its check before the users and files go.
const guard = guardLeaks(ready);

beforeAll(() => {
  if (!ready) return;
  requireBinary();
  user = createUser("bunker-ci-terminal", false);
  bin = publicBinary(BUNKER);
  rootFs = makeRootfs();
  userFs = makeRootfs();
  giveRootfs(userFs, user);
});

afterAll(async () => {
  if (!ready) return;
  await guard.check(() => {
    rootFs.remove();
    userFs.remove();
    rmSync(bin.dir, { recursive: true, force: true });
    removeUser(user);
  });
});

const shellQuote = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;

/** The bytes a terminal receives from `argv`, run with a pseudo-terminal as its standard output. */
function throughTerminal(argv: string[]): Uint8Array {
  const r = Bun.spawnSync([script!, "-qec", argv.map(shellQuote).join(" "), "/dev/null"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  expect([argv.join(" "), r.exitCode]).toEqual([argv.join(" "), 0]);
  return r.stdout;
}

/** The bytes of `argv`'s standard output into a pipe. */
function throughPipe(argv: string[]): Uint8Array {
  const r = Bun.spawnSync(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  expect([argv.join(" "), r.exitCode]).toEqual([argv.join(" "), 0]);
  return r.stdout;
}

const has = (bytes: Uint8Array, b: number) => bytes.includes(b);

interface Mode {
  name: string;
  /** The command line that runs bunker with `args` as this mode's user. */
  argv(args: string[]): string[];
  fs(): Rootfs;
}

const modes: Mode[] = [
  { name: "root", argv: (args) => [BUNKER, ...args], fs: () => rootFs },
  {
    name: "rootless",
    argv: (args) => ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--init-groups", "env", "-i", "PATH=/usr/bin:/bin", bin.path, ...args],
    fs: () => userFs,
  },
];

for (const mode of modes) {
  describe.skipIf(!ready)(`${mode.name}: control characters from a container`, () => {
    test("ps, ns and inspect show them escaped on a terminal; piped, the data stays as it is", async () => {
      // Its command line (ps's COMMAND column, within its first 40 characters) carries sequences too.
      const run = throughPipe(mode.argv(["run", "-d", "--network", "none", "--rootfs", mode.fs().path, "--", "sh", "-c", 'eval "$1"', TITLE, EVIL]));
      const id = new TextDecoder().decode(run).trim();
      expect(id).toMatch(/^[0-9a-f]{12}$/);
      try {
        await until(() => new TextDecoder().decode(throughPipe(mode.argv(["ns", id]))).includes("\x1b]0;PWNED"), 10_000, "the process made inside to run");
        const listings: [string, string[]][] = [
          ["ps", ["ps"]],
          ["ps --json", ["ps", "--json"]],
          ["ns", ["ns", id]],
          ["ns --json", ["ns", "--json", id]],
          ["inspect", ["inspect", id]],
        ];
        for (const [what, args] of listings) {
          const piped = throughPipe(mode.argv(args));
          const shown = throughTerminal(mode.argv(args));
          // Control: the payload is in the data bunker prints (raw in tables, \u escapes in JSON).
          const text = new TextDecoder().decode(piped);
          if (what.includes("json") || what === "inspect") expect([what, /\\u001b\]0;OWNED|\\u001b\]0;PWNED/.test(text)]).toEqual([what, true]);
          else expect([what, has(piped, ESC)]).toEqual([what, true]);
          // On the terminal, no ESC and no CSI (raw, or as U+009B) gets through.
          expect([what, has(shown, ESC), has(shown, CSI8)]).toEqual([what, false, false]);
        }
        // On the terminal the sequences read as text.
        const ps = new TextDecoder().decode(throughTerminal(mode.argv(["ps"])));
        expect(ps).toContain("title\\x1b]0;OWNED\\x07\\u009b2J\\x7f");
        const ns = new TextDecoder().decode(throughTerminal(mode.argv(["ns", id])));
        expect(ns).toContain("\\x1b]0;PWNED\\x07\\x1b[2J\\u009b31mRED\\x7f");
        // JSON stays JSON, with the same strings.
        const inspected = JSON.parse(new TextDecoder().decode(throughPipe(mode.argv(["inspect", id]))))[0];
        expect(inspected.command[3]).toBe(TITLE);
        expect(new TextDecoder().decode(throughPipe(mode.argv(["inspect", id])))).toContain("\\u009b2J\\u007f");
      } finally {
        Bun.spawnSync(mode.argv(["rm", "-f", id]));
      }
    });
  });
}

describe.skipIf(!ready)("bunker's own errors on a terminal", () => {
  test("a message carrying control characters has them escaped on a terminal, and kept in a pipe", () => {
    const ref = "x\x1b]0;PWNED\x07";
    const r = Bun.spawnSync([script!, "-qec", `${shellQuote(BUNKER)} inspect ${shellQuote(ref)}`, "/dev/null"], { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
    expect(has(r.stdout, ESC)).toBe(false);
    expect(new TextDecoder().decode(r.stdout)).toContain("bunker: no such container: x\\x1b]0;PWNED\\x07");
    expect(bunker(["inspect", ref]).stderr).toBe(`bunker: no such container: ${ref}\n`);
  });
});
