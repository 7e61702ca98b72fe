// The codeswarm dashboard: plain JS modules, no build step, no dependencies.
//
// Initial state comes from the REST endpoints; then everything live from the swarm's event
// stream (sse.js: fetch streaming, resumed with Last-Event-ID after a dropped connection).
// Leases and tasks live in the coordination store, not in the event stream: they are re-read
// every few seconds.
"use strict";

import { AgentCard } from "./agent.js";
import { ApiError, AuthError, api, authHeaders, readToken, setToken } from "./api.js";
import { approvalKey, renderApprovals, renderLeases, renderTasks } from "./panels.js";
import { EventStream } from "./sse.js";
import { $, fillBar, fmt, notice, setConn, summarize } from "./ui.js";

const LOG_CAP = 300; // entries kept in the event log
const POLL_MS = 3000; // leases and tasks
const RUN_POLL_MS = 15000; // budgets and usage as the server counts them
const SWARMS_POLL_MS = 15000;
const CONNECT_WAIT_MS = 2000; // how long the first snapshot waits for the stream to open
const QUIET_TYPES = new Set(["message.delta", "command.output", "diff.updated", "usage.updated"]);
const REFUSED = "That token was refused. Paste the current one.";

let view = null; // the SwarmView shown
let swarmsTimer = 0;

function showLogin(message) {
  setToken(null);
  stopSwarm();
  clearInterval(swarmsTimer);
  $("#dashboard").hidden = true;
  $("#login").hidden = false;
  const err = $("#login-error");
  err.hidden = !message;
  err.textContent = message || "";
  setConn("off", "offline");
  $("#token-input").focus();
}

function failed(err) {
  if (err instanceof AuthError) {
    showLogin(REFUSED);
    return true;
  }
  notice(err.message || String(err));
  return false;
}

// -- one swarm's view --------------------------------------------------------------------------
class SwarmView {
  constructor(name) {
    this.name = name;
    this.base = `/api/swarms/${encodeURIComponent(name)}`;
    this.agents = new Map(); // id -> agent record (below)
    this.approvals = new Map(); // `${agent}\n${request_id}` -> approval
    this.tasks = [];
    this.run = null; // the /run body: budgets and usage
    this.buffer = []; // events that arrive while the snapshot loads
    this.loading = true; // until the first snapshot is applied
    this.lastSeq = new Map(); // agent -> last seq applied (dedupe)
    this.closed = false;
    this.timers = [];
    $("#agents").replaceChildren();
    $("#events").replaceChildren();
    this.renderApprovals();
    this.renderLeases([]);
    this.renderTasks([]);
  }

  async start() {
    let opened;
    const open = new Promise((resolve) => (opened = resolve));
    this.stream = new EventStream(`${this.base}/events`, {
      headers: authHeaders,
      onAuth: () => showLogin(REFUSED),
      onEvent: (e) => this.receive(e),
      onOpen: () => opened(),
      onState: (s) => setConn(s, s === "live" ? "live" : "reconnecting…"),
      onReset: () => {
        this.lastSeq.clear();
        this.snapshot();
      },
    });
    setConn("connecting", "connecting…");
    await Promise.race([open, new Promise((r) => setTimeout(r, CONNECT_WAIT_MS))]);
    if (this.closed) return;
    await this.snapshot();
    this.timers.push(setInterval(() => this.poll(), POLL_MS));
  }

  close() {
    this.closed = true;
    if (this.stream) this.stream.close();
    this.timers.forEach(clearInterval);
  }

  // The state as the REST endpoints give it; events that arrived meanwhile are applied after.
  async snapshot() {
    this.loading = true;
    try {
      const status = await api(this.base);
      if (this.closed) return;
      for (const a of status.agents || []) this.agent(a.id).fromStatus(a);
      const approvals = await api(`${this.base}/approvals`).catch((e) => this.soft(e, null));
      if (this.closed) return; // another swarm is shown now
      if (approvals) {
        this.approvals.clear();
        for (const a of approvals.approvals || []) this.approvals.set(approvalKey(a), a);
      }
      this.renderApprovals();
      this.renderSummary();
      await this.poll(true);
    } catch (err) {
      failed(err);
    } finally {
      this.loading = false;
      const pending = this.buffer;
      this.buffer = [];
      for (const e of pending) this.apply(e);
    }
  }

  soft(err, fallback) {
    if (err instanceof AuthError) throw err;
    return fallback;
  }

  // Leases and tasks (every POLL_MS); budgets and usage as the server counts them (every
  // RUN_POLL_MS: the limits never change, the live figures come from usage.updated events).
  async poll(withRun = false) {
    if (this.closed) return;
    const now = Date.now();
    withRun = withRun || now - (this.runAt || 0) >= RUN_POLL_MS;
    if (withRun) this.runAt = now;
    try {
      const [leases, tasks, run] = await Promise.all([
        api(`${this.base}/leases`).catch((e) => this.soft(e, null)),
        api(`${this.base}/tasks`).catch((e) => this.soft(e, null)),
        withRun ? api(`${this.base}/run`).catch((e) => this.soft(e, null)) : null,
      ]);
      if (this.closed) return;
      if (leases) this.renderLeases(leases.leases || []);
      if (tasks) this.renderTasks(tasks.tasks || []);
      if (run) {
        this.run = run;
        for (const [id, usage] of Object.entries(run.usage || {})) this.agent(id).reconcile(usage);
        for (const a of this.agents.values()) a.renderBudget();
        this.renderSwarmBudget();
        this.renderSummary();
      }
    } catch (err) {
      failed(err);
    }
  }

  agent(id) {
    let a = this.agents.get(id);
    if (!a) {
      a = new AgentCard(this, id);
      this.agents.set(id, a);
      // keep the grid in rank order
      const cards = [...this.agents.values()].sort((x, y) => x.rank - y.rank || (x.id < y.id ? -1 : 1));
      $("#agents").replaceChildren(...cards.map((c) => c.el));
    }
    return a;
  }

  receive(e) {
    if (this.loading) this.buffer.push(e);
    else this.apply(e);
  }

  apply(e) {
    if (this.closed || !e || typeof e.type !== "string") return;
    if (e.agent && typeof e.seq === "number") {
      // the stream never repeats an event; this guards the page against its own reconnects
      const last = this.lastSeq.get(e.agent) || 0;
      if (e.seq <= last) return;
      this.lastSeq.set(e.agent, e.seq);
    }
    if (e.agent) this.agent(e.agent).apply(e);
    switch (e.type) {
      case "approval.requested":
        this.approvals.set(approvalKey(e), e);
        this.renderApprovals();
        break;
      case "approval.resolved":
        this.approvals.delete(approvalKey(e));
        this.renderApprovals();
        break;
      case "turn.completed":
        for (const k of [...this.approvals.keys()]) {
          if (this.approvals.get(k).agent === e.agent) this.approvals.delete(k);
        }
        this.renderApprovals();
        break;
      case "tool.completed":
      case "command.completed":
        this.pollSoon();
        break;
    }
    this.log(e);
    this.renderSummary();
  }

  pollSoon() {
    clearTimeout(this.soon);
    this.soon = setTimeout(() => this.poll(), 300);
  }

  log(e) {
    if (QUIET_TYPES.has(e.type)) return;
    const list = $("#events");
    const stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
    const li = document.createElement("li");
    li.className = "ev";
    li.dataset.type = e.type;
    const time = document.createElement("time");
    time.textContent = new Date(e.ts || Date.now()).toLocaleTimeString([], { hour12: false });
    const who = document.createElement("span");
    who.className = "ev-agent";
    who.textContent = e.agent || "";
    const type = document.createElement("span");
    type.className = "ev-type";
    type.textContent = e.type;
    const what = document.createElement("span");
    what.className = "ev-what";
    what.textContent = summarize(e);
    li.append(time, who, type, what);
    list.append(li);
    while (list.childElementCount > LOG_CAP) list.firstElementChild.remove();
    if (stick) list.scrollTop = list.scrollHeight;
  }

  // The line in the top bar, at most once a frame (it sums over every agent).
  renderSummary() {
    if (this.summaryQueued) return;
    this.summaryQueued = true;
    requestAnimationFrame(() => {
      this.summaryQueued = false;
      if (!this.closed) this.renderSummaryNow();
    });
  }

  renderSummaryNow() {
    const agents = [...this.agents.values()];
    const busy = agents.filter((a) => a.state === "busy" || a.state === "waiting_approval").length;
    const total = agents.reduce((n, a) => n + a.total, 0);
    $("#swarm-summary").textContent =
      `${agents.length} agent${agents.length === 1 ? "" : "s"} · ${busy} busy · ${fmt.format(total)} tokens`;
  }

  renderSwarmBudget() {
    const bar = $("#swarm-budget");
    const limit = this.run && this.run.budget;
    if (!limit) {
      bar.hidden = true;
      return;
    }
    const spent = [...this.agents.values()].reduce((n, a) => n + a.spent, 0);
    bar.hidden = false;
    fillBar(bar, spent, limit, this.run.budget_warn, "swarm");
  }

  renderApprovals() {
    renderApprovals(this.approvals.values(), (a, decision, row) => this.decide(a, decision, row));
  }

  async decide(a, decision, li) {
    li.querySelectorAll("button").forEach((b) => (b.disabled = true));
    li.dataset.sent = decision;
    try {
      await api(`${this.base}/approvals`, {
        method: "POST",
        body: { agent: a.agent, request_id: a.request_id, decision },
      });
    } catch (err) {
      if (err instanceof ApiError && err.code === "not_pending") {
        this.approvals.delete(approvalKey(a));
        this.renderApprovals();
        return;
      }
      li.querySelectorAll("button").forEach((b) => (b.disabled = false));
      delete li.dataset.sent;
      failed(err);
    }
  }

  renderLeases(leases) {
    const key = JSON.stringify(leases);
    if (key === this.leasesKey) return; // unchanged: the rows (and what is selected) stay
    this.leasesKey = key;
    renderLeases(leases);
  }

  renderTasks(tasks) {
    const key = JSON.stringify(tasks);
    if (key === this.tasksKey) return;
    this.tasksKey = key;
    this.tasks = tasks;
    renderTasks(tasks);
  }

  async send(to, input, btn, mode) {
    const text = input.value.trim();
    if (!text) return;
    btn.disabled = true;
    try {
      const body = { to, text };
      if (mode) body.mode = mode;
      await api(`${this.base}/send`, { method: "POST", body });
      input.value = "";
    } catch (err) {
      failed(err);
    } finally {
      btn.disabled = false;
    }
  }
}

// -- swarms ------------------------------------------------------------------------------------
async function loadSwarms() {
  const select = $("#swarm-select");
  const { swarms } = await api("/api/swarms");
  const names = (swarms || []).map((s) => s.swarm);
  const current = view ? view.name : null;
  select.replaceChildren(
    ...(swarms || []).map((s) => {
      const o = document.createElement("option");
      o.value = s.swarm;
      o.textContent = `${s.swarm} (${s.agents} agent${s.agents === 1 ? "" : "s"}${s.running ? "" : ", down"})`;
      return o;
    }),
  );
  select.disabled = names.length === 0;
  if (current && names.includes(current)) select.value = current;
  return swarms || [];
}

function stopSwarm() {
  if (view) view.close();
  view = null;
}

async function showSwarm(name) {
  stopSwarm();
  const url = new URL(location.href);
  url.searchParams.set("swarm", name);
  url.hash = "";
  history.replaceState(null, "", url.pathname + url.search);
  $("#swarm-select").value = name;
  document.title = `${name} · codeswarm`;
  view = new SwarmView(name);
  await view.start();
}


async function boot() {
  $("#login").hidden = true;
  $("#dashboard").hidden = false;
  clearInterval(swarmsTimer);
  let swarms;
  try {
    swarms = await loadSwarms();
  } catch (err) {
    failed(err);
    return;
  }
  if (!swarms.length) {
    notice("No swarms in this project yet: start one with `codeswarm up -n N --name S`.", true);
    swarmsTimer = setInterval(() => {
      loadSwarms()
        .then((s) => {
          if (s.length && !view) {
            clearInterval(swarmsTimer);
            $("#notice").hidden = true;
            boot();
          }
        })
        .catch(failed);
    }, SWARMS_POLL_MS);
    return;
  }
  const wanted = new URLSearchParams(location.search).get("swarm");
  const pick =
    swarms.find((s) => s.swarm === wanted) || swarms.find((s) => s.running) || swarms[0];
  if (wanted && pick.swarm !== wanted) notice(`No swarm named ${wanted} here.`);
  showSwarm(pick.swarm);
  swarmsTimer = setInterval(() => loadSwarms().catch(failed), SWARMS_POLL_MS);
}

function init() {
  $("#swarm-select").addEventListener("change", (ev) => showSwarm(ev.target.value));
  $("#send-all").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const form = ev.currentTarget;
    if (view) view.send("all", $("input", form), $("button", form), $(".send-mode", form).value);
  });
  $("#token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const value = $("#token-input").value.trim();
    if (!value) return;
    setToken(value);
    $("#token-input").value = "";
    boot();
  });
  // a link with a (new) token opened in this tab: only the fragment changed, nothing reloads
  window.addEventListener("hashchange", () => {
    if (!/(^#|&)token=/.test(location.hash)) return;
    stopSwarm();
    readToken();
    boot();
  });
  if (readToken()) boot();
  else showLogin();
}

// for the browser tests and a person at the console: the view shown
window.codeswarm = {
  get view() {
    return view;
  },
};

init();
