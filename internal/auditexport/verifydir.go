package auditexport

import (
	"fmt"
	"io"
	"strings"

	"keyserver/internal/auditlog"
)

// VerifyOptions are what ks audit verify is given besides the directory.
type VerifyOptions struct {
	// Known are earlier export directories: each of their checkpoints must
	// be in the export unchanged, and their first certificate the same.
	Known []string
	// Trust is the SHA-256 of the first audit certificate, kept outside the
	// Keyserver; empty when not given.
	Trust string
}

// ParseFingerprint reads a certificate's SHA-256 as ks audit verify --trust
// takes it: 64 hex digits, or openssl's fingerprint (pairs of hex digits
// separated by colons, after an optional "sha256 Fingerprint=").
func ParseFingerprint(s string) (auditlog.Hash, error) {
	t := strings.TrimSpace(s)
	if i := strings.LastIndexByte(t, '='); i >= 0 {
		t = t[i+1:]
	}
	h, err := auditlog.ParseHash(strings.ReplaceAll(t, ":", ""))
	if err != nil {
		return h, fmt.Errorf("%q is not a SHA-256 fingerprint (64 hex digits)", s)
	}
	return h, nil
}

// VerifyDir verifies an export directory with opts, and writes what it
// found to w: one line when all is well, else the first problem and then
// every other. It returns the report; an unreadable directory or a
// malformed --trust is an error.
func VerifyDir(dir string, opts VerifyOptions, w io.Writer) (*auditlog.Report, error) {
	l, err := Read(dir)
	if err != nil {
		return nil, err
	}
	if opts.Trust != "" {
		h, err := ParseFingerprint(opts.Trust)
		if err != nil {
			return nil, err
		}
		l.Anchors = append(l.Anchors, auditlog.Anchor{SHA256: h, From: "--trust"})
	}
	for _, k := range opts.Known {
		kl, err := Read(k)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		for _, s := range kl.Checkpoints {
			l.Known = append(l.Known, s.Checkpoint)
		}
		l.Anchors = append(l.Anchors, auditlog.Anchor{SHA256: auditlog.CertificateHash(kl.Certificate), From: "the export in " + k})
	}
	rep := auditlog.Verify(l)
	if rep.OK() {
		fmt.Fprintf(w, "OK: %s\n", summary(rep))
		return rep, nil
	}
	fmt.Fprintf(w, "FAILED: %s\n", rep.Problems[0])
	for _, p := range rep.Problems[1:] {
		fmt.Fprintf(w, "  also: %s\n", p)
	}
	return rep, nil
}

// summary is the OK line after "OK: ".
func summary(rep *auditlog.Report) string {
	latest := "no checkpoint yet"
	if rep.Latest != nil {
		latest = fmt.Sprintf("latest checkpoint %d: %d leaves, root %s", rep.Latest.N, rep.Latest.Size, rep.Latest.Root)
	}
	first := fmt.Sprintf("first audit certificate SHA-256 %s", rep.First)
	if rep.Anchored {
		first += ", as given"
	} else {
		first += ": compare it with a copy kept outside the Keyserver, or pass it with --trust"
	}
	return fmt.Sprintf("%d records (%d under a checkpoint), %d checkpoints; %s; %s; %s", rep.Records, rep.Sealed, rep.Checkpoints, latest, certificates(rep.Certificates), first)
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
