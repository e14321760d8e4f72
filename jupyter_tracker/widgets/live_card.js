// Live run card of a %%track cell (anywidget ESM): name, status, elapsed time, latest value and a
// sparkline per metric. Elapsed time ticks here, in the browser; values arrive from the kernel.

function sparkline(points, width = 110, height = 22) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("class", "jt-spark");
  const values = points.filter((v) => typeof v === "number" && Number.isFinite(v));
  if (values.length === 1) {  // one point: a dot, not an empty box
    const dot = document.createElementNS(ns, "circle");
    dot.setAttribute("cx", width / 2);
    dot.setAttribute("cy", height / 2);
    dot.setAttribute("r", "2.5");
    dot.setAttribute("fill", "var(--jp-brand-color1, #1976d2)");
    svg.append(dot);
    return svg;
  }
  if (values.length < 2) return svg;
  const low = Math.min(...values);
  const high = Math.max(...values);
  const span = high - low || 1;
  const coords = values.map((v, i) =>
    `${(1 + (width - 2) * i / (values.length - 1)).toFixed(1)},${(height - 2 - (height - 4) * (v - low) / span).toFixed(1)}`);
  const line = document.createElementNS(ns, "polyline");
  line.setAttribute("points", coords.join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "var(--jp-brand-color1, #1976d2)");
  line.setAttribute("stroke-width", "1.5");
  svg.append(line);
  return svg;
}

function formatValue(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "string") return value;
  if (Number.isInteger(value)) return String(value);
  return Number(value).toPrecision(4).replace(/\.?0+(e|$)/, "$1");
}

// The same format as clock.format_duration (the summary line under the cell).
function formatElapsed(ms) {
  const seconds = Math.max(0, ms / 1000);
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${Math.floor(seconds % 60)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

function render({ model, el }) {
  el.classList.add("jt-card");
  const name = document.createElement("span");
  name.className = "jt-card-name";
  const status = document.createElement("span");
  const elapsed = document.createElement("span");
  elapsed.className = "jt-card-elapsed";
  const header = document.createElement("div");
  header.className = "jt-card-header";
  const swatch = document.createElement("span");
  swatch.className = "jt-swatch";
  header.append(swatch, name, status, elapsed);
  const metrics = document.createElement("div");
  metrics.className = "jt-card-metrics";
  const error = document.createElement("div");
  error.className = "jt-card-error";
  el.append(header, metrics, error);

  function tick() {
    const ended = model.get("ended");
    elapsed.textContent = formatElapsed((ended || Date.now()) - model.get("started"));
  }

  function draw() {
    swatch.style.background = model.get("color");  // the run's colour in every panel
    name.textContent = model.get("run_name");
    name.title = model.get("run_id");
    const value = model.get("status");
    status.textContent = value;
    status.className = `jt-card-status jt-card-status-${value.toLowerCase()}`;
    metrics.replaceChildren();
    const entries = Object.entries(model.get("metrics"));
    for (const [key, item] of entries) {
      const row = document.createElement("div");
      row.className = "jt-card-metric";
      row.dataset.key = key;
      const label = document.createElement("span");
      label.className = "jt-card-key";
      label.textContent = key;
      const latest = document.createElement("span");
      latest.className = "jt-card-value";
      latest.textContent = formatValue(item.value);
      const step = document.createElement("span");
      step.className = "jt-card-step";
      step.textContent = `step ${item.step}`;
      row.append(label, latest, sparkline(item.spark), step);
      metrics.append(row);
    }
    if (!entries.length) {
      const empty = document.createElement("span");
      empty.className = "jt-card-empty";
      empty.textContent = model.get("status") === "RUNNING" ? "no metrics logged yet" : "no metrics logged";
      metrics.append(empty);
    }
    const more = model.get("more");
    if (more) {
      const note = document.createElement("div");
      note.className = "jt-card-more";
      note.textContent = `+ ${more} more metrics`;
      metrics.append(note);
    }
    error.textContent = model.get("error");
    error.hidden = !model.get("error");
    tick();
  }

  const timer = setInterval(() => {
    tick();
    if (model.get("ended")) clearInterval(timer);
  }, 250);
  for (const name of ["metrics", "status", "error", "ended", "run_name", "more"]) {
    model.on(`change:${name}`, draw);
  }
  draw();
  return () => clearInterval(timer);
}

export default { render };
