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

func viewChannels(cs []keyserver.Channel) []channelView {
	out := []channelView{}
	for _, c := range cs {
		events := c.Events
		if events == nil {
			events = []string{}
		}
		out = append(out, channelView{ID: c.ID, Type: c.Type, URL: redactURL(c.URL), HasSecret: c.Secret != "", Events: events})
	}
	return out
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
