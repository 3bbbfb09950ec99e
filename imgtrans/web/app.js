// imgtrans serve's page: plain JavaScript over the HTTP API (/v1/...), no libraries, nothing from elsewhere.
"use strict";

const $ = (id) => document.getElementById(id);
const VIDEO = /\.(mp4|mov|mkv|webm|avi|m4v|gif)$/i;
const PRECISIONS = ["", "fp32", "tf32", "bf16", "fp16"];
const COLOURS = ["#0b5cad", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#7f8c8d", "#b7950b", "#2c3e50"];
const state = { models: [], token: sessionStorage.getItem("imgtrans-token") || "", run: null, poll: null, job: null,
                limits: { max_upload: Infinity } };

// ---- the API: every error is the server's one-line message ------------------------------------------------
class ApiError extends Error {}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (state.token) headers.Authorization = "Bearer " + state.token;
  let response;
  try {
    response = await fetch(path, Object.assign({}, options, { headers }));
  } catch (err) {
    throw new ApiError("the server cannot be reached (" + err.message + ")");
  }
  if (!response.ok) {
    let message = response.status + " " + response.statusText;
    try { message = (await response.json()).error || message; } catch (_) { /* not JSON */ }
    if (response.status === 401) $("token-form").hidden = false;
    throw new ApiError(message);
  }
  return response;
}

const json = async (path, options) => (await api(path, options)).json();

function showError(err) {
  $("error").textContent = err ? (err instanceof ApiError ? err.message : String(err.message || err)) : "";
}

async function guarded(button, work) {
  showError(null);
  button.disabled = true;
  try { await work(); } catch (err) { showError(err); } finally { button.disabled = false; }
}

function objectUrl(blob, old) {
  if (old && old.startsWith("blob:")) URL.revokeObjectURL(old);
  return URL.createObjectURL(blob);
}

function option(select, value, text) {
  const item = document.createElement("option");
  item.value = value;
  item.textContent = text;
  select.append(item);
}

function checkbox(container, value, text, checked) {
  const label = document.createElement("label");
  const box = document.createElement("input");
  box.type = "checkbox";
  box.value = value;
  box.checked = checked;
  label.append(box, " " + text);
  container.append(label);
}

const checked = (container) => [...container.querySelectorAll("input:checked")].map((box) => box.value);

// ---- tabs (arrow keys move between them) ------------------------------------------------------------------
const tabs = [...document.querySelectorAll("[role=tab]")];

function select(tab) {
  for (const other of tabs) {
    const on = other === tab;
    other.setAttribute("aria-selected", String(on));
    other.tabIndex = on ? 0 : -1;
    $(other.getAttribute("aria-controls")).hidden = !on;
  }
  showError(null);
  if (tab.id === "tab-runs") loadRuns().then(schedule, showError);
  else stopPolling();
}

tabs.forEach((tab, i) => {
  tab.addEventListener("click", () => select(tab));
  tab.addEventListener("keydown", (event) => {
    const step = { ArrowRight: 1, ArrowLeft: -1 }[event.key];
    if (!step) return;
    const next = tabs[(i + step + tabs.length) % tabs.length];
    next.focus();
    select(next);
  });
});

$("token-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.token = $("token").value.trim();
  sessionStorage.setItem("imgtrans-token", state.token);
  $("token-form").hidden = true;
  showError(null);
  init().catch(showError);
});

// ---- files: chosen or dropped -------------------------------------------------------------------------
function dropZone(zone, input) {
  zone.addEventListener("dragover", (event) => { event.preventDefault(); zone.classList.add("over"); });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    if (event.dataTransfer.files.length) {
      input.files = event.dataTransfer.files;
      input.dispatchEvent(new Event("change"));
    }
  });
  input.addEventListener("change", () => {
    const file = input.files[0];
    zone.querySelector("span").textContent = file ? file.name + " (" + Math.ceil(file.size / 1024) + " KB)"
                                                  : "Drop a file here, or choose one";
  });
}

function chosen(input) {
  const file = input.files[0];
  if (!file) throw new Error("choose a file first");
  return file;
}

// ---- translate ----------------------------------------------------------------------------------------------
function card(name) {
  const model = state.models.find((m) => m.name === name);
  if (!model) return "";
  const parts = [model.direction, model.family, model.trained_size && "trained at " + model.trained_size,
                 model.license && "licence: " + model.license, "weights: " + model.weights];
  return parts.filter(Boolean).join(" · ");
}

function stem(name) { return name.replace(/\.[^.]*$/, "") || "picture"; }

function describe(response) {
  const h = (name) => response.headers.get("X-Imgtrans-" + name);
  const peak = Number(h("Peak-Memory") || 0);
  const memory = peak ? ", peak memory " + (peak / 2 ** 20).toFixed(0) + " MB" + (h("Device") === "cpu"
    ? " (process)" : "") : "";
  return h("Ms") + " ms on " + h("Device") + " (" + h("Precision") + (h("Streamed") === "true" ? ", streamed" : "")
    + ")" + memory;
}

async function translatePicture(file, model, precision) {
  const params = new URLSearchParams({ model });
  if (precision) params.set("precision", precision);
  const response = await api("/v1/translate?" + params, { method: "POST", body: file });
  const blob = await response.blob();
  return { blob, info: describe(response) };
}

$("t-model").addEventListener("change", () => { $("t-card").textContent = card($("t-model").value); });
$("t-slider").addEventListener("input", () => {
  $("t-after").style.clipPath = "inset(0 0 0 " + $("t-slider").value + "%)";
});
$("t-video-slider").addEventListener("input", () => {
  $("t-video-over").style.clipPath = "inset(0 0 0 " + $("t-video-slider").value + "%)";
});
// The translated video lies over the sent one and follows its controls (the same frame times).
function followUnder() {
  const under = $("t-video-under"), over = $("t-video-over");
  if (Math.abs(over.currentTime - under.currentTime) > 0.05) over.currentTime = under.currentTime;
  over.playbackRate = under.playbackRate;
  if (under.paused && !over.paused) over.pause();
  if (!under.paused && over.paused) over.play().catch(() => {});
}
for (const event of ["play", "pause", "seeked", "timeupdate", "ratechange"]) {
  $("t-video-under").addEventListener(event, followUnder);
}

function showPicture(file, blob, model, info) {
  $("t-before").src = objectUrl(file, $("t-before").src);
  $("t-after").src = objectUrl(blob, $("t-after").src);
  $("t-slider").dispatchEvent(new Event("input"));
  $("t-info").textContent = model + ": " + info;
  $("t-result").hidden = false;
  const link = $("t-download");
  link.href = $("t-after").src;
  link.download = stem(file.name) + "-" + model + ".png";
  link.hidden = false;
}

$("t-go").addEventListener("click", () => guarded($("t-go"), async () => {
  const file = chosen($("t-file"));
  const model = $("t-model").value;
  $("t-result").hidden = true;
  $("t-videos").hidden = true;
  $("t-download").hidden = true;
  $("t-job").hidden = true;
  // Videos, and pictures over the server's upload limit, go through a job (progress, cancel).
  const video = VIDEO.test(file.name) || file.type.startsWith("video/");
  if (video || file.size > state.limits.max_upload) return runJob(file, model, $("t-precision").value, video);
  const { blob, info } = await translatePicture(file, model, $("t-precision").value);
  showPicture(file, blob, model, info);
}));

// ---- jobs: a video or a large picture, progress from server-sent events, a cancel button --------------------
async function runJob(file, model, precision, video) {
  const params = new URLSearchParams({ model, name: file.name });
  if (precision) params.set("precision", precision);
  const job = await json("/v1/jobs?" + params, { method: "POST", body: file });
  state.job = job.id;
  $("t-job").hidden = false;
  try {
    const last = await follow(job.id);
    if (last.state === "failed") throw new ApiError(last.error);
    if (last.state !== "done") { $("t-progress-text").textContent = "cancelled"; return; }
    const blob = await (await api(last.result)).blob();
    if (!video) return showPicture(file, blob, model, "through a job");
    const player = $("t-video");
    player.src = objectUrl(blob, player.src);
    $("t-video-before").src = objectUrl(file, $("t-video-before").src);
    $("t-video-under").src = $("t-video-before").src;
    $("t-video-over").src = player.src;
    $("t-video-slider").dispatchEvent(new Event("input"));
    $("t-videos").hidden = false;
    $("t-download").href = player.src;
    $("t-download").download = stem(file.name) + "-" + model + (file.name.match(VIDEO) || [".mp4"])[0];
    $("t-download").hidden = false;
  } finally {
    state.job = null;
    $("t-cancel").disabled = false;
  }
}

function showProgress(job) {
  const bar = $("t-progress");
  if (job.total) { bar.max = job.total; bar.value = job.done; } else { bar.removeAttribute("value"); }
  const eta = job.eta_s != null ? ", about " + Math.round(job.eta_s) + " s left" : "";
  $("t-progress-text").textContent = job.state + ": " + job.done + (job.total ? " of " + job.total : "") + " "
    + job.unit + eta;
}

async function follow(id) {
  // EventSource cannot send the token: the stream is read through fetch instead.
  const response = await api("/v1/jobs/" + id + "/events");
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "", last = null;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return last || { state: "cancelled" };
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const line = buffer.slice(0, end).split("\n").find((l) => l.startsWith("data: "));
      buffer = buffer.slice(end + 2);
      if (line) { last = JSON.parse(line.slice(6)); showProgress(last); }
    }
  }
}

$("t-cancel").addEventListener("click", async () => {
  if (!state.job) return;
  $("t-cancel").disabled = true;
  try { await api("/v1/jobs/" + state.job, { method: "DELETE" }); } catch (err) { showError(err); }
});

// ---- compare ------------------------------------------------------------------------------------------------
$("c-go").addEventListener("click", () => guarded($("c-go"), async () => {
  const file = chosen($("c-file"));
  const names = checked($("c-models"));
  if (names.length === 0) throw new Error("tick at least one model");
  const gallery = $("c-results");
  for (const img of gallery.querySelectorAll("img")) URL.revokeObjectURL(img.src);
  gallery.replaceChildren();
  const original = document.createElement("figure");
  const source = document.createElement("img");
  source.src = URL.createObjectURL(file);
  source.alt = "The picture sent";
  original.append(source, Object.assign(document.createElement("figcaption"), { textContent: "original" }));
  gallery.append(original);
  for (const name of names) {  // one after another: the server computes one at a time anyway
    const figure = document.createElement("figure");
    figure.dataset.model = name;
    const caption = document.createElement("figcaption");
    caption.textContent = name + ": translating...";
    figure.append(caption);
    gallery.append(figure);
    try {
      const { blob, info } = await translatePicture(file, name, $("c-precision").value);
      const img = document.createElement("img");
      img.src = URL.createObjectURL(blob);
      img.alt = "Translated by " + name;
      figure.prepend(img);
      caption.textContent = name + ": " + info;
    } catch (err) {
      caption.textContent = name + ": " + err.message;
      caption.className = "error";
    }
  }
}));

// ---- conditional models --------------------------------------------------------------------------------------
function showLabels() {
  const model = state.models.find((m) => m.name === $("s-model").value);
  $("s-labels").replaceChildren();
  (model ? model.labels : []).forEach((label) => checkbox($("s-labels"), label, label, true));
}

$("s-model").addEventListener("change", showLabels);
$("s-go").addEventListener("click", () => guarded($("s-go"), async () => {
  const params = new URLSearchParams({ model: $("s-model").value, n: $("s-n").value, seed: $("s-seed").value });
  const labels = checked($("s-labels"));
  if (labels.length === 0) throw new Error("tick at least one label");
  params.set("labels", labels.join(","));
  const blob = await (await api("/v1/sample?" + params, { method: "POST" })).blob();
  $("s-grid").src = objectUrl(blob, $("s-grid").src);
  $("s-result").hidden = false;
}));

// ---- training runs -------------------------------------------------------------------------------------------
function stopPolling() {
  clearTimeout(state.poll);
  state.poll = null;
}

// While the view is open: the list every 2 s (new runs appear), and the open run while it trains.
function schedule() {
  stopPolling();
  if ($("view-runs").hidden) return;
  state.poll = setTimeout(async () => {
    try {
      await loadRuns();
      if (state.run && !state.runFinished) await refreshRun(false);
    } catch (err) { showError(err); }
    schedule();
  }, 2000);
}

async function loadRuns() {
  const { runs } = await json("/v1/runs");
  const seen = JSON.stringify(runs);
  if (seen === state.runList) return;  // unchanged: keep the buttons (and the keyboard focus)
  state.runList = seen;
  const list = $("r-list");
  list.replaceChildren();
  if (runs.length === 0) list.textContent = "No training runs in the folder yet.";
  for (const run of runs) {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.run = run.name;
    button.textContent = run.name + (run.finished ? "" : " (training)");
    button.setAttribute("aria-current", String(run.name === state.run));
    button.addEventListener("click", () => openRun(run.name).catch(showError));
    item.append(button);
    list.append(item);
  }
}

async function openRun(name) {
  stopPolling();
  state.run = name;
  for (const button of $("r-list").querySelectorAll("button")) {
    button.setAttribute("aria-current", String(button.dataset.run === name));
  }
  await refreshRun(true);
  schedule();
}

async function refreshRun(first) {
  const name = state.run;
  const run = await json("/v1/runs/" + encodeURIComponent(name));
  if (name !== state.run) return;
  $("r-detail").hidden = false;
  $("r-title").textContent = name;
  $("r-status").textContent = (run.finished ? "finished" : "training (updates itself)") + ": " + run.steps
    + " steps logged, " + run.samples.length + " sample grids";
  drawLosses(run.losses, run.loss_keys);
  showSamples(run.samples, first);
  $("r-summary").textContent = run.summary ? JSON.stringify(run.summary, null, 2) : "(written when training ends)";
  $("r-config").textContent = run.config ? JSON.stringify(run.config, null, 2) : "(unreadable)";
  state.runFinished = run.finished;
}

function svg(tag, attributes) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
}

function drawLosses(records, keys) {
  const chart = $("r-chart");
  [...chart.querySelectorAll(":not(title)")].forEach((node) => node.remove());
  const legend = $("r-legend");
  legend.replaceChildren();
  if (records.length === 0) return;
  const W = 640, H = 300, left = 44, right = 10, top = 10, bottom = 28;
  const steps = records.map((r) => r.step);
  const x0 = Math.min(...steps), x1 = Math.max(...steps, x0 + 1);
  const values = records.flatMap((r) => keys.map((k) => r[k]).filter(Number.isFinite));
  const y0 = Math.min(0, ...values), y1 = Math.max(...values, y0 + 1e-9);
  const x = (s) => left + (s - x0) / (x1 - x0) * (W - left - right);
  const y = (v) => H - bottom - (v - y0) / (y1 - y0) * (H - top - bottom);
  chart.append(svg("line", { x1: left, y1: H - bottom, x2: W - right, y2: H - bottom, stroke: "#999" }));
  chart.append(svg("line", { x1: left, y1: top, x2: left, y2: H - bottom, stroke: "#999" }));
  const label = (text, attrs) => { const t = svg("text", attrs); t.textContent = text; chart.append(t); };
  label(String(x0), { x: left, y: H - 8 });
  label(String(x1) + " steps", { x: W - right, y: H - 8, "text-anchor": "end" });
  label(y1.toPrecision(3), { x: left - 4, y: top + 10, "text-anchor": "end" });
  label(y0.toPrecision(3), { x: left - 4, y: H - bottom, "text-anchor": "end" });
  keys.forEach((key, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const points = records.filter((r) => Number.isFinite(r[key])).map((r) => x(r.step).toFixed(1) + ","
      + y(r[key]).toFixed(1));
    const line = svg("polyline", { points: points.join(" "), fill: "none", stroke: colour, "stroke-width": 1.5 });
    line.dataset.loss = key;
    chart.append(line);
    const swatch = document.createElement("span");
    swatch.style.setProperty("--swatch", colour);
    swatch.textContent = key;
    legend.append(swatch);
  });
}

function showSamples(samples, first) {
  const slider = $("r-slider");
  $("r-samples").hidden = samples.length === 0;
  if (samples.length === 0) return;
  const atEnd = first || Number(slider.value) === Number(slider.max);
  slider.max = samples.length - 1;
  if (atEnd) slider.value = slider.max;  // follow the newest grid unless the reader moved back
  state.samples = samples;
  slider.dispatchEvent(new Event("input"));
}

$("r-slider").addEventListener("input", async () => {
  const sample = (state.samples || [])[Number($("r-slider").value)];
  if (!sample) return;
  $("r-step").textContent = String(sample.step);
  if ($("r-grid").dataset.url === sample.url) return;
  try {
    const blob = await (await api(sample.url)).blob();
    $("r-grid").src = objectUrl(blob, $("r-grid").src);
    $("r-grid").dataset.url = sample.url;
    $("r-grid").alt = "Sample grid at step " + sample.step;
  } catch (err) { showError(err); }
});

// ---- start --------------------------------------------------------------------------------------------------
async function init() {
  const { models } = await json("/v1/models");
  state.models = models;
  state.limits = (await json("/readyz")).limits;
  for (const id of ["t-model", "s-model", "c-models"]) $(id).replaceChildren();
  for (const select of document.querySelectorAll(".precision")) {
    select.replaceChildren();
    PRECISIONS.forEach((p) => option(select, p, p || "auto"));
  }
  for (const model of models) {
    if (model.kind === "translate") {
      option($("t-model"), model.name, model.name + (model.direction ? " (" + model.direction + ")" : ""));
      checkbox($("c-models"), model.name, model.name, false);
    } else if (model.kind === "conditional") {
      option($("s-model"), model.name, model.name);
    }
  }
  $("t-card").textContent = card($("t-model").value);
  showLabels();
}

dropZone($("t-drop"), $("t-file"));
dropZone($("c-drop"), $("c-file"));
init().catch(showError);
