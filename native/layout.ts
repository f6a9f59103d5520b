// The contract between the child program's encoder (src/child/program.ts),
// the native loader (src/sys/native.ts) and the interpreter (native/child.c):
// the layout of a step, of the program header and of --init's arguments, the
// step flags, the pseudo system calls, and the order of the function table.
// Written once, here: the C side is generated from it (childLayoutHeader),
// as native/child-layout.h where the build compiles the interpreter and in
// front of the source where TinyCC compiles it at run time.

/** Slots for results kept between steps (file descriptors, a forked pid). */
export const NSLOTS = 64;

/** A step's fields, each one 64-bit word (`count` words for an array). */
const STEP_FIELDS = [
  { name: "nr", comment: "system call number, or a pseudo call (OP)" },
  { name: "arg", count: 6 },
  { name: "flags", comment: "F_CONTINUE, F_EXPECT, F_SAVE" },
  { name: "save", comment: "slot index for F_SAVE" },
  { name: "slotargs", comment: "8 bits per argument: 0 literal, k takes slots[k-1]" },
  { name: "ignore", comment: "up to four errno values (16 bits each) counted as success" },
  { name: "expect" },
  { name: "experr" },
  { name: "pad" },
] as const;

type StepField = (typeof STEP_FIELDS)[number]["name"];

/** Word offsets of a step's fields. */
export const STEP = offsets(STEP_FIELDS) as Record<StepField, number>;
export const STEP_WORDS = words(STEP_FIELDS);

/** The program header, the clone entry point's argument; the slots follow it. */
const HEADER_FIELDS = [
  { name: "sys", type: "sys_fn", comment: "libc's syscall()" },
  { name: "err", type: "errno_fn", comment: "libc's __errno_location()" },
  { name: "nsteps" },
  { name: "steps", type: "struct step *" },
  { name: "errfd", comment: "the error pipe's write end" },
  { name: "sys_write" },
  { name: "sys_exit_group" },
  { name: "clone", type: "clone_fn", comment: "libc's clone(), for OP_FORK" },
  { name: "resume", comment: "the step a forked child starts at" },
  { name: "slots", count: NSLOTS },
] as const;

type HeaderField = (typeof HEADER_FIELDS)[number]["name"];

/** Word offsets of the header's fields. */
export const HEADER = offsets(HEADER_FIELDS) as Record<HeaderField, number>;
export const HEADER_WORDS = words(HEADER_FIELDS);
/** Word index of slot 0 in the header. */
export const SLOT_BASE = HEADER.slots;

/** Pseudo system calls: fork a child that goes on with the program; the same, the caller staying as init. */
export const OP = { FORK: -1, INIT: -2 } as const;

export const FLAG = {
  /** On failure remember the error and go on. */
  CONTINUE: 1,
  /** The result must equal `expect`, else fail with `experr`. */
  EXPECT: 2,
  /** Store the result in slots[save]. */
  SAVE: 4,
  /**
   * One of consecutive alternatives (the places a command may be): the first
   * that succeeds ends the group, the rest are skipped; when all fail, the
   * group fails at its last step with the error CONTINUE would keep.
   */
  PROBE: 8,
} as const;

/** --init's arguments (OP_INIT's a[2]), in order. */
const INIT_FIELDS = [
  { name: "nr_close_range" },
  { name: "nr_sigtimedwait" },
  { name: "nr_wait4" },
  { name: "nr_kill" },
  { name: "all_signals", type: "long *", comment: "8-byte sigset with every signal" },
  { name: "init_fd", comment: "native/init.c in a memory file, or -1" },
  { name: "nr_execveat" },
  { name: "argv", type: "char **", comment: '{ "init", pid_text, 0 }' },
  { name: "pid_text", type: "char *", comment: "24 bytes, filled in with the command's pid" },
  { name: "envp", type: "char **", comment: "{ 0 }" },
  { name: "nr_close" },
  { name: "fd_bound", comment: "the highest descriptor to close one by one where close_range is missing" },
] as const;

export type InitField = (typeof INIT_FIELDS)[number]["name"];
export const INIT_ARGS: readonly InitField[] = INIT_FIELDS.map((f) => f.name);

/** The interpreter's function table (bunker_table), in order. */
export const TABLE = [
  "bunker_child",
  "bunker_forward",
  "bunker_forward_init",
  "bunker_forward_to",
  "bunker_nondefault_signals",
  "bunker_relay",
  "bunker_relay_init",
  "bunker_forward_started",
  "bunker_clone3",
] as const;

export type TableEntry = (typeof TABLE)[number];
export const tableIndex = (name: TableEntry): number => TABLE.indexOf(name);

interface Field {
  readonly name: string;
  readonly count?: number;
  readonly type?: string;
  readonly comment?: string;
}

function offsets(fields: readonly Field[]): Record<string, number> {
  const out: Record<string, number> = {};
  let at = 0;
  for (const f of fields) {
    out[f.name] = at;
    at += f.count ?? 1;
  }
  return out;
}

function words(fields: readonly Field[]): number {
  return fields.reduce((n, f) => n + (f.count ?? 1), 0);
}

function struct(name: string, fields: readonly Field[], count = (n: number) => String(n)): string {
  const lines = fields.map((f) => {
    const type = f.type ?? "long";
    const decl = `${type}${type.endsWith("*") ? "" : " "}${f.name}${f.count !== undefined ? `[${count(f.count)}]` : ""};`;
    return `  ${decl}${f.comment ? ` /* ${f.comment} */` : ""}`;
  });
  return `struct ${name} {\n${lines.join("\n")}\n};`;
}

/** The C side of this contract: what native/child.c includes as child-layout.h. */
export function childLayoutHeader(): string {
  return [
    "/* Generated from native/layout.ts (the contract with src/child/program.ts): do not edit. */",
    `#define NSLOTS ${NSLOTS}`,
    `#define OP_FORK (${OP.FORK}L)`,
    `#define OP_INIT (${OP.INIT}L)`,
    `#define F_CONTINUE ${FLAG.CONTINUE}L`,
    `#define F_EXPECT ${FLAG.EXPECT}L`,
    `#define F_SAVE ${FLAG.SAVE}L`,
    `#define F_PROBE ${FLAG.PROBE}L`,
    struct("step", STEP_FIELDS),
    struct("program", HEADER_FIELDS, (n) => (n === NSLOTS ? "NSLOTS" : String(n))),
    struct("init_args", INIT_FIELDS),
    // Every field is one word on both sides: a type that is not would fail the build here, not a run.
    `_Static_assert(sizeof(struct step) == ${STEP_WORDS * 8}, "struct step is ${STEP_WORDS} words");`,
    `_Static_assert(sizeof(struct program) == ${HEADER_WORDS * 8}, "struct program is ${HEADER_WORDS} words");`,
    `_Static_assert(sizeof(struct init_args) == ${INIT_FIELDS.length * 8}, "struct init_args is ${INIT_FIELDS.length} words");`,
    `#define TABLE_SIZE ${TABLE.length}`,
    `#define BUNKER_TABLE(X) ${TABLE.map((f, i) => `X(${i}, ${f})`).join(" ")}`,
    "",
  ].join("\n");
}

/** The name native/child.c includes the generated header by. */
export const LAYOUT_INCLUDE = '#include "child-layout.h"';
