// Browser tests of the admin page (/manage): subjects, trust policies and
// keys with their notification channels, managed by adminuser. Run by
// azurite-tests/browser_test.go.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { auth, call, clientToken, launch, session, shot, signIn, step, unique } from "./helpers.mjs";

let browser;
let adminClient;
before(async () => {
  browser = await launch();
  adminClient = await clientToken("adminclient");
});
after(async () => {
  await browser?.close();
});

/** openAdmin signs adminuser in and opens the admin page. */
async function openAdmin(s) {
  await step(s, "sign in as adminuser", () => signIn(s, "adminuser"));
  await step(s, "open Admin", async () => {
    await s.page.getByRole("link", { name: "Admin" }).click();
    await s.page.locator("form.subject-form").waitFor();
  });
}

test("adminuser registers a subject and edits a key's required approvals", async () => {
  const s = await session(browser);
  await openAdmin(s);
  const form = s.page.locator("form.subject-form");
  await step(s, "a bad role is refused next to the field", async () => {
    await form.locator("input[name=subject]").fill("release-pipeline");
    await form.locator("input[name=name]").fill("Release pipeline");
    await form.locator("input[name=roles]").fill("orderer:key2 superuser");
    await form.getByRole("button", { name: "Save subject" }).click();
    const err = form.locator('.field-error[data-for="roles"]');
    await err.filter({ hasText: "superuser" }).waitFor();
  });
  await step(s, "the subject is registered", async () => {
    await form.locator("input[name=roles]").fill("orderer:key2");
    await form.getByRole("button", { name: "Save subject" }).click();
    await s.page.locator('li.subject[data-subject="release-pipeline"]').waitFor();
  });
  const sub = await call("GET", "/api/admin/subjects/release-pipeline", adminClient);
  assert.equal(sub.status, 200);
  assert.deepEqual(sub.body.roles, ["orderer:key2"]);
  assert.equal(sub.body.issuer, auth);

  const keyForm = s.page.locator("form.key-form");
  await step(s, "an out-of-range policy is refused next to the field", async () => {
    await s.page.locator('section.admin-keys li.key[data-key="key2"]').getByRole("button", { name: "Edit" }).click();
    await keyForm.locator("input[name=requiredapprovals]").fill("11");
    await keyForm.getByRole("button", { name: "Save key" }).click();
    await keyForm.locator('.field-error[data-for="requiredapprovals"]').filter({ hasText: "between 0 and 10" }).waitFor();
  });
  await step(s, "key2 now needs two approvals", async () => {
    await keyForm.locator("input[name=requiredapprovals]").fill("2");
    await keyForm.getByRole("button", { name: "Save key" }).click();
    await s.page.locator('section.admin-keys li.key[data-key="key2"]').filter({ hasText: "2 approval(s) required" }).waitFor();
    await shot(s, "admin");
  });
  const key = await call("GET", "/api/keys/key2", adminClient);
  assert.equal(key.body.requiredapprovals, 2);
  await step(s, "key2 back to one approval", async () => {
    await s.page.locator('section.admin-keys li.key[data-key="key2"]').getByRole("button", { name: "Edit" }).click();
    await keyForm.locator("input[name=requiredapprovals]").fill("1");
    await keyForm.getByRole("button", { name: "Save key" }).click();
    await s.page.locator('section.admin-keys li.key[data-key="key2"]').filter({ hasText: "1 approval(s) required" }).waitFor();
  });
  assert.equal((await call("GET", "/api/keys/key2", adminClient)).body.requiredapprovals, 1);
  await s.context.close();
});

test("adminuser creates, edits and deletes a trust policy for a repository", async () => {
  const repo = unique("octo/fw").replace(/\s+/g, "-");
  const id = `github:${repo}:main`;
  const byID = "/api/admin/policies?id=" + encodeURIComponent(id);
  const s = await session(browser);
  await openAdmin(s);
  const form = s.page.locator("form.policy-form");
  const row = (i) => form.locator(".condition").nth(i);
  const policyCard = s.page.locator(`li.policy[data-policy="${id}"]`);
  await step(s, "a policy without a repository condition is refused next to the conditions", async () => {
    await form.locator("input[name=id]").fill(id);
    await form.locator("input[name=issuer]").fill(auth + "/github");
    await form.locator("input[name=description]").fill("Releases of " + repo);
    await row(0).locator("input[name=claim]").fill("ref");
    await row(0).locator("input[name=value]").fill("refs/heads/main");
    await form.locator("input[name=roles]").fill("orderer:key4");
    await form.getByRole("button", { name: "Save policy" }).click();
    await form.locator('.field-error[data-for="conditions"]').filter({ hasText: "must pin the repository" }).waitFor();
    assert.equal(await form.locator(".form-error").innerText(), "");
  });
  assert.equal((await call("GET", byID, adminClient)).status, 404, "a refused policy was stored");
  await step(s, "with the repository it is registered", async () => {
    await form.getByRole("button", { name: "Add condition" }).click();
    await row(1).locator("input[name=claim]").fill("repository");
    await row(1).locator("input[name=value]").fill(repo);
    await form.getByRole("button", { name: "Save policy" }).click();
    await policyCard.waitFor();
    const text = await policyCard.innerText();
    for (const want of [`ref is refs/heads/main`, `repository is ${repo}`, "Grants: orderer:key4", auth + "/github", "Releases of " + repo]) {
      assert.ok(text.includes(want), `the policy card does not say ${want}:\n${text}`);
    }
    await shot(s, "admin-policies", s.page.locator("section.admin-policies"));
  });
  let got = await call("GET", byID, adminClient);
  assert.equal(got.status, 200);
  assert.deepEqual(got.body.conditions, [{ claim: "ref", equals: "refs/heads/main" }, { claim: "repository", equals: repo }]);
  await step(s, "edit: release branches, and approving too", async () => {
    await policyCard.getByRole("button", { name: "Edit" }).click();
    await s.page.setViewportSize({ width: 390, height: 844 });
    await shot(s, "admin-policy-form-phone", form);
    await s.page.setViewportSize({ width: 1100, height: 900 });
    assert.equal(await form.locator("input[name=id]").inputValue(), id);
    await row(0).locator("select[name=match]").selectOption("glob");
    await row(0).locator("input[name=value]").fill("refs/heads/release/*");
    await form.locator("input[name=roles]").fill("orderer:key4 approver:key4");
    await form.getByRole("button", { name: "Save policy" }).click();
    await policyCard.filter({ hasText: "ref matches refs/heads/release/*" }).waitFor();
    assert.match(await policyCard.innerText(), /Grants: orderer:key4, approver:key4/);
  });
  got = await call("GET", byID, adminClient);
  assert.deepEqual(got.body.conditions[0], { claim: "ref", glob: "refs/heads/release/*" });
  assert.deepEqual(got.body.roles, ["orderer:key4", "approver:key4"]);
  await step(s, "delete, confirmed", async () => {
    await policyCard.getByRole("button", { name: "Delete" }).click();
    await s.page.locator("dialog.confirm").getByRole("button", { name: "Delete" }).click();
    await policyCard.waitFor({ state: "detached" });
  });
  assert.equal((await call("GET", byID, adminClient)).status, 404);
  assert.deepEqual(s.dialogs, []);
  await s.context.close();
});

test("adminuser registers and deletes a subject whose id holds / and :", async () => {
  const repo = unique("octo/fw").replace(/\s+/g, "-");
  const subject = `repo:${repo}:ref:refs/heads/main`;
  const byID = "/api/admin/subjects?id=" + encodeURIComponent(subject);
  const s = await session(browser, { width: 390, height: 844 });
  const writes = [];
  s.page.on("request", (r) => {
    const u = new URL(r.url());
    if (u.pathname.startsWith("/api/admin/subjects") && r.method() !== "GET") writes.push({ method: r.method(), path: u.pathname, id: u.searchParams.get("id") });
  });
  await openAdmin(s);
  const form = s.page.locator("form.subject-form");
  const subjectCard = s.page.locator(`li.subject[data-subject="${subject}"]`);
  await step(s, "register the GitHub subject", async () => {
    await form.locator("input[name=subject]").fill(subject);
    await form.locator("input[name=issuer]").fill(auth + "/github");
    await form.locator("select[name=kind]").selectOption("app");
    await form.locator("input[name=name]").fill("Release job of " + repo);
    await form.locator("input[name=roles]").fill("orderer:key4");
    await form.getByRole("button", { name: "Save subject" }).click();
    await subjectCard.waitFor();
    assert.match(await subjectCard.innerText(), /Roles: orderer:key4/);
    await shot(s, "admin-subject-phone", subjectCard);
  });
  const got = await call("GET", byID, adminClient);
  assert.equal(got.status, 200, JSON.stringify(got.body));
  assert.equal(got.body.subject, subject);
  assert.deepEqual(got.body.roles, ["orderer:key4"]);
  await step(s, "delete it, confirmed", async () => {
    await subjectCard.getByRole("button", { name: "Delete" }).click();
    await s.page.locator("dialog.confirm").getByRole("button", { name: "Delete" }).click();
    await subjectCard.waitFor({ state: "detached" });
  });
  assert.equal((await call("GET", byID, adminClient)).status, 404);
  // The id travels in the query, never as a path segment that a proxy or the Functions host could split.
  assert.deepEqual(writes, [{ method: "PUT", path: "/api/admin/subjects", id: subject }, { method: "DELETE", path: "/api/admin/subjects", id: subject }]);
  const width = await s.page.evaluate(() => document.documentElement.scrollWidth);
  assert.ok(width <= 390, `the admin page is ${width}px wide on a 390px phone`);
  await s.context.close();
});

test("adminuser gives a key a webhook channel whose secret is never shown again", async () => {
  const secret = "s3cret-" + unique("webhook").replace(/\s+/g, "-");
  const hookURL = "https://hooks.example.com/keyserver/in?token=" + secret + "-in-the-url";
  const s = await session(browser);
  await openAdmin(s);
  const form = s.page.locator("form.key-form");
  const key3 = s.page.locator('section.admin-keys li.key[data-key="key3"]');
  const channel = (i) => form.locator(".channel").nth(i);
  await step(s, "add a webhook channel to key3", async () => {
    await key3.getByRole("button", { name: "Edit" }).click();
    await form.getByRole("button", { name: "Add channel" }).click();
    await channel(0).locator("select[name=type]").selectOption("webhook");
    await channel(0).locator("input[name=url]").fill(hookURL);
    await channel(0).locator("input[name=secret]").fill(secret);
    await channel(0).locator("summary").click();
    await channel(0).getByLabel("operation.created").check();
    await form.getByRole("button", { name: "Save key" }).click();
    await key3.locator("ul.channels li").waitFor();
    const text = await key3.locator("ul.channels").innerText();
    assert.match(text, /Webhook .*https:\/\/hooks\.example\.com\/… · secret set · operation\.created/);
    await shot(s, "admin-key-channels", key3);
  });
  let got = await call("GET", "/api/admin/keys/key3", adminClient);
  assert.equal(got.body.channels.length, 1);
  assert.deepEqual({ ...got.body.channels[0], id: "" }, { id: "", type: "webhook", url: "https://hooks.example.com/…", hassecret: true, events: ["operation.created"] });
  const channelID = got.body.channels[0].id;
  await step(s, "editing again shows neither the URL nor the secret", async () => {
    await key3.getByRole("button", { name: "Edit" }).click();
    assert.equal(await channel(0).locator("input[name=url]").inputValue(), "");
    assert.equal(await channel(0).locator("input[name=secret]").inputValue(), "");
    assert.equal(await channel(0).locator("input[name=secret]").getAttribute("placeholder"), "unchanged");
    assert.match(await channel(0).locator(".kept").innerText(), /Saved: https:\/\/hooks\.example\.com\/… with a secret/);
    assert.ok(!(await s.page.content()).includes(secret), "the secret is in the page");
    await shot(s, "admin-key-channel-form", form);
    await s.page.setViewportSize({ width: 390, height: 844 });
    await shot(s, "admin-key-channel-form-phone", form);
    await s.page.setViewportSize({ width: 1100, height: 900 });
  });
  await step(s, "a Slack channel over http is refused next to the channels", async () => {
    await form.getByRole("button", { name: "Add channel" }).click();
    await channel(1).locator("select[name=type]").selectOption("slack");
    await channel(1).locator("input[name=url]").fill("http://hooks.slack.example/services/T0/B0/x");
    await form.getByRole("button", { name: "Save key" }).click();
    await form.locator('.field-error[data-for="channels"]').filter({ hasText: "https" }).waitFor();
  });
  await step(s, "without it, the webhook keeps its URL and secret", async () => {
    await channel(1).getByRole("button", { name: "Remove channel" }).click();
    await form.locator("input[name=keyinfo]").fill("Demo key 3: RSA-4096, 2 approvers, notified");
    await form.getByRole("button", { name: "Save key" }).click();
    await key3.filter({ hasText: "2 approvers, notified" }).waitFor();
    assert.match(await key3.locator("ul.channels").innerText(), /secret set/);
  });
  got = await call("GET", "/api/admin/keys/key3", adminClient);
  assert.equal(got.body.channels.length, 1);
  assert.equal(got.body.channels[0].id, channelID);
  assert.equal(got.body.channels[0].hassecret, true);
  assert.ok(!JSON.stringify(got.body).includes(secret), "the API answered the secret");
  await step(s, "remove the channel", async () => {
    await key3.getByRole("button", { name: "Edit" }).click();
    await channel(0).getByRole("button", { name: "Remove channel" }).click();
    await form.locator("input[name=keyinfo]").fill("Demo key 3: RSA-4096, 2 approvers");
    await form.getByRole("button", { name: "Save key" }).click();
    await key3.locator("ul.channels").waitFor({ state: "detached" });
  });
  assert.deepEqual((await call("GET", "/api/admin/keys/key3", adminClient)).body.channels, []);
  await s.context.close();
});
