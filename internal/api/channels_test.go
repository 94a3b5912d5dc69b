package api

import (
	"net/http"
	"strings"
	"testing"

	"keyserver/internal/keyserver"
)

// TestHandlersKeyChannelsNeverShowSecrets gives a key channels through the
// admin API: the answers name each channel by id, type and host, never its
// secret or the rest of its URL; a channel given back by id keeps both, and
// leaving channels out keeps them all.
func TestHandlersKeyChannelsNeverShowSecrets(t *testing.T) {
	f := newRouteFixture(t)
	const put = `{"hsmkey":"p384","requiredapprovals":1,"channels":[
		{"type":"webhook","url":"https://ci.example/hook?token=SECRET-IN-URL","secret":"SECRET-HMAC-KEY-0123"},
		{"type":"slack","url":"https://hooks.slack.example/services/T0/B0/SECRET-PATH","events":["operation.created"]}]}`
	var k AdminKey
	rec := f.send("PUT", "/api/admin/keys/key4", "root", put)
	if strings.Contains(rec.Body.String(), "SECRET") {
		t.Fatalf("PUT answered a secret: %s", rec.Body)
	}
	f.mustAnswer(rec, http.StatusOK, &k)
	if len(k.Channels) != 2 || k.Channels[0].ID == "" || !k.Channels[0].HasSecret || k.Channels[0].URL != "https://ci.example/…" ||
		k.Channels[1].Type != keyserver.ChannelSlack || k.Channels[1].Events[0] != keyserver.EventCreated {
		t.Fatalf("channels = %+v", k.Channels)
	}
	for _, path := range []string{"/api/admin/keys/key4", "/api/admin/keys"} {
		if body := f.send("GET", path, "root", "").Body.String(); strings.Contains(body, "SECRET") || !strings.Contains(body, k.Channels[0].ID) {
			t.Fatalf("GET %s answered %s", path, body)
		}
	}
	// The webhook given back by id keeps its URL and secret; the Slack one goes.
	f.mustAnswer(f.send("PUT", "/api/admin/keys/key4", "root", `{"hsmkey":"p384","requiredapprovals":1,"channels":[{"id":"`+k.Channels[0].ID+`","type":"webhook"}]}`), http.StatusOK, &k)
	stored, _ := f.store.StoredKey("key4")
	if len(stored.Channels) != 1 || stored.Channels[0].Secret != "SECRET-HMAC-KEY-0123" || !strings.Contains(stored.Channels[0].URL, "SECRET-IN-URL") {
		t.Fatalf("stored channels = %+v", stored.Channels)
	}
	// Leaving channels out keeps them.
	f.mustAnswer(f.send("PUT", "/api/admin/keys/key4", "root", `{"hsmkey":"p384","requiredapprovals":2}`), http.StatusOK, &k)
	if len(k.Channels) != 1 {
		t.Fatalf("a PUT without channels left %+v", k.Channels)
	}
	// A bad channel is refused without repeating its URL.
	e := f.mustRefusal(f.send("PUT", "/api/admin/keys/key4", "root", `{"hsmkey":"p384","requiredapprovals":1,"channels":[{"type":"teams","url":"http://teams.example/SECRET"}]}`),
		http.StatusBadRequest, keyserver.EINVALID)
	if strings.Contains(e.Message, "SECRET") {
		t.Fatalf("the refusal repeats the URL: %q", e.Message)
	}
}
