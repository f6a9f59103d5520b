// Run by aardvark.test.ts as an unprivileged user in a user and network
// namespace of its own (unshare -Urn, lo up), where bunker runs aardvark-dns
// for a rootless user: attaches, asks, detaches, and prints what it saw.
// It is the subreaper of the aardvark-dns it starts (orphaned when the first
// process of a start exits) and reaps it, so no zombie of the user is left.

import { dnsAttach, dnsDetach } from "../../src/net/aardvark";
import { libc, trySys } from "../../src/sys/libc";
import { ask } from "../helpers/dns";

const PR_SET_CHILD_SUBREAPER = 36;
const WNOHANG = 1;
const dir = process.argv[2]!;
const net = { name: "usernet", gateways: ["127.0.0.1"] };
const A = `a1${"0".repeat(62)}`;
const B = `b2${"0".repeat(62)}`;
const seen: Record<string, unknown> = { uid: process.getuid?.() };
trySys("prctl", PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
try {
  dnsAttach(dir, net, { id: A, ipv4: ["10.88.5.2"], ipv6: [], names: ["web"] });
  seen.web = await ask("127.0.0.1", "web");
  dnsAttach(dir, net, { id: B, ipv4: ["10.88.5.3"], ipv6: [], names: ["db"] });
  seen.db = await ask("127.0.0.1", "db");
  dnsDetach(dir, "usernet", A);
  seen.webDetached = await ask("127.0.0.1", "web");
  dnsDetach(dir, "usernet", B);
  seen.afterLast = await ask("127.0.0.1", "db");
} catch (e) {
  seen.error = (e as Error).message;
}
const status = new Int32Array(1);
const deadline = Date.now() + 2000;
// reaps the stopped aardvark-dns; ECHILD (-1) once there is none
while (libc.waitpid(-1, status, WNOHANG) !== -1 && Date.now() < deadline) Bun.sleepSync(5);
console.log(JSON.stringify(seen));
