// My operations (as requester) and All operations (admins and auditors).
import { api, Operation } from "./api";
import { h, replace } from "./dom";
import { Cleanup, errorBox, operationList } from "./parts";

const statuses = ["", "pending", "approved", "expired", "exhausted", "rejected", "cancelled"];

export function listPage(main: HTMLElement, cleanup: Cleanup, mine: boolean): void {
  const params = new URLSearchParams(location.search);
  const status = statuses.includes(params.get("status") ?? "") ? params.get("status") ?? "" : "";
  const list = h("div", { class: "list" }, h("p", { class: "muted" }, "Loading…"));
  const select = h("select", { name: "status", "aria-label": "Status" },
    statuses.map((s) => h("option", { value: s, selected: s === status }, s || "any status")));
  select.addEventListener("change", () => {
    const q = select.value ? "?status=" + encodeURIComponent(select.value) : "";
    history.replaceState(null, "", location.pathname + q);
    void load();
  });
  replace(main,
    h("h1", null, mine ? "My operations" : "All operations"),
    h("p", { class: "muted" }, mine ? "Operations you requested in the last 30 days." : "Every operation of the last 30 days."),
    h("div", { class: "filters" }, h("label", null, "Status ", select)),
    list);
  let listCleanup: Cleanup = [];
  cleanup.push(() => listCleanup.forEach((f) => f()));
  const load = async () => {
    const q = new URLSearchParams(mine ? { mine: "1" } : { all: "1" });
    if (select.value) q.set("status", select.value);
    try {
      const ops = await api<Operation[]>("GET", "/api/operations?" + q.toString());
      ops.sort((a, b) => b.created.localeCompare(a.created));
      listCleanup.forEach((f) => f());
      listCleanup = [];
      replace(list, operationList(ops, listCleanup, "No operations."));
    } catch (e) {
      replace(list, errorBox(e));
    }
  };
  void load();
}
