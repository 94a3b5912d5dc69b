package keyserver_test

import (
	"context"
	"crypto"
	"strings"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

// refusalCase is one Sign refusal. The fixture holds operation "op" by
// orderer with key1 (2 uses) and ec256 (1 use), approved at once; "pending"
// by orderer with key2, not approved; and "other" by ordapp with key1.
type refusalCase struct {
	name  string
	who   string
	setup func(tb testing.TB, f *fixture, ids map[string]string)
	order func(ids map[string]string) *keyserver.SignOrder
	want  string
}

func rsaSHA256(opID, keyID string) *keyserver.SignOrder {
	return order(opID, keyID, keyserver.DigestInfo(crypto.SHA256, digestOf(crypto.SHA256)), keyserver.PaddingDigestInfo, keyserver.FormatASN1, keyserver.InputHex)
}

func ecSHA256(opID, keyID string) *keyserver.SignOrder {
	return order(opID, keyID, digestOf(crypto.SHA256), keyserver.PaddingNone, keyserver.FormatP1363, keyserver.InputHex)
}

// on returns an order builder for operation name and key, changed by edit.
func on(name, keyID string, edit func(o *keyserver.SignOrder)) func(map[string]string) *keyserver.SignOrder {
	return func(ids map[string]string) *keyserver.SignOrder {
		id, ok := ids[name]
		if !ok {
			id = name
		}
		o := rsaSHA256(id, keyID)
		if strings.HasPrefix(keyID, "ec") || keyID == "key2" {
			o = ecSHA256(id, keyID)
		}
		if edit != nil {
			edit(o)
		}
		return o
	}
}

func hexInput(b []byte) func(o *keyserver.SignOrder) {
	return func(o *keyserver.SignOrder) { o.InputData = encode(keyserver.InputHex, b) }
}

var signRefusals = []refusalCase{
	{"unknown key", "orderer", nil, on("op", "nokey", nil), keyserver.ENOTFOUND},
	{"forbidden key", "orderer1", nil, on("op", "ec256", nil), keyserver.ENOTFOUND},
	{"auditor", "auditor", nil, on("op", "key1", nil), keyserver.ENOTFOUND},
	{"invalid key id", "orderer", nil, on("op", "bad key", nil), keyserver.EINVALID},
	{"disabled key", "orderer", nil, on("op", "off", nil), keyserver.EFORBIDDEN},
	{"disabled key, unknown operation", "orderer", nil, on(strings.Repeat("ab", 20), "off", nil), keyserver.EFORBIDDEN},
	{"disabled key, unreadable operation", "orderer", nil, on("other", "off", nil), keyserver.EFORBIDDEN},
	{"invalid key id, unreadable operation", "orderer1", nil, on("other", "bad key", nil), keyserver.EINVALID},
	{"malformed operation id", "orderer", nil, on("op-1", "key1", nil), keyserver.ENOTFOUND},
	{"unknown operation", "orderer", nil, on(strings.Repeat("ab", 20), "key1", nil), keyserver.ENOTFOUND},
	{"key not in operation", "orderer", nil, on("op", "key3", nil), keyserver.EFORBIDDEN},
	{"approver without orderer right", "approvers", nil, on("other", "key1", nil), keyserver.ENOTFOUND},
	{"other requester's operation, readable orderer", "ordapp", nil, on("op", "key1", nil), keyserver.EFORBIDDEN},
	{"other requester's operation, unreadable", "orderer1", nil, on("other", "key1", nil), keyserver.ENOTFOUND},
	{"not approved", "orderer", nil, on("pending", "key2", nil), keyserver.ENOTAPPROVED},
	{"expired", "orderer", func(tb testing.TB, f *fixture, ids map[string]string) { f.clock.Advance(time.Minute) }, on("op", "key1", nil), keyserver.EEXPIRED},
	{"rejected", "orderer", func(tb testing.TB, f *fixture, ids map[string]string) { f.mustReject(tb, ids["op"]) }, on("op", "key1", nil), keyserver.ECLOSED},
	{"cancelled", "orderer", func(tb testing.TB, f *fixture, ids map[string]string) { f.mustCancel(tb, ids["op"]) }, on("op", "key1", nil), keyserver.ECLOSED},
	{"key used up", "orderer", func(tb testing.TB, f *fixture, ids map[string]string) { mustUseUp(tb, f, ids["op"], "key1") }, on("op", "key1", nil), keyserver.EEXHAUSTED},
	{"operation exhausted", "orderer", func(tb testing.TB, f *fixture, ids map[string]string) {
		mustUseUp(tb, f, ids["op"], "key1")
		mustUseUp(tb, f, ids["op"], "ec256")
	}, on("op", "ec256", nil), keyserver.EEXHAUSTED},
	{"truncated DigestInfo", "orderer", nil, on("op", "key1", hexInput(keyserver.DigestInfo(crypto.SHA256, digestOf(crypto.SHA256))[:50])), keyserver.EINVALID},
	{"malformed DigestInfo", "orderer", nil, on("op", "key1", hexInput(append([]byte{0x30, 0x32}, make([]byte, 49)...))), keyserver.EINVALID},
	{"bare digest as DigestInfo", "orderer", nil, on("op", "key1", hexInput(digestOf(crypto.SHA256))), keyserver.EINVALID},
	{"DigestInfo of another hash than named", "orderer", nil, on("op", "key1", func(o *keyserver.SignOrder) { o.HashAlgorithm = "SHA384" }), keyserver.EINVALID},
	{"unknown hash name", "orderer", nil, on("op", "key1", func(o *keyserver.SignOrder) { o.HashAlgorithm = "MD5" }), keyserver.EINVALID},
	{"RSA padding none", "orderer", nil, on("op", "key1", func(o *keyserver.SignOrder) {
		o.InputPadding = keyserver.PaddingNone
		o.InputData = encode(keyserver.InputHex, digestOf(crypto.SHA256))
	}), keyserver.EINVALID},
	{"RSA p1363", "orderer", nil, on("op", "key1", func(o *keyserver.SignOrder) { o.SignatureFormat = keyserver.FormatP1363 }), keyserver.EINVALID},
	{"RSA pss digest of 20 bytes", "orderer", nil, on("op", "key1", func(o *keyserver.SignOrder) {
		o.InputPadding = keyserver.PaddingPSS
		o.InputData = encode(keyserver.InputHex, make([]byte, 20))
	}), keyserver.EINVALID},
	{"EC digestinfo", "orderer", nil, on("op", "ec256", func(o *keyserver.SignOrder) {
		o.InputPadding = keyserver.PaddingDigestInfo
		o.InputData = encode(keyserver.InputHex, keyserver.DigestInfo(crypto.SHA256, digestOf(crypto.SHA256)))
	}), keyserver.EINVALID},
	{"EC digest of 33 bytes", "orderer", nil, on("op", "ec256", hexInput(make([]byte, 33))), keyserver.EINVALID},
	{"EC digest shorter than named", "orderer", nil, on("op", "ec256", func(o *keyserver.SignOrder) { o.HashAlgorithm = "SHA512" }), keyserver.EINVALID},
	{"EC signature format der", "orderer", nil, on("op", "ec256", func(o *keyserver.SignOrder) { o.SignatureFormat = "der" }), keyserver.EINVALID},
	{"bad hex", "orderer", nil, on("op", "ec256", func(o *keyserver.SignOrder) { o.InputData = "zz" + o.InputData[2:] }), keyserver.EINVALID},
	{"bad base64", "orderer", nil, on("op", "ec256", func(o *keyserver.SignOrder) { o.InputFormat = keyserver.InputBase64; o.InputData = "!!!!" }), keyserver.EINVALID},
	{"unknown input format", "orderer", nil, on("op", "ec256", func(o *keyserver.SignOrder) { o.InputFormat = "raw" }), keyserver.EINVALID},
}

func TestSignRefusals(t *testing.T) {
	for _, tt := range signRefusals {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ctx := context.Background()
			ids := map[string]string{
				"op":      f.mustCreate(t, "orderer", kr("key1", 2), kr("ec256", 1)).ID,
				"pending": f.mustCreate(t, "orderer", kr("key2", 1)).ID,
				"other":   f.mustCreate(t, "ordapp", kr("key1", 1)).ID,
			}
			if tt.setup != nil {
				tt.setup(t, f, ids)
			}
			uses := map[string]int{}
			events := map[string]int{}
			for name, id := range ids {
				for _, k := range []string{"key1", "key2", "ec256"} {
					uses[name+"/"+k] = f.store.HeldUses(id, k)
				}
				events[name] = len(f.store.Events(id))
			}
			global := len(f.store.GlobalAudit())
			o := tt.order(ids)

			res, err := f.svc.Sign(ctx, f.mustCaller(t, tt.who), o)
			wantCode(t, err, tt.want)
			if res != nil {
				t.Fatalf("a refused order returned %+v", res)
			}
			if n := f.hsm.SignCount(); n != 0 {
				t.Fatalf("a refused order reached the HSM %d times", n)
			}
			for name, id := range ids {
				for _, k := range []string{"key1", "key2", "ec256"} {
					if n := f.store.HeldUses(id, k); n != uses[name+"/"+k] {
						t.Fatalf("a refused order changed the uses of %s in %s from %d to %d", k, name, uses[name+"/"+k], n)
					}
				}
			}
			// The refusal is audited once: in the operation it concerns when
			// the caller may read it, else in the global log.
			var added []keyserver.AuditEvent
			for name, id := range ids {
				evs := f.store.Events(id)
				if len(evs) > events[name] {
					if !mustRead(t, f, tt.who, id) {
						t.Fatalf("the refusal was written into operation %s, which %s may not read", name, tt.who)
					}
					for _, ev := range evs[events[name]:] {
						// A refusal for want of uses also notes an exhaustion
						// that was not noted yet (the setup spent the uses
						// through the store); that is not the refusal.
						if ev.Action != keyserver.ActionExhaust {
							added = append(added, ev)
						}
					}
				}
			}
			added = append(added, f.store.GlobalAudit()[global:]...)
			if len(added) != 1 {
				t.Fatalf("the refusal wrote %d audit events, want 1: %+v", len(added), added)
			}
			ev := added[0]
			if ev.Action != keyserver.ActionSign || ev.Result != "refused: "+tt.want || ev.Actor != principal(tt.who) || ev.KeyID != o.KeyID || ev.Time.IsZero() {
				t.Fatalf("audit event = %+v", ev)
			}
		})
	}
}

// mustRead reports whether who may read operation id.
func mustRead(tb testing.TB, f *fixture, who, id string) bool {
	tb.Helper()
	_, err := f.svc.Operation(context.Background(), f.mustCaller(tb, who), id)
	return err == nil
}
