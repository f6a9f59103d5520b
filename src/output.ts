// Writing bunker's own messages. Bun.write on the standard descriptors is
// native; touching process.stdout/stderr builds Node stream objects, which
// costs milliseconds at start-up.

export function writeOut(text: string): Promise<number> {
  return Bun.write(Bun.stdout, text);
}

export function writeErr(text: string): Promise<number> {
  return Bun.write(Bun.stderr, text);
}
