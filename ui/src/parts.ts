// Pieces several pages share.
import { ApiError, Operation, Principal } from "./api";
import { buildSummary } from "./build";
import { Child, countdown, h } from "./dom";

export type Cleanup = (() => void)[];

export function statusBadge(status: string): HTMLElement {
  return h("span", { class: "badge status-" + status }, status);
}

export function errorBox(e: unknown): HTMLElement {
  const msg = e instanceof Error ? e.message : String(e);
  return h("p", { class: "error", role: "alert" }, msg);
}

/** who names a principal by display name, with its subject and issuer. */
export function who(p: Principal): HTMLElement {
  return h("span", { class: "who" },
    h("strong", null, p.name || p.subject),
    h("span", { class: "muted" }, ` (${p.subject} at ${p.issuer})`));
}

export function link(href: string, ...children: Child[]): HTMLAnchorElement {
  return h("a", { href, "data-link": true }, ...children);
}

/** operationList shows operations as cards that link to their page. */
export function operationList(ops: Operation[], cleanup: Cleanup, empty: string): HTMLElement {
  if (ops.length === 0) return h("p", { class: "empty" }, empty);
  return h("ul", { class: "cards" }, ops.map((op) => {
    const open = op.status === "pending" || op.status === "approved";
    return h("li", { class: "card op", "data-operation": op.id },
      h("div", { class: "row" },
        statusBadge(op.status),
        open ? countdown(h("span", { class: "timeleft" }), op.expires, cleanup) : h("span", { class: "muted" }, op.status)),
      h("p", { class: "description" }, link("/operations/" + op.id, op.description)),
      buildSummary(op.buildcontext),
      h("p", { class: "muted" }, "Requested by ", op.requester.name || op.requester.subject, " · keys ",
        op.keys.map((g) => g.keyid).join(", ")));
  }));
}

/** fieldErrors shows the API's message next to the field it names. */
export function showFieldError(form: HTMLFormElement, e: unknown): void {
  for (const el of Array.from(form.querySelectorAll(".field-error"))) el.textContent = "";
  const general = form.querySelector<HTMLElement>(".form-error");
  const msg = e instanceof Error ? e.message : String(e);
  const field = e instanceof ApiError ? e.field : undefined;
  const slot = field ? form.querySelector<HTMLElement>(`.field-error[data-for="${CSS.escape(field)}"]`) : null;
  if (slot) slot.textContent = msg;
  else if (general) general.textContent = msg;
}

export function clearErrors(form: HTMLFormElement): void {
  for (const el of Array.from(form.querySelectorAll(".field-error, .form-error"))) el.textContent = "";
}

/** field is a labelled input with a slot for the API's message about it. */
export function field(label: string, name: string, input: HTMLElement, hint?: string): HTMLElement {
  input.id = "f-" + name + "-" + Math.random().toString(36).slice(2, 8);
  return h("div", { class: "field" },
    h("label", { for: input.id }, label),
    input,
    hint ? h("small", { class: "muted" }, hint) : null,
    h("p", { class: "field-error", "data-for": name, role: "alert" }));
}

/** splitRoles reads roles separated by spaces or commas. */
export function splitRoles(s: string): string[] {
  return s.split(/[\s,]+/).filter(Boolean);
}
