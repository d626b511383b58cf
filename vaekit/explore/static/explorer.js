// vaekit explore: the page over the JSON API of docs/explore.md. Plain JavaScript, no build step,
// nothing fetched from anywhere but this server.
"use strict";

(function () {
  const PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                   "#bcbd22", "#17becf"];
  const MAP_SIZE = 560;   // CSS pixels of the map's canvas
  const MARGIN = 14;      // pixels kept free around the points
  const HOVER_RADIUS = 8; // pixels within which the pointer picks the nearest point

  const state = {
    run: null, info: null, points: [], screen: [], selected: null, hovered: null, a: null, b: null,
    code: [], cls: null, pointCache: new Map(),
  };
  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------------- the API

  async function api(path, body) {
    const url = new URL(path, window.location.origin);
    if (state.run) url.searchParams.set("run", state.run);
    let options = {};
    if (body instanceof FormData) options = { method: "POST", body };
    else if (body !== undefined) {
      options = { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
    }
    const response = await fetch(url, options);
    let data = null;
    try { data = await response.json(); } catch (e) { data = null; }
    if (!response.ok || data === null) {
      throw new Error((data && data.error) || `${path}: the server answered ${response.status}`);
    }
    return data;
  }

  function showError(e) {
    const p = $("error");
    p.textContent = e && e.message ? e.message : String(e);
    p.hidden = false;
  }

  function clearError() { $("error").hidden = true; }

  // Run `task` now, or once the one in flight is done: while a slider moves, only the latest value is decoded.
  function latest(task) {
    let busy = false, again = false;
    return async function run() {
      if (busy) { again = true; return; }
      busy = true;
      again = false;
      try { await task(); } catch (e) { showError(e); } finally {
        busy = false;
        if (again) run();
      }
    };
  }

  // ------------------------------------------------------------------------- outputs as the data read

  function cellText(v) {
    if (v === null || v === undefined) return "missing";
    if (typeof v === "number" && !Number.isInteger(v)) return String(Number(v.toPrecision(6))); // 40445.4505717 -> 40445.5
    return String(v);
  }

  function rowsTable(rows) {
    const table = document.createElement("table");
    table.className = "rows";
    const columns = rows.length ? Object.keys(rows[0]) : [];
    const head = table.createTHead().insertRow();
    for (const c of columns) { const th = document.createElement("th"); th.textContent = c; head.appendChild(th); }
    const body = table.createTBody();
    for (const row of rows) {
      const tr = body.insertRow();
      for (const c of columns) {
        const td = tr.insertCell();
        td.textContent = cellText(row[c]);
        if (row[c] === null) td.className = "missing";
      }
    }
    return table;
  }

  function asRow(out) {
    if (state.info.kind === "vector") return Object.fromEntries(out.map((v, i) => [`x${i}`, Number(v.toPrecision(4))]));
    return out;
  }

  function one(out, alt) {
    const kind = state.info.kind;
    if (kind === "image") {
      const img = document.createElement("img");
      img.className = "pic";
      img.alt = alt;
      img.src = out;
      return img;
    }
    if (kind === "text") {
      const p = document.createElement("p");
      p.className = "sentence";
      p.textContent = out;
      return p;
    }
    return rowsTable([asRow(out)]);
  }

  function show(container, outputs, alt) {
    container.replaceChildren();
    const kind = state.info.kind;
    if (kind === "table" || kind === "vector") {
      container.appendChild(rowsTable(outputs.map(asRow)));
    } else if (kind === "text" && outputs.length > 1) {
      const ol = document.createElement("ol");
      ol.className = "sentences";
      for (const s of outputs) { const li = document.createElement("li"); li.textContent = s; ol.appendChild(li); }
      container.appendChild(ol);
    } else {
      outputs.forEach((out, i) => container.appendChild(one(out, `${alt} ${i + 1}`)));
    }
  }

  // ------------------------------------------------------------------------- the map

  function colour(label) {
    if (label === null || label === undefined) return PALETTE[0];
    if (label < PALETTE.length) return PALETTE[label];
    return `hsl(${(label * 137.508) % 360}, 65%, 45%)`;
  }

  function layout() {
    const xs = state.points.map((p) => p.x), ys = state.points.map((p) => p.y);
    const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    const span = Math.max(x1 - x0, y1 - y0) || 1; // one scale for both axes: distances keep their meaning
    const scale = (MAP_SIZE - 2 * MARGIN) / span;
    const ox = (MAP_SIZE - (x1 - x0) * scale) / 2, oy = (MAP_SIZE - (y1 - y0) * scale) / 2;
    state.screen = state.points.map((p) => ({ x: ox + (p.x - x0) * scale, y: MAP_SIZE - (oy + (p.y - y0) * scale) }));
  }

  function drawMap() {
    const canvas = $("map");
    const ratio = window.devicePixelRatio || 1;
    canvas.width = MAP_SIZE * ratio;
    canvas.height = MAP_SIZE * ratio;
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, MAP_SIZE, MAP_SIZE);
    ctx.globalAlpha = 0.75;
    state.points.forEach((p, i) => {
      const s = state.screen[i];
      ctx.fillStyle = colour(p.label);
      ctx.beginPath();
      ctx.arc(s.x, s.y, 3, 0, 2 * Math.PI);
      ctx.fill();
    });
    ctx.globalAlpha = 1;
    const mark = (i, text) => {
      if (i === null) return;
      const s = state.screen[i];
      ctx.strokeStyle = "#000";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(s.x, s.y, 6, 0, 2 * Math.PI);
      ctx.stroke();
      if (text) { ctx.fillStyle = "#000"; ctx.font = "bold 13px sans-serif"; ctx.fillText(text, s.x + 8, s.y - 8); }
    };
    mark(state.selected, "");
    mark(state.a, "A");
    mark(state.b, "B");
  }

  function legend() {
    const box = $("legend");
    box.replaceChildren();
    const classes = state.info.classes;
    if (!classes || !state.info.labelled) return;
    classes.forEach((name, k) => {
      const span = document.createElement("span");
      span.style.setProperty("--swatch", colour(k));
      span.textContent = name;
      box.appendChild(span);
    });
  }

  function nearest(x, y) {
    let best = null, bestDistance = HOVER_RADIUS * HOVER_RADIUS;
    state.screen.forEach((s, i) => {
      const d = (s.x - x) ** 2 + (s.y - y) ** 2;
      if (d <= bestDistance) { best = i; bestDistance = d; }
    });
    return best;
  }

  async function pointData(i) {
    if (!state.pointCache.has(i)) state.pointCache.set(i, api(`/api/point/${i}`));
    try { return await state.pointCache.get(i); } catch (e) { state.pointCache.delete(i); throw e; }
  }

  async function showPoint(i) {
    const p = await pointData(i);
    if (i !== (state.hovered ?? state.selected)) return; // the pointer moved on meanwhile
    const names = state.info.classes;
    const label = p.label === null ? "" : `, label ${names ? names[p.label] : p.label}`;
    $("point-title").textContent = `${i}${label}`;
    show($("point-input"), [p.input], "input");
    show($("point-recon"), [p.reconstruction], "reconstruction");
    $("point-panel").dataset.index = String(i);
  }

  function onMove(event) {
    const i = nearest(event.offsetX, event.offsetY);
    const tip = $("tooltip");
    if (i === null) {
      tip.hidden = true;
      if (state.hovered !== null) {
        state.hovered = null;
        if (state.selected !== null) showPoint(state.selected).catch(showError);
      }
      return;
    }
    const p = state.points[i];
    const names = state.info.classes;
    tip.textContent = `#${i}` + (p.label === null ? "" : ` (${names ? names[p.label] : p.label})`);
    tip.style.left = `${state.screen[i].x + 10}px`;
    tip.style.top = `${state.screen[i].y + 10}px`;
    tip.hidden = false;
    if (state.hovered !== i) {
      state.hovered = i;
      showPoint(i).catch(showError);
    }
  }

  async function select(i) {
    state.selected = i;
    ["use-point", "set-a", "set-b"].forEach((id) => { $(id).disabled = false; });
    drawMap();
    await showPoint(i);
    await usePoint();
  }

  async function usePoint() {
    if (state.selected === null) return;
    const p = await pointData(state.selected);
    if (p.label !== null && state.info.conditional) { state.cls = p.label; $("class-select").value = String(p.label); }
    setCode(p.code);
  }

  // ------------------------------------------------------------------------- the sliders

  function fixed(v) { return (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2)); }

  function buildSliders() {
    const box = $("sliders");
    box.replaceChildren();
    state.code = new Array(state.info.latent_dim).fill(0);
    const what = state.info.order_by === "kl" ? "KL" : "var";
    for (const d of state.info.dims) {
      state.code[d.dim] = d.start;
      const name = document.createElement("span");
      name.textContent = `z${d.dim}`;
      const score = document.createElement("span");
      score.className = "score";
      score.textContent = `${what} ${d.score.toFixed(3)}`;
      const input = document.createElement("input");
      input.type = "range";
      input.min = String(d.low);
      input.max = String(d.high);
      input.step = String((d.high - d.low) / 400);
      input.value = String(d.start);
      input.dataset.dim = String(d.dim);
      input.setAttribute("aria-label", `latent dimension ${d.dim}`);
      const value = document.createElement("span");
      value.className = "value";
      value.textContent = fixed(d.start);
      input.addEventListener("input", () => {
        state.code[d.dim] = Number(input.value);
        value.textContent = fixed(state.code[d.dim]);
        decodeSoon();
      });
      box.append(name, score, input, value);
    }
    const note = state.info.order_by === "kl"
      ? "One slider per latent dimension, the largest KL first: the dimensions that carry the most information lead."
      : "This family's posterior is a point mass (no KL per dimension): the dimensions are ordered by the variance of the map's codes.";
    $("order-note").textContent = note;
  }

  function setCode(code) {
    state.code = code.slice();
    for (const input of $("sliders").querySelectorAll("input[type=range]")) {
      const d = Number(input.dataset.dim);
      input.value = String(code[d]);
      input.nextElementSibling.textContent = fixed(code[d]);
    }
    decodeSoon();
  }

  const decodeSoon = latest(async () => {
    const body = { z: state.code.slice() };
    if (state.info.conditional) body.class = state.cls;
    const started = performance.now();
    const data = await api("/api/decode", body);
    const box = $("decoded");
    show(box, data.outputs, "decoded");
    box.dataset.version = String(Number(box.dataset.version) + 1);
    $("decode-time").textContent = `(${Math.round(performance.now() - started)} ms)`;
  });

  // ------------------------------------------------------------------------- interpolation, samples, encoding

  function setEnd(which) {
    if (state.selected === null) return;
    state[which] = state.selected;
    $(`interp-${which}`).textContent = `#${state.selected}`;
    $("interpolate").disabled = state.a === null || state.b === null;
    drawMap();
  }

  async function interpolate() {
    const steps = Number($("steps").value);
    const data = await api("/api/interpolate", { a: state.a, b: state.b, steps });
    show($("interp-out"), data.outputs, "interpolation step");
  }

  const drawSamples = latest(async () => {
    const body = { n: Number($("sample-n").value), temperature: Number($("temperature").value), seed: Number($("seed").value) };
    const cls = $("sample-class").value;
    if (state.info.conditional && cls !== "") body.class = Number(cls);
    const data = await api("/api/sample", body);
    show($("sample-out"), data.outputs, "sample");
  });

  function rowForm() {
    const box = $("row-fields");
    box.replaceChildren();
    for (const c of state.info.columns) {
      const label = document.createElement("label");
      label.textContent = c.name;
      label.htmlFor = `col-${c.name}`;
      let input;
      if (c.values) {
        input = document.createElement("select");
        input.add(new Option("(missing)", ""));
        c.values.forEach((v, i) => input.add(new Option(String(v), String(i))));
      } else {
        input = document.createElement("input");
        input.type = "number";
        input.step = "any";
        input.placeholder = "(missing)";
      }
      input.id = `col-${c.name}`;
      input.dataset.column = c.name;
      box.append(label, input);
    }
  }

  function rowValues() {
    const row = {};
    for (const c of state.info.columns) {
      const input = $(`col-${c.name}`);
      if (input.value === "") continue; // a missing cell
      row[c.name] = c.values ? c.values[Number(input.value)] : Number(input.value);
    }
    return row;
  }

  async function encode(event) {
    event.preventDefault();
    const kind = state.info.kind;
    let body;
    if (kind === "image") {
      const file = $("image-file").files[0];
      if (!file) throw new Error("choose a picture first");
      body = new FormData();
      body.append("image", file);
      body.append("invert", $("invert").checked ? "true" : "false");
      if (state.info.conditional) body.append("class", String(state.cls));
    } else if (kind === "text") {
      body = { sentence: $("sentence").value };
      if (state.info.conditional) body.class = state.cls;
    } else {
      body = { row: rowValues() };
    }
    const data = await api("/api/encode", body);
    show($("encode-input"), [data.input], "your input");
    show($("encode-recon"), [data.reconstruction], "its reconstruction");
    if (data.label !== null && state.info.conditional) { state.cls = data.label; $("class-select").value = String(data.label); }
    setCode(data.code);
  }

  // ------------------------------------------------------------------------- start

  function classChoices() {
    const names = state.info.classes || [];
    const select = $("class-select"), sampled = $("sample-class");
    select.replaceChildren();
    sampled.replaceChildren(new Option("every class", ""));
    names.forEach((name, k) => { select.add(new Option(name, String(k))); sampled.add(new Option(name, String(k))); });
    $("class-choice").hidden = !state.info.conditional;
    $("sample-class-choice").hidden = !state.info.conditional;
    state.cls = state.info.conditional ? 0 : null;
  }

  function encodeForms() {
    const kind = state.info.kind;
    $("encode-image").hidden = kind !== "image";
    $("encode-text").hidden = kind !== "text";
    $("encode-row").hidden = kind !== "table";
    $("encode-none").hidden = kind !== "vector";
    if (kind === "table") rowForm();
  }

  async function load() {
    clearError();
    document.body.dataset.ready = "false";
    state.pointCache = new Map();
    Object.assign(state, { selected: null, hovered: null, a: null, b: null });
    const info = await api("/api/info");
    state.info = info;
    state.run = info.run;
    $("run-name").textContent = info.run;
    document.title = `vaekit explore: ${info.run}`;
    const cond = info.conditional ? ", conditional" : "";
    $("run-facts").textContent = `${info.family}${cond} on ${info.kind} data of shape ${info.data_shape.join(" x ")}; ` +
      `${info.latent_dim} latent numbers; the map shows ${info.points} ${info.split} examples.`;
    const runs = $("run-select");
    runs.replaceChildren(...info.runs.map((r) => new Option(r, r)));
    runs.value = info.run;
    $("run-choice").hidden = info.runs.length < 2;
    const map = await api("/api/map");
    state.points = map.points;
    $("map-axes").textContent = map.axes;
    ["use-point", "set-a", "set-b", "interpolate"].forEach((id) => { $(id).disabled = true; });
    ["interp-a", "interp-b"].forEach((id) => { $(id).textContent = "\u2013"; });
    ["point-input", "point-recon", "interp-out", "sample-out", "encode-input", "encode-recon"].forEach((id) => $(id).replaceChildren());
    $("point-title").textContent = "\u2013";
    layout();
    drawMap();
    legend();
    classChoices();
    buildSliders();
    encodeForms();
    await decodeSoon();
    await drawSamples();
    document.body.dataset.ready = "true";
  }

  function wire() {
    const canvas = $("map");
    canvas.addEventListener("mousemove", onMove);
    canvas.addEventListener("mouseleave", () => onMove({ offsetX: -1e6, offsetY: -1e6 }));
    canvas.addEventListener("click", (event) => {
      const i = nearest(event.offsetX, event.offsetY);
      if (i !== null) select(i).catch(showError);
    });
    $("use-point").addEventListener("click", () => usePoint().catch(showError));
    $("set-a").addEventListener("click", () => setEnd("a"));
    $("set-b").addEventListener("click", () => setEnd("b"));
    $("interpolate").addEventListener("click", () => interpolate().catch(showError));
    $("reset-code").addEventListener("click", () => setCode(state.info.dims.reduce((code, d) => {
      code[d.dim] = d.start;
      return code;
    }, new Array(state.info.latent_dim).fill(0))));
    $("class-select").addEventListener("change", () => { state.cls = Number($("class-select").value); decodeSoon(); });
    $("temperature").addEventListener("input", () => {
      $("temperature-value").textContent = Number($("temperature").value).toFixed(2);
      drawSamples();
    });
    $("draw").addEventListener("click", () => drawSamples());
    $("new-seed").addEventListener("click", () => {
      $("seed").value = String(Math.floor(Math.random() * 1e9));
      drawSamples();
    });
    for (const id of ["encode-image", "encode-text", "encode-row"]) {
      $(id).addEventListener("submit", (event) => encode(event).catch(showError));
    }
    $("run-select").addEventListener("change", () => {
      state.run = $("run-select").value;
      load().catch(showError);
    });
  }

  // What a browser test needs: where point i is drawn, in CSS pixels of the canvas.
  window.vaekitExplorer = {
    pointPosition: (i) => ({ x: state.screen[i].x, y: state.screen[i].y }),
    state,
  };

  document.addEventListener("DOMContentLoaded", () => {
    wire();
    load().catch(showError);
  });
})();
