// The one kind of error the harness reports: `vm: <what>: <why>`, and an exit status for it.

/** The VM could not be set up or did not deliver the command's status (docker's "the runtime failed"). */
export const EXIT_SETUP = 125;
/** The command ran past --timeout (timeout(1)'s status). */
export const EXIT_TIMEOUT = 124;
/**
 * The kernel package cannot be had from the package mirror (sysexits' EX_UNAVAILABLE): the one
 * failure that says nothing about bunker or the harness, which CI may count as a skip.
 */
export const EXIT_UNAVAILABLE = 69;
/** VmError's `what` for that failure, as the harness prints it: `vm: kernel unavailable: ...`. */
export const UNAVAILABLE = "kernel unavailable";

export class VmError extends Error {
  constructor(
    readonly what: string,
    readonly why: string,
    readonly status: number = EXIT_SETUP,
  ) {
    super(`vm: ${what}: ${why}`);
  }
}

/** Runs a host program to completion; throws VmError naming `what` with its last line of stderr. */
export function run(argv: string[], what: string, opts: { cwd?: string; hint?: string } = {}): string {
  let r: ReturnType<typeof Bun.spawnSync>;
  try {
    r = Bun.spawnSync(argv, { cwd: opts.cwd, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  } catch (e) {
    throw new VmError(what, `${argv[0]}: ${(e as Error).message}${opts.hint ? ` (${opts.hint})` : ""}`);
  }
  if (!r.success) {
    const lines = (r.stderr?.toString() ?? "").split("\n").map((l) => l.trim()).filter(Boolean);
    // apt prints "W:" warnings before the "E:" line that says what went wrong.
    const why = lines.findLast((l) => l.startsWith("E:")) ?? lines.at(-1) ?? `exit status ${r.exitCode}`;
    throw new VmError(what, `${argv.join(" ")}: ${why}${opts.hint ? ` (${opts.hint})` : ""}`);
  }
  return r.stdout?.toString() ?? "";
}
