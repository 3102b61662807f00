// Validate one .glb/.gltf with the Khronos glTF validator; print its JSON report on stdout.
// Usage: node validate_gltf.cjs FILE   (exit 0 whatever the report says; the caller reads it)
const fs = require("fs");
const path = require("path");
const validator = require("gltf-validator");

const file = process.argv[2];
const bytes = new Uint8Array(fs.readFileSync(file));
validator
  .validateBytes(bytes, {
    uri: path.basename(file),
    maxIssues: 200,
    externalResourceFunction: (uri) =>
      new Promise((resolve, reject) => {
        fs.readFile(path.resolve(path.dirname(file), decodeURIComponent(uri)), (err, data) =>
          err ? reject(err.toString()) : resolve(new Uint8Array(data)));
      }),
  })
  .then((report) => process.stdout.write(JSON.stringify(report, null, 1)))
  .catch((err) => {
    process.stderr.write(`validator failed: ${err}\n`);
    process.exit(2);
  });
