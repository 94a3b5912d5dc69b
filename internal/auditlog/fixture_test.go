package auditlog

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"testing"
	"time"
)

// softSigner is a software audit key for unit tests; the HSM's signer is
// tested through the keyvault adapter and the HSM fake.
type softSigner struct{ k *ecdsa.PrivateKey }

func (s softSigner) Public() crypto.PublicKey { return &s.k.PublicKey }

func (s softSigner) SignContext(_ context.Context, digest []byte, _ crypto.SignerOpts) ([]byte, error) {
	return ecdsa.SignASN1(rand.Reader, s.k, digest)
}

func mustKey(tb testing.TB) (softSigner, *x509.Certificate) {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "audit"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return softSigner{k}, cert
}

// logBuilder writes chains and seals them as the store and sealer do.
type logBuilder struct {
	tb     testing.TB
	signer softSigner
	cert   *x509.Certificate
	heads  map[string]Head
	now    time.Time
	log    Log
	tree   *Tree
	next   int // the first record not sealed yet
}

func newLogBuilder(tb testing.TB) *logBuilder {
	s, cert := mustKey(tb)
	return &logBuilder{tb: tb, signer: s, cert: cert, heads: map[string]Head{}, tree: NewTree(nil),
		now: time.Date(2026, 11, 30, 4, 0, 0, 123456789, time.UTC), log: Log{Certificate: cert}}
}

func (b *logBuilder) add(chain, event string) *Record {
	b.now = b.now.Add(time.Minute)
	r, h := b.heads[chain].Chain(Record{Chain: chain, Time: b.now, Event: event, ActorIssuer: "https://issuer", ActorSubject: "alice", Result: "ok"})
	b.heads[chain] = h
	b.log.Records = append(b.log.Records, Stored{Row: r.Seq, Record: r})
	return &b.log.Records[len(b.log.Records)-1].Record
}

func (b *logBuilder) seal() {
	b.now = b.now.Add(time.Minute)
	var leaves []Leaf
	for _, s := range b.log.Records[b.next:] {
		leaves = append(leaves, Leaf{Chain: s.Record.Chain, Seq: s.Record.Seq, Time: s.Record.Time, Hash: s.Record.LeafHash()})
		b.tree.Append(s.Record.LeafHash())
	}
	b.next = len(b.log.Records)
	var prev *Checkpoint
	if n := len(b.log.Checkpoints); n > 0 {
		prev = &b.log.Checkpoints[n-1].Checkpoint
	}
	cp, sig, err := Seal(context.Background(), b.signer, b.cert, prev, b.tree, b.now)
	if err != nil {
		b.tb.Fatal(err)
	}
	b.log.Checkpoints = append(b.log.Checkpoints, Sealed{Checkpoint: *cp, Signature: sig, Leaves: leaves})
}

// sampleLog has three checkpoints over two operations and the admin chain,
// and records after the last checkpoint. Records are grouped by chain in row
// order, as an export lists them.
func sampleLog(tb testing.TB) *Log {
	b := newLogBuilder(tb)
	a, c := OperationChain("aaaa"), OperationChain("bbbb")
	b.add(a, EventCreate)
	b.add(AdminChain, EventAdminKey)
	b.add(a, EventApprove)
	b.seal()
	b.add(a, EventSign)
	b.add(c, EventCreate)
	b.add(a, EventSign)
	b.seal()
	b.add(c, EventSign)
	b.add(AdminChain, EventAdminSubject)
	b.seal()
	b.add(a, EventSign)
	b.add(a, EventSign)
	b.add(c, EventCancel)
	b.add(a, EventSign)
	groupByChain(&b.log)
	return &b.log
}

func groupByChain(l *Log) {
	order := map[string]int{}
	for _, s := range l.Records {
		if _, ok := order[s.Record.Chain]; !ok {
			order[s.Record.Chain] = len(order)
		}
	}
	recs := l.Records
	out := make([]Stored, 0, len(recs))
	for i := 0; i < len(order); i++ {
		for _, s := range recs {
			if order[s.Record.Chain] == i {
				out = append(out, s)
			}
		}
	}
	l.Records = out
}
