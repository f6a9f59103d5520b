// What bunker writes down so that the next command can finish or undo its
// work: written whole (a reader never sees half of it), and before the act it
// records (a bunker killed right after the act leaves a record that says what
// to undo). Both are looked at while they happen, not guessed from the end
// state, which a kill at the wrong instant would be needed to spoil.

import { describe, expect, test } from "bun:test";
import { chmodSync, closeSync, copyFileSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUNKER, bunker, isRoot } from "../helpers/bunker";
import { freePort } from "../helpers/ports";
import { busyboxAvailable } from "../helpers/rootfs";
import { containerSuite } from "../helpers/suite";

const NFT = ["/usr/sbin/nft", "/sbin/nft"].find(existsSync);
const ready = isRoot && busyboxAvailable();
if (!ready) console.warn(`skipping the record tests: ${isRoot ? "busybox-static is not installed" : "they need root"}`);
if (ready && !NFT) console.warn("skipping the lease-before-nft test: nft is not installed (package nftables)");

const suite = containerSuite(ready);

describe.skipIf(!ready)("records", () => {
  test("a container's state is replaced whole: a reader holding the old file still reads all of it", () => {
    const r = bunker(["run", "-d", "--network", "none", "--rootfs", suite.fs.path, "--", "sleep", "1000"]);
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    const path = `/run/bunker/${id}/state.json`;
    const fd = openSync(path, "r");
    try {
      const before = readFileSync(path, "utf8");
      expect(JSON.parse(before).status).toBe("running");
      // stop records the end: a new file takes the name, the one held open keeps its text.
      expect(bunker(["stop", "-t", "0", id]).code).toBe(0);
      const buf = Buffer.alloc(1 << 20);
      const n = readSync(fd, buf, 0, buf.length, 0);
      expect(buf.subarray(0, n).toString()).toBe(before);
      expect(JSON.parse(readFileSync(path, "utf8")).status).toBe("stopped");
    } finally {
      closeSync(fd);
      bunker(["rm", "-f", id]);
    }
  });

  test.skipIf(!NFT)("a lease records its published ports before nft adds them", () => {
    // bunker runs in a mount namespace of its own where nft is a wrapper: whenever elements are
    // added, it notes the script's first line and every lease as it is at that moment, then runs
    // the real nft.
    const dir = mkdtempSync("/tmp/bunker-nft-");
    try {
      copyFileSync(NFT!, join(dir, "nft"));
      const wrapper = join(dir, "wrapper");
      writeFileSync(
        wrapper,
        `#!/bin/sh
PATH=/usr/sbin:/usr/bin:/sbin:/bin
script=$(cat)
case "$script" in
  *"add element ip bunker"*)
    { echo "=== $(printf '%s\n' "$script" | head -n 1)"; for f in /run/bunker/networks/bunker0/leases/*.json; do cat "$f"; echo; done; } >> ${dir}/at-publish ;;
esac
printf '%s\\n' "$script" | exec ${dir}/nft "$@"
`,
      );
      chmodSync(wrapper, 0o755);
      const port = freePort();
      const r = Bun.spawnSync(
        ["unshare", "-m", "--propagation", "private", "sh", "-c", `mount --bind ${wrapper} ${NFT} && exec "$@"`, "sh", BUNKER, "run", "--rm", "-p", `${port}:80`, "--rootfs", suite.fs.path, "--", "true"],
        { stdout: "pipe", stderr: "pipe" },
      );
      expect([r.exitCode, r.stderr.toString()]).toEqual([0, ""]);
      // The first time this port's element is added: the publishing, not the undoing at the end.
      const sections = readFileSync(join(dir, "at-publish"), "utf8").split("=== ").filter(Boolean);
      const publishing = sections.find((sec) => sec.split("\n")[0]!.includes(` ${port} : `));
      expect(publishing).toBeDefined();
      const leases = publishing!.split("\n").slice(1).filter(Boolean).map((l) => JSON.parse(l) as { nat: boolean; ports: { hostPort: number; containerPort: number; protocol: string }[] });
      const ours = leases.filter((l) => l.ports.some((p) => p.hostPort === port));
      expect(ours).toMatchObject([{ nat: true, ports: [{ hostPort: port, containerPort: 80, protocol: "tcp" }] }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
