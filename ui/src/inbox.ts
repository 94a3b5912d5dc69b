// Inbox: operations waiting for my approval, refreshed on its own.
import { api, Operation } from "./api";
import { h, replace } from "./dom";
import { Cleanup, errorBox, operationList } from "./parts";

const refreshMs = 10_000;

export function inboxPage(main: HTMLElement, cleanup: Cleanup): void {
  const list = h("div", { class: "list" }, h("p", { class: "muted" }, "Loading…"));
  const stamp = h("span", { class: "muted" });
  replace(main, h("h1", null, "Inbox"),
    h("p", { class: "muted" }, "Operations waiting for your approval. ", stamp), list);
  let listCleanup: Cleanup = [];
  const load = async () => {
    try {
      const ops = await api<Operation[]>("GET", "/api/operations?status=pending");
      listCleanup.forEach((f) => f());
      listCleanup = [];
      replace(list, operationList(ops, listCleanup, "Nothing waits for your approval."));
      stamp.textContent = "Updated " + new Date().toLocaleTimeString() + ".";
    } catch (e) {
      replace(list, errorBox(e));
    }
  };
  void load();
  const t = window.setInterval(load, refreshMs);
  cleanup.push(() => window.clearInterval(t), () => listCleanup.forEach((f) => f()));
}
