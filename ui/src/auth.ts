// Sign-in with OIDC: authorization code with PKCE through oidc-client-ts.
// The user (and its access token) is kept in sessionStorage, never in
// localStorage: it ends with the browser tab.
import { User, UserManager, WebStorageStateStore } from "oidc-client-ts";

export interface UIConfig {
  issuer: string;
  clientid: string;
  scope: string;
}

let mgr: UserManager | null = null;
let user: User | null = null;
let redirecting = false;

function manager(): UserManager {
  if (!mgr) throw new Error("sign-in is not set up");
  return mgr;
}

/** returnTarget accepts only a path on this site. */
export function returnTarget(state: unknown): string {
  const to = (state as { returnTo?: unknown } | null)?.returnTo;
  return typeof to === "string" && to.startsWith("/") && !to.startsWith("//") ? to : "/";
}

export function currentPath(): string {
  return location.pathname + location.search;
}

/** initAuth sets up sign-in and completes a sign-in that returns to this page. */
export async function initAuth(cfg: UIConfig): Promise<void> {
  const store = new WebStorageStateStore({ store: window.sessionStorage });
  mgr = new UserManager({
    authority: cfg.issuer,
    client_id: cfg.clientid,
    redirect_uri: location.origin + "/",
    post_logout_redirect_uri: location.origin + "/",
    response_type: "code",
    scope: cfg.scope,
    userStore: store,
    stateStore: store,
    automaticSilentRenew: false,
    monitorSession: false,
    loadUserInfo: false,
  });
  const q = new URLSearchParams(location.search);
  if (q.has("state") && (q.has("code") || q.has("error"))) {
    try {
      const u = await mgr.signinRedirectCallback();
      history.replaceState(null, "", returnTarget(u.state));
    } catch (e) {
      history.replaceState(null, "", "/");
      throw e;
    }
  }
  user = await mgr.getUser();
  mgr.events.addAccessTokenExpired(() => void sessionExpired());
  mgr.events.addUserLoaded((u) => {
    user = u;
  });
}

export function signedIn(): boolean {
  return user !== null && !user.expired;
}

export function hadSession(): boolean {
  return user !== null;
}

export function displayName(): string {
  const p = user?.profile;
  return String(p?.name ?? p?.preferred_username ?? p?.sub ?? "");
}

/** accessToken returns the bearer for API calls, or null when the session ended. */
export function accessToken(): string | null {
  return user && !user.expired ? user.access_token : null;
}

export async function signIn(returnTo = currentPath()): Promise<void> {
  if (redirecting) return;
  redirecting = true;
  await manager().signinRedirect({ state: { returnTo } });
}

/** sessionExpired sends the person to sign in again, back to this page after. */
export async function sessionExpired(): Promise<void> {
  if (redirecting) return;
  await manager().removeUser();
  user = null;
  await signIn(currentPath());
}

export async function signOut(): Promise<void> {
  redirecting = true;
  const m = manager();
  const hint = user?.id_token;
  await m.removeUser();
  user = null;
  try {
    await m.signoutRedirect({ id_token_hint: hint });
  } catch {
    location.assign("/");
  }
}
