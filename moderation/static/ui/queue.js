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
  since,
  statusLabel,
  time,
  truncate,
  waiting,
} from "./format.js";
import { dsaPanels, groundFields, readGround } from "./dsa.js";
import { startLive, stopLive } from "./live.js";
import { thresholdsFromGuidelines, thresholdsFromReasons } from "./thresholds.js";
import {
  announce,
  confirmDialog,
  contextPanel,
  definitionList,
  externalLink,
  priorityChips,
  reasonList,
  scoreBars,
  tagList,
} from "./widgets.js";

const BATCH = 10;
const BULK_LIMIT = 100; // ids per POST /v1/decisions/bulk (domain/review.MAX_BULK)
const POLL_MS = 30000;

const state = {
  ctx: null,
  items: [],
  selected: 0,
  pending: [],
  // id -> when its decision was answered: a claim asked before then may still list it.
  decided: new Map(),
  authors: new Map(),
  claiming: null,
  emptySince: null,
  pollTimer: null,
  undoTicker: null,
  armed: null,
  visible: false,
  renderedId: null,
  // Bulk work: the ids marked in the batch (click with shift/ctrl, x, shift+j/k, g), the
  // entry a shift-click extends from, and each comment's context (article, thread).
  marked: new Set(),
  anchor: null,
  contexts: new Map(),
  sort: "priority",
  // Copies of batch comments waiting elsewhere in the queue (not claimed by another
  // moderator): a group decision takes them along (markedOutside).
  outside: [],
  markedOutside: new Set(),
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
  byId("queue-sort").addEventListener("change", (event) => {
    state.sort = event.target.value === "age" ? "age" : "priority";
    sortItems();
    renderKeepingFocus();
  });
  byId("bulk-approve").addEventListener("click", () => bulk("approve"));
  byId("bulk-reject").addEventListener("click", () => bulk("reject"));
  byId("bulk-clear").addEventListener("click", () => unmarkAll());
  setInterval(refreshTimes, 30000);
}

export function showQueue() {
  state.visible = true;
  startLive(liveHooks); // live updates (live.js): once per sign-in
  render();
  if (!state.items.length) claim();
}

export function hideQueue() {
  state.visible = false;
  clearTimeout(state.pollTimer);
}

/** Forget everything (sign-out); pending actions are sent first by flushPending. */
export function resetQueue() {
  stopLive();
  clearTimeout(state.pollTimer);
  state.items = [];
  state.selected = 0;
  state.authors.clear();
  state.armed = null;
  state.renderedId = null;
  state.emptySince = null;
  state.marked.clear();
  state.anchor = null;
  state.contexts.clear();
  state.outside = [];
  state.markedOutside.clear();
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
      const asked = Date.now();
      const body = await api("POST", "/v1/queue/claim", { limit: BATCH, sort: state.sort });
      // Being decided, or decided while this claim was under way (the server may have
      // listed it before the decision landed): not fresh.
      const waiting = new Set(state.pending.map((p) => p.item.id));
      for (const [id, at] of state.decided) {
        if (at >= asked) waiting.add(id);
        else state.decided.delete(id);
      }
      const known = new Set(state.items.map((item) => item.id));
      const fresh = (body.items || []).filter((item) => !waiting.has(item.id) && !known.has(item.id));
      state.items.push(...fresh);
      sortItems();
      for (const item of fresh) {
        if (item.claim && item.claim.by) state.ctx.keyName = item.claim.by;
      }
      if (fresh.length && state.visible) announce(`Claimed ${plural(fresh.length, "comment")} to review.`);
      if (!state.items.length) state.emptySince = state.emptySince || Date.now();
      else state.emptySince = null;
      updateTotal();
      findCopies();
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

/**
 * Campaigns outgrow a batch: look through the first 200 comments of the queue for copies
 * of the batch's comments (shared duplicate keys) that nobody else holds.
 */
async function findCopies() {
  if (!state.items.some((item) => (item.duplicate_keys || []).length)) return;
  let body;
  try {
    body = await api("GET", `/v1/queue${query({ limit: 200, sort: state.sort })}`);
  } catch {
    return;
  }
  const skip = new Set([...state.items.map((item) => item.id), ...state.pending.map((p) => p.item.id)]);
  const mine = state.ctx.keyName;
  state.outside = (body.items || []).filter(
    (item) => !skip.has(item.id) && !(item.claim && item.claim.by !== mine) && (item.duplicate_keys || []).length,
  );
  renderAlike();
}

/** Copies outside the batch of ``group`` (ids of the batch): a key shared with a member. */
function outsideCopies(group) {
  const keys = new Set();
  for (const item of state.items) if (group.includes(item.id)) for (const key of item.duplicate_keys || []) keys.add(key);
  return state.outside.filter((item) => (item.duplicate_keys || []).some((key) => keys.has(key)));
}

/** The panel on the shown comment's near-identical copies, in the batch and beyond. */
function renderAlike() {
  const box = document.getElementById("alike-box");
  const item = state.items[state.selected];
  if (!box || !item || box.dataset.id !== item.id) return;
  const group = groupsOf(state.items).get(item.id) || [item.id];
  const outside = outsideCopies(group);
  if (group.length < 2 && !outside.length) {
    box.replaceChildren();
    return;
  }
  const total = group.length + outside.length;
  const where = outside.length
    ? `${plural(group.length, "comment")} in your batch and ${outside.length} more waiting in the queue`
    : `${group.length} near-identical comments in your batch`;
  box.replaceChildren(
    h(
      "section",
      { class: "panel alike", "aria-labelledby": "alike-heading" },
      h("h3", { id: "alike-heading" }, `${total} near-identical: ${where}`),
      h("p", { class: "small muted" }, "Copies of one text (a campaign?): select them all and decide them at once; each is decided as if alone."),
      h("button", { type: "button", class: "secondary", id: "select-group", on: { click: () => markGroup() } }, "Select all ", String(total), h("kbd", {}, "g")),
    ),
  );
}

async function updateTotal() {
  const asked = performance.now();
  try {
    const body = await api("GET", `/v1/queue${query({ limit: 1 })}`);
    // A live count that arrived while this answer was on its way is at least as new:
    // the answer may predate a decision this page (or another) has just made.
    if ((state.liveTotalAt ?? -1) < asked) state.total = body.total;
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
  const groups = groupsOf(state.items);
  state.items.forEach((item, index) => {
    const selected = index === state.selected;
    const marked = state.marked.has(item.id);
    const alike = (groups.get(item.id) || []).length;
    const button = h(
      "button",
      {
        type: "button",
        class: ["queue-entry", marked ? "marked" : null],
        "aria-current": selected ? "true" : null,
        "aria-pressed": marked ? "true" : "false",
        "data-id": item.id,
        on: { click: (event) => clickEntry(event, index) },
      },
      h("span", { class: "entry-top" },
        h("span", { class: "entry-mark", "aria-hidden": "true" }, marked ? "✓" : ""),
        h("span", { class: "priority", title: `Priority ${item.priority ?? "–"}` }, priorityChips(item)),
        h("span", { class: "entry-wait", "data-since": waitingSince(item), "data-prefix": "waiting " }, waiting(waitingSince(item))),
      ),
      h("span", { class: "entry-text" }, truncate(item.text ?? "(deleted)", 140)),
      alike > 1 ? h("span", { class: "entry-alike" }, `${alike} near-identical in your batch`) : null,
    );
    list.append(h("li", {}, button));
  });
  renderBulkBar();
}

/** Items in order of their priority, or of how long they wait; the selection stays put. */
function sortItems() {
  const current = state.items[state.selected];
  const waited = (item) => Date.parse(waitingSince(item)) || 0;
  const order =
    state.sort === "age"
      ? (a, b) => waited(a) - waited(b)
      : (a, b) => (b.priority ?? 0) - (a.priority ?? 0) || Date.parse(a.created_at) - Date.parse(b.created_at);
  state.items.sort(order);
  if (current) state.selected = state.items.indexOf(current);
}

/**
 * Near-identical comments of the batch: the ones sharing a duplicate key (the service
 * computes the keys, domain/grouping.py), joined transitively. Map id -> ids of its group.
 */
function groupsOf(items) {
  const parent = new Map(items.map((item) => [item.id, item.id]));
  const root = (id) => {
    while (parent.get(id) !== id) id = parent.get(id);
    return id;
  };
  const owner = new Map();
  for (const item of items) {
    for (const key of item.duplicate_keys || []) {
      if (!owner.has(key)) owner.set(key, item.id);
      const a = root(owner.get(key));
      const b = root(item.id);
      if (a !== b) parent.set(b, a);
    }
  }
  const members = new Map();
  for (const item of items) {
    const r = root(item.id);
    if (!members.has(r)) members.set(r, []);
    members.get(r).push(item.id);
  }
  const result = new Map();
  for (const group of members.values()) for (const id of group) result.set(id, group);
  return result;
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
  if (item.lines) return { lines: item.lines, source: "lines of the guidelines in force" };
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
  const rule = ruleSelect("decision-rule", heldBy ? heldBy.rule : "");
  const hint = h("p", { id: "decision-hint", class: "hint" }, "Shortcuts: a approve · r reject · j/k next/previous · x select · ? all");
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
  rule.addEventListener("keydown", onEnter);
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

  const articleValue = h("span", { id: "item-article" }, h("span", { class: "mono" }, item.article_id), " ", tagList(item.article_tags));
  const contextBox = h("section", { class: "panel context", "aria-labelledby": "context-heading" },
    h("h3", { id: "context-heading" }, "Thread"),
    h("p", { class: "muted" }, "Loading the thread…"),
  );
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
        h("span", { class: "badge priority-badge", title: "The number orders the queue; the words say why" }, `Priority ${item.priority ?? "–"}`),
        priorityChips(item),
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
            ["Article", articleValue],
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
          h("div", { id: "alike-box", "data-id": item.id }),
          contextBox,
          dsaPanels(item, { onAppealDecided: appealDecided }),
          h(
            "section",
            { class: "panel actions", "aria-labelledby": "act-heading" },
            h("h3", { id: "act-heading" }, "Decide"),
            h("div", { class: "field" }, h("label", { for: "decision-rule" }, "Rule it breaks ", h("span", { class: "muted" }, "(the preset reason for a rejection: the author is told the rule; it also teaches the guidelines)")), rule),
            h("div", { class: "field" }, h("label", { for: "decision-reason" }, "Reason in your words ", h("span", { class: "muted" }, "(optional, shown to the author)")), reason),
            groundFields(),
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
  renderAlike();
  loadAuthor(item, authorBox);
  loadContext(item, contextBox, articleValue);
}

/** The rules as preset reasons: "title (section n)"; ``chosen`` preselected. */
function ruleSelect(id, chosen = "") {
  return h(
    "select",
    { id },
    h("option", { value: "" }, "— choose a rule —"),
    ...(state.ctx.rules || []).map((r) =>
      h("option", { value: r.id, selected: chosen === r.id ? true : null }, `${r.title} (section ${r.guideline})`),
    ),
  );
}

async function loadContext(item, box, articleValue) {
  let context = state.contexts.get(item.id);
  if (!context) {
    context = api("GET", path`/v1/comments/${item.id}/context`);
    state.contexts.set(item.id, context);
  }
  let body;
  try {
    body = await context;
  } catch (error) {
    state.contexts.delete(item.id);
    if (box.isConnected) box.replaceChildren(h("h3", {}, "Thread"), h("p", { class: "error-text" }, describeError(error)));
    return;
  }
  if (!box.isConnected) return;
  box.replaceWith(contextPanel(body));
  const article = body.article;
  if (article && (article.title || article.url)) {
    const headline = article.title || article.url;
    articleValue.replaceChildren(
      h("span", { class: "headline" }, article.url ? externalLink(article.url, headline) : headline),
      " ",
      h("span", { class: "mono muted" }, item.article_id),
      " ",
      tagList(article.tags && article.tags.length ? article.tags : item.article_tags),
    );
  }
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
    (counts.pending ?? 0) > 0
      ? h("button", {
          type: "button",
          class: "reject secondary-reject",
          id: "author-sweep",
          on: { click: () => sweepAuthor(item) },
        }, `Reject all ${counts.pending} pending by this author`)
      : null,
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
    element.textContent = (element.dataset.prefix || "") + since(element.dataset.since, now);
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
  state.anchor = null; // a shift+click now extends from here
  disarm();
  renderKeepingFocus();
}

function arm(action) {
  if (!state.items[state.selected]) return;
  state.armed = action;
  const hint = document.getElementById("armed-hint");
  const rule = document.getElementById("decision-rule");
  const chosen = rule && rule.value;
  if (hint) {
    hint.hidden = false;
    hint.textContent = chosen
      ? "Rejecting under the rule shown: add words if you like, then Enter to confirm or Esc to cancel."
      : "Rejecting: choose the rule it breaks (or write a reason), then Enter to confirm or Esc to cancel.";
  }
  // A rule chosen (the one that held it, preset): the words are optional; else the rule first.
  const field = document.getElementById(chosen ? "decision-reason" : "decision-rule");
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
    case "x":
      toggleMark(state.selected);
      return true;
    case "J":
      extendMark(1);
      return true;
    case "K":
      extendMark(-1);
      return true;
    case "g":
      markGroup();
      return true;
    case "A":
      if (state.marked.size) bulk("approve");
      return true;
    case "R":
      if (state.marked.size) bulk("reject");
      return true;
    case "Escape":
      if (!state.marked.size) return false;
      unmarkAll();
      return true;
    default:
      return false;
  }
}

// -- bulk work: marking several comments, deciding them together ---------------------------

function clickEntry(event, index) {
  if (event.shiftKey) {
    const from = state.anchor === null ? state.selected : state.anchor;
    const [low, high] = from <= index ? [from, index] : [index, from];
    for (let i = low; i <= high; i += 1) if (state.items[i]) state.marked.add(state.items[i].id);
    state.selected = index;
    renderKeepingFocus();
    return;
  }
  if (event.ctrlKey || event.metaKey) {
    toggleMark(index);
    return;
  }
  select(index);
}

function toggleMark(index) {
  const item = state.items[index];
  if (!item) return;
  if (state.marked.has(item.id)) state.marked.delete(item.id);
  else state.marked.add(item.id);
  state.anchor = index;
  renderKeepingFocus();
}

/** shift+j / shift+k: mark the current comment and the next (previous) one, moving on. */
function extendMark(step) {
  const item = state.items[state.selected];
  if (!item) return;
  state.marked.add(item.id);
  const next = state.items[state.selected + step];
  if (next) {
    state.selected += step;
    state.marked.add(next.id);
  }
  state.anchor = state.selected;
  disarm();
  renderKeepingFocus();
}

/** g: mark the current comment's near-identical group. */
function markGroup() {
  const item = state.items[state.selected];
  if (!item) return;
  const group = groupsOf(state.items).get(item.id) || [item.id];
  for (const id of group) state.marked.add(id);
  const outside = outsideCopies(group);
  for (const copy of outside) state.markedOutside.add(copy.id);
  renderKeepingFocus();
  const beyond = outside.length ? ` (${outside.length} of them waiting outside your batch)` : "";
  announce(`${plural(group.length + outside.length, "comment")} selected${beyond}: decide them with the bar above the list.`);
}

function unmarkAll() {
  state.marked.clear();
  state.markedOutside.clear();
  state.anchor = null;
  renderKeepingFocus();
}

function renderBulkBar() {
  const bar = byId("bulk-bar");
  // Marks of comments no longer in the batch (decided, taken back) are dropped.
  const present = new Set(state.items.map((item) => item.id));
  for (const id of [...state.marked]) if (!present.has(id)) state.marked.delete(id);
  if (!state.marked.size) state.markedOutside.clear();
  const count = state.marked.size + state.markedOutside.size;
  bar.hidden = count === 0;
  byId("bulk-count").textContent = `${plural(count, "comment")} selected`;
  let select = byId("bulk-rule");
  if (select.options.length !== (state.ctx.rules || []).length + 1) {
    const fresh = ruleSelect("bulk-rule", select.value);
    select.replaceWith(fresh);
    select = fresh;
  }
  // The rule that held every selected comment, when they share one, is the preset reason.
  const held = new Set(
    state.items
      .filter((item) => state.marked.has(item.id))
      .map((item) => ((item.decision && item.decision.reasons) || []).find((r) => r.rule)?.rule || ""),
  );
  if (!select.value && held.size === 1) select.value = [...held][0];
}

/** Approve or reject every marked comment with one request; each is decided as if alone. */
async function bulk(action) {
  const ids = [
    ...state.items.filter((item) => state.marked.has(item.id)).map((item) => item.id),
    ...state.markedOutside,
  ];
  if (!ids.length) return;
  const rule = byId("bulk-rule").value;
  const reason = byId("bulk-reason").value.trim();
  if (action === "reject" && !rule && !reason) {
    announce("Choose the rule they break (or write a reason): the authors are told why.", "error");
    byId("bulk-rule").focus();
    return;
  }
  const verb = action === "approve" ? "Approve" : "Reject";
  if (!(await confirmDialog(`${verb} ${plural(ids.length, "comment")}?`, `${verb} ${ids.length}`))) return;
  const extra = {};
  if (rule) extra.rule = rule;
  if (reason) extra.reason = reason;
  // The service takes 100 ids a request (a group may reach further into the queue).
  await decideMany(async () => {
    const answer = { results: [], decided: 0, failed: 0 };
    for (let start = 0; start < ids.length; start += BULK_LIMIT) {
      const part = await api("POST", "/v1/decisions/bulk", { ids: ids.slice(start, start + BULK_LIMIT), action, ...extra });
      answer.results.push(...part.results);
      answer.decided += part.decided;
      answer.failed += part.failed;
    }
    return answer;
  }, action);
}

/** Reject every pending comment of an author (e.g. when banning them). */
async function sweepAuthor(item) {
  const rule = (document.getElementById("decision-rule") || {}).value || "";
  const reason = ((document.getElementById("decision-reason") || {}).value || "").trim();
  const question = `Reject every pending comment by ${item.author_id}${rule ? "" : " (no rule chosen: the authors are told only that a moderator rejected it)"}?`;
  if (!(await confirmDialog(question, "Reject them all"))) return;
  const body = {};
  if (rule) body.rule = rule;
  if (reason) body.reason = reason;
  await decideMany(() => api("POST", path`/v1/authors/${item.author_id}/reject-pending`, body), "reject");
  state.authors.delete(item.author_id);
}

async function decideMany(request, action) {
  await flushPending();
  let answer;
  try {
    answer = await request();
  } catch (error) {
    announce(describeError(error), "error");
    return;
  }
  const gone = new Set();
  let held = 0;
  for (const result of answer.results || []) {
    if (result.status === 200 || result.status === 404) gone.add(result.id);
    else if (result.status === 409) {
      gone.add(result.id);
      held += 1;
    }
  }
  const current = state.items[state.selected];
  state.items = state.items.filter((item) => !gone.has(item.id));
  for (const id of gone) state.marked.delete(id);
  state.outside = state.outside.filter((item) => !gone.has(item.id));
  for (const id of gone) state.markedOutside.delete(id);
  state.selected = current && state.items.includes(current) ? state.items.indexOf(current) : Math.min(state.selected, Math.max(0, state.items.length - 1));
  state.renderedId = null;
  renderKeepingFocus();
  updateTotal();
  const verb = action === "approve" ? "Approved" : "Rejected";
  const more = typeof answer.remaining === "number" && answer.remaining ? ` ${answer.remaining} still pending.` : "";
  const refused = answer.failed ? ` ${plural(answer.failed, "comment")} not decided${held ? " (another moderator holds them)" : ""}.` : "";
  announce(`${verb} ${plural(answer.decided, "comment")}.${refused}${more}`, answer.failed ? "error" : "success");
  if (!state.items.length) claim();
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
  if (action === "reject" && !rule && !reason && !legalGround) {
    // "Rejected by a moderator" tells the author nothing: a rule, words or the law first.
    arm("reject");
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
      state.decided.set(pending.item.id, Date.now());
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
    undoSpace(null);
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
  undoSpace(bar);
  state.undoTicker = setInterval(tick, 250);
}

function hideUndo() {
  clearInterval(state.undoTicker);
  byId("undo-bar").hidden = true;
  undoSpace(null);
}

/** Toasts stack above the undo bar while it shows (style.css: .messages). */
function undoSpace(bar) {
  const space = bar ? bar.getBoundingClientRect().height + 8 : 0;
  document.documentElement.style.setProperty("--undo-space", `${Math.ceil(space)}px`);
}

/** Send every pending decision now (sign-out, page hidden). */
export async function flushPending({ keepalive = false } = {}) {
  const all = [...state.pending];
  await Promise.allSettled(all.map((p) => send(p, { keepalive })));
}

// -- live updates (live.js, issue 14) --------------------------------------------------------
// live.js reads the service's stream of queue changes and decides what each one means;
// these hooks are all it touches here.
const liveHooks = {
  has: (id) => state.items.some((item) => item.id === id),
  /** Another moderator claimed or decided it, or its author deleted it. */
  remove(id, why) {
    const index = state.items.findIndex((item) => item.id === id);
    if (index === -1) return;
    state.items.splice(index, 1);
    state.marked.delete(id);
    if (index === state.selected) {
      state.renderedId = null;
      state.armed = null;
    }
    const selected = index < state.selected ? state.selected - 1 : state.selected;
    state.selected = Math.min(selected, Math.max(0, state.items.length - 1));
    announce(why);
    if (state.visible) renderKeepingFocus();
    if (!state.items.length) claim();
  },
  /** Its author edited it: the new version (``fresh``, the comment resource) is shown. */
  refresh(id, fresh) {
    const index = state.items.findIndex((item) => item.id === id);
    if (index === -1) return;
    state.items[index] = { ...state.items[index], ...fresh };
    if (index === state.selected) state.renderedId = null;
    if (state.visible) renderKeepingFocus();
  },
  isEmpty: () => !state.items.length,
  claimMore: () => claim({ force: true }),
  setTotal(total) {
    state.total = total;
    state.liveTotalAt = performance.now();
    renderSummary();
  },
};
