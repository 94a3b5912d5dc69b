// An operation's build context: which repository, ref, commit and run of a
// CI platform asked for it. The values come from the platform's token, so
// they are shown as text; the run is a link only when its URL is https.
import { BuildContext } from "./api";
import { Child, h } from "./dom";

const platforms: Record<string, string> = { github: "GitHub Actions", gitlab: "GitLab CI" };

/** httpsURL returns url when it is an absolute https URL without credentials, else null. */
export function httpsURL(url: string | undefined): string | null {
  if (!url) return null;
  try {
    const u = new URL(url);
    return u.protocol === "https:" && !u.username && !u.password ? u.href : null;
  } catch {
    return null;
  }
}

/** runLink names the run, as a link to it when the platform gave an https URL. */
function runLink(bc: BuildContext): Child {
  const name = ["Run " + bc.runid, bc.runattempt ? "attempt " + bc.runattempt : "", bc.job ? "job " + bc.job : ""]
    .filter(Boolean).join(", ");
  const href = httpsURL(bc.runurl);
  if (href) return h("a", { href, target: "_blank", rel: "noopener noreferrer", "data-testid": "run-link" }, name);
  // A URL that is not https is shown as text only, never as a link.
  return [name, bc.runurl ? h("span", { class: "muted mono", "data-testid": "run-url" }, " " + bc.runurl) : null];
}

function fact(label: string, value: Child, mono = false): Child {
  return value ? [h("dt", null, label), h("dd", mono ? { class: "mono" } : null, value)] : null;
}

/** buildFacts lists the build context for the operation page. */
export function buildFacts(bc: BuildContext): HTMLElement {
  return h("dl", { class: "facts build", "data-testid": "build-context" },
    fact("Platform", platforms[bc.platform] ?? bc.platform),
    fact("Repository", bc.repository ? [bc.repository, bc.repositoryid ? h("span", { class: "muted" }, ` (id ${bc.repositoryid})`) : null] : null),
    fact("Ref", bc.ref, true),
    fact("Commit", bc.sha, true),
    fact("Workflow", bc.workflow, true),
    fact("Job workflow", bc.jobworkflow, true),
    fact("Run", bc.runid ? runLink(bc) : null),
    fact("Actor", bc.actor),
    fact("Event", bc.event),
    fact("Environment", bc.environment));
}

/** buildSummary is the short form for list rows: repository and ref. */
export function buildSummary(bc: BuildContext | undefined): HTMLElement | null {
  if (!bc || !bc.repository) return null;
  return h("p", { class: "muted build-summary" }, h("span", { class: "mono" }, bc.repository), bc.ref ? [" · ", h("span", { class: "mono" }, bc.ref)] : null);
}
