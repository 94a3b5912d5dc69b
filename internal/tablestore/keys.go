package tablestore

import (
	"context"
	"fmt"
	"sort"

	"github.com/Azure/azure-sdk-for-go/sdk/data/aztables"

	"keyserver/internal/auditlog"
	"keyserver/internal/keyserver"
)

// Key returns the registered key keyID, or ENOTFOUND.
func (s *Store) Key(ctx context.Context, keyID string) (*keyserver.Key, error) {
	if keyserver.ValidateKeyID(keyID) != nil {
		return nil, keyNotFound(keyID)
	}
	resp, err := s.keys.GetEntity(ctx, keysPartition, keyID, nil)
	if isNotFound(err) {
		return nil, keyNotFound(keyID)
	}
	if err != nil {
		return nil, classify(err, "reading key "+keyID)
	}
	r, err := parseRow(resp.Value)
	if err != nil {
		return nil, err
	}
	return keyFromRow(r)
}

// Keys returns every registered key, ordered by key id.
func (s *Store) Keys(ctx context.Context) ([]*keyserver.Key, error) {
	rows, err := queryAll(ctx, s.keys, "PartitionKey eq "+quote(keysPartition)+" and "+notRecords, "listing keys")
	if err != nil {
		return nil, err
	}
	keys := make([]*keyserver.Key, 0, len(rows))
	for _, r := range rows {
		k, err := keyFromRow(r)
		if err != nil {
			return nil, err
		}
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].KeyID < keys[j].KeyID })
	return keys, nil
}

// PutKey creates or replaces a key, with ev as the next record of the
// keys' chain in the same transaction.
func (s *Store) PutKey(ctx context.Context, k *keyserver.Key, ev keyserver.AuditEvent) error {
	if err := keyserver.ValidateKeyID(k.KeyID); err != nil {
		return err
	}
	r := newRow(keysPartition, k.KeyID).
		set("KeyID", k.KeyID).
		set("HSMKey", k.HSMKey).
		set("RequiredApprovals", int32(k.RequiredApprovals)).
		set("KeyInfo", k.KeyInfo).
		set("Certificate", k.Certificate).
		set("Algorithm", k.Algorithm).
		set("Enabled", k.Enabled)
	if len(k.Channels) > 0 {
		cs := make([]channelRow, len(k.Channels))
		for i, c := range k.Channels {
			cs[i] = channelRow(c)
		}
		r.setJSON("Channels", cs)
	}
	return s.adminWrite(ctx, s.keys, keysPartition, auditlog.KeysChain, upsertAction(r), ev, "writing key "+k.KeyID)
}

// DeleteKey removes a key, or returns ENOTFOUND, with ev as PutKey.
func (s *Store) DeleteKey(ctx context.Context, keyID string, ev keyserver.AuditEvent) error {
	if keyserver.ValidateKeyID(keyID) != nil {
		return keyNotFound(keyID)
	}
	err := s.adminWrite(ctx, s.keys, keysPartition, auditlog.KeysChain, deleteAction(keysPartition, keyID), ev, "deleting key "+keyID)
	if isNotFound(err) {
		return keyNotFound(keyID)
	}
	return classify(err, "deleting key "+keyID)
}

func keyNotFound(keyID string) error {
	return keyserver.Errorf(keyserver.ENOTFOUND, "Key %q is not registered.", keyID)
}

// channelRow is how a channel is kept in a key's row (JSON). Webhook secrets
// and URLs are kept as they are: access to the table is the protection.
type channelRow struct {
	ID     string   `json:"id"`
	Type   string   `json:"type"`
	URL    string   `json:"url"`
	Secret string   `json:"secret,omitempty"`
	Events []string `json:"events,omitempty"`
}

func keyFromRow(r *row) (*keyserver.Key, error) {
	var cs []channelRow
	if err := r.json("Channels", &cs); err != nil {
		return nil, err
	}
	k := &keyserver.Key{
		KeyID:             r.RowKey,
		HSMKey:            r.str("HSMKey"),
		RequiredApprovals: r.num("RequiredApprovals"),
		KeyInfo:           r.str("KeyInfo"),
		Certificate:       r.str("Certificate"),
		Algorithm:         r.str("Algorithm"),
		Enabled:           r.flag("Enabled"),
	}
	for _, c := range cs {
		k.Channels = append(k.Channels, keyserver.Channel(c))
	}
	return k, nil
}

// Subject returns the registration of p, or ENOTFOUND.
func (s *Store) Subject(ctx context.Context, p keyserver.Principal) (*keyserver.Subject, error) {
	resp, err := s.subjects.GetEntity(ctx, encodeKey(p.Subject), subjectRowKey(p), nil)
	if isNotFound(err) {
		return nil, subjectNotFound(p)
	}
	if err != nil {
		return nil, classify(err, "reading subject "+p.String())
	}
	r, err := parseRow(resp.Value)
	if err != nil {
		return nil, err
	}
	return subjectFromRow(r)
}

// SubjectsByID returns the registrations of subject under every issuer and
// of either kind, ordered by issuer, apps first.
func (s *Store) SubjectsByID(ctx context.Context, subject string) ([]*keyserver.Subject, error) {
	return s.querySubjects(ctx, "PartitionKey eq "+quote(encodeKey(subject))+" and "+notRecords, "listing registrations of a subject")
}

// Subjects returns every registration, ordered by subject id, issuer and kind.
func (s *Store) Subjects(ctx context.Context) ([]*keyserver.Subject, error) {
	return s.querySubjects(ctx, notRecords, "listing subjects")
}

// querySubjects reads the registrations filter selects, ordered by subject
// id, issuer and kind (apps first).
func (s *Store) querySubjects(ctx context.Context, filter, what string) ([]*keyserver.Subject, error) {
	rows, err := queryAll(ctx, s.subjects, filter, what)
	if err != nil {
		return nil, err
	}
	subs := make([]*keyserver.Subject, 0, len(rows))
	for _, r := range rows {
		sub, err := subjectFromRow(r)
		if err != nil {
			return nil, err
		}
		subs = append(subs, sub)
	}
	sort.Slice(subs, func(i, j int) bool {
		a, b := subs[i], subs[j]
		if a.Subject != b.Subject {
			return a.Subject < b.Subject
		}
		if a.Issuer != b.Issuer {
			return a.Issuer < b.Issuer
		}
		return a.Kind < b.Kind
	})
	return subs, nil
}

// PutSubject creates or replaces a registration, with ev as the next
// record of the subject id's chain in the same transaction.
func (s *Store) PutSubject(ctx context.Context, sub *keyserver.Subject, ev keyserver.AuditEvent) error {
	roles := sub.Roles
	if roles == nil {
		roles = []string{}
	}
	r := newRow(encodeKey(sub.Subject), subjectRowKey(sub.Principal)).
		setPrincipal("", sub.Principal).
		set("Name", sub.Name).
		setJSON("Roles", roles)
	pk := encodeKey(sub.Subject)
	return s.adminWrite(ctx, s.subjects, pk, auditlog.SubjectChain(sub.Subject), upsertAction(r), ev, "writing subject "+sub.Principal.String())
}

// DeleteSubject removes a registration, or returns ENOTFOUND, with ev as
// PutSubject.
func (s *Store) DeleteSubject(ctx context.Context, p keyserver.Principal, ev keyserver.AuditEvent) error {
	pk := encodeKey(p.Subject)
	err := s.adminWrite(ctx, s.subjects, pk, auditlog.SubjectChain(p.Subject), deleteAction(pk, subjectRowKey(p)), ev, "deleting subject "+p.String())
	if isNotFound(err) {
		return subjectNotFound(p)
	}
	return classify(err, "deleting subject "+p.String())
}

func subjectNotFound(p keyserver.Principal) error {
	return keyserver.Errorf(keyserver.ENOTFOUND, "The %s %q of issuer %q is not registered.", p.Kind, p.Subject, p.Issuer)
}

// subjectRowKey is the encoded issuer for an app, as before people could
// sign in, and the encoded issuer after "person~" for a person: a person and
// an app with the same id are two rows. Base64url never holds "~".
func subjectRowKey(p keyserver.Principal) string {
	if p.Kind == keyserver.KindPerson {
		return "person~" + encodeKey(p.Issuer)
	}
	return encodeKey(p.Issuer)
}

func subjectFromRow(r *row) (*keyserver.Subject, error) {
	sub := &keyserver.Subject{
		Principal: r.principal(""),
		Name:      r.str("Name"),
		Roles:     []string{},
	}
	if err := r.json("Roles", &sub.Roles); err != nil {
		return nil, err
	}
	return sub, nil
}

// queryAll reads every entity matching filter, following continuations.
func queryAll(ctx context.Context, c *aztables.Client, filter, doing string) ([]*row, error) {
	return querySelect(ctx, c, filter, "", doing)
}

// querySelect reads the properties named in selection (all when empty) of
// every entity matching filter.
func querySelect(ctx context.Context, c *aztables.Client, filter, selection, doing string) ([]*row, error) {
	entities, err := queryEntities(ctx, c, filter, selection, doing)
	if err != nil {
		return nil, err
	}
	rows := make([]*row, len(entities))
	for i, b := range entities {
		if rows[i], err = parseRow(b); err != nil {
			return nil, fmt.Errorf("%s: %w", doing, err)
		}
	}
	return rows, nil
}

// queryEntities returns the JSON of every entity matching filter (every
// entity when filter is empty).
func queryEntities(ctx context.Context, c *aztables.Client, filter, selection, doing string) ([][]byte, error) {
	opts := &aztables.ListEntitiesOptions{}
	if filter != "" {
		opts.Filter = &filter
	}
	if selection != "" {
		opts.Select = &selection
	}
	pager := c.NewListEntitiesPager(opts)
	var entities [][]byte
	for pager.More() {
		page, err := pager.NextPage(ctx)
		if err != nil {
			return nil, classify(err, doing)
		}
		entities = append(entities, page.Entities...)
	}
	return entities, nil
}
