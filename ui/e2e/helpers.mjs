// Helpers of the browser tests: the stack's URLs come from the Go test that
// started it (azurite-tests/browser_test.go).
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

function need(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the browser tests through go test ./azurite-tests -run TestBrowser`);
  return v;
}

export const base = need("KS_URL");
export const auth = need("KS_AUTH_URL");
const shots = need("KS_SHOTS");

// The flags that work on this kind of machine: no sandbox as root, and no
// background network traffic, which the closed network refuses.
export async function launch() {
  return chromium.launch({
    executablePath: process.env.KS_CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
}

/** clientToken gets a demo client's token as the tutorial's curl does. */
export async function clientToken(client) {
  const resp = await fetch(auth + "/oauth2/token", {
    method: "POST",
    headers: { Authorization: "Basic " + Buffer.from(`${client}:${client}`).toString("base64"), "Content-Type": "application/x-www-form-urlencoded" },
    body: "grant_type=client_credentials",
  });
  if (!resp.ok) throw new Error(`token for ${client}: ${resp.status}`);
  return (await resp.json()).access_token;
}

/** call sends a JSON request to the API with a bearer token. */
export async function call(method, path, token, body) {
  const resp = await fetch(base + path, {
    method,
    headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  return { status: resp.status, body: text ? JSON.parse(text) : null };
}

/** createOperation opens an operation as client (the tutorial's step 2). */
export async function createOperation(token, description, keys = ["key1", "key4"]) {
  const r = await call("POST", "/api/operations", token, {
    validms: 600000, description,
    "new-keyusagerestrictions": keys.map((keyid) => ({ keyid, maxusagecount: 1 })),
  });
  if (r.status !== 201) throw new Error(`creating an operation: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

export function unique(text) {
  return `${text} ${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

/**
 * session opens a fresh browser context for one person. dialogs counts the
 * JavaScript dialogs (alert, confirm) the pages opened.
 */
export async function session(browser, viewport = { width: 1100, height: 900 }) {
  const context = await browser.newContext({ viewport });
  const page = await context.newPage();
  const s = { context, page, dialogs: [], errors: [] };
  page.on("dialog", (d) => {
    s.dialogs.push(d.message());
    void d.dismiss();
  });
  page.on("pageerror", (e) => s.errors.push(e.message));
  return s;
}

/** fillSignIn completes the dev auth server's sign-in page. */
export async function fillSignIn(page, name) {
  await page.waitForURL((u) => u.toString().startsWith(auth + "/authorize"));
  await page.locator("input[name=username]").fill(name);
  await page.locator("input[name=password]").fill(name);
  await page.getByRole("button", { name: "Sign in" }).click();
}

/** signIn signs name in through the UI's button and the dev auth page. */
export async function signIn(s, name) {
  await s.page.goto(base + "/");
  await s.page.getByRole("button", { name: "Sign in" }).click();
  await fillSignIn(s.page, name);
  await s.page.waitForURL(base + "/");
  await s.page.getByTestId("me").waitFor();
}

/** step runs body and, when it fails, saves a screenshot under build/ and says where. */
export async function step(s, name, body) {
  try {
    return await body();
  } catch (e) {
    mkdirSync(shots, { recursive: true });
    const file = join(shots, name.replace(/[^a-z0-9]+/gi, "-").toLowerCase() + ".png");
    try {
      await s.page.screenshot({ path: file, fullPage: true });
      console.log(`screenshot of the failed step "${name}": ${file}`);
    } catch (se) {
      console.log(`no screenshot of "${name}": ${se.message}`);
    }
    throw e;
  }
}

/** shot saves a screenshot of a page (or of one part of it) that went right, for people to look at. */
export async function shot(s, name, part) {
  mkdirSync(shots, { recursive: true });
  const path = join(shots, "ok-" + name + ".png");
  await (part ? part.screenshot({ path }) : s.page.screenshot({ path, fullPage: true }));
}

/** card returns the inbox card of an operation. */
export function card(page, id) {
  return page.locator(`li[data-operation="${id}"]`);
}

// The audience of the local stack's tokens, which the Keyserver checks.
const audience = "api://keyserver-local";

/**
 * githubToken gets a GitHub-shaped job token from the local stack's GitHub
 * stand-in, as a job does: register the job (fields of ciauth.GitHubJob),
 * then ask ACTIONS_ID_TOKEN_REQUEST_URL with the request token.
 */
export async function githubToken(job) {
  const reg = await fetch(auth + "/github/jobs", { method: "POST", body: JSON.stringify(job) });
  if (!reg.ok) throw new Error(`registering a GitHub job: ${reg.status} ${await reg.text()}`);
  const env = await reg.json();
  const resp = await fetch(env.ACTIONS_ID_TOKEN_REQUEST_URL + "&audience=" + encodeURIComponent(audience),
    { headers: { Authorization: "bearer " + env.ACTIONS_ID_TOKEN_REQUEST_TOKEN } });
  if (!resp.ok) throw new Error(`GitHub job token: ${resp.status}`);
  return (await resp.json()).value;
}

/** gitlabToken gets a GitLab-shaped id_tokens token (fields of ciauth.GitLabJob). */
export async function gitlabToken(job) {
  const resp = await fetch(auth + "/gitlab/jobs", { method: "POST", body: JSON.stringify({ job, aud: audience }) });
  if (!resp.ok) throw new Error(`GitLab job token: ${resp.status} ${await resp.text()}`);
  return (await resp.json()).token;
}

/** putPolicy registers a trust policy through the admin API, the id in the query. */
export async function putPolicy(adminToken, id, body) {
  const r = await call("PUT", "/api/admin/policies?id=" + encodeURIComponent(id), adminToken, body);
  if (r.status !== 200) throw new Error(`PUT policy ${id}: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** uniqueNumber is a fresh repository or project id. */
export function uniqueNumber() {
  return String(100000 + Math.floor(Math.random() * 900000000));
}
