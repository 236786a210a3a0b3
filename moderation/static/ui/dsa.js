// The EU Digital Services Act in the queue: a reader's notice (what the reporter
// wrote), an author's appeal (what the author wrote, the decision appealed, its
// statement of reasons and its moderator, and the answer: uphold or reverse), and the
// ground of a rejection (the guidelines, or the law the comment breaks).
//
// Moderators read notices and appeals with GET /v1/comments/{id}/notices and
// /appeals: the reporter's explanation, never their name or email.

import { api, ApiError, describeError, path } from "./api.js";
import { append, clear, h } from "./dom.js";
import { dateTime } from "./format.js";
import { actionBadge, announce, definitionList, reasonList } from "./widgets.js";

/** The queue item's reason codes: the queue's, else its decision's. */
export function itemCodes(item) {
  if (item.queue_reasons && item.queue_reasons.length) return item.queue_reasons;
  return ((item.decision && item.decision.reasons) || []).map((r) => r.code);
}

/** ``STATEMENT_CATEGORY_ILLEGAL_OR_HARMFUL_SPEECH`` → "Illegal or harmful speech". */
export function statementCategory(category) {
  if (!category) return "–";
  const words = String(category).replace(/^STATEMENT_CATEGORY_/, "").replaceAll("_", " ").toLowerCase();
  return words.charAt(0).toUpperCase() + words.slice(1);
}

const GROUNDS = {
  DECISION_GROUND_ILLEGAL_CONTENT: "Illegal content",
  DECISION_GROUND_INCOMPATIBLE_CONTENT: "Breaks our guidelines",
};

const AUTOMATED = {
  AUTOMATED_DECISION_FULLY: "fully automated",
  AUTOMATED_DECISION_PARTIALLY: "partly automated (a moderator confirmed it)",
  AUTOMATED_DECISION_NOT_AUTOMATED: "not automated (a moderator decided)",
};

const SOURCES = {
  SOURCE_ARTICLE_16: "a reader's notice",
  SOURCE_VOLUNTARY: "our own moderation",
};

const VISIBILITY = {
  DECISION_VISIBILITY_CONTENT_REMOVED: "removed",
  DECISION_VISIBILITY_CONTENT_DISABLED: "withheld (not shown)",
};

function visibility(code) {
  return VISIBILITY[code] || String(code).replace(/^DECISION_VISIBILITY_/, "").replaceAll("_", " ").toLowerCase();
}

/** A statement of reasons (EU DSA Art. 17), in words. */
export function statementList(statement) {
  if (!statement) return h("p", { class: "muted small" }, "No statement of reasons was recorded for this decision.");
  return definitionList(
    [
      ["Ground", GROUNDS[statement.decision_ground] || statement.decision_ground],
      statement.illegal_content_legal_ground ? ["Law broken", statement.illegal_content_legal_ground] : [null, null],
      statement.incompatible_content_ground ? ["Guideline cited", statement.incompatible_content_ground] : [null, null],
      ["Flagged by automation", statement.automated_detection ? "yes" : "no"],
      ["Decision", AUTOMATED[statement.automated_decision] || statement.automated_decision],
      ["Source", SOURCES[statement.source_type] || statement.source_type],
      statement.category ? ["Category", statementCategory(statement.category)] : [null, null],
      statement.decision_facts ? ["Facts", statement.decision_facts] : [null, null],
      Array.isArray(statement.decision_visibility) && statement.decision_visibility.length
        ? ["Visibility", statement.decision_visibility.map(visibility).join(", ")]
        : [null, null],
      statement.redress && statement.redress.how ? ["Redress", statement.redress.how] : [null, null],
    ],
    "meta statement",
  );
}

// -- the ground of a rejection -------------------------------------------------------------

/** The "Ground" and "Law broken" fields of the Decide panel. */
export function groundFields() {
  const law = h("input", {
    type: "text",
    id: "decision-legal-ground",
    maxlength: 1000,
    autocomplete: "off",
    placeholder: "e.g. Criminal Code, section 185",
    "aria-describedby": "legal-ground-hint",
  });
  const lawField = h(
    "div",
    { class: "field legal-ground-field", hidden: true },
    h("label", { for: "decision-legal-ground" }, "Law broken ", h("span", { class: "muted" }, "(required for illegal content)")),
    law,
    h("p", { id: "legal-ground-hint", class: "hint" }, "The law the comment breaks: it goes into the statement of reasons sent to the author."),
  );
  const ground = h(
    "select",
    { id: "decision-ground" },
    h("option", { value: "guidelines", selected: true }, "Breaks our guidelines"),
    h("option", { value: "illegal" }, "Illegal content"),
  );
  ground.addEventListener("change", () => {
    lawField.hidden = ground.value !== "illegal";
    if (!lawField.hidden) law.focus();
  });
  return [
    h("div", { class: "field" }, h("label", { for: "decision-ground" }, "Ground ", h("span", { class: "muted" }, "(when rejecting)")), ground),
    lawField,
  ];
}

/**
 * What the Decide panel says of the ground, for ``action``: ``{ground, legal_ground}``
 * to send, or ``{error}`` (illegal content without the law). Approvals rest on nothing.
 */
export function readGround(action) {
  const select = document.getElementById("decision-ground");
  const law = document.getElementById("decision-legal-ground");
  if (action !== "reject" || !select || select.value !== "illegal") return {};
  const legal = law ? law.value.trim() : "";
  if (!legal) return { error: "Illegal content: write the law the comment breaks in “Law broken”." };
  return { ground: "illegal", legal_ground: legal };
}

// -- notices and appeals -------------------------------------------------------------------

/** The notice and appeal panels of a queue item (loaded after), or nothing. */
export function dsaPanels(item, { onAppealDecided } = {}) {
  const codes = itemCodes(item);
  const panels = [];
  if (codes.includes("notice")) {
    const box = h(
      "section",
      { class: "panel dsa notice-panel", "aria-labelledby": "notice-heading" },
      h("h3", { id: "notice-heading" }, "Notice of illegal content from a reader"),
      h("p", { class: "muted" }, "Loading what the reader wrote…"),
    );
    loadNotices(item, box);
    panels.push(box);
  }
  if (codes.includes("appeal")) {
    const box = h(
      "section",
      { class: "panel dsa appeal-panel", "aria-labelledby": "appeal-heading" },
      h("h3", { id: "appeal-heading" }, "Appeal by the author"),
      h("p", { class: "muted" }, "Loading the appeal…"),
    );
    loadAppeal(item, box, onAppealDecided);
    panels.push(box);
  }
  return panels;
}

async function loadNotices(item, box) {
  let body;
  try {
    body = await api("GET", path`/v1/comments/${item.id}/notices`);
  } catch (error) {
    if (box.isConnected) append(clear(box), h("h3", {}, "Notice"), h("p", { class: "error-text" }, describeError(error)));
    return;
  }
  const all = body.items || [];
  const open = all.filter((n) => n.status === "received");
  const shown = open.length ? open : all;
  append(
    clear(box),
    h("h3", { id: "notice-heading" }, shown.length === 1 ? "Notice of illegal content from a reader" : `${shown.length} notices of illegal content from readers`),
    shown.length
      ? h(
          "ul",
          { class: "notices" },
          shown.map((notice) =>
            h(
              "li",
              { class: "notice", "data-id": notice.id },
              definitionList([
                ["Category", statementCategory(notice.category)],
                ["The reader wrote", notice.explanation ? h("blockquote", { class: "reporter-text" }, notice.explanation) : h("span", { class: "muted" }, "(erased with the comment)")],
                notice.legal_ground ? ["Law the reader cites", notice.legal_ground] : [null, null],
                ["Received", h("time", { datetime: notice.received_at }, dateTime(notice.received_at))],
                notice.outcome ? ["Outcome", notice.outcome === "action_taken" ? "action taken" : "no action"] : [null, null],
              ]),
            ),
          ),
        )
      : h("p", { class: "muted" }, "No notice is recorded on this comment."),
    h("p", { class: "muted small" }, "Rejecting takes action on the open notices; approving takes none. The reader is not named here."),
  );
}

async function loadAppeal(item, box, onAppealDecided) {
  let appeals;
  let comment;
  try {
    [appeals, comment] = await Promise.all([
      api("GET", path`/v1/comments/${item.id}/appeals`),
      api("GET", path`/v1/comments/${item.id}`),
    ]);
  } catch (error) {
    if (box.isConnected) append(clear(box), h("h3", {}, "Appeal"), h("p", { class: "error-text" }, describeError(error)));
    return;
  }
  const items = appeals.items || [];
  const appeal = items.find((a) => a.status === "open") || items[items.length - 1];
  if (!appeal) {
    append(clear(box), h("h3", { id: "appeal-heading" }, "Appeal by the author"), h("p", { class: "muted" }, "No appeal is recorded on this comment."));
    return;
  }
  const history = comment.history || [];
  const original = history.find((d) => d.id === appeal.decision_id) || comment.decision;
  const reason = h("input", { type: "text", id: "appeal-reason", maxlength: 1000, autocomplete: "off" });
  const feedback = h("p", { id: "appeal-feedback", class: "error-text", hidden: true, "aria-live": "polite" });
  const decide = (outcome) => answer(item, appeal, outcome, reason, feedback, onAppealDecided);
  append(
    clear(box),
    h("h3", { id: "appeal-heading" }, "Appeal by the author"),
    definitionList([
      ["The author wrote", appeal.explanation ? h("blockquote", { class: "author-text" }, appeal.explanation) : h("span", { class: "muted" }, "(erased with the comment)")],
      ["Received", h("time", { datetime: appeal.received_at }, dateTime(appeal.received_at))],
      appeal.status !== "open" ? ["Answered", appeal.outcome === "reversed" ? "reversed" : "upheld"] : [null, null],
    ]),
    h(
      "div",
      { class: "original-decision" },
      h("h4", {}, "The decision appealed"),
      original
        ? [
            h(
              "p",
              { class: "history-head" },
              actionBadge(original.action),
              " ",
              h("span", { class: "original-moderator" }, original.by === "moderator" ? `by ${original.moderator || "a moderator"}` : "automatic"),
              " ",
              h("time", { datetime: original.at }, dateTime(original.at)),
            ),
            reasonList(original.reasons),
            original.message ? h("p", { class: "muted small" }, "The author was told: ", original.message) : null,
            h("h4", {}, "Its statement of reasons"),
            statementList(original.statement),
          ]
        : h("p", { class: "muted" }, "The decision appealed is not in the comment's history."),
    ),
    appeal.status === "open"
      ? h(
          "div",
          { class: "appeal-answer" },
          h("div", { class: "field" }, h("label", { for: "appeal-reason" }, "Answer to the author ", h("span", { class: "muted" }, "(required)")), reason),
          h(
            "div",
            { class: "buttons" },
            h("button", { type: "button", class: "reject", id: "appeal-uphold", on: { click: () => decide("upheld") } }, "Uphold"),
            h("button", { type: "button", class: "approve", id: "appeal-reverse", on: { click: () => decide("reversed") } }, "Reverse (publish)"),
          ),
          feedback,
          h("p", { class: "hint" }, "Uphold keeps the decision; Reverse publishes the comment. A moderator who took the decision appealed may not answer its appeal."),
        )
      : null,
  );
}

function appealError(error) {
  if (error instanceof ApiError) {
    switch (error.code) {
      case "same_moderator":
        return "You took the decision under appeal, so you may not answer its appeal: another moderator has to review it.";
      case "appeal_decided":
        return "This appeal was already answered.";
      case "claimed_by_other":
        return "Another moderator is working on this comment right now; try again later.";
      case "comment_deleted":
        return "The author deleted this comment: it cannot be published again.";
      default:
        break;
    }
  }
  return describeError(error);
}

async function answer(item, appeal, outcome, reasonField, feedback, onAppealDecided) {
  const reason = reasonField.value.trim();
  if (!reason) {
    feedback.hidden = false;
    feedback.textContent = "Write the answer to the author first: it is kept with the appeal.";
    reasonField.focus();
    return;
  }
  feedback.hidden = true;
  feedback.textContent = "";
  try {
    await api("POST", path`/v1/appeals/${appeal.id}/decision`, { outcome, reason });
  } catch (error) {
    const message = appealError(error);
    feedback.hidden = false;
    feedback.textContent = message;
    announce(`${item.id}: ${message}`, "error");
    return;
  }
  announce(
    outcome === "reversed"
      ? `Appeal on ${item.id} reversed: the comment is published.`
      : `Appeal on ${item.id} upheld: the decision stands.`,
    "success",
  );
  if (onAppealDecided) onAppealDecided(item);
}
