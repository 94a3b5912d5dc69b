// The Keyserver's approval UI: sign in, then inbox, operations, keys and admin.
import { api, Me } from "./api";
import { displayName, hadSession, initAuth, sessionExpired, signedIn, signIn, signOut, UIConfig } from "./auth";
import { h, replace } from "./dom";
import { adminPage } from "./admin";
import { inboxPage } from "./inbox";
import { keysPage } from "./keys";
import { listPage } from "./lists";
import { operationPage } from "./operation";
import { Cleanup, errorBox, link } from "./parts";

let me: Me = { issuer: "", subject: "", kind: "", name: "", roles: [] };
let config: UIConfig;
let cleanup: Cleanup = [];

const root = () => document.getElementById("app")!;

function isAdmin(): boolean {
  return me.roles.includes("admin");
}

function canSeeAll(): boolean {
  return isAdmin() || me.roles.includes("auditor");
}

function shell(): HTMLElement {
  const nav = h("nav", { class: "nav" },
    link("/", "Inbox"),
    link("/mine", "My operations"),
    canSeeAll() ? link("/all", "All operations") : null,
    link("/keys", "Keys"),
    isAdmin() ? link("/manage", "Admin") : null);
  return h("div", { class: "shell" },
    h("header", { class: "top" },
      h("a", { href: "/", "data-link": true, class: "brand" }, h("img", { src: "/assets/icon.svg", alt: "", width: 24, height: 24 }), "Keyserver"),
      h("span", { class: "me" },
        h("span", { class: "me-name", "data-testid": "me" }, me.name || displayName() || me.subject),
        h("button", { type: "button", class: "link", onclick: () => void signOut() }, "Sign out"))),
    nav,
    h("main", { id: "main" }));
}

function route(): void {
  cleanup.forEach((f) => f());
  cleanup = [];
  const main = document.getElementById("main")!;
  const path = location.pathname;
  for (const a of Array.from(document.querySelectorAll<HTMLAnchorElement>("nav a"))) {
    a.classList.toggle("active", a.pathname === path || (a.pathname === "/" && path.startsWith("/operations/")));
  }
  const op = /^\/operations\/([0-9a-fA-F]{1,64})$/.exec(path);
  if (path === "/") inboxPage(main, cleanup);
  else if (op) operationPage(main, cleanup, op[1]);
  else if (path === "/mine") listPage(main, cleanup, true);
  else if (path === "/all" && canSeeAll()) listPage(main, cleanup, false);
  else if (path === "/keys") keysPage(main, cleanup);
  else if (path === "/manage" && isAdmin()) adminPage(main, cleanup, config.issuer);
  else replace(main, h("h1", null, "Not found"), h("p", null, "There is no such page. ", link("/", "Go to the inbox.")));
  window.scrollTo(0, 0);
}

export function navigate(path: string): void {
  history.pushState(null, "", path);
  route();
}

/** whoAmI asks the API who the person is and which roles they hold. */
function whoAmI(): Promise<Me> {
  return api<Me>("GET", "/api/me");
}

function signInPage(message?: string): void {
  replace(root(), h("div", { class: "signin" },
    h("h1", null, "Keyserver"),
    h("p", null, "Approve signing operations, inspect keys and administer the Keyserver."),
    message ? h("p", { class: "notice" }, message) : null,
    h("button", { type: "button", class: "primary", onclick: () => void signIn() }, "Sign in")));
}

async function boot(): Promise<void> {
  const resp = await fetch("/api/ui/config", { headers: { Accept: "application/json" } });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    replace(root(), h("div", { class: "signin" }, h("h1", null, "Keyserver"), errorBox(body.message ?? "The web UI is not configured.")));
    return;
  }
  config = body as UIConfig;
  try {
    await initAuth(config);
  } catch (e) {
    signInPage("Sign-in failed: " + (e instanceof Error ? e.message : String(e)));
    return;
  }
  if (!signedIn()) {
    if (hadSession()) {
      await sessionExpired();
      return;
    }
    signInPage();
    return;
  }
  me = await whoAmI();
  replace(root(), shell());
  document.addEventListener("click", (e) => {
    const a = (e.target as Element).closest?.("a[data-link]") as HTMLAnchorElement | null;
    if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
    e.preventDefault();
    navigate(a.pathname + a.search);
  });
  window.addEventListener("popstate", route);
  route();
}

boot().catch((e) => replace(root(), h("div", { class: "signin" }, h("h1", null, "Keyserver"), errorBox(e))));
