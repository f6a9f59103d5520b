// Runs a command in a throwaway VM booted with Debian's kernel and a pure cgroup v2 hierarchy,
// for behaviour the host's own kernel cannot show. See USAGE in args.ts.
//
//   node_modules/.bin/bun test/vm/run.ts -- node_modules/.bin/bun test --timeout 120000 test/integration/cgroups.test.ts

import { mkdirSync, readdirSync, realpathSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { USAGE, parseArgs } from "./args";
import { EXIT_SETUP, VmError } from "./fail";
import { canUseKvm, findBusybox, findQemu } from "./host";
import { ensureArm64Root } from "./guestroot";
import { buildInitramfs, keepVisible, outermost } from "./initramfs";
import { ARM64_SUITE, ensureKernel } from "./kernel";
import { report } from "./output";
import { runVm } from "./qemu";

const ROOT = realpathSync(join(import.meta.dir, "..", ".."));
const CACHE = join(ROOT, ".cache", "vm");
/** 9p over virtio in Debian 12's kernel takes at most this (PAGE_SIZE * (VIRTQUEUE_NUM - 3)). */
const MSIZE = 512000;
/** sun_path is 108 bytes with its terminating NUL. */
const MAX_SOCKET_PATH = 100;

/** A private directory for this run's initramfs and sockets, in the cache when its path is short enough. */
function makeRunDir(): string {
  mkdirSync(CACHE, { recursive: true });
  for (const n of readdirSync(CACHE)) {
    const m = /^run-(\d+)$/.exec(n);
    if (!m) continue;
    try {
      process.kill(Number(m[1]), 0);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === "ESRCH") rmSync(join(CACHE, n), { recursive: true, force: true });
    }
  }
  let dir = join(CACHE, `run-${process.pid}`);
  if (join(dir, "control.sock").length > MAX_SOCKET_PATH) dir = join(tmpdir(), `bunker-vm-${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { mode: 0o700 });
  return dir;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

async function main(): Promise<number> {
  const parsed = parseArgs(Bun.argv.slice(2), process.env);
  if (parsed === "help") {
    console.log(USAGE);
    return 0;
  }
  const qemu = findQemu(parsed.arch);
  const busybox = findBusybox();
  const kernel = ensureKernel(CACHE, busybox, parsed.kernel, parsed.suite, parsed.arch);
  const cwd = realpathSync(process.cwd());
  // An arm64 guest's root is made of bookworm's arm64 packages (whatever release --suite takes the
  // kernel from); the repository, its node_modules (a link out of it in a worktree) and the working
  // directory come from the host's root at their own paths.
  const guestRoot = parsed.arch === "arm64" ? ensureArm64Root(CACHE, ROOT, ARM64_SUITE) : "/";
  const shared = [ROOT, cwd];
  try {
    shared.push(realpathSync(join(ROOT, "node_modules")));
  } catch {
    // no node_modules: the command needs none
  }
  const env: Record<string, string> = {
    PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    HOME: "/root",
    USER: "root",
    LOGNAME: "root",
    ...(process.env.TERM ? { TERM: process.env.TERM } : {}),
    ...parsed.env,
    BUNKER_VM: "1",
  };
  const mark = `\n<vm-end-${crypto.randomUUID()}>\n`;
  const initramfs = buildInitramfs({
    kernel,
    busybox,
    ...(guestRoot === "/" ? { keep: keepVisible([ROOT, cwd]) } : { busybox: "/bin/busybox", busyboxFile: join(guestRoot, "bin", "busybox"), keep: [], shares: outermost(shared) }),
    hostname: "bunker-vm",
    msize: MSIZE,
    job: { cwd, env, argv: parsed.command, mark },
  });

  const controller = new AbortController();
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  const onSignal = (sig: NodeJS.Signals): void => controller.abort(sig);
  for (const s of signals) process.on(s, onSignal);
  const runDir = makeRunDir();
  try {
    const initrd = join(runDir, "initramfs.cpio");
    writeFileSync(initrd, initramfs);
    const boot = (kvm: boolean) =>
      runVm({
        qemu,
        arch: parsed.arch,
        root: guestRoot,
        kernel,
        initrd,
        memory: parsed.memory,
        cpus: parsed.cpus,
        append: parsed.append,
        kvm,
        verbose: parsed.verbose,
        timeoutMs: parsed.timeoutMs,
        runDir,
        mark,
        signal: controller.signal,
      });
    const kvm = parsed.arch === "amd64" && canUseKvm();
    let r;
    try {
      r = await boot(kvm);
    } catch (e) {
      // An accessible /dev/kvm does not mean KVM works: nested KVM may abort qemu before the guest
      // boots (kvm_buf_set_msrs). Nothing ran yet, so software emulation can take over.
      if (!kvm || !(e instanceof VmError) || !["qemu", "boot"].includes(e.what) || controller.signal.aborted) throw e;
      report(`vm: KVM could not start the guest (${e.why.split("\n").at(-1)}): using software emulation`);
      r = await boot(false);
    }
    report(`vm: kernel ${kernel.release}, boot ${seconds(r.bootMs)}, command ${seconds(r.commandMs)}`);
    return r.status;
  } finally {
    for (const s of signals) process.off(s, onSignal);
    rmSync(runDir, { recursive: true, force: true });
  }
}

let status: number;
try {
  status = await main();
} catch (e) {
  if (e instanceof VmError) {
    report(e.message);
    status = e.status;
  } else {
    report(`vm: internal error: ${(e as Error).stack ?? e}`);
    status = EXIT_SETUP;
  }
}
process.exit(status);
