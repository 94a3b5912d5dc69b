// Admin: trust policies (list, create, edit, delete). A policy grants roles
// to the tokens of an issuer that meet every condition on their claims. Ids
// hold / and :, so they travel in the id query parameter.
import { api, Condition, Policy } from "./api";
import { confirmDialog, h, replace } from "./dom";
import { clearErrors, errorBox, field, showFieldError, splitRoles } from "./parts";

// Claims a condition usually tests (GitHub, GitLab, Entra ID), offered as suggestions.
const claims = ["repository_id", "repository", "repository_owner", "ref", "environment", "event_name", "job_workflow_ref",
  "workflow_ref", "runner_environment", "project_id", "project_path", "ref_protected", "environment_protected",
  "pipeline_source", "namespace_path", "appid", "azp"];
const wellKnownIssuers = ["https://token.actions.githubusercontent.com", "https://gitlab.com"];

export function policyURL(id: string): string {
  return "/api/admin/policies?id=" + encodeURIComponent(id);
}

export async function loadPolicies(sec: HTMLElement, defaultIssuer: string): Promise<void> {
  const reload = () => void loadPolicies(sec, defaultIssuer);
  let list: HTMLElement;
  let issuers = [defaultIssuer, ...wellKnownIssuers];
  let form = policyForm(issuers, reload);
  try {
    const ps = await api<Policy[]>("GET", "/api/admin/policies");
    issuers = Array.from(new Set([...issuers, ...ps.map((p) => p.issuer)]));
    form = policyForm(issuers, reload);
    list = ps.length === 0
      ? h("p", { class: "empty" }, "No trust policies: only registered subjects hold roles.")
      : h("ul", { class: "cards" }, ps.map((p) => policyCard(p, form, reload)));
  } catch (e) {
    list = errorBox(e);
  }
  replace(sec, h("h2", { id: "policies" }, "Trust policies"),
    h("p", { class: "muted" }, "A pipeline's token holds a policy's roles when it comes from the policy's issuer and meets every condition."),
    form.el, list);
}

function policyCard(p: Policy, form: PolicyForm, reload: () => void): HTMLElement {
  return h("li", { class: "card policy", "data-policy": p.id },
    h("div", { class: "row" }, h("strong", { class: "mono" }, p.id),
      h("span", { class: "buttons" },
        h("button", { type: "button", class: "secondary", onclick: () => form.edit(p) }, "Edit"),
        h("button", {
          type: "button", class: "danger",
          onclick: async () => {
            if (!(await confirmDialog("Delete this policy?", `Tokens that match ${p.id} lose its roles.`, "Delete"))) return;
            try {
              await api("DELETE", policyURL(p.id));
              reload();
            } catch (e) {
              showFieldError(form.el, e);
            }
          },
        }, "Delete"))),
    p.description ? h("p", null, p.description) : null,
    h("p", { class: "muted" }, "Tokens of ", h("span", { class: "mono" }, p.issuer), " where"),
    h("ul", { class: "conditions" }, p.conditions.map((c) => h("li", null,
      h("span", { class: "mono" }, c.claim),
      c.glob !== undefined ? " matches " : " is ",
      h("code", null, c.glob ?? c.equals ?? "")))),
    h("p", null, "Grants: ", p.roles.join(", ")));
}

interface PolicyForm {
  el: HTMLFormElement;
  edit: (p: Policy) => void;
}

/** conditionRow is one condition's claim, kind of match and value. */
function conditionRow(c: Condition = { claim: "", equals: "" }): HTMLElement {
  const row = h("div", { class: "condition" },
    h("input", { name: "claim", list: "policy-claims", autocomplete: "off", "aria-label": "Claim", placeholder: "repository", value: c.claim }),
    h("select", { name: "match", "aria-label": "Match" },
      h("option", { value: "equals", selected: c.glob === undefined }, "is"),
      h("option", { value: "glob", selected: c.glob !== undefined }, "matches glob")),
    h("input", { name: "value", autocomplete: "off", "aria-label": "Value", placeholder: "octo/firmware", value: c.glob ?? c.equals ?? "" }));
  row.appendChild(h("button", { type: "button", class: "secondary", "aria-label": "Remove condition", onclick: () => row.remove() }, "Remove"));
  return row;
}

function readConditions(box: HTMLElement): Condition[] {
  const out: Condition[] = [];
  for (const row of Array.from(box.querySelectorAll<HTMLElement>(".condition"))) {
    const get = (n: string) => row.querySelector<HTMLInputElement | HTMLSelectElement>(`[name=${n}]`)!.value.trim();
    const [claim, value] = [get("claim"), get("value")];
    if (!claim && !value) continue;
    out.push(get("match") === "glob" ? { claim, glob: value } : { claim, equals: value });
  }
  return out;
}

function policyForm(issuers: string[], saved: () => void): PolicyForm {
  const id = h("input", { name: "id", required: true, autocomplete: "off", placeholder: "github:octo/firmware:main" });
  const issuer = h("input", { name: "issuer", required: true, autocomplete: "off", list: "policy-issuers", value: issuers[1] ?? "" });
  const description = h("input", { name: "description", autocomplete: "off" });
  const rows = h("div", { class: "condition-rows" }, conditionRow());
  const roles = h("input", { name: "roles", autocomplete: "off", placeholder: "orderer:key1" });
  const title = h("h3", null, "Register a trust policy");
  const reset = () => {
    el.reset();
    id.readOnly = false;
    issuer.value = issuers[1] ?? "";
    replace(rows, conditionRow());
    title.textContent = "Register a trust policy";
    clearErrors(el);
  };
  const el = h("form", { class: "policy-form", novalidate: true }, title,
    h("datalist", { id: "policy-claims" }, claims.map((c) => h("option", { value: c }))),
    h("datalist", { id: "policy-issuers" }, issuers.filter(Boolean).map((i) => h("option", { value: i }))),
    field("Policy id", "id", id, "Letters, digits and punctuation; / and : are fine."),
    field("Issuer", "issuer", issuer, "GitHub: https://token.actions.githubusercontent.com; GitLab: the instance URL."),
    field("Description", "description", description),
    h("fieldset", { class: "conditions-field" }, h("legend", null, "Conditions (every one must hold)"), rows,
      h("button", { type: "button", class: "secondary", onclick: () => rows.appendChild(conditionRow()) }, "Add condition"),
      h("small", { class: "muted" }, "One must pin the repository or project: repository_id, repository, project_id, project_path, appid or azp. Globs (* does not cross /) are for paths and refs."),
      h("p", { class: "field-error", "data-for": "conditions", role: "alert" })),
    field("Roles", "roles", roles, "orderer:<keyid>, orderer:*, approver:<keyid>, auditor…"),
    h("p", { class: "form-error", role: "alert" }),
    h("div", { class: "buttons start" },
      h("button", { class: "primary", type: "submit" }, "Save policy"),
      h("button", { class: "secondary", type: "button", onclick: reset }, "New policy")));
  el.addEventListener("submit", async (e) => {
    e.preventDefault();
    clearErrors(el);
    try {
      await api("PUT", policyURL(id.value.trim()), {
        issuer: issuer.value.trim(), description: description.value.trim(), conditions: readConditions(rows), roles: splitRoles(roles.value),
      });
      saved();
    } catch (err) {
      showFieldError(el, err);
    }
  });
  return {
    el,
    edit: (p) => {
      clearErrors(el);
      id.value = p.id;
      id.readOnly = true;
      issuer.value = p.issuer;
      description.value = p.description;
      replace(rows, p.conditions.length ? p.conditions.map((c) => conditionRow(c)) : conditionRow());
      roles.value = p.roles.join(" ");
      title.textContent = "Edit policy " + p.id;
      el.scrollIntoView();
      description.focus();
    },
  };
}
