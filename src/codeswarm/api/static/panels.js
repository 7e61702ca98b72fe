// The swarm-wide panels: approvals, leases, the task board. Each render replaces its panel.
"use strict";

import { $, button, fmt, relTime } from "./ui.js";

export function approvalKey(a) {
  return `${a.agent}\n${a.request_id}`;
}

// The pending approvals; decide(approval, decision, row) answers one.
export function renderApprovals(approvals, decide) {
  const list = $("#approvals");
  const items = [...approvals];
  $("#approvals-count").textContent = items.length ? String(items.length) : "";
  if (!items.length) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = "nothing waits for approval";
    list.replaceChildren(li);
    return;
  }
  list.replaceChildren(...items.map((a) => approvalRow(a, decide)));
}

function approvalRow(a, decide) {
  const li = document.createElement("li");
  li.className = "approval";
  li.dataset.agent = a.agent;
  li.dataset.request = String(a.request_id);
  const head = document.createElement("div");
  head.className = "approval-head";
  head.textContent = `${a.agent} · ${a.kind || a.method || "approval"} #${a.request_id}`;
  const cmd = document.createElement("code");
  cmd.className = "approval-command";
  cmd.textContent = a.command || a.reason || a.method || "";
  const where = document.createElement("div");
  where.className = "approval-cwd muted";
  where.textContent = [a.cwd, a.command && a.reason].filter(Boolean).join(" · ");
  const approve = button("Approve", "approve", () => decide(a, "accept", li));
  const decline = button("Decline", "decline", () => decide(a, "decline", li));
  const actions = document.createElement("div");
  actions.className = "approval-actions";
  actions.append(approve, decline);
  li.append(head, cmd, where, actions);
  return li;
}

export function renderLeases(leases) {
  $("#leases-count").textContent = leases.length ? String(leases.length) : "";
  const rows = leases.map((l) => {
    const tr = document.createElement("tr");
    tr.className = "lease";
    tr.dataset.path = l.path;
    const holder = l.agent || l.holder || "";
    const expires = l.expires_at ? relTime(l.expires_at) : "no ttl";
    for (const [cls, text] of [
      ["lease-path", l.path],
      ["lease-mode", l.mode],
      ["lease-holder", holder],
      ["lease-note", l.note || ""],
      ["lease-expires", expires],
    ]) {
      const td = document.createElement("td");
      td.className = cls;
      td.textContent = text == null ? "" : String(text);
      tr.append(td);
    }
    return tr;
  });
  if (!rows.length) {
    const tr = document.createElement("tr");
    tr.className = "empty";
    const td = document.createElement("td");
    td.colSpan = 5;
    td.textContent = "no leases held";
    tr.append(td);
    rows.push(tr);
  }
  $("#leases").replaceChildren(...rows);
}

export function renderTasks(tasks) {
  $("#tasks-count").textContent = tasks.length ? String(tasks.length) : "";
  const byId = new Map(tasks.map((t) => [t.id, t]));
  const columns = [
    ["open", "Open", ["open"]],
    ["active", "In progress", ["claimed", "in_progress", "needs_review"]],
    ["blocked", "Blocked", ["blocked"]],
    ["done", "Done", ["done"]],
    ["failed", "Failed", ["failed", "cancelled"]],
  ];
  const board = $("#tasks");
  if (!tasks.length) {
    const p = document.createElement("p");
    p.className = "empty";
    p.textContent = "no tasks";
    board.replaceChildren(p);
    return;
  }
  const known = new Set(columns.flatMap((c) => c[2]));
  board.replaceChildren(
    ...columns.map(([key, title, statuses]) => {
      const col = document.createElement("div");
      col.className = "column";
      col.dataset.column = key;
      const h = document.createElement("h3");
      const mine = tasks.filter(
        (t) => statuses.includes(t.status) || (key === "open" && !known.has(t.status)),
      );
      h.textContent = `${title} (${mine.length})`;
      col.append(h, ...mine.map((t) => taskCard(t, byId)));
      return col;
    }),
  );
}

function taskCard(t, byId) {
  const card = document.createElement("div");
  card.className = "task";
  card.dataset.task = String(t.id);
  card.dataset.status = t.status;
  const title = document.createElement("div");
  title.className = "task-title";
  title.textContent = `#${t.id} ${t.title}`;
  card.append(title);
  const meta = document.createElement("div");
  meta.className = "task-meta muted";
  const bits = [t.status];
  if (t.assignee) bits.push(t.assignee);
  if (t.verdict) bits.push(`verdict: ${t.verdict}`);
  if (t.budget_tokens) bits.push(`budget ${fmt.format(t.budget_tokens)}`);
  meta.textContent = bits.join(" · ");
  card.append(meta);
  const deps = t.depends_on || [];
  if (deps.length) {
    const d = document.createElement("div");
    d.className = "task-deps";
    d.append("after ");
    deps.forEach((id, i) => {
      const dep = byId.get(id);
      const s = document.createElement("span");
      s.className = "dep";
      s.dataset.status = dep ? dep.status : "unknown";
      s.textContent = `#${id}`;
      s.title = dep ? `${dep.title} (${dep.status})` : "unknown task";
      if (i) d.append(", ");
      d.append(s);
    });
    card.append(d);
  }
  if (t.result) {
    const r = document.createElement("div");
    r.className = "task-result";
    r.textContent = t.result;
    card.append(r);
  }
  return card;
}
