// What stays of a detached container's supervisor once the container runs:
// the waiter (native/waiter.c), exec'd in place of the Bun process. It holds
// kilobytes, keeps the container as its child (which dies with it) and what
// was held for it (a published port), and hands the end to `bunker __finish`,
// which records it as the Bun supervisor would have. BUNKER_NATIVE=compile
// keeps the Bun supervisor, which must work the same.

import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { bunker, isRoot, until } from "../helpers/bunker";
import { STATE } from "../helpers/hoststate";
import { freePort, portHeld } from "../helpers/ports";
import { busyboxAvailable } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";

const ready = isRoot && busyboxAvailable();
if (!ready) console.warn(`skipping supervisor tests: ${isRoot ? "busybox-static is not installed" : "they need root"}`);
const nft = ["/usr/sbin/nft", "/sbin/nft"].find((p) => existsSync(p));
if (ready && !nft) console.warn("skipping the published-port hand-off test: nft is not installed");

const suite = containerSuite(ready);

const ENV = { PATH: process.env.PATH ?? "/usr/bin:/bin" };
const BUN_SUPERVISOR = { ...ENV, BUNKER_NATIVE: "compile" };

const inspect = (id: string) => JSON.parse(bunker(["inspect", id]).stdout)[0];
const status = (pid: number) => readFileSync(`/proc/${pid}/status`, "utf8");
const field = (pid: number, name: string) => status(pid).match(new RegExp(`^${name}:\\s+(.*)$`, "m"))?.[1];

function detached(args: string[], cmd: string, env = ENV): string {
  const r = bunker(["run", "-d", ...args, "--rootfs", suite.fs.path, "--", "sh", "-c", cmd], { env });
  expect([r.code, r.stderr]).toEqual([0, ""]);
  return r.stdout.trim();
}

/** The supervisor once it has settled: the waiter has its name from its first instructions on. */
async function supervisorOf(id: string, comm: string): Promise<number> {
  const pid = inspect(id).supervisor as number;
  await until(() => field(pid, "Name") === comm, 5000, `the supervisor of ${id} to be ${comm}`);
  return pid;
}

describe.skipIf(!ready)("a detached container's supervisor", () => {
  test("becomes the waiter: kilobytes, the same pid, the container still its child", async () => {
    const id = detached(["--network", "none"], "exec sleep 1000");
    try {
      const sup = await supervisorOf(id, "bunker-wait");
      const rss = Number(field(sup, "VmRSS")!.replace(/ kB$/, ""));
      expect(rss).toBeLessThanOrEqual(256);
      const pid = inspect(id).pid as number;
      expect(Number(field(pid, "PPid"))).toBe(sup);
      // Control: a Bun supervisor holds megabytes.
      const other = detached(["--network", "none"], "exec sleep 1000", BUN_SUPERVISOR);
      try {
        const bunSup = inspect(other).supervisor as number;
        expect(readFileSync(`/proc/${bunSup}/cmdline`, "utf8").split("\0")).toContain("__supervise");
        expect(Number(field(bunSup, "VmRSS")!.replace(/ kB$/, ""))).toBeGreaterThan(4096);
      } finally {
        bunker(["rm", "-f", other]);
      }
    } finally {
      bunker(["rm", "-f", id]);
    }
  });

  for (const [how, env] of [
    ["the waiter", ENV],
    ["a Bun supervisor (BUNKER_NATIVE=compile)", BUN_SUPERVISOR],
  ] as const) {
    test(`records the exit status, and --rm removes the container, with ${how}`, async () => {
      // A marker of this test's own in the shared rootfs, made once the container waits for it.
      const marker = `/tmp/go-${env === ENV ? "waiter" : "bun"}`;
      const id = detached(["--network", "none"], `touch ${marker}.ready; while [ ! -e ${marker} ]; do sleep 0.02; done; rm ${marker} ${marker}.ready; exit 7`, env);
      const pid = inspect(id).pid as number;
      await until(() => existsSync(`/proc/${pid}/root${marker}.ready`), 5000, "the container to run");
      Bun.spawnSync(["touch", `/proc/${pid}/root${marker}`]);
      expect(bunker(["wait", id])).toMatchObject({ code: 7, stdout: "7\n" });
      expect(inspect(id)).toMatchObject({ status: "stopped", exitCode: 7 });
      expect(bunker(["rm", id]).code).toBe(0);
      const gone = detached(["--rm", "--network", "none"], "exit 3", env);
      await until(() => !existsSync(`${STATE}/${gone}`), 5000, "the --rm container to be removed");
    });
  }

  test("out of memory is recorded by the waiter's bunker __finish", async () => {
    const id = detached(["--network", "none", "-m", "16m"], "x=a; while :; do x=$x$x; done");
    expect(bunker(["wait", id]).code).toBe(137);
    expect(inspect(id)).toMatchObject({ exitCode: 137, oomKilled: true, memoryLimit: 16 * 1024 * 1024 });
    bunker(["rm", id]);
  });

  test("killed, it takes the container with it; the next command records that", async () => {
    const id = detached(["--network", "none"], "exec sleep 1000");
    const sup = await supervisorOf(id, "bunker-wait");
    const pid = inspect(id).pid as number;
    process.kill(sup, "SIGKILL");
    await until(() => !existsSync(`/proc/${pid}`) || field(pid, "State")!.startsWith("Z"), 5000, "the container to die with its waiter");
    const ps = JSON.parse(bunker(["ps", "-a", "--json"]).stdout).find((c: { id: string }) => c.id === id);
    expect(ps).toMatchObject({ killedWithSupervisor: true });
    expect(bunker(["rm", id]).code).toBe(0);
  });

  test.skipIf(!nft)("keeps a published port held while the container runs, and frees it after", async () => {
    const port = freePort();
    const id = detached(["-p", `${port}:80`], "exec sleep 1000");
    try {
      await supervisorOf(id, "bunker-wait");
      // Held by the waiter: the port cannot be bound on the host.
      expect(portHeld(port)).toBe(true);
      expect(bunker(["stop", "-t", "0", id]).code).toBe(0);
      expect(portHeld(port)).toBe(false);
      const nat = Bun.spawnSync([nft!, "list", "table", "ip", "bunker"]).stdout.toString();
      expect(nat).not.toContain(`${port} : `);
    } finally {
      bunker(["rm", "-f", id]);
    }
  });
});
