// `bunker __rootless-netns ensure|release|run OP ARGS...|publish PORTS IP`:
// the user's rootless network namespace from the command line, for checking
// it by hand and in tests: ensure prints it as JSON, release stops it unless
// a container of the user runs in it, run does `__netns OP ARGS` inside it,
// publish forwards -p's PORTS to IP there until its stdin ends.

import { UsageError } from "../options";
import { writeErr, writeOut } from "../output";

export async function rootlessNetns(argv: string[]): Promise<number> {
  const [op, ...args] = argv;
  const ns = await import("../runtime/rootless-netns");
  if (op === "ensure" && args.length === 0) {
    await writeOut(`${JSON.stringify(await ns.ensureRootlessNetns())}\n`);
    return 0;
  }
  if (op === "release" && args.length === 0) {
    ns.releaseRootlessNetns(ns.holderInUse);
    return 0;
  }
  if (op === "run" && args.length > 0) {
    const r = await (await import("../runtime/netns-run")).runInRootlessNetns(args);
    await writeOut(r.stdout);
    await writeErr(r.stderr);
    return r.code;
  }
  if (op === "publish" && args.length === 2) {
    const ports = (await import("../spec/ports")).parsePublish(args[0]!);
    const undo = (await import("../runtime/rootless-publish")).publishRootless(ports, args[1]!);
    try {
      await writeOut("published\n");
      for await (const _ of Bun.stdin.stream()) {
        // held until the caller closes it
      }
    } finally {
      undo();
    }
    return 0;
  }
  throw new UsageError("__rootless-netns: use ensure, release, run OP ARGS..., or publish PORTS IP");
}
