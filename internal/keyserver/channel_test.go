package keyserver_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"keyserver/internal/keyserver"
)

const hookSecret = "0123456789abcdef-secret"

func putChannels(t *testing.T, f *fixture, keyID string, chs []keyserver.Channel) ([]keyserver.Channel, error) {
	t.Helper()
	k := &keyserver.Key{KeyID: keyID, HSMKey: "p256", RequiredApprovals: 1, Enabled: true, Channels: chs}
	err := f.svc.PutKey(context.Background(), f.mustCaller(t, "admin"), k)
	if err != nil {
		return nil, err
	}
	stored, _ := f.store.StoredKey(keyID)
	return stored.Channels, nil
}

func TestKeyChannels(t *testing.T) {
	f := newFixture(t)
	got, err := putChannels(t, f, "key2", []keyserver.Channel{
		{Type: keyserver.ChannelWebhook, URL: "https://ci.example/hook", Secret: hookSecret},
		{Type: keyserver.ChannelTeams, URL: "https://teams.example/invoke?sig=abc", Events: []string{keyserver.EventCreated}},
		{Type: keyserver.ChannelSlack, URL: "http://127.0.0.1:9/slack"},
	})
	if err != nil {
		t.Fatalf("PutKey with channels: %v", err)
	}
	if len(got) != 3 || got[0].ID == "" || got[0].ID == got[1].ID || got[0].Secret != hookSecret || got[1].Events[0] != keyserver.EventCreated {
		t.Fatalf("stored channels = %+v", got)
	}

	// Keeping a channel by its id keeps its URL and secret; a left-out one goes.
	kept, err := putChannels(t, f, "key2", []keyserver.Channel{{ID: got[0].ID, Type: keyserver.ChannelWebhook}, {ID: got[2].ID, Type: keyserver.ChannelSlack, URL: "https://hooks.slack.example/new"}})
	if err != nil {
		t.Fatalf("PutKey keeping channels: %v", err)
	}
	if len(kept) != 2 || !reflect.DeepEqual(kept[0], got[0]) || kept[1].ID != got[2].ID || kept[1].URL != "https://hooks.slack.example/new" {
		t.Fatalf("channels after keeping = %+v", kept)
	}

	// Leaving channels out keeps them all; an empty list removes them.
	if again, err := putChannels(t, f, "key2", nil); err != nil || len(again) != 2 {
		t.Fatalf("PutKey without channels kept %+v, %v", again, err)
	}
	if none, err := putChannels(t, f, "key2", []keyserver.Channel{}); err != nil || len(none) != 0 {
		t.Fatalf("PutKey with [] kept %+v, %v", none, err)
	}
	audit := f.store.GlobalAudit()
	for _, ev := range audit {
		if strings.Contains(ev.Detail, hookSecret) || strings.Contains(ev.Detail, "sig=abc") {
			t.Fatalf("an audit event shows a channel secret: %+v", ev)
		}
	}
}

func TestKeyChannelRefusals(t *testing.T) {
	hook := keyserver.Channel{Type: keyserver.ChannelWebhook, URL: "https://ci.example/hook", Secret: hookSecret}
	tests := []struct {
		name string
		chs  []keyserver.Channel
		want string
	}{
		{"unknown type", []keyserver.Channel{{Type: "email", URL: "https://x.example"}}, "type must be"},
		{"plain http", []keyserver.Channel{{Type: keyserver.ChannelSlack, URL: "http://hooks.example/x"}}, "https"},
		{"no url", []keyserver.Channel{{Type: keyserver.ChannelTeams}}, "url must be"},
		{"user info", []keyserver.Channel{{Type: keyserver.ChannelTeams, URL: "https://u:p@teams.example/x"}}, "without user information"},
		{"webhook without secret", []keyserver.Channel{{Type: keyserver.ChannelWebhook, URL: "https://ci.example/hook"}}, "secret must be"},
		{"short secret", []keyserver.Channel{{Type: keyserver.ChannelWebhook, URL: "https://ci.example/hook", Secret: "short"}}, "secret must be"},
		{"secret on slack", []keyserver.Channel{{Type: keyserver.ChannelSlack, URL: "https://hooks.example/x", Secret: hookSecret}}, "takes no secret"},
		{"unknown event", []keyserver.Channel{{Type: keyserver.ChannelSlack, URL: "https://hooks.example/x", Events: []string{"operation.renamed"}}}, "not an event type"},
		{"unknown id", []keyserver.Channel{{ID: "abc123", Type: keyserver.ChannelSlack}}, "not a channel of key"},
		{"too many", []keyserver.Channel{hook, hook, hook, hook, hook, hook, hook, hook, hook}, "at most 8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			before, _ := f.store.StoredKey("key2")
			_, err := putChannels(t, f, "key2", tt.chs)
			wantCode(t, err, keyserver.EINVALID)
			if !strings.Contains(keyserver.ErrorMessage(err), tt.want) {
				t.Fatalf("message %q does not say %q", keyserver.ErrorMessage(err), tt.want)
			}
			if f := keyserver.ErrorField(err); f != "channels" {
				t.Fatalf("the error names field %q, not channels (where the admin page shows it)", f)
			}
			for _, c := range tt.chs {
				if c.URL != "" && strings.Contains(keyserver.ErrorMessage(err), c.URL) {
					t.Fatalf("the message repeats the URL: %q", keyserver.ErrorMessage(err))
				}
			}
			if after, _ := f.store.StoredKey("key2"); after.HSMKey != before.HSMKey || len(after.Channels) != 0 {
				t.Fatalf("a refused PutKey changed the key: %+v", after)
			}
		})
	}
	t.Run("type of a kept channel", func(t *testing.T) {
		f := newFixture(t)
		got, err := putChannels(t, f, "key2", []keyserver.Channel{hook})
		if err != nil {
			t.Fatal(err)
		}
		_, err = putChannels(t, f, "key2", []keyserver.Channel{{ID: got[0].ID, Type: keyserver.ChannelSlack}})
		wantCode(t, err, keyserver.EINVALID)
	})
}
