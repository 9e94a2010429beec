// The page: file choice and drops, samples, and showing what the worker decoded. All
// decoding happens in worker.js, so the page stays responsive.

const $ = (id) => document.getElementById(id);
const els = {
  drop: $("drop"), file: $("file"), samples: $("samples"), status: $("status"),
  error: $("error"), errorTitle: $("error-title"), errorMessage: $("error-message"),
  result: $("result"), title: $("result-title"), view: $("view"), stats: $("stats"), save: $("save"),
};

// ---- the worker, with requests as promises ---------------------------------------------

let worker = null;
let nextId = 1;
const pending = new Map();

function startWorker() {
  worker = new Worker(new URL("worker.js", import.meta.url), { type: "module" });
  worker.onmessage = ({ data }) => {
    const p = pending.get(data.id);
    if (!p) return;
    pending.delete(data.id);
    if (data.ok) p.resolve(data.value);
    else {
      if (data.crashed) restartWorker();
      p.reject(new Error(data.error));
    }
  };
  worker.onerror = (e) => {
    e.preventDefault();
    const message = e.message || "the decoder could not start";
    for (const p of pending.values()) p.reject(new Error(message));
    pending.clear();
  };
}

// After a trap the module's state is undefined: start afresh (models added by hand are
// lost, the shipped ones are fetched again from the cache).
function restartWorker() {
  worker.terminate();
  startWorker();
}

function call(op, bytes) {
  return new Promise((resolve, reject) => {
    const id = nextId++;
    pending.set(id, { resolve, reject });
    // A copy is sent, so callers keep their bytes.
    worker.postMessage({ id, op, bytes: bytes ? bytes.slice() : undefined });
  });
}

// ---- formatting ---------------------------------------------------------------------------

function formatBytes(n) {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(n < 1e4 ? 2 : 1)} kB`;
  return `${(n / 1e6).toFixed(2)} MB`;
}
const formatMs = (ms) => (ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`);
const baseName = (name) => name.replace(/\.[^.]*$/, "");

function setStatus(text, busy = false) {
  els.status.textContent = text;
  els.status.classList.toggle("busy", busy);
}

function showError(name, message) {
  els.result.hidden = true;
  els.errorTitle.textContent = "This file could not be decoded";
  // As the CLI prints it: "walloc: FILE: MESSAGE".
  els.errorMessage.textContent = `${name}: ${message}`;
  els.error.hidden = false;
  setStatus("");
  document.body.dataset.state = "error";
}

function stats(rows) {
  els.stats.replaceChildren(
    ...rows.map(([key, label, value, title]) => {
      const div = document.createElement("div");
      const dt = document.createElement("dt");
      const dd = document.createElement("dd");
      dt.textContent = label;
      dd.textContent = value;
      dd.dataset.key = key;
      if (title) dd.title = title;
      div.append(dt, dd);
      return div;
    }),
  );
}

// ---- showing results ------------------------------------------------------------------------

let saveUrl = null;
function offerSave(blob, name) {
  if (saveUrl) URL.revokeObjectURL(saveUrl);
  saveUrl = URL.createObjectURL(blob);
  els.save.href = saveUrl;
  els.save.download = name;
  els.save.textContent = `Save ${name.split(".").pop().toUpperCase()}`;
}

function showImage(name, d) {
  const { width, height, rgba } = d.result;
  const canvas = document.createElement("canvas");
  canvas.className = "image";
  canvas.width = width;
  canvas.height = height;
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", `${name}, decoded, ${width} by ${height} pixels`);
  canvas.getContext("2d").putImageData(new ImageData(rgba, width, height), 0, 0);
  els.view.replaceChildren(canvas);
  canvas.toBlob((blob) => blob && offerSave(blob, `${baseName(name)}.png`), "image/png");
  stats([
    ["size", "Size", `${width} × ${height} px`],
    ["bytes", "File", formatBytes(d.info.bytes), `${d.info.bytes} bytes`],
    ["bpp", "Rate", `${d.info.bpp.toFixed(3)} bpp`, "bits per pixel"],
    ["model", "Model", d.model, d.info.model_id],
    ["time", "Decode", formatMs(d.decodeMs), d.loadMs ? `model loaded in ${formatMs(d.loadMs)}` : "model already loaded"],
  ]);
}

// 16-bit PCM WAV for the player and for saving (plays everywhere).
function wavBlob(channels, rate) {
  const n = channels[0].length, c = channels.length;
  const buf = new ArrayBuffer(44 + n * c * 2);
  const v = new DataView(buf);
  const text = (at, s) => [...s].forEach((ch, i) => v.setUint8(at + i, ch.charCodeAt(0)));
  text(0, "RIFF"); v.setUint32(4, 36 + n * c * 2, true); text(8, "WAVE");
  text(12, "fmt "); v.setUint32(16, 16, true); v.setUint16(20, 1, true); v.setUint16(22, c, true);
  v.setUint32(24, rate, true); v.setUint32(28, rate * c * 2, true); v.setUint16(32, c * 2, true); v.setUint16(34, 16, true);
  text(36, "data"); v.setUint32(40, n * c * 2, true);
  let at = 44;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < c; k++) {
      const s = Math.max(-1, Math.min(1, channels[k][i]));
      v.setInt16(at, Math.round(s * 32767), true);
      at += 2;
    }
  }
  return new Blob([buf], { type: "audio/wav" });
}

function drawWave(canvas, channels, audio) {
  const dpr = window.devicePixelRatio || 1;
  const w = Math.max(1, Math.round(canvas.clientWidth * dpr));
  const h = Math.max(1, Math.round(canvas.clientHeight * dpr));
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  const ctx = canvas.getContext("2d");
  const style = getComputedStyle(document.documentElement);
  const accent = style.getPropertyValue("--accent").trim() || "#2b59c3";
  const muted = style.getPropertyValue("--muted").trim() || "#888";
  ctx.clearRect(0, 0, w, h);
  const played = audio.duration ? audio.currentTime / audio.duration : 0;
  const lane = h / channels.length;
  channels.forEach((samples, k) => {
    const mid = lane * (k + 0.5), amp = lane * 0.45, per = samples.length / w;
    for (let x = 0; x < w; x++) {
      let lo = 1, hi = -1;
      const end = Math.min(samples.length, Math.ceil((x + 1) * per));
      for (let i = Math.floor(x * per); i < end; i++) {
        const s = samples[i];
        if (s < lo) lo = s;
        if (s > hi) hi = s;
      }
      if (hi < lo) continue;
      ctx.fillStyle = x / w <= played ? accent : muted;
      ctx.fillRect(x, mid - hi * amp, 1, Math.max(1, (hi - lo) * amp));
    }
  });
  if (played > 0) {
    ctx.fillStyle = accent;
    ctx.fillRect(Math.round(played * w), 0, Math.max(1, dpr), h);
  }
}

function showAudio(name, d) {
  const { channels, sample_rate: rate, frames } = d.result;
  const blob = wavBlob(channels, rate);
  const audio = document.createElement("audio");
  audio.controls = true;
  audio.preload = "auto";
  audio.src = URL.createObjectURL(blob);
  const wave = document.createElement("canvas");
  wave.className = "wave";
  wave.setAttribute("role", "img");
  wave.setAttribute("aria-label", `waveform of ${name}, click to seek`);
  els.view.replaceChildren(wave, audio);
  const redraw = () => drawWave(wave, channels, audio);
  let frame = 0;
  const tick = () => { redraw(); if (!audio.paused) frame = requestAnimationFrame(tick); };
  audio.addEventListener("play", () => { cancelAnimationFrame(frame); tick(); });
  audio.addEventListener("pause", redraw);
  audio.addEventListener("seeked", redraw);
  audio.addEventListener("loadedmetadata", redraw);
  wave.addEventListener("click", (e) => {
    if (!audio.duration) return;
    const r = wave.getBoundingClientRect();
    audio.currentTime = ((e.clientX - r.left) / r.width) * audio.duration;
  });
  new ResizeObserver(redraw).observe(wave);
  offerSave(blob, `${baseName(name)}.wav`);
  const seconds = frames / rate;
  stats([
    ["duration", "Duration", `${seconds.toFixed(2)} s`],
    ["rate", "Sample rate", `${(rate / 1000).toLocaleString("en", { maximumFractionDigits: 2 })} kHz`],
    ["channels", "Channels", channels.length === 2 ? "2 (stereo)" : channels.length === 1 ? "1 (mono)" : String(channels.length)],
    ["bytes", "File", formatBytes(d.info.bytes), `${d.info.bytes} bytes`],
    ["kbps", "Rate", `${d.info.kbps.toFixed(1)} kbps`],
    ["model", "Model", d.model, d.info.model_id],
    ["time", "Decode", formatMs(d.decodeMs), d.loadMs ? `model loaded in ${formatMs(d.loadMs)}` : "model already loaded"],
  ]);
}

// ---- opening files ------------------------------------------------------------------------

let generation = 0;
const last = { name: null, decoded: null };

async function open(name, bytes) {
  const mine = ++generation;
  els.error.hidden = true;
  document.body.dataset.state = "busy";
  setStatus(`Decoding ${name}…`, true);
  try {
    const d = await call("decode", bytes);
    if (mine !== generation) return;
    els.title.textContent = name;
    (d.info.modality === "image" ? showImage : showAudio)(name, d);
    els.result.hidden = false;
    els.result.dataset.file = name;
    last.name = name;
    last.decoded = d;
    setStatus(`Decoded ${name} in ${formatMs(d.decodeMs)}${d.loadMs ? ` (model ${d.model} loaded in ${formatMs(d.loadMs)})` : ""}.`);
    document.body.dataset.state = "done";
  } catch (e) {
    if (mine === generation) showError(name, e.message);
  }
}

async function addModel(name, bytes) {
  setStatus(`Loading model ${name}…`, true);
  try {
    const m = await call("addModel", bytes);
    setStatus(`Model ${m.name} (${m.modality}) added: files made with it now decode.`);
    return m;
  } catch (e) {
    showError(name, e.message);
    throw e;
  }
}

// Model files first, so a model and its .wl can be dropped together.
async function openFiles(files) {
  document.body.dataset.state = "busy";
  for (const b of els.samples.querySelectorAll("button")) b.setAttribute("aria-pressed", "false");
  const list = [...files];
  const isModel = (f) => f.name.toLowerCase().endsWith(".wlm");
  for (const f of list.filter(isModel)) {
    try { await addModel(f.name, new Uint8Array(await f.arrayBuffer())); } catch { return; }
  }
  const wl = list.find((f) => !isModel(f));
  if (wl) await open(wl.name, new Uint8Array(await wl.arrayBuffer()));
  else document.body.dataset.state = "idle";
}

els.file.addEventListener("change", () => {
  openFiles(els.file.files);
  els.file.value = "";
});

// Drops anywhere on the page; the drop zone lights up.
let depth = 0;
window.addEventListener("dragenter", (e) => { e.preventDefault(); depth++; els.drop.classList.add("over"); });
window.addEventListener("dragleave", () => { if (--depth <= 0) { depth = 0; els.drop.classList.remove("over"); } });
window.addEventListener("dragover", (e) => e.preventDefault());
window.addEventListener("drop", (e) => {
  e.preventDefault();
  depth = 0;
  els.drop.classList.remove("over");
  if (e.dataTransfer && e.dataTransfer.files.length) openFiles(e.dataTransfer.files);
});

async function openSample(s, button) {
  document.body.dataset.state = "busy";
  for (const b of els.samples.querySelectorAll("button")) b.setAttribute("aria-pressed", String(b === button));
  setStatus(`Fetching ${s.file}…`, true);
  try {
    const res = await fetch(`samples/${s.file}`);
    if (!res.ok) throw new Error(`cannot fetch it (HTTP ${res.status})`);
    await open(s.file, new Uint8Array(await res.arrayBuffer()));
  } catch (e) {
    showError(s.file, e.message);
  }
}

function listSamples(catalog) {
  els.samples.replaceChildren(
    ...catalog.samples.map((s) => {
      const li = document.createElement("li");
      const b = document.createElement("button");
      b.type = "button";
      b.dataset.sample = s.file;
      b.setAttribute("aria-pressed", "false");
      b.title = s.credit || s.title;
      const kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = s.modality;
      const title = document.createElement("span");
      title.className = "sample-title";
      const strong = document.createElement("span");
      strong.className = "sample-name";
      strong.textContent = s.title;
      const detail = document.createElement("span");
      detail.className = "sample-detail";
      detail.textContent = s.detail || "";
      title.append(strong, detail);
      const size = document.createElement("span");
      size.className = "sample-size";
      size.textContent = formatBytes(s.bytes);
      b.append(kind, title, size);
      b.addEventListener("click", () => openSample(s, b));
      li.append(b);
      return li;
    }),
  );
  els.samples.setAttribute("aria-busy", "false");
}

// ---- start --------------------------------------------------------------------------------

startWorker();
setStatus("Loading the decoder…", true);
const ready = call("catalog").then(
  (catalog) => {
    listSamples(catalog);
    setStatus("Ready. Choose a file or a sample.");
    document.body.dataset.ready = "true";
  },
  (e) => {
    setStatus("");
    showError("walloc", `the decoder could not start: ${e.message}`);
  },
);

// For the browser test and the curious: the same paths as the buttons.
function base64(bytes) {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
const asBytes = (typed) => new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);

window.walloc = {
  ready,
  open,
  openFiles,
  info: (bytes) => call("info", bytes),
  symbols: (bytes) => call("symbols", bytes),
  decode: (bytes) => call("decode", bytes),
  last,
  // What is on screen, base64: the canvas's pixels (RGBA) or the decoded audio planes
  // (little-endian float32) that the player and waveform show.
  shown() {
    const d = last.decoded;
    if (!d) return null;
    if (d.info.modality === "image") {
      const canvas = els.view.querySelector("canvas");
      const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
      return { name: last.name, modality: "image", width: canvas.width, height: canvas.height, rgba: base64(pixels) };
    }
    const audio = els.view.querySelector("audio");
    return {
      name: last.name,
      modality: "audio",
      sample_rate: d.result.sample_rate,
      duration: audio.duration,
      channels: d.result.channels.map((c) => base64(asBytes(c))),
    };
  },
  base64,
};
