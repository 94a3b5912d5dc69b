package api

import (
	"net/url"

	"keyserver/internal/keyserver"
)

// channelBody is a channel as an admin gives it. An id names a channel the
// key has: without url or secret it keeps the stored ones.
type channelBody struct {
	ID     string   `json:"id"`
	Type   string   `json:"type"`
	URL    string   `json:"url"`
	Secret string   `json:"secret"`
	Events []string `json:"events"`
}

// channelView is a channel as the API returns it: never the secret, and of
// the URL (which is a secret for Teams and Slack) only the scheme and host.
type channelView struct {
	ID        string   `json:"id"`
	Type      string   `json:"type"`
	URL       string   `json:"url"`
	HasSecret bool     `json:"hassecret"`
	Events    []string `json:"events"`
}

// adminKeyView is a key as the admin routes return it.
type adminKeyView struct {
	KeyID             string        `json:"keyid"`
	HSMKey            string        `json:"hsmkey"`
	RequiredApprovals int           `json:"requiredapprovals"`
	KeyInfo           string        `json:"keyinfo"`
	Certificate       string        `json:"certificate"`
	Algorithm         string        `json:"algorithm"`
	Enabled           bool          `json:"enabled"`
	Channels          []channelView `json:"channels"`
}

func viewAdminKey(k *keyserver.Key) adminKeyView {
	v := adminKeyView{KeyID: k.KeyID, HSMKey: k.HSMKey, RequiredApprovals: k.RequiredApprovals, KeyInfo: k.KeyInfo,
		Certificate: k.Certificate, Algorithm: k.Algorithm, Enabled: k.Enabled, Channels: []channelView{}}
	for _, c := range k.Channels {
		events := c.Events
		if events == nil {
			events = []string{}
		}
		v.Channels = append(v.Channels, channelView{ID: c.ID, Type: c.Type, URL: redactURL(c.URL), HasSecret: c.Secret != "", Events: events})
	}
	return v
}

// redactURL keeps a URL's scheme and host, enough to tell channels apart.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return "…"
	}
	return u.Scheme + "://" + u.Host + "/…"
}

// channelsOf turns the body's channels into the domain's: nil (left out)
// keeps the key's channels.
func channelsOf(body *[]channelBody) []keyserver.Channel {
	if body == nil {
		return nil
	}
	out := make([]keyserver.Channel, 0, len(*body))
	for _, c := range *body {
		out = append(out, keyserver.Channel{ID: c.ID, Type: c.Type, URL: c.URL, Secret: c.Secret, Events: c.Events})
	}
	return out
}
