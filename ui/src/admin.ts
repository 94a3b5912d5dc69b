// Admin: subjects (create, edit roles, delete) and keys (register, edit,
// enable/disable), with the API's validation messages next to the field.
import { AdminKey, api, Subject } from "./api";
import { channelEditor, channelSummary } from "./channels";
import { confirmDialog, h, replace } from "./dom";
import { Cleanup, clearErrors, errorBox, field, showFieldError, splitRoles } from "./parts";
import { loadPolicies } from "./policies";

export function adminPage(main: HTMLElement, _cleanup: Cleanup, issuer: string): void {
  const subjects = h("section", { class: "admin-subjects" });
  const policies = h("section", { class: "admin-policies" });
  const keys = h("section", { class: "admin-keys" });
  replace(main, h("h1", null, "Admin"),
    h("p", { class: "jump" }, "Go to ", jump("subjects", "Subjects"), " · ", jump("policies", "Trust policies"), " · ", jump("keys", "Keys")),
    subjects, policies, keys);
  void loadSubjects(subjects, issuer);
  void loadPolicies(policies, issuer);
  void loadKeys(keys);
}

function jump(id: string, label: string): HTMLElement {
  return h("button", { type: "button", class: "link", onclick: () => document.getElementById(id)?.scrollIntoView() }, label);
}

/** subjectURL puts the id in the query: GitHub subjects hold / and :. */
function subjectURL(s: { subject: string; issuer?: string; kind?: string }): string {
  const q = new URLSearchParams({ id: s.subject });
  if (s.issuer) q.set("issuer", s.issuer);
  if (s.kind) q.set("kind", s.kind);
  return "/api/admin/subjects?" + q.toString();
}

async function loadSubjects(sec: HTMLElement, defaultIssuer: string): Promise<void> {
  const form = subjectForm(defaultIssuer, () => void loadSubjects(sec, defaultIssuer));
  let list: HTMLElement;
  try {
    const subs = await api<Subject[]>("GET", "/api/admin/subjects");
    list = h("ul", { class: "cards" }, subs.map((s) => h("li", { class: "card subject", "data-subject": s.subject },
      h("div", { class: "row" }, h("strong", null, s.name || s.subject),
        h("span", { class: "buttons" },
          h("button", { type: "button", class: "secondary", onclick: () => form.edit(s) }, "Edit"),
          h("button", {
            type: "button", class: "danger",
            onclick: async () => {
              if (!(await confirmDialog("Delete this subject?", `${s.subject} loses every role.`, "Delete"))) return;
              try {
                await api("DELETE", subjectURL(s));
                await loadSubjects(sec, defaultIssuer);
              } catch (e) {
                showFieldError(form.el, e);
              }
            },
          }, "Delete"))),
      h("p", { class: "muted" }, s.kind === "person" ? "Person " : "App ", s.subject, " at ", s.issuer),
      h("p", null, "Roles: ", s.roles.length ? s.roles.join(", ") : "none"))));
  } catch (e) {
    list = errorBox(e);
  }
  replace(sec, h("h2", { id: "subjects" }, "Subjects"), form.el, list);
}

function subjectForm(defaultIssuer: string, saved: () => void): { el: HTMLFormElement; edit: (s: Subject) => void } {
  const subject = h("input", { name: "subject", required: true, autocomplete: "off" });
  const issuer = h("input", { name: "issuer", required: true, autocomplete: "off", value: defaultIssuer });
  const kind = h("select", { name: "kind" },
    h("option", { value: "app" }, "App (a pipeline or workload)"),
    h("option", { value: "person" }, "Person (signs in through the web UI)")) as HTMLSelectElement;
  const name = h("input", { name: "name", autocomplete: "off" });
  const roles = h("input", { name: "roles", autocomplete: "off", placeholder: "approver:key1 orderer:*" });
  const title = h("h3", null, "Register a subject");
  const el = h("form", { class: "subject-form", novalidate: true }, title,
    field("Subject id", "subject", subject, "The token's subject: an Entra object id, a pipeline's sub claim…"),
    field("Issuer", "issuer", issuer),
    field("Kind", "kind", kind),
    field("Display name", "name", name),
    field("Roles", "roles", roles, "admin, auditor, orderer:<keyid>, orderer:*, approver:<keyid>, approver:*"),
    h("p", { class: "form-error", role: "alert" }),
    h("button", { class: "primary", type: "submit" }, "Save subject"));
  el.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(el);
    try {
      await api("PUT", subjectURL({ subject: subject.value.trim() }),
        { issuer: issuer.value.trim(), kind: kind.value, name: name.value.trim(), roles: splitRoles(roles.value) });
      saved();
    } catch (err) {
      showFieldError(el, err);
    }
  });
  return {
    el,
    edit: (s) => {
      subject.value = s.subject;
      issuer.value = s.issuer;
      kind.value = s.kind;
      name.value = s.name;
      roles.value = s.roles.join(" ");
      title.textContent = "Edit subject " + s.subject;
      el.scrollIntoView();
      roles.focus();
    },
  };
}

async function loadKeys(sec: HTMLElement): Promise<void> {
  const form = keyForm(() => void loadKeys(sec));
  let list: HTMLElement;
  try {
    const keys = await api<AdminKey[]>("GET", "/api/admin/keys");
    list = h("ul", { class: "cards" }, keys.map((k) => h("li", { class: "card key", "data-key": k.keyid },
      h("div", { class: "row" }, h("strong", { class: "mono" }, k.keyid),
        h("span", { class: "badge " + (k.enabled ? "status-approved" : "status-cancelled") }, k.enabled ? "enabled" : "disabled")),
      h("p", null, k.keyinfo),
      h("p", { class: "muted" }, `${k.algorithm} · ${k.requiredapprovals} approval(s) required · `, h("span", { class: "mono" }, k.hsmkey)),
      channelSummary(k.channels),
      h("div", { class: "buttons" },
        h("button", { type: "button", class: "secondary", onclick: () => form.edit(k) }, "Edit"),
        h("button", {
          type: "button", class: "secondary",
          onclick: async () => {
            try {
              await api("PUT", "/api/admin/keys/" + encodeURIComponent(k.keyid), {
                hsmkey: k.hsmkey, requiredapprovals: k.requiredapprovals, keyinfo: k.keyinfo,
                certificate: k.certificate, enabled: !k.enabled,
              });
              await loadKeys(sec);
            } catch (e) {
              showFieldError(form.el, e);
            }
          },
        }, k.enabled ? "Disable" : "Enable")))));
  } catch (e) {
    list = errorBox(e);
  }
  replace(sec, h("h2", { id: "keys" }, "Keys"), form.el, list);
}

function keyForm(saved: () => void): { el: HTMLFormElement; edit: (k: AdminKey) => void } {
  const keyid = h("input", { name: "keyid", required: true, autocomplete: "off" });
  const hsmkey = h("input", { name: "hsmkey", required: true, autocomplete: "off", placeholder: "https://<vault>.vault.azure.net/keys/<name>" });
  const required = h("input", { name: "requiredapprovals", type: "number", min: 0, max: 10, value: 1, required: true });
  const keyinfo = h("input", { name: "keyinfo", autocomplete: "off" });
  const certificate = h("textarea", { name: "certificate", rows: 3, placeholder: "PEM; empty lets the HSM key self-sign one" });
  const enabled = h("input", { name: "enabled", type: "checkbox", checked: true });
  const channels = channelEditor();
  const title = h("h3", null, "Register a key");
  const el = h("form", { class: "key-form", novalidate: true }, title,
    field("Key id", "keyid", keyid),
    field("HSM key", "hsmkey", hsmkey),
    field("Approvals required", "requiredapprovals", required),
    field("Description", "keyinfo", keyinfo),
    field("Certificate", "certificate", certificate),
    channels.el,
    h("label", { class: "check" }, enabled, " Enabled"),
    h("p", { class: "form-error", role: "alert" }),
    h("button", { class: "primary", type: "submit" }, "Save key"));
  el.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(el);
    try {
      await api("PUT", "/api/admin/keys/" + encodeURIComponent(keyid.value.trim()), {
        hsmkey: hsmkey.value.trim(), requiredapprovals: Number(required.value), keyinfo: keyinfo.value,
        certificate: certificate.value.trim(), enabled: enabled.checked, channels: channels.read(),
      });
      saved();
    } catch (err) {
      showFieldError(el, err);
    }
  });
  return {
    el,
    edit: (k) => {
      keyid.value = k.keyid;
      hsmkey.value = k.hsmkey;
      required.value = String(k.requiredapprovals);
      keyinfo.value = k.keyinfo;
      certificate.value = k.certificate;
      enabled.checked = k.enabled;
      channels.set(k.channels ?? []);
      title.textContent = "Edit key " + k.keyid;
      el.scrollIntoView();
      required.focus();
    },
  };
}
