// Small DOM and text helpers shared by the dashboard's modules.
"use strict";

export const $ = (sel, root = document) => root.querySelector(sel);
export const fmt = new Intl.NumberFormat("en-US");

let noticeTimer = 0;
// A line under the top bar; gone after 8 s unless `sticky`.
export function notice(text, sticky = false) {
  const el = $("#notice");
  el.textContent = text;
  el.hidden = false;
  clearTimeout(noticeTimer);
  if (!sticky) noticeTimer = setTimeout(() => (el.hidden = true), 8000);
}

export function setConn(state, text) {
  const el = $("#conn");
  el.dataset.state = state;
  el.textContent = text;
}

// A budget bar: `spent` of `limit`, coloured by the level reached (`state` from the worker's
// budget events, else the share against the warning fraction).
export function fillBar(bar, spent, limit, warn, what, state) {
  const share = limit > 0 ? spent / limit : 0;
  delete bar.dataset.none;
  bar.dataset.level =
    state === "exceeded" || share > 1 ? "exceeded" : state === "warning" || share >= (warn || 0.8) ? "warning" : "ok";
  $(".fill", bar).style.width = `${Math.min(100, share * 100).toFixed(1)}%`;
  $(".label", bar).textContent = `${fmt.format(spent)} / ${fmt.format(limit)} ${what}`;
  bar.title = `${Math.round(share * 100)}% of ${fmt.format(limit)} tokens (${what})`;
  bar.setAttribute("role", "meter");
  bar.setAttribute("aria-valuenow", String(spent));
  bar.setAttribute("aria-valuemax", String(limit));
}

export function button(text, cls, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.className = cls;
  b.textContent = text;
  b.addEventListener("click", onClick);
  return b;
}

// "in 5m" for a time (epoch seconds) to come.
export function relTime(epochSeconds) {
  const s = Math.round(Number(epochSeconds) - Date.now() / 1000);
  if (!Number.isFinite(s)) return "";
  if (s <= 0) return "expired";
  if (s < 120) return `in ${s}s`;
  if (s < 7200) return `in ${Math.round(s / 60)}m`;
  return `in ${Math.round(s / 3600)}h`;
}

// One line about an event for the log.
export function summarize(e) {
  switch (e.type) {
    case "message.completed":
      return clip(e.text);
    case "message.accepted":
      return e.steered ? "steered into the turn" : `inbox ${e.inbox_id || ""}`;
    case "turn.completed":
      return e.status + (e.error ? `: ${e.error}` : "");
    case "command.started":
      return clip(e.command);
    case "command.completed":
      return `${clip(e.command)} → ${e.status}${e.exit_code == null ? "" : ` (${e.exit_code})`}`;
    case "tool.started":
    case "tool.completed":
      return `${e.server}/${e.tool}${e.status ? ` ${e.status}` : ""}`;
    case "approval.requested":
      return `#${e.request_id} ${clip(e.command || e.kind || "")}`;
    case "approval.resolved":
      return `#${e.request_id}`;
    case "file.changed":
      return (e.changes || []).map((c) => `${c.kind} ${c.path}`).join(", ");
    case "reasoning":
      return clip(e.text);
    case "error":
      return clip(e.message);
    case "budget.warning":
    case "budget.exceeded":
      return `${e.scope}: ${e.spent} of ${e.limit}`;
    case "agent.ready":
      return e.model || "";
    case "agent.failed":
    case "agent.stopped":
    case "agent.restarted":
      return e.reason || "";
    default:
      return "";
  }
}

export function clip(text, n = 160) {
  const s = String(text || "").replace(/\s+/g, " ");
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}
