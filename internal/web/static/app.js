// The todo system's page: plain ES module, no framework. It calls only
// web-app's own routes (/session, /auth/..., /stream) and the public API
// under /api/, which web-app proxies to todo-api with the user's token.
import { zonedToInstant, instantToZoned, formatIn, formatDay, browserZone, dayIn } from "./time.js";
import {
  WEEKDAYS, PRESETS, UNITS, MAX_REMINDERS, blank, fitDue, parseRule, fromRecurrence, buildRule,
  durationOf, describeBefore, toEditor, fromEditor, sameReminders,
} from "./rules.js";

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
  notifications: new Map(), // id -> notification, in the inbox's order (newest reminder first), pushes not yet in it first
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
  // Focus in the list stays where it was across a reload (live updates
  // reload it at any moment): on the same control of the same task, else
  // on the task that took its place, else on the quick add.
  const active = document.activeElement;
  const was = active && ul.contains(active) ? active.closest("[data-testid=task]") : null;
  const keep = was && { id: was.dataset.id, control: active.dataset.testid, index: [...ul.children].indexOf(was) };
  ul.replaceChildren(...visible.map(taskItem));
  if (keep) {
    const li = ul.querySelector(`[data-id="${keep.id}"]`) || ul.children[Math.min(keep.index, ul.children.length - 1)];
    const same = li && li.dataset.id === keep.id && li.querySelector(`[data-testid="${keep.control}"]`);
    (same || (li && li.querySelector("[data-testid=task-title]")) || $("#quick-title")).focus();
  }
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

// repeats says whether t is an occurrence of a series: a rule, or the
// simple repeat.
const repeats = (t) => !!t.rrule || (!!t.recurrence && t.recurrence !== "none");

// ruleOf is t's rule for the preview route: its RRULE, or the simple
// repeat written as one.
const ruleOf = (t) => t.rrule || ({ daily: "FREQ=DAILY", weekly: "FREQ=WEEKLY", monthly: "FREQ=MONTHLY", yearly: "FREQ=YEARLY" })[t.recurrence] || null;

// The API's summaries of the rules the list shows ("every 2 weeks on
// Monday and Thursday"), one request per rule, zone and start (days a
// rule leaves to its start are named from it), a few at a time, the last
// few hundred kept.
const summaries = new Map(); // key -> {value} once known, or a promise
const summaryQueue = [];
let summaryActive = 0;

function summaryOf(t) {
  const rule = ruleOf(t);
  const start = t.due_at || (t.reminders || []).filter((r) => r.at).map((r) => r.at).sort()[0];
  if (!rule || !start) return null;
  const zone = t.timezone || "UTC";
  const key = `${rule}|${zone}|${start}`;
  let s = summaries.get(key);
  if (!s) {
    s = new Promise((resolve) => { summaryQueue.push({ rule, start, zone, key, resolve }); pumpSummaries(); });
    summaries.set(key, s);
    if (summaries.size > 500) summaries.delete(summaries.keys().next().value);
  }
  return s;
}

function pumpSummaries() {
  while (summaryActive < 3 && summaryQueue.length) {
    const job = summaryQueue.shift();
    summaryActive++;
    call("GET", "/api/recurrence/preview?" + new URLSearchParams({ rrule: job.rule, start: job.start, timezone: job.zone, count: "1" }))
      .then((p) => { summaries.set(job.key, { value: p.summary }); job.resolve({ value: p.summary }); },
        () => { summaries.delete(job.key); job.resolve(null); })
      .finally(() => { summaryActive--; pumpSummaries(); });
  }
}

// repeatText fills span with t's summary: at once when known, else when
// the API answers (the simple repeat's name until then).
function repeatText(t, span, prefix = "Repeats ") {
  span.textContent = prefix + (t.recurrence !== "none" ? t.recurrence : "");
  const s = summaryOf(t);
  if (!s) return;
  const put = (v) => { if (v) { span.textContent = prefix + v.value; span.dataset.summary = v.value; } };
  if (s.value !== undefined) put(s);
  else s.then(put);
}

function taskItem(t) {
  const due = dueClass(t);
  const meta = el("div", { class: "meta" });
  if (due === "overdue") meta.append(el("span", { class: "badge overdue", text: "Overdue" }));
  if (due === "today") meta.append(el("span", { class: "badge today", text: "Due today" }));
  if (t.completed && t.skipped) meta.append(el("span", { class: "badge skipped", "data-testid": "skipped", text: "Skipped" }));
  if (t.due_at) meta.append(el("span", { text: "Due " + formatIn(t.due_at, t.timezone) }));
  if (t.reminder_at) meta.append(el("span", { "data-testid": "next-reminder", text: "Next reminder " + formatIn(t.reminder_at, t.timezone) }));
  if (t.priority && t.priority !== "none") meta.append(el("span", { class: "badge " + t.priority, text: t.priority + " priority" }));
  if (repeats(t)) {
    const span = el("span", { class: "badge", "data-testid": "repeat-summary" });
    repeatText(t, span);
    meta.append(span);
  }
  if (t.rrule && t.last_in_series) meta.append(el("span", { class: "badge", "data-testid": "last-in-series", text: "Last in series" }));
  for (const tag of t.tags || []) meta.append(el("span", { class: "badge", text: "#" + tag }));
  const box = el("input", { type: "checkbox", "aria-label": (t.completed ? "Reopen " : "Complete ") + t.title, "data-testid": "complete" });
  box.checked = t.completed;
  box.addEventListener("change", () => toggle(t, box));
  const actions = el("div", { class: "actions" });
  if (!t.completed && repeats(t)) {
    const skipButton = el("button", { type: "button", "data-testid": "skip", "aria-label": "Skip this occurrence of " + t.title, text: "Skip" });
    skipButton.addEventListener("click", () => skip(t, skipButton));
    actions.append(skipButton);
  }
  actions.append(
    el("button", { type: "button", "data-testid": "edit", "aria-label": "Edit " + t.title, text: "Edit", onclick: () => openForm(t) }),
    el("button", { type: "button", class: "danger", "data-testid": "delete", "aria-label": "Delete " + t.title, text: "Delete", onclick: () => remove(t) }));
  return el("li", { class: ["task", due, t.completed ? "done" : ""].join(" ").trim(), "data-id": t.id, "data-testid": "task" },
    box,
    el("div", {},
      el("button", { type: "button", class: "title", "data-testid": "task-title", onclick: () => showDetail(t.id) , text: t.title }),
      meta),
    actions);
}

// nextNote is what a closed occurrence's toast says about the next one.
const nextNote = (t) => (!repeats(t) ? "" : t.last_in_series ? " That was the last one of its series." : ` The next "${t.title}" is on its way.`);

async function toggle(t, box) {
  try {
    await call("POST", `/api/tasks/${t.id}/${t.completed ? "reopen" : "complete"}`);
    if (!t.completed && repeats(t)) toast("Done." + nextNote(t));
    loadTasks(false);
  } catch (e) {
    box.checked = t.completed;
    alertMsg(e.message);
  }
}

// skip closes an occurrence without doing it; recurring-service makes the
// next one as after a completion, and the live stream brings it.
async function skip(t, button) {
  if (button.dataset.busy) return; // pressed twice
  button.dataset.busy = "1";
  try {
    await call("POST", `/api/tasks/${t.id}/skip`);
    toast("Skipped." + nextNote(t));
    loadTasks(false);
  } catch (e) {
    delete button.dataset.busy;
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

// The fields the form sends as they are; the repeat and the reminders have
// editors of their own.
const fields = ["title", "description", "priority", "tags", "due_at", "timezone"];
const input = (f) => $("#task-form").elements[f];

// errorPlace is where an error of the API's field is shown: the control
// that gets focus and aria-invalid, and its error text.
function errorPlace(field) {
  if (fields.includes(field)) return [input(field), $(`#t-${field}-error`)];
  if (["rrule", "recurrence", "repeat_from"].includes(field)) return [$("#r-preset"), $("#t-rrule-error")];
  if (["reminders", "reminder_at"].includes(field)) return [$("#rem-kind"), $("#t-reminders-error")];
  return null;
}

// fieldError is a refusal found before anything is sent, shown like the
// API's at field (and at control, when that is not the field's own).
function fieldError(field, message, control) {
  const e = new APIError(400, { error: { field, message } });
  e.control = control;
  return e;
}

const formZone = () => input("timezone").value.trim() || browserZone();

// ruleCtx is what the editors hang on: the form's zone and due time (null
// when there is none or it does not convert), and whether one was typed.
function ruleCtx() {
  const zone = formZone(), raw = input("due_at").value;
  const due = raw ? zonedToInstant(raw, zone) : null;
  return { zone, due, dueTyped: !!raw };
}

function openForm(t) {
  state.editing = t;
  $("#form-title").textContent = t ? "Edit task" : "New task";
  clearFormErrors();
  const zone = (t && t.timezone) || browserZone();
  input("title").value = t ? t.title : $("#quick-title").value;
  input("description").value = t ? t.description : "";
  input("priority").value = t ? t.priority : "none";
  input("tags").value = t ? (t.tags || []).join(", ") : "";
  input("timezone").value = zone;
  input("due_at").value = t && t.due_at ? instantToZoned(t.due_at, zone) : "";
  loadRepeat(t);
  loadReminders(t);
  $("#task-dialog").showModal();
  input("title").focus();
}

// formValues reads the plain fields into the API's shape; a wall-clock
// time that does not convert is reported at its field before anything is
// sent.
function formValues() {
  const zone = input("timezone").value.trim();
  const v = {
    title: input("title").value,
    description: input("description").value,
    priority: input("priority").value,
    tags: input("tags").value.split(",").map((s) => s.trim()).filter(Boolean),
    timezone: zone,
    due_at: null,
  };
  const raw = input("due_at").value;
  if (raw) {
    v.due_at = zonedToInstant(raw, zone || browserZone());
    if (!v.due_at) throw fieldError(zone && zones.length && !zones.includes(zone) ? "timezone" : "due_at", "not a valid date and time in this time zone");
  }
  return v;
}

$("#task-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  clearFormErrors();
  try {
    const v = formValues();
    const zone = v.timezone || browserZone();
    const rule = repeatChange();
    const reminders = remindersValue(zone);
    const from = $("#r-from-completion").checked ? "completion" : "due";
    const repeats = repeat.state.preset !== "none";
    const t = state.editing;
    if (t) {
      // Only what changed is sent; an empty field is null (cleared).
      const patch = {};
      const before = { ...t, tags: t.tags || [] };
      for (const f of fields) {
        if (JSON.stringify(v[f]) !== JSON.stringify(before[f])) patch[f] = v[f];
      }
      if (rule.send) patch.rrule = rule.rule;
      if (repeats && from !== (t.repeat_from || "due")) patch.repeat_from = from;
      if (!sameReminders(reminders, t.reminders || [])) patch.reminders = reminders;
      if (Object.keys(patch).length) await call("PATCH", `/api/tasks/${t.id}`, patch);
    } else {
      const body = { ...v };
      if (body.due_at === null) delete body.due_at;
      if (rule.rule) {
        body.rrule = rule.rule;
        if (from === "completion") body.repeat_from = from;
      }
      if (reminders.length) body.reminders = reminders;
      await call("POST", "/api/tasks", body);
      $("#quick-title").value = "";
    }
    $("#task-dialog").close();
    loadTasks(false);
  } catch (e) {
    const place = errorPlace(e.field);
    if (place) showFieldError(e.control || place[0], place[1], e.message);
    else { const p = $("#form-error"); p.textContent = e.message; p.hidden = false; }
  }
});

function clearFormErrors() {
  for (const c of $("#task-form").querySelectorAll("[aria-invalid]")) c.removeAttribute("aria-invalid");
  for (const p of $("#task-form").querySelectorAll(".field-error")) { p.hidden = true; p.textContent = ""; }
}

function showFieldError(inputEl, p, msg, focus = true) {
  inputEl.setAttribute("aria-invalid", "true");
  p.textContent = msg;
  p.hidden = false;
  if (focus) inputEl.focus();
}

function clearFieldError(inputEl) {
  inputEl.removeAttribute("aria-invalid");
  for (const id of (inputEl.getAttribute("aria-describedby") || "").split(/\s+/)) {
    const p = id && document.getElementById(id);
    if (p && p.classList.contains("field-error")) { p.hidden = true; p.textContent = ""; }
  }
}

// ---- the repeat editor ---------------------------------------------------
//
// Presets, an interval, days, an end and "from completion" make an RRULE
// (rules.js); the API's preview route says what it means and lists its
// next dates in the task's zone. A rule the editor cannot show is a
// custom rule: shown read-only with its summary, kept unless replaced.

const repeat = {
  state: null, // rules.js's editor state
  initialState: "", // as loaded, to send the rule only when it changed
  initialRule: null,
  custom: null, // the state of a loaded custom rule, to go back to
  touched: false, // the day controls were set by hand: a new due day leaves them
};

const monthDays = $("#r-monthday");
monthDays.replaceChildren(...Array.from({ length: 31 }, (_, i) => el("option", { value: String(i + 1), text: ordinal(i + 1) })),
  el("option", { value: "-1", text: "the last day" }));

function ordinal(n) {
  const s = n % 100 >= 11 && n % 100 <= 13 ? "th" : ({ 1: "st", 2: "nd", 3: "rd" })[n % 10] || "th";
  return n + s;
}

function loadRepeat(t) {
  const ctx = ruleCtx();
  if (t && t.rrule) repeat.state = parseRule(t.rrule, ctx);
  else if (t) repeat.state = fromRecurrence(t.recurrence, ctx);
  else repeat.state = blank(ctx);
  repeat.custom = repeat.state.preset === "custom" ? { ...repeat.state } : null;
  repeat.touched = !!t;
  repeat.initialState = JSON.stringify(repeat.state);
  const built = buildRule(repeat.state, ctx);
  repeat.initialRule = built.error ? null : built.rule;
  const opt = $("#r-custom-option");
  opt.hidden = opt.disabled = !repeat.custom;
  $("#r-custom-rule").textContent = repeat.custom ? repeat.custom.custom : "";
  $("#r-from-completion").checked = !!t && t.repeat_from === "completion";
  const box = $("#r-preview");
  box.hidden = true;
  box.dataset.state = "none";
  delete box.dataset.rule;
  fillRepeat();
  schedulePreview(0);
}

// fillRepeat sets the controls from the state.
function fillRepeat() {
  const s = repeat.state;
  $("#r-preset").value = s.preset;
  $("#r-interval").value = s.interval;
  for (const d of WEEKDAYS) $(`#r-day-${d}`).checked = s.days.includes(d);
  monthDays.value = String(s.monthDay);
  $("#r-nth").value = String(s.nth);
  $("#r-nth-day").value = s.nthDay;
  for (const r of $("#task-form").elements["r-end"]) r.checked = r.value === s.end;
  $("#r-until").value = s.until;
  $("#r-count").value = s.count;
  showRepeat();
}

// showRepeat shows the controls the preset has, and names the units.
function showRepeat() {
  const s = repeat.state, p = s.preset;
  const on = p !== "none" && p !== "custom";
  const freq = PRESETS[p];
  $("#r-interval-box").hidden = !on || p === "weekdays";
  if (freq) $("#r-unit").textContent = UNITS[freq][String(s.interval).trim() === "1" ? 0 : 1];
  $("#r-days").hidden = p !== "weekly";
  $("#r-monthday-box").hidden = p !== "monthly-day";
  $("#r-monthday-hint").hidden = !(s.monthDay > 28);
  $("#r-nth-box").hidden = p !== "monthly-nth";
  $("#r-end").hidden = !on;
  $("#r-until").disabled = s.end !== "until";
  $("#r-count").disabled = s.end !== "count";
  $("#r-count-unit").textContent = String(s.count).trim() === "1" ? "time" : "times";
  $("#r-from-box").hidden = p === "none";
  $("#r-custom").hidden = p !== "custom";
}

// readRepeat takes the controls' values into the state.
function readRepeat() {
  const s = repeat.state;
  s.interval = $("#r-interval").value;
  s.days = WEEKDAYS.filter((d) => $(`#r-day-${d}`).checked);
  s.monthDay = Number(monthDays.value);
  s.nth = Number($("#r-nth").value);
  s.nthDay = $("#r-nth-day").value;
  const end = [...$("#task-form").elements["r-end"]].find((r) => r.checked);
  s.end = end ? end.value : "never";
  s.until = $("#r-until").value;
  s.count = $("#r-count").value;
}

$("#r-preset").addEventListener("change", () => {
  readRepeat();
  const p = $("#r-preset").value;
  if (p === "custom" && repeat.custom) repeat.state = { ...repeat.custom };
  else repeat.state = fitDue({ ...repeat.state, preset: p, custom: null }, ruleCtx());
  repeat.touched = false;
  fillRepeat();
  schedulePreview(0);
});

$("#repeat-editor").addEventListener("input", (ev) => {
  if (ev.target.id === "r-preset") return;
  readRepeat();
  if (ev.target.closest("#r-days, #r-monthday-box, #r-nth-box")) repeat.touched = true;
  showRepeat();
  schedulePreview();
});

function onDueOrZone() {
  if (repeat.state && !repeat.touched && repeat.state.preset !== "custom") {
    repeat.state = fitDue(repeat.state, ruleCtx());
    fillRepeat();
  }
  renderReminders();
  schedulePreview();
}
for (const f of ["due_at", "timezone"]) input(f).addEventListener("input", onDueOrZone);

// repeatChange is what the form sends of the repeat: the rule, and send
// (whether the rule is to be written). A rule that reads as it was loaded
// is not sent, so that saving other fields does not restart its series
// (nor turn an older client's simple repeat into a rule); one that the
// editor cannot write as loaded is left alone until the user changes it.
function repeatChange() {
  const b = buildRule(repeat.state, ruleCtx());
  if (b.error) {
    if (JSON.stringify(repeat.state) === repeat.initialState) return { send: false, rule: repeat.initialRule };
    throw fieldError("rrule", b.error, repeatControl(b.control));
  }
  return { send: b.rule !== repeat.initialRule, rule: b.rule };
}

function repeatControl(name) {
  return { interval: $("#r-interval"), days: $("#r-day-MO"), count: $("#r-count"), until: $("#r-until") }[name] || $("#r-preset");
}

// The preview: the summary and the next five dates, from the API, a
// moment after the last change; its refusal is shown at its field.
let previewTimer = null;
let previewSeq = 0;
let previewMarks = []; // [control, error element] the preview marked

function schedulePreview(ms = 300) {
  clearTimeout(previewTimer);
  previewTimer = setTimeout(runPreview, ms);
}

function clearPreviewMarks() {
  for (const [c, p] of previewMarks) { c.removeAttribute("aria-invalid"); p.hidden = true; p.textContent = ""; }
  previewMarks = [];
}

function markPreview(control, p, msg) {
  showFieldError(control, p, msg, false);
  previewMarks.push([control, p]);
}

async function runPreview() {
  const seq = ++previewSeq;
  const box = $("#r-preview"), summary = $("#r-summary"), dates = $("#r-dates"), title = $("#r-dates-title");
  const show = (st, text) => { box.dataset.state = st; summary.textContent = text; dates.replaceChildren(); title.hidden = true; };
  clearPreviewMarks();
  const ctx = ruleCtx();
  const b = buildRule(repeat.state, ctx);
  box.hidden = !b.error && !b.rule;
  if (b.error) { show("invalid", ""); box.hidden = true; markPreview(repeatControl(b.control), $("#t-rrule-error"), b.error); return; }
  if (!b.rule) { box.dataset.state = "none"; return; }
  if (!ctx.due) {
    show("no-due", ctx.dueTyped ? "The due time is not valid in this time zone." : "Set a due date and time: the repeats start from it.");
    return;
  }
  box.dataset.state = "loading";
  try {
    const q = new URLSearchParams({ rrule: b.rule, start: ctx.due, timezone: ctx.zone, count: "5" });
    const p = await call("GET", "/api/recurrence/preview?" + q);
    if (seq !== previewSeq) return;
    summary.textContent = "Repeats " + p.summary;
    const n = p.occurrences.length;
    title.hidden = false;
    title.textContent = n === 0 ? "No dates." : n < 5 ? (n === 1 ? "Its only date:" : `All ${n} dates:`) : "The next 5 dates:";
    dates.replaceChildren(...p.occurrences.map((at) => el("li", { "data-at": at, text: formatDay(at, ctx.zone) })));
    box.dataset.rule = p.rrule;
    box.dataset.state = "ready";
  } catch (e) {
    if (seq !== previewSeq) return;
    show("error", e.status === 400 ? "" : "The preview is unavailable: " + e.message);
    if (e.status === 400) {
      const place = e.field === "timezone" || e.field === "start" ? errorPlace(e.field === "start" ? "due_at" : "timezone") : errorPlace("rrule");
      markPreview(place[0], place[1], plainMessage(e));
    }
  }
}

// plainMessage is an API error's message without its field's name in
// front ("rrule: BYDAY: ..." reads "BYDAY: ...").
function plainMessage(e) {
  const m = e.field && e.message.startsWith(e.field + ": ") ? e.message.slice(e.field.length + 2) : e.message;
  return m.charAt(0).toUpperCase() + m.slice(1);
}

// ---- the reminders editor ------------------------------------------------

const rem = {
  list: [], // rules.js's editor reminders: {before} or {local}
  autoAt: false, // the adder was turned to "at a date and time" for want of a due time
};

function loadReminders(t) {
  const zone = formZone();
  rem.list = t ? (t.reminders || []).map((r) => toEditor(r, zone)) : [];
  $("#rem-kind").value = "PT0S";
  rem.autoAt = false;
  $("#rem-status").textContent = "";
  $("#rem-at").value = "";
  $("#rem-amount").value = "2";
  $("#rem-unit").value = "days";
  renderReminders();
}

function describeReminder(r, zone) {
  if (r.before !== undefined) return describeBefore(r.before);
  const at = zonedToInstant(r.local, zone);
  return "At " + (at ? formatIn(at, zone) : r.local.replace("T", " "));
}

function renderReminders() {
  const zone = formZone(), hasDue = !!ruleCtx().due;
  $("#rem-list").replaceChildren(...rem.list.map((r, i) => {
    const text = describeReminder(r, zone);
    const li = el("li", { "data-testid": "reminder", "data-before": r.before, "data-local": r.local }, el("span", { class: "rem-text", text }));
    if (r.before !== undefined && !hasDue) li.append(el("span", { class: "warn", text: "needs a due time" }));
    li.append(el("button", { type: "button", "data-testid": "rem-remove", "aria-label": "Remove reminder: " + text, text: "Remove",
      onclick: () => removeReminder(i) }));
    return li;
  }));
  $("#rem-empty").hidden = rem.list.length > 0;
  const kind = $("#rem-kind");
  for (const o of kind.options) if (o.value !== "at") o.disabled = !hasDue;
  // Without a due time the adder turns to the kind that works; with one
  // again, back to the first preset, unless the user chose since.
  if (kind.selectedOptions[0] && kind.selectedOptions[0].disabled) { kind.value = "at"; rem.autoAt = true; }
  else if (hasDue && rem.autoAt) { kind.value = "PT0S"; rem.autoAt = false; }
  const hint = $("#rem-hint");
  const notes = [];
  if (!hasDue) notes.push("Reminders before the due time need a due time: set one above, or remind at a date and time.");
  if (rem.list.length >= MAX_REMINDERS) notes.push(`A task has at most ${MAX_REMINDERS} reminders.`);
  hint.textContent = notes.join(" ");
  hint.hidden = !notes.length;
  $("#rem-before-box").hidden = kind.value !== "before";
  $("#rem-at-box").hidden = kind.value !== "at";
}

$("#rem-kind").addEventListener("change", () => { rem.autoAt = false; clearFieldError($("#rem-kind")); renderReminders(); });
$("#rem-add").addEventListener("click", addReminder);
for (const id of ["#rem-amount", "#rem-at"]) {
  $(id).addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); addReminder(); } });
}

function addReminder() {
  for (const c of ["#rem-kind", "#rem-amount", "#rem-unit", "#rem-at"]) clearFieldError($(c));
  const err = (c, msg) => showFieldError($(c), $("#t-reminders-error"), msg);
  if (rem.list.length >= MAX_REMINDERS) return err("#rem-kind", `A task has at most ${MAX_REMINDERS} reminders: remove one first.`);
  const kind = $("#rem-kind").value, zone = formZone();
  let r;
  if (kind === "at") {
    const v = $("#rem-at").value;
    if (!v) return err("#rem-at", "Choose the date and time of the reminder.");
    if (!zonedToInstant(v, zone)) return err("#rem-at", "This is not a valid date and time in the task's time zone.");
    r = { local: v };
  } else {
    if (!ruleCtx().due) return err("#rem-kind", "A reminder before the due time needs a due time: set one first.");
    if (kind === "before") {
      const d = durationOf($("#rem-amount").value, $("#rem-unit").value);
      if (d.error) return err("#rem-amount", d.error);
      r = { before: d.before };
    } else r = { before: kind };
  }
  const api = fromEditor(r, zone);
  if (rem.list.some((x) => sameReminders([fromEditor(x, zone) || {}], [api]))) return err(kind === "at" ? "#rem-at" : "#rem-kind", "This reminder is there already.");
  rem.list.push(r);
  renderReminders();
  $("#rem-status").textContent = `Added: ${describeReminder(r, zone)}. ${rem.list.length} of at most ${MAX_REMINDERS} reminders.`;
}

function removeReminder(i) {
  const [gone] = rem.list.splice(i, 1);
  $("#rem-status").textContent = `Removed: ${describeReminder(gone, formZone())}.`;
  clearFieldError($("#rem-kind"));
  renderReminders();
  // Focus goes to the reminder that took its place, else to the adder.
  const buttons = $("#rem-list").querySelectorAll("[data-testid=rem-remove]");
  (buttons[Math.min(i, buttons.length - 1)] || $("#rem-kind")).focus();
}

// remindersValue is the reminders in the API's form; relative ones need a
// due time.
function remindersValue(zone) {
  if (!ruleCtx().due && rem.list.some((r) => r.before !== undefined)) {
    throw fieldError("reminders", "Reminders before the due time need a due time: set one, or remove them.");
  }
  return rem.list.map((r) => {
    const x = fromEditor(r, zone);
    if (!x) throw fieldError("reminders", `${describeReminder(r, zone)} is not a valid time in this time zone.`);
    return x;
  });
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
    row("Reminders", (t.reminders || []).map((r) => describeReminder(toEditor(r, zone), zone)).join("; "));
    row("Next reminder", t.reminder_at && formatIn(t.reminder_at, zone));
    if (repeats(t)) {
      dl.append(el("dt", { text: "Repeats" }));
      const dd = el("dd", { "data-testid": "detail-repeat" });
      repeatText(t, dd, "");
      dl.append(dd);
      row("Rule", t.rrule);
      row("Repeats from", t.repeat_from === "completion" && "completion (the next one counts from the day this one is closed)");
    }
    row("Occurrence", t.series_index > 1 || t.last_in_series ? `number ${t.series_index}${t.last_in_series ? ", the last of its series" : ""}` : "");
    row("Time zone", zone);
    row("Status", t.completed ? (t.skipped ? "skipped " : "completed ") + formatIn(t.completed_at, zone) : "open");
    if (t.series_id && t.series_id !== t.id) row("Occurrence of", `the series started by task ${t.series_id}`);
  }
  const ol = $("#history");
  let prev = null;
  ol.replaceChildren(...h.events.map((ev) => {
    const li = el("li", { "data-testid": "history-entry" },
      el("strong", { text: ev.event_type === "TaskCompleted" && ev.data.skipped ? "Skipped" : label(ev.event_type) }), " ",
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
  for (const f of ["title", "description", "priority", "tags", "due_at", "reminder_at", "reminders", "recurrence", "rrule", "repeat_from", "timezone", "completed"]) {
    const x = JSON.stringify(a[f] ?? null), y = JSON.stringify(b[f] ?? null);
    if (x === y) continue;
    if (f === "reminders" && sameReminders(a[f] || [], b[f] || [])) continue;
    const show = (v) => (v === null || v === undefined || v === "" ? "none"
      : f === "reminders" ? v.map((r) => describeReminder(toEditor(r, zone), zone)).join(", ") || "none"
        : f.endsWith("_at") ? formatIn(v, zone) : Array.isArray(v) ? v.join(", ") || "none" : String(v));
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
    const when = (n.message ? n.message + " · " : "") + (n.due_at ? "due " + formatIn(n.due_at) : "reminder " + formatIn(n.reminder_at));
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
  const at = r.due_at ? "Due " + formatIn(r.due_at) : "Reminder for " + formatIn(r.reminder_at);
  const body = r.message ? `${r.message[0].toUpperCase()}${r.message.slice(1)} (${at})` : at;
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
