package notify

import (
	"encoding/json"
	"time"

	"keyserver/internal/keyserver"
)

// Text written by users (descriptions, names, comments) goes into elements
// that render plain text only: Adaptive Card TextRuns and Slack plain_text
// objects. Neither interprets Markdown or links.

// teamsMessage is a Workflows webhook message: an Adaptive Card with the
// event's facts and an "Open" action to the operation's page.
func teamsMessage(ev *keyserver.Event, now time.Time) ([]byte, error) {
	m := compose(ev, now)
	body := []any{
		map[string]any{"type": "TextBlock", "text": m.title, "weight": "Bolder", "size": "Medium", "wrap": true},
		richText(textRun(m.description, false)),
	}
	for _, f := range m.facts {
		body = append(body, richText(textRun(f.label+": ", true), textRun(f.value, false)))
	}
	card := map[string]any{
		"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
		"type":    "AdaptiveCard",
		"version": "1.4",
		"body":    body,
	}
	if m.link != "" {
		card["actions"] = []any{map[string]any{"type": "Action.OpenUrl", "title": "Open", "url": m.link}}
	}
	return json.Marshal(map[string]any{
		"type": "message",
		"attachments": []any{map[string]any{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"contentUrl":  nil,
			"content":     card,
		}},
	})
}

func richText(inlines ...any) map[string]any {
	return map[string]any{"type": "RichTextBlock", "inlines": inlines}
}

func textRun(text string, bold bool) map[string]any {
	r := map[string]any{"type": "TextRun", "text": text}
	if bold {
		r["weight"] = "Bolder"
	}
	return r
}

// Slack's limits on text objects.
const (
	slackHeaderMax = 150
	slackTextMax   = 3000
	slackFieldMax  = 2000
	slackFieldsMax = 10
)

// slackMessage is an incoming webhook message in Block Kit: a header, the
// description, the facts and a button to the operation's page. The fallback
// text (notifications) holds no user-written text.
func slackMessage(ev *keyserver.Event, now time.Time) ([]byte, error) {
	m := compose(ev, now)
	var fields []any
	for _, f := range m.facts {
		if len(fields) < slackFieldsMax {
			fields = append(fields, plainText(f.label+": "+f.value, slackFieldMax))
		}
	}
	blocks := []any{
		map[string]any{"type": "header", "text": plainText(m.title, slackHeaderMax)},
		map[string]any{"type": "section", "text": plainText(m.description, slackTextMax)},
		map[string]any{"type": "section", "fields": fields},
	}
	if m.link != "" {
		blocks = append(blocks, map[string]any{"type": "actions", "elements": []any{
			map[string]any{"type": "button", "text": plainText("Open", slackHeaderMax), "url": m.link},
		}})
	}
	return json.Marshal(map[string]any{
		"text":   m.title + ": operation " + ev.Operation.ID,
		"blocks": blocks,
	})
}

func plainText(s string, max int) map[string]any {
	if r := []rune(s); len(r) > max {
		s = string(r[:max-1]) + "…"
	}
	return map[string]any{"type": "plain_text", "text": s, "emoji": false}
}
