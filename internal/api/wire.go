package api

import (
	"time"
)

// This file holds the API's wire types: the JSON of every request and answer,
// kept apart from the domain's structs so that renaming a domain field never
// changes the wire. The PKCS#11 module and existing pipelines depend on these
// names; testdata/wire pins the answers byte for byte. views.go builds them.

// Principal names a subject on the wire: the token issuer, the subject,
// whether it is a person or an app, and its registered display name when known.
type Principal struct {
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
	Kind    string `json:"kind"`
	Name    string `json:"name,omitempty"`
}

// Approval is one approver's consent, as operations show it.
type Approval struct {
	Approver Principal `json:"approver"`
	Name     string    `json:"name,omitempty"`
	Time     time.Time `json:"time"`
	Comment  string    `json:"comment,omitempty"`
}

// Grant is what an operation allows for one key.
type Grant struct {
	KeyID             string     `json:"keyid"`
	KeyInfo           string     `json:"keyinfo,omitempty"`
	Algorithm         string     `json:"algorithm,omitempty"`
	MaxUsageCount     int        `json:"maxusagecount"`
	UsageCount        int        `json:"usagecount"`
	RequiredApprovals int        `json:"requiredapprovals"`
	Approvals         []Approval `json:"approvals"`
}

// Closure says who rejected or cancelled an operation, when and why.
type Closure struct {
	By     Principal `json:"by"`
	Time   time.Time `json:"time"`
	Reason string    `json:"reason,omitempty"`
}

// Action says whether the caller may take an action now, and why not.
type Action struct {
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason,omitempty"`
}

// Actions are what the caller may do with an operation.
type Actions struct {
	Approve Action `json:"approve"`
	Reject  Action `json:"reject"`
	Cancel  Action `json:"cancel"`
}

// Operation is an operation as every operations route answers it: the
// stored fields, the derived validms, approved and status, and what the
// caller may do with it.
type Operation struct {
	ID          string    `json:"id"`
	Requester   Principal `json:"requester"`
	Description string    `json:"description"`
	Created     time.Time `json:"created"`
	Expires     time.Time `json:"expires"`
	Keys        []Grant   `json:"keys"`
	Rejected    *Closure  `json:"rejected,omitempty"`
	Cancelled   *Closure  `json:"cancelled,omitempty"`
	ValidMS     int64     `json:"validms"`
	Approved    bool      `json:"approved"`
	Status      string    `json:"status"`
	Actions     Actions   `json:"actions"`
	// BuildContext is where the operation came from, from the requester's CI token.
	BuildContext *buildContextView `json:"buildcontext,omitempty"`
}

// Grant returns the operation's grant for keyID, or nil.
func (o *Operation) Grant(keyID string) *Grant {
	for i := range o.Keys {
		if o.Keys[i].KeyID == keyID {
			return &o.Keys[i]
		}
	}
	return nil
}

// Event is one entry of an operation's audit timeline.
type Event struct {
	Time   time.Time `json:"time"`
	Actor  Principal `json:"actor"`
	Action string    `json:"action"`
	KeyID  string    `json:"keyid,omitempty"`
	Digest string    `json:"digest,omitempty"`
	Result string    `json:"result"`
	Detail string    `json:"detail,omitempty"`
}

// KeyRequest is one entry of "new-keyusagerestrictions".
type KeyRequest struct {
	KeyID         string `json:"keyid"`
	MaxUsageCount int    `json:"maxusagecount"`
}

// OperationRequest is the body of POST /api/operations.
type OperationRequest struct {
	ValidMS     int64        `json:"validms"`
	Description string       `json:"description"`
	Keys        []KeyRequest `json:"new-keyusagerestrictions"`
}

// ApproveRequest is the optional body of POST /api/operations/{id}/approve.
type ApproveRequest struct {
	Comment string `json:"comment"`
}

// RejectRequest is the body of POST /api/operations/{id}/reject.
type RejectRequest struct {
	Reason string `json:"reason"`
}

// SignOrder is the body of POST /api/signorders, as the PKCS#11 client sends it.
type SignOrder struct {
	OperationID     string `json:"operationid"`
	KeyID           string `json:"keyid"`
	InputData       string `json:"inputdata"`
	InputFormat     string `json:"inputformat"`
	InputPadding    string `json:"inputpadding"`
	SignatureFormat string `json:"signatureformat"`
	Description     string `json:"description"`
	HashAlgorithm   string `json:"hashalgorithm,omitempty"`
}

// SignResult is the answer to a sign order.
type SignResult struct {
	KeyID           string `json:"keyid"`
	InputData       string `json:"inputdata"`
	SignatureFormat string `json:"signatureformat"`
	Result          string `json:"result"`
	// AuditRecord is the id of the signature's audit record (docs/AUDIT.md).
	AuditRecord string `json:"auditrecord,omitempty"`
}

// Key is a key as GET /api/keys shows it; the HSM reference stays internal.
// The cert* fields describe the certificate for people.
type Key struct {
	KeyID             string     `json:"keyid"`
	KeyInfo           string     `json:"keyinfo"`
	Certificate       string     `json:"certificate"`
	Algorithm         string     `json:"algorithm"`
	RequiredApprovals int        `json:"requiredapprovals"`
	CertSubject       string     `json:"certsubject,omitempty"`
	CertIssuer        string     `json:"certissuer,omitempty"`
	CertNotBefore     *time.Time `json:"certnotbefore,omitempty"`
	CertNotAfter      *time.Time `json:"certnotafter,omitempty"`
	CertSHA256        string     `json:"certsha256,omitempty"`
}

// AdminKey is a key registration as the admin routes answer it.
type AdminKey struct {
	KeyID             string `json:"keyid"`
	HSMKey            string `json:"hsmkey"`
	RequiredApprovals int    `json:"requiredapprovals"`
	KeyInfo           string `json:"keyinfo"`
	Certificate       string `json:"certificate"`
	Algorithm         string `json:"algorithm"`
	Enabled           bool   `json:"enabled"`
	// Channels never show a secret.
	Channels []Channel `json:"channels"`
}

// KeyRegistration is the body of PUT /api/admin/keys/{keyid}; the key id is
// in the path. Channels left out keep the key's channels.
type KeyRegistration struct {
	HSMKey            string                 `json:"hsmkey"`
	RequiredApprovals *int                   `json:"requiredapprovals"`
	KeyInfo           string                 `json:"keyinfo"`
	Certificate       string                 `json:"certificate"`
	Enabled           *bool                  `json:"enabled"`
	Channels          *[]ChannelRegistration `json:"channels"`
}

// ChannelRegistration is a channel as an admin gives it. An id names a
// channel the key has: without url or secret it keeps the stored ones.
type ChannelRegistration struct {
	ID     string   `json:"id"`
	Type   string   `json:"type"`
	URL    string   `json:"url"`
	Secret string   `json:"secret"`
	Events []string `json:"events"`
}

// Channel is a channel as the API answers it: never the secret, and of the
// URL (a secret itself for Teams and Slack) only the scheme and host.
type Channel struct {
	ID        string   `json:"id"`
	Type      string   `json:"type"`
	URL       string   `json:"url"`
	HasSecret bool     `json:"hassecret"`
	Events    []string `json:"events"`
}

// Subject is a subject registration as the admin routes answer it.
type Subject struct {
	Issuer  string   `json:"issuer"`
	Subject string   `json:"subject"`
	Kind    string   `json:"kind"`
	Name    string   `json:"name"`
	Roles   []string `json:"roles"`
}

// SubjectRegistration is the body of PUT /api/admin/subjects/{id}; the
// subject id is in the path. Kind is "person" or "app"; empty means app.
type SubjectRegistration struct {
	Issuer string   `json:"issuer"`
	Kind   string   `json:"kind"`
	Name   string   `json:"name"`
	Roles  []string `json:"roles"`
}

// UIConfig is the answer of GET /api/ui/config: where the web UI signs people in.
type UIConfig struct {
	Issuer   string `json:"issuer"`
	ClientID string `json:"clientid"`
	Scope    string `json:"scope"`
}

// Health is the answer of GET /api/health.
type Health struct {
	Status       string            `json:"status"`
	Dependencies map[string]string `json:"dependencies"`
}

// Error is the body of every refusal; field names the request member at fault, when one is.
type Error struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	Field     string `json:"field,omitempty"`
	RequestID string `json:"requestid,omitempty"`
}
