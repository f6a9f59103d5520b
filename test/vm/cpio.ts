// A writer for the "newc" cpio format, the only one the kernel unpacks as an initramfs.
// Entries are built in memory: the archive is a few megabytes and made once per run.

export type Entry =
  | { kind: "dir"; path: string; mode?: number }
  | { kind: "file"; path: string; data: Uint8Array; mode?: number }
  | { kind: "symlink"; path: string; target: string }
  | { kind: "chardev"; path: string; major: number; minor: number; mode?: number };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

const encoder = new TextEncoder();

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`cpio: field out of range: ${n}`);
  return n.toString(16).padStart(8, "0");
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function header(fields: { ino: number; mode: number; nlink: number; size: number; rdevMajor: number; rdevMinor: number; nameSize: number }): string {
  // uid, gid and mtime are 0: the guest is root anyway, and a fixed mtime keeps archives reproducible.
  return (
    "070701" +
    hex8(fields.ino) +
    hex8(fields.mode) +
    hex8(0) +
    hex8(0) +
    hex8(fields.nlink) +
    hex8(0) +
    hex8(fields.size) +
    hex8(0) +
    hex8(0) +
    hex8(fields.rdevMajor) +
    hex8(fields.rdevMinor) +
    hex8(fields.nameSize) +
    hex8(0)
  );
}

/** The archive for `entries`, in order; parents must come before their children. */
export function cpio(entries: Entry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  let ino = 1;
  const push = (path: string, mode: number, data: Uint8Array, rdevMajor = 0, rdevMinor = 0, nlink = 1): void => {
    // The kernel wants names without a leading slash, relative to the archive's root.
    const name = encoder.encode(path.replace(/^\/+/, "") + "\0");
    const head = encoder.encode(header({ ino: ino++, mode, nlink, size: data.length, rdevMajor, rdevMinor, nameSize: name.length }));
    parts.push(head, name, new Uint8Array(pad4(head.length + name.length)), data, new Uint8Array(pad4(data.length)));
  };
  for (const e of entries) {
    switch (e.kind) {
      case "dir":
        push(e.path, S_IFDIR | (e.mode ?? 0o755), new Uint8Array(0), 0, 0, 2);
        break;
      case "file":
        push(e.path, S_IFREG | (e.mode ?? 0o644), e.data);
        break;
      case "symlink":
        push(e.path, S_IFLNK | 0o777, encoder.encode(e.target));
        break;
      case "chardev":
        push(e.path, S_IFCHR | (e.mode ?? 0o600), new Uint8Array(0), e.major, e.minor);
        break;
    }
  }
  push("TRAILER!!!", 0, new Uint8Array(0), 0, 0, 1);
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
