package keyserver

import (
	"slices"
	"strings"
	"time"
)

// Event types. Every state change of an operation writes one event, in the
// same transaction as the change.
const (
	EventCreated   = "operation.created"
	EventApproval  = "approval.recorded"
	EventApproved  = "operation.approved"
	EventRejected  = "operation.rejected"
	EventCancelled = "operation.cancelled"
	EventExpired   = "operation.expired"
	EventExhausted = "usage.exhausted"
	EventReminder  = "operation.reminder"
)

// EventTypes lists every event type.
var EventTypes = []string{EventCreated, EventApproval, EventApproved, EventRejected,
	EventCancelled, EventExpired, EventExhausted, EventReminder}

// Event tells those who should hear of it that an operation changed.
type Event struct {
	// ID is stable: a re-sent event keeps it, so receivers can drop duplicates.
	ID   string
	Type string
	Time time.Time
	// Actor caused the change; zero for what upkeep finds (expiry, reminder).
	Actor     Principal
	ActorName string
	// Comment is an approval's comment or a rejection's reason.
	Comment   string
	Operation OperationSummary
	// Link is the operation's page in the UI.
	Link string
	// Approvers should hear of the event: for a pending operation those who
	// can still approve it, for one that ended those who were asked.
	Approvers []Approver
}

// OperationSummary is what an event tells of its operation.
type OperationSummary struct {
	ID          string
	Description string
	Requester   Principal
	Status      Status
	Created     time.Time
	Expires     time.Time
	Keys        []KeySummary
	// BuildContext is where the operation came from, when a CI job asked.
	BuildContext *BuildContext
}

// KeySummary is one key of an operation, with its approvals given and needed.
type KeySummary struct {
	KeyID             string
	MaxUsageCount     int
	RequiredApprovals int
	Approvals         int
	// Uses counts the uses spent.
	Uses int
}

// Approver is a subject who may approve some of an operation's keys.
type Approver struct {
	Principal
	Name string
	// KeyIDs are the keys of the operation this approver may approve.
	KeyIDs []string
}

// KeyIDs returns the ids of the operation's keys.
func (s OperationSummary) KeyIDs() []string {
	ids := make([]string, len(s.Keys))
	for i, k := range s.Keys {
		ids[i] = k.KeyID
	}
	return ids
}

// Summarize returns what an event tells of op at now.
func Summarize(op *Operation, now time.Time) OperationSummary {
	s := OperationSummary{ID: op.ID, Description: op.Description, Requester: op.Requester,
		Status: op.Status(now), Created: op.Created, Expires: op.Expires, BuildContext: op.BuildContext}
	for _, g := range op.Keys {
		s.Keys = append(s.Keys, KeySummary{KeyID: g.KeyID, MaxUsageCount: g.MaxUsageCount,
			RequiredApprovals: g.RequiredApprovals, Approvals: len(g.Approvals), Uses: g.SpentCount})
	}
	return s
}

// OperationPath is the path of an operation's page in the UI.
func OperationPath(id string) string { return "/operations/" + id }

// approversOf returns the subjects who should hear of an event of op: while
// it is pending, those who may still approve one of its keys; otherwise
// every approver of its keys that need approval. The requester is never one.
func approversOf(op *Operation, subjects []*Subject, pending bool) []Approver {
	var out []Approver
	for _, sub := range subjects {
		if sub.Principal == op.Requester {
			continue
		}
		c := Caller{Principal: sub.Principal, Name: sub.Name, Roles: sub.Roles}
		var keys []string
		for _, g := range op.Keys {
			if g.RequiredApprovals == 0 || !c.hasKeyRole(RoleApprover, g.KeyID) {
				continue
			}
			if pending && (g.Approved() || g.ApprovedBy(c.Principal)) {
				continue
			}
			keys = append(keys, g.KeyID)
		}
		if len(keys) > 0 {
			out = append(out, Approver{Principal: sub.Principal, Name: sub.Name, KeyIDs: keys})
		}
	}
	slices.SortFunc(out, func(a, b Approver) int {
		return strings.Compare(a.Issuer+"\x00"+a.Subject, b.Issuer+"\x00"+b.Subject)
	})
	return out
}
