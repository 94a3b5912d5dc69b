// A tiny element builder. Every string becomes a text node, never markup:
// whatever people wrote (descriptions, comments, names, reasons) renders as
// text. Event handlers are functions only.

export type Child = Node | string | number | null | undefined | false | Child[];
type Handler = (e: Event) => void;
export type Attrs = Record<string, string | number | boolean | Handler | null | undefined>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs?: Attrs | null, ...children: Child[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) {
      if (typeof value !== "function") throw new Error(`handler ${name} must be a function`);
      el.addEventListener(name.slice(2), value);
    } else if (name === "value" && "value" in el) {
      (el as HTMLInputElement).value = String(value);
    } else if (name === "checked" && el instanceof HTMLInputElement) {
      el.checked = Boolean(value);
    } else if (typeof value === "function") {
      throw new Error(`attribute ${name} cannot be a function`);
    } else {
      el.setAttribute(name, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(parent: Node, children: Child[]): void {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(parent, c);
    else if (c instanceof Node) parent.appendChild(c);
    else parent.appendChild(document.createTextNode(String(c)));
  }
}

/** replace empties el and appends children. */
export function replace(el: Element, ...children: Child[]): void {
  el.replaceChildren();
  append(el, children);
}

export function fmtTime(iso: string | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  return isNaN(d.getTime()) ? iso : d.toLocaleString();
}

/** timeLeft says how long until iso, e.g. "4 min 12 s left", or "expired". */
export function timeLeft(iso: string, now = Date.now()): string {
  const ms = new Date(iso).getTime() - now;
  if (!(ms > 0)) return "expired";
  const s = Math.floor(ms / 1000);
  const d = Math.floor(s / 86400), hr = Math.floor((s % 86400) / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  if (d > 0) return `${d} d ${hr} h left`;
  if (hr > 0) return `${hr} h ${m} min left`;
  if (m > 0) return `${m} min ${sec} s left`;
  return `${sec} s left`;
}

/** countdown keeps el's text at the time left until iso, every second. */
export function countdown(el: HTMLElement, iso: string, cleanup: (() => void)[]): HTMLElement {
  const tick = () => {
    el.textContent = timeLeft(iso);
    el.classList.toggle("urgent", new Date(iso).getTime() - Date.now() < 60_000);
  };
  tick();
  const t = window.setInterval(tick, 1000);
  cleanup.push(() => window.clearInterval(t));
  return el;
}

/** confirmDialog asks the person to confirm, in a modal <dialog>. */
export function confirmDialog(title: string, body: Child, confirmLabel: string): Promise<boolean> {
  return new Promise((resolve) => {
    const dlg = h("dialog", { class: "confirm", "aria-labelledby": "confirm-title" },
      h("h2", { id: "confirm-title" }, title),
      h("div", null, body),
      h("form", { method: "dialog", class: "buttons" },
        h("button", { value: "cancel", class: "secondary" }, "Go back"),
        h("button", { value: "ok", class: "primary" }, confirmLabel)));
    dlg.addEventListener("close", () => {
      resolve(dlg.returnValue === "ok");
      dlg.remove();
    });
    document.body.appendChild(dlg);
    dlg.showModal();
  });
}
