// Starts qemu, streams the command's output from the guest, and turns every way it can end
// (status reported, init failed, kernel died, timeout, Ctrl-C) into a status or a VmError.
//
// Channels: the kernel console (ttyS0) is qemu's stdout, kept as boot noise (shown with
// --verbose, its tail on failure). The command's stdout and stderr, and a control line protocol
// ("start", "exit N" from the guest; "ok" back when the host has all the output), are virtio
// serial ports that qemu connects to unix sockets the harness listens on.

import { existsSync } from "node:fs";
import { constants } from "node:os";
import { join } from "node:path";
import { EXIT_TIMEOUT, VmError } from "./fail";
import type { Kernel } from "./kernel";
import { passThrough, report } from "./output";
import { UntilMark } from "./stream";

export interface VmOptions {
  qemu: string;
  /** amd64 boots the host's own root; arm64 the root in `root`, with the host's root as a second share */
  arch: "amd64" | "arm64";
  /** the guest's root, shared read-only (the host's / for amd64) */
  root: string;
  kernel: Kernel;
  initrd: string;
  /** qemu -m syntax, e.g. 2G */
  memory: string;
  cpus: number;
  /** extra kernel command line words */
  append: string[];
  kvm: boolean;
  verbose: boolean;
  timeoutMs: number;
  /** private directory for the sockets */
  runDir: string;
  /** VM_MARK of the job */
  mark: string;
  signal: AbortSignal;
}

export interface VmResult {
  status: number;
  /** qemu start to the command's start */
  bootMs: number;
  commandMs: number;
}

const CONSOLE_TAIL = 64 * 1024;
const QBOOT = "/usr/share/qemu/qboot.rom";

/** What differs between the two machines: the board, the CPU and the console. */
function machine(o: VmOptions): { args: string[]; console: string[] } {
  if (o.arch === "arm64") {
    return {
      // Software emulation on any host. "max" with pauth-impdef: the architected pointer
      // authentication algorithm (QARMA) costs much under TCG, the implementation-defined one little.
      args: ["-machine", "virt", "-accel", "tcg", "-cpu", "max,pauth-impdef=on"],
      console: ["console=ttyAMA0"],
    };
  }
  return {
    args: [
      "-machine",
      "pc",
      "-accel",
      o.kvm ? "kvm" : "tcg",
      // TCG's "max" has AVX2, which Bun's default x64 build uses.
      "-cpu",
      o.kvm ? "host" : "max",
      // qboot (in qemu-system-data) starts the kernel sooner than SeaBIOS: it skips option ROMs and boot menus.
      ...(existsSync(QBOOT) ? ["-bios", QBOOT] : []),
    ],
    console: ["console=ttyS0", "8250.nr_uarts=1"],
  };
}

function qemuArgs(o: VmOptions, sockets: { stdout: string; stderr: string; control: string }): string[] {
  const m = machine(o);
  const share = (id: string, path: string): string[] => [
    "-fsdev",
    `local,id=${id},path=${path},security_model=none,readonly=on,multidevs=remap`,
    "-device",
    `virtio-9p-pci,fsdev=${id},mount_tag=${id}`,
  ];
  const cmdline = [
    ...m.console,
    // A dying kernel reboots at once, and -no-reboot turns that into qemu exiting.
    "panic=-1",
    // The point of the VM: cgroup v2 alone, as on a host where systemd mounts only cgroup2.
    "cgroup_no_v1=all",
    // Speculation mitigations cost much under emulation and protect nothing in a throwaway guest.
    "mitigations=off",
    ...(o.verbose ? [] : ["quiet"]),
    ...o.append,
  ];
  const port = (name: string, path: string): string[] => [
    "-chardev",
    `socket,id=${name},path=${path}`,
    "-device",
    `virtserialport,bus=ports.0,chardev=${name},name=vm.${name}`,
  ];
  return [
    o.qemu,
    "-nodefaults",
    "-no-user-config",
    "-display",
    "none",
    ...m.args,
    "-m",
    o.memory,
    "-smp",
    String(o.cpus),
    "-no-reboot",
    "-kernel",
    o.kernel.image,
    "-initrd",
    o.initrd,
    "-append",
    cmdline.join(" "),
    "-chardev",
    "stdio,id=console,signal=off",
    "-serial",
    "chardev:console",
    // The guest's root (the host's whole root for amd64), read-only; multidevs=remap keeps inode
    // numbers from different host file systems (/, /proc, /work, ...) from colliding in the guest.
    ...share("hostroot", o.root),
    // A guest with a root of its own sees the repository through the host's root.
    ...(o.root !== "/" ? share("hostfs", "/") : []),
    "-device",
    "virtio-serial-pci,id=ports",
    ...port("stdout", sockets.stdout),
    ...port("stderr", sockets.stderr),
    ...port("control", sockets.control),
  ];
}

/** The last lines of the console, for an error report. */
function tail(text: string, lines: number): string {
  return text.replace(/\r/g, "").split("\n").slice(-lines).join("\n").trim();
}

export async function runVm(o: VmOptions): Promise<VmResult> {
  const started = performance.now();
  let commandStart: number | undefined;
  let status: number | undefined;
  let statusAt = 0;
  let acked = false;
  const marks = { stdout: new UntilMark(o.mark), stderr: new UntilMark(o.mark) };
  let control: { write(data: string): number } | undefined;
  let controlText = "";
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));
  let open = 0;
  let allClosed: () => void = () => {};
  const closed = new Promise<void>((resolve) => (allClosed = resolve));

  const maybeAck = (): void => {
    if (acked || status === undefined || !marks.stdout.ended || !marks.stderr.ended || !control) return;
    acked = true;
    control.write("ok\n");
    finish();
  };

  const listen = (name: "stdout" | "stderr" | "control") => {
    const path = join(o.runDir, `${name}.sock`);
    const server = Bun.listen({
      unix: path,
      socket: {
        open(socket) {
          open++;
          if (name === "control") control = socket;
        },
        close() {
          if (--open === 0) allClosed();
        },
        data(_socket, data: Uint8Array) {
          if (name === "control") {
            controlText += new TextDecoder().decode(data);
            let nl: number;
            while ((nl = controlText.indexOf("\n")) >= 0) {
              const line = controlText.slice(0, nl).trim();
              controlText = controlText.slice(nl + 1);
              if (line === "start") commandStart = performance.now();
              const m = /^exit (\d+)$/.exec(line);
              if (m) {
                status = Number(m[1]);
                statusAt = performance.now();
              }
            }
          } else {
            passThrough(name, marks[name].push(data));
          }
          maybeAck();
        },
      },
    });
    return { path, server };
  };
  const servers = { stdout: listen("stdout"), stderr: listen("stderr"), control: listen("control") };

  const argv = qemuArgs(o, { stdout: servers.stdout.path, stderr: servers.stderr.path, control: servers.control.path });
  if (o.verbose) report(`vm: ${argv.join(" ")}`);
  const proc = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });

  let consoleText = "";
  const consoleDone = (async () => {
    const dec = new TextDecoder();
    for await (const chunk of proc.stdout) {
      if (o.verbose) passThrough("stderr", chunk);
      consoleText = (consoleText + dec.decode(chunk, { stream: true })).slice(-CONSOLE_TAIL);
    }
  })();
  const qemuErr = new Response(proc.stderr).text();

  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    finish();
  }, o.timeoutMs);
  const onAbort = (): void => finish();
  o.signal.addEventListener("abort", onAbort);

  const stop = async (): Promise<void> => {
    if (proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill("SIGTERM");
    const killer = setTimeout(() => proc.kill("SIGKILL"), 3000);
    await proc.exited;
    clearTimeout(killer);
  };

  try {
    await Promise.race([finished, proc.exited]);
    if (acked) {
      // The guest powers off once it reads the acknowledgement; give it time, then insist.
      const grace = setTimeout(() => void stop(), 10_000);
      await proc.exited;
      clearTimeout(grace);
    } else {
      await stop();
      // What qemu wrote to the sockets just before it exited may not have been read yet.
      await Promise.race([closed, Bun.sleep(1000)]);
    }
    await consoleDone;
    if (o.signal.aborted) {
      const sig = String(o.signal.reason);
      throw new VmError("interrupted", `${sig}: stopped the VM`, 128 + (constants.signals[sig as NodeJS.Signals] ?? 2));
    }
    if (timedOut) {
      throw new VmError("timeout", `the command did not finish within ${Math.round(o.timeoutMs / 1000)} s (--timeout): stopped the VM`, EXIT_TIMEOUT);
    }
    if (status === undefined) {
      const initError = /vm-init: error: (.*)/.exec(consoleText)?.[1]?.trim();
      const qemuText = (await qemuErr).trim();
      if (!o.verbose && consoleText.trim()) report(`vm: console (last lines):\n${tail(consoleText, 30)}`);
      if (initError) throw new VmError("init", initError);
      if (proc.exitCode !== 0 && qemuText) throw new VmError("qemu", qemuText.split("\n").at(-1)!);
      const panic = /Kernel panic - not syncing: (.*)/.exec(consoleText)?.[1]?.trim();
      const why = panic ? `kernel panic: ${panic}` : `qemu exit status ${proc.exitCode ?? proc.signalCode}; see the console above`;
      if (commandStart !== undefined) throw new VmError("command", `the VM stopped before the command finished (${why})`);
      throw new VmError("boot", `the VM stopped before the command started (${why})`);
    }
    if (!marks.stdout.ended || !marks.stderr.ended) {
      for (const name of ["stdout", "stderr"] as const) passThrough(name, marks[name].flush());
      report("vm: warning: the VM stopped before all of the command's output arrived");
    }
    const start = commandStart ?? statusAt;
    return { status, bootMs: start - started, commandMs: statusAt - start };
  } finally {
    clearTimeout(timer);
    o.signal.removeEventListener("abort", onAbort);
    await stop();
    for (const s of Object.values(servers)) s.server.stop(true);
  }
}
