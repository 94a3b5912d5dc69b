package api

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"strings"
	"time"

	"keyserver/internal/keyserver"
)

// The API's JSON bodies are their own types, so that renaming a domain field
// never changes the wire.

// principalJSON names a subject; name is its registered display name, when known.
type principalJSON struct {
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
	Kind    string `json:"kind"`
	Name    string `json:"name,omitempty"`
}

type approvalJSON struct {
	Approver principalJSON `json:"approver"`
	Name     string        `json:"name,omitempty"`
	Time     time.Time     `json:"time"`
	Comment  string        `json:"comment,omitempty"`
}

type grantJSON struct {
	KeyID             string         `json:"keyid"`
	KeyInfo           string         `json:"keyinfo,omitempty"`
	Algorithm         string         `json:"algorithm,omitempty"`
	MaxUsageCount     int            `json:"maxusagecount"`
	UsageCount        int            `json:"usagecount"`
	RequiredApprovals int            `json:"requiredapprovals"`
	Approvals         []approvalJSON `json:"approvals"`
}

type closureJSON struct {
	By     principalJSON `json:"by"`
	Time   time.Time     `json:"time"`
	Reason string        `json:"reason,omitempty"`
}

// actionJSON says whether the caller may take an action now, and why not.
type actionJSON struct {
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason,omitempty"`
}

type actionsJSON struct {
	Approve actionJSON `json:"approve"`
	Reject  actionJSON `json:"reject"`
	Cancel  actionJSON `json:"cancel"`
}

// operationJSON is an operation as the API returns it: the stored fields,
// the derived "approved" and "status", and what the caller may do with it.
type operationJSON struct {
	ID          string        `json:"id"`
	Requester   principalJSON `json:"requester"`
	Description string        `json:"description"`
	Created     time.Time     `json:"created"`
	Expires     time.Time     `json:"expires"`
	ValidMS     int64         `json:"validms"`
	Keys        []grantJSON   `json:"keys"`
	Rejected    *closureJSON  `json:"rejected,omitempty"`
	Cancelled   *closureJSON  `json:"cancelled,omitempty"`
	Approved    bool          `json:"approved"`
	Status      string        `json:"status"`
	Actions     actionsJSON   `json:"actions"`
	// BuildContext is where the operation came from, from the requester's CI token.
	BuildContext *buildContextView `json:"buildcontext,omitempty"`
}

// eventJSON is one entry of an operation's audit timeline.
type eventJSON struct {
	Time   time.Time     `json:"time"`
	Actor  principalJSON `json:"actor"`
	Action string        `json:"action"`
	KeyID  string        `json:"keyid,omitempty"`
	Digest string        `json:"digest,omitempty"`
	Result string        `json:"result"`
	Detail string        `json:"detail,omitempty"`
}

// keyJSON is a key as GET /api/keys returns it; the HSM reference stays
// internal. The cert* fields describe the certificate for people.
type keyJSON struct {
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

// adminKeyJSON is a key as the admin routes return it.
type adminKeyJSON struct {
	KeyID             string `json:"keyid"`
	HSMKey            string `json:"hsmkey"`
	RequiredApprovals int    `json:"requiredapprovals"`
	KeyInfo           string `json:"keyinfo"`
	Certificate       string `json:"certificate"`
	Algorithm         string `json:"algorithm"`
	Enabled           bool   `json:"enabled"`
	// Channels never show a secret (channels.go).
	Channels []channelView `json:"channels"`
}

// subjectJSON is a registered subject as the admin routes return it.
type subjectJSON struct {
	Issuer  string   `json:"issuer"`
	Subject string   `json:"subject"`
	Kind    string   `json:"kind"`
	Name    string   `json:"name"`
	Roles   []string `json:"roles"`
}

func (s *Server) principal(ctx context.Context, p keyserver.Principal) principalJSON {
	return principalJSON{Issuer: p.Issuer, Subject: p.Subject, Kind: p.Kind.String(), Name: s.Service.DisplayName(ctx, p)}
}

func (s *Server) now() time.Time {
	if s.Service.Now != nil {
		return s.Service.Now()
	}
	return time.Now()
}

func action(refusal error) actionJSON {
	if refusal != nil {
		return actionJSON{Reason: keyserver.ErrorMessage(refusal)}
	}
	return actionJSON{Allowed: true}
}

func (s *Server) view(ctx context.Context, c keyserver.Caller, op *keyserver.Operation) operationJSON {
	now := s.now()
	v := operationJSON{
		ID: op.ID, Requester: s.principal(ctx, op.Requester), Description: op.Description,
		Created: op.Created, Expires: op.Expires, ValidMS: op.Expires.Sub(op.Created).Milliseconds(),
		Keys: make([]grantJSON, len(op.Keys)), Approved: op.Approved(now), Status: string(op.Status(now)),
		Actions: actionsJSON{
			Approve: action(op.ApproveRefusal(c, now)),
			Reject:  action(op.RejectRefusal(c, now)),
			Cancel:  action(op.CancelRefusal(c, now)),
		},
	}
	for i, g := range op.Keys {
		gj := grantJSON{KeyID: g.KeyID, MaxUsageCount: g.MaxUsageCount, UsageCount: g.UsageCount,
			RequiredApprovals: g.RequiredApprovals, Approvals: make([]approvalJSON, len(g.Approvals))}
		if k := s.Service.GrantKey(ctx, g.KeyID); k != nil {
			gj.KeyInfo, gj.Algorithm = k.KeyInfo, k.Algorithm
		}
		for j, a := range g.Approvals {
			gj.Approvals[j] = approvalJSON{Approver: principalJSON{Issuer: a.Approver.Issuer, Subject: a.Approver.Subject, Kind: a.Approver.Kind.String(), Name: a.Name},
				Name: a.Name, Time: a.Time, Comment: a.Comment}
		}
		v.Keys[i] = gj
	}
	v.Rejected = s.closure(ctx, op.Rejected)
	v.Cancelled = s.closure(ctx, op.Cancelled)
	v.BuildContext = viewBuildContext(op.BuildContext)
	return v
}

func (s *Server) closure(ctx context.Context, cl *keyserver.Closure) *closureJSON {
	if cl == nil {
		return nil
	}
	return &closureJSON{By: s.principal(ctx, cl.By), Time: cl.Time, Reason: cl.Reason}
}

func viewKey(k *keyserver.Key) keyJSON {
	v := keyJSON{KeyID: k.KeyID, KeyInfo: k.KeyInfo, Certificate: k.Certificate, Algorithm: k.Algorithm, RequiredApprovals: k.RequiredApprovals}
	block, _ := pem.Decode([]byte(k.Certificate))
	if block == nil || block.Type != "CERTIFICATE" {
		return v
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return v
	}
	sum := sha256.Sum256(block.Bytes)
	nb, na := cert.NotBefore.UTC(), cert.NotAfter.UTC()
	v.CertSubject, v.CertIssuer = cert.Subject.String(), cert.Issuer.String()
	v.CertNotBefore, v.CertNotAfter = &nb, &na
	v.CertSHA256 = strings.ToUpper(hex.EncodeToString(sum[:]))
	return v
}

func viewAdminKey(k *keyserver.Key) adminKeyJSON {
	return adminKeyJSON{KeyID: k.KeyID, HSMKey: k.HSMKey, RequiredApprovals: k.RequiredApprovals, KeyInfo: k.KeyInfo,
		Certificate: k.Certificate, Algorithm: k.Algorithm, Enabled: k.Enabled, Channels: viewChannels(k.Channels)}
}

func viewSubject(sub *keyserver.Subject) subjectJSON {
	roles := sub.Roles
	if roles == nil {
		roles = []string{}
	}
	return subjectJSON{Issuer: sub.Issuer, Subject: sub.Subject, Kind: sub.Kind.String(), Name: sub.Name, Roles: roles}
}
