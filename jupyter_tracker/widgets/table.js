// Run table front end (anywidget ESM). Python holds every run and sends one page; this file draws
// the page and reports clicks (sort, filter, paging, columns, selection) back through the model.

const GROUPS = ["run", "params", "metrics", "tags"];

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

// A param's decimal text with more digits than anyone reads ("0.30000000000000004" from 0.1 * 3);
// static.py's format_value has the same rule for the saved-notebook table.
const LONG_DECIMAL = /^[+-]?\d*\.\d{10,}([eE][+-]?\d+)?$/;

function formatCell(value, numeric) {
  if (value === null || value === undefined) return "";
  if (numeric && typeof value === "number") {
    if (Number.isInteger(value) && Math.abs(value) < 1e9) return String(value);
    return Number(value).toPrecision(4).replace(/\.?0+(e|$)/, "$1");
  }
  if (typeof value === "string" && LONG_DECIMAL.test(value)) return String(Number(Number(value).toPrecision(12)));
  return String(value);
}

function formatDuration(seconds) {
  if (seconds === null || seconds === undefined) return "";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 120) return `${seconds.toFixed(1)} s`;
  if (seconds < 7200) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${(seconds / 3600).toFixed(1)} h`;
}

function render({ model, el: root }) {
  root.classList.add("jt-table");
  const filterBox = el("input", { class: "jt-filter", type: "text", spellcheck: "false",
    placeholder: "filter, e.g. metrics.acc > 0.8 and params.lr = '0.01'  (Enter)" });
  const filterError = el("div", { class: "jt-filter-error" });
  const summary = el("span", { class: "jt-summary" });
  const prev = el("button", { class: "jt-prev", title: "previous page" }, "‹");
  const next = el("button", { class: "jt-next", title: "next page" }, "›");
  const chooserButton = el("button", { class: "jt-columns-button" }, "Columns ▾");
  const chooser = el("div", { class: "jt-chooser", hidden: "" });
  const table = el("table", { class: "jt-grid" });
  const scroller = el("div", { class: "jt-scroll" }, table);
  root.append(el("div", { class: "jt-toolbar" }, filterBox, chooserButton, prev, summary, next), filterError,
    chooser, scroller);

  filterBox.value = model.get("filter") || "";
  filterBox.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      model.set("filter", filterBox.value);
      model.set("offset", 0);
      model.save_changes();
    }
  });
  chooserButton.addEventListener("click", () => {
    chooser.hidden = !chooser.hidden;
  });
  prev.addEventListener("click", () => {
    model.set("offset", Math.max(0, model.get("offset") - model.get("limit")));
    model.save_changes();
  });
  next.addEventListener("click", () => {
    const offset = model.get("offset") + model.get("limit");
    if (offset < model.get("total")) {
      model.set("offset", offset);
      model.save_changes();
    }
  });

  function setSelected(runId, on) {
    const selected = new Set(model.get("selected"));
    if (on) selected.add(runId);
    else selected.delete(runId);
    model.set("selected", Array.from(selected));
    model.save_changes();
  }

  function drawChooser() {
    chooser.replaceChildren();
    const hidden = new Set(model.get("hidden"));
    for (const group of GROUPS) {
      const columns = model.get("all_columns").filter((c) => c.group === group && c.key !== "run_name");
      if (!columns.length) continue;
      const box = el("fieldset", { class: "jt-chooser-group" }, el("legend", {}, group));
      for (const column of columns) {
        const check = el("input", { type: "checkbox", "data-key": column.key });
        check.checked = !hidden.has(column.key);
        check.addEventListener("change", () => {
          const now = new Set(model.get("hidden"));
          if (check.checked) now.delete(column.key);
          else now.add(column.key);
          model.set("hidden", Array.from(now));
          model.save_changes();
        });
        box.append(el("label", {}, check, " " + column.label));
      }
      chooser.append(box);
    }
  }

  function draw() {
    const columns = model.get("columns");
    const rows = model.get("rows");
    const collapsed = new Set(model.get("collapsed"));
    const selected = new Set(model.get("selected"));
    const sortBy = model.get("sort_by");
    const descending = model.get("descending");
    filterError.textContent = model.get("filter_error") || "";
    filterError.hidden = !model.get("filter_error");
    const total = model.get("total");
    const offset = model.get("offset");
    const running = model.get("running");
    summary.textContent = total
      ? `${(offset + 1).toLocaleString()}–${Math.min(offset + rows.length, total).toLocaleString()} of ${total.toLocaleString()} runs` +
        (running ? ` · ${running} running` : "") +
        (selected.size ? ` · ${selected.size} selected` : "")
      : "no runs";
    prev.disabled = offset === 0;
    next.disabled = offset + rows.length >= total;

    const groupRow = el("tr", { class: "jt-group-row" }, el("th", {}));
    for (const group of GROUPS) {
      const count = columns.filter((c) => c.group === group).length;
      if (!count) continue;
      if (group === "run") {
        // The label sits over the name column alone, frozen with it; the other run columns get an
        // unlabelled cell that scrolls with them.
        groupRow.append(el("th", { class: "jt-group jt-group-run", "data-group": "run" }, "run"));
        if (count > 1) groupRow.append(el("th", { colspan: String(count - 1), class: "jt-group jt-group-run-rest" }));
        continue;
      }
      const isCollapsed = collapsed.has(group);
      const span = isCollapsed ? 1 : count;
      const label = `${isCollapsed ? "▸" : "▾"} ${group} (${count})`;
      const th = el("th", { colspan: String(span), class: `jt-group jt-group-${group}`, "data-group": group },
        label);
      th.addEventListener("click", () => {
        const now = new Set(model.get("collapsed"));
        if (now.has(group)) now.delete(group);
        else now.add(group);
        model.set("collapsed", Array.from(now));
        model.save_changes();
      });
      groupRow.append(th);
    }
    const headRow = el("tr", { class: "jt-head-row" });
    const allBox = el("input", { type: "checkbox", class: "jt-select-all", title: "select this page" });
    allBox.checked = rows.length > 0 && rows.every((r) => selected.has(r.run_id));
    allBox.addEventListener("change", () => {
      const now = new Set(model.get("selected"));
      for (const row of rows) {
        if (allBox.checked) now.add(row.run_id);
        else now.delete(row.run_id);
      }
      model.set("selected", Array.from(now));
      model.save_changes();
    });
    headRow.append(el("th", {}, allBox));
    for (const group of GROUPS) {
      const groupColumns = columns.filter((c) => c.group === group);
      if (group !== "run" && collapsed.has(group)) {
        if (groupColumns.length) headRow.append(el("th", { class: "jt-collapsed" }, "…"));
        continue;
      }
      for (const column of groupColumns) {
        const arrow = sortBy === column.key ? (descending ? " ▼" : " ▲") : "";
        const th = el("th", { class: "jt-sortable", "data-key": column.key, title: `sort by ${column.key}` },
          column.label + arrow);
        th.addEventListener("click", () => {
          if (model.get("sort_by") === column.key) model.set("descending", !model.get("descending"));
          else {
            model.set("sort_by", column.key);
            model.set("descending", column.numeric || column.key === "start_time");
          }
          model.set("offset", 0);
          model.save_changes();
        });
        headRow.append(th);
      }
    }
    const body = el("tbody");
    for (const row of rows) {
      const check = el("input", { type: "checkbox", class: "jt-select", "data-run-id": row.run_id });
      check.checked = selected.has(row.run_id);
      check.addEventListener("change", () => setSelected(row.run_id, check.checked));
      const tr = el("tr", { class: "jt-row" + (selected.has(row.run_id) ? " jt-selected" : ""),
        "data-run-id": row.run_id }, el("td", {}, check));
      for (const group of GROUPS) {
        const groupColumns = columns.filter((c) => c.group === group);
        if (group !== "run" && collapsed.has(group)) {
          if (groupColumns.length) tr.append(el("td", { class: "jt-collapsed" }));
          continue;
        }
        for (const column of groupColumns) {
          const value = row[column.key];
          let cell;
          if (column.key === "status") {
            cell = el("td", {}, el("span", { class: `jt-status jt-status-${String(value).toLowerCase()}` }, value));
          } else if (column.key === "tags.jt.reproducibility") {
            cell = el("td", {}, value ? el("span", { class: `jt-verdict jt-verdict-${value}`, title: row["tags.jt.reproducibility.reasons"] || "" },
              value === "linear" ? "linear" : "⚠ hidden state") : "");
          } else if (column.key === "run_name") {
            const indent = "\u00a0\u00a0\u00a0".repeat(row.depth) + (row.depth ? "↳ " : "");
            // Long names are cut with an ellipsis (the column stays in view while the table scrolls
            // sideways); the tooltip has the whole name and the run id. The swatch is the run's session
            // colour, the same as its curves and comparison column.
            const swatch = el("span", { class: "jt-swatch", style: `background:${row.color || "transparent"}` });
            cell = el("td", { class: "jt-name", title: value ? `${value}\n${row.run_id}` : row.run_id },
              indent, swatch, ...syncBadge(row.sync), value || row.run_id.slice(0, 8));
          } else if (column.key === "duration_s") {
            cell = el("td", { class: "jt-num" }, formatDuration(value));
          } else {
            const shown = formatCell(value, column.numeric);
            const exact = value === null || value === undefined ? "" : String(value);
            cell = el("td", { class: column.numeric ? "jt-num" : "" }, shown);
            if (exact !== shown) cell.title = exact;  // the stored value, exact
          }
          tr.append(cell);
        }
      }
      body.append(tr);
    }
    table.replaceChildren(el("thead", {}, groupRow, headRow), body);
    frozenOffset.observe(headRow.firstChild);
  }

  // The name column is frozen just right of the checkbox column, whose width it needs to know.
  const frozenOffset = new ResizeObserver((entries) => {
    for (const entry of entries) {
      root.style.setProperty("--jt-check-width", `${entry.target.getBoundingClientRect().width}px`);
    }
  });

  for (const name of ["rows", "columns", "total", "running", "selected", "collapsed", "filter_error",
    "offset", "sort_by", "descending"]) {
    model.on(`change:${name}`, draw);
  }
  model.on("change:all_columns", drawChooser);
  model.on("change:hidden", drawChooser);
  drawChooser();
  draw();
}

export default { render };

// Team sync's badge before a mirrored run's name: "✓" synced, "pending N" points, "failed" with the
// reason in its tooltip; nothing for a run no mirror has seen.
function syncBadge(sync) {
  if (!sync) return [];
  const text = sync.state === "synced" ? "✓ synced" : sync.state === "pending"
    ? (sync.pending_points ? `pending ${sync.pending_points}` : "pending") : "failed";
  const title = sync.state === "failed" ? `sync to ${sync.remote} failed: ${sync.error || "unknown error"}`
    : sync.state === "pending" ? (sync.pending_points ? `${sync.pending_points} points not yet on ${sync.remote}`
      : `its end or edits not yet on ${sync.remote}`) : `synced to ${sync.remote}`;
  const badge = el("span", { class: `jt-sync jt-sync-${sync.state}`, title }, text);
  return [badge];
}
