// Which kernel module files the initramfs needs, in an order insmod can load them.
// Debian's kernel package ships no modules.dep (its postinst runs depmod); kernel.ts makes one
// with busybox depmod, whose format is the usual "path: dep-path dep-path ...".

export interface ModuleDeps {
  /** module name (no directory, no .ko suffix) -> path relative to the modules directory */
  path: Map<string, string>;
  /** path -> paths of the modules it needs */
  deps: Map<string, string[]>;
}

export function moduleName(path: string): string {
  const base = path.slice(path.lastIndexOf("/") + 1).replace(/\.ko(\.(xz|gz|zst))?$/, "");
  // modprobe treats - and _ alike in names; files use either.
  return base.replaceAll("-", "_");
}

export function parseModulesDep(text: string): ModuleDeps {
  const path = new Map<string, string>();
  const deps = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const file = line.slice(0, colon).trim();
    deps.set(file, line.slice(colon + 1).trim().split(/\s+/).filter(Boolean));
    path.set(moduleName(file), file);
  }
  return { path, deps };
}

/**
 * The files for `names` and everything they depend on, dependencies first.
 * Names in `builtin` (compiled into the kernel) are skipped; any other unknown name is an error.
 */
export function loadOrder(db: ModuleDeps, names: string[], builtin: Set<string>): string[] {
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = (file: string, chain: string[]): void => {
    if (seen.has(file)) return;
    if (chain.includes(file)) throw new Error(`module dependency loop: ${[...chain, file].join(" -> ")}`);
    for (const dep of db.deps.get(file) ?? []) visit(dep, [...chain, file]);
    seen.add(file);
    order.push(file);
  };
  for (const name of names) {
    const key = moduleName(name);
    const file = db.path.get(key);
    if (file) visit(file, []);
    else if (!builtin.has(key)) throw new Error(`kernel module ${name} not found in modules.dep`);
  }
  return order;
}

/** Names of modules built into the kernel, from modules.builtin ("kernel/fs/foo.ko" lines). */
export function parseBuiltin(text: string): Set<string> {
  return new Set(text.split("\n").filter(Boolean).map(moduleName));
}
