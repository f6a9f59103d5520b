// A detached container's log under load: the container writes as fast as it
// can (fixed-size lines from `yes`), `bunker logs -f` follows it to the end,
// and every byte must come out, in order. The log has no cap here: a
// follower slower than the writer would otherwise lose what rotation
// removes before it is read, and the bench is to show that it is not slower. Prints the rate through the whole
// path (container → waiter → files → logs -f) and what the waiter holds in
// memory while it writes. Needs root.
//
//   bun bench/logs.ts [--mb N] [--runs N]

import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeRootfs } from "../test/helpers/rootfs";
import { kib, median, sh } from "./tools";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    mb: { type: "string", default: "500" },
    runs: { type: "string", default: "5" },
    bunker: { type: "string", default: join(import.meta.dir, "..", "dist", "bunker") },
  },
});
const B = values.bunker!;
const BYTES = Number(values.mb) * 1_000_000;
const LINE = "0123456789".repeat(7) + "abcdefghi"; // 79 characters and a newline
const PATTERN = new TextEncoder().encode(`${LINE}\n`);

if (process.geteuid?.() !== 0) {
  console.error("bench/logs: run as root");
  process.exit(2);
}

const fs = makeRootfs();
try {
  const rates: number[] = [];
  const rss: number[] = [];
  for (let i = 0; i < Number(values.runs); i++) {
    const start = performance.now();
    const id = sh([B, "run", "-d", "--network", "none", "--log-opt", "max-size=-1", "--log-opt", "max-file=1", "--rootfs", fs.path, "--", "sh", "-c", `yes ${LINE} | head -c ${BYTES}`]);
    const waiter = Number(JSON.parse(sh([B, "inspect", id]))[0].supervisor);
    const follower = Bun.spawn([B, "logs", "-f", id], { stdout: "pipe", stderr: "inherit" });
    let bytes = 0;
    let bad = 0;
    let sampled = false;
    for await (const chunk of follower.stdout) {
      // The output must be the line over and over: each byte checked against its place in it.
      for (let j = 0; j < chunk.length; j++) if (chunk[j] !== PATTERN[(bytes + j) % PATTERN.length]) bad++;
      bytes += chunk.length;
      if (!sampled && bytes > BYTES / 2) {
        sampled = true;
        try {
          rss.push(kib(waiter, "VmRSS"));
        } catch {
          // the waiter was done already
        }
      }
    }
    await follower.exited;
    const seconds = (performance.now() - start) / 1000;
    sh([B, "rm", id]);
    if (bytes !== BYTES || bad !== 0) throw new Error(`run ${i}: ${bytes} of ${BYTES} bytes came out, ${bad} of them wrong`);
    rates.push(BYTES / 1e6 / seconds);
  }
  console.log(`${values.mb} MB of 80-byte lines through a detached container's log and bunker logs -f, ${values.runs} runs, every byte checked`);
  console.log(`rate: median ${median(rates).toFixed(0)} MB/s (min ${Math.min(...rates).toFixed(0)}, max ${Math.max(...rates).toFixed(0)})`);
  if (rss.length) console.log(`the waiter's resident memory while writing: median ${median(rss)} KiB`);
} finally {
  fs.remove();
}
