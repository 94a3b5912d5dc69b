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

// This file turns domain values into wire types and request bodies into
// domain values.

func (s *Server) principal(ctx context.Context, p keyserver.Principal) Principal {
	return Principal{Issuer: p.Issuer, Subject: p.Subject, Kind: p.Kind.String(), Name: s.Service.DisplayName(ctx, p)}
}

func (s *Server) now() time.Time {
	if s.Service.Now != nil {
		return s.Service.Now()
	}
	return time.Now()
}

func action(refusal error) Action {
	if refusal != nil {
		return Action{Reason: keyserver.ErrorMessage(refusal)}
	}
	return Action{Allowed: true}
}

// view shows op as it stands now, to c.
func (s *Server) view(ctx context.Context, c keyserver.Caller, op *keyserver.Operation) Operation {
	now := s.now()
	v := Operation{
		ID: op.ID, Requester: s.principal(ctx, op.Requester), Description: op.Description,
		Created: op.Created, Expires: op.Expires, ValidMS: op.Expires.Sub(op.Created).Milliseconds(),
		Keys: make([]Grant, len(op.Keys)), Approved: op.Approved(now), Status: string(op.Status(now)),
		Actions: Actions{
			Approve: action(op.ApproveRefusal(c, now)),
			Reject:  action(op.RejectRefusal(c, now)),
			Cancel:  action(op.CancelRefusal(c, now)),
		},
	}
	for i, g := range op.Keys {
		gj := Grant{KeyID: g.KeyID, MaxUsageCount: g.MaxUsageCount, UsageCount: g.UsageCount,
			RequiredApprovals: g.RequiredApprovals, Approvals: make([]Approval, len(g.Approvals))}
		if k := s.Service.GrantKey(ctx, g.KeyID); k != nil {
			gj.KeyInfo, gj.Algorithm = k.KeyInfo, k.Algorithm
		}
		for j, a := range g.Approvals {
			gj.Approvals[j] = Approval{Approver: Principal{Issuer: a.Approver.Issuer, Subject: a.Approver.Subject, Kind: a.Approver.Kind.String(), Name: a.Name},
				Name: a.Name, Time: a.Time, Comment: a.Comment}
		}
		v.Keys[i] = gj
	}
	v.Rejected = s.closure(ctx, op.Rejected)
	v.Cancelled = s.closure(ctx, op.Cancelled)
	v.BuildContext = viewBuildContext(op.BuildContext)
	return v
}

func (s *Server) closure(ctx context.Context, cl *keyserver.Closure) *Closure {
	if cl == nil {
		return nil
	}
	return &Closure{By: s.principal(ctx, cl.By), Time: cl.Time, Reason: cl.Reason}
}

func viewKey(k *keyserver.Key) Key {
	v := Key{KeyID: k.KeyID, KeyInfo: k.KeyInfo, Certificate: k.Certificate, Algorithm: k.Algorithm, RequiredApprovals: k.RequiredApprovals}
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

func viewAdminKey(k *keyserver.Key) AdminKey {
	return AdminKey{KeyID: k.KeyID, HSMKey: k.HSMKey, RequiredApprovals: k.RequiredApprovals, KeyInfo: k.KeyInfo,
		Certificate: k.Certificate, Algorithm: k.Algorithm, Enabled: k.Enabled, Channels: viewChannels(k.Channels)}
}

func viewSubject(sub *keyserver.Subject) Subject {
	roles := sub.Roles
	if roles == nil {
		roles = []string{}
	}
	return Subject{Issuer: sub.Issuer, Subject: sub.Subject, Kind: sub.Kind.String(), Name: sub.Name, Roles: roles}
}

func viewSignResult(r *keyserver.SignResult) SignResult {
	return SignResult{KeyID: r.KeyID, InputData: r.InputData, SignatureFormat: r.SignatureFormat, Result: r.Result, AuditRecord: r.AuditRecord}
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
