// bunker create [OPTIONS] IMAGE [COMMAND [ARG...]]: docker's create. The
// container is made (its spec checked, its image pulled, its state and name
// recorded) but not run: `bunker start` runs it, detached. runc's create,
// from a bundle, is the OCI front end's (oci/route.ts tells them apart).

import { writeOut } from "../output";
import { initialState } from "../runtime/run";
import { createState } from "../runtime/store";
import { runOptions, runSpecOf, withCidfile } from "./run";
import { parseCommand } from "./usage";

const { detach: _detach, ...createOptions } = runOptions;

export async function create(argv: string[]): Promise<number> {
  const parsed = await parseCommand(argv, createOptions, {
    name: "create",
    description: "Make a container without running it: bunker start runs it (detached)",
    positional: "IMAGE [COMMAND [ARG...]]  |  --rootfs DIR|--host-root [--] COMMAND [ARG...]",
    examples: ["bunker create --name web -p 8080:80 --restart always alpine httpd -f -p 80 && bunker start web", "bunker create --rootfs ./alpine -v ./src:/src:rw -- make -C /src"],
  });
  if (!parsed) return 0;
  // It runs detached when started: its log settings and --restart are a detached container's.
  const { flags, spec, unmake } = await runSpecOf({ ...parsed.values, detach: true }, parsed.rest);
  return withCidfile(flags.cidfile, spec.bunker.id, async () => {
    const state = initialState(spec, { autoRemove: flags.rm, detached: true, ...(flags.name !== undefined ? { name: flags.name } : {}) });
    // Nothing runs it yet: stopped, never started.
    state.status = "stopped";
    delete state.supervisor;
    delete state.supervisorStart;
    createState(state);
    await writeOut(`${spec.bunker.id}\n`);
    return 0;
  }, unmake);
}
