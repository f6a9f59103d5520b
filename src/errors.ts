// Failures bunker reports as one line and an exit status (docker's codes).
//
// Every failure bunker expects is a BunkerError or a SysError (src/sys, which
// imports nothing of the project, has its own); the planners' own kinds
// (CgroupError, SpecError, ...) extend BunkerError, so a front end reports
// any of them as it is, and anything else is a bug shown with its stack.
// Context is added on the way up with `within` ("open the net namespace
// /x: No such file or directory"), keeping the errno, path and exit status.

export const EXIT_BUNKER = 125;
export const EXIT_NOT_EXECUTABLE = 126;
export const EXIT_NOT_FOUND = 127;

export interface FailureDetail {
  /** The errno behind it, when a system call failed. */
  errno?: number;
  /** The file it concerns. */
  path?: string;
}

export class BunkerError extends Error {
  readonly errno?: number;
  readonly path?: string;

  constructor(
    message: string,
    readonly exitCode: number = EXIT_BUNKER,
    detail: FailureDetail = {},
  ) {
    super(message);
    this.name = "BunkerError";
    if (detail.errno !== undefined) this.errno = detail.errno;
    if (detail.path !== undefined) this.path = detail.path;
  }

  /** The same failure, said of what was being done: "WHAT: message". */
  within(what: string): BunkerError {
    return new BunkerError(`${what}: ${this.message}`, this.exitCode, this.detail());
  }

  private detail(): FailureDetail {
    return { ...(this.errno !== undefined ? { errno: this.errno } : {}), ...(this.path !== undefined ? { path: this.path } : {}) };
  }
}

/** A failed system call from src/sys (SysError and its kinds), known by its shape: sys imports nothing of ours. */
function isSysFailure(e: unknown): e is Error & { op: string; errno: number; path?: string } {
  const f = e as { op?: unknown; errno?: unknown };
  return e instanceof Error && typeof f.op === "string" && typeof f.errno === "number";
}

/** Whether `e` is a failure bunker expects (reported in one line) rather than a bug. */
export function isFailure(e: unknown): e is Error {
  return e instanceof BunkerError || isSysFailure(e);
}

/**
 * `e` with `what` as its context: an expected failure becomes a BunkerError
 * saying "WHAT: its message" (its errno, path and exit status kept); anything
 * else is returned as it is, a bug to be seen with its stack.
 */
export function within(e: unknown, what: string): unknown {
  if (e instanceof BunkerError) return e.within(what);
  if (isSysFailure(e)) return new BunkerError(`${what}: ${e.message}`, EXIT_BUNKER, { errno: e.errno, ...(e.path !== undefined ? { path: e.path } : {}) });
  return e;
}
