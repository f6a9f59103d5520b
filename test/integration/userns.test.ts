// User-namespace set-up from root's side: --userns private, and the errors
// the map writers report.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, readlinkSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeIdMaps } from "../../src/identity/maps";
import { createSpec } from "../../src/spec/defaults";
import { bunker, isRoot, requireBinary, until } from "../helpers/bunker";
import { busyboxAvailable, makeRootfs, type Rootfs, giveRootfs } from "../helpers/rootfs";
import { guardLeaks } from "../helpers/suite";

const helpers = existsSync("/usr/bin/newuidmap") && existsSync("/usr/bin/newgidmap");
const ready = isRoot && busyboxAvailable();
if (!ready) console.warn("skipping user namespace tests: they need root and busybox-static");
if (ready && !helpers) console.warn("skipping the newuidmap error test: newuidmap/newgidmap are not installed (uidmap package)");

const ROOT_LINE = "root:1900000:65536";
let added: string[] = [];
let fs: Rootfs;

function addLine(file: string): void {
  const text = existsSync(file) ? readFileSync(file, "utf8") : "";
  if (text.split("\n").some((l) => l.startsWith("root:"))) return;
  writeFileSync(file, `${text}${text === "" || text.endsWith("\n") ? "" : "\n"}${ROOT_LINE}\n`);
  added.push(file);
}

// Before the file's own hooks: its snapshot comes first, its check before the users and files go.
const guard = guardLeaks(ready);

beforeAll(() => {
  if (!ready) return;
  requireBinary();
  addLine("/etc/subuid");
  addLine("/etc/subgid");
  fs = makeRootfs();
});

afterAll(async () => {
  if (!ready) return;
  await guard.check(() => {
    for (const f of added) writeFileSync(f, readFileSync(f, "utf8").split("\n").filter((l) => l !== ROOT_LINE).join("\n"));
    added = [];
    fs.remove();
  });
});

function rootRange(): { start: number; count: number } {
  const line = readFileSync("/etc/subuid", "utf8").split("\n").find((l) => l.startsWith("root:"))!;
  const [, s, c] = line.split(":");
  return { start: Number(s), count: Number(c) };
}

describe.skipIf(!ready)("--userns private as root", () => {
  test("container IDs map onto root's subordinate range; host root is not mapped", () => {
    const { start, count } = rootRange();
    giveRootfs(fs, { uid: start, gid: start });
    const r = bunker(["run", "--rm", "--userns", "private", "--rootfs", fs.path, "--", "sh", "-c", "cat /proc/self/uid_map | tr -s ' ' | sed 's/^ //'; id -u; touch /made"]);
    expect(r.stderr).toBe("");
    expect(r.stdout).toBe(`0 ${start} ${count}\n0\n`);
    expect(statSync(join(fs.path, "made")).uid).toBe(start);
  });
});

describe.skipIf(!ready)("map writer errors", () => {
  const spec = (writer: "helpers" | "direct") =>
    createSpec({
      id: "x",
      args: ["true"],
      network: "none",
      callerEnv: {},
      userns: {
        uid: [{ containerID: 0, hostID: 12345, size: 1 }],
        gid: [{ containerID: 0, hostID: 12345, size: 1 }],
        setup: writer === "helpers" ? { writer, newuidmap: "/usr/bin/newuidmap", newgidmap: "/usr/bin/newgidmap" } : { writer },
        setgroups: true,
      },
    });

  test.skipIf(!helpers)("newuidmap refusing a range is reported with the command and its reason", async () => {
    const target = Bun.spawn(["unshare", "--user", "sleep", "30"]);
    // Maps can be written once unshare has made the namespace and exec'd sleep in it.
    const own = readlinkSync("/proc/self/ns/user");
    await until(() => {
      try {
        return readlinkSync(`/proc/${target.pid}/ns/user`) !== own && readFileSync(`/proc/${target.pid}/cmdline`, "utf8").startsWith("sleep");
      } catch {
        return false;
      }
    }, 5000, "unshare to make its user namespace");
    try {
      // Both helpers run at once; whichever refuses first is reported.
      await expect(writeIdMaps(target.pid, spec("helpers"))).rejects.toThrow(
        new RegExp(`^/usr/bin/new([ug])idmap ${target.pid} 0 12345 1: \\1id range \\[0-1\\) -> \\[12345-12346\\) not allowed$`),
      );
    } finally {
      target.kill();
      await target.exited;
    }
  });

  test("a map that cannot be written names the file, the map and the reason", async () => {
    const target = Bun.spawn(["sleep", "30"]);
    try {
      await expect(writeIdMaps(target.pid, spec("direct"))).rejects.toThrow(`write /proc/${target.pid}/uid_map ("0 12345 1"): Operation not permitted`);
    } finally {
      target.kill();
      await target.exited;
    }
  });
});
