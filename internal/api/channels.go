package api

import (
	"net/url"

	"keyserver/internal/keyserver"
)

func viewChannels(cs []keyserver.Channel) []Channel {
	out := []Channel{}
	for _, c := range cs {
		events := c.Events
		if events == nil {
			events = []string{}
		}
		out = append(out, Channel{ID: c.ID, Type: c.Type, URL: redactURL(c.URL), HasSecret: c.Secret != "", Events: events})
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
func channelsOf(body *[]ChannelRegistration) []keyserver.Channel {
	if body == nil {
		return nil
	}
	out := make([]keyserver.Channel, 0, len(*body))
	for _, c := range *body {
		out = append(out, keyserver.Channel{ID: c.ID, Type: c.Type, URL: c.URL, Secret: c.Secret, Events: c.Events})
	}
	return out
}
