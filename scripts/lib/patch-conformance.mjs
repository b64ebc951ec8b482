// Make the MCP conformance CLI run on Node 20.
//
// @modelcontextprotocol/conformance imports `globSync` from 'fs', which Node
// only has from version 22 on; on Node 20 the ESM import itself fails before
// anything runs. This writes a patched copy of dist/index.js next to it
// (dist/index.node20.js, so its bare imports still resolve from the package's
// node_modules) with `globSync` taken out of that import and defined by a
// shim that uses fs.globSync when the runtime has it and otherwise throws
// (only the `tier-check` command uses it).
//
// Usage: node scripts/lib/patch-conformance.mjs <path/to/conformance/package>
// Prints the path of the patched entry point. Idempotent: the copy is
// regenerated from the pristine dist/index.js each time.
import { readFileSync, writeFileSync, renameSync } from "node:fs";
import { join } from "node:path";

const pkgDir = process.argv[2];
if (!pkgDir) {
  console.error("usage: patch-conformance.mjs <conformance package dir>");
  process.exit(2);
}
const src = join(pkgDir, "dist", "index.js");
const dst = join(pkgDir, "dist", "index.node20.js");

let code = readFileSync(src, "utf8");
const importRe = /import\{([^}]*)\}from"fs";/;
const m = code.match(importRe);
if (!m) {
  console.error(`patch-conformance: no 'import{...}from"fs"' found in ${src}; the package layout changed, update this script`);
  process.exit(1);
}
const specifiers = m[1].split(",");
const globIdx = specifiers.findIndex((s) => /^\s*globSync(\s+as\s+[\w$]+)?\s*$/.test(s));
if (globIdx === -1) {
  // Nothing to patch (a future version may have dropped globSync): copy as-is.
  writeFileSync(dst + ".tmp", code);
} else {
  const spec = specifiers[globIdx].trim();
  const local = spec.includes(" as ") ? spec.split(/\s+as\s+/)[1] : "globSync";
  specifiers.splice(globIdx, 1);
  const shim =
    `import*as __widgetryFs from"fs";` +
    `const ${local}=(...a)=>{if(typeof __widgetryFs.globSync==="function")return __widgetryFs.globSync(...a);` +
    `throw new Error("conformance: globSync needs Node >= 22 (only tier-check uses it)")};`;
  const replacement = (specifiers.length ? `import{${specifiers.join(",")}}from"fs";` : "") + shim;
  code = code.replace(importRe, () => replacement);
  writeFileSync(dst + ".tmp", code);
}
renameSync(dst + ".tmp", dst);
console.log(dst);
