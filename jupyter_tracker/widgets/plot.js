// Our plotly widget (plot.py): a few kilobytes, so anywidget never times out loading it.
// plotly.js is asked from the kernel once per page and shared by every figure; figures that arrive
// before it is ready are queued and drawn in order with Plotly.react.
const KEY = "__jupyterTrackerPlotly";

function loadPlotly(model) {
  const shared = (window[KEY] = window[KEY] || {});
  if (!shared.promise) {
    shared.promise = new Promise((resolve) => { shared.resolve = resolve; });
    shared.asker = model;
    model.send({ type: "need-plotly" });
  }
  return shared.promise;
}

function evaluate(source) {
  const module = { exports: {} };
  new Function("module", "exports", "define", source)(module, module.exports, undefined);
  return module.exports;
}

function themeLayout() {
  const style = getComputedStyle(document.body);
  const light = document.body.dataset.jpThemeLight;
  const bg = style.getPropertyValue("--jp-layout-color0").trim();
  const fg = style.getPropertyValue("--jp-ui-font-color1").trim();
  const dark = light === "false" || (light === undefined && document.body.classList.contains("theme-dark"));
  if (!dark) return { dark: false };
  const grid = style.getPropertyValue("--jp-border-color2").trim() || "#444";
  const axis = { gridcolor: grid, zerolinecolor: grid, linecolor: grid, color: fg || "#ddd" };
  return { dark: true, paper_bgcolor: bg || "#111", plot_bgcolor: bg || "#111", font: { color: fg || "#ddd" }, axis };
}

function themed(figure) {
  const theme = themeLayout();
  const layout = { ...(figure.layout || {}) };
  if (theme.dark) {
    delete layout.template;
    layout.paper_bgcolor = theme.paper_bgcolor;
    layout.plot_bgcolor = theme.plot_bgcolor;
    layout.font = { ...(layout.font || {}), color: theme.font.color };
    for (const name of Object.keys(layout)) {
      if (/^[xy]axis\d*$/.test(name)) layout[name] = { ...theme.axis, ...layout[name] };
    }
    layout.annotations = (layout.annotations || []).map((a) => ({ ...a, font: { ...(a.font || {}), color: theme.font.color } }));
    layout.legend = { ...(layout.legend || {}), font: { ...((layout.legend || {}).font || {}), color: theme.font.color } };
  }
  return { data: figure.data || [], layout };
}

export default {
  initialize({ model }) {
    const shared = (window[KEY] = window[KEY] || {});
    model.on("msg:custom", (msg) => {
      if (msg && msg.type === "plotly" && !shared.Plotly) {
        shared.Plotly = evaluate(msg.source);
        shared.resolve(shared.Plotly);
      }
    });
    loadPlotly(model);
  },
  render({ model, el }) {
    const node = document.createElement("div");
    node.className = "jp-tracker-plot";
    el.appendChild(node);
    const queue = [];
    let Plotly = null;
    let drawing = Promise.resolve();
    let echo = false;
    const flush = () => {
      while (Plotly && queue.length) {
        const figure = queue.shift();
        const { data, layout } = themed(figure);
        drawing = drawing.then(() => {
          echo = true;
          return Plotly.react(node, data, layout, { responsive: true, displaylogo: false });
        }).then(() => {
          echo = false;
          node.dataset.revision = String(figure.__revision || 0);
        }, (error) => { echo = false; console.warn("[jupyter_tracker] plot", error); });
      }
    };
    const enqueue = () => {
      queue.push({ ...model.get("figure"), __revision: model.get("revision") });
      flush();
    };
    model.on("change:revision", enqueue);
    queue.push({ ...model.get("figure"), __revision: model.get("revision") });
    let wired = false;
    loadPlotly(model).then((loaded) => {
      Plotly = loaded;
      flush();
      drawing.then(() => {
        if (wired) return;
        wired = true;
        node.on("plotly_relayout", (data) => { if (!echo) model.send({ type: "relayout", data }); });
        node.on("plotly_restyle", (event) => {
          if (echo) return;
          const [data, traces] = event || [];
          model.send({ type: "restyle", data, traces });
        });
      });
    });
    const observer = new MutationObserver(() => {
      queue.push({ ...model.get("figure"), __revision: model.get("revision") });
      flush();
    });
    observer.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "class"] });
    // plotly.js sizes a figure to its container when it draws (700 px wide where the container is
    // not laid out yet: Voilà renders widgets into a page it shows later) and, with `responsive`,
    // again on window resizes only. Follow the container's own width instead.
    let drawnWidth = 0;
    const resizer = new ResizeObserver(() => {
      const width = node.clientWidth;
      if (!Plotly || !width || width === drawnWidth) return;
      drawnWidth = width;
      drawing = drawing.then(() => {
        if (!node._fullLayout) return;
        echo = true;  // the resize's own relayout event is no zoom to send back
        return Plotly.Plots.resize(node);
      }).then(() => { echo = false; }, (error) => { echo = false; console.warn("[jupyter_tracker] plot", error); });
    });
    resizer.observe(node);
    return () => {
      observer.disconnect();
      resizer.disconnect();
    };
  },
};
