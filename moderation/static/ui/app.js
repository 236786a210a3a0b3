// The moderators' page: sign-in, views, keyboard shortcuts, sign-out.

import { api, ApiError, describeError, forgetKey, onUnauthorized, storedKey, useKey } from "./api.js";
import { byId, isTyping } from "./dom.js";
import { setCategories } from "./format.js";
import { initAdmin, resetAdmin, showAdmin } from "./admin.js";
import { initDecided, resetDecided, showDecided } from "./decided.js";
import { flushPending, hideQueue, initQueue, queueKey, resetQueue, showQueue } from "./queue.js";
import { announce, clearAnnouncements } from "./widgets.js";

/** Shared between the views: who is signed in and, for admins, the guidelines. */
const ctx = { role: null, keyName: null, guidelines: null };
let view = null;

const VIEWS = {
  queue: { element: "queue-view", show: showQueue, hide: hideQueue },
  decided: { element: "decided-view", show: showDecided },
  admin: { element: "admin-view", show: showAdmin },
};

function showView(name) {
  if (!VIEWS[name] || (name === "admin" && ctx.role !== "admin")) name = "queue";
  if (view && view !== name && VIEWS[view].hide) VIEWS[view].hide();
  view = name;
  if (location.hash !== `#${name}`) history.replaceState(null, "", `${location.pathname}${location.search}#${name}`);
  for (const [other, spec] of Object.entries(VIEWS)) {
    byId(spec.element).hidden = other !== name;
  }
  for (const tab of byId("tabs").querySelectorAll("button[data-view]")) {
    if (tab.dataset.view === name) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  VIEWS[name].show();
}

/** Check a key (401 unknown): who it is, its role, and the categories the service scores. */
async function checkKey(key) {
  useKey(key, { remember: false });
  try {
    const me = await api("GET", "/v1/me", undefined, { quiet401: true });
    if (me.role === "site") throw new ApiError(403, "forbidden", "a site key");
    setCategories(me.categories);
    ctx.rules = me.rules || [];
    ctx.classifier = me.classifier;
    const guidelines = me.role === "admin" ? await api("GET", "/v1/guidelines", undefined, { quiet401: true }) : null;
    return { role: me.role, guidelines };
  } catch (error) {
    forgetKey();
    throw error;
  }
}

function signInMessage(error) {
  if (error instanceof ApiError && error.status === 401) return "That key was not accepted. Check it and try again.";
  if (error instanceof ApiError && error.status === 403) {
    return "That is a website (site) key. This page needs a moderator or admin key.";
  }
  return describeError(error);
}

async function signIn(key, { restoring = false } = {}) {
  const button = byId("signin-button");
  const error = byId("signin-error");
  button.disabled = true;
  error.hidden = true;
  try {
    const who = await checkKey(key);
    useKey(key);
    ctx.role = who.role;
    ctx.guidelines = who.guidelines;
    byId("api-key").value = "";
    enterApp();
    if (!restoring) announce(`Signed in with ${who.role === "admin" ? "an admin" : "a moderator"} key.`, "success");
  } catch (failure) {
    if (restoring) forgetKey();
    error.textContent = signInMessage(failure);
    error.hidden = false;
    byId("api-key").setAttribute("aria-invalid", "true");
    byId("api-key").focus();
  } finally {
    button.disabled = false;
  }
}

function enterApp() {
  byId("signin-view").hidden = true;
  byId("tabs").hidden = false;
  byId("session").hidden = false;
  byId("admin-tab").hidden = ctx.role !== "admin";
  byId("whoami").textContent = ctx.role === "admin" ? "Admin" : "Moderator";
  byId("api-key").removeAttribute("aria-invalid");
  document.body.dataset.role = ctx.role;
  // Claims happen only in the queue view: an admin who came to edit the guidelines starts
  // on the Admin view and claims nothing; #queue, #decided or #admin in the URL choose.
  const asked = location.hash.slice(1);
  showView(VIEWS[asked] ? asked : ctx.role === "admin" ? "admin" : "queue");
  // The sign-in field just disappeared: start keyboard users at the content.
  byId("main").focus({ preventScroll: true });
}

async function signOut(message = "Signed out.") {
  const button = byId("sign-out");
  button.disabled = true;
  try {
    await flushPending();
    // Hand the rest of the batch back so colleagues get it now, not when the claims run out.
    await api("POST", "/v1/queue/release", {}).catch(() => undefined);
  } finally {
    button.disabled = false;
  }
  leave(message);
}

function leave(message, kind = "info") {
  forgetKey();
  ctx.role = null;
  ctx.keyName = null;
  ctx.guidelines = null;
  if (view && VIEWS[view].hide) VIEWS[view].hide();
  view = null;
  resetQueue();
  resetDecided();
  resetAdmin();
  for (const spec of Object.values(VIEWS)) byId(spec.element).hidden = true;
  history.replaceState(null, "", `${location.pathname}${location.search}`);
  byId("tabs").hidden = true;
  byId("session").hidden = true;
  byId("signin-view").hidden = false;
  delete document.body.dataset.role;
  clearAnnouncements();
  announce(message, kind);
  byId("api-key").focus();
}

function onKeyDown(event) {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  if (byId("help-dialog").open || byId("confirm-dialog").open) return;
  if (isTyping(event.target)) return;
  if (event.key === "?") {
    event.preventDefault();
    openHelp();
    return;
  }
  if (!ctx.role || view !== "queue") return;
  if (queueKey(event.key)) event.preventDefault();
}

function openHelp() {
  byId("help-dialog").showModal();
  byId("help-close").focus();
}

function init() {
  initQueue(ctx);
  initDecided(ctx);
  initAdmin(ctx);

  byId("signin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = byId("api-key").value.trim();
    if (!key) {
      byId("signin-error").textContent = "Enter an API key.";
      byId("signin-error").hidden = false;
      byId("api-key").focus();
      return;
    }
    signIn(key);
  });
  byId("sign-out").addEventListener("click", () => signOut());
  byId("alert-close").addEventListener("click", () => {
    byId("alert-box").hidden = true;
    byId("alert").textContent = "";
  });
  byId("help-button").addEventListener("click", openHelp);
  byId("help-close").addEventListener("click", () => byId("help-dialog").close());
  byId("confirm-yes").addEventListener("click", () => byId("confirm-dialog").close("yes"));
  byId("confirm-no").addEventListener("click", () => byId("confirm-dialog").close("no"));
  for (const tab of byId("tabs").querySelectorAll("button[data-view]")) {
    tab.addEventListener("click", () => showView(tab.dataset.view));
  }
  document.addEventListener("keydown", onKeyDown);
  onUnauthorized(() => {
    if (ctx.role) leave("Your key is no longer accepted (revoked?). Sign in again.", "error");
  });
  // Decisions still waiting for their undo delay are sent when the page goes away.
  window.addEventListener("pagehide", () => {
    flushPending({ keepalive: true });
  });

  const key = storedKey();
  if (key) signIn(key, { restoring: true });
  else byId("api-key").focus();
}

init();
