package keyserver

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// policies returns every trust policy, cached for CacheTTL; none without a store.
func (s *Service) policies(ctx context.Context) ([]*Policy, error) {
	if s.Policies == nil {
		return nil, nil
	}
	return s.policyCache.get(struct{}{}, s.CacheTTL, s.now(), func() ([]*Policy, error) {
		return s.Policies.Policies(ctx)
	})
}

// evaluatePolicies tests the policies of c's issuer against c's token.
func (s *Service) evaluatePolicies(ctx context.Context, c Caller) ([]PolicyResult, error) {
	all, err := s.policies(ctx)
	if err != nil {
		return nil, err
	}
	var out []PolicyResult
	for _, p := range all {
		if p.Issuer == c.Issuer {
			out = append(out, EvaluatePolicy(p, c.Principal, c.Claims))
		}
	}
	return out, nil
}

// policyRoles adds the roles of every policy that matches c's token.
func (s *Service) policyRoles(ctx context.Context, c *Caller) error {
	if c.Kind == KindPerson || len(c.Claims) == 0 {
		return nil
	}
	results, err := s.evaluatePolicies(ctx, *c)
	if err != nil {
		return err
	}
	for _, r := range results {
		if r.Matched {
			c.Roles = append(c.Roles, r.Policy.Roles...)
			c.Policies = append(c.Policies, r.Policy.ID)
		}
	}
	return nil
}

// Me is what GET /api/me tells a caller: who it is, its roles, and how
// each trust policy of its issuer fared against its token.
type Me struct {
	Caller   Caller
	Policies []PolicyResult
}

// Me explains a verified identity's standing, even one that holds no role,
// so that a pipeline learns why it is refused.
func (s *Service) Me(ctx context.Context, id Identity) (*Me, error) {
	c, err := s.Caller(ctx, id)
	if ErrorCode(err) == EFORBIDDEN {
		c, err = Caller{Principal: id.Principal, Name: id.Name, Claims: id.Claims}, nil
	}
	if err != nil {
		return nil, err
	}
	results, err := s.evaluatePolicies(ctx, c)
	if err != nil {
		return nil, err
	}
	return &Me{Caller: c, Policies: results}, nil
}

// AdminPolicies returns every policy; admin only.
func (s *Service) AdminPolicies(ctx context.Context, c Caller) ([]*Policy, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	if s.Policies == nil {
		return []*Policy{}, nil
	}
	return s.Policies.Policies(ctx)
}

// AdminPolicy returns one policy; admin only.
func (s *Service) AdminPolicy(ctx context.Context, c Caller, id string) (*Policy, error) {
	if err := requireAdmin(c); err != nil {
		return nil, err
	}
	if err := s.policyStore(id); err != nil {
		return nil, err
	}
	return s.Policies.Policy(ctx, id)
}

// PutPolicy registers or replaces a policy; admin only, audited.
func (s *Service) PutPolicy(ctx context.Context, c Caller, p *Policy) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	if err := s.policyStore(p.ID); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	if to, ok := s.IssuerAliases[p.Issuer]; ok {
		return Errorf(EINVALID, "Issuer %q names the same apps as %q, and its tokens act as that issuer's; give the policy issuer %q.", p.Issuer, to, to).On("issuer")
	}
	defer s.policyCache.forget(struct{}{})
	return s.adminChange(ctx, c, ActionAdminPolicy, p.ID, "put policy "+p.String(), func(ev AuditEvent) error {
		return s.Policies.PutPolicy(ctx, p, ev)
	})
}

// DeletePolicy removes a policy; admin only, audited.
func (s *Service) DeletePolicy(ctx context.Context, c Caller, id string) error {
	if err := requireAdmin(c); err != nil {
		return err
	}
	if err := s.policyStore(id); err != nil {
		return err
	}
	defer s.policyCache.forget(struct{}{})
	return s.adminChange(ctx, c, ActionAdminPolicy, id, "delete policy "+id, func(ev AuditEvent) error {
		return s.Policies.DeletePolicy(ctx, id, ev)
	})
}

func (s *Service) policyStore(id string) error {
	if s.Policies == nil {
		return Errorf(EUNAVAILABLE, "This Keyserver keeps no trust policies.")
	}
	return ValidatePolicyID(id)
}

// String describes a policy for the audit log.
func (p *Policy) String() string {
	conds := make([]string, len(p.Conditions))
	for i, c := range p.Conditions {
		op := "="
		if c.Glob {
			op = "~"
		}
		conds[i] = fmt.Sprintf("%s%s%q", c.Claim, op, c.Value)
	}
	roles := slices.Clone(p.Roles)
	return fmt.Sprintf("%s issuer %s conditions [%s] roles %s", p.ID, p.Issuer, strings.Join(conds, " "), strings.Join(roles, ","))
}
