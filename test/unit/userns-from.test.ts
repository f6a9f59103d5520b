// A container made in another user namespace (spec.bunker.net.usernsFrom, the
// rootless network namespace's): the spec enters it, only with the same ID
// maps; the child makes its own namespaces there and reports them made before
// it stops being dumpable, for bunker to plumb its network into them.

import { describe, expect, test } from "bun:test";
import { planContainer } from "../../src/runtime/plan";
import { applyUsernsFrom, parseIdMap } from "../../src/runtime/userns-from";
import { createSpec } from "../../src/spec/defaults";

const facts = {
  etcFiles: new Map([["hostname", "box\n"], ["hosts", "127.0.0.1\tlocalhost\n"]]),
  etcTargetExists: () => true,
  sourceIsDir: (p: string) => !p.includes("."),
};
const ranges = {
  uid: [
    { containerID: 0, hostID: 1000, size: 1 },
    { containerID: 1, hostID: 200000, size: 65536 },
  ],
  gid: [
    { containerID: 0, hostID: 1000, size: 1 },
    { containerID: 1, hostID: 200000, size: 65536 },
  ],
};

function spec(maps = ranges) {
  const s = createSpec({ id: "abcdef012345", args: ["sh"], network: "none", callerEnv: {}, rootfs: "/srv/rootfs", rootfsHasEtc: true, userns: { ...maps, setup: { writer: "direct" }, setgroups: true } });
  s.bunker.net = { ports: [], usernsFrom: "/proc/4242/ns/user" };
  return s;
}

describe("usernsFrom", () => {
  test("/proc/PID/uid_map's lines become the spec's maps", () => {
    expect(parseIdMap("         0       1000          1\n         1     200000      65536\n")).toEqual(ranges.uid);
  });

  test("the spec enters the namespace instead of making one, its maps kept; the others stay its own", () => {
    const s = spec();
    applyUsernsFrom(s, ranges);
    expect(s.oci.linux.namespaces.find((n) => n.type === "user")).toEqual({ type: "user", path: "/proc/4242/ns/user" });
    expect(s.oci.linux.namespaces.filter((n) => n.path !== undefined).map((n) => n.type)).toEqual(["user"]);
    expect(s.oci.linux.uidMappings).toEqual(ranges.uid);
  });

  test("other maps (--userns keep-id, --map-uid) are refused, naming the flags", () => {
    const keepId = { uid: [{ containerID: 1000, hostID: 1000, size: 1 }, ...ranges.uid.slice(1)], gid: ranges.gid };
    expect(() => applyUsernsFrom(spec(keepId), ranges)).toThrow("a container on a user-defined network cannot have --userns keep-id, --map-uid or --map-gid");
  });

  test("the child joins it, makes its namespaces there, says so, waits, and only then stops being dumpable", () => {
    const s = spec();
    applyUsernsFrom(s, ranges);
    const p = planContainer(s, { syncRead: 5, syncWrite: 6, errWrite: 7 }, facts, [15], { plumbLate: true, joined: [{ type: "user", fd: 9, flag: 0x10000000 }] });
    const descs = p.steps.map((st) => st.desc);
    const order = ["join the user namespace at /proc/4242/ns/user", "make the container's namespaces, owned by the joined user namespace", "tell bunker the namespaces are made", "wait for bunker to plumb the network into them", "make the sync pipe non-blocking", "make this process not dumpable"];
    const at = order.map((d) => descs.indexOf(d));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    // The network namespace is among those made there.
    const unshare = p.steps[at[1]!]!;
    expect(Number(unshare.args[0]) & 0x40000000).toBe(0x40000000);
    // Nothing reported, nothing waited for, in the handshake before it.
    expect(descs.filter((d) => d === "tell bunker the namespaces are made").length).toBe(1);
  });
});
