// The live queue: the service pushes what changes in the review queue (Server-Sent
// Events from GET /v1/queue/events), so the page stays true without reloading.
//
// EventSource cannot send an Authorization header, and the API key never goes in a URL
// (api.js). So each connection first POSTs /v1/queue/events/token with the key, and
// opens the stream with that token: good for one stream, for one minute, useless after.
// A dropped stream is opened again with a fresh token after a backoff (1 s doubling to
// 30 s, with jitter), resuming after the last event id it saw (?last_event_id=, since a
// new EventSource cannot send Last-Event-ID): nothing in between is missed. When the
// service cannot replay that far ("reset"), the count it sends next is still exact.
//
// What a change means for the view is decided here; queue.js hands over a few hooks
// (startLive(hooks): has, remove, refresh, isEmpty, claimMore, setTotal):
//  - another moderator's claim, any decision, the author's deletion: the comment leaves
//    the batch, with a word saying why;
//  - the author's edit of a comment in the batch: its new text is shown;
//  - a comment newly held (or released by another moderator): claimed at once when the
//    batch is empty, else counted in a "N new" bar that claims them on request;
//  - "count": the exact number pending in the queue.
// Every change is also dispatched on document as a "moderation:live" CustomEvent.

import { api, path, query } from "./api.js";
import { byId, h } from "./dom.js";
import { plural } from "./format.js";
import { announce } from "./widgets.js";

const FIRST_RETRY_MS = 1000;
const LAST_RETRY_MS = 30000;

const live = {
  hooks: null,
  running: false,
  // Bumped by every stop: callbacks of an older connection find it changed and do nothing.
  generation: 0,
  source: null,
  lastId: null,
  retryMs: FIRST_RETRY_MS,
  timer: null,
  fresh: 0,
};

/** Open the stream (once; later calls only replace the hooks). */
export function startLive(hooks) {
  live.hooks = hooks;
  if (live.running) return;
  live.running = true;
  live.generation += 1;
  connect(live.generation);
}

/** Close the stream and forget it (sign-out). */
export function stopLive() {
  live.running = false;
  live.generation += 1;
  clearTimeout(live.timer);
  if (live.source) live.source.close();
  live.source = null;
  live.lastId = null;
  live.retryMs = FIRST_RETRY_MS;
  live.fresh = 0;
  renderStatus("off");
  renderFresh();
}

async function connect(generation) {
  let token;
  try {
    token = (await api("POST", "/v1/queue/events/token")).token;
  } catch {
    // A 401 signs the page out (api.js), which stops this; anything else: try again.
    retry(generation);
    return;
  }
  if (generation !== live.generation) return;
  const params = { token };
  if (live.lastId !== null) params.last_event_id = live.lastId;
  const source = new EventSource(`/v1/queue/events${query(params)}`);
  live.source = source;
  source.addEventListener("open", () => {
    live.retryMs = FIRST_RETRY_MS;
    renderStatus("live");
  });
  source.addEventListener("change", (event) => {
    if (event.lastEventId) live.lastId = event.lastEventId;
    const change = parse(event.data);
    if (change) onChange(change);
  });
  source.addEventListener("count", (event) => {
    const count = parse(event.data);
    if (!count || typeof count.pending !== "number") return;
    if (count.pending === 0) {
      live.fresh = 0;
      renderFresh();
    }
    if (live.hooks) live.hooks.setTotal(count.pending);
  });
  // The service ends a stream when it stops (another process takes over) or when this
  // page read too slowly; EventSource's own reconnection would reuse the spent token.
  const reopen = () => {
    if (live.source !== source) return;
    source.close();
    live.source = null;
    retry(generation);
  };
  source.addEventListener("end", reopen);
  source.addEventListener("error", reopen);
}

function retry(generation) {
  if (!live.running || generation !== live.generation) return;
  renderStatus("reconnecting");
  clearTimeout(live.timer);
  const delay = live.retryMs * (0.5 + Math.random());
  live.retryMs = Math.min(live.retryMs * 2, LAST_RETRY_MS);
  live.timer = setTimeout(() => {
    if (generation === live.generation) connect(generation);
  }, delay);
}

function parse(data) {
  try {
    return JSON.parse(data);
  } catch {
    return null;
  }
}

function onChange(change) {
  document.dispatchEvent(new CustomEvent("moderation:live", { detail: change }));
  const hooks = live.hooks;
  const id = change.comment_id;
  if (!hooks || typeof id !== "string") return;
  const who = change.by || "another moderator";
  switch (change.change) {
    case "claimed":
      if (!change.mine && hooks.has(id)) hooks.remove(id, `${id} left your batch: ${who} claimed it.`);
      break;
    case "decided":
      if (hooks.has(id)) {
        const how = change.status === "approved" ? "approved" : change.status === "rejected" ? "rejected" : "decided";
        // No key behind it: the service decided it again (after its author's edit, say).
        const why = change.by ? `${change.mine ? "you" : who} ${how} it` : `it is now ${change.status}`;
        hooks.remove(id, `${id} left your batch: ${why}.`);
      }
      break;
    case "deleted":
      if (hooks.has(id)) hooks.remove(id, `${id} left your batch: its author deleted it.`);
      break;
    case "updated":
      if (hooks.has(id)) refresh(id);
      break;
    case "held":
    case "released":
      if (change.change === "released" && change.mine) break;
      if (hooks.isEmpty()) hooks.claimMore();
      else if (change.change === "held") {
        live.fresh += 1;
        renderFresh();
      }
      break;
    default:
      break;
  }
}

async function refresh(id) {
  let fresh;
  try {
    fresh = await api("GET", path`/v1/comments/${id}`);
  } catch {
    return;
  }
  if (live.hooks && live.hooks.has(id)) {
    live.hooks.refresh(id, fresh);
    announce(`${id} changed (its author edited it): the new version is shown.`);
  }
}

// -- the page's parts: a status word and the "N new" bar, next to the queue summary --------

function element(id, build) {
  const found = document.getElementById(id);
  if (found) return found;
  const made = build();
  byId("queue-summary").after(made);
  return made;
}

function renderStatus(state) {
  const status = element("live-status", () => h("span", { id: "live-status", class: "live-status muted", role: "status" }));
  status.dataset.state = state;
  status.textContent = state === "live" ? "● Live" : state === "reconnecting" ? "Reconnecting…" : "";
  status.title = state === "live" ? "The queue updates by itself" : "";
}

function renderFresh() {
  const bar = element("live-new", () =>
    h(
      "p",
      { id: "live-new", class: "live-new", hidden: true },
      h("span", { id: "live-new-text" }),
      " ",
      h("button", { type: "button", class: "secondary", id: "live-new-claim", on: { click: claimFresh } }, "Claim them"),
    ),
  );
  bar.hidden = live.fresh === 0;
  byId("live-new-text").textContent = `${plural(live.fresh, "new comment")} held since you claimed your batch.`;
}

function claimFresh() {
  live.fresh = 0;
  renderFresh();
  if (live.hooks) live.hooks.claimMore();
}
