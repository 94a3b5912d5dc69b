package auditexport

import (
	"context"
	"fmt"
	"time"

	"keyserver/internal/auditlog"
	"keyserver/internal/auditwire"
)

// Source is what an export reads: the Keyserver's audit routes.
type Source interface {
	AuditKey(ctx context.Context) (*auditwire.Key, error)
	// AuditCheckpoint returns checkpoint n (0: the latest), or nil when the
	// server has no such checkpoint.
	AuditCheckpoint(ctx context.Context, n uint64) (*auditwire.Checkpoint, error)
	// AuditConsistency returns the proof between two checkpoints, or nil
	// when the server has not both.
	AuditConsistency(ctx context.Context, from, to uint64) (*auditwire.Consistency, error)
	// AuditRecords returns one page of records dated since or later, of
	// event type event (any when empty).
	AuditRecords(ctx context.Context, since time.Time, event, page string) (*auditwire.Page, error)
}

// Fetch reads everything an export holds: the audit certificate, every
// checkpoint with its leaves, the consistency proof between each two
// consecutive checkpoints, and every record dated since or later, with the
// records a checkpoint signed since seals that are older (recordsFrom).
func Fetch(ctx context.Context, src Source, since time.Time, now time.Time, server string) (*Export, error) {
	e := &Export{Manifest: Manifest{Exported: now.UTC().Format(time.RFC3339Nano), Server: server}}
	if !since.IsZero() {
		e.Manifest.Since = since.UTC().Format(time.RFC3339Nano)
	}
	key, err := src.AuditKey(ctx)
	if err != nil {
		return nil, err
	}
	e.Certificate = key.Certificate
	for _, c := range key.Certificates {
		e.Certificates = append(e.Certificates, c.Certificate)
	}
	latest, err := src.AuditCheckpoint(ctx, 0)
	if err != nil {
		return nil, err
	}
	if latest != nil {
		// A checkpoint the server no longer has is left out: the verifier
		// names the gap.
		have := map[uint64]bool{}
		for n := uint64(1); n <= latest.N; n++ {
			cp := latest
			if n < latest.N {
				if cp, err = src.AuditCheckpoint(ctx, n); err != nil {
					return nil, err
				}
				if cp == nil {
					continue
				}
			}
			if cp == nil || cp.N != n {
				return nil, fmt.Errorf("the server returned another checkpoint for checkpoint %d", n)
			}
			e.Checkpoints = append(e.Checkpoints, *cp)
			have[n] = true
			if have[n-1] {
				p, err := src.AuditConsistency(ctx, n-1, n)
				if err != nil {
					return nil, err
				}
				if p != nil {
					e.Proofs = append(e.Proofs, *p)
				}
			}
		}
	}
	if e.Records, err = fetchRecords(ctx, src, recordsFrom(since, e.Checkpoints), ""); err != nil {
		return nil, err
	}
	if !since.IsZero() {
		// Every record introducing an audit certificate, however old: the
		// verifier needs them to trust the certificates checkpoints name.
		keyRecs, err := fetchRecords(ctx, src, time.Time{}, auditlog.EventAuditKey)
		if err != nil {
			return nil, err
		}
		have := map[string]bool{}
		for _, r := range e.Records {
			have[r.ID] = true
		}
		for _, r := range keyRecs {
			if !have[r.ID] {
				e.Records = append(e.Records, r)
			}
		}
	}
	return e, nil
}

// recordsFrom is the time from which an export of the records from since
// fetches records: every leaf of a checkpoint signed since (or shortly
// before) needs its record (auditlog.RecordsFrom). A checkpoint that cannot
// be read makes it fetch every record.
func recordsFrom(since time.Time, cps []auditwire.Checkpoint) time.Time {
	sealed := make([]auditlog.Sealed, 0, len(cps))
	for i := range cps {
		s, err := cps[i].Sealed()
		if err != nil {
			return time.Time{}
		}
		sealed = append(sealed, *s)
	}
	return auditlog.RecordsFrom(since, sealed)
}

// fetchRecords reads every page of records dated since or later, of event
// type event (any when empty).
func fetchRecords(ctx context.Context, src Source, since time.Time, event string) ([]auditwire.Record, error) {
	var out []auditwire.Record
	for page := ""; ; {
		p, err := src.AuditRecords(ctx, since, event, page)
		if err != nil {
			return nil, err
		}
		out = append(out, p.Records...)
		if p.Next == "" {
			return out, nil
		}
		page = p.Next
	}
}
