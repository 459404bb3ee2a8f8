// Builds the calls dashboard into ONE self-contained HTML file (script and styles inline, nothing
// fetched), which ships inside the Python package. `node build.mjs --check` fails when the committed
// file differs from what the sources build to.
import { build, transform } from "esbuild";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { gzipSync } from "node:zlib";

const here = new URL(".", import.meta.url);
const source = (name) => readFileSync(new URL(`src/${name}`, here), "utf8");
export const OUTPUT = new URL("../sipsim_mcp/ui/calls_dashboard.html", here);

// zod re-exports all of its ~40 message locales as one namespace, which no bundler can drop; the view only
// ever needs English (the default locale, which zod imports directly), so the namespace keeps only that.
const englishOnlyZod = {
  name: "zod-english-only",
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, (args) => ({
      contents: 'export { default as en } from "./en.js";',
      resolveDir: dirname(args.path),
    }));
  },
};

const script = await build({
  plugins: [englishOnlyZod],
  entryPoints: [new URL("src/main.js", here).pathname],
  bundle: true,
  format: "esm",
  minify: true,
  platform: "browser",
  target: "es2022",
  legalComments: "none",
  write: false,
});
const style = await transform(source("style.css"), { loader: "css", minify: true });
const js = script.outputFiles[0].text.trim().replace(/<\/script/gi, "<\\/script"); // keep the inline tag intact
const html = source("index.html")
  .replace("/* STYLE */", () => style.code.trim())
  .replace("/* SCRIPT */", () => js);

if (process.argv.includes("--check")) {
  let committed = "";
  try {
    committed = readFileSync(OUTPUT, "utf8");
  } catch {}
  if (committed !== html) {
    console.error(`${OUTPUT.pathname} does not match ui/src: run \`npm --prefix ui run build\` and commit it.`);
    process.exit(1);
  }
  console.log("calls_dashboard.html matches its sources.");
} else {
  writeFileSync(OUTPUT, html);
  console.log(`${OUTPUT.pathname}: ${html.length} bytes, ${gzipSync(html).length} gzipped`);
}
