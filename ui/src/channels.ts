// Admin: a key's notification channels (a generic webhook, Microsoft Teams,
// Slack). URLs and webhook secrets are write-only: the API answers only the
// URL's scheme and host and whether a secret is set, and the form never
// shows them again; a channel kept without a new URL or secret keeps its own.
import { AdminChannel } from "./api";
import { h, replace } from "./dom";

const eventTypes = ["operation.created", "approval.recorded", "operation.approved", "operation.rejected",
  "operation.cancelled", "operation.expired", "usage.exhausted", "operation.reminder"];
const types: Record<string, string> = { webhook: "Webhook (JSON, HMAC-signed)", teams: "Microsoft Teams", slack: "Slack" };

/** ChannelBody is a channel as PUT /api/admin/keys/{keyid} takes it. */
export interface ChannelBody {
  id?: string;
  type: string;
  url?: string;
  secret?: string;
  events: string[];
}

export interface ChannelEditor {
  el: HTMLElement;
  set: (cs: AdminChannel[]) => void;
  read: () => ChannelBody[];
}

/** channelSummary describes a key's channels for its card. */
export function channelSummary(cs: AdminChannel[] | undefined): HTMLElement | null {
  if (!cs?.length) return null;
  return h("ul", { class: "channels" }, cs.map((c) => h("li", { "data-channel": c.id },
    types[c.type] ?? c.type, " ", h("span", { class: "mono" }, c.url),
    c.type === "webhook" ? (c.hassecret ? " · secret set" : " · no secret") : null,
    " · ", c.events.length ? c.events.join(", ") : "every event")));
}

function channelRow(c?: AdminChannel): HTMLElement {
  const type = h("select", { name: "type", "aria-label": "Channel type", disabled: Boolean(c) },
    Object.entries(types).map(([v, label]) => h("option", { value: v, selected: c?.type === v }, label)));
  const url = h("input", {
    name: "url", type: "url", autocomplete: "off", "aria-label": "Channel URL",
    placeholder: c ? "unchanged" : "https://…",
  });
  const secret = h("input", {
    name: "secret", type: "password", autocomplete: "new-password", "aria-label": "Webhook secret",
    placeholder: c?.hassecret ? "unchanged" : "16 characters or more",
  });
  const secretField = h("label", { class: "secret" }, "Secret", secret);
  const events = h("details", { class: "events" }, h("summary", null, "Events"),
    eventTypes.map((e) => h("label", { class: "check" }, h("input", { type: "checkbox", name: "event", value: e, checked: c?.events.includes(e) }), e)));
  const summary = events.querySelector("summary")!;
  const update = () => {
    secretField.hidden = type.value !== "webhook";
    const chosen = Array.from(events.querySelectorAll<HTMLInputElement>("input[name=event]:checked")).map((i) => i.value);
    summary.textContent = "Events: " + (chosen.length ? chosen.join(", ") : "every event");
  };
  type.addEventListener("change", update);
  events.addEventListener("change", update);
  const row = h("div", { class: "channel", "data-id": c?.id ?? "" },
    h("label", null, "Type", type), h("label", null, "URL", url), secretField,
    c ? h("small", { class: "muted kept" }, "Saved: ", h("span", { class: "mono" }, c.url), c.hassecret ? " with a secret" : "",
      ". Leave the URL and secret empty to keep them.") : null,
    events);
  row.appendChild(h("button", { type: "button", class: "secondary", onclick: () => row.remove() }, "Remove channel"));
  update();
  return row;
}

/** channelEditor edits the list of a key's channels inside the key form. */
export function channelEditor(): ChannelEditor {
  const rows = h("div", { class: "channel-rows" });
  const el = h("fieldset", { class: "channels-field" }, h("legend", null, "Notification channels"), rows,
    h("button", { type: "button", class: "secondary", onclick: () => rows.appendChild(channelRow()) }, "Add channel"),
    h("small", { class: "muted" }, "Each channel hears of the operations on this key. URLs and secrets are never shown again once saved."),
    h("p", { class: "field-error", "data-for": "channels", role: "alert" }));
  return {
    el,
    set: (cs) => replace(rows, cs.map((c) => channelRow(c))),
    read: () => Array.from(rows.querySelectorAll<HTMLElement>(".channel")).map((row) => {
      const get = (n: string) => row.querySelector<HTMLInputElement | HTMLSelectElement>(`[name=${n}]`)!.value.trim();
      const body: ChannelBody = {
        type: get("type"),
        events: Array.from(row.querySelectorAll<HTMLInputElement>("input[name=event]:checked")).map((i) => i.value),
      };
      if (row.dataset.id) body.id = row.dataset.id;
      if (get("url")) body.url = get("url");
      if (body.type === "webhook" && get("secret")) body.secret = get("secret");
      return body;
    }),
  };
}
