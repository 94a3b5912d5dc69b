// Keys: what each key is, its policy and its certificate, with downloads.
import { api, Key } from "./api";
import { fmtTime, h, replace } from "./dom";
import { Cleanup, errorBox } from "./parts";

export function keysPage(main: HTMLElement, _cleanup: Cleanup): void {
  const list = h("div", null, h("p", { class: "muted" }, "Loading…"));
  replace(main, h("h1", null, "Keys"), list);
  api<Key[]>("GET", "/api/keys")
    .then((keys) => replace(list, keys.length ? h("ul", { class: "cards" }, keys.map(keyCard)) : h("p", { class: "empty" }, "You hold no role on any key.")))
    .catch((e) => replace(list, errorBox(e)));
}

function keyCard(k: Key): HTMLElement {
  return h("li", { class: "card key", "data-key": k.keyid },
    h("div", { class: "row" }, h("strong", { class: "mono" }, k.keyid), h("span", { class: "badge" }, k.algorithm)),
    k.keyinfo ? h("p", null, k.keyinfo) : null,
    h("dl", { class: "facts" },
      h("dt", null, "Approvals required"), h("dd", null, String(k.requiredapprovals)),
      h("dt", null, "Certificate subject"), h("dd", null, k.certsubject ?? "—"),
      h("dt", null, "Issuer"), h("dd", null, k.certissuer ?? "—"),
      h("dt", null, "Valid"), h("dd", null, k.certnotbefore ? `${fmtTime(k.certnotbefore)} to ${fmtTime(k.certnotafter)}` : "—"),
      h("dt", null, "SHA-256"), h("dd", { class: "mono fingerprint" }, k.certsha256 ? k.certsha256.match(/../g)!.join(":") : "—")),
    k.certificate ? h("div", { class: "buttons" },
      h("button", { type: "button", class: "secondary", onclick: () => download(k.keyid + ".pem", new Blob([k.certificate], { type: "application/x-pem-file" })) }, "Download PEM"),
      h("button", { type: "button", class: "secondary", onclick: () => download(k.keyid + ".der", new Blob([pemToDer(k.certificate)], { type: "application/pkix-cert" })) }, "Download DER"))
      : null);
}

export function pemToDer(pem: string): Uint8Array<ArrayBuffer> {
  const b64 = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, "");
  const bin = atob(b64);
  const out = new Uint8Array(new ArrayBuffer(bin.length));
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function download(name: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: name });
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
