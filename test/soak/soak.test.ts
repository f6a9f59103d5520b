// The soak in a short form: every kind of run, detached start, stop and rm,
// some of them SIGKILLed at random moments, and afterwards nothing of them on
// the host. The full length: bun test/soak/soak.ts (see README).

import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { isRoot, requireBinary } from "../helpers/bunker";
import { busyboxAvailable } from "../helpers/rootfs";
import { soak } from "./soak";

const ready = isRoot && busyboxAvailable() && existsSync("/usr/sbin/nft");
if (!ready) console.warn("skipping the soak: it needs root, busybox-static and nftables");

test.skipIf(!ready)(
  "sequential, parallel and SIGKILLed runs leave nothing behind",
  async () => {
    requireBinary();
    const seed = Number(process.env.BUNKER_SOAK_SEED ?? Date.now() % 100000);
    const report = await soak({ sequential: 30, parallel: 12, kills: 30, seed });
    // The seed replays a failing order: bun test/soak/soak.ts --seed N
    expect({ seed, ...report.sequential, medianMs: 0 }).toEqual({ seed, runs: 30, failures: [], medianMs: 0 });
    expect(report.parallel).toEqual({ containers: 12, failures: [], addresses: 12 });
    expect({ seed, leaks: report.leaks, nat: report.natLeft }).toEqual({ seed, leaks: [], nat: [] });
  },
  240_000,
);
