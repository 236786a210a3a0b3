// Pieces shared by the views: the status line, a confirmation dialog,
// badges, reasons, score bars and decision histories.

import { byId, h, svg } from "./dom.js";
import {
  actionLabel,
  ago,
  categoryLabel,
  dateTime,
  describeReason,
  priorityLabels,
  reasonDetail,
  score,
  sortCategories,
  threshold,
  statusLabel,
  truncate,
} from "./format.js";

let statusTimer = null;

/** Say something in a status toast (an aria-live region); errors stay until dismissed. */
export function announce(message, kind = "info") {
  const polite = byId("status");
  const alertBox = byId("alert-box");
  clearTimeout(statusTimer);
  if (kind === "error") {
    polite.textContent = "";
    polite.hidden = true;
    alertBox.hidden = false;
    byId("alert").textContent = message;
    return;
  }
  alertBox.hidden = true;
  byId("alert").textContent = "";
  polite.hidden = false;
  polite.dataset.kind = kind;
  polite.textContent = message;
  statusTimer = setTimeout(() => {
    polite.textContent = "";
    polite.hidden = true;
  }, 6000);
}

export function clearAnnouncements() {
  clearTimeout(statusTimer);
  byId("status").textContent = "";
  byId("status").hidden = true;
  byId("alert").textContent = "";
  byId("alert-box").hidden = true;
}

/** A modal yes/no question; resolves to true when confirmed. */
export function confirmDialog(question, confirmLabel = "Confirm") {
  const dialog = byId("confirm-dialog");
  byId("confirm-text").textContent = question;
  const yes = byId("confirm-yes");
  yes.textContent = confirmLabel;
  return new Promise((resolve) => {
    const done = () => {
      dialog.removeEventListener("close", done);
      resolve(dialog.returnValue === "yes");
    };
    dialog.returnValue = "";
    dialog.addEventListener("close", done);
    dialog.showModal();
    byId("confirm-no").focus();
  });
}

export function statusBadge(status) {
  return h("span", { class: ["badge", `status-${status}`] }, statusLabel(status));
}

export function actionBadge(action) {
  return h("span", { class: ["badge", `action-${action}`] }, actionLabel(action));
}

export function tagList(tags) {
  if (!tags || !tags.length) return h("span", { class: "muted" }, "no tags");
  return h(
    "ul",
    { class: "tags", "aria-label": "Article tags" },
    tags.map((tag) => h("li", { class: "tag" }, tag)),
  );
}

export function reasonList(reasons) {
  if (!reasons || !reasons.length) return h("p", { class: "muted" }, "No reasons recorded.");
  return h(
    "ul",
    { class: "reasons" },
    reasons.map((reason) => {
      const detail = reasonDetail(reason);
      return h(
        "li",
        { class: ["reason", `reason-${reason.action || "hold"}`], "data-code": reason.code },
        h("span", { class: "reason-text" }, describeReason(reason)),
        detail ? h("span", { class: "reason-detail" }, detail) : null,
      );
    }),
  );
}

function marker(value, kind) {
  if (typeof value !== "number") return null;
  const x = Math.min(100, Math.max(0, value * 100));
  return svg("line", {
    class: `mark mark-${kind}`,
    x1: x,
    x2: x,
    y1: 0,
    y2: 12,
    "vector-effect": "non-scaling-stroke",
  });
}

function lineText(entry) {
  const parts = [];
  if (entry && typeof entry.hold === "number") parts.push(`hold ${threshold(entry.hold)}`);
  if (entry && typeof entry.reject === "number") parts.push(`reject ${threshold(entry.reject)}`);
  return parts.length ? parts.join(" · ") : "no line known";
}

/**
 * A bar per score category, with the hold (amber) and reject (red) lines drawn
 * where they are known. ``thresholds``: ``{category: {hold, reject}}``.
 */
export function scoreBars(scores, thresholds = {}) {
  const names = sortCategories(Object.keys(scores || {}));
  if (!names.length) return h("p", { class: "muted" }, "No scores: the classifier did not score this comment.");
  return h(
    "ul",
    { class: "score-bars" },
    names.map((name) => {
      const value = scores[name];
      const entry = thresholds[name];
      let level = "low";
      if (entry && typeof entry.reject === "number" && value >= entry.reject) level = "reject";
      else if (entry && typeof entry.hold === "number" && value >= entry.hold) level = "hold";
      const width = Math.min(100, Math.max(0, value * 100));
      return h(
        "li",
        { class: ["score-row", `level-${level}`], "data-category": name },
        h("span", { class: "score-name" }, categoryLabel(name)),
        svg(
          "svg",
          {
            class: "score-bar",
            viewBox: "0 0 100 12",
            preserveAspectRatio: "none",
            "aria-hidden": "true",
            focusable: "false",
          },
          svg("rect", { class: "track", x: 0, y: 0, width: 100, height: 12 }),
          svg("rect", { class: "fill", x: 0, y: 2, width, height: 8 }),
          marker(entry && entry.hold, "hold"),
          marker(entry && entry.reject, "reject"),
        ),
        h("span", { class: "score-value" }, score(value)),
        h("span", { class: "score-lines" }, lineText(entry)),
      );
    }),
  );
}

/** A comment's decisions, oldest first, with who, why and private notes. */
export function historyList(history) {
  if (!history || !history.length) return h("p", { class: "muted" }, "No decisions recorded.");
  return h(
    "ol",
    { class: "history" },
    history.map((decision) =>
      h(
        "li",
        { class: "history-entry" },
        h(
          "div",
          { class: "history-head" },
          actionBadge(decision.action),
          h(
            "span",
            {},
            decision.by === "moderator" ? `by ${decision.moderator || "a moderator"}` : "automatic",
          ),
          h("time", { datetime: decision.at }, dateTime(decision.at)),
          decision.guidelines_version ? h("span", { class: "muted" }, `guidelines v${decision.guidelines_version}`) : null,
        ),
        reasonList(decision.reasons),
        decision.note ? h("p", { class: "note" }, h("strong", {}, "Private note: "), decision.note) : null,
        decision.message ? h("p", { class: "muted small" }, "Told the author: ", decision.message) : null,
      ),
    ),
  );
}

/** A <dl> from [label, value] pairs (values may be nodes). */
export function definitionList(pairs, className = "meta") {
  const list = h("dl", { class: className });
  for (const [label, value] of pairs) {
    if (value === null || value === undefined) continue;
    list.append(h("dt", {}, label), h("dd", {}, value));
  }
  return list;
}

/** Why a queued comment waits, as coloured words (``format.priorityLabels``). */
export function priorityChips(item) {
  const labels = priorityLabels(item);
  if (!labels.length) return h("span", { class: "prio-chips" }, h("span", { class: "prio prio-info" }, "held"));
  return h(
    "span",
    { class: "prio-chips" },
    labels.map((label) => h("span", { class: ["prio", `prio-${label.tone}`], "data-code": label.code, title: label.title }, label.word)),
  );
}

/**
 * A link to a page of the website (an article): only http(s) URLs become links, opened
 * in a new tab without referrer or opener; anything else is shown as text. The one place
 * an href is built from data: dom.h refuses href on purpose.
 */
export function externalLink(url, text) {
  let parsed = null;
  try {
    parsed = new URL(url);
  } catch {
    parsed = null;
  }
  if (!parsed || (parsed.protocol !== "https:" && parsed.protocol !== "http:")) return h("span", {}, text);
  const link = h("a", { class: "external" }, text);
  link.href = parsed.href;
  link.target = "_blank";
  link.rel = "noopener noreferrer";
  return link;
}

/** A comment near the one being judged: status, author, text (a deleted one's is gone). */
function threadEntry(entry, relation) {
  return h(
    "li",
    { class: ["thread-entry", relation ? `thread-${relation}` : null], "data-id": entry.id },
    h("span", { class: ["dot", `status-${entry.status}`], "aria-hidden": "true" }),
    h("span", { class: "thread-meta" },
      h("span", { class: "mono" }, entry.author_name || entry.author_id),
      " · ",
      h("span", { class: "thread-status" }, statusLabel(entry.status)),
      " · ",
      ago(entry.created_at)),
    h("span", { class: "thread-text" }, entry.deleted ? "(deleted by its author)" : truncate(entry.text ?? "", 280)),
  );
}

/** The context of a comment (GET /v1/comments/{id}/context): the comment it answers and its thread. */
export function contextPanel(context) {
  const siblings = context.thread.filter((t) => t.relation === "sibling");
  const replies = context.thread.filter((t) => t.relation === "reply");
  return h(
    "section",
    { class: "panel context", "aria-labelledby": "context-heading" },
    h("h3", { id: "context-heading" }, "Thread"),
    context.parent
      ? h("div", { class: "parent" },
          h("p", { class: "small muted" }, "In reply to:"),
          h("ul", { class: "thread parent-entry" }, threadEntry(context.parent, "parent")))
      : h("p", { class: "small muted" }, "A top-level comment on the article."),
    siblings.length
      ? h("div", {},
          h("p", { class: "small muted" }, context.parent ? "Other replies to it:" : "Nearby comments on the article:"),
          h("ul", { class: "thread siblings" }, siblings.map((t) => threadEntry(t, "sibling"))))
      : null,
    replies.length
      ? h("div", {},
          h("p", { class: "small muted" }, "Replies to this comment:"),
          h("ul", { class: "thread replies" }, replies.map((t) => threadEntry(t, "reply"))))
      : null,
  );
}
