// /proc/PID/mountinfo as a test reads it: in a container, or from the host
// for a container's process (which sees its table even when the container's
// own /proc is not where it should be).

export interface MountLine {
  id: number;
  parent: number;
  /** The path within its filesystem that is mounted (field 4). */
  root: string;
  /** Where it is mounted (field 5). */
  point: string;
  /** Per-mount flags (field 6). */
  flags: string[];
  fstype: string;
  source: string;
  /** The filesystem's own options. */
  superOptions: string[];
}

export function parseMountinfo(text: string): MountLine[] {
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const [head, tail] = line.split(" - ");
      const f = head!.split(" ");
      const [fstype, source, opts] = tail!.split(" ");
      return { id: Number(f[0]), parent: Number(f[1]), root: f[3]!, point: f[4]!, flags: f[5]!.split(","), fstype: fstype!, source: source!, superOptions: (opts ?? "").split(",") };
    });
}

/** The table's root mount: the one whose parent lies outside the table (it need not come first). */
export function rootMount(lines: readonly MountLine[]): MountLine | undefined {
  const ids = new Set(lines.map((l) => l.id));
  return lines.find((l) => l.point === "/" && !ids.has(l.parent));
}
