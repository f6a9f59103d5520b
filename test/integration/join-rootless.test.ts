// --network, --pid and --ipc container:ID for a user's containers: the new
// container enters the other's user namespace, which owns the namespaces it
// joins, and makes its own mount, UTS and PID namespaces inside it. Another
// user's container, a stopped one, and one whose ID maps differ are refused;
// the first container's end leaves the second running and removable.

import { describe, expect, test } from "bun:test";
import { existsSync, readlinkSync, symlinkSync } from "node:fs";
import { dirname, join } from "node:path";
import { alive, isRoot, until } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { guardLeaks } from "../helpers/suite";
import { userSuite, type UserSuite } from "../helpers/user-suite";

const uidmap = existsSync("/usr/bin/newuidmap") && existsSync("/usr/bin/newgidmap");
const ready = isRoot && busyboxAvailable() && uidmap && existsSync("/usr/bin/setpriv");
if (!ready) console.warn(`skipping the rootless container:ID tests: ${!isRoot ? "they need root to create test users" : !uidmap ? "uidmap (newuidmap/newgidmap) is not installed" : "busybox-static or setpriv is missing"}`);

// Before the describe block's hooks: the snapshot is taken before the users exist.
guardLeaks(ready);

const SERVE = "mkdir -p /www && echo served-by-web > /www/index.html && exec httpd -f -p 8080 -h /www";
/** wget against 127.0.0.1:8080 until it answers (5 s at most): the server may still be starting. */
const FETCH = "i=0; until wget -qO- http://127.0.0.1:8080/ 2>/dev/null; do i=$((i + 1)); [ $i -ge 100 ] && exit 7; sleep 0.05; done";

/** `run -d --name NAME` of `script` on the user's rootfs, with no network helper. */
function startWeb(s: UserSuite, name: string, flags: string[] = [], script = SERVE): number {
  const r = s.as(["run", "-d", "--name", name, "--network", "none", ...flags, "--rootfs", s.fs.path, "--", "sh", "-c", script]);
  expect([r.code, r.stderr]).toEqual([0, ""]);
  return pidOf(s, name);
}

function pidOf(s: UserSuite, name: string): number {
  return JSON.parse(s.as(["inspect", name]).stdout)[0].pid as number;
}

const nsOf = (pid: number, type: string) => readlinkSync(`/proc/${pid}/ns/${type}`);

describe.skipIf(!ready)("container:ID as a user", () => {
  const s = userSuite("bunker-ci-joinu", (u) => u.as(["rm", "-f", "web", "side", "done"]));
  const other = userSuite("bunker-ci-joino");
  const run = (flags: string[], script: string) => s.as(["run", "--rm", ...flags, "--rootfs", s.fs.path, "--", "sh", "-c", script]);

  test("--network container:web: fetches from web's server over 127.0.0.1, in web's network and user namespaces", () => {
    const web = startWeb(s, "web");
    try {
      const r = run(["--network", "container:web"], `${FETCH} && for t in net user mnt; do readlink /proc/self/ns/$t; done`);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      const [body, net, user, mnt] = r.stdout.trim().split("\n");
      expect(body).toBe("served-by-web");
      // Seen from the host, and from inside web: one network namespace, one user namespace, two mount namespaces.
      expect(net).toBe(nsOf(web, "net"));
      expect(s.as(["exec", "web", "readlink", "/proc/self/ns/net"]).stdout.trim()).toBe(net!);
      expect(user).toBe(nsOf(web, "user"));
      expect(mnt).not.toBe(nsOf(web, "mnt"));
      // The control: a container of its own does not reach web's server, in a network namespace of its own.
      const alone = run(["--network", "none"], "wget -qO- -T 1 http://127.0.0.1:8080/; readlink /proc/self/ns/net");
      expect(alone.stdout.trim()).not.toBe(net!);
      expect(alone.stdout).not.toContain("served-by-web");
    } finally {
      s.as(["rm", "-f", "web"]);
    }
  });

  test("--pid and --ipc container:web: web's processes and its /dev/shm", () => {
    const web = startWeb(s, "web", [], "echo shared > /dev/shm/mark && exec sleep 60");
    try {
      const r = run(["--pid", "container:web", "--ipc", "container:web", "--network", "none"], "cat /dev/shm/mark; ps -o comm | grep -c '^sleep$'; for t in pid ipc; do readlink /proc/self/ns/$t; done");
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(r.stdout.trim().split("\n")).toEqual(["shared", "1", nsOf(web, "pid"), nsOf(web, "ipc")]);
    } finally {
      s.as(["rm", "-f", "web"]);
    }
  });

  test("another user's container, a stopped one, and other ID maps are refused, naming why", () => {
    const web = startWeb(s, "web");
    try {
      const id = JSON.parse(s.as(["inspect", "web"]).stdout)[0].id as string;
      // Another user's bunker knows neither the name nor the id: its containers are its own.
      for (const ref of ["web", id]) {
        const r = other.as(["run", "--rm", "--network", `container:${ref}`, "--rootfs", other.fs.path, "--", "true"]);
        expect(r.code).toBe(125);
        expect(r.stderr).toBe(`bunker: no such container: ${ref}\n`);
      }
      // Nor through the first user's state directory, which is private to them: here through a link to it.
      const base = dirname(other.fs.path);
      symlinkSync(`/tmp/bunker-${s.user.uid}`, join(base, "bunker"));
      const theirs = other.as(["run", "--rm", "--network", "container:web", "--rootfs", other.fs.path, "--", "true"], { XDG_RUNTIME_DIR: base });
      expect([theirs.code, theirs.stderr]).toEqual([125, `bunker: state directory ${base}/bunker: ${base}/bunker is not a directory\n`]);
      // Nor by its namespace file: the kernel keeps another user out of it.
      const byFile = other.as(["run", "--rm", "--network", `ns:/proc/${web}/ns/net`, "--rootfs", other.fs.path, "--", "true"]);
      expect(byFile.code).toBe(125);
      expect(byFile.stderr).toMatch(new RegExp(`^bunker: [^\n]*/proc/${web}/ns/net: (Permission denied|Operation not permitted)\n$`));
      expect(s.as(["run", "--name", "done", "--network", "none", "--rootfs", s.fs.path, "--", "true"]).code).toBe(0);
      const stopped = run(["--network", "container:done"], "true");
      expect([stopped.code, stopped.stderr]).toEqual([125, "bunker: --network container:done: container done is not running\n"]);
      // keep-id maps the user's own ID where web has root: the same rootfs would show other owners.
      const keep = run(["--network", "container:web", "--userns", "keep-id"], "true");
      expect(keep.code).toBe(125);
      expect(keep.stderr).toBe("bunker: --network container:web: container web's user namespace maps IDs otherwise than this container's would: give the same --userns, --map-uid and --map-gid as it was started with\n");
      // Two containers of the user, each with a user namespace of its own: a container can be in one only.
      startWeb(s, "side", [], "exec sleep 60");
      const two = run(["--network", "container:web", "--pid", "container:side"], "true");
      expect([two.code, two.stderr]).toEqual([125, "bunker: --pid container:side and --network container:web: the two containers are in different user namespaces, and a container can be in one only\n"]);
    } finally {
      s.as(["rm", "-f", "web", "done", "side"]);
    }
  });

  test("web's end leaves the container in its network namespace running, and rm -f of it clean", async () => {
    const web = startWeb(s, "web");
    const r = s.as(["run", "-d", "--name", "side", "--network", "container:web", "--rootfs", s.fs.path, "--", "sh", "-c", `${FETCH} > /tmp/got && exec sleep 60`]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    const side = pidOf(s, "side");
    await until(() => s.as(["exec", "side", "cat", "/tmp/got"]).stdout === "served-by-web\n", 10_000, "side to fetch from web");
    expect(s.as(["rm", "-f", "web"]).code).toBe(0);
    await until(() => !alive(web), 5000, "web to end");
    expect(alive(side)).toBe(true);
    expect(s.as(["exec", "side", "sh", "-c", "wget -qO- -T 1 http://127.0.0.1:8080/ || echo none"]).stdout).toBe("none\n");
    const rm = s.as(["rm", "-f", "side"]);
    expect([rm.code, rm.stderr]).toEqual([0, ""]);
    await until(() => !alive(side), 5000, "side to end");
  });
});
