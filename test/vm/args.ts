// The harness's command line: options, then the command (after `--`, or from the first word
// that is not an option).

import { VmError } from "./fail";

export interface Args {
  memory: string;
  cpus: number;
  timeoutMs: number;
  append: string[];
  env: Record<string, string>;
  kernel?: string;
  suite?: string;
  /** the guest's architecture: amd64 boots the host's own root, arm64 a root made of arm64 packages */
  arch: "amd64" | "arm64";
  verbose: boolean;
  command: string[];
}

export const USAGE = `usage: bun test/vm/run.ts [options] [--] command [args...]

Boots Debian's kernel under qemu with a pure cgroup v2 hierarchy and the host's root as a
writable overlay (nothing reaches the host's disk), runs the command as root in the current
directory, and exits with its status.

  --memory SIZE      guest memory, qemu -m syntax (default 2G)
  --cpus N           guest CPUs (default 2)
  --timeout TIME     stop the VM after TIME: seconds, or with s, m or h (default 20m)
  --append WORDS     more kernel command line (repeatable)
  --env NAME=VALUE   set a variable for the command; --env NAME passes the host's (repeatable)
  --kernel PACKAGE   Debian kernel package (default: what linux-image-amd64 depends on)
  --suite RELEASE    take the kernel from another Debian release (bullseye: Linux 5.10)
  --arch ARCH        amd64 (default) or arm64: Debian's arm64 kernel under qemu-system-aarch64,
                     with a root made of bookworm's arm64 packages and the repository at its path
                     (--suite then picks only the kernel)
  --verbose          show the kernel console and qemu's command line
  --help             this text

Exit status: the command's; 124 on timeout; 125 on a bad option or when the VM could not run it; 128+N on signal N.`;

function duration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(text);
  if (!m) throw new VmError("--timeout", `${JSON.stringify(text)} is not a duration (e.g. 90, 90s, 20m, 1h)`);
  return Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? "s") as "s" | "m" | "h"];
}

export function parseArgs(argv: string[], hostEnv: Record<string, string | undefined>): Args | "help" {
  const a: Args = { memory: "2G", cpus: 2, timeoutMs: 20 * 60_000, append: [], env: {}, arch: "amd64", verbose: false, command: [] };
  let i = 0;
  const value = (flag: string): string => {
    const v = argv[++i];
    if (v === undefined) throw new VmError(flag, "needs a value");
    return v;
  };
  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      i++;
      break;
    }
    if (!arg.startsWith("-")) break;
    const eq = arg.indexOf("=");
    // --flag=value as well as --flag value
    if (eq > 0 && arg.startsWith("--")) argv = [...argv.slice(0, i), arg.slice(0, eq), arg.slice(eq + 1), ...argv.slice(i + 1)];
    const flag = argv[i]!;
    switch (flag) {
      case "--memory":
        a.memory = value(flag);
        break;
      case "--cpus": {
        const n = Number(value(flag));
        if (!Number.isInteger(n) || n < 1) throw new VmError(flag, "needs a positive whole number");
        a.cpus = n;
        break;
      }
      case "--timeout":
        a.timeoutMs = duration(value(flag));
        break;
      case "--append":
        a.append.push(...value(flag).split(/\s+/).filter(Boolean));
        break;
      case "--env": {
        const v = value(flag);
        const at = v.indexOf("=");
        const name = at < 0 ? v : v.slice(0, at);
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new VmError(flag, `${JSON.stringify(name)} is not a variable name`);
        const val = at < 0 ? hostEnv[name] : v.slice(at + 1);
        if (val !== undefined) a.env[name] = val;
        break;
      }
      case "--kernel":
        a.kernel = value(flag);
        break;
      case "--suite": {
        const v = value(flag);
        if (!/^[a-z]+$/.test(v)) throw new VmError(flag, `${JSON.stringify(v)} is not a Debian release name`);
        a.suite = v;
        break;
      }
      case "--arch": {
        const v = value(flag);
        if (v !== "amd64" && v !== "arm64") throw new VmError(flag, `${JSON.stringify(v)} is not amd64 or arm64`);
        a.arch = v;
        break;
      }
      case "--verbose":
        a.verbose = true;
        break;
      case "--help":
      case "-h":
        return "help";
      default:
        throw new VmError(flag, "unknown option (see --help)");
    }
  }
  a.command = argv.slice(i);
  if (a.command.length === 0) throw new VmError("command", "missing (see --help)");
  return a;
}
