// Builds dist/offline.html: a `dvc plots show --html-template` page with vega, vega-lite and
// vega-embed inlined from node_modules (versions pinned by package-lock.json), so the rendered
// plots open without network access. Run `npm ci && npm run build` in this folder.
import { readFileSync, writeFileSync, renameSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
// UMD builds: each defines a global (vega, vegaLite, vegaEmbed) that DVC's plot snippets call.
const LIBS = [
  ["vega", "build/vega.min.js"],
  ["vega-lite", "build/vega-lite.min.js"],
  ["vega-embed", "build/vega-embed.min.js"],
];
// dvc-render fills these by plain string replacement: a library containing one would be corrupted.
const PLACEHOLDERS = ["{plot_divs}", "{scripts}", "{refresh_tag}"];

const scripts = LIBS.map(([name, file]) => {
  const root = join(here, "node_modules", name); // what `npm ci` installed from package-lock.json
  const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  const path = join(root, file);
  const code = readFileSync(path, "utf8");
  for (const p of PLACEHOLDERS) {
    if (code.includes(p)) throw new Error(`${path} contains ${p}, which dvc-render would replace`);
  }
  // "</script" inside the code would end the inline element early.
  const safe = code.replaceAll("</script", "<\\/script");
  return `<!-- ${name} ${version} (${file}) -->\n<script type="text/javascript">\n${safe}\n</script>`;
});

// No {scripts} placeholder on purpose: that is where dvc-render puts its CDN <script src> tags.
const page = `<!DOCTYPE html>
<html>
<head>
    {refresh_tag}
    <meta charset="utf-8">
    <title>DVC Plot</title>
${scripts.join("\n")}
    <style>
        table {
            border-spacing: 15px;
        }
    </style>
</head>
<body>
    {plot_divs}
</body>
</html>
`;

const out = join(here, "dist", "offline.html");
mkdirSync(dirname(out), { recursive: true });
writeFileSync(`${out}.tmp`, page); // temp file then rename: never a half-written template
renameSync(`${out}.tmp`, out);
console.log(`wrote ${out} (${(page.length / 1e6).toFixed(1)} MB)`);
