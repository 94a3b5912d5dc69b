package notify_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"keyserver/internal/events"
	"keyserver/internal/keyserver"
	"keyserver/internal/notify"
)

func mustDeliver(tb testing.TB, f *fixture, ev *keyserver.Event) {
	tb.Helper()
	if err := f.d.Deliver(context.Background(), ev); err != nil {
		tb.Fatalf("Deliver: %v", err)
	}
}

func one(tb testing.TB, f *fixture, path string) recorded {
	tb.Helper()
	got := f.recv.posts(path)
	if len(got) != 1 {
		tb.Fatalf("%s got %d posts, want 1", path, len(got))
	}
	return got[0]
}

func TestGenericWebhook(t *testing.T) {
	f := newFixture(t)
	ev := pendingEvent("Building of firmware for XYZ development board")
	mustDeliver(t, f, ev)
	r := one(t, f, "/webhook")
	if r.header.Get("Content-Type") != "application/json" || r.header.Get(notify.HeaderEventID) != ev.ID ||
		r.header.Get(notify.HeaderEventType) != keyserver.EventCreated {
		t.Fatalf("headers = %v", r.header)
	}
	ts, err := strconv.ParseInt(r.header.Get(notify.HeaderTimestamp), 10, 64)
	if err != nil || ts != t0.Add(60e9).Unix() {
		t.Fatalf("timestamp header %q, want the delivery time", r.header.Get(notify.HeaderTimestamp))
	}
	if got, want := r.header.Get(notify.HeaderSignature), notify.Sign(secret, ts, r.body); got != want || !strings.HasPrefix(got, "sha256=") {
		t.Fatalf("signature %q, want %q", got, want)
	}
	if notify.Sign("another secret", ts, r.body) == r.header.Get(notify.HeaderSignature) ||
		notify.Sign(secret, ts+1, r.body) == r.header.Get(notify.HeaderSignature) {
		t.Fatal("the signature does not depend on the secret and the timestamp")
	}
	got, err := events.Parse(r.body)
	if err != nil || !reflect.DeepEqual(got, ev) {
		t.Fatalf("body = %+v (%v), want the event %+v", got, err, ev)
	}
}

// card returns the Adaptive Card of a Teams post, checking the envelope.
func card(tb testing.TB, body []byte) map[string]any {
	tb.Helper()
	var msg struct {
		Type        string
		Attachments []struct {
			ContentType string
			ContentURL  any `json:"contentUrl"`
			Content     map[string]any
		}
	}
	if err := json.Unmarshal(body, &msg); err != nil || msg.Type != "message" || len(msg.Attachments) != 1 ||
		msg.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
		tb.Fatalf("not a Workflows message with one Adaptive Card (%v): %s", err, body)
	}
	c := msg.Attachments[0].Content
	if c["type"] != "AdaptiveCard" || c["version"] != "1.4" {
		tb.Fatalf("not an Adaptive Card 1.4: %v", c)
	}
	return c
}

// cardText returns the card's text, one line per element; user text must be
// in TextRuns only.
func cardText(tb testing.TB, c map[string]any) []string {
	tb.Helper()
	var lines []string
	for _, el := range c["body"].([]any) {
		e := el.(map[string]any)
		switch e["type"] {
		case "TextBlock":
			lines = append(lines, "#"+e["text"].(string))
		case "RichTextBlock":
			line := ""
			for _, in := range e["inlines"].([]any) {
				run := in.(map[string]any)
				if run["type"] != "TextRun" {
					tb.Fatalf("inline %v is not a TextRun", run)
				}
				line += run["text"].(string)
			}
			lines = append(lines, line)
		default:
			tb.Fatalf("unexpected element %v", e)
		}
	}
	return lines
}

// wantFacts are the facts every channel must name for pendingEvent, one
// minute after it was created.
var wantFacts = []string{
	"Operation: " + opID,
	"Requester: orderer-client",
	"Keys: key2 0 of 1 approvals",
	"Time left: 59m",
	"Approvers who can act: Approver of key2 (approver-key2) for key2",
}

func TestTeamsAdaptiveCard(t *testing.T) {
	f := newFixture(t)
	ev := pendingEvent("Building of firmware for XYZ development board")
	mustDeliver(t, f, ev)
	c := card(t, one(t, f, "/teams").body)
	want := append([]string{"#Approval requested", ev.Operation.Description}, wantFacts...)
	if got := cardText(t, c); !reflect.DeepEqual(got, want) {
		t.Fatalf("card text =\n%q\nwant\n%q", got, want)
	}
	actions, _ := c["actions"].([]any)
	if len(actions) != 1 || !reflect.DeepEqual(actions[0], map[string]any{"type": "Action.OpenUrl", "title": "Open", "url": ev.Link}) {
		t.Fatalf("actions = %v, want one Open to %s", actions, ev.Link)
	}
}

func TestSlackBlockKit(t *testing.T) {
	f := newFixture(t)
	ev := pendingEvent("Building of firmware for XYZ development board")
	mustDeliver(t, f, ev)
	var msg struct {
		Text   string
		Blocks []struct {
			Type     string
			Text     *struct{ Type, Text string }
			Fields   []struct{ Type, Text string }
			Elements []struct {
				Type string
				Text struct{ Type, Text string }
				URL  string
			}
		}
	}
	body := one(t, f, "/slack/T0/B0/url-secret-3").body
	if err := json.Unmarshal(body, &msg); err != nil || len(msg.Blocks) != 4 {
		t.Fatalf("not four Block Kit blocks (%v): %s", err, body)
	}
	if msg.Text != "Approval requested: operation "+opID {
		t.Fatalf("fallback text %q", msg.Text)
	}
	b := msg.Blocks
	if b[0].Type != "header" || b[0].Text.Type != "plain_text" || b[0].Text.Text != "Approval requested" ||
		b[1].Type != "section" || b[1].Text.Type != "plain_text" || b[1].Text.Text != ev.Operation.Description {
		t.Fatalf("header and description blocks: %s", body)
	}
	var fields []string
	for _, fl := range b[2].Fields {
		if fl.Type != "plain_text" {
			t.Fatalf("field %q is %s, want plain_text", fl.Text, fl.Type)
		}
		fields = append(fields, fl.Text)
	}
	if !reflect.DeepEqual(fields, wantFacts) {
		t.Fatalf("fields =\n%q\nwant\n%q", fields, wantFacts)
	}
	if b[3].Type != "actions" || len(b[3].Elements) != 1 || b[3].Elements[0].Type != "button" ||
		b[3].Elements[0].Text.Text != "Open" || b[3].Elements[0].URL != ev.Link {
		t.Fatalf("actions block: %s", body)
	}
}

// TestUserTextStaysText: what users wrote reaches cards only in elements
// that render plain text, and never the Slack fallback text.
func TestUserTextStaysText(t *testing.T) {
	f := newFixture(t)
	evil := "**urgent** [sign here](https://evil.example) <!channel> <https://evil.example|x>"
	ev := pendingEvent(evil)
	mustDeliver(t, f, ev)
	lines := cardText(t, card(t, one(t, f, "/teams").body))
	if lines[1] != evil {
		t.Fatalf("the description is not one TextRun as written: %q", lines[1])
	}
	slack := string(one(t, f, "/slack/T0/B0/url-secret-3").body)
	var msg struct{ Text string }
	_ = json.Unmarshal([]byte(slack), &msg)
	if strings.Contains(msg.Text, "evil") || strings.Contains(slack, `"type":"mrkdwn"`) {
		t.Fatalf("user text could be formatted by Slack: %s", slack)
	}
}

func TestEachChannelOncePerEvent(t *testing.T) {
	f := newFixture(t)
	ev := pendingEvent("Building of firmware for XYZ development board")
	mustDeliver(t, f, ev)
	mustDeliver(t, f, ev) // Service Bus delivered the message twice
	for _, p := range []string{"/webhook", "/teams", "/slack/T0/B0/url-secret-3"} {
		one(t, f, p)
	}
	other := pendingEvent("Another operation")
	other.ID = strings.Repeat("e2", 20)
	mustDeliver(t, f, other)
	if n := len(f.recv.posts("/teams")); n != 2 {
		t.Fatalf("teams got %d posts for two events, want 2", n)
	}
}

func TestFailedDeliveryFailsAndRetriesOnlyIt(t *testing.T) {
	f := newFixture(t)
	f.recv.answer("/teams", http.StatusServiceUnavailable)
	f.recv.answer("/slack/T0/B0/url-secret-3", http.StatusFound) // a redirect is no delivery
	ev := pendingEvent("Building of firmware for XYZ development board")
	err := f.d.Deliver(context.Background(), ev)
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "302") {
		t.Fatalf("Deliver = %v, want an error naming both failures", err)
	}
	for _, secretText := range []string{"url-secret", secret, f.recv.URL} {
		if strings.Contains(err.Error(), secretText) || strings.Contains(f.logs.String(), secretText) {
			t.Fatalf("error or log shows %q:\n%v\n%s", secretText, err, f.logs)
		}
	}
	f.recv.answer("/teams", 0)
	f.recv.answer("/slack/T0/B0/url-secret-3", http.StatusNoContent)
	mustDeliver(t, f, ev) // the retry
	if w, tm, sl := len(f.recv.posts("/webhook")), len(f.recv.posts("/teams")), len(f.recv.posts("/slack/T0/B0/url-secret-3")); w != 1 || tm != 2 || sl != 2 {
		t.Fatalf("posts: webhook %d, teams %d, slack %d; want 1, 2, 2", w, tm, sl)
	}
}

func TestUnreachableReceiverFails(t *testing.T) {
	f := newFixture(t)
	f.recv.Close()
	if err := f.d.Deliver(context.Background(), pendingEvent("Building of firmware")); err == nil {
		t.Fatal("Deliver succeeded with the receiver down")
	}
	if strings.Contains(f.logs.String(), "url-secret") {
		t.Fatalf("the log shows a channel URL:\n%s", f.logs)
	}
}

func TestChannelsChooseTheirEvents(t *testing.T) {
	f := newFixture(t)
	f.channels["key2"][0].Events = []string{keyserver.EventApproved}
	f.channels["key3"] = []keyserver.Channel{{ID: "dd04", Type: keyserver.ChannelTeams, URL: f.channels["key2"][1].URL}}
	ev := pendingEvent("Building of firmware")
	ev.Operation.Keys = append(ev.Operation.Keys, keyserver.KeySummary{KeyID: "key3", RequiredApprovals: 2}, keyserver.KeySummary{KeyID: "gone"})
	mustDeliver(t, f, ev)
	if n := len(f.recv.posts("/webhook")); n != 0 {
		t.Fatalf("the webhook that wants operation.approved only got %d posts", n)
	}
	one(t, f, "/teams") // key2's and key3's channel share the URL: one post
	approved := pendingEvent("Building of firmware")
	approved.ID, approved.Type, approved.Operation.Status = strings.Repeat("e3", 20), keyserver.EventApproved, keyserver.StatusApproved
	mustDeliver(t, f, approved)
	one(t, f, "/webhook")
}

func TestDeliveryLogDownFails(t *testing.T) {
	f := newFixture(t)
	f.log.fail = keyserver.Errorf(keyserver.EUNAVAILABLE, "Table Storage cannot be reached.")
	if err := f.d.Deliver(context.Background(), pendingEvent("Building of firmware")); err == nil {
		t.Fatal("Deliver succeeded without knowing what was delivered")
	}
	if len(f.recv.got) != 0 {
		t.Fatalf("posted %d times without the delivery log", len(f.recv.got))
	}
}

func TestConsole(t *testing.T) {
	f := newFixture(t)
	var out bytes.Buffer
	f.d.Console = &out
	f.channels = map[string][]keyserver.Channel{}
	ev := pendingEvent("Building of firmware\x1b[31m for XYZ")
	mustDeliver(t, f, ev)
	mustDeliver(t, f, ev)
	want := "keyserver: Approval requested: \"Building of firmware\\x1b[31m for XYZ\"  " + ev.Link + "\n" +
		"           " + strings.Join(wantFacts[1:], " | ") + "\n"
	if out.String() != want {
		t.Fatalf("console =\n%s\nwant\n%s", out.String(), want)
	}
}

// TestNamesPeopleAndApps: a person is named by name (their subject is an
// opaque id), an app by name and client id, or client id alone.
func TestNamesPeopleAndApps(t *testing.T) {
	f := newFixture(t)
	var out bytes.Buffer
	f.d.Console = &out
	f.channels = map[string][]keyserver.Channel{}
	ev := pendingEvent("Building of firmware")
	ev.Approvers = []keyserver.Approver{
		{Principal: keyserver.Principal{Issuer: "https://issuer.example", Subject: "4f1c0e9a-0000-4000-8000-00000000000b", Kind: keyserver.KindPerson}, Name: "Ada Lovelace", KeyIDs: []string{"key2"}},
		{Principal: keyserver.Principal{Issuer: "https://issuer.example", Subject: "approver-app"}, Name: "Release approver", KeyIDs: []string{"key2"}},
		{Principal: keyserver.Principal{Issuer: "https://issuer.example", Subject: "approver-key2"}, Name: "approver-key2", KeyIDs: []string{"key2"}},
	}
	mustDeliver(t, f, ev)
	want := "Approvers who can act: Ada Lovelace (person) for key2; Release approver (approver-app) for key2; approver-key2 for key2"
	if !strings.Contains(out.String(), want) || strings.Contains(out.String(), "4f1c0e9a") {
		t.Fatalf("console = %q, want it to say %q", out.String(), want)
	}
}

// TestNamesTheBuild: an operation a CI job asked for names its run.
func TestNamesTheBuild(t *testing.T) {
	f := newFixture(t)
	ev := pendingEvent("Building of firmware")
	ev.Operation.BuildContext = &keyserver.BuildContext{Platform: "github", Repository: "octo/fw", Ref: "refs/heads/main",
		SHA: "0123456789abcdef0123", RunID: "31", Event: "push", Actor: "octocat", RunURL: "https://github.com/octo/fw/actions/runs/31"}
	mustDeliver(t, f, ev)
	lines := cardText(t, card(t, one(t, f, "/teams").body))
	for _, want := range []string{"Build: octo/fw refs/heads/main at 0123456789ab (github run 31, push by octocat)", "Run: https://github.com/octo/fw/actions/runs/31"} {
		if !slices.Contains(lines, want) {
			t.Fatalf("the card does not say %q: %q", want, lines)
		}
	}
}

// TestExhaustedSaysTheUses: the usage.exhausted message counts the uses
// and names who spent the last.
func TestExhaustedSaysTheUses(t *testing.T) {
	f := newFixture(t)
	ev := pendingEvent("Building of firmware")
	ev.Type, ev.Operation.Status = keyserver.EventExhausted, keyserver.StatusExhausted
	ev.Operation.Keys[0].Approvals, ev.Operation.Keys[0].Uses = 1, 1
	ev.ActorName = "Release pipeline"
	mustDeliver(t, f, ev)
	lines := cardText(t, card(t, one(t, f, "/teams").body))
	for _, want := range []string{"#All uses spent", "Keys: key2 1 of 1 approvals (1 of 1 uses spent)",
		"Approvers who can act: none needed: the operation is exhausted", "Last use by: Release pipeline (orderer-client)"} {
		if !slices.Contains(lines, want) {
			t.Fatalf("the card does not say %q: %q", want, lines)
		}
	}
}
