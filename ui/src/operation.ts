// Operation: everything an approver needs to decide, and the decision.
import { api, AuditEvent, Grant, Operation } from "./api";
import { buildFacts } from "./build";
import { confirmDialog, countdown, fmtTime, h, replace } from "./dom";
import { Cleanup, errorBox, statusBadge, who } from "./parts";

const refreshMs = 10_000;

export function operationPage(main: HTMLElement, cleanup: Cleanup, id: string): void {
  replace(main, h("p", { class: "muted" }, "Loading…"));
  let viewCleanup: Cleanup = [];
  cleanup.push(() => viewCleanup.forEach((f) => f()));
  let busy = false;
  const load = async () => {
    if (busy) return;
    try {
      const [op, events] = await Promise.all([
        api<Operation>("GET", "/api/operations/" + encodeURIComponent(id)),
        api<AuditEvent[]>("GET", "/api/operations/" + encodeURIComponent(id) + "/audit"),
      ]);
      if (busy) return;
      viewCleanup.forEach((f) => f());
      viewCleanup = [];
      replace(main, render(op, events, viewCleanup, {
        act: async (fn) => {
          busy = true;
          try {
            await fn();
          } finally {
            busy = false;
          }
          await load();
        },
        pause: (p) => (busy = p),
      }));
    } catch (e) {
      replace(main, h("h1", null, "Operation"), errorBox(e));
    }
  };
  void load();
  const t = window.setInterval(load, refreshMs);
  cleanup.push(() => window.clearInterval(t));
}

interface Ctl {
  act: (fn: () => Promise<void>) => Promise<void>;
  pause: (paused: boolean) => void;
}

function render(op: Operation, events: AuditEvent[], cleanup: Cleanup, ctl: Ctl): HTMLElement {
  const open = op.status === "pending" || op.status === "approved";
  return h("article", { class: "operation", "data-operation": op.id },
    h("div", { class: "row" }, h("h1", null, "Operation"), statusBadge(op.status)),
    h("p", { class: "description", "data-testid": "description" }, op.description),
    h("dl", { class: "facts" },
      h("dt", null, "Requester"), h("dd", null, who(op.requester)),
      h("dt", null, "Created"), h("dd", null, fmtTime(op.created)),
      h("dt", null, "Expires"), h("dd", null, fmtTime(op.expires), " ",
        open ? countdown(h("span", { class: "timeleft" }), op.expires, cleanup) : null),
      op.rejected ? [h("dt", null, "Rejected"), h("dd", null, who(op.rejected.by), " · ", fmtTime(op.rejected.time), " · ", op.rejected.reason ?? "")] : null,
      op.cancelled ? [h("dt", null, "Cancelled"), h("dd", null, who(op.cancelled.by), " · ", fmtTime(op.cancelled.time))] : null,
      h("dt", null, "Id"), h("dd", { class: "mono" }, op.id)),
    op.buildcontext ? [h("h2", null, "Build"), buildFacts(op.buildcontext)] : null,
    h("h2", null, "Keys"),
    h("ul", { class: "cards" }, op.keys.map(grantCard)),
    h("h2", null, "Your decision"),
    decision(op, ctl),
    h("h2", null, "Timeline"),
    timeline(events));
}

function grantCard(g: Grant): HTMLElement {
  return h("li", { class: "card grant", "data-key": g.keyid },
    h("div", { class: "row" }, h("strong", { class: "mono" }, g.keyid), h("span", { class: "muted" }, g.algorithm ?? "")),
    g.keyinfo ? h("p", null, g.keyinfo) : null,
    h("p", null, `Uses spent: ${g.usagecount} of ${g.maxusagecount}`),
    h("p", null, `Approvals: ${g.approvals.length} of ${g.requiredapprovals} required`),
    g.approvals.length
      ? h("ul", { class: "approvals" }, g.approvals.map((a) =>
        h("li", null, who(a.approver), " · ", fmtTime(a.time), a.comment ? h("q", { class: "comment" }, a.comment) : null)))
      : null);
}

function decision(op: Operation, ctl: Ctl): HTMLElement {
  const box = h("div", { class: "decision" });
  const { approve, reject, cancel } = op.actions;
  if (approve.allowed) box.appendChild(approveForm(op, ctl));
  else box.appendChild(h("p", { class: "notice", "data-testid": "approve-reason" }, "You cannot approve: ", approve.reason ?? ""));
  if (reject.allowed) box.appendChild(rejectForm(op, ctl));
  if (cancel.allowed) {
    box.appendChild(h("button", {
      class: "secondary", type: "button",
      onclick: () => void confirmThen(ctl, "Cancel this operation?", "Nobody can sign with it afterwards.", "Cancel operation",
        () => api("POST", `/api/operations/${op.id}/cancel`)),
    }, "Cancel operation"));
  }
  return box;
}

function approveForm(op: Operation, ctl: Ctl): HTMLElement {
  const comment = h("textarea", { name: "comment", rows: 2, maxlength: 1024, placeholder: "Optional comment" });
  const err = h("p", { class: "form-error", role: "alert" });
  const form = h("form", { class: "approve" },
    h("label", null, "Comment (optional)", comment),
    err,
    h("button", { class: "primary", type: "submit" }, "Approve"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void confirmThen(ctl, "Approve this operation?", h("p", null, op.description), "Approve",
      () => api("POST", `/api/operations/${op.id}/approve`, comment.value.trim() ? { comment: comment.value.trim() } : undefined), err);
  });
  return form;
}

function rejectForm(op: Operation, ctl: Ctl): HTMLElement {
  const reason = h("textarea", { name: "reason", rows: 2, maxlength: 1024, "aria-required": "true", placeholder: "Why you reject it" });
  const err = h("p", { class: "form-error", role: "alert" });
  const form = h("form", { class: "reject" },
    h("label", null, "Reason to reject (required)", reason),
    err,
    h("button", { class: "danger", type: "submit" }, "Reject"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!reason.value.trim()) {
      err.textContent = "Give a reason to reject the operation.";
      return;
    }
    void confirmThen(ctl, "Reject this operation?", "It ends the operation: nobody can sign with it.", "Reject",
      () => api("POST", `/api/operations/${op.id}/reject`, { reason: reason.value.trim() }), err);
  });
  return form;
}

async function confirmThen(ctl: Ctl, title: string, body: string | HTMLElement, label: string, call: () => Promise<unknown>, err?: HTMLElement): Promise<void> {
  ctl.pause(true);
  const ok = await confirmDialog(title, body, label);
  ctl.pause(false);
  if (!ok) return;
  try {
    await ctl.act(async () => {
      await call();
    });
  } catch (e) {
    if (err) err.textContent = e instanceof Error ? e.message : String(e);
  }
}

const actionNames: Record<string, string> = {
  "operation.create": "requested",
  "operation.approve": "approved",
  "operation.reject": "rejected",
  "operation.cancel": "cancelled",
  sign: "signed",
};

function timeline(events: AuditEvent[]): HTMLElement {
  if (events.length === 0) return h("p", { class: "empty" }, "No events.");
  return h("ol", { class: "timeline" }, events.map((ev) =>
    h("li", { class: ev.result === "ok" ? "" : "refused" },
      h("time", null, fmtTime(ev.time)), " ",
      who(ev.actor), " ",
      actionNames[ev.action] ?? ev.action,
      ev.keyid ? [" with ", h("span", { class: "mono" }, ev.keyid)] : null,
      ev.result !== "ok" ? [" — ", ev.result] : null,
      ev.detail ? h("q", { class: "comment" }, ev.detail) : null)));
}
