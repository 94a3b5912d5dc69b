package auditlog

import "testing"

// The first certificate is checked against every anchor kept outside the
// Keyserver: a log rewritten under another key fails first of all.
func TestVerifyAnchors(t *testing.T) {
	l := sampleLog(t)
	first := CertificateHash(l.Certificate)
	rep := Verify(l)
	if !rep.OK() || rep.First != first || rep.Anchored {
		t.Fatalf("no anchor: OK %v, first %s (want %s), anchored %v", rep.OK(), rep.First, first, rep.Anchored)
	}
	l.Anchors = []Anchor{{SHA256: first, From: "--trust"}, {SHA256: first, From: "the export in old"}}
	if rep := Verify(l); !rep.OK() || !rep.Anchored {
		t.Fatalf("matching anchors: %v, anchored %v", rep.Problems, rep.Anchored)
	}
	other := first
	other[0] ^= 1
	l.Anchors = append(l.Anchors, Anchor{SHA256: other, From: "the export in older"})
	rep = Verify(l)
	if rep.OK() || rep.Anchored || rep.Problems[0].Kind != KindUntrusted ||
		rep.Problems[0].String() != "first audit certificate untrusted: it is "+first.String()+", but the export in older gives "+other.String() {
		t.Fatalf("another anchor: anchored %v, problems %v", rep.Anchored, rep.Problems)
	}
}
