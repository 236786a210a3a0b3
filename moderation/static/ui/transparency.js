// Admin tab, Transparency panel (EU DSA Art. 15, 24(5)): the report's figures for each of
// the last 12 months, one GET /v1/transparency/report per month, drawn as inline SVG bar
// charts (classes only: the page's CSP allows no style attribute) with a table of the same
// figures; and the statements of reasons of a chosen period, downloaded as NDJSON.

import { api, apiBlob, ApiError, describeError, query } from "./api.js";
import { byId, clear, h, svg } from "./dom.js";
import { plural } from "./format.js";
import { announce } from "./widgets.js";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const COUNT = 12;

let loading = null;

/** ``YYYY-MM-DD`` of a UTC date. */
function isoDate(date) {
  return date.toISOString().slice(0, 10);
}

/** The last ``COUNT`` UTC calendar months, oldest first, this one last. */
export function lastMonths(now = new Date()) {
  const year = now.getUTCFullYear();
  const month = now.getUTCMonth();
  const months = [];
  for (let back = COUNT - 1; back >= 0; back -= 1) {
    const from = new Date(Date.UTC(year, month - back, 1));
    const to = new Date(Date.UTC(year, month - back + 1, 1));
    months.push({
      key: isoDate(from).slice(0, 7),
      label: `${MONTHS[from.getUTCMonth()]} ${from.getUTCFullYear()}`,
      short: MONTHS[from.getUTCMonth()],
      from: isoDate(from),
      to: isoDate(to),
    });
  }
  return months;
}

export function initTransparency() {
  byId("tr-reload").addEventListener("click", () => loadTransparency());
  byId("tr-download").addEventListener("click", download);
  const months = lastMonths();
  const current = months[months.length - 1];
  byId("tr-from").value = current.from;
  byId("tr-to").value = current.to;
}

export function resetTransparency() {
  clear(byId("tr-charts"));
  clear(byId("tr-rows"));
  byId("tr-summary").textContent = "";
}

/** Fetch the 12 monthly reports (one call each) and draw them. */
export function loadTransparency() {
  if (loading) return loading;
  loading = (async () => {
    const months = lastMonths();
    byId("transparency-section").setAttribute("aria-busy", "true");
    try {
      const reports = await Promise.all(
        months.map((m) => api("GET", `/v1/transparency/report${query({ from: m.from, to: m.to })}`)),
      );
      render(months.map((m, i) => ({ ...m, report: reports[i] })));
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) announce(describeError(error), "error");
    } finally {
      byId("transparency-section").removeAttribute("aria-busy");
      loading = null;
    }
  })();
  return loading;
}

function agreement(report) {
  const accuracy = report.automated_accuracy || {};
  const reviewed = accuracy.decided_by_moderators_after_auto || 0;
  return reviewed ? Math.round((100 * (accuracy.agreed || 0)) / reviewed) : null;
}

function hours(value) {
  return typeof value === "number" ? `${value.toFixed(1)} h` : "–";
}

// Each chart: a title, the series stacked in each month's bar (a class each, for colour).
const CHARTS = [
  {
    id: "notices",
    title: "Notices received",
    series: [{ name: "notices", value: (r) => r.notices.total }],
  },
  {
    id: "decisions",
    title: "Restricting decisions, by automation",
    series: [
      { name: "fully automated", value: (r) => r.decisions.automated.fully },
      { name: "partially automated", value: (r) => r.decisions.automated.partially },
      { name: "not automated", value: (r) => r.decisions.automated.not },
    ],
  },
  {
    id: "appeals",
    title: "Appeals: received, upheld, reversed",
    grouped: true,
    series: [
      { name: "received", value: (r) => r.appeals.received },
      { name: "upheld", value: (r) => r.appeals.upheld },
      { name: "reversed", value: (r) => r.appeals.reversed },
    ],
  },
  {
    id: "agreement",
    title: "Moderators agreeing with automatic decisions (%)",
    percent: true,
    series: [{ name: "agreed", value: (r) => agreement(r) ?? 0 }],
  },
];

const WIDTH = 372;
const HEIGHT = 130;
const PAD = { left: 26, top: 10, bottom: 20 };
const SLOT = (WIDTH - PAD.left) / COUNT;

function chart(spec, months) {
  const values = months.map((m) => spec.series.map((s) => s.value(m.report) || 0));
  const total = (row) => (spec.grouped ? Math.max(0, ...row) : row.reduce((a, b) => a + b, 0));
  const max = spec.percent ? 100 : Math.max(1, ...values.map(total));
  const plot = HEIGHT - PAD.top - PAD.bottom;
  const y = (n) => PAD.top + plot - (n / max) * plot;
  const children = [
    svg("line", { class: "tr-axis", x1: PAD.left, x2: WIDTH, y1: y(0), y2: y(0) }),
    svg("text", { class: "tr-tick", x: PAD.left - 4, y: y(max) + 4, text: String(max) }),
    svg("text", { class: "tr-tick", x: PAD.left - 4, y: y(0), text: "0" }),
  ];
  months.forEach((month, i) => {
    const x = PAD.left + i * SLOT;
    let base = 0;
    spec.series.forEach((series, j) => {
      const n = values[i][j];
      if (!n) return;
      const width = spec.grouped ? (SLOT - 6) / spec.series.length : SLOT - 6;
      const left = spec.grouped ? x + 3 + j * width : x + 3;
      const bottom = spec.grouped ? 0 : base;
      children.push(
        svg(
          "rect",
          {
            class: `tr-bar tr-${spec.id}-${j}`,
            x: left,
            y: y(bottom + n),
            width,
            height: y(bottom) - y(bottom + n),
          },
          svg("title", { text: `${month.label}: ${n}${spec.percent ? "%" : ""} ${series.name}` }),
        ),
      );
      if (!spec.grouped) base += n;
    });
    children.push(svg("text", { class: "tr-month", x: x + SLOT / 2, y: HEIGHT - 6, text: month.short }));
  });
  const current = values[values.length - 1];
  const label =
    `${spec.title}, last 12 months. This month: ` +
    spec.series.map((s, j) => `${current[j]}${spec.percent ? "%" : ""} ${s.name}`).join(", ") +
    ".";
  return h(
    "figure",
    { class: "tr-chart", "data-chart": spec.id },
    h("figcaption", { class: "small" }, spec.title),
    svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": label, focusable: "false" }, children),
    spec.series.length > 1
      ? h(
          "p",
          { class: "tr-legend small", "aria-hidden": "true" },
          spec.series.map((s, j) => h("span", { class: `tr-key tr-${spec.id}-${j}` }, s.name)),
        )
      : null,
  );
}

function render(months) {
  const charts = clear(byId("tr-charts"));
  for (const spec of CHARTS) charts.append(chart(spec, months));
  const rows = clear(byId("tr-rows"));
  for (const month of [...months].reverse()) {
    const r = month.report;
    const agreed = agreement(r);
    rows.append(
      h(
        "tr",
        { "data-month": month.key },
        h("th", { scope: "row" }, month.label),
        h("td", { class: "num", "data-figure": "notices" }, String(r.notices.total)),
        h("td", { class: "num", "data-figure": "hours-to-action" }, hours(r.notices.median_hours_to_action)),
        h("td", { class: "num", "data-figure": "decisions" }, String(r.decisions.total)),
        h("td", { class: "num", "data-figure": "illegal" }, String(r.decisions.by_ground.illegal || 0)),
        h("td", { class: "num", "data-figure": "automated" }, String(r.decisions.automated.fully)),
        h("td", { class: "num", "data-figure": "appeals" }, String(r.appeals.received)),
        h("td", { class: "num", "data-figure": "reversed" }, String(r.appeals.reversed)),
        h(
          "td",
          { class: "num", "data-figure": "agreement" },
          agreed === null ? "–" : `${agreed}% of ${r.automated_accuracy.decided_by_moderators_after_auto}`,
        ),
      ),
    );
  }
  const now = months[months.length - 1];
  byId("tr-summary").textContent =
    `This month (${now.label}, UTC): ${plural(now.report.notices.total, "notice")}, ` +
    `${plural(now.report.decisions.total, "restricting decision")}, ${plural(now.report.appeals.received, "appeal")}.`;
}

async function download() {
  const from = byId("tr-from").value;
  const to = byId("tr-to").value;
  if (!from || !to || from >= to) {
    announce("Choose a period: the first day, and a later day it ends before.", "error");
    return;
  }
  const button = byId("tr-download");
  button.disabled = true;
  try {
    const blob = await apiBlob(`/v1/transparency/statements${query({ from, to })}`);
    // A link to the downloaded data, made here (never from the API's data), clicked once.
    const url = URL.createObjectURL(blob);
    const link = document.createElement("a");
    link.href = url;
    link.download = `statements-${from}-${to}.ndjson`;
    link.hidden = true;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
    announce(`Statements of reasons from ${from} to ${to} downloaded.`, "success");
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) announce(describeError(error), "error");
  } finally {
    button.disabled = false;
  }
}
