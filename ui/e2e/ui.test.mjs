// Browser tests of the web UI against the real local stack, in Debian's
// chromium driven by playwright-core: approvals, lists, keys and sessions
// (admin.test.mjs tests the admin page, build.test.mjs build contexts). Run by
// azurite-tests/browser_test.go.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { base, call, card, clientToken, createOperation, fillSignIn, launch, session, shot, signIn, step, unique } from "./helpers.mjs";

let browser;
let orderer;
before(async () => {
  browser = await launch();
  orderer = await clientToken("orderer-client");
});
after(async () => {
  await browser?.close();
});

test("approver-key4 approves the tutorial's operation from the inbox", async () => {
  const op = await createOperation(orderer, unique("Building of firmware for XYZ development board"));
  const s = await session(browser);
  await step(s, "sign in as approver-key4", () => signIn(s, "approver-key4"));
  await step(s, "find the operation in the inbox", async () => {
    await card(s.page, op.id).waitFor();
    assert.match(await card(s.page, op.id).innerText(), /orderer-client/);
    await card(s.page, op.id).getByRole("link").click();
    await s.page.waitForURL(`${base}/operations/${op.id}`);
  });
  await step(s, "read the operation", async () => {
    await s.page.getByTestId("description").waitFor();
    assert.equal(await s.page.getByTestId("description").innerText(), op.description);
    const key4 = s.page.locator('li.grant[data-key="key4"]');
    assert.match(await key4.innerText(), /Uses spent: 0 of 1/);
    assert.match(await key4.innerText(), /Approvals: 0 of 1 required/);
    assert.match(await key4.innerText(), /EC-P384/);
    assert.match(await s.page.locator(".facts").innerText(), /left/);
    await shot(s, "operation-before-approval");
  });
  await step(s, "approve with a comment, confirmed", async () => {
    await s.page.locator("form.approve textarea[name=comment]").fill("firmware reviewed");
    await s.page.getByRole("button", { name: "Approve" }).click();
    const dialog = s.page.locator("dialog.confirm");
    await dialog.waitFor();
    await dialog.getByRole("button", { name: "Approve" }).click();
    await s.page.locator(".badge.status-approved").first().waitFor();
    const key4 = s.page.locator('li.grant[data-key="key4"]');
    assert.match(await key4.innerText(), /Approvals: 1 of 1 required/);
    assert.match(await key4.innerText(), /approver-key4/);
    assert.match(await key4.innerText(), /firmware reviewed/);
    assert.match(await s.page.locator("ol.timeline").innerText(), /approved/);
    assert.match(await s.page.getByTestId("approve-reason").innerText(), /already approved/);
  });
  // The pipeline's poll, as the tutorial's step 3 curl does it.
  const poll = await call("GET", `/api/operations/${op.id}`, orderer);
  assert.equal(poll.status, 200);
  assert.equal(poll.body.approved, true);
  assert.equal(poll.body.keys[1].approvals[0].comment, "firmware reviewed");
  assert.deepEqual(s.dialogs, []);
  await step(s, "sign out", async () => {
    await s.page.getByRole("button", { name: "Sign out" }).click();
    await s.page.getByRole("button", { name: "Sign in" }).waitFor();
    assert.equal(await s.page.evaluate(() => Object.keys(sessionStorage).filter((k) => k.startsWith("oidc.user")).length), 0);
  });
  await s.context.close();
});

test("approver-key2 does not see an operation for key1 and key4", async () => {
  const op = await createOperation(orderer, unique("Firmware for key4 only"));
  const s = await session(browser);
  await step(s, "sign in as approver-key2", () => signIn(s, "approver-key2"));
  await step(s, "the inbox does not list it", async () => {
    await s.page.locator(".list .cards, .list .empty").first().waitFor();
    assert.equal(await card(s.page, op.id).count(), 0);
  });
  await step(s, "its page says it does not exist", async () => {
    await s.page.goto(`${base}/operations/${op.id}`);
    await s.page.locator("p.error").waitFor();
    assert.match(await s.page.locator("p.error").innerText(), /does not exist|not found/i);
    assert.equal(await s.page.getByTestId("description").count(), 0);
  });
  await s.context.close();
});

test("the requester sees no Approve button and is told why", async () => {
  const s = await session(browser);
  await step(s, "sign in as adminuser", () => signIn(s, "adminuser"));
  // adminuser opens an operation with the token the UI holds, as a person would through any client.
  const op = await s.page.evaluate(async (description) => {
    const key = Object.keys(sessionStorage).find((k) => k.startsWith("oidc.user"));
    const token = JSON.parse(sessionStorage.getItem(key)).access_token;
    const resp = await fetch("/api/operations", {
      method: "POST", headers: { Authorization: "Bearer " + token, "Content-Type": "application/json" },
      body: JSON.stringify({ validms: 600000, description, "new-keyusagerestrictions": [{ keyid: "key4", maxusagecount: 1 }] }),
    });
    return resp.json();
  }, unique("Release build requested by a person"));
  assert.ok(op.id, JSON.stringify(op));
  await step(s, "open own operation", async () => {
    await s.page.goto(`${base}/operations/${op.id}`);
    await s.page.getByTestId("approve-reason").waitFor();
    assert.match(await s.page.getByTestId("approve-reason").innerText(), /You requested this operation/);
    assert.equal(await s.page.getByRole("button", { name: "Approve" }).count(), 0);
    assert.equal(await s.page.getByRole("button", { name: "Reject" }).count(), 0);
    assert.match(await s.page.locator(".facts").innerText(), /adminuser/);
  });
  await s.context.close();
});

test("reject with a reason ends an operation", async () => {
  const op = await createOperation(orderer, unique("Firmware that should not ship"));
  const s = await session(browser);
  await step(s, "sign in as approver-key4", () => signIn(s, "approver-key4"));
  await step(s, "a reason is required", async () => {
    await s.page.goto(`${base}/operations/${op.id}`);
    await s.page.getByRole("button", { name: "Reject" }).click();
    assert.match(await s.page.locator("form.reject .form-error").innerText(), /reason/);
    assert.equal(await s.page.locator("dialog.confirm").count(), 0);
  });
  await step(s, "reject, confirmed", async () => {
    await s.page.locator("form.reject textarea[name=reason]").fill("unsigned dependency in the image");
    await s.page.getByRole("button", { name: "Reject" }).click();
    await s.page.locator("dialog.confirm").getByRole("button", { name: "Reject" }).click();
    await s.page.locator(".badge.status-rejected").first().waitFor();
    assert.match(await s.page.locator(".facts").innerText(), /unsigned dependency in the image/);
    assert.match(await s.page.getByTestId("approve-reason").innerText(), /rejected/);
  });
  const poll = await call("GET", `/api/operations/${op.id}`, orderer);
  assert.equal(poll.body.status, "rejected");
  assert.equal(poll.body.approved, false);
  await s.context.close();
});

test("a hostile description is shown as text and runs nothing", async () => {
  const hostile = "<img src=x onerror=alert(1)>";
  const op = await createOperation(orderer, hostile);
  const s = await session(browser);
  await step(s, "sign in as approver-key4", () => signIn(s, "approver-key4"));
  await step(s, "the inbox shows the characters", async () => {
    await card(s.page, op.id).waitFor();
    assert.equal(await card(s.page, op.id).locator(".description").innerText(), hostile);
  });
  await step(s, "the operation page shows the characters", async () => {
    await card(s.page, op.id).getByRole("link").click();
    await s.page.getByTestId("description").waitFor();
    assert.equal(await s.page.getByTestId("description").innerText(), hostile);
    assert.match(await s.page.locator("ol.timeline").innerText(), /<img src=x onerror=alert\(1\)>/);
    await s.page.waitForTimeout(500);
    assert.equal(await s.page.locator("img[src=x]").count(), 0);
    assert.deepEqual(s.dialogs, [], "a dialog fired");
  });
  await s.context.close();
});

test("the keys page shows certificates and fingerprints", async () => {
  const s = await session(browser, { width: 390, height: 844 });
  await step(s, "sign in as approver-key4 on a phone", () => signIn(s, "approver-key4"));
  await step(s, "keys", async () => {
    await s.page.getByRole("link", { name: "Keys", exact: true }).click();
    const k = s.page.locator('li.key[data-key="key4"]');
    await k.waitFor();
    assert.match(await k.innerText(), /CN=key4/);
    assert.match(await k.locator(".fingerprint").innerText(), /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    const [download] = await Promise.all([s.page.waitForEvent("download"), k.getByRole("button", { name: "Download PEM" }).click()]);
    assert.equal(download.suggestedFilename(), "key4.pem");
    const width = await s.page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 390, `the page is ${width}px wide on a 390px phone`);
    await shot(s, "keys-phone");
  });
  await s.context.close();
});

test("an ended session sends the person to sign in and back to the same page", async () => {
  const op = await createOperation(orderer, unique("Firmware waiting over lunch"));
  const s = await session(browser);
  await step(s, "sign in and open the operation", async () => {
    await signIn(s, "approver-key4");
    await s.page.goto(`${base}/operations/${op.id}`);
    await s.page.getByTestId("description").waitFor();
  });
  await step(s, "an expired token leads to sign-in and back", async () => {
    await s.page.evaluate(() => {
      const key = Object.keys(sessionStorage).find((k) => k.startsWith("oidc.user"));
      const u = JSON.parse(sessionStorage.getItem(key));
      u.expires_at = Math.floor(Date.now() / 1000) - 5;
      sessionStorage.setItem(key, JSON.stringify(u));
    });
    await s.page.reload();
    await fillSignIn(s.page, "approver-key4");
    await s.page.waitForURL(`${base}/operations/${op.id}`);
    await s.page.getByTestId("description").waitFor();
  });
  await step(s, "a token the API refuses leads to sign-in and back", async () => {
    await s.page.evaluate(() => {
      const key = Object.keys(sessionStorage).find((k) => k.startsWith("oidc.user"));
      const u = JSON.parse(sessionStorage.getItem(key));
      u.access_token = "not-a-token";
      sessionStorage.setItem(key, JSON.stringify(u));
    });
    await s.page.reload();
    await fillSignIn(s.page, "approver-key4");
    await s.page.waitForURL(`${base}/operations/${op.id}`);
    await s.page.getByTestId("description").waitFor();
  });
  assert.equal(await s.page.evaluate(() => Object.keys(localStorage).length), 0, "something was kept in localStorage");
  await s.context.close();
});
