package auditexport

import (
	"context"
	"fmt"
	"io"
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
// consecutive checkpoints, and every record dated since or later.
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
	if e.Records, err = fetchRecords(ctx, src, since, ""); err != nil {
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

// certificates says how many audit certificates the checkpoints were
// verified with.
func certificates(n int) string {
	switch n {
	case 0:
		return "no audit certificate used"
	case 1:
		return "signed with the first audit certificate"
	}
	return fmt.Sprintf("signed with the first audit certificate and %d more, each issued by one before it", n-1)
}

// VerifyDir verifies an export directory, with the checkpoints of the
// export directories in known, and writes what it found to w: one line
// when all is well, else the first problem and then every other. It
// returns the report; an unreadable directory is an error.
func VerifyDir(dir string, known []string, w io.Writer) (*auditlog.Report, error) {
	l, err := Read(dir)
	if err != nil {
		return nil, err
	}
	for _, k := range known {
		kl, err := Read(k)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		for _, s := range kl.Checkpoints {
			l.Known = append(l.Known, s.Checkpoint)
		}
	}
	rep := auditlog.Verify(l)
	if rep.OK() {
		latest := "no checkpoint yet"
		if rep.Latest != nil {
			latest = fmt.Sprintf("latest checkpoint %d: %d leaves, root %s", rep.Latest.N, rep.Latest.Size, rep.Latest.Root)
		}
		fmt.Fprintf(w, "OK: %d records (%d under a checkpoint), %d checkpoints; %s; %s\n", rep.Records, rep.Sealed, rep.Checkpoints, latest, certificates(rep.Certificates))
		return rep, nil
	}
	fmt.Fprintf(w, "FAILED: %s\n", rep.Problems[0])
	for _, p := range rep.Problems[1:] {
		fmt.Fprintf(w, "  also: %s\n", p)
	}
	return rep, nil
}
