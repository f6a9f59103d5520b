// The leak check itself (test/helpers/leaks.ts, suite.ts): one leak of each
// kind bunker could leave is planted by hand, the check must name it, and
// once it is removed the check must be quiet again. A check that misses a
// kind guards nothing of it in every other file.

import { describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { bunker, isRoot, ROOT, until } from "../helpers/bunker";
import { keptContainers, leaksSince, snapshot, type Snapshot } from "../helpers/leaks";
import { busyboxAvailable } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";

const nft = ["/usr/sbin/nft", "/sbin/nft"].find((p) => existsSync(p));
const tools = ["/usr/bin/unshare", "/usr/bin/mount", "/usr/bin/umount", "/usr/sbin/ip"].every((p) => existsSync(p));
const ready = isRoot && busyboxAvailable() && tools;
if (!ready) console.warn(`skipping the leak check's own tests: ${!isRoot ? "they need root" : !tools ? "unshare, mount, umount (util-linux) or ip (iproute2) is missing" : "busybox-static is missing"}`);
if (ready && !nft) console.warn("skipping the leak check's NAT tests: nft is not installed (nftables package)");

const suite = containerSuite(ready);

/** An id no container has: 12 hex digits bunker never makes (it never starts with "leak"). */
const FAKE_ID = "1eac0000c0de";

const sh = (cmd: string) => {
  const r = Bun.spawnSync(["sh", "-c", cmd], { stdout: "pipe", stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`${cmd}: ${r.stderr.toString()}`);
  return r.stdout.toString();
};

/** A scratch directory for plants, removed by the caller. */
const scratch = () => mkdtempSync("/tmp/bunker-leakcheck-");

/** Waits until `pid` is gone or a zombie. */
const gone = (pid: number) => () => !existsSync(`/proc/${pid}`) || readFileSync(`/proc/${pid}/stat`, "utf8").includes(") Z ");

/** The one child of `pid`, once there is one. */
async function childOf(pid: number): Promise<number> {
  let child = 0;
  await until(() => {
    child = Number(readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/)[0] || 0);
    return child > 0 && readFileSync(`/proc/${child}/cmdline`, "utf8").startsWith("sleep");
  }, 5000, `a child of ${pid} running sleep`);
  return child;
}

/**
 * Plants a leak after a snapshot, expects the check to report exactly the
 * lines `expected` matches, removes it, and expects the check to be quiet.
 */
async function expectCaught(plant: () => Promise<() => void | Promise<void>> | (() => void | Promise<void>), expected: RegExp[]): Promise<void> {
  const before: Snapshot = snapshot();
  let remove: (() => void | Promise<void>) | undefined;
  try {
    remove = await plant();
    // A planted process may not have exec'd yet: the check is given a moment to see it as it will be.
    const matches = (l: string[]) => l.length === expected.length && expected.every((re) => l.some((x) => re.test(x)));
    await until(() => matches(leaksSince(before)), 5000, "the planted leak to be seen").catch(() => {});
    const leaks = leaksSince(before);
    expect(leaks.length).toBe(expected.length);
    for (const re of expected) expect(leaks).toContainEqual(expect.stringMatching(re));
  } finally {
    await remove?.();
  }
  await until(() => leaksSince(before).length === 0, 5000, "the check to be quiet once the leak is removed");
}

/** The bridge and its NAT table exist: a container on it made them, if nobody had. */
function ensureBridge(): void {
  expect(bunker(["run", "--rm", "--rootfs", suite.fs.path, "--", "true"]).code).toBe(0);
}

describe.skipIf(!ready)("the leak check names a planted leak of each kind", () => {
  test("a mount: a tmpfs, and a namespace pinned in a directory", async () => {
    const dir = scratch();
    try {
      mkdirSync(join(dir, "t"));
      await expectCaught(() => {
        sh(`mount -t tmpfs leakcheck ${dir}/t`);
        return () => void sh(`umount ${dir}/t`);
      }, [new RegExp(`^mount: ${dir}/t \\(tmpfs from leakcheck, mount \\d+\\)$`)]);
      writeFileSync(join(dir, "net"), "");
      await expectCaught(() => {
        sh(`mount --bind /proc/self/ns/net ${dir}/net`);
        return () => void sh(`umount ${dir}/net`);
      }, [new RegExp(`^mount: ${dir}/net \\(nsfs from nsfs, mount \\d+\\)$`)]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a process in another PID namespace", async () => {
    let child = 0;
    await expectCaught(async () => {
      const p = Bun.spawn(["unshare", "--pid", "--fork", "--kill-child", "sleep", "4711"]);
      child = await childOf(p.pid);
      return async () => {
        p.kill("SIGKILL");
        await p.exited;
        await until(gone(child), 5000, "the planted process to go");
      };
    }, [/^process in another PID namespace: \d+ sleep 4711$/]);
  });

  test("a bunker process in this PID namespace (a stuck supervisor) and a helper", async () => {
    const dir = scratch();
    try {
      for (const [name, label] of [
        ["bunker", /^bunker process: \d+ \S+\/bunker 4712$/],
        ["slirp4netns", /^helper process: \d+ \S+\/slirp4netns 4712$/],
        ["pasta", /^helper process: \d+ \S+\/pasta 4712$/],
      ] as const) {
        const exe = join(dir, name);
        copyFileSync("/bin/sleep", exe);
        chmodSync(exe, 0o755);
        await expectCaught(() => {
          const p = Bun.spawn([exe, "4712"]);
          return async () => {
            p.kill("SIGKILL");
            await p.exited;
          };
        }, [label]);
      }
      // Bun's own supervisor runs as `bunker __supervise ID`, whatever the executable is called.
      await expectCaught(() => {
        const p = Bun.spawn(["bash", "-c", "exec -a 'bunker __supervise 1eac0000c0de' sleep 4713"]);
        return async () => {
          p.kill("SIGKILL");
          await p.exited;
        };
      }, [/^bunker process: \d+ bunker __supervise 1eac0000c0de 4713$/]);
      // The waiter a supervisor becomes (native/waiter.c) is known by its name.
      const waiter = join(dir, "bunker-wait");
      copyFileSync("/bin/sleep", waiter);
      chmodSync(waiter, 0o755);
      await expectCaught(() => {
        const p = Bun.spawn([waiter, "4714"]);
        return async () => {
          p.kill("SIGKILL");
          await p.exited;
        };
      }, [/^bunker process: \d+ \S+\/bunker-wait 4714$/]);
      // And by its argv[0] between its execveat and naming itself, when its comm is a descriptor's number.
      await expectCaught(() => {
        const p = Bun.spawn(["bash", "-c", "exec -a bunker-wait sleep 4715"]);
        return async () => {
          p.kill("SIGKILL");
          await p.exited;
        };
      }, [/^bunker process: \d+ bunker-wait 4715$/]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a container's state directory, root's and a user's, and a leftover temporary one", async () => {
    for (const root of ["/run/bunker", "/tmp/bunker-4000123"]) {
      const made = !existsSync(root);
      await expectCaught(() => {
        mkdirSync(join(root, FAKE_ID), { recursive: true, mode: 0o700 });
        writeFileSync(join(root, FAKE_ID, "state.json"), JSON.stringify({ id: FAKE_ID, status: "running" }));
        return () => rmSync(made ? root : join(root, FAKE_ID), { recursive: true, force: true });
      }, [new RegExp(`^container state: ${root}/${FAKE_ID}$`)]);
    }
    await expectCaught(() => {
      mkdirSync(`/run/bunker/.new-${FAKE_ID}-1-1`);
      return () => rmSync(`/run/bunker/.new-${FAKE_ID}-1-1`, { recursive: true });
    }, [new RegExp(`^state: /run/bunker/\\.new-${FAKE_ID}-1-1$`)]);
  });

  test("a name link", async () => {
    mkdirSync("/run/bunker/names", { recursive: true, mode: 0o700 });
    await expectCaught(() => {
      symlinkSync(FAKE_ID, "/run/bunker/names/leakcheck-name");
      return () => rmSync("/run/bunker/names/leakcheck-name");
    }, [new RegExp(`^name: /run/bunker/names/leakcheck-name -> ${FAKE_ID}$`)]);
  });

  test("a rootfs record, and a user added to one that was there", async () => {
    mkdirSync("/run/bunker/rootfs", { recursive: true, mode: 0o700 });
    const record = "/run/bunker/rootfs/0-0-1.json";
    const r = { root: "/nonexistent", identity: "0:0:1", users: [] as unknown[], created: ["etc/hostname"] };
    await expectCaught(() => {
      writeFileSync(record, JSON.stringify(r));
      return () => rmSync(record);
    }, [/^rootfs record: \/run\/bunker\/rootfs\/0-0-1\.json$/]);
    writeFileSync(record, JSON.stringify(r));
    try {
      await expectCaught(() => {
        writeFileSync(record, JSON.stringify({ ...r, users: [{ id: FAKE_ID, pid: 1, start: 1 }] }));
        return () => writeFileSync(record, JSON.stringify(r));
      }, [/^rootfs record: \/run\/bunker\/rootfs\/0-0-1\.json$/]);
    } finally {
      rmSync(record);
    }
  });

  test("a lease on the bridge", async () => {
    ensureBridge();
    const lease = "/run/bunker/networks/bunker0/leases/10.89.255.254.json";
    await expectCaught(() => {
      writeFileSync(lease, JSON.stringify({ ip: "10.89.255.254", id: FAKE_ID }));
      return () => rmSync(lease);
    }, [/^lease: \/run\/bunker\/networks\/bunker0\/leases\/10\.89\.255\.254\.json$/]);
  });

  test("a container's veth (a bk link)", async () => {
    await expectCaught(() => {
      sh(`ip link add bk${FAKE_ID} type veth peer name lkcheck-peer`);
      return () => void sh(`ip link del bk${FAKE_ID}`);
    }, [new RegExp(`^link: bk${FAKE_ID}$`)]);
  });

  test("a cgroup, in every hierarchy that has bunker's parent", async () => {
    ensureBridge();
    const parents = readFileSync("/proc/self/mountinfo", "utf8")
      .split("\n")
      .map((l) => l.split(" "))
      .filter((f) => ["cgroup", "cgroup2"].includes(f[f.indexOf("-") + 1]!))
      .map((f) => `${f[4]}/bunker`)
      .filter((p) => existsSync(p));
    expect(parents.length).toBeGreaterThan(0);
    await expectCaught(() => {
      for (const p of parents) mkdirSync(join(p, FAKE_ID));
      return () => {
        for (const p of parents) rmdirSync(join(p, FAKE_ID));
      };
    }, parents.map((p) => new RegExp(`^cgroup: ${p}/${FAKE_ID}$`)));
  });

  test.skipIf(!nft)("a NAT element of a published port", async () => {
    ensureBridge();
    await expectCaught(() => {
      sh(`${nft} add element ip bunker tcp_ports '{ 64999 : 10.89.255.254 . 80 }'`);
      return () => void sh(`${nft} delete element ip bunker tcp_ports '{ 64999 }'`);
    }, [/^nat element: tcp_ports .*64999.*10\.89\.255\.254.*80/]);
  });

  test.skipIf(!nft)("route_localnet on bunker0 without the loopback guard; on any other interface at all", async () => {
    ensureBridge();
    await expectCaught(() => {
      sh(`${nft} flush chain ip bunker localnet`);
      // The next start on the bridge finds the guard missing and puts it back.
      return ensureBridge;
    }, [/^sysctl: net\.ipv4\.conf\.bunker0\.route_localnet=1 without the loopback guard/]);
    sh("ip link add lkcheck0 type veth peer name lkcheck1");
    try {
      await expectCaught(() => {
        writeFileSync("/proc/sys/net/ipv4/conf/lkcheck0/route_localnet", "1");
        return () => writeFileSync("/proc/sys/net/ipv4/conf/lkcheck0/route_localnet", "0");
      }, [/^sysctl: net\.ipv4\.conf\.lkcheck0\.route_localnet=1$/]);
    } finally {
      sh("ip link del lkcheck0");
    }
  });
});

describe.skipIf(!ready)("the leak check comes before any clean-up", () => {
  test("a container left running is named with all it holds, though bunker rm -f would remove it", async () => {
    const before = snapshot();
    const id = bunker(["run", "-d", "--rootfs", suite.fs.path, "--", "sleep", "4714"]).stdout.trim();
    try {
      const leaks = leaksSince(before);
      expect(leaks).toContainEqual(`container state: /run/bunker/${id}`);
      // Its supervisor: the Bun process, or the waiter it becomes once the container runs.
      expect(leaks).toContainEqual(expect.stringMatching(new RegExp(`^bunker process: \\d+ .*(__supervise|bunker-wait \\d+ \\d+ \\d+) ${id}( [-\\d ]+)?$`)));
      expect(leaks).toContainEqual(expect.stringMatching(/^process in another PID namespace: \d+ sleep 4714$/));
      expect(leaks).toContainEqual(`link: bk${id}`);
      expect(leaks).toContainEqual(expect.stringMatching(/^lease: /));
      expect(leaks).toContainEqual(expect.stringMatching(new RegExp(`^cgroup: .*/bunker/${id}$`)));
    } finally {
      bunker(["rm", "-f", id]);
    }
    await until(() => leaksSince(before).length === 0, 5000, "rm -f to remove it all");
  });

  test("a stopped container a run without --rm keeps is no leak, by design; a running one is", () => {
    const before = snapshot();
    const r = bunker(["run", "--name", "leakcheck-kept", "--network", "none", "--rootfs", suite.fs.path, "--", "true"]);
    expect(r.code).toBe(0);
    const id = readlinkSync("/run/bunker/names/leakcheck-kept");
    try {
      expect(leaksSince(before)).toEqual([]);
      expect(keptContainers(before)).toEqual([id]);
      // The same state said to be running, with nothing left of it, is not what bunker leaves.
      const path = `/run/bunker/${id}/state.json`;
      const state = JSON.parse(readFileSync(path, "utf8"));
      writeFileSync(path, JSON.stringify({ ...state, status: "running" }));
      expect(leaksSince(before).sort()).toEqual([`container state: /run/bunker/${id}`, `name: /run/bunker/names/leakcheck-kept -> ${id}`]);
      writeFileSync(path, JSON.stringify(state));
    } finally {
      bunker(["rm", "-f", id]);
    }
    expect(keptContainers(before)).toEqual([]);
  });

  test("a failing check names the test that leaked, and what it left", () => {
    const dir = scratch();
    try {
      writeFileSync(
        join(dir, "leaky.test.ts"),
        `import { test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { guardLeaks } from ${JSON.stringify(join(ROOT, "test/helpers/suite.ts"))};
guardLeaks(true);
test("tidy", () => {});
test("leaves a container's state behind", () => {
  mkdirSync("/run/bunker/${FAKE_ID}", { recursive: true });
  writeFileSync("/run/bunker/${FAKE_ID}/state.json", JSON.stringify({ status: "running" }));
});
test("tidy too", () => {});
`,
      );
      const r = Bun.spawnSync([process.execPath, "test", "./leaky.test.ts"], { cwd: dir, stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "" } });
      const out = r.stdout.toString() + r.stderr.toString();
      expect(r.exitCode).toBe(1);
      expect(out).toContain(`error: this test left behind:\n  container state: /run/bunker/${FAKE_ID}\n`);
      expect(out).toMatch(/\(fail\) leaves a container's state behind/);
      expect(out).toMatch(/\(pass\) tidy \[/);
      expect(out).toMatch(/\(pass\) tidy too/);
    } finally {
      rmSync(`/run/bunker/${FAKE_ID}`, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!ready || !tools)("after a leak, the check undoes what it can", () => {
  test("a mount a test left is detached once reported, so the next test starts clean", () => {
    const dir = scratch();
    const target = join(dir, "left mounted");
    mkdirSync(target);
    try {
      writeFileSync(
        join(dir, "leaky.test.ts"),
        `import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { guardLeaks } from ${JSON.stringify(join(ROOT, "test/helpers/suite.ts"))};
guardLeaks(true);
test("leaves a mount behind", () => {
  expect(Bun.spawnSync(["mount", "-t", "tmpfs", "leaked", ${JSON.stringify(target)}]).exitCode).toBe(0);
});
test("finds it gone", () => {
  expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(" leaked ");
});
`,
      );
      const r = Bun.spawnSync([process.execPath, "test", "./leaky.test.ts"], { cwd: dir, stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "" } });
      const out = r.stdout.toString() + r.stderr.toString();
      expect(out).toContain(`error: this test left behind:\n  mount: ${target.replaceAll(" ", "\\040")} (tmpfs from leaked`);
      expect(out).toMatch(/\(fail\) leaves a mount behind/);
      expect(out).toMatch(/\(pass\) finds it gone/);
      expect(readFileSync("/proc/self/mountinfo", "utf8")).not.toContain(" leaked ");
    } finally {
      Bun.spawnSync(["umount", "-l", target], { stderr: "ignore" });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test.skipIf(!ready)("nothing planted is left", () => {
  expect(readdirSync("/run/bunker").filter((e) => e.includes(FAKE_ID))).toEqual([]);
});
