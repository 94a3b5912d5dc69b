package keyserver

import (
	"strings"
)

// Role names. Key-scoped roles are written "orderer:<keyid>" or "orderer:*".
const (
	RoleAdmin    = "admin"
	RoleAuditor  = "auditor"
	RoleOrderer  = "orderer"
	RoleApprover = "approver"
)

// Principal is an authenticated identity: the token issuer, the subject
// named by the issuer's claim for its kind, and whether it is a person or an
// app. A person and an app are never the same principal, whatever their ids.
// Events (internal/events) and the API (internal/api) have their own types.
type Principal struct {
	Issuer  string `json:"issuer"`
	Subject string `json:"subject"`
	Kind    Kind   `json:"kind"`
}

func (p Principal) String() string {
	if p.Kind == KindPerson {
		return "person " + p.Subject + "@" + p.Issuer
	}
	return p.Subject + "@" + p.Issuer
}

// Subject is a registered principal with a display name and roles.
type Subject struct {
	Principal
	Name  string
	Roles []string
}

// ValidateRole reports whether r is a role the Keyserver understands.
func ValidateRole(r string) error {
	switch r {
	case RoleAdmin, RoleAuditor:
		return nil
	}
	kind, key, ok := strings.Cut(r, ":")
	if !ok || (kind != RoleOrderer && kind != RoleApprover) || key == "" {
		return Errorf(EINVALID, "Role %q is not one of admin, auditor, orderer:<keyid>, orderer:*, approver:<keyid>, approver:*.", r).On("roles")
	}
	if key != "*" {
		if err := ValidateKeyID(key); err != nil {
			return Errorf(EINVALID, "Role %q names an invalid key id.", r).On("roles")
		}
	}
	return nil
}

// Caller is the principal of a request together with its resolved roles.
type Caller struct {
	Principal
	// Name is the registered display name, else the one the token gives.
	Name  string
	Roles []string
	// Claims are the verified token's claims, for role sources that match
	// them (trust policies).
	Claims map[string]any
	// Policies are the ids of the trust policies that granted roles.
	Policies []string
}

func (c Caller) has(role string) bool {
	for _, r := range c.Roles {
		if r == role {
			return true
		}
	}
	return false
}

func (c Caller) hasKeyRole(kind, keyID string) bool {
	return c.has(kind+":"+keyID) || c.has(kind+":*")
}

// IsAdmin reports whether the caller holds the admin role.
func (c Caller) IsAdmin() bool { return c.has(RoleAdmin) }

// IsAuditor reports whether the caller may read every operation.
func (c Caller) IsAuditor() bool { return c.has(RoleAuditor) }

// CanOrder reports whether the caller may open operations on and sign with keyID.
func (c Caller) CanOrder(keyID string) bool {
	return c.IsAdmin() || c.hasKeyRole(RoleOrderer, keyID)
}

// CanApprove reports whether the caller may approve uses of keyID.
func (c Caller) CanApprove(keyID string) bool {
	return c.IsAdmin() || c.hasKeyRole(RoleApprover, keyID)
}

// SeesKey reports whether the caller holds any role on keyID.
func (c Caller) SeesKey(keyID string) bool {
	return c.IsAdmin() || c.IsAuditor() || c.CanOrder(keyID) || c.CanApprove(keyID)
}
