// Bundles the test host into one script: `node build.mjs OUT.js`.
import { build } from "esbuild";

await build({
  entryPoints: [new URL("host.js", import.meta.url).pathname],
  bundle: true,
  format: "iife",
  platform: "browser",
  target: "es2022",
  outfile: process.argv[2],
  logLevel: "warning",
});
