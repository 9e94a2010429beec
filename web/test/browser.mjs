// Drives the demo in headless Chromium (playwright-core, Debian's /usr/bin/chromium) the
// way a visitor would, and writes down what the page decoded for wasm/tests/browser.rs to
// compare with the native decoder.
//
//   node web/test/browser.mjs JOB.json OUT_DIR
//
// JOB: { samples: [file, …]            samples to open by clicking them
//        files: [{ wl, model? }, …]    files to open through the file chooser (a .wlm first)
//        info: [wl, …]                 files whose header to read (walloc.info)
//        bad: [wl, …]                  files the page must refuse with a message
//        timing?: { sample, runs, pause? } }   after `pause` ms, decode a sample `runs` times,
//                                      keeping the worker's times
// OUT: results.json, NAME.rgba / NAME.chK.f32 / NAME.symbols (raw little-endian), and
// screenshots (image.png, audio.png, error.png, phone.png).

import { readFileSync, writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";
import { startServer } from "../serve.mjs";

const [jobPath, out] = process.argv.slice(2);
if (!jobPath || !out) {
  console.error("usage: node web/test/browser.mjs JOB.json OUT_DIR");
  process.exit(2);
}
const job = JSON.parse(readFileSync(jobPath, "utf8"));
mkdirSync(out, { recursive: true });
const save = (name, b64) => writeFileSync(path.join(out, name), Buffer.from(b64, "base64"));
const results = { samples: [], files: [], info: [], problems: [] };

const server = await startServer({ port: 0 });
const base = `http://127.0.0.1:${server.address().port}/`;
const browser = await chromium.launch({
  executablePath: process.env.WALLOC_CHROMIUM || "/usr/bin/chromium",
  args: [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
  ],
});

try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  page.on("pageerror", (e) => results.problems.push(`page error: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && results.problems.push(`console: ${m.text()}`));
  page.on("requestfailed", (r) => results.problems.push(`request failed: ${r.url()}`));
  page.on("response", (r) => r.status() >= 400 && results.problems.push(`HTTP ${r.status()}: ${r.url()}`));

  await page.goto(base);
  await page.waitForFunction(() => document.body.dataset.ready === "true", null, { timeout: 120_000 });
  results.status_ready = await page.textContent("#status");

  const waitDone = (name) =>
    page.waitForFunction(
      (n) => ["done", "error"].includes(document.body.dataset.state) && (document.body.dataset.state === "error" || document.querySelector("#result").dataset.file === n),
      name,
      { timeout: 300_000 },
    );

  // What the page shows for the file just opened, saved for the Rust side.
  async function record(name, bytesB64) {
    const state = await page.evaluate(() => document.body.dataset.state);
    if (state !== "done") {
      return { name, error: await page.textContent("#error-message") };
    }
    const shown = await page.evaluate(() => window.walloc.shown());
    const stats = await page.$$eval("#stats dd", (dds) => Object.fromEntries(dds.map((d) => [d.dataset.key, d.textContent])));
    const d = await page.evaluate(() => {
      const { info, model, decodeMs, loadMs, warmUpMs } = window.walloc.last.decoded;
      return { info, model, decodeMs, loadMs, warmUpMs };
    });
    const symbols = await page.evaluate(async (b64) => {
      const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const s = await window.walloc.symbols(bytes);
      return window.walloc.base64(new Uint8Array(s.buffer));
    }, bytesB64);
    save(`${name}.symbols`, symbols);
    const entry = { name, modality: shown.modality, stats, ...d };
    if (shown.modality === "image") {
      save(`${name}.rgba`, shown.rgba);
      Object.assign(entry, { width: shown.width, height: shown.height });
    } else {
      shown.channels.forEach((c, k) => save(`${name}.ch${k}.f32`, c));
      Object.assign(entry, { sample_rate: shown.sample_rate, channels: shown.channels.length, player_duration: shown.duration });
    }
    return entry;
  }

  // Samples, by clicking them like a visitor.
  for (const file of job.samples || []) {
    await page.click(`[data-sample="${file}"]`);
    await waitDone(file);
    const b64 = await page.evaluate(async (f) => window.walloc.base64(new Uint8Array(await (await fetch(`samples/${f}`)).arrayBuffer())), file);
    const entry = await record(file, b64);
    if (entry.modality === "audio") {
      // The player must have loaded the decoded WAV.
      await page.waitForFunction(() => Number.isFinite(document.querySelector("#view audio").duration), null, { timeout: 30_000 });
      entry.player_duration = await page.evaluate(() => document.querySelector("#view audio").duration);
    }
    results.samples.push(entry);
    if (entry.modality) await page.screenshot({ path: path.join(out, `${entry.modality}.png`), fullPage: true });
  }

  // The same image in a phone-sized window: nothing may stick out sideways.
  const imageSample = results.samples.find((s) => s.modality === "image");
  if (imageSample) {
    await page.click(`[data-sample="${imageSample.name}"]`);
    await waitDone(imageSample.name);
    await page.setViewportSize({ width: 390, height: 844 });
    await page.waitForTimeout(200);
    results.phone = await page.evaluate(() => ({
      viewport: window.innerWidth,
      scroll_width: document.documentElement.scrollWidth,
      canvas_width: Math.round(document.querySelector("#view canvas").getBoundingClientRect().width),
    }));
    await page.screenshot({ path: path.join(out, "phone.png"), fullPage: true });
    await page.setViewportSize({ width: 1100, height: 900 });
  }

  // Files through the file chooser: a model file first, as a visitor with their own model would.
  for (const f of job.files || []) {
    if (f.model) {
      await page.setInputFiles("#file", f.model);
      await page.waitForFunction(() => /^Model .* added/.test(document.querySelector("#status").textContent), null, { timeout: 120_000 });
    }
    const name = path.basename(f.wl);
    await page.setInputFiles("#file", f.wl);
    await waitDone(name);
    results.files.push(await record(name, readFileSync(f.wl).toString("base64")));
  }

  // Headers read in the browser, for the native comparison.
  for (const wl of job.info || []) {
    const b64 = readFileSync(wl).toString("base64");
    results.info.push(
      await page.evaluate(async ([name, b64]) => {
        const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        try {
          return { name, info: await window.walloc.info(bytes) };
        } catch (e) {
          return { name, error: e.message };
        }
      }, [path.basename(wl), b64]),
    );
  }

  // Files the page cannot decode (damaged, or made with a model it lacks), chosen like any
  // other: the page must say what is wrong.
  results.bad = [];
  for (const wl of job.bad || []) {
    const name = path.basename(wl);
    await page.setInputFiles("#file", { name, mimeType: "application/octet-stream", buffer: readFileSync(wl) });
    await page.waitForFunction(() => document.body.dataset.state === "error", null, { timeout: 60_000 });
    results.bad.push({
      name,
      title: await page.textContent("#error-title"),
      message: await page.textContent("#error-message"),
      result_hidden: await page.$eval("#result", (r) => r.hidden),
    });
    if (results.bad.length === 1) await page.screenshot({ path: path.join(out, "error.png"), fullPage: true });
  }

  if (job.timing) {
    const { sample, runs, pause = 0 } = job.timing;
    results.timing = await page.evaluate(async ([file, runs, pause]) => {
      const bytes = new Uint8Array(await (await fetch(`samples/${file}`)).arrayBuffer());
      // A user takes a moment to choose a file; the page warms up meanwhile.
      await new Promise((done) => setTimeout(done, pause));
      const times = [];
      for (let i = 0; i < runs; i++) {
        const t0 = performance.now();
        const d = await window.walloc.decode(bytes);
        times.push({ worker_ms: d.decodeMs, round_trip_ms: performance.now() - t0, load_ms: d.loadMs, warm_up_ms: d.warmUpMs });
      }
      return { sample: file, times };
    }, [sample, runs, pause]);
  }
  results.user_agent = await page.evaluate(() => navigator.userAgent);
} finally {
  await browser.close();
  server.close();
}

writeFileSync(path.join(out, "results.json"), JSON.stringify(results, null, 1) + "\n");
console.log(`browser test: results and screenshots in ${out}`);
