// Reading bun test's output for test/mutate.ts: which tests failed, and
// which of them failed only because the leak check found something left.

/**
 * The failing tests in bun test's output, each with whether its errors were
 * all the leak check's: bun prints a test's errors before its result line.
 */
export function failingTests(output: string): { name: string; leakOnly: boolean }[] {
  const out: { name: string; leakOnly: boolean }[] = [];
  let chunk: string[] = [];
  for (const line of output.split("\n")) {
    const m = line.match(/^\((pass|fail|skip|todo)\) (.*?)(?: \[[\d.]+m?s\])?$/);
    if (!m) {
      chunk.push(line);
      continue;
    }
    if (m[1] === "fail") {
      const errors = chunk.filter((l) => /^error: /.test(l));
      out.push({ name: m[2]!, leakOnly: errors.length > 0 && errors.every((l) => /^error: this (test|file\b.*) left behind:/.test(l)) });
    }
    chunk = [];
  }
  return out;
}
