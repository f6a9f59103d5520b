// --format TEMPLATE: the part of Go's text/template that docker's and
// podman's users write on a command line: fields ({{.Status}},
// {{.Actor.Attributes.name}}), {{json .X}}, {{index .X "key"}},
// {{upper .X}} and {{lower .X}}, with \t and \n in the text as tabs and
// newlines (as docker's formatter takes them). Anything else is refused when
// the template is read, before any output.

import { UsageError } from "../options";
import { jsonText } from "../output";

type Arg = { field: string[] } | { literal: string };
type Node = { text: string } | { fn: string | null; args: Arg[] };

const FUNCTIONS: Record<string, number> = { json: 1, index: 2, upper: 1, lower: 1 };

/** A compiled template: `render` gives its text for one value. */
export interface Template {
  render(value: unknown): string;
}

/** Go's %v of a value: maps as map[k:v ...] with sorted keys, lists as [a b]. */
function plain(v: unknown): string {
  if (v === undefined || v === null) return "<no value>";
  if (typeof v === "bigint" || typeof v === "number" || typeof v === "boolean") return String(v);
  if (typeof v === "string") return v;
  if (Array.isArray(v)) return `[${v.map(plain).join(" ")}]`;
  const entries = Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `map[${entries.map(([k, x]) => `${k}:${plain(x)}`).join(" ")}]`;
}

function tokens(inner: string, whole: string): string[] {
  const out: string[] = [];
  const re = /\s*("(?:[^"\\]|\\.)*"|[^\s"]+)/gy;
  let m: RegExpExecArray | null;
  let at = 0;
  while ((m = re.exec(inner)) !== null) {
    out.push(m[1]!);
    at = re.lastIndex;
  }
  if (inner.slice(at).trim() !== "") throw new UsageError(`--format: cannot read "${whole}"`);
  return out;
}

/**
 * Reads `text`; `checkField` says what is wrong with a field path
 * (["Actor", "ID"]) the value will not have, or null when it will.
 */
export function compileTemplate(text: string, checkField: (path: string[]) => string | null = () => null): Template {
  const source = text.replace(/\\t/g, "\t").replace(/\\n/g, "\n");
  const nodes: Node[] = [];
  let at = 0;
  for (;;) {
    const open = source.indexOf("{{", at);
    if (open < 0) break;
    const close = source.indexOf("}}", open + 2);
    if (close < 0) throw new UsageError(`--format: "{{" without its "}}" in ${JSON.stringify(text)}`);
    if (open > at) nodes.push({ text: source.slice(at, open) });
    const whole = source.slice(open, close + 2);
    const words = tokens(source.slice(open + 2, close).replace(/^-\s|\s-$/g, ""), whole);
    if (words.length === 0) throw new UsageError(`--format: empty action ${whole}`);
    const arg = (w: string): Arg => {
      if (w.startsWith('"')) return { literal: JSON.parse(w) as string };
      if (w === ".") return { field: [] };
      if (!/^(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(w)) throw new UsageError(`--format: ${whole}: "${w}" is not a field (.Name) or a quoted string`);
      const field = w.slice(1).split(".");
      const why = checkField(field);
      if (why !== null) throw new UsageError(`--format: ${whole}: ${why}`);
      return { field };
    };
    const [first, ...rest] = words as [string, ...string[]];
    if (first.startsWith(".") || first.startsWith('"')) {
      if (rest.length) throw new UsageError(`--format: ${whole}: one value per action, or a function (${Object.keys(FUNCTIONS).join(", ")}) before its arguments`);
      nodes.push({ fn: null, args: [arg(first)] });
    } else {
      const want = FUNCTIONS[first];
      if (want === undefined) throw new UsageError(`--format: ${whole}: unknown function "${first}" (known: ${Object.keys(FUNCTIONS).join(", ")})`);
      if (rest.length !== want) throw new UsageError(`--format: ${whole}: ${first} takes ${want} argument${want === 1 ? "" : "s"}`);
      nodes.push({ fn: first, args: rest.map(arg) });
    }
    at = close + 2;
  }
  if (at < source.length) nodes.push({ text: source.slice(at) });
  const value = (a: Arg, root: unknown): unknown => {
    if ("literal" in a) return a.literal;
    let v = root;
    for (const k of a.field) v = v !== null && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined;
    return v;
  };
  return {
    render(root: unknown): string {
      return nodes
        .map((n) => {
          if ("text" in n) return n.text;
          const [a, b] = n.args.map((x) => value(x, root));
          switch (n.fn) {
            case null:
              return plain(a);
            case "json":
              return jsonText(a ?? null);
            case "index":
              return plain(a !== null && typeof a === "object" ? (a as Record<string, unknown>)[String(b)] : undefined);
            case "upper":
              return plain(a).toUpperCase();
            default:
              return plain(a).toLowerCase();
          }
        })
        .join("");
    },
  };
}
