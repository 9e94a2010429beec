// Writes web/pkg/catalog.json: the models the demo can fetch (assets/models/*.wlm, by id)
// and the samples it offers (assets/samples, titles from samples.json). Run by
// scripts/web.sh after the wasm build.

import { readFileSync, readdirSync, writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const web = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const root = path.dirname(web);
const hex = (b) => Buffer.from(b).toString("hex");

// Model file: magic "WLMODEL\0", version, 3 reserved, id (16) at 12, config length at 28,
// config JSON at 32 (docs/format.md).
function model(file) {
  const b = readFileSync(path.join(root, "assets/models", file));
  if (b.subarray(0, 8).toString("latin1") !== "WLMODEL\0") throw new Error(`${file}: not a model file`);
  const config = JSON.parse(b.subarray(32, 32 + b.readUInt32LE(28)).toString("utf8"));
  return {
    file,
    id: hex(b.subarray(12, 28)),
    name: config.name,
    modality: String(config.modality).toLowerCase(),
    bytes: b.length,
  };
}

// .wl: magic (8), version (2), modality at 10, flags, model id at 12..28 (docs/format.md).
function sample(file, meta) {
  const b = readFileSync(path.join(root, "assets/samples", file));
  return {
    file,
    title: meta.title,
    detail: meta.detail,
    credit: meta.credit,
    modality: b[10] === 0 ? "image" : "audio",
    model_id: hex(b.subarray(12, 28)),
    bytes: b.length,
  };
}

const models = readdirSync(path.join(root, "assets/models")).filter((f) => f.endsWith(".wlm")).sort().map(model);
// The image model `walloc encode` uses without --quality (the middle level,
// cli/src/models.rs), which the page loads and warms up while it waits for the user.
const images = models.filter((m) => m.modality === "image");
if (images.length) images[images.length >> 1].default = true;
const manifest = JSON.parse(readFileSync(path.join(root, "assets/samples/samples.json"), "utf8"));
const samples = manifest.map((m) => sample(m.file, m));
mkdirSync(path.join(web, "pkg"), { recursive: true });
writeFileSync(path.join(web, "pkg/catalog.json"), JSON.stringify({ models, samples }, null, 1) + "\n");
console.log(`catalog: ${models.length} models, ${samples.length} samples`);
