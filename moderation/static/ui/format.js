// Words for codes, numbers and times.

// The contract's categories, in its order: the service says which (GET /v1/me).
let CATEGORIES = [];

export function setCategories(names) {
  CATEGORIES = [...names];
}

export function categories() {
  return [...CATEGORIES];
}

const CATEGORY_LABELS = {
  toxicity: "Toxicity",
  severe_toxicity: "Severe toxicity",
  obscene: "Obscenity",
  threat: "Threat",
  insult: "Insult",
  identity_attack: "Identity attack",
  sexual_explicit: "Sexually explicit",
};

export function categoryLabel(category) {
  return CATEGORY_LABELS[category] || String(category).replaceAll("_", " ");
}

/** Category names in the contract's order, unknown ones last. */
export function sortCategories(names) {
  const rank = (name) => {
    const index = CATEGORIES.indexOf(name);
    return index === -1 ? CATEGORIES.length : index;
  };
  return [...names].sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

export function score(value) {
  return typeof value === "number" && Number.isFinite(value) ? value.toFixed(2) : "–";
}

/** A threshold as the admin wrote it: 0.9 -> "0.90", 0.995 stays "0.995". */
export function threshold(value) {
  if (typeof value !== "number" || !Number.isFinite(value)) return "–";
  const text = String(value);
  if (/^\d+(\.\d{1,2})?$/.test(text)) return value.toFixed(2);
  return text.length <= 12 ? text : value.toPrecision(8);
}

const SHORT_REASONS = {
  threshold: "Score over a line",
  banned_term: "Banned term",
  suspect_term: "Suspect term",
  link: "Link",
  author_banned: "Author banned",
  author_premoderated: "Author on pre-moderation",
  article_premoderated: "Article pre-moderated",
  reader_reports: "Reader reports",
  classifier_unavailable: "No scores",
  moderator: "Moderator",
  notice: "Notice of illegal content",
  appeal: "Appeal by the author",
};

export function shortReason(code) {
  return SHORT_REASONS[code] || String(code).replaceAll("_", " ");
}

function terms(reason) {
  return Array.isArray(reason.terms) && reason.terms.length ? `: ${reason.terms.join(", ")}` : "";
}

/** One reason of a decision, in plain words. */
export function describeReason(reason) {
  const line = reason.action === "reject" ? "reject" : "hold";
  switch (reason.code) {
    case "threshold": {
      const rule = reason.message || reason.rule || "a rule";
      return (
        `${categoryLabel(reason.category)} score ${score(reason.score)} reached the ${line} line ` +
        `${threshold(reason.threshold)} of “${rule}”`
      );
    }
    case "banned_term":
      return `Contains a banned term${terms(reason)}`;
    case "suspect_term":
      return `Contains a word that needs a human look${terms(reason)}`;
    case "link":
      return "Contains a link: check where it leads";
    case "author_banned":
      return "The author is banned";
    case "author_premoderated":
      return "The author is on pre-moderation: every comment is reviewed";
    case "article_premoderated":
      return "The article is pre-moderated: every comment is reviewed";
    case "reader_reports":
      return "Readers reported it";
    case "classifier_unavailable":
      return "The classifier was unavailable, so there are no scores";
    case "moderator":
      return `Moderator: ${reason.message || (reason.action === "reject" ? "rejected" : "approved")}`;
    default:
      return `${shortReason(reason.code)}${reason.message ? `: ${reason.message}` : ""}`;
  }
}

/** The server's own words for a reason, when they add something to ours. */
export function reasonDetail(reason) {
  if (reason.code === "threshold" || reason.code === "moderator") {
    return reason.guideline ? `Guideline ${reason.guideline}` : "";
  }
  const parts = [];
  if (reason.message) parts.push(reason.message);
  if (reason.guideline) parts.push(`guideline ${reason.guideline}`);
  return parts.join(" · ");
}

export const STATUS_LABELS = { approved: "Approved", pending: "Pending", rejected: "Rejected" };
export const ACTION_LABELS = { approve: "Approve", hold: "Hold", reject: "Reject" };

export function statusLabel(status) {
  return STATUS_LABELS[status] || String(status);
}

export function actionLabel(action) {
  return ACTION_LABELS[action] || String(action);
}

/** "just now", "4 min", "2 h 5 min", "3 d 4 h". */
export function duration(ms) {
  const minutes = Math.floor(Math.max(0, ms) / 60000);
  if (minutes < 1) return "under a minute";
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return minutes % 60 ? `${hours} h ${minutes % 60} min` : `${hours} h`;
  const days = Math.floor(hours / 24);
  return hours % 24 ? `${days} d ${hours % 24} h` : `${days} d`;
}

export function since(iso, now = Date.now()) {
  const at = Date.parse(iso);
  return Number.isNaN(at) ? "–" : duration(now - at);
}

export function ago(iso, now = Date.now()) {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return "–";
  return now - at < 60000 ? "just now" : `${duration(now - at)} ago`;
}

export function dateTime(iso) {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return "–";
  return new Date(at).toLocaleString(undefined, {
    year: "numeric",
    month: "short",
    day: "numeric",
    hour: "2-digit",
    minute: "2-digit",
  });
}

export function time(iso) {
  const at = Date.parse(iso);
  if (Number.isNaN(at)) return "–";
  return new Date(at).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

export function truncate(text, length) {
  const value = String(text ?? "");
  return value.length > length ? `${value.slice(0, length - 1)}…` : value;
}

// -- why a comment waits, in words and colour (the queue's priority labels) -----------------
//
// The one mapping from a queued comment's reasons to the words and tones the page shows;
// tones, most urgent first: "urgent" (the law asks for a quick answer), "danger", "warn",
// "info". The number (priority) still orders the queue; these say why.

const TONES = ["urgent", "danger", "warn", "info"];

const CODE_LABELS = {
  notice: ["notice", "urgent"],
  appeal: ["appeal", "urgent"],
  banned_term: ["banned term", "danger"],
  author_banned: ["banned author", "danger"],
  example: ["like a rule's examples", "warn"],
  suspect_term: ["suspect word", "warn"],
  reader_reports: ["reports", "warn"],
  link: ["link", "info"],
  classifier_unavailable: ["no scores", "info"],
  unsupported_language: ["language", "info"],
  author_premoderated: ["pre-moderated author", "info"],
  article_premoderated: ["pre-moderated article", "info"],
};

const CATEGORY_TONES = {
  threat: ["threat", "danger"],
  severe_toxicity: ["severe abuse", "danger"],
  identity_attack: ["attack on a group", "danger"],
  sexual_explicit: ["sexual", "warn"],
  insult: ["insult", "warn"],
  toxicity: ["toxic", "warn"],
  obscene: ["obscene", "info"],
};

/** ``[{code, word, tone}]``: why a queued comment waits, most urgent tone first. */
export function priorityLabels(item) {
  const found = new Map();
  const add = (key, [word, tone]) => {
    if (!found.has(key)) found.set(key, { code: key, word, tone, title: key in CATEGORY_TONES ? categoryLabel(key) : shortReason(key) });
  };
  const reasons = (item.decision && item.decision.reasons) || [];
  for (const reason of reasons) {
    if (reason.code === "threshold" && reason.category) {
      add(reason.category, CATEGORY_TONES[reason.category] || [categoryLabel(reason.category).toLowerCase(), "warn"]);
    } else if (CODE_LABELS[reason.code]) {
      add(reason.code, CODE_LABELS[reason.code]);
    }
  }
  for (const code of item.queue_reasons || []) {
    if (CODE_LABELS[code]) add(code, CODE_LABELS[code]);
  }
  return [...found.values()].sort((a, b) => TONES.indexOf(a.tone) - TONES.indexOf(b.tone));
}

/** "waiting 12 min" */
export function waiting(iso, now = Date.now()) {
  return `waiting ${since(iso, now)}`;
}
