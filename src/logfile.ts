// runc's --log FILE and --log-format text|json: log lines appended to a file
// the client names (containerd passes BUNDLE/log.json and reports its last
// error line). One line per message, written whole.

import { AT, O } from "./sys/constants";
import { absolute, cstr } from "./sys/fs";
import { trySys } from "./sys/libc";
import type { LogLevel } from "./log";
import { BunkerError } from "./errors";
import { errnoMessage } from "./sys/errno";

export type LogFormat = "text" | "json";

/** The JSON line runc writes (logrus's JSON formatter): level, msg, time. */
export function jsonLine(level: LogLevel, msg: string, time = new Date()): string {
  return `${JSON.stringify({ level, msg, time: time.toISOString() })}\n`;
}

/** logrus's text form: time="..." level=error msg="..." */
export function textLine(level: LogLevel, msg: string, time = new Date()): string {
  return `time=${JSON.stringify(time.toISOString())} level=${level} msg=${JSON.stringify(msg)}\n`;
}

/** Opens `path` for appending (created 0600 if missing); a file that cannot be opened is an error. */
export function openLog(path: string, format: LogFormat): (level: LogLevel, msg: string) => void {
  const where = absolute(path);
  const fd = trySys("openat", AT.FDCWD, cstr(where), O.WRONLY | O.APPEND | O.CREAT | O.CLOEXEC | O.NOCTTY, 0o600);
  if (fd < 0) throw new BunkerError(`open the log file ${where}: ${errnoMessage(-fd)}`, 1);
  const line = format === "json" ? jsonLine : textLine;
  return (level, msg) => {
    const data = new TextEncoder().encode(line(level, msg));
    trySys("write", fd, data, data.length);
  };
}
