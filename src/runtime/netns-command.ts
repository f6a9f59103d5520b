// `bunker __netns --state DIR OP ARGS...`: bunker's side of the work done in
// the user's rootless network namespace (run there by netns-run.ts, as root
// of its user namespace). Each operation is one entry of OPS.

import { BunkerError } from "../errors";
import { parseIp } from "../net/addr";
import { addAddress, addDefaultRoute, createVeth, linkIndex, setUp } from "../net/rtnl";
import { FileError, openNamespace, readLink, readText } from "../sys/fs";
import { closeFd } from "../sys/libc";
import { NetlinkSocket, openInNamespace } from "../sys/netlink";
import { useStateDir } from "./state";
import type { NetworkAttachment } from "../spec/types";

type Op = (args: string[]) => Promise<number> | number;

/** The JSON a caller gives on stdin. */
async function input<T>(): Promise<T> {
  return JSON.parse(await Bun.stdin.text()) as T;
}

const json = (v: unknown) => process.stdout.write(`${JSON.stringify(v)}\n`);

const OPS: Record<string, { usage: string; run: Op }> = {
  // A user's networks (network-rootless.ts): each the same work root's bunker does on the host.
  "network-create": {
    usage: "network-create",
    run: async () => {
      const { createNetwork } = await import("./networks");
      json(createNetwork(await input()));
      return 0;
    },
  },
  "network-rm": {
    usage: "network-rm NAME",
    run: async ([ref]) => {
      json((await import("./networks")).removeNetwork(ref!));
      return 0;
    },
  },
  "net-place": {
    usage: "net-place",
    run: async () => {
      const { placeAll } = await import("./network-named");
      const o = await input<{ id: string; name?: string; list: NetworkAttachment[] }>();
      json(placeAll(o.id, o.name, o.list));
      return 0;
    },
  },
  // The container's network namespace is descriptor 3 (opened by bunker outside: see netns-run.ts).
  "net-plumb": {
    usage: "net-plumb ID PID NAMES",
    run: async ([id, pid, names]) => {
      (await import("./network-named")).plumbAll(id!, Number(pid), names === "1", 3);
      return 0;
    },
  },
  "net-release": {
    usage: "net-release ID",
    run: async ([id]) => {
      (await import("./network-named")).releaseAll(id!);
      return 0;
    },
  },
  "net-connect": {
    usage: "net-connect ID PID",
    run: async ([id, pid]) => {
      const o = await input<{ name?: string; attachment: NetworkAttachment }>();
      json((await import("./network-named")).connectRunning(id!, o.name, Number(pid), o.attachment, 3));
      return 0;
    },
  },
  "net-disconnect": {
    usage: "net-disconnect ID NETWORK",
    run: async ([id, network]) => {
      const [{ disconnectRunning }, { networkByRef }] = await Promise.all([import("./network-named"), import("./networks")]);
      json(disconnectRunning(id!, networkByRef(network!)));
      return 0;
    },
  },
  "net-reconcile": {
    usage: "net-reconcile",
    run: async () => {
      await (await import("./network")).reconcileNetwork();
      return 0;
    },
  },
  // Where this runs, for a caller to check: IDs, namespaces and the nameservers seen there, as JSON.
  id: {
    usage: "id",
    run: () => {
      const ns = (t: string) => readLink(`/proc/self/ns/${t}`);
      let resolv = "";
      try {
        resolv = readText("/etc/resolv.conf", 1 << 16);
      } catch {
        // none bound here: said as empty
      }
      const nameservers = resolv.split("\n").flatMap((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.slice(1) ?? []);
      process.stdout.write(`${JSON.stringify({ uid: process.geteuid?.(), gid: process.getegid?.(), net: ns("net"), user: ns("user"), mnt: ns("mnt"), nameservers })}\n`);
      return 0;
    },
  },
  // A veth from here into the network namespace of process PID (there eth0, its default route through this end).
  veth: {
    usage: "veth NAME PID ADDR/PREFIX PEER-ADDR/PREFIX",
    run: ([name, pidText, here, there]) => {
      const pid = Number(pidText);
      const a = parseSubnetAddress(here!);
      const b = parseSubnetAddress(there!);
      const nl = NetlinkSocket.open(0);
      try {
        createVeth(nl, name!, "eth0", pid, 0);
        const index = linkIndex(nl, name!);
        if (index === null) throw new BunkerError(`veth ${name} vanished right after it was created`);
        addAddress(nl, index, name!, a.ip, a.prefix);
        setUp(nl, index, name!);
        let nsFd: number;
        try {
          nsFd = openNamespace(`/proc/${pid}/ns/net`);
        } catch (e) {
          if (e instanceof FileError) throw new BunkerError(`veth ${name}: ${e.message}`);
          throw e;
        }
        let inner: NetlinkSocket;
        try {
          inner = openInNamespace(0, nsFd);
        } finally {
          closeFd(nsFd);
        }
        try {
          const eth0 = linkIndex(inner, "eth0");
          if (eth0 === null) throw new BunkerError(`veth ${name}: eth0 is missing in process ${pid}'s network namespace`);
          addAddress(inner, eth0, "eth0", b.ip, b.prefix);
          setUp(inner, eth0, "eth0");
          addDefaultRoute(inner, a.ip, eth0);
        } finally {
          inner.close();
        }
      } finally {
        nl.close();
      }
      return 0;
    },
  },
};

function parseSubnetAddress(s: string): { ip: number; prefix: number } {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(s);
  if (!m || Number(m[2]) > 32) throw new BunkerError(`__netns: "${s}" is not ADDR/PREFIX`);
  return { ip: parseIp(m[1]!), prefix: Number(m[2]) };
}

export async function netnsCommand(argv: string[]): Promise<number> {
  const [flag, dir, op, ...args] = argv;
  if (flag !== "--state" || !dir) throw new BunkerError("__netns: --state DIR comes first");
  useStateDir(dir);
  const entry = op !== undefined ? OPS[op] : undefined;
  if (!entry) throw new BunkerError(`__netns: unknown operation "${op ?? ""}": ${Object.keys(OPS).join(", ")}`);
  const want = entry.usage.split(" ").length - 1;
  if (args.length !== want) throw new BunkerError(`__netns: usage: ${entry.usage}`);
  return entry.run(args);
}
