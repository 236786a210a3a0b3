// The review queue: claim a batch, work through it with the keyboard, act.
//
// Undo: a moderator's decision is not POSTed at once. The item leaves the
// list immediately (the next one comes up), and the POST waits in a pending
// action for the undo delay (5 s by default); "Undo" cancels the timer and
// puts the item back. Undoing by posting an opposite decision would not work:
// most items were *held* before, and moderators cannot post "hold", so the
// service's history would show a decision that never was. A delayed POST keeps
// the history true. Pending actions are sent at once on sign-out and, with
// keepalive, when the page is hidden or closed.
//
// The delay comes from ?undo=<ms> in the page URL, else <body data-undo-ms>,
// else 5000; 0 sends at once (tests use a short delay).

import { api, ApiError, describeError, path, query } from "./api.js";
import { append, byId, clear, h } from "./dom.js";
import {
  ago,
  dateTime,
  plural,
  shortReason,
  since,
  statusLabel,
  time,
  truncate,
} from "./format.js";
import { dsaPanels, groundFields, itemCodes, readGround } from "./dsa.js";
import { thresholdsFromGuidelines, thresholdsFromReasons } from "./thresholds.js";
import {
  announce,
  definitionList,
  reasonList,
  scoreBars,
  tagList,
} from "./widgets.js";

const BATCH = 10;
const POLL_MS = 30000;

const state = {
  ctx: null,
  items: [],
  selected: 0,
  pending: [],
  authors: new Map(),
  claiming: null,
  emptySince: null,
  pollTimer: null,
  undoTicker: null,
  armed: null,
  visible: false,
  renderedId: null,
};

export function undoDelay() {
  const fromUrl = new URLSearchParams(location.search).get("undo");
  const fromBody = document.body.dataset.undoMs;
  for (const raw of [fromUrl, fromBody]) {
    if (raw !== null && raw !== undefined && /^\d{1,6}$/.test(raw)) return Math.min(Number(raw), 60000);
  }
  return 5000;
}

export function initQueue(ctx) {
  state.ctx = ctx;
  byId("queue-refresh").addEventListener("click", () => claim({ force: true }));
  byId("undo-button").addEventListener("click", () => undo());
  setInterval(refreshTimes, 30000);
}

export function showQueue() {
  state.visible = true;
  render();
  if (!state.items.length) claim();
}

export function hideQueue() {
  state.visible = false;
  clearTimeout(state.pollTimer);
}

/** Forget everything (sign-out); pending actions are sent first by flushPending. */
export function resetQueue() {
  clearTimeout(state.pollTimer);
  state.items = [];
  state.selected = 0;
  state.authors.clear();
  state.armed = null;
  state.renderedId = null;
  state.emptySince = null;
  clear(byId("queue-list"));
  clear(byId("queue-detail"));
  byId("queue-summary").textContent = "";
  hideUndo();
}

// -- claiming ------------------------------------------------------------------------------

async function claim({ force = false } = {}) {
  if (state.claiming) return state.claiming;
  if (state.items.length && !force) return undefined;
  state.claiming = (async () => {
    setBusy(true);
    try {
      const body = await api("POST", "/v1/queue/claim", { limit: BATCH });
      const waiting = new Set(state.pending.map((p) => p.item.id));
      const known = new Set(state.items.map((item) => item.id));
      const fresh = (body.items || []).filter((item) => !waiting.has(item.id) && !known.has(item.id));
      state.items.push(...fresh);
      for (const item of fresh) {
        if (item.claim && item.claim.by) state.ctx.keyName = item.claim.by;
      }
      if (fresh.length && state.visible) announce(`Claimed ${plural(fresh.length, "comment")} to review.`);
      if (!state.items.length) state.emptySince = state.emptySince || Date.now();
      else state.emptySince = null;
      updateTotal();
    } catch (error) {
      if (!(error instanceof ApiError && error.status === 401)) announce(describeError(error), "error");
    } finally {
      setBusy(false);
      state.claiming = null;
      renderKeepingFocus();
      schedulePoll();
    }
  })();
  return state.claiming;
}

function schedulePoll() {
  clearTimeout(state.pollTimer);
  if (state.visible && !state.items.length && !state.pending.length) {
    state.pollTimer = setTimeout(() => claim(), POLL_MS);
  }
}

async function updateTotal() {
  try {
    const body = await api("GET", `/v1/queue${query({ limit: 1 })}`);
    state.total = body.total;
  } catch {
    state.total = undefined;
  }
  renderSummary();
}

function setBusy(busy) {
  byId("queue-view").setAttribute("aria-busy", busy ? "true" : "false");
  byId("queue-refresh").disabled = busy;
}

// -- rendering -----------------------------------------------------------------------------

function renderSummary() {
  const parts = [];
  parts.push(state.items.length ? `${state.items.length} in your batch` : "Your batch is empty");
  if (typeof state.total === "number") parts.push(`${state.total} pending in the queue`);
  if (state.pending.length) parts.push(`${state.pending.length} waiting to be sent`);
  byId("queue-summary").textContent = parts.join(" · ");
}

function render() {
  renderSummary();
  renderList();
  const item = state.items[state.selected];
  if (!item) {
    state.renderedId = null;
    renderEmpty();
    return;
  }
  if (state.renderedId !== item.id) {
    state.renderedId = item.id;
    renderDetail(item);
  }
}

function renderList() {
  const list = clear(byId("queue-list"));
  state.items.forEach((item, index) => {
    const selected = index === state.selected;
    const codes = itemCodes(item);
    const button = h(
      "button",
      {
        type: "button",
        class: "queue-entry",
        "aria-current": selected ? "true" : null,
        "data-id": item.id,
        on: { click: () => select(index) },
      },
      h("span", { class: "entry-top" },
        h("span", { class: "priority", title: "Priority" }, `P${item.priority ?? "–"}`),
        h("span", { class: "entry-reasons" }, [...new Set(codes)].map(shortReason).join(", ") || "held"),
        h("span", { class: "entry-wait", "data-since": waitingSince(item) }, since(waitingSince(item))),
      ),
      h("span", { class: "entry-text" }, truncate(item.text ?? "(deleted)", 140)),
    );
    list.append(h("li", {}, button));
  });
}

function renderEmpty() {
  const detail = clear(byId("queue-detail"));
  if (state.claiming && !state.items.length) {
    detail.append(h("p", { class: "empty" }, "Claiming comments…"));
    return;
  }
  const message = state.pending.length
    ? "Sending your last decisions… the next batch comes right after."
    : "Nothing is waiting for you. The queue is checked again every 30 seconds.";
  detail.append(
    h(
      "div",
      { class: "empty" },
      h("h2", {}, "All caught up"),
      h("p", {}, message),
      h("button", { type: "button", class: "secondary", on: { click: () => claim({ force: true }) } }, "Check now"),
    ),
  );
}

function waitingSince(item) {
  const decision = item.decision;
  if (decision && decision.action === "hold" && decision.at) return decision.at;
  return item.updated_at || item.created_at;
}

function thresholdsFor(item) {
  const decision = item.decision || {};
  if (state.ctx.guidelines) {
    return {
      lines: thresholdsFromGuidelines(state.ctx.guidelines, decision.classifier, item.article_tags || []),
      source: `lines from the current guidelines (v${state.ctx.guidelines.version})`,
    };
  }
  return { lines: thresholdsFromReasons(decision.reasons), source: "lines from the decision's reasons" };
}

function renderDetail(item) {
  const detail = clear(byId("queue-detail"));
  const decision = item.decision || {};
  const { lines, source } = thresholdsFor(item);
  const position = `${state.selected + 1} of ${state.items.length}`;
  const claim = item.claim && item.claim.expires_at ? `yours until ${time(item.claim.expires_at)}` : "not claimed";

  const reason = h("input", {
    type: "text",
    id: "decision-reason",
    maxlength: 1000,
    autocomplete: "off",
    "aria-describedby": "decision-hint",
  });
  const note = h("textarea", { id: "decision-note", rows: 2, maxlength: 5000 });
  // The rule the comment breaks (or was judged against): the decision cites it, and it
  // teaches the guidelines (POST /v1/guidelines/learn). Preset to the rule that held it.
  const heldBy = (decision.reasons || []).find((r) => r.rule);
  const rule = h(
    "select",
    { id: "decision-rule" },
    h("option", { value: "" }, "— none —"),
    ...(state.ctx.rules || []).map((r) =>
      h("option", { value: r.id, selected: heldBy && heldBy.rule === r.id ? true : null }, `${r.title} (section ${r.guideline})`),
    ),
  );
  const hint = h("p", { id: "decision-hint", class: "hint" }, "Shortcuts: a approve · r reject · j/k next/previous · ? all");
  const confirmArmed = () => {
    if (state.armed) {
      act(state.armed);
      return;
    }
    const armedHint = document.getElementById("armed-hint");
    armedHint.hidden = false;
    armedHint.textContent = "Choose Approve or Reject (or press Esc, then a or r).";
  };
  const onEnter = (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      confirmArmed();
    } else if (event.key === "Escape") {
      event.preventDefault();
      disarm();
      byId("queue-detail").focus();
    }
  };
  reason.addEventListener("keydown", onEnter);
  note.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      confirmArmed();
    } else if (event.key === "Escape") {
      event.preventDefault();
      disarm();
      byId("queue-detail").focus();
    }
  });

  const authorBox = h("section", { class: "panel author", "aria-labelledby": "author-heading" },
    h("h3", { id: "author-heading" }, "Author ", h("span", { class: "mono" }, item.author_id)),
    h("p", { class: "muted" }, "Loading the author's record…"),
  );

  detail.append(
    h(
      "article",
      { class: "item", "aria-labelledby": "item-heading", "data-id": item.id },
      h(
        "header",
        { class: "item-head" },
        h("h2", { id: "item-heading" }, "Comment ", h("span", { class: "mono" }, item.id)),
        h("span", { class: "badge priority-badge" }, `Priority ${item.priority ?? "–"}`),
        h("span", { class: "waiting" }, "Waiting ", h("span", { "data-since": waitingSince(item) }, since(waitingSince(item)))),
        h("span", { class: "muted" }, position),
      ),
      h(
        "div",
        { class: "item-grid" },
        h(
          "div",
          { class: "item-main" },
          h("blockquote", { class: "comment-text", "aria-label": "Comment text" }, item.text ?? "(the author deleted this comment)"),
          definitionList([
            ["Article", h("span", {}, h("span", { class: "mono" }, item.article_id), " ", tagList(item.article_tags))],
            ["Author", h("span", {}, h("span", { class: "mono" }, item.author_id), item.author_name ? ` (${item.author_name})` : "")],
            item.parent_id ? ["Reply to", h("span", { class: "mono" }, item.parent_id)] : [null, null],
            ["Posted", h("time", { datetime: item.created_at }, `${dateTime(item.created_at)} (${ago(item.created_at)})`)],
            ["Claim", claim],
          ]),
          h(
            "section",
            { class: "panel why", "aria-labelledby": "why-heading" },
            h("h3", { id: "why-heading" }, "Why it is here"),
            reasonList(decision.reasons),
            decision.message ? h("p", { class: "muted small" }, "The author was told: ", decision.message) : null,
          ),
          dsaPanels(item, { onAppealDecided: appealDecided }),
          h(
            "section",
            { class: "panel actions", "aria-labelledby": "act-heading" },
            h("h3", { id: "act-heading" }, "Decide"),
            h("div", { class: "field" }, h("label", { for: "decision-reason" }, "Reason ", h("span", { class: "muted" }, "(optional, shown to the author)")), reason),
            groundFields(),
            h("div", { class: "field" }, h("label", { for: "decision-rule" }, "Rule ", h("span", { class: "muted" }, "(the rule it breaks, or was judged against: teaches the guidelines)")), rule),
            h("div", { class: "field" }, h("label", { for: "decision-note" }, "Private note ", h("span", { class: "muted" }, "(optional, moderators only)")), note),
            h("p", { id: "armed-hint", class: "armed-hint", hidden: true, "aria-live": "polite" }),
            h(
              "div",
              { class: "buttons" },
              h("button", { type: "button", class: "approve", id: "approve-button", on: { click: () => act("approve") } }, "Approve", h("kbd", {}, "a")),
              h("button", { type: "button", class: "reject", id: "reject-button", on: { click: () => act("reject") } }, "Reject", h("kbd", {}, "r")),
            ),
            hint,
          ),
        ),
        h(
          "div",
          { class: "item-side" },
          h(
            "section",
            { class: "panel scores", "aria-labelledby": "scores-heading" },
            h("h3", { id: "scores-heading" }, "Scores"),
            h("p", { class: "muted small" }, `${decision.classifier || "no classifier"} · ${source}`),
            scoreBars(decision.scores, lines),
            h("p", { class: "legend small", "aria-hidden": "true" },
              h("span", { class: "legend-hold" }, "hold line"), h("span", { class: "legend-reject" }, "reject line")),
          ),
          authorBox,
        ),
      ),
    ),
  );
  loadAuthor(item, authorBox);
}

async function loadAuthor(item, box) {
  let record = state.authors.get(item.author_id);
  if (!record) {
    record = api("GET", path`/v1/authors/${item.author_id}`);
    state.authors.set(item.author_id, record);
  }
  let author;
  try {
    author = await record;
  } catch (error) {
    state.authors.delete(item.author_id);
    if (box.isConnected) box.replaceChildren(h("h3", {}, "Author"), h("p", { class: "error-text" }, describeError(error)));
    return;
  }
  if (!box.isConnected) return;
  const counts = author.counts || {};
  const recent = (author.recent || []).slice(0, 6);
  const standing = h("select", { id: "author-standing" },
    ["active", "premoderated", "banned"].map((value) =>
      h("option", { value, selected: value === author.status }, value === "premoderated" ? "pre-moderated" : value)));
  append(
    clear(box),
    h("h3", { id: "author-heading" }, "Author ", h("span", { class: "mono" }, author.author_id)),
    h(
      "p",
      { class: "author-standing" },
      h("span", { class: ["badge", `standing-${author.status}`] }, author.status === "premoderated" ? "pre-moderated" : author.status),
      " ",
      h("span", {}, `${counts.approved ?? 0} approved · ${counts.pending ?? 0} pending · ${counts.rejected ?? 0} rejected`),
    ),
    author.reason ? h("p", { class: "muted small" }, "Standing reason: ", author.reason) : null,
    recent.length
      ? h(
          "ul",
          { class: "recent", "aria-label": "Recent comments by this author" },
          recent.map((entry) =>
            h(
              "li",
              {},
              h("span", { class: ["dot", `status-${entry.status}`], "aria-hidden": "true" }),
              h("span", { class: "mono" }, entry.id),
              entry.id === item.id ? h("span", { class: "muted" }, " (this one)") : null,
              " ",
              h("span", { class: "muted" }, `${statusLabel(entry.status)}${entry.by === "moderator" ? " by a moderator" : ""} · ${ago(entry.created_at)}`),
            ),
          ),
        )
      : h("p", { class: "muted" }, "No earlier comments."),
    h(
      "div",
      { class: "inline-form" },
      h("label", { for: "author-standing" }, "Standing"),
      standing,
      h("button", {
        type: "button",
        class: "secondary",
        on: { click: () => setStanding(item, standing.value) },
      }, "Set"),
    ),
  );
}

async function setStanding(item, status) {
  try {
    await api("PUT", path`/v1/authors/${item.author_id}`, { status });
    state.authors.delete(item.author_id);
    announce(`Author ${item.author_id} is now ${status === "premoderated" ? "pre-moderated" : status}.`, "success");
    const box = document.querySelector("#queue-detail .author");
    if (box && state.items[state.selected] === item) loadAuthor(item, box);
  } catch (error) {
    announce(describeError(error), "error");
  }
}

function refreshTimes() {
  const now = Date.now();
  for (const element of document.querySelectorAll("#queue-view [data-since]")) {
    element.textContent = since(element.dataset.since, now);
  }
}

// -- selection and keyboard ----------------------------------------------------------------

/**
 * Re-render without losing the keyboard focus: the list and the detail are
 * rebuilt, so focus that was in one of them goes to the selected entry or to
 * the detail pane; focus elsewhere (the page itself, usually) stays put.
 */
function renderKeepingFocus() {
  const active = document.activeElement;
  const inList = byId("queue-list").contains(active);
  const inDetail = byId("queue-detail").contains(active);
  render();
  const entry = document.querySelector(`#queue-list li:nth-child(${state.selected + 1}) button`);
  if (entry) entry.scrollIntoView({ block: "nearest" });
  if (inList && entry) entry.focus({ preventScroll: true });
  else if ((inList || inDetail) && !byId("queue-detail").contains(document.activeElement)) {
    byId("queue-detail").focus({ preventScroll: true });
  }
}

function select(index) {
  if (!state.items.length) return;
  state.selected = Math.max(0, Math.min(index, state.items.length - 1));
  disarm();
  renderKeepingFocus();
}

function arm(action) {
  if (!state.items[state.selected]) return;
  state.armed = action;
  const hint = document.getElementById("armed-hint");
  if (hint) {
    hint.hidden = false;
    hint.textContent = "Rejecting: type an optional reason, then Enter to confirm or Esc to cancel.";
  }
  const field = document.getElementById("decision-reason");
  if (field) field.focus();
}

function disarm() {
  state.armed = null;
  const hint = document.getElementById("armed-hint");
  if (hint) {
    hint.hidden = true;
    hint.textContent = "";
  }
}

/** Keyboard shortcuts of the queue view; returns true when the key was used. */
export function queueKey(key) {
  switch (key) {
    case "j":
      select(state.selected + 1);
      return true;
    case "k":
      select(state.selected - 1);
      return true;
    case "a":
      act("approve");
      return true;
    case "r":
      arm("reject");
      return true;
    case "u":
      undo();
      return true;
    default:
      return false;
  }
}

// -- acting, undo --------------------------------------------------------------------------

function act(action) {
  const item = state.items[state.selected];
  if (!item) {
    announce("There is no comment selected.");
    return;
  }
  const reasonField = document.getElementById("decision-reason");
  const noteField = document.getElementById("decision-note");
  const ruleField = document.getElementById("decision-rule");
  const reason = reasonField ? reasonField.value.trim() : "";
  const note = noteField ? noteField.value.trim() : "";
  const rule = ruleField ? ruleField.value : "";
  const { ground, legal_ground: legalGround, error } = readGround(action);
  if (error) {
    announce(error, "error");
    const law = document.getElementById("decision-legal-ground");
    if (law) law.focus();
    return;
  }
  const index = state.selected;
  state.items.splice(index, 1);
  state.selected = Math.min(index, Math.max(0, state.items.length - 1));
  state.armed = null;
  const pending = { item, index, action, reason, note, rule, ground, legalGround, timer: null, deadline: 0, sending: false };
  const delay = undoDelay();
  pending.deadline = Date.now() + delay;
  pending.timer = setTimeout(() => send(pending), delay);
  state.pending.push(pending);
  state.renderedId = null;
  renderKeepingFocus();
  const verb = action === "approve" ? "Approved" : "Rejected";
  const next = state.items[state.selected];
  announce(`${verb} ${item.id}.${next ? ` Now showing ${next.id}.` : ""}${delay ? " Press u to undo." : ""}`, "success");
  if (delay > 0) showUndo();
  if (!state.items.length) claim();
}

async function send(pending, { keepalive = false } = {}) {
  if (pending.sending || pending.cancelled) return pending.done;
  pending.sending = true;
  clearTimeout(pending.timer);
  showUndo();
  const body = { action: pending.action };
  if (pending.reason) body.reason = pending.reason;
  if (pending.note) body.note = pending.note;
  if (pending.rule) body.rule = pending.rule;
  if (pending.ground) body.ground = pending.ground;
  if (pending.legalGround) body.legal_ground = pending.legalGround;
  // The revision read: if the author edited the comment since, nothing is decided (409).
  if (Number.isInteger(pending.item.revision)) body.revision = pending.item.revision;
  pending.done = (async () => {
    try {
      await api("POST", path`/v1/comments/${pending.item.id}/decision`, body, { keepalive });
      state.authors.delete(pending.item.author_id);
    } catch (error) {
      if (error instanceof ApiError && error.code === "comment_changed") {
        await showChanged(pending);
      } else if (error instanceof ApiError && error.code === "comment_deleted") {
        announce(`${pending.item.id} was not decided: its author deleted it.`, "error");
      } else if (error instanceof ApiError && error.status === 409) {
        announce(`${pending.item.id} was not decided: another moderator holds it now.`, "error");
      } else if (error instanceof ApiError && error.status === 404) {
        announce(`${pending.item.id} no longer exists.`, "error");
      } else if (!(error instanceof ApiError && error.status === 401)) {
        // Put it back so the decision is not lost silently; keep the selection.
        const current = state.items[state.selected];
        state.items.splice(Math.min(pending.index, state.items.length), 0, pending.item);
        state.selected = current ? state.items.indexOf(current) : 0;
        announce(`${pending.item.id} could not be decided (${describeError(error)}); it is back in your list.`, "error");
      }
    } finally {
      state.pending = state.pending.filter((p) => p !== pending);
      showUndo();
      if (state.visible) renderKeepingFocus();
      if (state.visible && !state.items.length && !state.pending.length) claim();
    }
  })();
  return pending.done;
}

/** The comment changed while it was being read: put the new version back, selected. */
async function showChanged(pending) {
  let fresh = null;
  try {
    fresh = await api("GET", path`/v1/comments/${pending.item.id}`);
  } catch {
    fresh = null;
  }
  if (!fresh || fresh.status !== "pending") {
    const now = fresh ? ` It is now ${fresh.status}.` : "";
    announce(`${pending.item.id} was not decided: it changed since you read it.${now}`, "error");
    return;
  }
  const item = { ...pending.item, ...fresh };
  state.items.splice(Math.min(pending.index, state.items.length), 0, item);
  state.selected = state.items.indexOf(item);
  state.renderedId = null;
  announce(`${pending.item.id} was not decided: its author changed it since you read it. Read the new text and decide again.`, "error");
}

/** An appeal on ``item`` was answered: it leaves the batch (the queue has moved on). */
function appealDecided(item) {
  const index = state.items.indexOf(item);
  if (index === -1) return;
  state.items.splice(index, 1);
  state.selected = Math.min(state.selected, Math.max(0, state.items.length - 1));
  state.renderedId = null;
  renderKeepingFocus();
  updateTotal();
  if (!state.items.length) claim();
}

function undo() {
  const pending = [...state.pending].reverse().find((p) => !p.sending);
  if (!pending) {
    announce("Nothing to undo: the last decision was already sent.");
    return;
  }
  clearTimeout(pending.timer);
  pending.cancelled = true;
  state.pending = state.pending.filter((p) => p !== pending);
  const index = Math.min(pending.index, state.items.length);
  state.items.splice(index, 0, pending.item);
  state.selected = index;
  state.renderedId = null;
  renderKeepingFocus();
  showUndo();
  announce(`Undone: ${pending.item.id} is back, nothing was sent.`, "success");
}

function showUndo() {
  const bar = byId("undo-bar");
  const pending = [...state.pending].reverse().find((p) => !p.sending);
  clearInterval(state.undoTicker);
  if (!pending) {
    bar.hidden = true;
    return;
  }
  const verb = pending.action === "approve" ? "Approved" : "Rejected";
  const text = byId("undo-text");
  const tick = () => {
    const left = Math.max(0, Math.ceil((pending.deadline - Date.now()) / 1000));
    text.textContent = `${verb} “${truncate(pending.item.text ?? pending.item.id, 60)}” · sending in ${left} s`;
  };
  tick();
  bar.hidden = false;
  state.undoTicker = setInterval(tick, 250);
}

function hideUndo() {
  clearInterval(state.undoTicker);
  byId("undo-bar").hidden = true;
}

/** Send every pending decision now (sign-out, page hidden). */
export async function flushPending({ keepalive = false } = {}) {
  const all = [...state.pending];
  await Promise.allSettled(all.map((p) => send(p, { keepalive })));
}
