package tablestore

import (
	"context"
	"sort"

	"keyserver/internal/auditlog"
	"keyserver/internal/keyserver"
)

// policyPartition holds every trust policy; RowKey is the encoded id, so
// ids may hold / and :.
const policyPartition = "policy"

// conditionRow is a condition as the policy row keeps it.
type conditionRow struct {
	Claim string `json:"claim"`
	Value string `json:"value"`
	Glob  bool   `json:"glob,omitempty"`
}

// Policies returns every policy, ordered by id.
func (s *Store) Policies(ctx context.Context) ([]*keyserver.Policy, error) {
	rows, err := queryAll(ctx, s.policies, "PartitionKey eq "+quote(policyPartition)+" and "+notRecords, "listing trust policies")
	if err != nil {
		return nil, err
	}
	out := make([]*keyserver.Policy, 0, len(rows))
	for _, r := range rows {
		p, err := policyFromRow(r)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Policy returns one policy, or ENOTFOUND.
func (s *Store) Policy(ctx context.Context, id string) (*keyserver.Policy, error) {
	resp, err := s.policies.GetEntity(ctx, policyPartition, encodeKey(id), nil)
	if isNotFound(err) {
		return nil, policyNotFound(id)
	}
	if err != nil {
		return nil, classify(err, "reading trust policy "+id)
	}
	r, err := parseRow(resp.Value)
	if err != nil {
		return nil, err
	}
	return policyFromRow(r)
}

// PutPolicy creates or replaces a policy, with ev as the next record of
// the policies' chain in the same transaction.
func (s *Store) PutPolicy(ctx context.Context, p *keyserver.Policy, ev keyserver.AuditEvent) error {
	conds := make([]conditionRow, len(p.Conditions))
	for i, c := range p.Conditions {
		conds[i] = conditionRow{Claim: c.Claim, Value: c.Value, Glob: c.Glob}
	}
	r := newRow(policyPartition, encodeKey(p.ID)).
		set("Issuer", p.Issuer).
		set("Description", p.Description).
		setJSON("Conditions", conds).
		setJSON("Roles", p.Roles)
	return s.adminWrite(ctx, s.policies, policyPartition, auditlog.PoliciesChain, upsertAction(r), ev, "writing trust policy "+p.ID)
}

// DeletePolicy removes a policy, or answers ENOTFOUND, with ev as PutPolicy.
func (s *Store) DeletePolicy(ctx context.Context, id string, ev keyserver.AuditEvent) error {
	err := s.adminWrite(ctx, s.policies, policyPartition, auditlog.PoliciesChain, deleteAction(policyPartition, encodeKey(id)), ev, "deleting trust policy "+id)
	if isNotFound(err) {
		return policyNotFound(id)
	}
	return classify(err, "deleting trust policy "+id)
}

func policyNotFound(id string) error {
	return keyserver.Errorf(keyserver.ENOTFOUND, "Policy %q does not exist.", id)
}

func policyFromRow(r *row) (*keyserver.Policy, error) {
	id, err := decodeKey(r.RowKey)
	if err != nil {
		return nil, err
	}
	p := &keyserver.Policy{ID: id, Issuer: r.str("Issuer"), Description: r.str("Description"), Roles: []string{}}
	var conds []conditionRow
	if err := r.json("Conditions", &conds); err != nil {
		return nil, err
	}
	for _, c := range conds {
		p.Conditions = append(p.Conditions, keyserver.Condition{Claim: c.Claim, Value: c.Value, Glob: c.Glob})
	}
	if err := r.json("Roles", &p.Roles); err != nil {
		return nil, err
	}
	return p, nil
}
