// Recently decided comments (GET /v1/comments), their history, the statement of reasons of
// a restricting decision (EU DSA Art. 17), and overturns.

import { api, ApiError, describeError, path, query } from "./api.js";
import { byId, clear, h } from "./dom.js";
import { statementList } from "./dsa.js";
import { ago, dateTime, truncate } from "./format.js";
import { thresholdsFromGuidelines, thresholdsFromReasons } from "./thresholds.js";
import {
  announce,
  definitionList,
  historyList,
  scoreBars,
  statusBadge,
  tagList,
} from "./widgets.js";

const state = { ctx: null, items: [], selectedId: null, loaded: false, loading: null };

export function initDecided(ctx) {
  state.ctx = ctx;
  byId("decided-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
}

export function showDecided() {
  if (!state.selectedId) placeholder();
  load();
}

/** What the detail panel says while no comment is chosen. */
function placeholder() {
  const empty = state.loaded && !state.items.length;
  clear(byId("decided-detail")).append(
    h("h2", { id: "decided-detail-heading", class: "placeholder-title" }, empty ? "Nothing to show" : "No comment chosen"),
    h(
      "p",
      { class: "muted placeholder" },
      empty
        ? "No decided comment matches these filters: change them and press Show."
        : "Choose a comment in the table (click its row) to read it with its scores, its decision history and, for a rejection or hold, the statement of reasons sent to its author, and to overturn the decision.",
    ),
  );
}

export function resetDecided() {
  state.items = [];
  state.selectedId = null;
  state.loaded = false;
  clear(byId("decided-rows"));
  placeholder();
  byId("decided-count").textContent = "";
  byId("decided-filters").reset();
}

function filters() {
  return {
    limit: byId("f-limit").value,
    status: byId("f-status").value,
    article_id: byId("f-article").value.trim(),
    author_id: byId("f-author").value.trim(),
  };
}

async function load() {
  if (state.loading) return state.loading;
  state.loading = (async () => {
    const table = byId("decided-table");
    table.setAttribute("aria-busy", "true");
    try {
      const body = await api("GET", `/v1/comments${query(filters())}`);
      state.items = body.items || [];
      state.loaded = true;
      renderRows();
      if (state.selectedId && !state.items.some((c) => c.id === state.selectedId)) state.selectedId = null;
      if (!state.selectedId) placeholder();
    } catch (error) {
      if (error instanceof ApiError && error.status === 422) {
        const details = error.details.map((d) => `${d.field}: ${d.problem}`).join("; ");
        announce(`Check the filters. ${details || error.message}`, "error");
      } else if (!(error instanceof ApiError && error.status === 401)) {
        announce(describeError(error), "error");
      }
    } finally {
      table.setAttribute("aria-busy", "false");
      state.loading = null;
    }
  })();
  return state.loading;
}

function renderRows() {
  const rows = clear(byId("decided-rows"));
  byId("decided-count").textContent = `${state.items.length} shown, newest decision first`;
  if (!state.items.length) {
    rows.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, "No comments match these filters.")));
    return;
  }
  for (const comment of state.items) {
    const decision = comment.decision || {};
    const open = h(
      "button",
      { type: "button", class: "link-button mono", on: { click: () => openComment(comment.id) } },
      comment.id,
    );
    const row = h(
      "tr",
      { "data-id": comment.id, "aria-current": comment.id === state.selectedId ? "true" : null },
      h("td", {}, h("time", { datetime: decision.at || comment.updated_at }, ago(decision.at || comment.updated_at))),
      h("td", {}, statusBadge(comment.status)),
      h("td", {}, decision.by === "moderator" ? decision.moderator || "moderator" : "auto"),
      h("td", {}, open),
      h("td", { class: "text-cell" }, truncate(comment.text ?? "(deleted)", 120)),
      h("td", { class: "mono small" }, comment.author_id, h("br"), comment.article_id),
    );
    row.addEventListener("click", (event) => {
      if (event.target !== open) openComment(comment.id);
    });
    rows.append(row);
  }
}

async function openComment(id) {
  state.selectedId = id;
  for (const row of byId("decided-rows").querySelectorAll("tr")) {
    if (row.dataset.id === id) row.setAttribute("aria-current", "true");
    else row.removeAttribute("aria-current");
  }
  const detail = byId("decided-detail");
  clear(detail).append(h("p", { class: "muted" }, "Loading…"));
  let comment;
  try {
    comment = await api("GET", path`/v1/comments/${id}`);
  } catch (error) {
    clear(detail).append(h("p", { class: "error-text" }, describeError(error)));
    return;
  }
  if (state.selectedId !== id) return;
  renderDetail(comment);
  detail.focus({ preventScroll: false });
}

function renderDetail(comment) {
  const detail = clear(byId("decided-detail"));
  const decision = comment.decision || {};
  const automatic = [...(comment.history || [])].reverse().find((d) => d.by === "auto") || decision;
  const lines = state.ctx.guidelines
    ? thresholdsFromGuidelines(state.ctx.guidelines, decision.classifier, comment.article_tags || [])
    : thresholdsFromReasons(automatic.reasons);
  const reason = h("input", { type: "text", id: "overturn-reason", maxlength: 1000, autocomplete: "off" });
  const note = h("textarea", { id: "overturn-note", rows: 2, maxlength: 5000 });
  const buttons = [];
  if (comment.status !== "approved") {
    buttons.push(h("button", { type: "button", class: "approve", on: { click: () => overturn(comment, "approve") } },
      comment.status === "rejected" ? "Overturn: approve" : "Approve"));
  }
  if (comment.status !== "rejected") {
    buttons.push(h("button", { type: "button", class: "reject", on: { click: () => overturn(comment, "reject") } },
      comment.status === "approved" ? "Overturn: reject" : "Reject"));
  }
  detail.append(
    h("h2", { id: "decided-detail-heading" }, "Comment ", h("span", { class: "mono" }, comment.id), " ", statusBadge(comment.status)),
    h("blockquote", { class: "comment-text", "aria-label": "Comment text" }, comment.text ?? "(the author deleted this comment)"),
    definitionList([
      ["Article", h("span", {}, h("span", { class: "mono" }, comment.article_id), " ", tagList(comment.article_tags))],
      ["Author", h("span", {}, h("span", { class: "mono" }, comment.author_id), comment.author_name ? ` (${comment.author_name})` : "")],
      ["Posted", dateTime(comment.created_at)],
      ["Classifier", decision.classifier || "–"],
    ]),
    h("h3", {}, "Scores"),
    scoreBars(decision.scores, lines),
    h("h3", {}, "History"),
    historyList(comment.history),
    statementPanel(comment),
    h(
      "section",
      { class: "panel actions", "aria-labelledby": "overturn-heading" },
      h("h3", { id: "overturn-heading" }, comment.status === "pending" ? "Decide" : "Overturn"),
      h("div", { class: "field" }, h("label", { for: "overturn-reason" }, "Reason ", h("span", { class: "muted" }, "(optional, shown to the author)")), reason),
      h("div", { class: "field" }, h("label", { for: "overturn-note" }, "Private note ", h("span", { class: "muted" }, "(optional)")), note),
      h("div", { class: "buttons" }, buttons),
    ),
  );
}

/** The statement of reasons of a rejection or a hold in force, as its author received it. */
function statementPanel(comment) {
  const decision = comment.decision || {};
  if (!decision.statement && !["reject", "hold"].includes(decision.action)) return null;
  return h(
    "section",
    { class: "statement-panel", "aria-labelledby": "decided-statement-heading" },
    h("h3", { id: "decided-statement-heading" }, "Statement of reasons ", h("span", { class: "muted small" }, "(EU DSA Art. 17)")),
    statementList(decision.statement),
  );
}

async function overturn(comment, action) {
  const body = { action };
  const reason = byId("overturn-reason").value.trim();
  const note = byId("overturn-note").value.trim();
  if (reason) body.reason = reason;
  if (note) body.note = note;
  if (Number.isInteger(comment.revision)) body.revision = comment.revision;
  try {
    const updated = await api("POST", path`/v1/comments/${comment.id}/decision`, body);
    announce(`${comment.id} is now ${updated.status}.`, "success");
    renderDetail(updated);
    const index = state.items.findIndex((c) => c.id === comment.id);
    if (index !== -1) {
      state.items[index] = updated;
      renderRows();
    }
  } catch (error) {
    if (error instanceof ApiError && error.code === "comment_changed") {
      const fresh = await api("GET", path`/v1/comments/${comment.id}`);
      renderDetail(fresh);
      announce(`${comment.id} changed since you opened it; nothing was decided. Read it again.`, "error");
      return;
    }
    announce(describeError(error), "error");
  }
}
