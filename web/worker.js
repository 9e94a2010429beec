// The decoder's thread: loads walloc-wasm, fetches each model once (kept in memory for the
// page's life and in Cache Storage across visits), decodes, and answers the page.
//
// Requests: { id, op, ... } with op "decode" (bytes), "info" (bytes), "symbols" (bytes),
// "addModel" (bytes). Answers: { id, ok: true, value } or { id, ok: false, error, crashed }.
// `crashed` means the module trapped (a bug); the page then replaces this worker.

import init, { WallocModel, info, lastPanic } from "./pkg/walloc_wasm.js";

const CACHE = "walloc-models-v1";
const models = new Map(); // model id → Promise<{ model, name, loadMs, warmUpMs? }>
let catalog = { models: [], samples: [] };

const ready = (async () => {
  await init();
  const res = await fetch("pkg/catalog.json");
  if (!res.ok) throw new Error(`cannot load the model catalog (HTTP ${res.status})`);
  catalog = await res.json();
})();

// While the visitor chooses a file: load the default image model (what `walloc encode`
// uses without --quality) and run a small decode with it. The browser compiles the
// decoder's hot code with its optimising compiler on other threads meanwhile, so the
// first file decodes nearly as fast as later ones: from a click 2 s after page load to a
// 768×512 photo's pixels took 340–464 ms before, 138–179 ms with this (web/README.md).
// Best effort: a failure here is the first decode's to report.
ready
  .then(() => {
    const entry = catalog.models.find((m) => m.default);
    return (
      entry &&
      modelFor(entry.id).then((loaded) => {
        const started = performance.now();
        loaded.model.warmUp();
        loaded.warmUpMs = performance.now() - started;
      })
    );
  })
  .catch(() => {});

async function modelBytes(entry) {
  const url = new URL(`models/${entry.file}`, self.location.href).href;
  const key = `${url}?id=${entry.id}`; // a retrained model has a new id: fetched anew
  const store = self.caches ? await self.caches.open(CACHE).catch(() => null) : null;
  let res = store && (await store.match(key));
  if (!res) {
    res = await fetch(url);
    if (!res.ok) throw new Error(`cannot fetch model ${entry.name} (HTTP ${res.status})`);
    if (store) await store.put(key, res.clone()).catch(() => {});
  }
  return new Uint8Array(await res.arrayBuffer());
}

// The model a .wl file names: one loaded before, or one from the catalog.
function modelFor(id) {
  let loading = models.get(id);
  if (!loading) {
    const entry = catalog.models.find((m) => m.id === id);
    if (!entry) {
      // The CLI says "…which this walloc does not have; pass the model file with --model".
      throw new Error(`encoded with model ${id}, which this page does not have; add its model file (.wlm)`);
    }
    loading = (async () => {
      const started = performance.now();
      const model = WallocModel.fromBytes(await modelBytes(entry));
      return { model, name: entry.name, loadMs: performance.now() - started };
    })();
    loading.catch(() => models.delete(id));
    models.set(id, loading);
  }
  return loading;
}

function addModel(bytes) {
  const model = WallocModel.fromBytes(bytes);
  const known = catalog.models.find((m) => m.id === model.id);
  const name = known ? known.name : model.name;
  models.set(model.id, Promise.resolve({ model, name, loadMs: 0 }));
  return { id: model.id, name, modality: model.modality };
}

async function decode(bytes) {
  const header = info(bytes);
  const { model, name, loadMs, warmUpMs = null } = await modelFor(header.model_id);
  const started = performance.now();
  const value = header.modality === "image" ? model.decodeImage(bytes) : model.decodeAudio(bytes);
  const decodeMs = performance.now() - started;
  const transfer = header.modality === "image" ? [value.rgba.buffer] : value.channels.map((c) => c.buffer);
  return { value: { info: header, model: name, decodeMs, loadMs, warmUpMs, result: value }, transfer };
}

async function handle(op, bytes) {
  await ready;
  switch (op) {
    case "decode":
      return decode(bytes);
    case "info":
      return { value: info(bytes) };
    case "symbols": {
      const { model } = await modelFor(info(bytes).model_id);
      const symbols = model.latentSymbols(bytes);
      return { value: symbols, transfer: [symbols.buffer] };
    }
    case "addModel":
      return { value: addModel(bytes) };
    case "catalog":
      return { value: catalog };
    default:
      throw new Error(`unknown request ${op}`);
  }
}

self.onmessage = async ({ data: { id, op, bytes } }) => {
  try {
    const { value, transfer = [] } = await handle(op, bytes);
    self.postMessage({ id, ok: true, value }, transfer);
  } catch (e) {
    const crashed = e instanceof WebAssembly.RuntimeError;
    let error = e && e.message ? e.message : String(e);
    if (crashed) {
      let panic = null;
      try { panic = lastPanic(); } catch { /* the instance may be gone */ }
      error = `the decoder crashed (${panic || error}); this is a bug in walloc, please report it`;
    }
    self.postMessage({ id, ok: false, error, crashed });
  }
};
