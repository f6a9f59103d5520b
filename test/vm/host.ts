// What the harness needs from the host besides the kernel: a static busybox and qemu.

import { accessSync, constants, existsSync, readFileSync, realpathSync } from "node:fs";
import { VmError } from "./fail";

/** True when the ELF file has no PT_INTERP header, i.e. needs no dynamic loader or libraries. */
function isStatic(path: string): boolean {
  const elf = readFileSync(path);
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2) return false; // not ELF64
  const phoff = Number(elf.readBigUInt64LE(0x20));
  const phentsize = elf.readUInt16LE(0x36);
  const phnum = elf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) if (elf.readUInt32LE(phoff + i * phentsize) === 3) return false;
  return true;
}

/**
 * busybox-static's binary, by the path the guest also sees it at through the shared root:
 * the initramfs runs it before the share is mounted, the guest's init and modprobe after.
 */
export function findBusybox(): string {
  for (const p of ["/bin/busybox", "/usr/bin/busybox"]) {
    if (!existsSync(p)) continue;
    if (!isStatic(realpathSync(p))) throw new VmError("busybox", `${p} is dynamically linked: install busybox-static`);
    return p;
  }
  throw new VmError("busybox", "not found: install busybox-static");
}

/** qemu for the guest's architecture; an arm64 guest is emulated on any host, an amd64 one needs an amd64 host. */
export function findQemu(arch: "amd64" | "arm64" = "amd64"): string {
  if (arch === "amd64" && process.arch !== "x64") throw new VmError("qemu", `host architecture ${process.arch} is not supported (the guest is Debian's amd64 kernel)`);
  const [program, pkg] = arch === "arm64" ? ["qemu-system-aarch64", "qemu-system-arm"] : ["qemu-system-x86_64", "qemu-system-x86"];
  for (const dir of (process.env.PATH ?? "/usr/bin:/bin").split(":")) {
    const p = `${dir || "."}/${program}`;
    if (existsSync(p)) return p;
  }
  throw new VmError("qemu", `${program} not found: install ${pkg}`);
}

/** KVM when this user may use it, else qemu's software emulation (TCG). */
export function canUseKvm(): boolean {
  try {
    accessSync("/dev/kvm", constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}
