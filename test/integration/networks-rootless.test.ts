// A user's networks made with `bunker network create`: the bridges in the
// user's rootless network namespace, containers on them that reach each
// other by address and by name, a published port from the host's loopback,
// connect and disconnect while running, and nothing left once the last
// container and network are gone. Names asked have one label: aardvark-dns
// answers those itself and forwards none off the machine.

import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { isRoot } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { freePort } from "../helpers/ports";
import { guardLeaks } from "../helpers/suite";
import { userSuite } from "../helpers/user-suite";
import { helperInstalled, tunOpen } from "../helpers/netenv";

const aardvark = ["/usr/lib/podman/aardvark-dns", "/usr/libexec/podman/aardvark-dns"].some((p) => existsSync(p));
const ready = isRoot && busyboxAvailable() && existsSync("/usr/bin/newuidmap") && existsSync("/usr/bin/setpriv") && helperInstalled("slirp4netns") && tunOpen() && aardvark;
if (!ready) console.warn("skipping the rootless network tests: they need root (to make a test user), busybox-static, uidmap, slirp4netns with /dev/net/tun open to users, and aardvark-dns");

guardLeaks(ready);

const serve = (text: string) => `while true; do echo ${text} | nc -l -p 80; done`;

describe.skipIf(!ready)("a user's networks", () => {
  const s = userSuite("bunker-ci-rnet", (u) => {
    u.as(["rm", "-f", "web", "db", "app", "pub1", "pub2"]);
    u.as(["network", "rm", "-f", "front", "back"]);
  });
  const run = (flags: string[], script: string) => s.as(["run", "--rm", ...flags, "--rootfs", s.fs.path, "--", "sh", "-c", script]);
  const fetch = (name: string) => `for i in $(seq 25); do r=$(nc -w 2 ${name} 80 </dev/null 2>/dev/null) && [ -n "$r" ] && { echo "$r"; exit 0; }; sleep 0.2; done; echo unreachable`;
  // Live ones: this host's PID 1 leaves a killed holder a zombie.
  const holders = () =>
    Bun.spawnSync(["pgrep", "-u", String(s.user.uid), "-x", "bunker-netns"])
      .stdout.toString()
      .trim()
      .split("\n")
      .filter((p) => p && existsSync(`/proc/${p}/stat`) && !readFileSync(`/proc/${p}/stat`, "utf8").includes(") Z "))
      .join(" ");

  test("two containers on a network reach each other by name, alias and address; a published port answers on the host's 127.0.0.1; nothing is left after", async () => {
    const hostLinks = () => readdirSync("/sys/class/net").filter((l) => l.startsWith("bk"));
    const before = hostLinks();
    const made = s.as(["network", "create", "front"]);
    expect([made.stderr, made.code]).toEqual(["", 0]);
    const port = freePort();
    const web = s.as(["run", "-d", "--name", "web", "--network", "front", "--network-alias", "www", "-p", `127.0.0.1:${port}:80`, "--rootfs", s.fs.path, "--", "sh", "-c", serve("rootless-web")]);
    expect([web.stderr, web.code]).toEqual(["", 0]);
    const ip = JSON.parse(s.as(["inspect", "web"]).stdout)[0].network.ip as string;
    expect(ip).toMatch(/^10\.\d+\.\d+\.\d+$/);
    for (const name of ["web", "www", ip]) {
      const r = run(["--network", "front"], fetch(name));
      expect([name, r.stdout, r.stderr]).toEqual([name, "rootless-web\n", ""]);
    }
    // The port, from the host, through slirp4netns into the user's network namespace.
    let answer = "";
    for (let i = 0; i < 50 && !answer.includes("rootless-web"); i++) {
      answer = await new Promise<string>((resolve) => {
        let got = "";
        Bun.connect({ hostname: "127.0.0.1", port, socket: { data: (_s, d) => void (got += d.toString()), close: () => resolve(got), error: () => resolve(got), connectError: () => resolve("") } }).catch(() => resolve(""));
      });
      if (!answer.includes("rootless-web")) await Bun.sleep(100);
    }
    expect(answer).toBe("rootless-web\n");
    // aardvark-dns, started by bunker in the user's namespace, has no signal blocked: SIGHUP reloads it, SIGTERM ends it.
    const dnsPid = Bun.spawnSync(["pgrep", "-u", String(s.user.uid), "-f", "aardvark-dns --config"]).stdout.toString().trim().split("\n")[0]!;
    expect(dnsPid).toMatch(/^\d+$/);
    for (const task of readdirSync(`/proc/${dnsPid}/task`)) expect(readFileSync(`/proc/${dnsPid}/task/${task}/status`, "utf8")).toContain("SigBlk:\t0000000000000000\n");
    // The bridge is in the user's namespace, not the host's.
    expect(hostLinks()).toEqual(before);
    expect(holders()).not.toBe("");
    expect(s.as(["rm", "-f", "web"]).code).toBe(0);
    expect(s.as(["network", "rm", "front"])).toMatchObject({ code: 0, stdout: "front\n" });
    // The last container gone, so is the namespace that held the bridges.
    expect(holders()).toBe("");
  }, 60_000);

  test("connect and disconnect while running; network rm in use is refused naming the container", () => {
    expect(s.as(["network", "create", "front"]).code).toBe(0);
    expect(s.as(["network", "create", "back"]).code).toBe(0);
    expect(s.as(["run", "-d", "--name", "db", "--network", "back", "--rootfs", s.fs.path, "--", "sh", "-c", serve("from-db")]).code).toBe(0);
    expect(s.as(["run", "-d", "--name", "app", "--network", "front", "--rootfs", s.fs.path, "--", "sleep", "60"]).code).toBe(0);
    const probe = () => s.as(["exec", "app", "sh", "-c", "nc -w 2 db 80 </dev/null 2>/dev/null | grep . || echo unreachable"]).stdout;
    expect(probe()).toBe("unreachable\n");
    const c = s.as(["network", "connect", "back", "app"]);
    expect([c.stderr, c.code]).toEqual(["", 0]);
    expect(s.as(["exec", "app", "ip", "-o", "link", "show", "eth1"]).code).toBe(0);
    expect(probe()).toBe("from-db\n");
    expect(s.as(["network", "rm", "back"])).toMatchObject({ code: 1, stderr: "bunker: network back is in use by containers db, app: stop them or disconnect them first\n" });
    const d = s.as(["network", "disconnect", "back", "app"]);
    expect([d.stderr, d.code]).toEqual(["", 0]);
    expect(probe()).toBe("unreachable\n");
    // A detached container's published port is let go when it ends (here while others keep the namespace): the port can be published again.
    const port = freePort();
    for (const name of ["pub1", "pub2"]) {
      const r = s.as(["run", "-d", "--name", name, "--network", "front", "-p", `127.0.0.1:${port}:80`, "--rootfs", s.fs.path, "--", "sleep", "60"]);
      expect([name, r.stderr, r.code]).toEqual([name, "", 0]);
      expect(s.as(["rm", "-f", name]).code).toBe(0);
    }
    expect(s.as(["rm", "-f", "app", "db"]).code).toBe(0);
    expect(s.as(["network", "rm", "front", "back"]).code).toBe(0);
    expect(holders()).toBe("");
  }, 60_000);
});
