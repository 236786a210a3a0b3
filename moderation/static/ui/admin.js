// Admin tab: guidelines editor with a backtest preview before saving, the identity-term
// audit, a score histogram with the lines drawn, versions and restore, keys (create, shown
// once; revoke) and webhooks (create, secret shown once; delete; backlog and last errors).

import { api, ApiError, describeError, path, query } from "./api.js";
import { byId, clear, h } from "./dom.js";
import {
  actionLabel,
  ago,
  categoryLabel,
  dateTime,
  describeReason,
  plural,
  sortCategories,
  threshold,
  truncate,
} from "./format.js";
import { thresholdsFromGuidelines } from "./thresholds.js";
import { initTransparency, loadTransparency, resetTransparency } from "./transparency.js";
import { announce, confirmDialog } from "./widgets.js";

const READ_ONLY = ["version", "created_by", "created_at", "note", "changes"];
const ACTIONS = ["approve", "hold", "reject"];
const STATUS_COLOURS = { approved: "#2f7d4f", pending: "#5b6fd6", rejected: "#8a2d3b" };
const LINE_COLOURS = { hold: "#b45309", reject: "#c81e1e" };
const GROUP_LABELS = {
  nationality: "Nationality",
  religion: "Religion",
  ethnicity: "Ethnicity",
  gender: "Gender",
  sexual_orientation: "Sexual orientation",
  age: "Age",
};

const state = {
  ctx: null,
  current: null, // the guidelines in force, as GET returned them
  draft: null, // the edited document
  jsonError: null,
  fieldErrors: new Map(), // field -> what is wrong with the value typed there
  previewed: null, // JSON of the draft the last backtest ran on
  comments: null, // for the histogram
  audited: null, // JSON of the draft the last identity audit ran on; "" for the guidelines in force
  proposal: null, // the guidelines learning proposed, until loaded into the editor
  me: null, // GET /v1/me: which key is signed in (to say so before it is revoked)
  loaded: false,
};

export function initAdmin(ctx) {
  state.ctx = ctx;
  byId("gl-preview").addEventListener("click", preview);
  byId("gl-save").addEventListener("click", save);
  byId("gl-reset").addEventListener("click", () => {
    if (state.current) startDraft(state.current);
    announce("Edits discarded.");
  });
  byId("gl-json").addEventListener("input", onJsonInput);
  byId("learn-run").addEventListener("click", learn);
  byId("learn-load").addEventListener("click", loadProposal);
  byId("ia-run").addEventListener("click", () => runIdentityAudit(false));
  byId("ia-draft").addEventListener("click", () => runIdentityAudit(true));
  byId("hist-category").addEventListener("change", drawHistogram);
  byId("hist-reload").addEventListener("click", loadComments);
  byId("admin-reload").addEventListener("click", () => loadAll());
  byId("key-form").addEventListener("submit", createKey);
  byId("webhook-form").addEventListener("submit", createWebhook);
  for (const id of ["gl-hold-links", "gl-report-threshold", "gl-claim-seconds"]) {
    byId(id).addEventListener("input", onGeneralInput);
  }
  initTransparency();
  window.addEventListener("resize", () => {
    if (state.comments && !byId("admin-view").hidden) drawHistogram();
  });
}

export function showAdmin() {
  if (!state.loaded) loadAll();
  else drawHistogram();
}

export function resetAdmin() {
  state.current = null;
  state.draft = null;
  state.comments = null;
  state.previewed = null;
  state.audited = null;
  state.me = null;
  state.loaded = false;
  for (const id of ["rules-rows", "overrides-rows", "versions-rows", "keys-rows", "webhooks-rows", "backtest-result", "gl-errors", "ia-result"]) {
    clear(byId(id));
  }
  byId("gl-json").value = "";
  // A new key's or webhook's secret never outlives the session that made it.
  hideSecret("key-created");
  hideSecret("webhook-created");
  byId("key-form").reset();
  byId("webhook-form").reset();
  formError("key-error", "");
  formError("webhook-error", "");
  byId("backtest-section").hidden = true;
  byId("ia-stale").hidden = true;
  resetTransparency();
}

async function loadAll() {
  state.loaded = true;
  await Promise.all([loadGuidelines(), loadVersions(), loadKeys(), loadWebhooks(), loadComments(), loadTransparency()]);
}

function failed(error) {
  if (!(error instanceof ApiError && error.status === 401)) announce(describeError(error), "error");
}

// -- guidelines: load, draft, edit ---------------------------------------------------------

async function loadGuidelines() {
  try {
    const current = await api("GET", "/v1/guidelines");
    setCurrent(current);
  } catch (error) {
    failed(error);
  }
}

function setCurrent(current) {
  state.current = current;
  state.ctx.guidelines = current;
  byId("gl-version").textContent = `version ${current.version}`;
  byId("gl-meta").textContent =
    `In force since ${dateTime(current.created_at)}, by ${current.created_by || "unknown"}` +
    (current.note ? ` · “${current.note}”` : "");
  startDraft(current);
}

function strip(document) {
  const copy = structuredClone(document);
  for (const key of READ_ONLY) delete copy[key];
  return copy;
}

function startDraft(document) {
  state.draft = strip(document);
  state.jsonError = null;
  state.previewed = null;
  state.fieldErrors.clear();
  showErrors([]);
  byId("backtest-section").hidden = true;
  renderEditor();
  writeJson();
  updateButtons();
  drawHistogram();
}

function isDirty() {
  return state.current !== null && JSON.stringify(state.draft) !== JSON.stringify(strip(state.current));
}

function updateButtons() {
  const draftJson = JSON.stringify(state.draft);
  const invalid = state.jsonError !== null || state.fieldErrors.size > 0;
  const dirty = isDirty();
  byId("gl-preview").disabled = invalid || !state.draft;
  byId("ia-draft").disabled = invalid || !state.draft;
  byId("gl-save").disabled = invalid || !dirty || state.previewed !== draftJson;
  let hint;
  if (state.fieldErrors.size) hint = `Save is off until ${plural(state.fieldErrors.size, "value is", "values are")} fixed: ${[...state.fieldErrors.values()].join(" ")}`;
  else if (invalid) hint = "Save is off until the JSON is valid again (see the message under it).";
  else if (!dirty) hint = "No changes yet: edit a threshold to see what it would change.";
  else if (state.previewed !== draftJson) hint = "Run the preview to see what these changes would do; saving comes after.";
  else hint = "Preview is up to date. Save makes this the new version, in force at once.";
  byId("gl-save-hint").textContent = hint;
}

function draftChanged({ json = true, field = null } = {}) {
  if (json) writeJson();
  if (field !== null && serverErrors.length) {
    // The admin is fixing it: drop the messages about this field.
    showErrors(serverErrors.filter((d) => !(d.field && (field === d.field || field.startsWith(`${d.field}.`)))));
  } else if (field === null && serverErrors.length && !json) {
    showErrors([]);
  }
  const stale = state.previewed !== null && state.previewed !== JSON.stringify(state.draft);
  byId("backtest-section").classList.toggle("stale", stale);
  byId("backtest-stale").hidden = !stale;
  markAuditStale();
  updateButtons();
  drawHistogram();
}

function writeJson() {
  byId("gl-json").value = JSON.stringify(state.draft, null, 2);
  byId("gl-json-error").hidden = true;
  byId("gl-json").removeAttribute("aria-invalid");
}

function onJsonInput() {
  const field = byId("gl-json");
  try {
    const parsed = JSON.parse(field.value);
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed) || !Array.isArray(parsed.rules)) {
      throw new Error("the document must be an object with a rules list");
    }
    state.draft = parsed;
    state.jsonError = null;
    field.removeAttribute("aria-invalid");
    byId("gl-json-error").hidden = true;
    state.fieldErrors.clear();
    renderEditor();
  } catch (error) {
    state.jsonError = error.message;
    field.setAttribute("aria-invalid", "true");
    const message = byId("gl-json-error");
    message.hidden = false;
    message.textContent = `Not valid JSON: ${error.message}`;
  }
  draftChanged({ json: false });
}

function onGeneralInput() {
  const draft = state.draft;
  if (!draft) return;
  draft.hold_links = byId("gl-hold-links").checked;
  setNumber(draft, "report_threshold", byId("gl-report-threshold").value);
  setNumber(draft, "claim_seconds", byId("gl-claim-seconds").value);
  draftChanged();
}

function setNumber(target, key, raw) {
  const text = String(raw).trim();
  if (text === "") delete target[key];
  else target[key] = Number(text);
}

/**
 * Parse a threshold typed by the admin. ``plain`` (a rule's own value): blank
 * means "no line" (null). Otherwise (a per-classifier or override value): blank
 * means "inherit" (the key is removed) and "off" means "no line" (null).
 * A refusal's ``message`` names the field (``label``) and what it allows.
 */
function parseThreshold(raw, plain, label = "A threshold") {
  const text = String(raw).trim().toLowerCase();
  const otherwise = plain ? "or blank for no line" : "blank to inherit, or off for no line";
  if (text === "") return { ok: true, value: plain ? null : undefined };
  if (["off", "never", "none", "null", "false"].includes(text)) return { ok: true, value: null };
  const value = Number(text.replace(",", "."));
  if (!Number.isFinite(value)) return { ok: false, message: `${label} must be a number from 0 to 1, ${otherwise}.` };
  if (value < 0 || value > 1) {
    return { ok: false, message: `${label} must be from 0 to 1 (not ${truncate(text, 12)}), ${otherwise}.` };
  }
  return { ok: true, value };
}

/** The id of the inline message of the input for ``field`` (a guidelines path). */
function errorId(field) {
  return `error-${field.replace(/[^A-Za-z0-9_-]/g, "-")}`;
}

function showThreshold(value, plain) {
  if (value === undefined) return "";
  if (value === null) return plain ? "" : "off";
  return String(value);
}

function thresholdInput(target, key, field, label, plain) {
  const message = h("span", { class: "field-error", id: errorId(field), hidden: true });
  const input = h("input", {
    type: "text",
    inputmode: "decimal",
    class: "threshold",
    value: showThreshold(target[key], plain),
    placeholder: plain ? "never" : "inherit",
    "aria-label": label,
    "data-field": field,
    autocomplete: "off",
    spellcheck: "false",
  });
  input.addEventListener("input", () => {
    const parsed = parseThreshold(input.value, plain, label);
    if (!parsed.ok) {
      // Said next to the field (and by the Save hint), not only as a red border.
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", message.id);
      message.textContent = parsed.message;
      message.hidden = false;
      state.fieldErrors.set(field, parsed.message);
    } else {
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
      message.textContent = "";
      message.hidden = true;
      state.fieldErrors.delete(field);
      if (parsed.value === undefined) delete target[key];
      else target[key] = parsed.value;
    }
    draftChanged({ field });
  });
  return [input, message];
}

function renderEditor() {
  const draft = state.draft;
  const rows = clear(byId("rules-rows"));
  (draft.rules || []).forEach((rule, i) => {
    const name = rule.id || `rule ${i + 1}`;
    rows.append(
      h(
        "tr",
        { class: "rule-row", "data-rule": rule.id },
        h("th", { scope: "row" }, h("span", { class: "rule-title" }, rule.title || name), h("span", { class: "mono small" }, name)),
        h("td", {}, categoryLabel(rule.category)),
        h("td", {}, h("span", { class: "muted" }, "all")),
        h("td", {}, thresholdInput(rule, "hold_at", `rules.${i}.hold_at`, `${name}: hold at`, true)),
        h("td", {}, thresholdInput(rule, "reject_at", `rules.${i}.reject_at`, `${name}: reject at`, true)),
      ),
    );
    for (const [classifier, specific] of Object.entries(rule.classifiers || {})) {
      rows.append(
        h(
          "tr",
          { class: "classifier-row", "data-rule": rule.id, "data-classifier": classifier },
          h("th", { scope: "row", class: "muted small" }, `↳ ${name}`),
          h("td", {}, ""),
          h("td", { class: "mono" }, classifier),
          h("td", {}, thresholdInput(specific, "hold_at", `rules.${i}.classifiers.${classifier}.hold_at`, `${name}, ${classifier}: hold at`, false)),
          h("td", {}, thresholdInput(specific, "reject_at", `rules.${i}.classifiers.${classifier}.reject_at`, `${name}, ${classifier}: reject at`, false)),
        ),
      );
    }
  });

  const overrides = clear(byId("overrides-rows"));
  (draft.overrides || []).forEach((override, i) => {
    (override.rules || []).forEach((change, j) => {
      overrides.append(
        h(
          "tr",
          {},
          h("td", {}, (override.article_tags || []).join(", ")),
          h("th", { scope: "row", class: "mono" }, change.id),
          h("td", {}, thresholdInput(change, "hold_at", `overrides.${i}.rules.${j}.hold_at`, `override ${i + 1}, ${change.id}: hold at`, false)),
          h("td", {}, thresholdInput(change, "reject_at", `overrides.${i}.rules.${j}.reject_at`, `override ${i + 1}, ${change.id}: reject at`, false)),
        ),
      );
    });
  });
  if (!overrides.children.length) {
    overrides.append(h("tr", {}, h("td", { colspan: 4, class: "muted" }, "No overrides (add them in the JSON).")));
  }

  byId("gl-hold-links").checked = draft.hold_links !== false;
  byId("gl-report-threshold").value = draft.report_threshold ?? "";
  byId("gl-claim-seconds").value = draft.claim_seconds ?? "";
  fillCategories();
  markErrors();
}

// -- validation messages (422) -------------------------------------------------------------

function fieldName(field) {
  const parts = String(field || "").split(".");
  if (parts[0] === "rules" && /^\d+$/.test(parts[1] || "")) {
    const rule = state.draft && state.draft.rules && state.draft.rules[Number(parts[1])];
    const rest = parts.slice(2).join(".");
    return `Rule ${rule && rule.id ? `“${rule.id}”` : Number(parts[1]) + 1}${rest ? `, ${rest}` : ""}`;
  }
  if (parts[0] === "overrides" && /^\d+$/.test(parts[1] || "")) {
    return `Override ${Number(parts[1]) + 1}${parts.length > 2 ? `, ${parts.slice(2).join(".")}` : ""}`;
  }
  return field || "The document";
}

let serverErrors = [];

function showErrors(details) {
  serverErrors = details;
  const box = clear(byId("gl-errors"));
  box.hidden = !details.length;
  if (details.length) {
    box.append(
      h("p", {}, h("strong", {}, "The service refused these guidelines:")),
      h("ul", {}, details.map((d) => h("li", { "data-field": d.field || "" }, `${fieldName(d.field)}: ${d.problem}`))),
    );
  }
  markErrors();
}

function markErrors() {
  for (const input of document.querySelectorAll("#guidelines-section [data-field]")) {
    if (input.tagName !== "INPUT") continue;
    const field = input.dataset.field;
    const bad = serverErrors.some((d) => d.field && (field === d.field || field.startsWith(`${d.field}.`)));
    if (bad) input.setAttribute("aria-invalid", "true");
    else if (!state.fieldErrors.has(field)) input.removeAttribute("aria-invalid");
  }
}

function handleGuidelinesError(error) {
  if (error instanceof ApiError && error.status === 422) {
    const details = error.details.length ? error.details : [{ field: "", problem: error.message }];
    showErrors(details);
    announce(`The guidelines are not valid: ${plural(details.length, "problem")}. See the list above the table.`, "error");
    byId("gl-errors").scrollIntoView({ block: "nearest" });
  } else {
    failed(error);
  }
}

// -- preview (backtest) and save -----------------------------------------------------------

async function preview() {
  const draftJson = JSON.stringify(state.draft);
  const button = byId("gl-preview");
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    const result = await api("POST", "/v1/guidelines/backtest", { guidelines: state.draft, samples: 20 });
    showErrors([]);
    state.previewed = draftJson;
    renderBacktest(result);
    announce(`Preview: ${plural(result.changed, "stored comment")} of ${result.total} would be decided differently.`, "success");
  } catch (error) {
    state.previewed = null;
    byId("backtest-section").hidden = true;
    handleGuidelinesError(error);
  } finally {
    button.removeAttribute("aria-busy");
    updateButtons();
  }
}

async function save() {
  if (state.previewed !== JSON.stringify(state.draft)) {
    announce("Run the preview first.", "error");
    return;
  }
  const note = byId("gl-note").value.trim();
  const button = byId("gl-save");
  button.disabled = true;
  try {
    const saved = await api("PUT", `/v1/guidelines${query({ note })}`, state.draft);
    byId("gl-note").value = "";
    setCurrent(saved);
    announce(`Saved: guidelines version ${saved.version} is in force.`, "success");
    loadVersions();
  } catch (error) {
    handleGuidelinesError(error);
  } finally {
    updateButtons();
  }
}

function matrixTable(matrix, caption, rowsLabel) {
  const total = (row) => ACTIONS.reduce((n, to) => n + (matrix[row]?.[to] ?? 0), 0);
  const columnTotal = (to) => ACTIONS.reduce((n, from) => n + (matrix[from]?.[to] ?? 0), 0);
  return h(
    "table",
    { class: "matrix" },
    h("caption", {}, caption),
    h(
      "thead",
      {},
      h("tr", {}, h("th", { scope: "col" }, rowsLabel), ACTIONS.map((a) => h("th", { scope: "col" }, `→ ${actionLabel(a)}`)), h("th", { scope: "col" }, "Total")),
    ),
    h(
      "tbody",
      {},
      ACTIONS.map((from) =>
        h(
          "tr",
          {},
          h("th", { scope: "row" }, actionLabel(from)),
          ACTIONS.map((to) => {
            const n = matrix[from]?.[to] ?? 0;
            const kind = from === to ? "same" : n > 0 ? "changed" : "zero";
            return h("td", { class: `cell-${kind}`, "data-from": from, "data-to": to }, String(n));
          }),
          h("td", { class: "total" }, String(total(from))),
        ),
      ),
      h("tr", { class: "totals" }, h("th", { scope: "row" }, "Proposed"), ACTIONS.map((to) => h("td", { class: "total" }, String(columnTotal(to)))), h("td", {}, "")),
    ),
  );
}

function percent(value) {
  return typeof value === "number" ? `${Math.round(value * 1000) / 10}%` : "–";
}

function renderBacktest(result) {
  byId("backtest-section").hidden = false;
  byId("backtest-section").classList.remove("stale");
  byId("backtest-stale").hidden = true;
  const box = clear(byId("backtest-result"));
  box.append(
    h(
      "p",
      { class: "headline" },
      h("strong", { class: "big", id: "bt-changed" }, String(result.changed)),
      ` of ${result.total} stored comments would be decided differently than they were.`,
    ),
  );
  if (result.current) {
    box.append(
      h("p", {}, h("strong", { id: "bt-changed-current" }, String(result.current.changed)),
        " differ from what the guidelines in force would decide today: the effect of this edit alone."),
    );
  }
  box.append(matrixTable(result.matrix, "Decided then (rows) → proposed (columns)", "Then"));
  if (result.current) box.append(matrixTable(result.current.matrix, "Guidelines in force (rows) → proposed (columns)", "Now"));

  const moderators = result.moderators || {};
  if (moderators.evidence) {
    const stored = moderators.stored || {};
    const proposed = moderators.proposed || {};
    box.append(
      h("h4", {}, `Against ${plural(moderators.evidence, "moderator decision")}`),
      h(
        "table",
        { class: "agreement" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, ""), h("th", { scope: "col" }, "Then"), h("th", { scope: "col" }, "Proposed"))),
        h(
          "tbody",
          {},
          h("tr", {}, h("th", { scope: "row" }, "Agreement"), h("td", {}, percent(stored.agreement)), h("td", {}, percent(proposed.agreement))),
          h("tr", {}, h("th", { scope: "row" }, "Auto-reject precision"), h("td", {}, percent(stored.auto_reject?.precision)), h("td", {}, percent(proposed.auto_reject?.precision))),
          h("tr", {}, h("th", { scope: "row" }, "Auto-approve precision"), h("td", {}, percent(stored.auto_approve?.precision)), h("td", {}, percent(proposed.auto_approve?.precision))),
          h("tr", {}, h("th", { scope: "row" }, "Held for review"), h("td", {}, String(stored.held ?? "–")), h("td", {}, String(proposed.held ?? "–"))),
        ),
      ),
    );
  } else {
    box.append(h("p", { class: "muted small" }, "No moderator decisions yet to compare with."));
  }

  if (result.samples && result.samples.length) {
    box.append(h("h4", {}, "Examples of changes"), h("ul", { class: "samples" }, result.samples.map(sampleItem)));
  }
  drawHistogram();
}

/**
 * The rules behind a sample's change: those of the proposed decision when it holds or
 * rejects, else those that hold or reject it under the guidelines in force.
 */
function sampleRules(sample) {
  const restricting = (reasons) => (reasons || []).filter((r) => r.rule && r.action !== "approve");
  const reasons = sample.to !== "approve" ? restricting(sample.reasons) : restricting(sample.current_reasons);
  const ids = [...new Set(reasons.map((r) => r.rule))];
  const rules = state.draft?.rules || [];
  return ids.map((id) => {
    const rule = rules.find((r) => r.id === id);
    return rule && rule.title ? `${rule.title} (${id})` : id;
  });
}

/** One example of a change: the comment's text (as text, shortened), then → now, the rule. */
function sampleItem(sample) {
  const rules = sampleRules(sample);
  const reasons = (sample.to !== "approve" ? sample.reasons : sample.current_reasons) || [];
  return h(
    "li",
    { class: "sample", "data-id": sample.comment_id },
    typeof sample.text === "string"
      ? h("blockquote", { class: "sample-text", title: truncate(sample.text, 1000) }, truncate(sample.text, 240))
      : h("p", { class: "sample-text muted small" }, "(no text: its author deleted it, or it is another website's comment)"),
    h(
      "p",
      { class: "sample-change small" },
      h("span", { class: `badge action-${sample.from}` }, actionLabel(sample.from)),
      " → ",
      h("span", { class: `badge action-${sample.to}` }, actionLabel(sample.to)),
      " ",
      h(
        "span",
        { class: "sample-rule" },
        rules.length ? `Rule: ${rules.join(", ")}` : reasons.length ? "No rule (terms, links, author or article)" : "Decided so under earlier guidelines",
      ),
      " ",
      h("span", { class: "mono muted" }, sample.comment_id),
    ),
    reasons.length
      ? h("p", { class: "muted small" }, `${sample.to !== "approve" ? "Why" : "Held or rejected now because"}: ${truncate(reasons.map(describeReason).join("; "), 200)}`)
      : null,
  );
}

// -- identity-term audit ---------------------------------------------------------------------

function markAuditStale() {
  const stale = Boolean(state.audited) && state.audited !== JSON.stringify(state.draft);
  byId("identity-audit-section").classList.toggle("stale", stale);
  byId("ia-stale").hidden = !stale;
}

async function learn() {
  const button = byId("learn-run");
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    const result = await api("POST", "/v1/guidelines/learn", {});
    state.proposal = result.guidelines;
    renderLearned(result);
    byId("learn-load").disabled = !result.learned.length;
    announce(`Learning: ${plural(result.learned.length, "new example")} from ${plural(result.labels, "moderator decision")}.`, "success");
  } catch (error) {
    failed(error);
  } finally {
    button.removeAttribute("aria-busy");
    button.disabled = false;
  }
}

function renderLearned(result) {
  const box = clear(byId("learn-result"));
  if (!result.learned.length) {
    box.append(h("p", { class: "muted" }, "Nothing new to learn: every labelled comment is already an example, or none names a rule."));
    return;
  }
  const rows = result.learned.map((item) =>
    h("tr", {}, [
      h("td", {}, item.rule),
      h("td", { class: item.label === "violates" ? "share-rejected" : null }, item.label === "violates" ? "example" : "counterexample"),
      h("td", { class: "learned-text" }, item.text),
    ]),
  );
  box.append(
    h("table", { class: "data-table" }, [
      h("thead", {}, h("tr", {}, [h("th", {}, "Rule"), h("th", {}, "As"), h("th", {}, "Comment")])),
      h("tbody", {}, rows),
    ]),
  );
  const matrix = result.backtest.matrix || {};
  const held = (matrix.approve?.hold || 0) + (matrix.approve?.reject || 0);
  box.append(h("p", { class: "small" }, `Backtest: ${plural(result.backtest.changed || 0, "stored comment")} of ${result.backtest.total} would be decided differently; ${held} published ones would be held or rejected.`));
}

function loadProposal() {
  if (!state.proposal) return;
  startDraft(state.proposal);
  announce("The proposal is in the editor: preview it, then save it as a new version.", "info");
  byId("guidelines-section").scrollIntoView({ block: "start" });
}

async function runIdentityAudit(draft) {
  const button = byId(draft ? "ia-draft" : "ia-run");
  const draftJson = JSON.stringify(state.draft);
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    const result = draft
      ? await api("POST", "/v1/guidelines/audit", { guidelines: state.draft })
      : await api("GET", "/v1/guidelines/audit");
    if (draft) showErrors([]);
    state.audited = draft ? draftJson : "";
    renderIdentityAudit(result);
    markAuditStale();
    announce(`Identity audit: ${plural(result.flagged, "term")} of ${result.terms.length} with neutral sentences held or rejected.`, result.flagged ? "info" : "success");
  } catch (error) {
    if (draft) handleGuidelinesError(error);
    else failed(error);
  } finally {
    button.removeAttribute("aria-busy");
    button.disabled = false;
    updateButtons();
  }
}

function shareCell(value, kind) {
  const above = typeof value === "number" && value > 0;
  return h("td", { class: ["num", above ? `share-${kind}` : null], "data-share": kind }, percent(value));
}

function renderIdentityAudit(result) {
  const box = clear(byId("ia-result"));
  const terms = [...(result.terms || [])];
  const problem = (t) => [t.rejected_share || 0, t.held_share || 0, t.max_score ?? -1];
  // Terms with held or rejected sentences first, then the highest scores.
  terms.sort((a, b) => {
    const [x, y] = [problem(a), problem(b)];
    for (let i = 0; i < x.length; i += 1) if (x[i] !== y[i]) return y[i] - x[i];
    return 0;
  });
  const what = result.proposal ? "the draft" : `guidelines version ${result.guidelines_version}`;
  box.append(
    h(
      "p",
      { class: "headline" },
      h("strong", { class: ["big", result.flagged ? "flagged-count" : null], id: "ia-flagged" }, String(result.flagged)),
      ` of ${plural(terms.length, "term")} have neutral sentences held or rejected by ${what}.`,
    ),
    h(
      "p",
      { class: "muted small" },
      `${plural(result.templates, "template")} per term, ${plural(result.sentences, "sentence")}, scored by ${result.classifier}. ` +
        "Max score: the highest score in any category over the term's sentences." +
        (result.baseline
          ? ` Baseline: the same templates about ${result.baseline.words.join(", ")}, who are no group; a term's shares above the baseline's are what the term itself adds.`
          : ""),
    ),
  );
  const rows = [];
  const addRow = (term, label, group, key) => {
    const flagged = (term.held_share || 0) > 0 || (term.rejected_share || 0) > 0;
    rows.push(
      h(
        "tr",
        { class: [flagged ? "flagged" : null, key === "baseline" ? "baseline-row" : null], [`data-${key}`]: label },
        h("th", { scope: "row" }, label),
        h("td", { class: "small" }, group),
        shareCell(term.held_share, "hold"),
        shareCell(term.rejected_share, "reject"),
        h(
          "td",
          { class: "num", title: term.max_category ? categoryLabel(term.max_category) : null },
          typeof term.max_score === "number" ? term.max_score.toFixed(2) : "–",
        ),
      ),
    );
    if (flagged && term.worst) {
      const reasons = (term.worst.reasons || []).filter((r) => r.action !== "approve");
      rows.push(
        h(
          "tr",
          { class: "worst-row", "data-worst": label },
          h(
            "td",
            { colspan: 5, class: "small" },
            h("span", { class: `badge action-${term.worst.action}` }, actionLabel(term.worst.action)),
            " “",
            term.worst.sentence,
            "”",
            reasons.length ? h("span", { class: "muted" }, ` ${truncate(reasons.map(describeReason).join("; "), 200)}`) : null,
          ),
        ),
      );
    }
  };
  if (result.baseline) addRow(result.baseline, "Baseline", "No group", "baseline");
  for (const term of terms) addRow(term, term.term, GROUP_LABELS[term.group] || term.group, "term");
  box.append(
    h(
      "div",
      { class: "table-wrap identity-wrap" },
      h(
        "table",
        { class: "data-table identity-table" },
        h("caption", { class: "sr-only" }, "Identity terms: share of their neutral sentences held and rejected"),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, "Term"),
            h("th", { scope: "col" }, "Group"),
            h("th", { scope: "col", class: "num" }, "Held"),
            h("th", { scope: "col", class: "num" }, "Rejected"),
            h("th", { scope: "col", class: "num" }, "Max score"),
          ),
        ),
        h("tbody", {}, rows),
      ),
    ),
  );
}

// -- histogram -----------------------------------------------------------------------------

async function loadComments() {
  try {
    const body = await api("GET", `/v1/comments${query({ limit: 500 })}`);
    state.comments = body.items || [];
    fillCategories();
    drawHistogram();
  } catch (error) {
    failed(error);
  }
}

function fillCategories() {
  const select = byId("hist-category");
  const names = new Set((state.draft?.rules || []).map((rule) => rule.category));
  for (const comment of state.comments || []) {
    for (const name of Object.keys(comment.decision?.scores || {})) names.add(name);
  }
  const previous = select.value;
  const sorted = sortCategories(names);
  const existing = [...select.options].map((o) => o.value);
  if (existing.join() === sorted.join()) return;
  clear(select);
  for (const name of sorted) select.append(h("option", { value: name }, categoryLabel(name)));
  // Start on the category with the most scores (for `linear`, toxicity).
  const counts = (name) => (state.comments || []).filter((c) => typeof c.decision?.scores?.[name] === "number").length;
  select.value = sorted.includes(previous) ? previous : sorted.reduce((best, n) => (counts(n) > counts(best) ? n : best), sorted[0] || "");
}

function dominantClassifier(comments) {
  const counts = new Map();
  for (const c of comments) counts.set(c.decision.classifier, (counts.get(c.decision.classifier) || 0) + 1);
  let best = null;
  for (const [name, n] of counts) if (best === null || n > counts.get(best)) best = name;
  return best;
}

function drawHistogram() {
  const canvas = byId("histogram");
  const summary = byId("hist-summary");
  const category = byId("hist-category").value;
  if (!state.comments || !category || byId("admin-view").hidden) return;
  const scored = state.comments.filter((c) => typeof c.decision?.scores?.[category] === "number");
  const classifier = dominantClassifier(scored);
  const lines = {
    now: state.current ? thresholdsFromGuidelines(state.current, classifier, [])[category] || {} : {},
    proposed: state.draft ? thresholdsFromGuidelines(state.draft, classifier, [])[category] || {} : {},
  };

  const bins = 20;
  const counts = Array.from({ length: bins }, () => ({ approved: 0, pending: 0, rejected: 0 }));
  for (const c of scored) {
    const value = c.decision.scores[category];
    const bin = Math.min(bins - 1, Math.max(0, Math.floor(value * bins)));
    counts[bin][c.status] = (counts[bin][c.status] || 0) + 1;
  }
  const heights = counts.map((b) => b.approved + b.pending + b.rejected);
  const max = Math.max(1, ...heights);

  const ratio = window.devicePixelRatio || 1;
  const width = Math.max(300, canvas.clientWidth || 600);
  const height = Math.max(160, canvas.clientHeight || 220);
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  const pad = { left: 36, right: 20, top: 26, bottom: 24 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const x = (v) => pad.left + v * plotW;
  const y = (n) => pad.top + plotH - (n / max) * plotH;

  g.font = "12px system-ui, sans-serif";
  g.fillStyle = "#4b5563";
  g.strokeStyle = "#d1d5db";
  g.lineWidth = 1;
  g.textAlign = "right";
  g.textBaseline = "middle";
  for (const n of [0, Math.round(max / 2), max]) {
    g.beginPath();
    g.moveTo(pad.left, y(n) + 0.5);
    g.lineTo(width - pad.right, y(n) + 0.5);
    g.stroke();
    g.fillText(String(n), pad.left - 6, y(n));
  }
  g.textAlign = "center";
  g.textBaseline = "top";
  for (const v of [0, 0.25, 0.5, 0.75, 1]) g.fillText(v.toFixed(2), x(v), height - pad.bottom + 6);

  const barW = plotW / bins;
  counts.forEach((bin, i) => {
    let base = 0;
    for (const status of ["approved", "pending", "rejected"]) {
      const n = bin[status] || 0;
      if (!n) continue;
      g.fillStyle = STATUS_COLOURS[status];
      g.fillRect(x(i / bins) + 1, y(base + n), barW - 2, y(base) - y(base + n));
      base += n;
    }
  });

  const drawLine = (value, kind, proposed) => {
    if (typeof value !== "number") return;
    g.save();
    g.strokeStyle = LINE_COLOURS[kind];
    g.lineWidth = proposed ? 2.5 : 1.5;
    g.setLineDash(proposed ? [] : [5, 4]);
    g.beginPath();
    g.moveTo(x(value), pad.top - 4);
    g.lineTo(x(value), height - pad.bottom);
    g.stroke();
    if (proposed) {
      g.fillStyle = LINE_COLOURS[kind];
      g.textAlign = value > 0.85 ? "right" : "left";
      g.textBaseline = "bottom";
      g.font = "bold 12px system-ui, sans-serif";
      g.fillText(`${kind} ${threshold(value)}`, x(value) + (value > 0.85 ? -4 : 4), pad.top - 6 + (kind === "reject" ? 0 : 0));
    }
    g.restore();
  };
  drawLine(lines.now.hold, "hold", false);
  drawLine(lines.now.reject, "reject", false);
  drawLine(lines.proposed.hold, "hold", true);
  drawLine(lines.proposed.reject, "reject", true);

  const above = (value) => (typeof value === "number" ? scored.filter((c) => c.decision.scores[category] >= value).length : 0);
  const describe = (which) => {
    const l = lines[which];
    const hold = typeof l.hold === "number" ? `hold ${threshold(l.hold)} (${above(l.hold)} at or above)` : "no hold line";
    const reject = typeof l.reject === "number" ? `reject ${threshold(l.reject)} (${above(l.reject)} at or above)` : "no reject line";
    return `${hold}, ${reject}`;
  };
  const text =
    `${plural(scored.length, "recent comment")} with a ${categoryLabel(category).toLowerCase()} score` +
    (classifier ? ` (classifier ${classifier}, lines without tag overrides)` : "") +
    `. In force: ${describe("now")}. Proposed: ${describe("proposed")}.`;
  summary.textContent = text;
  canvas.setAttribute("aria-label", `Histogram of ${categoryLabel(category)} scores. ${text}`);
}

// -- versions, keys, webhooks --------------------------------------------------------------

function changeText(change) {
  const value = (v) => truncate(JSON.stringify(v), 40);
  if (change.change === "added") return `${change.path} added: ${value(change.to)}`;
  if (change.change === "removed") return `${change.path} removed (was ${value(change.from)})`;
  return `${change.path}: ${value(change.from)} → ${value(change.to)}`;
}

async function loadVersions() {
  const rows = byId("versions-rows");
  try {
    const body = await api("GET", "/v1/guidelines/versions");
    const versions = [...(body.items || [])].sort((a, b) => b.version - a.version);
    const newest = versions.length ? versions[0].version : null;
    clear(rows);
    for (const version of versions) {
      const changes = version.changes || [];
      rows.append(
        h(
          "tr",
          { "data-version": version.version },
          h("th", { scope: "row" }, `v${version.version}`, version.version === newest ? h("span", { class: "badge current-badge" }, "in force") : null),
          h("td", {}, dateTime(version.created_at)),
          h("td", {}, version.created_by || "–"),
          h("td", {}, version.note || ""),
          h(
            "td",
            { class: "small" },
            changes.length
              ? h("ul", { class: "changes" }, changes.slice(0, 4).map((c) => h("li", {}, changeText(c))),
                  changes.length > 4 ? h("li", { class: "muted" }, `and ${changes.length - 4} more`) : null)
              : h("span", { class: "muted" }, "–"),
          ),
          h(
            "td",
            {},
            version.version === newest
              ? null
              : h("button", { type: "button", class: "secondary", on: { click: () => restore(version.version) } }, `Restore v${version.version}`),
          ),
        ),
      );
    }
  } catch (error) {
    failed(error);
  }
}

async function restore(number) {
  const ok = await confirmDialog(
    `Restore version ${number}? It becomes a new version and is in force for every comment decided from now on.`,
    `Restore v${number}`,
  );
  if (!ok) return;
  try {
    const restored = await api("POST", path`/v1/guidelines/versions/${number}/restore`);
    setCurrent(restored);
    announce(`Restored version ${number} as version ${restored.version}.`, "success");
    loadVersions();
  } catch (error) {
    handleGuidelinesError(error);
  }
}

// -- keys: create (shown once), revoke ------------------------------------------------------

async function loadKeys() {
  const rows = byId("keys-rows");
  try {
    const [body, me] = await Promise.all([api("GET", "/v1/keys"), state.me ? state.me : api("GET", "/v1/me")]);
    state.me = me;
    clear(rows);
    for (const key of body.items || []) {
      const own = key.id === me.key_id;
      rows.append(
        h(
          "tr",
          { class: key.revoked_at ? "revoked" : null, "data-key": key.id },
          h("th", { scope: "row" }, key.name, own ? h("span", { class: "badge current-badge" }, "you") : null),
          h("td", {}, h("span", { class: `badge role-${key.role}` }, key.role), key.scope ? h("span", { class: "muted small" }, ` ${key.scope}`) : null),
          h("td", { class: "mono small" }, key.id),
          h("td", {}, dateTime(key.created_at)),
          h("td", {}, key.last_used_at ? dateTime(key.last_used_at) : "never"),
          h("td", {}, key.revoked_at ? `revoked ${dateTime(key.revoked_at)}` : "active"),
          h(
            "td",
            {},
            key.revoked_at
              ? null
              : h("button", { type: "button", class: "secondary danger", "aria-label": `Revoke the key ${key.name}`, on: { click: () => revokeKey(key, own) } }, "Revoke"),
          ),
        ),
      );
    }
  } catch (error) {
    failed(error);
  }
}

function formError(id, message) {
  const box = byId(id);
  box.textContent = message || "";
  box.hidden = !message;
}

/** What a refused create says, for the form: the fields the service names, else its message. */
function refusal(error) {
  if (error instanceof ApiError && error.details.length) {
    return error.details.map((d) => (d.field ? `${d.field}: ${d.problem}` : d.problem)).join("; ");
  }
  return describeError(error);
}

async function createKey(event) {
  event.preventDefault();
  const name = byId("key-name");
  const scope = byId("key-scope");
  const body = { name: name.value.trim(), role: byId("key-role").value };
  if (scope.value.trim()) body.scope = scope.value.trim();
  if (!body.name) {
    formError("key-error", "Give the key a name: who or what will use it (e.g. www, coral, Alice).");
    name.setAttribute("aria-invalid", "true");
    name.focus();
    return;
  }
  name.removeAttribute("aria-invalid");
  formError("key-error", "");
  const button = byId("key-create");
  button.disabled = true;
  try {
    const created = await api("POST", "/v1/keys", body);
    byId("key-form").reset();
    showSecret("key-created", {
      title: `Key “${created.name}” (${created.role}${created.scope ? `, ${created.scope}` : ""}) created`,
      label: "The new API key",
      secret: created.key,
    });
    announce(`Key ${created.name} created: copy it now.`, "success");
    loadKeys();
  } catch (error) {
    if (error instanceof ApiError && error.code === "key_name_taken") {
      formError("key-error", "An active key of this role already has that name: choose another.");
      name.setAttribute("aria-invalid", "true");
      name.focus();
    } else if (!(error instanceof ApiError && error.status === 401)) {
      formError("key-error", refusal(error));
    }
  } finally {
    button.disabled = false;
  }
}

async function revokeKey(key, own) {
  const ok = await confirmDialog(
    `Revoke the ${key.role} key “${key.name}”? Whatever uses it is refused from the next request; this cannot be undone.` +
      (own ? " It is the key you are signed in with: you will be signed out." : ""),
    "Revoke key",
  );
  if (!ok) return;
  try {
    await api("DELETE", path`/v1/keys/${key.id}`);
    announce(`Key ${key.name} revoked.`, "success");
    // With one's own key this answers 401, which signs the page out.
    loadKeys();
  } catch (error) {
    failed(error);
  }
}

// -- the secret of a new key or webhook, shown once ------------------------------------------

function hideSecret(id) {
  const box = clear(byId(id));
  box.hidden = true;
}

/** Show a new secret once, with a copy button; it leaves the page when dismissed. */
function showSecret(id, { title, label, secret, note }) {
  const box = clear(byId(id));
  const field = h("input", { type: "text", class: "secret mono", value: secret, "aria-label": label, spellcheck: "false", autocomplete: "off" });
  field.readOnly = true;
  field.addEventListener("focus", () => field.select());
  const copy = h("button", { type: "button", class: "copy-secret" }, "Copy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(secret);
    } catch {
      // No clipboard permission: select it for Ctrl+C instead.
      field.focus();
      field.select();
      announce("Copying was refused by the browser: the text is selected, press Ctrl+C.", "info");
      return;
    }
    copy.textContent = "Copied";
    announce("Copied to the clipboard.", "success");
  });
  box.append(
    h("p", { class: "secret-title" }, h("strong", {}, title)),
    h("div", { class: "secret-row" }, field, copy),
    h("p", { class: "secret-warning", role: "note" }, "Copy it now: it is shown only this once and cannot be shown again. ", note || ""),
    h("button", { type: "button", class: "secondary", on: { click: () => hideSecret(id) } }, "I have copied it"),
  );
  box.hidden = false;
  field.focus();
}

// -- webhooks: create (secret shown once), delete, backlog and last errors -------------------

const DEFAULT_EVENTS = ["comment.approved", "comment.rejected", "comment.held"];

function fillEventChoices(events) {
  const set = byId("webhook-events");
  const existing = [...set.querySelectorAll("input")].map((i) => i.value);
  if (!events.length || existing.join() === events.join()) return;
  for (const old of set.querySelectorAll(".check")) old.remove();
  for (const name of events) {
    const id = `webhook-event-${name.replace(/[^a-z0-9]/gi, "-")}`;
    set.append(
      h(
        "div",
        { class: "check" },
        h("input", { type: "checkbox", id, value: name, checked: DEFAULT_EVENTS.includes(name) }),
        h("label", { for: id, class: "mono small" }, name),
      ),
    );
  }
}

function backlogCell(hook) {
  const backlog = hook.backlog || { pending: 0, failing: 0 };
  if (!backlog.pending) return h("td", { class: "backlog", "data-pending": 0 }, h("span", { class: "muted" }, "none pending"));
  return h(
    "td",
    { class: ["backlog", backlog.failing ? "backlog-failing" : null], "data-pending": backlog.pending },
    h("strong", {}, `${backlog.pending} pending`),
    backlog.oldest_pending_at ? h("span", { class: "small" }, ", oldest ", h("time", { datetime: backlog.oldest_pending_at, title: dateTime(backlog.oldest_pending_at) }, ago(backlog.oldest_pending_at))) : null,
    backlog.failing ? h("span", { class: "small block" }, `${backlog.failing} failing`) : null,
  );
}

function errorsCell(hook) {
  const errors = hook.last_errors || [];
  if (!errors.length) return h("td", { class: "last-errors" }, h("span", { class: "muted" }, "none"));
  return h(
    "td",
    { class: "last-errors" },
    h(
      "ul",
      { class: "delivery-errors" },
      errors.map((d) =>
        h(
          "li",
          { "data-event": d.event_id },
          h("strong", { class: "delivery-error" }, d.last_error || (d.last_status ? `HTTP ${d.last_status}` : "failed")),
          " ",
          h("span", { class: "small" }, `${d.type} of `, h("span", { class: "mono" }, d.comment_id), ` at ${dateTime(d.created_at)}`),
          h("span", { class: "small muted block" }, `${plural(d.attempts, "attempt")}`, d.next_attempt_at ? `, next ${dateTime(d.next_attempt_at)}` : ""),
        ),
      ),
    ),
  );
}

async function loadWebhooks() {
  const rows = byId("webhooks-rows");
  try {
    const body = await api("GET", "/v1/webhooks");
    fillEventChoices(body.events || []);
    clear(rows);
    const hooks = body.items || [];
    if (!hooks.length) rows.append(h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No webhooks.")));
    for (const hook of hooks) {
      rows.append(
        h(
          "tr",
          { "data-webhook": hook.id },
          h("th", { scope: "row", class: "mono small break" }, hook.url),
          h("td", { class: "small" }, (hook.events || []).join(", ")),
          backlogCell(hook),
          errorsCell(hook),
          h("td", {}, hook.created_by || "–"),
          h("td", {}, dateTime(hook.created_at)),
          h(
            "td",
            {},
            h("button", { type: "button", class: "secondary danger", "aria-label": `Delete the webhook to ${hook.url}`, on: { click: () => deleteWebhook(hook) } }, "Delete"),
          ),
        ),
      );
    }
  } catch (error) {
    failed(error);
  }
}

async function createWebhook(event) {
  event.preventDefault();
  const url = byId("webhook-url");
  const events = [...byId("webhook-events").querySelectorAll("input:checked")].map((i) => i.value);
  let problem = null;
  if (!/^https?:\/\/\S+$/.test(url.value.trim())) problem = "Enter the receiver's address, starting with https:// (or http://).";
  else if (!events.length) problem = "Choose at least one event to send.";
  if (problem) {
    formError("webhook-error", problem);
    if (!events.length && url.value.trim()) byId("webhook-events").querySelector("input")?.focus();
    else {
      url.setAttribute("aria-invalid", "true");
      url.focus();
    }
    return;
  }
  url.removeAttribute("aria-invalid");
  formError("webhook-error", "");
  const button = byId("webhook-create");
  button.disabled = true;
  try {
    const created = await api("POST", "/v1/webhooks", { url: url.value.trim(), events });
    url.value = "";
    showSecret("webhook-created", {
      title: `Webhook to ${created.url} created`,
      label: "The webhook's signing secret",
      secret: created.secret,
      note: "The website checks each delivery's X-Moderation-Signature with it.",
    });
    announce("Webhook created: copy its secret now.", "success");
    loadWebhooks();
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) {
      formError("webhook-error", refusal(error));
      if (error instanceof ApiError && error.details.some((d) => d.field === "url")) url.setAttribute("aria-invalid", "true");
    }
  } finally {
    button.disabled = false;
  }
}

async function deleteWebhook(hook) {
  const pending = hook.backlog ? hook.backlog.pending : 0;
  const ok = await confirmDialog(
    `Delete the webhook to ${hook.url}? Nothing more is sent to it` +
      (pending ? `, and its ${plural(pending, "undelivered event")} ${pending === 1 ? "is" : "are"} dropped.` : "."),
    "Delete webhook",
  );
  if (!ok) return;
  try {
    await api("DELETE", path`/v1/webhooks/${hook.id}`);
    announce("Webhook deleted.", "success");
    loadWebhooks();
  } catch (error) {
    failed(error);
  }
}
