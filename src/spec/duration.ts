// Durations as Go writes them (docker's flags and its messages): "1m30s",
// "500ms", "2h"; in nanoseconds, which is also how an image config holds them.

const UNIT_NS: Record<string, bigint> = { ns: 1n, us: 1000n, µs: 1000n, ms: 1_000_000n, s: 1_000_000_000n, m: 60_000_000_000n, h: 3_600_000_000_000n };

/** A duration such as "10m" or "1h30m" in nanoseconds ("0" alone needs no unit), or null if it is not one. */
export function durationNanos(value: string): bigint | null {
  if (value === "0") return 0n;
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== value) return null;
  return parts.reduce((sum, p) => sum + BigInt(Math.round(Number(p[1]) * Number(UNIT_NS[p[2]!]!))), 0n);
}

/** Nanoseconds as Go's time.Duration prints them: "30s", "1m30s", "1.5s", "500ms", "0s". */
export function formatDuration(ns: number): string {
  if (ns === 0) return "0s";
  if (ns < 1_000) return `${ns}ns`;
  if (ns < 1_000_000) return `${trim(ns / 1_000)}µs`;
  if (ns < 1_000_000_000) return `${trim(ns / 1_000_000)}ms`;
  const h = Math.floor(ns / 3_600_000_000_000);
  const m = Math.floor((ns % 3_600_000_000_000) / 60_000_000_000);
  const s = (ns % 60_000_000_000) / 1_000_000_000;
  return `${h ? `${h}h` : ""}${h || m ? `${m}m` : ""}${trim(s)}s`;
}

const trim = (n: number) => String(Number(n.toFixed(9)));
