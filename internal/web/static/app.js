// The todo system's page: plain ES module, no framework. It calls only
// web-app's own routes (/session, /auth/..., /stream) and the public API
// under /api/, which web-app proxies to todo-api with the user's token.
import { zonedToInstant, instantToZoned, formatIn, browserZone, dayIn } from "./time.js";

const $ = (sel) => document.querySelector(sel);
const el = (tag, props = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
  }
  for (const kid of kids) if (kid !== null && kid !== undefined) e.append(kid);
  return e;
};

// ---- API -----------------------------------------------------------------

class APIError extends Error {
  constructor(status, body) {
    super((body && body.error && body.error.message) || `HTTP ${status}`);
    this.status = status;
    this.code = body && body.error && body.error.code;
    this.field = body && body.error && body.error.field;
  }
}

async function call(method, path, body) {
  const opts = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(path, opts);
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = null; }
  if (resp.status === 401 && path.startsWith("/api/")) { showSignIn(); }
  if (!resp.ok) throw new APIError(resp.status, data);
  return data;
}

// ---- state ---------------------------------------------------------------

const state = {
  user: null,
  tasks: [],
  cursor: null,
  editing: null, // the task being edited, null for a new one
  detail: null, // id of the task shown in the detail dialog
  notifications: new Map(), // id -> notification, newest first by created_at
  unread: 0,
  stream: null,
  pendingDeletes: new Map(), // task id -> timer
};
const channel = "BroadcastChannel" in window ? new BroadcastChannel("todo") : null;

// ---- messages ------------------------------------------------------------

function alertMsg(msg) {
  const a = $("#alert");
  a.textContent = msg;
  a.hidden = !msg;
}

function toast(msg, action) {
  const t = el("div", { class: "toast", role: "status" }, el("span", { text: msg }));
  if (action) t.append(el("button", { type: "button", text: action.label, onclick: () => { action.run(); t.remove(); } }));
  $("#toasts").append(t);
  setTimeout(() => t.remove(), action ? action.ms : 6000);
}

// ---- sign-in -------------------------------------------------------------

// The texts of the sign-in failures web-app reports by code. Only these
// are ever shown: the URL is anyone's to write.
const signinErrors = {
  provider_refused: "Your identity provider refused the sign-in.",
  expired: "This sign-in expired or was started in another browser; sign in again.",
  code_refused: "The sign-in code was refused; sign in again.",
  bad_id_token: "The identity provider's answer could not be verified; sign in again.",
  bad_subject: "Your identity provider's user id cannot be used here.",
  rate_limited: "Too many sign-in attempts from your address; wait a minute and try again.",
};

async function boot() {
  const params = new URLSearchParams(location.search);
  if (params.has("signin_error")) {
    const p = $("#signin-error");
    const code = params.get("signin_error");
    p.textContent = Object.hasOwn(signinErrors, code) ? signinErrors[code] : "The sign-in failed; try again.";
    p.hidden = false;
    history.replaceState(null, "", "/");
  }
  let info;
  try { info = await call("GET", "/session"); } catch (e) { alertMsg("The service is unavailable: " + e.message); return; }
  $("#dev-form").hidden = !info.dev_signin;
  $("#oidc-box").hidden = !info.oidc;
  if (info.oidc) $("#oidc-login").textContent = "Sign in with " + (info.provider || "your identity provider");
  if (info.signed_in) start(info); else showSignIn();
}

function showSignIn() {
  state.user = null;
  if (state.stream) { state.stream.close(); state.stream = null; }
  $("#who").hidden = true;
  $("#main").hidden = true;
  $("#notifications").hidden = true;
  $("#signin").hidden = false;
  $("#dev-user").focus();
}

$("#dev-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  clearFieldError($("#dev-user"));
  try {
    await call("POST", "/auth/dev", { user: $("#dev-user").value });
    const info = await call("GET", "/session");
    start(info);
  } catch (e) {
    showFieldError($("#dev-user"), $("#dev-user-error"), e.message);
  }
});

$("#signout").addEventListener("click", async () => {
  try { await call("POST", "/auth/logout"); } catch (e) { alertMsg(e.message); return; }
  channel && channel.postMessage({ type: "signout" });
  showSignIn();
});

function start(info) {
  state.user = info.user;
  $("#user-name").textContent = "Signed in as " + (info.name || info.user);
  $("#signin").hidden = true;
  $("#who").hidden = false;
  $("#main").hidden = false;
  $("#enable-notifications").hidden = !("Notification" in window) || Notification.permission !== "default";
  openStream();
  $("#quick-title").focus();
}

// ---- live stream ---------------------------------------------------------

function openStream() {
  if (state.stream) state.stream.close();
  const es = new EventSource("/stream");
  state.stream = es;
  // hello comes first on every (re)connect: re-sync everything, so that
  // nothing pushed while the connection was down is missed.
  es.addEventListener("hello", () => { alertMsg(""); resync(); });
  es.addEventListener("task", (m) => {
    const e = JSON.parse(m.data);
    scheduleReload();
    if (state.detail === e.task_id) showDetail(e.task_id);
  });
  es.addEventListener("reminder", (m) => onReminder(JSON.parse(m.data)));
  es.onerror = () => {
    if (es.readyState === EventSource.CLOSED) {
      // The server refused the stream (signed out, too many tabs): check.
      call("GET", "/session").then((i) => { if (!i.signed_in) showSignIn(); else setTimeout(openStream, 3000); }).catch(() => setTimeout(openStream, 3000));
    }
  };
}

let reloadTimer = null;
function scheduleReload() {
  clearTimeout(reloadTimer);
  reloadTimer = setTimeout(() => loadTasks(false), 150);
}

function resync() {
  loadTasks(false);
  loadNotifications();
  if (state.detail) showDetail(state.detail);
}

// ---- task list -----------------------------------------------------------

function query(cursor) {
  const q = new URLSearchParams({ status: $("#f-status").value, sort: $("#f-sort").value, order: $("#f-order").value, limit: "20" });
  if ($("#f-priority").value) q.set("priority", $("#f-priority").value);
  if ($("#f-tag").value.trim()) q.set("tag", $("#f-tag").value.trim());
  if ($("#f-q").value.trim()) q.set("q", $("#f-q").value.trim());
  if (cursor) q.set("cursor", cursor);
  return "/api/tasks?" + q;
}

let loadSeq = 0;
async function loadTasks(more) {
  const seq = ++loadSeq;
  try {
    // A reload keeps as many tasks as were shown (pages of 20).
    let tasks = more ? state.tasks.slice() : [];
    let cursor = more ? state.cursor : null;
    const want = more ? tasks.length + 1 : Math.max(20, state.tasks.length);
    do {
      const page = await call("GET", query(cursor));
      tasks = tasks.concat(page.tasks);
      cursor = page.next_cursor;
    } while (cursor && tasks.length < want);
    if (seq !== loadSeq) return; // a newer load won
    state.tasks = tasks;
    state.cursor = cursor;
    renderTasks();
  } catch (e) {
    if (e.status !== 401) alertMsg(e.field ? `${e.field}: ${e.message}` : e.message);
  }
}

function renderTasks() {
  const ul = $("#tasks");
  const visible = state.tasks.filter((t) => !state.pendingDeletes.has(t.id));
  ul.replaceChildren(...visible.map(taskItem));
  $("#empty").hidden = visible.length > 0;
  $("#load-more").hidden = !state.cursor;
}

function dueClass(t) {
  if (!t.due_at || t.completed) return "";
  const now = new Date();
  if (new Date(t.due_at) < now) return "overdue";
  const zone = t.timezone || browserZone();
  return dayIn(t.due_at, zone) === dayIn(now.toISOString(), zone) ? "today" : "";
}

function taskItem(t) {
  const due = dueClass(t);
  const meta = el("div", { class: "meta" });
  if (due === "overdue") meta.append(el("span", { class: "badge overdue", text: "Overdue" }));
  if (due === "today") meta.append(el("span", { class: "badge today", text: "Due today" }));
  if (t.due_at) meta.append(el("span", { text: "Due " + formatIn(t.due_at, t.timezone) }));
  if (t.reminder_at) meta.append(el("span", { text: "Reminder " + formatIn(t.reminder_at, t.timezone) }));
  if (t.priority && t.priority !== "none") meta.append(el("span", { class: "badge " + t.priority, text: t.priority + " priority" }));
  if (t.recurrence && t.recurrence !== "none") meta.append(el("span", { class: "badge", text: "repeats " + t.recurrence }));
  for (const tag of t.tags || []) meta.append(el("span", { class: "badge", text: "#" + tag }));
  const box = el("input", { type: "checkbox", "aria-label": (t.completed ? "Reopen " : "Complete ") + t.title, "data-testid": "complete" });
  box.checked = t.completed;
  box.addEventListener("change", () => toggle(t, box));
  return el("li", { class: ["task", due, t.completed ? "done" : ""].join(" ").trim(), "data-id": t.id, "data-testid": "task" },
    box,
    el("div", {},
      el("button", { type: "button", class: "title", "data-testid": "task-title", onclick: () => showDetail(t.id) , text: t.title }),
      meta),
    el("div", { class: "actions" },
      el("button", { type: "button", "data-testid": "edit", "aria-label": "Edit " + t.title, text: "Edit", onclick: () => openForm(t) }),
      el("button", { type: "button", class: "danger", "data-testid": "delete", "aria-label": "Delete " + t.title, text: "Delete", onclick: () => remove(t) })));
}

async function toggle(t, box) {
  try {
    await call("POST", `/api/tasks/${t.id}/${t.completed ? "reopen" : "complete"}`);
    if (!t.completed && t.recurrence !== "none") toast(`Done. The next "${t.title}" is on its way.`);
    loadTasks(false);
  } catch (e) {
    box.checked = t.completed;
    alertMsg(e.message);
  }
}

// Delete offers undo: the task is hidden at once and deleted when the
// toast ends (or when the page is left).
function remove(t) {
  const timer = setTimeout(() => reallyDelete(t.id), 5000);
  state.pendingDeletes.set(t.id, timer);
  renderTasks();
  toast(`Deleted "${t.title}".`, { label: "Undo", ms: 5000, run: () => { clearTimeout(timer); state.pendingDeletes.delete(t.id); renderTasks(); } });
}

async function reallyDelete(id) {
  state.pendingDeletes.delete(id);
  try { await call("DELETE", `/api/tasks/${id}`); } catch (e) { if (e.status !== 404) alertMsg(e.message); }
  loadTasks(false);
}

window.addEventListener("pagehide", () => {
  for (const [id, timer] of state.pendingDeletes) {
    clearTimeout(timer);
    fetch(`/api/tasks/${id}`, { method: "DELETE", credentials: "same-origin", keepalive: true });
  }
});

for (const id of ["#f-status", "#f-priority", "#f-sort", "#f-order"]) $(id).addEventListener("change", () => loadTasks(false));
let typing = null;
for (const id of ["#f-q", "#f-tag"]) $(id).addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => loadTasks(false), 250); });
$("#load-more").addEventListener("click", () => loadTasks(true));

// ---- quick add and the full form -----------------------------------------

$("#quick-add").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const input = $("#quick-title");
  clearFieldError(input);
  try {
    await call("POST", "/api/tasks", { title: input.value, timezone: browserZone() });
    input.value = "";
    loadTasks(false);
  } catch (e) {
    showFieldError(input, $("#quick-title-error"), e.message);
  }
});

$("#open-form").addEventListener("click", () => openForm(null));
$("#form-cancel").addEventListener("click", () => $("#task-dialog").close());

const zones = Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [];
$("#zones").replaceChildren(...zones.map((z) => el("option", { value: z })));

const fields = ["title", "description", "priority", "tags", "due_at", "reminder_at", "recurrence", "timezone"];
const input = (f) => $("#task-form").elements[f];

function openForm(t) {
  state.editing = t;
  $("#form-title").textContent = t ? "Edit task" : "New task";
  for (const f of fields) clearFieldError(input(f));
  $("#form-error").hidden = true;
  const zone = (t && t.timezone) || browserZone();
  input("title").value = t ? t.title : $("#quick-title").value;
  input("description").value = t ? t.description : "";
  input("priority").value = t ? t.priority : "none";
  input("tags").value = t ? (t.tags || []).join(", ") : "";
  input("recurrence").value = t ? t.recurrence : "none";
  input("timezone").value = zone;
  input("due_at").value = t && t.due_at ? instantToZoned(t.due_at, zone) : "";
  input("reminder_at").value = t && t.reminder_at ? instantToZoned(t.reminder_at, zone) : "";
  $("#task-dialog").showModal();
  input("title").focus();
}

// formValues reads the form into the API's shape; a wall-clock time that
// does not convert is reported at its field before anything is sent.
function formValues() {
  const zone = input("timezone").value.trim();
  const v = {
    title: input("title").value,
    description: input("description").value,
    priority: input("priority").value,
    tags: input("tags").value.split(",").map((s) => s.trim()).filter(Boolean),
    recurrence: input("recurrence").value,
    timezone: zone,
  };
  for (const f of ["due_at", "reminder_at"]) {
    const raw = input(f).value;
    if (!raw) { v[f] = null; continue; }
    const at = zonedToInstant(raw, zone || browserZone());
    if (!at) throw new APIError(400, { error: { field: zone && zones.length && !zones.includes(zone) ? "timezone" : f, message: "not a valid date and time in this time zone" } });
    v[f] = at;
  }
  return v;
}

$("#task-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  for (const f of fields) clearFieldError(input(f));
  $("#form-error").hidden = true;
  try {
    const v = formValues();
    const t = state.editing;
    if (t) {
      // Only what changed is sent; an empty field is null (cleared).
      const patch = {};
      const before = { ...t, tags: t.tags || [] };
      for (const f of fields) {
        if (JSON.stringify(v[f]) !== JSON.stringify(before[f])) patch[f] = v[f];
      }
      if (Object.keys(patch).length) await call("PATCH", `/api/tasks/${t.id}`, patch);
    } else {
      const body = { ...v };
      for (const f of ["due_at", "reminder_at"]) if (body[f] === null) delete body[f];
      await call("POST", "/api/tasks", body);
      $("#quick-title").value = "";
    }
    $("#task-dialog").close();
    loadTasks(false);
  } catch (e) {
    const f = fields.includes(e.field) ? e.field : null;
    if (f) showFieldError(input(f), $(`#t-${f}-error`), e.message);
    else { const p = $("#form-error"); p.textContent = e.message; p.hidden = false; }
  }
});

function showFieldError(inputEl, p, msg) {
  inputEl.setAttribute("aria-invalid", "true");
  p.textContent = msg;
  p.hidden = false;
  inputEl.focus();
}

function clearFieldError(inputEl) {
  inputEl.removeAttribute("aria-invalid");
  const id = inputEl.getAttribute("aria-describedby");
  if (id) { const p = document.getElementById(id); p.hidden = true; p.textContent = ""; }
}

// ---- detail and history --------------------------------------------------

const dialogDetail = $("#detail-dialog");
$("#detail-close").addEventListener("click", () => dialogDetail.close());
dialogDetail.addEventListener("close", () => { state.detail = null; });

async function showDetail(id) {
  state.detail = id;
  let t, h;
  try {
    [t, h] = await Promise.all([call("GET", `/api/tasks/${id}`).catch((e) => (e.status === 404 ? null : Promise.reject(e))), call("GET", `/api/tasks/${id}/history`)]);
  } catch (e) { alertMsg(e.message); return; }
  const zone = (t && t.timezone) || browserZone();
  $("#detail-title").textContent = t ? t.title : `Task ${id} (deleted)`;
  const dl = $("#detail-fields");
  dl.replaceChildren();
  const row = (k, v) => { if (v) dl.append(el("dt", { text: k }), el("dd", { text: v })); };
  if (t) {
    row("Description", t.description);
    row("Priority", t.priority);
    row("Tags", (t.tags || []).join(", "));
    row("Due", t.due_at && formatIn(t.due_at, zone));
    row("Reminder", t.reminder_at && formatIn(t.reminder_at, zone));
    row("Repeats", t.recurrence !== "none" && t.recurrence);
    row("Time zone", zone);
    row("Status", t.completed ? "completed " + formatIn(t.completed_at, zone) : "open");
    if (t.series_id && t.series_id !== t.id) row("Occurrence of", `the series started by task ${t.series_id}`);
  }
  const ol = $("#history");
  let prev = null;
  ol.replaceChildren(...h.events.map((ev) => {
    const li = el("li", { "data-testid": "history-entry" },
      el("strong", { text: label(ev.event_type) }), " ",
      el("span", { class: "when", text: formatIn(ev.timestamp, zone) + " by " + (ev.data.user_id || "?") }));
    const changes = diff(prev, ev.data, zone);
    if (changes.length) li.append(el("div", { text: changes.join("; ") }));
    if (!prev && ev.data.series_id && ev.data.series_id !== ev.data.task_id) {
      li.append(el("div", { text: `Created as the next occurrence in the series of task ${ev.data.series_id}` }));
    }
    prev = ev.data;
    return li;
  }));
  if (!dialogDetail.open) dialogDetail.showModal();
}

const label = (type) => ({ TaskCreated: "Created", TaskUpdated: "Updated", TaskCompleted: "Completed", TaskDeleted: "Deleted" })[type] || type;

function diff(a, b, zone) {
  if (!a) return [];
  const out = [];
  for (const f of ["title", "description", "priority", "tags", "due_at", "reminder_at", "recurrence", "timezone", "completed"]) {
    const x = JSON.stringify(a[f] ?? null), y = JSON.stringify(b[f] ?? null);
    if (x === y) continue;
    const show = (v) => (v === null || v === undefined || v === "" ? "none" : f.endsWith("_at") ? formatIn(v, zone) : Array.isArray(v) ? v.join(", ") || "none" : String(v));
    out.push(`${f.replace("_at", "")}: ${show(a[f])} → ${show(b[f])}`);
  }
  return out;
}

// ---- notifications -------------------------------------------------------

const panel = $("#notifications");
$("#bell").addEventListener("click", () => {
  panel.hidden = !panel.hidden;
  $("#bell").setAttribute("aria-expanded", String(!panel.hidden));
  if (!panel.hidden) { loadNotifications(); $("#mark-all").focus(); }
});
$("#close-notifications").addEventListener("click", () => { panel.hidden = true; $("#bell").setAttribute("aria-expanded", "false"); $("#bell").focus(); });
document.addEventListener("keydown", (e) => { if (e.key === "Escape" && !panel.hidden) $("#close-notifications").click(); });

async function loadNotifications() {
  try {
    const page = await call("GET", "/api/notifications?limit=50");
    // The pushes that reached us before the inbox had them stay.
    const pushed = [...state.notifications.values()].filter((n) => n.pushed && !page.notifications.some((m) => m.id === n.id));
    state.notifications = new Map([...pushed, ...page.notifications].map((n) => [n.id, n]));
    state.unread = page.unread + pushed.filter((n) => !n.read_at).length;
    renderNotifications();
  } catch (e) {
    if (e.status !== 401) alertMsg(e.message);
  }
}

function renderNotifications() {
  const unread = state.unread;
  $("#unread").textContent = String(unread);
  $("#bell").setAttribute("aria-label", `Notifications, ${unread} unread`);
  const items = [...state.notifications.values()];
  $("#notification-list").replaceChildren(...(items.length ? items.map((n) => {
    const when = n.due_at ? "due " + formatIn(n.due_at) : "reminder " + formatIn(n.reminder_at);
    const li = el("li", { class: n.read_at ? "" : "unread", "data-testid": "notification", "data-id": n.id },
      el("span", {}, el("span", { class: "ntitle", text: n.title }), el("br"), el("span", { class: "hint", text: when })));
    if (!n.read_at) li.append(el("button", { type: "button", "data-testid": "mark-read", "aria-label": "Mark read: " + n.title, text: "Mark read", onclick: () => markRead(n.id) }));
    return li;
  }) : [el("li", { class: "hint", text: "No notifications yet." })]));
}

async function markRead(id) {
  try {
    await call("POST", `/api/notifications/${id}/read`);
  } catch (e) { if (e.status !== 404) { alertMsg(e.message); return; } }
  channel && channel.postMessage({ type: "notifications" });
  loadNotifications();
}

$("#mark-all").addEventListener("click", async () => {
  const unread = [...state.notifications.values()].filter((n) => !n.read_at);
  for (const n of unread) {
    try { await call("POST", `/api/notifications/${n.id}/read`); } catch (e) { if (e.status !== 404) { alertMsg(e.message); break; } }
  }
  channel && channel.postMessage({ type: "notifications" });
  loadNotifications();
});

function onReminder(r) {
  if (!state.notifications.has(r.id)) {
    state.notifications = new Map([[r.id, { ...r, created_at: new Date().toISOString(), read_at: null, pushed: true }], ...state.notifications]);
    state.unread += 1;
    renderNotifications();
  }
  const body = r.due_at ? "Due " + formatIn(r.due_at) : "Reminder for " + formatIn(r.reminder_at);
  toast(`Reminder: ${r.title}. ${body}.`);
  if ("Notification" in window && Notification.permission === "granted") {
    try { new Notification(r.title, { body, tag: r.id }); } catch { /* some browsers need a service worker */ }
  }
  // The inbox has it by now or soon: take its real state.
  setTimeout(loadNotifications, 1500);
}

$("#enable-notifications").addEventListener("click", async () => {
  const p = await Notification.requestPermission();
  $("#enable-notifications").hidden = p !== "default";
  toast(p === "granted" ? "Browser notifications are on." : "Browser notifications stay off.");
});

if (channel) {
  channel.onmessage = (m) => {
    if (m.data.type === "notifications") loadNotifications();
    if (m.data.type === "signout") showSignIn();
  };
}

boot();
