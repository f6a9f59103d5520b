// docker run's everyday flags, seen from inside the container: --add-host,
// --dns*, --label*, --cidfile, --shm-size, --sysctl, --oom-score-adj,
// --group-add, --pid/--ipc/--uts host, --stop-timeout, TERM under -t,
// --cpu-period/--cpu-quota, --memory-reservation and --oom-kill-disable.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { bunker, BUNKER, isRoot, until } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";

const ready = isRoot && busyboxAvailable();
if (!ready) console.warn("skipping the run flag tests: they need root and busybox-static");

const suite = containerSuite(ready);
let dir: string;
const mountinfo = readFileSync("/proc/self/mountinfo", "utf8");
/** Whether the memory and cpu controllers are cgroup v2's here (a pure v2 host), else v1's. */
const v2 = / \/sys\/fs\/cgroup [^ ]+ .* - cgroup2 /.test(mountinfo);
/** A container's cgroup file, read from the host. */
const cgroupFile = (id: string, controller: string, file: string) => readFileSync(v2 ? `/sys/fs/cgroup/bunker/${id}/${file}` : `/sys/fs/cgroup/${controller}/bunker/${id}/${file}`, "utf8").trim();
const inBox = (flags: string[], cmd: string) => bunker(["run", "--rm", "--network", "none", ...flags, "--rootfs", suite.fs.path, "--", "sh", "-c", cmd]);

beforeAll(() => {
  if (ready) dir = mkdtempSync("/tmp/bunker-flags-");
});
afterAll(() => {
  if (ready) rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!ready)("docker run's flags", () => {
  test("--add-host adds lines to /etc/hosts (host-gateway: the host's address on the container's network); --dns* write resolv.conf", () => {
    const r = inBox(["--add-host", "db:10.1.2.3", "--add-host", "six=[fd00::1]", "--dns", "192.0.2.53", "--dns", "2001:db8::53", "--dns-search", "corp.example", "--dns-option", "ndots:2"], "tail -2 /etc/hosts; cat /etc/resolv.conf");
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout).toBe("10.1.2.3\tdb\nfd00::1\tsix\nnameserver 192.0.2.53\nnameserver 2001:db8::53\nsearch corp.example\noptions ndots:2\n");
    const gw = bunker(["run", "--rm", "--network", "bridge", "--add-host", "host:host-gateway", "--rootfs", suite.fs.path, "--", "sh", "-c", "grep -E '[[:space:]](host\\.bunker\\.internal|host)$' /etc/hosts"]);
    expect(gw.code).toBe(0);
    const [internal, mine] = gw.stdout.trim().split("\n").map((l) => l.split("\t"));
    expect(internal![1]).toBe("host.bunker.internal");
    expect(mine).toEqual([internal![0]!, "host"]);
    for (const [flags, said] of [
      [["--add-host", "gw:host-gateway"], "--add-host gw:host-gateway: this container's network reaches no address of the host (with --network none or host there is none to give)"],
      [["--add-host", "nohost"], "--add-host nohost: give NAME:IP, with a host name (letters, digits, dots, dashes)"],
      [["--add-host", "db:300.1.1.1"], '--add-host db:300.1.1.1: "300.1.1.1" is not an IP address (or host-gateway)'],
      [["--dns", "dns.example"], "--dns dns.example: not an IP address"],
      [["--dns-option", "ndots 2"], "--dns-option ndots 2: not a resolver option (ndots:2, edns0, ...)"],
    ] as const) {
      const bad = inBox([...flags], "true");
      expect([bad.code, bad.stderr]).toEqual([125, `bunker: ${said}\n`]);
    }
    const host = bunker(["run", "--rm", "--network", "host", "--dns", "192.0.2.53", "--rootfs", suite.fs.path, "--", "true"]);
    expect([host.code, host.stderr]).toEqual([125, "bunker: run: --dns, --dns-search and --dns-option do not go with --network host: the host's resolv.conf is the container's\n"]);
  });

  test("--label and --label-file (the flags win) are shown by inspect; --cidfile names the container, and is refused where it exists", () => {
    const labels = join(dir, "labels");
    writeFileSync(labels, "# team labels\nteam=core\ntier=file\n\n");
    const cid = join(dir, "cid");
    const r = bunker(["run", "--name", "flags-labels", "--network", "none", "--label-file", labels, "-l", "tier=flag", "--label", "empty", "--cidfile", cid, "--rootfs", suite.fs.path, "--", "true"]);
    expect([r.code, r.stderr]).toEqual([0, ""]);
    const [s] = JSON.parse(bunker(["inspect", "flags-labels"]).stdout);
    expect(s.spec.bunker.labels).toEqual({ team: "core", tier: "flag", empty: "" });
    expect(readFileSync(cid, "utf8")).toBe(s.id);
    const again = bunker(["run", "--rm", "--network", "none", "--cidfile", cid, "--rootfs", suite.fs.path, "--", "true"]);
    expect([again.code, again.stderr]).toEqual([125, `bunker: --cidfile ${cid}: the file exists already: remove it, or is another container using it?\n`]);
    expect(bunker(["rm", "flags-labels"]).code).toBe(0);
    // A run that fails leaves no id file behind.
    const failed = join(dir, "cid-failed");
    expect(bunker(["run", "--rm", "--network", "none", "--cidfile", failed, "--rootfs", suite.fs.path, "--", "/no/such/command"]).code).toBe(127);
    expect(existsSync(failed)).toBe(false);
  });

  test("--shm-size, --sysctl of the container's own namespaces (others refused), --oom-score-adj", () => {
    const r = inBox(["--shm-size", "2m", "--sysctl", "net.ipv4.ip_forward=1", "--sysctl", "kernel.shmmax=65536", "--oom-score-adj", "321"], "grep ' /dev/shm ' /proc/mounts | grep -o 'size=[0-9a-z]*'; cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/shmmax /proc/self/oom_score_adj");
    expect([r.code, r.stdout, r.stderr]).toEqual([0, "size=2048k\n1\n65536\n321\n", ""]);
    // Control: the host's own values are untouched.
    expect(readFileSync("/proc/sys/kernel/shmmax", "utf8").trim()).not.toBe("65536");
    for (const [flags, said] of [
      [["--sysctl", "kernel.panic=1"], "--sysctl kernel.panic: not a namespaced sysctl; it would change the host (net.*, kernel.msg*, kernel.sem, kernel.shm*, fs.mqueue.*)"],
      [["--sysctl", "ip_forward"], "--sysctl ip_forward: give NAME=VALUE, e.g. net.ipv4.ip_forward=1"],
      [["--oom-score-adj", "2000"], "--oom-score-adj 2000: a whole number from -1000 to 1000"],
      [["--shm-size", "big"], '--shm-size "big": not a size (use a number with an optional unit: b, k, m, g, e.g. 512m)'],
    ] as const) {
      const bad = inBox([...flags], "true");
      expect([bad.code, bad.stderr]).toEqual([125, `bunker: ${said}\n`]);
    }
    const hostNet = bunker(["run", "--rm", "--network", "host", "--sysctl", "net.ipv4.ip_forward=1", "--rootfs", suite.fs.path, "--", "true"]);
    expect([hostNet.code, hostNet.stderr]).toEqual([125, "bunker: --sysctl net.ipv4.ip_forward: the container shares the host's network namespace: it would change the host\n"]);
  });

  test("--group-add adds groups by the container's names or by number; a name it lacks is refused", () => {
    const r = inBox(["--group-add", "tty", "--group-add", "4242"], "id -G");
    expect([r.code, r.stderr]).toEqual([0, ""]);
    expect(r.stdout.trim().split(" ").map(Number).sort((a, b) => a - b)).toEqual([0, 5, 4242]);
    const bad = inBox(["--group-add", "wheel"], "true");
    expect([bad.code, bad.stderr]).toEqual([125, "bunker: --group-add wheel: no such group in the container's /etc/group\n"]);
  });

  test("--uts, --ipc and --pid host: the host's namespaces (and /dev/shm, and name); conflicting flags refused", () => {
    const uts = inBox(["--uts", "host"], "hostname; cat /etc/hostname; readlink /proc/self/ns/uts");
    expect(uts.stdout).toBe(`${hostname()}\n${hostname()}\n${readlinkSync("/proc/self/ns/uts")}\n`);
    const shared = inBox(["--ipc", "host", "--pid", "host"], "readlink /proc/self/ns/ipc; readlink /proc/self/ns/pid; cat /proc/1/comm; stat -f -c %i /dev/shm");
    expect([shared.code, shared.stderr]).toEqual([0, ""]);
    const hostShm = Bun.spawnSync(["stat", "-f", "-c", "%i", "/dev/shm"]).stdout.toString();
    expect(shared.stdout).toBe(`${readlinkSync("/proc/self/ns/ipc")}\n${readlinkSync("/proc/self/ns/pid")}\n${readFileSync("/proc/1/comm", "utf8")}${hostShm}`);
    // Control: without them, namespaces of its own.
    const own = inBox([], "readlink /proc/self/ns/pid");
    expect(own.stdout).not.toBe(`${readlinkSync("/proc/self/ns/pid")}\n`);
    for (const [flags, said] of [
      [["--uts", "host", "--hostname", "box"], "run: --hostname with --uts host: the host's name is the container's"],
      [["--pid", "host", "--init"], "run: --init with --pid host: the init would not be PID 1 of anything"],
      [["--pid", "box"], "--pid box: use host (the host's processes), container:ID (another's), or private"],
    ] as const) {
      const bad = inBox([...flags], "true");
      expect([bad.code, bad.stderr]).toEqual([125, `bunker: ${said}\n`]);
    }
  });

  test("--stop-timeout is the grace time stop gives when -t is not", () => {
    const id = bunker(["run", "-d", "--network", "none", "--stop-timeout", "1", "--rootfs", suite.fs.path, "--", "sh", "-c", "trap '' TERM; echo ready; while :; do sleep 0.05; done"]).stdout.trim();
    const start = performance.now();
    expect(bunker(["stop", id]).code).toBe(0);
    const took = performance.now() - start;
    // SIGKILL after about 1 s, not after the default 10.
    expect(took).toBeGreaterThan(900);
    expect(took).toBeLessThan(6000);
    expect(bunker(["wait", id]).stdout).toBe("137\n");
    expect(bunker(["rm", id]).code).toBe(0);
  });

  test("-t sets TERM=xterm, not the caller's; without -t there is no TERM", () => {
    const tty = Bun.spawnSync(["script", "-qec", `"${BUNKER}" run --rm -t --network none --rootfs ${suite.fs.path} -- sh -c 'echo term=$TERM'`, "/dev/null"], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", TERM: "caller-term" } });
    expect(tty.stdout.toString().replaceAll("\r", "")).toContain("term=xterm\n");
    const plain = bunker(["run", "--rm", "--network", "none", "--rootfs", suite.fs.path, "--", "sh", "-c", "echo term=${TERM-unset}"], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", TERM: "caller-term" } });
    expect(plain.stdout).toBe("term=unset\n");
    const chosen = inBox(["-t", "-e", "TERM=vt100"], "echo $TERM");
    expect(chosen.stdout.replaceAll("\r", "")).toBe("vt100\n");
  });

  test("--cpu-period, --cpu-quota and --memory-reservation land in the cgroup's files, also through update; --oom-kill-disable on v1, a warning on v2", () => {
    const sleeper = ["--", "sh", "-c", "while :; do sleep 1; done"];
    const id = bunker(["run", "-d", "--network", "none", "-m", "64m", "--memory-reservation", "32m", "--cpu-period", "50000", "--cpu-quota", "25000", "--oom-kill-disable", "--rootfs", suite.fs.path, ...sleeper]);
    expect(id.code).toBe(0);
    const control = bunker(["run", "-d", "--network", "none", "-m", "64m", "--rootfs", suite.fs.path, ...sleeper]);
    try {
      const c = id.stdout.trim();
      const k = control.stdout.trim();
      if (v2) {
        expect(id.stderr).toBe("bunker warn: --oom-kill-disable: cgroup v2 cannot turn the OOM killer off; it stays on for this container\n");
        expect([cgroupFile(c, "memory", "memory.low"), cgroupFile(c, "cpu", "cpu.max")]).toEqual(["33554432", "25000 50000"]);
        expect([cgroupFile(k, "memory", "memory.low"), cgroupFile(k, "cpu", "cpu.max")]).toEqual(["0", "max 100000"]);
      } else {
        expect(id.stderr).toBe("");
        const files = (x: string) => [cgroupFile(x, "memory", "memory.soft_limit_in_bytes"), cgroupFile(x, "memory", "memory.oom_control").split("\n")[0], cgroupFile(x, "cpu", "cpu.cfs_period_us"), cgroupFile(x, "cpu", "cpu.cfs_quota_us")];
        expect(files(c)).toEqual(["33554432", "oom_kill_disable 1", "50000", "25000"]);
        expect(files(k)).toEqual(["9223372036854771712", "oom_kill_disable 0", "100000", "-1"]);
      }
      // docker update's flags: a new quota keeps the period, a new reservation the limit.
      const up = bunker(["update", "--cpu-quota", "40000", "--memory-reservation", "48m", c]);
      expect([up.code, up.stderr]).toEqual([0, ""]);
      if (v2) expect([cgroupFile(c, "memory", "memory.low"), cgroupFile(c, "cpu", "cpu.max")]).toEqual(["50331648", "40000 50000"]);
      else expect([cgroupFile(c, "memory", "memory.soft_limit_in_bytes"), cgroupFile(c, "cpu", "cpu.cfs_period_us"), cgroupFile(c, "cpu", "cpu.cfs_quota_us")]).toEqual(["50331648", "50000", "40000"]);
    } finally {
      bunker(["rm", "-f", id.stdout.trim(), control.stdout.trim()]);
    }
    for (const [flags, said] of [
      [["--cpus", "1", "--cpu-quota", "50000"], "--cpus sets the CPU period and quota itself: give --cpus, or --cpu-period/--cpu-quota, not both"],
      [["--cpu-period", "100"], "--cpu-period 100: out of range (1000-1000000)"],
      [["--cpu-quota", "10"], "--cpu-quota 10: out of range (1000-2147483648)"],
      [["-m", "64m", "--memory-reservation", "128m"], "--memory-reservation 128m is above --memory 64m: the soft limit must not be above the hard one"],
      [["--memory-reservation", "lots"], '--memory-reservation "lots": not a size (use a number with an optional unit: b, k, m, g, e.g. 512m)'],
    ] as const) {
      const bad = inBox([...flags], "true");
      expect([bad.code, bad.stderr]).toEqual([125, `bunker: ${said}\n`]);
    }
  });

  test("--expose records ports (inspect shows them) and -P publishes them, each on a free host port; bad ones refused", () => {
    const id = bunker(["run", "-d", "--expose", "8080", "--expose", "53-54/udp", "-P", "--rootfs", suite.fs.path, "--", "sleep", "60"]).stdout.trim();
    const recorded = bunker(["run", "-d", "--network", "none", "--expose", "7000/tcp", "--rootfs", suite.fs.path, "--", "sleep", "60"]).stdout.trim();
    try {
      const lines = bunker(["port", id]).stdout.trim().split("\n");
      expect(lines.map((l) => l.replace(/:\d+$/, ":N"))).toEqual(["8080/tcp -> 0.0.0.0:N", "53/udp -> 0.0.0.0:N", "54/udp -> 0.0.0.0:N"]);
      expect(new Set(lines.map((l) => l.split(":")[1])).size).toBe(3);
      expect(JSON.parse(bunker(["inspect", id]).stdout)[0].spec.bunker.exposedPorts).toEqual(["8080/tcp", "53/udp", "54/udp"]);
      // Without -P, exposed is only recorded.
      expect(JSON.parse(bunker(["inspect", recorded]).stdout)[0].spec.bunker.exposedPorts).toEqual(["7000/tcp"]);
      expect(bunker(["port", recorded]).stdout).toBe("");
    } finally {
      bunker(["rm", "-f", id, recorded]);
    }
    for (const [flags, said] of [
      [["--expose", "99999"], "--expose 99999: port 99999 is out of range (1-65535)"],
      [["--expose", "80/sctp"], "--expose 80/sctp: the protocol must be tcp or udp"],
      [["--expose", "90-80"], "--expose 90-80: the range 90-80 runs backwards"],
    ] as const) {
      const bad = inBox([...flags], "true");
      expect([bad.code, bad.stderr]).toEqual([125, `bunker: ${said}\n`]);
    }
  });

  test("--device makes the host's node in /dev, allowed as PERMS say; --device-cgroup-rule allows more; bad ones refused", () => {
    // /dev/kmsg is on every host. Only opening it for writing is tried: that writes nothing, and needs no
    // capability (reading may, where dmesg_restrict is set), so the device rules alone decide it.
    const tryOpen = "ls -ln /dev/mykmsg | awk '{print $1, $5, $6}'; (exec 3>/dev/mykmsg) 2>/dev/null && echo write || echo no-write";
    const all = inBox(["--device", "/dev/kmsg:/dev/mykmsg"], tryOpen);
    expect([all.code, all.stdout, all.stderr]).toEqual([0, "crw-r--r-- 1, 11\nwrite\n", ""]);
    const readOnly = inBox(["--device", "/dev/kmsg:/dev/mykmsg:r"], tryOpen);
    expect(readOnly.stdout).toBe("crw-r--r-- 1, 11\nno-write\n");
    // m only: the node is there, and the rule that follows it allows writing.
    const ruled = inBox(["--device", "/dev/kmsg:/dev/mykmsg:m", "--device-cgroup-rule", "c 1:11 w"], tryOpen);
    expect(ruled.stdout).toBe("crw-r--r-- 1, 11\nwrite\n");
    const none = inBox(["--device", "/dev/kmsg:/dev/mykmsg:m"], tryOpen);
    expect(none.stdout).toBe("crw-r--r-- 1, 11\nno-write\n");
    // Control: without --device there is no such node.
    expect(inBox([], "ls /dev/mykmsg /dev/kmsg 2>&1 | grep -c 'No such file'").stdout).toBe("2\n");
    for (const [flags, said] of [
      [["--device", "/dev/nope"], "--device /dev/nope: stat /dev/nope: No such file or directory"],
      [["--device", "/etc/hostname:/dev/x"], "--device /etc/hostname: /etc/hostname is not a device node"],
      [["--device", "/dev/kmsg:/etc/kmsg"], '--device /dev/kmsg:/etc/kmsg: the container path "/etc/kmsg" must lie in /dev (without . or ..)'],
      [["--device", "/dev/kmsg:/dev/k:rwq"], '--device /dev/kmsg:/dev/k:rwq: "rwq" is not a set of permissions (some of r, w and m, e.g. rw)'],
      [["--device-cgroup-rule", "c 1:11"], '--device-cgroup-rule "c 1:11": give TYPE MAJOR:MINOR PERMS, e.g. "c 1:3 rwm" or "b 8:* r" (TYPE a, b or c; * for any number)'],
    ] as const) {
      const bad = inBox([...flags], "true");
      expect([bad.code, bad.stderr]).toEqual([125, `bunker: ${said}\n`]);
    }
  });

  test("--pid and --ipc container:ID join a running container's namespaces (and its /dev/shm); it dies with that one; --ipc none and private", async () => {
    const donor = bunker(["run", "-d", "--name", "flags-donor", "--network", "none", "--rootfs", suite.fs.path, "--", "sh", "-c", "echo shared > /dev/shm/note; while :; do sleep 0.1; done"]);
    expect(donor.code).toBe(0);
    const id = donor.stdout.trim();
    const lone = bunker(["run", "-d", "--name", "flags-private", "--network", "none", "--ipc", "private", "--rootfs", suite.fs.path, "--", "sleep", "60"]).stdout.trim();
    let joiner = "";
    try {
      const pid = JSON.parse(bunker(["inspect", id]).stdout)[0].pid as number;
      await until(() => bunker(["exec", id, "cat", "/dev/shm/note"]).stdout === "shared\n", 5000, "the donor's note");
      const r = inBox(["--pid", "container:flags-donor", "--ipc", `container:${id}`], "cat /dev/shm/note; echo back > /dev/shm/reply; readlink /proc/self/ns/pid; readlink /proc/self/ns/ipc; tr '\\0' ' ' < /proc/1/cmdline");
      expect([r.code, r.stderr]).toEqual([0, ""]);
      expect(r.stdout).toBe(`shared\n${readlinkSync(`/proc/${pid}/ns/pid`)}\n${readlinkSync(`/proc/${pid}/ns/ipc`)}\nsh -c echo shared > /dev/shm/note; while :; do sleep 0.1; done `);
      expect(bunker(["exec", id, "cat", "/dev/shm/reply"]).stdout).toBe("back\n");
      // Control: a container of its own sees neither.
      const own = inBox([], "cat /dev/shm/note 2>&1; readlink /proc/self/ns/ipc");
      expect(own.stdout.split("\n")[0]).toBe("cat: can't open '/dev/shm/note': No such file or directory");
      expect(own.stdout).not.toContain(readlinkSync(`/proc/${pid}/ns/ipc`));
      // One in the donor's PID namespace ends with it (killed, as the kernel ends the namespace).
      joiner = bunker(["run", "-d", "--network", "none", "--pid", "container:flags-donor", "--rootfs", suite.fs.path, "--", "sleep", "60"]).stdout.trim();
      expect(bunker(["stop", "-t", "0", id]).code).toBe(0);
      expect(bunker(["wait", joiner]).stdout).toBe("137\n");
      for (const [flags, said] of [
        [["--ipc", "container:flags-donor"], "--ipc container:flags-donor: container flags-donor is not running"],
        [["--ipc", "container:flags-private"], "--ipc container:flags-private: container flags-private keeps its IPC namespace to itself (--ipc private): start it with --ipc shareable"],
        [["--pid", "container:flags-nope"], "no such container: flags-nope"],
        [["--ipc", "container:flags-private", "--ipc", "bogus"], "--ipc bogus: use host (the host's IPC objects), container:ID (another's), shareable, private or none"],
      ] as const) {
        const bad = inBox([...flags], "true");
        expect([bad.code, bad.stderr]).toEqual([125, `bunker: ${said}\n`]);
      }
    } finally {
      bunker(["rm", "-f", id, lone, ...(joiner ? [joiner] : [])]);
    }
    const none = inBox(["--ipc", "none"], "ls -d /dev/shm 2>&1; grep -c ' /dev/shm ' /proc/mounts");
    expect(none.stdout).toBe("ls: /dev/shm: No such file or directory\n0\n");
  });

  test("--ipc container:ID of a container that put a symlink in place of its /dev/shm is refused, never bound", async () => {
    const evil = bunker(["run", "-d", "--network", "none", "--cap-add", "SYS_ADMIN", "--rootfs", suite.fs.path, "--", "sh", "-c", "umount /dev/shm && rmdir /dev/shm && ln -s /etc /dev/shm && touch /tmp/swapped; while :; do sleep 0.1; done"]);
    expect(evil.code).toBe(0);
    const id = evil.stdout.trim();
    try {
      await until(() => bunker(["exec", id, "test", "-e", "/tmp/swapped"]).code === 0, 5000, "the symlink in place of /dev/shm");
      const r = inBox(["--ipc", `container:${id}`], "ls /dev/shm");
      expect(r.code).toBe(125);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(/^bunker: open \/dev\/shm of process \d+: Too many levels of symbolic links\n$/);
    } finally {
      bunker(["rm", "-f", id]);
    }
  });
});
