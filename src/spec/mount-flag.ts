// --mount type=bind|volume|tmpfs,source=...,target=...,... in docker's
// syntax: one CSV record of KEY=VALUE fields (quoted as CSV quotes), its
// errors in docker's words. Unlike -v, a bind is read-write unless readonly
// is said: this syntax names readonly, so no default surprises.

import type { Mount } from "./types";
import { parseBytes } from "./resources";
import { SpecError } from "./validate";
import { checkDestination, checkVolumeName, PROPAGATIONS, type Volume } from "./volumes";

/** The fields of one CSV record (RFC 4180 quoting, as Go's encoding/csv reads it). */
export function csvFields(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = "";
    if (text[i] === '"') {
      i++;
      for (;;) {
        // Go's reader counts the column where it ran out: past the end.
        if (i >= text.length) throw new SpecError(`parse error on line 1, column ${text.length + 1}: extraneous or missing " in quoted-field`);
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i++];
      }
      // Go's reader names the closing quote's column.
      if (i < text.length && text[i] !== ",") throw new SpecError(`parse error on line 1, column ${i}: extraneous or missing " in quoted-field`);
    } else {
      const end = text.indexOf(",", i);
      field = end < 0 ? text.slice(i) : text.slice(i, end);
      const quote = field.indexOf('"');
      if (quote >= 0) throw new SpecError(`parse error on line 1, column ${i + quote + 1}: bare " in non-quoted-field`);
      i = end < 0 ? text.length : end;
    }
    out.push(field);
    if (i >= text.length) return out;
    i++;
  }
}

/** A true or false, as Go's strconv.ParseBool reads one. */
function bool(key: string, value: string | undefined): boolean {
  if (value === undefined) return true;
  if (["1", "t", "T", "TRUE", "true", "True"].includes(value)) return true;
  if (["0", "f", "F", "FALSE", "false", "False"].includes(value)) return false;
  throw new SpecError(`invalid value for ${key}: ${value}`);
}

/** What one --mount asks for: a bind or a volume (as -v would), or a tmpfs. */
export type MountFlag = { volume: Volume } | { tmpfs: Mount };

const VALUELESS = new Set(["readonly", "ro", "volume-nocopy", "bind-nonrecursive"]);

function parseFields(value: string): MountFlag {
  let type = "volume";
  let source = "";
  let target = "";
  let readonly = false;
  let nocopy = false;
  let recursive = true;
  let propagation: string | undefined;
  let size: number | undefined;
  let mode: number | undefined;
  const seen = { bind: false, volume: false, tmpfs: false };
  for (const field of csvFields(value)) {
    const eq = field.indexOf("=");
    const key = (eq >= 0 ? field.slice(0, eq) : field).toLowerCase();
    const v = eq >= 0 ? field.slice(eq + 1) : undefined;
    if (v === undefined && !VALUELESS.has(key)) throw new SpecError(`invalid field '${field}' must be a key=value pair`);
    if (key.startsWith("bind-")) seen.bind = true;
    if (key.startsWith("volume-")) seen.volume = true;
    if (key.startsWith("tmpfs-")) seen.tmpfs = true;
    switch (key) {
      case "type":
        type = v!.toLowerCase();
        break;
      case "source":
      case "src":
        source = v!;
        break;
      case "target":
      case "destination":
      case "dst":
        target = v!;
        break;
      case "readonly":
      case "ro":
        readonly = bool(key, v);
        break;
      case "bind-propagation":
        if (!PROPAGATIONS.includes(v!)) throw new SpecError(`invalid value for ${key}: ${v} (use ${PROPAGATIONS.join(", ")})`);
        propagation = v!;
        break;
      case "bind-nonrecursive":
        recursive = !bool(key, v);
        break;
      case "volume-nocopy":
        nocopy = bool(key, v);
        break;
      case "tmpfs-size":
        try {
          size = parseBytes(v!, "tmpfs-size");
        } catch {
          throw new SpecError(`invalid value for ${key}: ${v}`);
        }
        break;
      case "tmpfs-mode":
        if (!/^[0-7]{1,4}$/.test(v!)) throw new SpecError(`invalid value for ${key}: ${v}`);
        mode = parseInt(v!, 8);
        break;
      case "consistency":
        // macOS file sharing's; nothing to do on Linux, as docker ignores it there.
        break;
      default:
        throw new SpecError(`unexpected key '${key}' in '${field}'`);
    }
  }
  if (target === "") throw new SpecError("target is required");
  if (!["bind", "volume", "tmpfs"].includes(type)) throw new SpecError(`invalid mount type "${type}": bunker mounts bind, volume and tmpfs`);
  for (const kind of ["bind", "volume", "tmpfs"] as const) if (seen[kind] && type !== kind) throw new SpecError(`cannot mix '${kind}-*' options with mount type '${type}'`);
  const destination = checkDestination(target, "target");
  if (type === "tmpfs") {
    if (source !== "") throw new SpecError("source is not allowed for a tmpfs mount");
    const options = ["nosuid", "nodev", ...(readonly ? ["ro"] : []), ...(size !== undefined ? [`size=${size}`] : []), ...(mode !== undefined ? [`mode=${mode.toString(8)}`] : [])];
    return { tmpfs: { destination, type: "tmpfs", source: "tmpfs", options } };
  }
  if (type === "bind") {
    if (source === "") throw new SpecError("source is required for a bind mount");
    return { volume: { source, destination, readonly, recursive, flags: [], explicit: true, ...(propagation !== undefined ? { propagation } : {}) } };
  }
  if (source !== "") checkVolumeName(source, "source");
  return { volume: { source, destination, readonly, recursive: true, flags: [], explicit: true, kind: "volume", ...(nocopy ? { nocopy } : {}) } };
}

/** Parses one --mount value; its errors read as docker's, after the value. */
export function parseMountFlag(value: string): MountFlag {
  try {
    return parseFields(value);
  } catch (e) {
    if (e instanceof SpecError) throw new SpecError(`--mount ${value}: ${e.message}`);
    throw e;
  }
}
