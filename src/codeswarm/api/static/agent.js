// One agent's card: state, the streamed text of its current (or last) turn, tokens, budget.
"use strict";

import { $, fillBar, fmt } from "./ui.js";

export class AgentCard {
  constructor(swarm, id) {
    this.swarm = swarm;
    this.id = id;
    const m = /_(\d+)$/.exec(id);
    this.rank = m ? Number(m[1]) : Number.MAX_SAFE_INTEGER;
    this.state = "starting";
    this.threadId = null;
    this.threads = new Map(); // thread -> {total, spent}: Codex's running totals per thread
    this.total = 0;
    this.spent = 0; // input + output, what budgets count
    this.items = new Map(); // item_id -> text node, this turn's agent messages
    this.el = $("#agent-template").content.firstElementChild.cloneNode(true);
    this.el.dataset.agent = id;
    $(".agent-name", this.el).textContent = id;
    const input = $(".agent-send input", this.el);
    input.placeholder = `Message ${id}`;
    input.setAttribute("aria-label", `message ${id}`);
    $(".agent-send", this.el).addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.swarm.send(id, input, $(".agent-send button", this.el));
    });
    this.textEl = $(".agent-text", this.el);
  }

  fromStatus(a) {
    this.setState(a.state);
    $(".agent-role", this.el).textContent = a.role || "";
    this.threadId = a.thread_id || null;
    const tokens = a.tokens || {};
    const total = Number(tokens.total || 0);
    const spent = Number(tokens.input || 0) + Number(tokens.output || 0);
    if (total >= this.total) {
      this.total = total;
      this.spent = spent;
      // Codex counts per thread: what status knows is the current thread's (usually all)
      if (this.threadId) this.threads.set(this.threadId, { total, spent });
    }
    this.budgets = a.budget || {};
    // the text of a turn still running is not in the status: it streams in from now on; a turn
    // that ended unseen (the page was away) shows its last message
    const running = a.state === "busy" || a.state === "waiting_approval";
    if (!running && a.turns !== this.turns && a.last_message) this.setText(a.last_message);
    this.turns = a.turns;
    if (a.error) this.activity(a.error, "error");
    this.renderTokens();
  }

  // The server's count (after a restart of the page or a dropped stream): figures only grow.
  reconcile(usage) {
    const total = Number(usage.total || 0);
    if (total <= this.total) return;
    this.total = total;
    this.spent = Number(usage.input_tokens || 0) + Number(usage.output_tokens || 0);
    // with one thread (the usual case) its running total is the agent's
    const threads = [...this.threads.keys()];
    const thread = threads.length === 1 ? threads[0] : threads.length ? null : this.threadId;
    if (thread) this.threads.set(thread, { total, spent: this.spent });
    this.renderTokens();
  }

  setState(state) {
    if (!state) return;
    this.state = state;
    this.el.dataset.state = state;
    $(".agent-state", this.el).textContent = state.replace("_", " ");
  }

  setText(text) {
    this.items.clear();
    this.textEl.replaceChildren(document.createTextNode(text));
  }

  apply(e) {
    switch (e.type) {
      case "agent.started":
        this.setState("starting");
        break;
      case "agent.ready":
        this.setState("idle");
        this.threadId = e.thread_id || this.threadId;
        break;
      case "turn.started":
        this.setState("busy");
        this.items.clear();
        this.textEl.replaceChildren();
        this.activity("");
        break;
      case "message.delta": {
        let node = this.items.get(e.item_id);
        if (!node) {
          node = document.createTextNode("");
          if (this.textEl.childNodes.length) this.textEl.append(document.createTextNode("\n\n"));
          this.textEl.append(node);
          this.items.set(e.item_id, node);
        }
        node.appendData(e.delta || "");
        this.textEl.scrollTop = this.textEl.scrollHeight;
        break;
      }
      case "message.completed": {
        const node = this.items.get(e.item_id);
        if (node) node.data = e.text || "";
        else if (e.text) {
          if (this.textEl.childNodes.length) this.textEl.append(document.createTextNode("\n\n"));
          const t = document.createTextNode(e.text);
          this.textEl.append(t);
          if (e.item_id) this.items.set(e.item_id, t);
        }
        break;
      }
      case "approval.requested":
        this.setState("waiting_approval");
        this.activity(`waits for approval: ${e.command || e.kind || ""}`);
        break;
      case "approval.resolved":
        if (this.state === "waiting_approval") this.setState("busy");
        this.activity("");
        break;
      case "command.started":
        this.activity(`$ ${e.command || ""}`);
        break;
      case "command.completed":
        this.activity(`$ ${e.command || ""} → ${e.status}${e.exit_code == null ? "" : ` (${e.exit_code})`}`);
        break;
      case "tool.started":
        this.activity(`tool ${e.server || ""}/${e.tool || ""}`);
        break;
      case "turn.completed":
        if (this.turns !== undefined) this.turns += 1;
        this.setState(this.state === "stopped" || this.state === "failed" ? this.state : "idle");
        if (e.status === "failed") this.activity(e.error || "turn failed", "error");
        else if (e.status === "interrupted") this.activity("interrupted");
        else this.activity("");
        this.swarm.pollSoon();
        break;
      case "usage.updated":
        this.usage(e);
        break;
      case "budget.warning":
      case "budget.exceeded":
        this.budgets = this.budgets || {};
        this.budgets[e.scope === "task" ? `task:${e.task_id}` : e.scope || "agent"] = {
          scope: e.scope,
          limit: e.limit,
          spent: e.spent,
          state: e.type === "budget.exceeded" ? "exceeded" : "warning",
        };
        this.renderBudget();
        break;
      case "agent.stopped":
        this.setState("stopped");
        break;
      case "agent.failed":
        this.setState("failed");
        this.activity(e.reason || "failed", "error");
        break;
      case "error":
        this.activity(e.message || "error", "error");
        break;
    }
  }

  usage(e) {
    const t = e.total || {};
    const thread = e.thread_id || this.threadId || "";
    const now = {
      total: Number(t.total_tokens || 0),
      spent: Number(t.input_tokens || 0) + Number(t.output_tokens || 0),
    };
    const seen = this.threads.get(thread);
    if (seen && now.total <= seen.total) return; // sent again after a resume: nothing new
    this.total += now.total - (seen ? seen.total : 0);
    this.spent += now.spent - (seen ? seen.spent : 0);
    this.threads.set(thread, now);
    this.renderTokens();
  }

  renderTokens() {
    const el = $(".agent-tokens", this.el);
    el.textContent = `${fmt.format(this.total)} tokens`;
    el.dataset.tokens = String(this.total);
    el.title = `${fmt.format(this.spent)} input + output`;
    this.renderBudget();
  }

  renderBudget() {
    const bar = $(".agent-budget", this.el);
    const run = this.swarm.run || {};
    const reached = Object.values(this.budgets || {});
    const agentLimit = run.agent_budget || (reached.find((b) => b.scope === "agent") || {}).limit;
    if (agentLimit) {
      fillBar(bar, this.spent, agentLimit, run.budget_warn, "agent budget", this.budgetState("agent"));
    } else if (run.budget) {
      fillBar(bar, this.spent, run.budget, run.budget_warn, "of swarm budget", this.budgetState("swarm"));
    } else {
      bar.dataset.none = "true";
      $(".fill", bar).style.width = "0";
      $(".label", bar).textContent = "no budget";
      bar.title = "no budget";
    }
  }

  budgetState(scope) {
    const b = (this.budgets || {})[scope];
    return b ? b.state : null;
  }

  activity(text, kind) {
    const el = $(".agent-activity", this.el);
    el.textContent = text;
    el.dataset.kind = kind || "";
  }
}
