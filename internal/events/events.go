// Package events is the wire format of Keyserver events: the JSON body of
// every Service Bus message and of every generic webhook delivery. It is its
// own type, so that renaming a domain field never changes what receivers read.
package events

import (
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"keyserver/internal/keyserver"
)

// Version is the version of this format; receivers may check it.
const Version = 1

// Body is one event as JSON.
type Body struct {
	Version   int        `json:"version"`
	ID        string     `json:"id"`
	Type      string     `json:"type"`
	Time      time.Time  `json:"time"`
	Actor     *Principal `json:"actor,omitempty"`
	Comment   string     `json:"comment,omitempty"`
	Operation Operation  `json:"operation"`
	Link      string     `json:"link"`
	Approvers []Approver `json:"approvers"`
}

// Principal names a subject of a token issuer: a person or an app.
type Principal struct {
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
	Kind    string `json:"kind"`
	Name    string `json:"name,omitempty"`
}

func principal(p keyserver.Principal, name string) Principal {
	return Principal{Issuer: p.Issuer, Subject: p.Subject, Kind: p.Kind.String(), Name: name}
}

func (p Principal) domain() keyserver.Principal {
	k, _ := keyserver.ParseKind(p.Kind)
	return keyserver.Principal{Issuer: p.Issuer, Subject: p.Subject, Kind: k}
}

// Operation summarises the operation the event is about.
type Operation struct {
	ID          string    `json:"id"`
	Description string    `json:"description"`
	Requester   Principal `json:"requester"`
	Status      string    `json:"status"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires"`
	Keys        []Key     `json:"keys"`
	// BuildContext says which CI run asked, when one did.
	BuildContext *BuildContext `json:"buildcontext,omitempty"`
}

// BuildContext is the CI run an operation came from, as its token says.
type BuildContext struct {
	Platform     string `json:"platform"`
	Repository   string `json:"repository"`
	RepositoryID string `json:"repositoryid"`
	Ref          string `json:"ref"`
	SHA          string `json:"sha"`
	Workflow     string `json:"workflow"`
	JobWorkflow  string `json:"jobworkflow,omitempty"`
	RunID        string `json:"runid"`
	RunAttempt   string `json:"runattempt,omitempty"`
	Job          string `json:"job,omitempty"`
	Actor        string `json:"actor"`
	Event        string `json:"event"`
	Environment  string `json:"environment,omitempty"`
	RunURL       string `json:"runurl,omitempty"`
}

// Key is one key of the operation with its approvals given of those needed.
type Key struct {
	KeyID           string `json:"keyid"`
	ApprovalsGiven  int    `json:"approvalsgiven"`
	ApprovalsNeeded int    `json:"approvalsneeded"`
	MaxUsageCount   int    `json:"maxusagecount"`
	// UsesSpent counts the signatures made with the key in the operation.
	UsesSpent int `json:"usesspent"`
}

// Approver is a subject who should hear of the event, with the keys of the
// operation it may approve.
type Approver struct {
	Principal
	KeyIDs []string `json:"keyids"`
}

// FromDomain returns the wire body of ev.
func FromDomain(ev *keyserver.Event) Body {
	b := Body{
		Version: Version, ID: ev.ID, Type: ev.Type, Time: ev.Time.UTC(), Comment: ev.Comment, Link: ev.Link,
		Operation: Operation{
			ID: ev.Operation.ID, Description: ev.Operation.Description,
			Requester: principal(ev.Operation.Requester, ""),
			Status:    string(ev.Operation.Status), Created: ev.Operation.Created.UTC(), Expires: ev.Operation.Expires.UTC(),
			Keys: []Key{},
		},
		Approvers: []Approver{},
	}
	if ev.Actor != (keyserver.Principal{}) {
		a := principal(ev.Actor, ev.ActorName)
		b.Actor = &a
	}
	if c := ev.Operation.BuildContext; c != nil {
		w := BuildContext(*c)
		b.Operation.BuildContext = &w
	}
	for _, k := range ev.Operation.Keys {
		b.Operation.Keys = append(b.Operation.Keys, Key{KeyID: k.KeyID, ApprovalsGiven: k.Approvals,
			ApprovalsNeeded: k.RequiredApprovals, MaxUsageCount: k.MaxUsageCount, UsesSpent: k.Uses})
	}
	for _, a := range ev.Approvers {
		b.Approvers = append(b.Approvers, Approver{Principal: principal(a.Principal, a.Name), KeyIDs: append([]string{}, a.KeyIDs...)})
	}
	return b
}

// Domain returns the event b carries.
func (b Body) Domain() *keyserver.Event {
	ev := &keyserver.Event{
		ID: b.ID, Type: b.Type, Time: b.Time, Comment: b.Comment, Link: b.Link,
		Operation: keyserver.OperationSummary{
			ID: b.Operation.ID, Description: b.Operation.Description,
			Requester: b.Operation.Requester.domain(),
			Status:    keyserver.Status(b.Operation.Status), Created: b.Operation.Created, Expires: b.Operation.Expires,
		},
	}
	if b.Actor != nil {
		ev.Actor, ev.ActorName = b.Actor.domain(), b.Actor.Name
	}
	if c := b.Operation.BuildContext; c != nil {
		d := keyserver.BuildContext(*c)
		ev.Operation.BuildContext = &d
	}
	for _, k := range b.Operation.Keys {
		ev.Operation.Keys = append(ev.Operation.Keys, keyserver.KeySummary{KeyID: k.KeyID,
			MaxUsageCount: k.MaxUsageCount, RequiredApprovals: k.ApprovalsNeeded, Approvals: k.ApprovalsGiven, Uses: k.UsesSpent})
	}
	for _, a := range b.Approvers {
		ev.Approvers = append(ev.Approvers, keyserver.Approver{Principal: a.domain(), Name: a.Name, KeyIDs: a.KeyIDs})
	}
	return ev
}

// Marshal returns the JSON body of ev.
func Marshal(ev *keyserver.Event) ([]byte, error) {
	if err := check(ev); err != nil {
		return nil, err
	}
	return json.Marshal(FromDomain(ev))
}

// Parse reads an event body, as the notify function receives it.
func Parse(data []byte) (*keyserver.Event, error) {
	var b Body
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("the event is not JSON: %w", err)
	}
	if b.Version != Version {
		return nil, fmt.Errorf("event %q has version %d; this Keyserver reads version %d", b.ID, b.Version, Version)
	}
	ev := b.Domain()
	return ev, check(ev)
}

// MaxIDLength is the longest event id: Service Bus takes message ids of at
// most 128 characters.
const MaxIDLength = 128

func check(ev *keyserver.Event) error {
	switch {
	case ev == nil:
		return fmt.Errorf("the event is missing")
	case ev.ID == "" || len(ev.ID) > MaxIDLength:
		return fmt.Errorf("event id %q is empty or longer than %d", ev.ID, MaxIDLength)
	case !slices.Contains(keyserver.EventTypes, ev.Type):
		return fmt.Errorf("event %s has the unknown type %q", ev.ID, ev.Type)
	case !keyserver.ValidID(ev.Operation.ID):
		return fmt.Errorf("event %s names no valid operation id", ev.ID)
	}
	return nil
}
