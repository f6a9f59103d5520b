// Throughput from a container to the host, for the record: the container
// pipes N MiB of zeros into busybox nc towards a sink the benchmark runs on
// the host; the sink times first byte to last. Over the bunker0 bridge as
// root, and through pasta and slirp4netns as an unprivileged user. Needs root.
//
//   bun bench/network.ts [--mib N] [--runs N]

import { chmodSync, copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { makeRootfs } from "../test/helpers/rootfs";
import { createUser, removeUser } from "../test/helpers/users";
import { median } from "./tools";

const { values } = parseArgs({
  args: Bun.argv.slice(2),
  options: {
    mib: { type: "string", default: "256" },
    runs: { type: "string", default: "5" },
    bunker: { type: "string", default: join(import.meta.dir, "..", "dist", "bunker") },
  },
});
const MIB = Number(values.mib);
const RUNS = Number(values.runs);
if (process.geteuid?.() !== 0) {
  console.error("bench/network: run as root");
  process.exit(2);
}

const fs = makeRootfs();
const dir = mkdtempSync(join(tmpdir(), "bunker-bench-net-"));
chmodSync(dir, 0o755);
const exe = join(dir, "bunker");
copyFileSync(values.bunker!, exe);
chmodSync(exe, 0o755);
const user = createUser("bunker-bench-net", false);
// The user's own rootfs: root's is out of other users' reach.
const userFs = makeRootfs({ owner: user });

/** A sink on `host`; resolves with the seconds from the first byte to the end and the bytes seen. */
function sink(host: string): { port: number; done: Promise<{ s: number; bytes: number }>; stop(): void } {
  let first = 0;
  let bytes = 0;
  let resolve!: (v: { s: number; bytes: number }) => void;
  const done = new Promise<{ s: number; bytes: number }>((r) => (resolve = r));
  const server = Bun.listen({
    hostname: host,
    port: 0,
    socket: {
      data(_s, d) {
        if (!first) first = performance.now();
        bytes += d.length;
      },
      close() {
        resolve({ s: (performance.now() - first) / 1000, bytes });
      },
    },
  });
  return { port: server.port, done, stop: () => server.stop(true) };
}

async function transfer(mode: string, as: string[] | null, listenOn: string, target: string): Promise<number> {
  const s = sink(listenOn);
  const cmd = [...(as ?? []), exe, "run", "--rm", "--network", mode, "--rootfs", as ? userFs.path : fs.path, "--", "sh", "-c", `dd if=/dev/zero bs=1048576 count=${MIB} 2>/dev/null | nc ${target} ${s.port}`];
  const p = Bun.spawn(cmd, { stdout: "ignore", stderr: "pipe" });
  const [code, stderr] = await Promise.all([p.exited, new Response(p.stderr).text()]);
  if (code !== 0) throw new Error(`${mode}: status ${code}: ${stderr.trim()}`);
  const r = await s.done;
  s.stop();
  if (r.bytes !== MIB * 1048576) throw new Error(`${mode}: ${r.bytes} bytes arrived of ${MIB * 1048576}`);
  return (r.bytes * 8) / r.s / 1e9;
}

const rows: string[] = [];
try {
  // The bridge's gateway address exists once bunker0 does.
  Bun.spawnSync([exe, "run", "--rm", "--network", "bridge", "--rootfs", fs.path, "--", "true"]);
  const gw = (await Bun.file("/run/bunker/networks/bunker0/network.json").json()).gateway as string;
  const as = ["setpriv", `--reuid=${user.uid}`, `--regid=${user.gid}`, "--init-groups"];
  const cases: [string, string, string[] | null, string, string][] = [
    ["bridge (root)", "bridge", null, gw, gw],
    // The sink listens on the host's loopback, which a rootless container reaches only when allowed to.
    ["pasta (rootless)", "pasta:allow_host_loopback=true", as, "127.0.0.1", "host.bunker.internal"],
    ["slirp4netns (rootless)", "slirp4netns:allow_host_loopback=true", as, "127.0.0.1", "host.bunker.internal"],
  ];
  for (const [name, mode, who, listenOn, target] of cases) {
    const got: number[] = [];
    try {
      for (let i = 0; i < RUNS; i++) got.push(await transfer(mode, who, listenOn, target));
      rows.push(`| ${name} | ${median(got).toFixed(2)} |`);
    } catch (e) {
      rows.push(`| ${name} | failed: ${(e as Error).message.split("\n")[0]} |`);
    }
  }
} finally {
  fs.remove();
  userFs.remove();
  rmSync(dir, { recursive: true, force: true });
  removeUser(user);
  Bun.spawnSync([values.bunker!, "network", "prune"], { stdout: "ignore", stderr: "ignore" });
}
console.log([`${MIB} MiB from a container to a sink on the host, median of ${RUNS}`, "", "| path | Gbit/s |", "| --- | ---: |", ...rows].join("\n"));
