// Writing bunker's own messages, and strings a container controls (command
// lines, names from its state, anything read from it) made harmless for the
// operator's terminal, which acts on control characters: ESC and CSI start
// sequences that retitle windows, rewrite the screen, or worse.
//
// Bun.write on the standard descriptors is native; touching
// process.stdout/stderr builds Node stream objects, which costs milliseconds
// at start-up.

import { TCGETS } from "./sys/constants";
import { TERMIOS_LAYOUT } from "./sys/layouts";
import { trySys } from "./sys/libc";

let silenced = false;

/**
 * Drops what writeOut is given, while `bunker completion` starts commands to
 * learn their options: a command that answers --help its own way must not
 * write into the script.
 */
export function silenceOut(on: boolean): void {
  silenced = on;
}

export function writeOut(text: string): Promise<number> {
  return silenced ? Promise.resolve(0) : Bun.write(Bun.stdout, text);
}

/** bunker's messages: one line each, so newlines and tabs are the only control characters they keep on a terminal. */
export function writeErr(text: string): Promise<number> {
  return Bun.write(Bun.stderr, CONTROL.test(text) && isTerminal(2) ? escapeControls(text, "\n\t") : text);
}

const terminals = new Map<number, boolean>();

/** Whether descriptor `fd` is a terminal (asked once). */
export function isTerminal(fd: number): boolean {
  let t = terminals.get(fd);
  if (t === undefined) {
    t = trySys("ioctl", fd, TCGETS, new Uint8Array(TERMIOS_LAYOUT.SIZE)) === 0;
    terminals.set(fd, t);
  }
  return t;
}

/** C0 controls, DEL, and the C1 range U+0080–U+009F (terminals take U+009B as CSI, U+009D as OSC). */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const CONTROLS = /[\u0000-\u001f\u007f-\u009f]/g;
const NAMED: Record<string, string> = { "\n": "\\n", "\t": "\\t", "\r": "\\r" };

/** `text` with its control characters written as visible escapes (\x1b, \u009b), except those in `keep`. */
export function escapeControls(text: string, keep = ""): string {
  if (!CONTROL.test(text)) return text;
  return text.replace(CONTROLS, (c) => {
    if (keep.includes(c)) return c;
    const code = c.charCodeAt(0);
    return NAMED[c] ?? (code < 0x80 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u00${code.toString(16)}`);
  });
}

/**
 * A string the container controls, as it is to be printed on standard
 * output: escaped when that is a terminal, as it is for a pipe or a file
 * (which keep the data).
 */
export function shown(text: string): string {
  return CONTROL.test(text) && isTerminal(1) ? escapeControls(text) : text;
}

/** JSON's own text for a value, untouched by JSON.stringify (Bun has JSON.rawJSON; TypeScript's lib does not know it yet). */
const rawJSON = (JSON as unknown as { rawJSON(text: string): unknown }).rawJSON;

/**
 * JSON for standard output. JSON.stringify escapes C0 but leaves DEL and C1
 * raw; as \u00XX they are the same JSON, and harmless on a terminal. A
 * bigint (nanoseconds since the epoch) is written as the integer it is.
 */
export function jsonText(value: unknown, indent?: number): string {
  return JSON.stringify(value, (_k, x: unknown) => (typeof x === "bigint" ? rawJSON(String(x)) : x), indent).replace(/[\u007f-\u009f]/g, (c) => `\\u00${c.charCodeAt(0).toString(16)}`);
}

/** Rows as aligned columns, three spaces apart, the last column unpadded: ps's, images' and stats' tables. */
export function columns(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join("   ").trimEnd() + "\n").join("");
}

/** How long ago `iso` was, in words: "5 minutes", "1 day". */
export function duration(iso: string | undefined): string {
  if (!iso) return "";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  const [n, unit] = s < 60 ? [s, "second"] : s < 3600 ? [Math.round(s / 60), "minute"] : s < 86400 ? [Math.round(s / 3600), "hour"] : [Math.round(s / 86400), "day"];
  return `${n} ${unit}${n === 1 ? "" : "s"}`;
}
