// Parse Mermaid files with the real Mermaid parser (in Node, on a jsdom window); print each
// file's diagram type or its parse error; exit 1 when any file does not parse.
import { JSDOM } from "jsdom";
import { readFileSync } from "node:fs";

const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
const { default: mermaid } = await import("mermaid");

let bad = 0;
for (const file of process.argv.slice(2)) {
  try {
    const result = await mermaid.parse(readFileSync(file, "utf8"));
    console.log(`${file}: ${result.diagramType}`);
  } catch (err) {
    bad += 1;
    console.log(`${file}: ${String(err.message || err).split("\n").slice(0, 4).join(" ")}`);
  }
}
process.exit(bad ? 1 : 0);
