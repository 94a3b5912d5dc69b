package notify

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	"keyserver/internal/keyserver"
)

// fact is one labelled line of a message.
type fact struct{ label, value string }

// message is what every channel says of an event, as plain text pieces:
// renderers put them in their own format and never interpret them.
type message struct {
	title       string
	description string
	facts       []fact
	link        string
}

var titles = map[string]string{
	keyserver.EventCreated:   "Approval requested",
	keyserver.EventApproval:  "Approval recorded",
	keyserver.EventApproved:  "Operation approved",
	keyserver.EventRejected:  "Operation rejected",
	keyserver.EventCancelled: "Operation cancelled",
	keyserver.EventExpired:   "Operation expired",
	keyserver.EventExhausted: "All uses spent",
	keyserver.EventReminder:  "Reminder: approval still needed",
}

// compose builds the message of ev at now: the operation and its
// description, the requester, the keys with approvals given of those needed,
// the time left and the approvers who can act.
func compose(ev *keyserver.Event, now time.Time) message {
	op := ev.Operation
	m := message{title: titles[ev.Type], description: op.Description, link: ev.Link}
	if ev.Type == keyserver.EventCreated && op.Status != keyserver.StatusPending {
		m.title = "Operation opened (no approval needed)"
	}
	m.facts = append(m.facts,
		fact{"Operation", op.ID},
		fact{"Requester", principal(op.Requester, "")},
		fact{"Keys", keysLine(op.Keys)},
		fact{"Time left", timeLeft(op.Expires, now)},
		fact{"Approvers who can act", approversLine(ev)},
	)
	if b := op.BuildContext; b != nil {
		m.facts = append(m.facts, fact{"Build", buildLine(b)})
		if b.RunURL != "" {
			m.facts = append(m.facts, fact{"Run", b.RunURL})
		}
	}
	if a := actorLine(ev); a.value != "" {
		m.facts = append(m.facts, a)
	}
	return m
}

// buildLine says which CI run asked: repository, ref, commit and run.
func buildLine(b *keyserver.BuildContext) string {
	sha := b.SHA
	if len(sha) > 12 {
		sha = sha[:12]
	}
	return fmt.Sprintf("%s %s at %s (%s run %s, %s by %s)", b.Repository, b.Ref, sha, b.Platform, b.RunID, b.Event, b.Actor)
}

// principal names a subject for people: a person by name (their subject is
// an opaque id), an app by name and client id.
func principal(p keyserver.Principal, name string) string {
	switch {
	case p.Kind == keyserver.KindPerson && name != "":
		return name + " (person)"
	case name != "" && name != p.Subject:
		return fmt.Sprintf("%s (%s)", name, p.Subject)
	}
	return p.Subject
}

func keysLine(keys []keyserver.KeySummary) string {
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d of %d approvals", k.KeyID, k.Approvals, k.RequiredApprovals)
		if k.Uses > 0 {
			parts[i] += fmt.Sprintf(" (%d of %d uses spent)", k.Uses, k.MaxUsageCount)
		}
	}
	return strings.Join(parts, ", ")
}

// approversLine names who can act now; none can once the operation ended.
func approversLine(ev *keyserver.Event) string {
	if ev.Operation.Status != keyserver.StatusPending {
		return "none needed: the operation is " + string(ev.Operation.Status)
	}
	if len(ev.Approvers) == 0 {
		return "none registered"
	}
	parts := make([]string, len(ev.Approvers))
	for i, a := range ev.Approvers {
		parts[i] = fmt.Sprintf("%s for %s", principal(a.Principal, a.Name), strings.Join(a.KeyIDs, ", "))
	}
	return strings.Join(parts, "; ")
}

func actorLine(ev *keyserver.Event) fact {
	if ev.Actor == (keyserver.Principal{}) || ev.Type == keyserver.EventCreated {
		return fact{}
	}
	who := principal(ev.Actor, ev.ActorName)
	label := map[string]string{keyserver.EventRejected: "Rejected by", keyserver.EventCancelled: "Cancelled by",
		keyserver.EventApproval: "Approved by", keyserver.EventApproved: "Approved by", keyserver.EventExhausted: "Last use by"}[ev.Type]
	if label == "" {
		label = "By"
	}
	if ev.Comment != "" {
		who += ": " + ev.Comment
	}
	return fact{label, who}
}

// timeLeft says how long the operation remains valid, to the second under a
// minute and to the minute above.
func timeLeft(expires, now time.Time) string {
	d := expires.Sub(now)
	switch {
	case d <= 0:
		return "expired"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Round(time.Second).Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Round(time.Minute).Minutes()))
	}
	d = d.Round(time.Minute)
	return fmt.Sprintf("%dh %dm", int(d.Hours()), int(d.Minutes())%60)
}

// plain makes user-written text safe for a terminal: control characters
// (escape sequences, new lines) become visible escapes.
func plain(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			fmt.Fprintf(&b, "\\u%04x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// consoleText is the terminal's two lines for an event.
func consoleText(ev *keyserver.Event, now time.Time) string {
	m := compose(ev, now)
	var b strings.Builder
	fmt.Fprintf(&b, "keyserver: %s: %q  %s\n", m.title, m.description, m.link)
	parts := make([]string, 0, len(m.facts))
	for _, f := range m.facts[1:] {
		parts = append(parts, f.label+": "+plain(f.value))
	}
	fmt.Fprintf(&b, "           %s\n", strings.Join(parts, " | "))
	return b.String()
}
