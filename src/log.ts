import { writeErr } from "./output";

// Logging goes to stderr through consola, loaded only when something is
// actually logged at the chosen level, so a quiet run pays nothing for it.

export type LogLevel = "error" | "warn" | "info" | "debug" | "trace";
export const LOG_LEVELS: readonly LogLevel[] = ["error", "warn", "info", "debug", "trace"];
const rank: Record<LogLevel, number> = { error: 0, warn: 1, info: 3, debug: 4, trace: 5 };

let level: LogLevel = "warn";

export function setLogLevel(l: LogLevel): void {
  level = l;
}

export function enabled(l: LogLevel): boolean {
  return rank[l] <= rank[level];
}

/** Where log lines go instead of stderr (the OCI front end's --log file). */
export type LogSink = (level: LogLevel, msg: string) => void;
let sink: LogSink | null = null;

export function setLogSink(s: LogSink): void {
  sink = s;
}

// consola's core build: the default build pulls in readline and tty at start-up.
async function emit(l: LogLevel, msg: string): Promise<void> {
  if (sink) return sink(l, msg);
  const { createConsola } = await import("consola/core");
  const c = createConsola({
    level: rank[level],
    reporters: [
      {
        log: (obj) => {
          const text = obj.args.map((a) => (typeof a === "string" ? a : Bun.inspect(a))).join(" ");
          void writeErr(`bunker ${obj.type}: ${text}\n`);
        },
      },
    ],
  });
  c[l](msg);
}

export const log = {
  trace(msg: string | (() => string)): Promise<void> | void {
    if (enabled("trace")) return emit("trace", typeof msg === "string" ? msg : msg());
  },
  debug(msg: string | (() => string)): Promise<void> | void {
    if (enabled("debug")) return emit("debug", typeof msg === "string" ? msg : msg());
  },
  info(msg: string): Promise<void> | void {
    if (enabled("info")) return emit("info", msg);
  },
  warn(msg: string): Promise<void> | void {
    if (enabled("warn")) return emit("warn", msg);
  },
};

/** Start-up milestones since process start, shown with --log-level debug. */
const marks: [string, number][] = [];

export function mark(label: string): void {
  marks.push([label, performance.now()]);
}

export function markReport(): string {
  let prev = 0;
  return marks
    .map(([label, t]) => {
      const s = `${label} +${(t - prev).toFixed(2)}ms (${t.toFixed(2)})`;
      prev = t;
      return s;
    })
    .join(", ");
}
