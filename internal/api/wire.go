package api

import (
	"time"

	"keyserver/internal/keyserver"
)

// This file holds the API's wire types: the JSON of every request and answer,
// kept apart from the domain's structs so that renaming a domain field never
// changes the wire. The PKCS#11 module and existing pipelines depend on these
// names; testdata/wire pins the answers byte for byte.

// Principal is an identity on the wire: the token issuer, the subject and
// whether it is a person or an app.
type Principal struct {
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
	Kind    string `json:"kind"`
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

// Operation is an operation as every operations route answers it: the
// stored fields and the derived validms, approved and status.
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
}

// Key is a key as GET /api/keys shows it; the HSM reference stays internal.
type Key struct {
	KeyID             string `json:"keyid"`
	KeyInfo           string `json:"keyinfo"`
	Certificate       string `json:"certificate"`
	Algorithm         string `json:"algorithm"`
	RequiredApprovals int    `json:"requiredapprovals"`
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
}

// KeyRegistration is the body of PUT /api/admin/keys/{keyid}; the key id is in the path.
type KeyRegistration struct {
	HSMKey            string `json:"hsmkey"`
	RequiredApprovals *int   `json:"requiredapprovals"`
	KeyInfo           string `json:"keyinfo"`
	Certificate       string `json:"certificate"`
	Enabled           *bool  `json:"enabled"`
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

// Health is the answer of GET /api/health.
type Health struct {
	Status       string            `json:"status"`
	Dependencies map[string]string `json:"dependencies"`
}

// Error is the body of every refusal.
type Error struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	RequestID string `json:"requestid,omitempty"`
}

func wirePrincipal(p keyserver.Principal) Principal {
	return Principal{Issuer: p.Issuer, Subject: p.Subject, Kind: p.Kind.String()}
}

func wireClosure(c *keyserver.Closure) *Closure {
	if c == nil {
		return nil
	}
	return &Closure{By: wirePrincipal(c.By), Time: c.Time, Reason: c.Reason}
}

// wireOperation shows op as it stands at now.
func wireOperation(op *keyserver.Operation, now time.Time) Operation {
	w := Operation{
		ID: op.ID, Requester: wirePrincipal(op.Requester), Description: op.Description,
		Created: op.Created, Expires: op.Expires, Keys: make([]Grant, len(op.Keys)),
		Rejected: wireClosure(op.Rejected), Cancelled: wireClosure(op.Cancelled),
		ValidMS:  op.Expires.Sub(op.Created).Milliseconds(),
		Approved: op.Approved(now), Status: string(op.Status(now)),
	}
	for i, g := range op.Keys {
		approvals := make([]Approval, len(g.Approvals))
		for j, a := range g.Approvals {
			approvals[j] = Approval{Approver: wirePrincipal(a.Approver), Name: a.Name, Time: a.Time, Comment: a.Comment}
		}
		w.Keys[i] = Grant{KeyID: g.KeyID, MaxUsageCount: g.MaxUsageCount, UsageCount: g.UsageCount, RequiredApprovals: g.RequiredApprovals, Approvals: approvals}
	}
	return w
}

func (r *OperationRequest) domain() *keyserver.OperationRequest {
	req := &keyserver.OperationRequest{ValidMS: r.ValidMS, Description: r.Description}
	for _, k := range r.Keys {
		req.Keys = append(req.Keys, keyserver.KeyRequest{KeyID: k.KeyID, MaxUsageCount: k.MaxUsageCount})
	}
	return req
}

func (o *SignOrder) domain() *keyserver.SignOrder {
	return &keyserver.SignOrder{
		OperationID: o.OperationID, KeyID: o.KeyID, InputData: o.InputData, InputFormat: o.InputFormat,
		InputPadding: o.InputPadding, SignatureFormat: o.SignatureFormat, Description: o.Description, HashAlgorithm: o.HashAlgorithm,
	}
}

func wireSignResult(r *keyserver.SignResult) SignResult {
	return SignResult{KeyID: r.KeyID, InputData: r.InputData, SignatureFormat: r.SignatureFormat, Result: r.Result}
}

func wireKey(k *keyserver.Key) Key {
	return Key{KeyID: k.KeyID, KeyInfo: k.KeyInfo, Certificate: k.Certificate, Algorithm: k.Algorithm, RequiredApprovals: k.RequiredApprovals}
}

func wireAdminKey(k *keyserver.Key) AdminKey {
	return AdminKey{
		KeyID: k.KeyID, HSMKey: k.HSMKey, RequiredApprovals: k.RequiredApprovals, KeyInfo: k.KeyInfo,
		Certificate: k.Certificate, Algorithm: k.Algorithm, Enabled: k.Enabled,
	}
}

func wireSubject(s *keyserver.Subject) Subject {
	roles := s.Roles
	if roles == nil {
		roles = []string{}
	}
	return Subject{Issuer: s.Issuer, Subject: s.Subject, Kind: s.Kind.String(), Name: s.Name, Roles: roles}
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
