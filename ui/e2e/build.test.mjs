// Browser tests of the build context: operations that pipelines open with
// GitHub- and GitLab-shaped tokens (the local stack's CI stand-ins) show
// where they came from, as text. Run by azurite-tests/browser_test.go.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  auth, base, card, clientToken, createOperation, githubToken, gitlabToken, launch, putPolicy, session, shot, signIn, step, unique,
  uniqueNumber,
} from "./helpers.mjs";

const hostile = "<img src=x onerror=alert(1)>";
let browser;
let admin;
before(async () => {
  browser = await launch();
  admin = await clientToken("adminclient");
});
after(async () => {
  await browser?.close();
});

/** githubRepo trusts a fresh repository's jobs to order key4 and returns its name and id. */
async function githubRepo() {
  const repo = unique("octo/fw").replace(/\s+/g, "-");
  const id = uniqueNumber();
  await putPolicy(admin, `github:${repo}`, {
    issuer: auth + "/github", description: "browser tests", roles: ["orderer:key4"],
    conditions: [{ claim: "repository_id", equals: id }, { claim: "repository", equals: repo }],
  });
  return { repo, id };
}

/** runURL makes the next answers of GET /api/operations/{id} carry runurl, as a platform could. */
async function withRunURL(page, opID, runurl) {
  await page.unroute(`${base}/api/operations/${opID}`);
  await page.route(`${base}/api/operations/${opID}`, async (route) => {
    const resp = await route.fetch();
    const body = await resp.json();
    body.buildcontext.runurl = runurl;
    await route.fulfill({ response: resp, json: body });
  });
}

test("an operation from a GitHub job shows its repository, ref, commit and run", async () => {
  const { repo, id } = await githubRepo();
  const sha = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678";
  const token = await githubToken({ Repository: repo, RepositoryID: id, Ref: "refs/heads/main", SHA: sha, RunID: "8080", RunAttempt: "2", Actor: "octocat" });
  const op = await createOperation(token, unique("Release of the firmware"), ["key4"]);
  const s = await session(browser);
  await step(s, "sign in as approver-key4", () => signIn(s, "approver-key4"));
  await step(s, "the inbox row names the repository and ref", async () => {
    await card(s.page, op.id).waitFor();
    assert.equal(await card(s.page, op.id).locator(".build-summary").innerText(), `${repo} · refs/heads/main`);
    await shot(s, "inbox-build-summary", card(s.page, op.id));
  });
  const build = s.page.getByTestId("build-context");
  await step(s, "the operation page shows where it came from", async () => {
    await card(s.page, op.id).getByRole("link").click();
    await build.waitFor();
    const text = await build.innerText();
    for (const want of [repo, `(id ${id})`, "refs/heads/main", sha, `${repo}/.github/workflows/release.yml@refs/heads/main`,
      "Run 8080, attempt 2", "octocat", "push", "GitHub Actions"]) {
      assert.ok(text.includes(want), `the build context does not say ${want}:\n${text}`);
    }
    // The stand-in's issuer is not github.com: the API gives no run URL, and the UI makes no link.
    assert.equal(await build.locator("a").count(), 0);
    await shot(s, "operation-build-context");
  });
  await step(s, "an https run URL is a link", async () => {
    const url = `https://github.com/${repo}/actions/runs/8080/attempts/2`;
    await withRunURL(s.page, op.id, url);
    await s.page.reload();
    await build.getByTestId("run-link").waitFor();
    assert.equal(await build.getByTestId("run-link").getAttribute("href"), url);
    assert.equal(await build.getByTestId("run-link").getAttribute("rel"), "noopener noreferrer");
  });
  await step(s, "a javascript: run URL is text, not a link", async () => {
    await withRunURL(s.page, op.id, "javascript:alert(1)");
    await s.page.reload();
    await build.getByTestId("run-url").waitFor();
    assert.equal(await build.locator("a").count(), 0);
    assert.equal((await build.getByTestId("run-url").innerText()).trim(), "javascript:alert(1)");
    await build.getByText("Run 8080, attempt 2").click();
    await s.page.waitForTimeout(300);
    assert.deepEqual(s.dialogs, [], "a dialog fired");
  });
  await s.context.close();
});

test("hostile claims are shown as text and run nothing", async () => {
  const { repo, id } = await githubRepo();
  const ref = `refs/heads/${hostile}`;
  const token = await githubToken({ Repository: repo, RepositoryID: id, Ref: ref, Workflow: `${hostile}.yml`, Actor: hostile });
  const op = await createOperation(token, unique("Firmware from a branch with a strange name"), ["key4"]);
  const s = await session(browser);
  await step(s, "sign in as approver-key4", () => signIn(s, "approver-key4"));
  await step(s, "the inbox row shows the characters", async () => {
    await card(s.page, op.id).waitFor();
    assert.equal(await card(s.page, op.id).locator(".build-summary").innerText(), `${repo} · ${ref}`);
  });
  await step(s, "the operation page shows the characters", async () => {
    await s.page.goto(`${base}/operations/${op.id}`);
    const build = s.page.getByTestId("build-context");
    await build.waitFor();
    const text = await build.innerText();
    assert.ok(text.includes(ref), text);
    assert.ok(text.includes(`${repo}/.github/workflows/${hostile}.yml@${ref}`), text);
    await s.page.waitForTimeout(500);
    assert.equal(await s.page.locator("img[src=x]").count(), 0);
    assert.deepEqual(s.dialogs, [], "a dialog fired");
    assert.deepEqual(s.errors, []);
  });
  await s.context.close();
});

test("a GitLab pipeline's run URL that is not https is text, not a link", async () => {
  const project = unique("group/firmware").replace(/\s+/g, "-");
  const projectID = uniqueNumber();
  await putPolicy(admin, `gitlab:${project}`, {
    issuer: auth + "/gitlab", roles: ["orderer:key4"],
    conditions: [{ claim: "project_id", equals: projectID }, { claim: "project_path", equals: project }],
  });
  const token = await gitlabToken({ ProjectPath: project, ProjectID: projectID, Ref: "main", PipelineID: "4242", UserLogin: "alice" });
  const op = await createOperation(token, unique("GitLab release"), ["key4"]);
  const s = await session(browser, { width: 390, height: 844 });
  await step(s, "sign in as approver-key4 on a phone", () => signIn(s, "approver-key4"));
  await step(s, "the run is named, its http URL shown as text", async () => {
    await s.page.goto(`${base}/operations/${op.id}`);
    const build = s.page.getByTestId("build-context");
    await build.waitFor();
    const text = await build.innerText();
    for (const want of [project, "refs/heads/main", "Run 4242", "alice", "GitLab CI"]) assert.ok(text.includes(want), `no ${want}:\n${text}`);
    assert.match(await build.getByTestId("run-url").innerText(), new RegExp(`^\\s*http://.*/-/pipelines/4242$`));
    assert.equal(await build.locator("a").count(), 0);
    const width = await s.page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `the page is ${width}px wide on a 390px phone`);
    await shot(s, "operation-build-context-phone");
  });
  await s.context.close();
});
