package keyserver_test

import (
	"strings"
	"testing"
	"time"

	"keyserver/internal/keyserver"
)

func TestOperationStatus(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	approval := keyserver.Approval{Approver: principal("approver2"), Time: now}
	closure := &keyserver.Closure{By: principal("admin"), Time: now}
	grant := func(required, approvals, used, max int) *keyserver.KeyGrant {
		g := &keyserver.KeyGrant{KeyID: "k", RequiredApprovals: required, UsageCount: used, MaxUsageCount: max}
		for range approvals {
			g.Approvals = append(g.Approvals, approval)
		}
		return g
	}
	tests := []struct {
		name      string
		expires   time.Time
		keys      []*keyserver.KeyGrant
		rejected  bool
		cancelled bool
		want      keyserver.Status
	}{
		{"needs approval", now.Add(time.Minute), []*keyserver.KeyGrant{grant(1, 0, 0, 1)}, false, false, keyserver.StatusPending},
		{"one of two approvals", now.Add(time.Minute), []*keyserver.KeyGrant{grant(2, 1, 0, 1)}, false, false, keyserver.StatusPending},
		{"one key of two approved", now.Add(time.Minute), []*keyserver.KeyGrant{grant(1, 1, 0, 1), grant(1, 0, 0, 1)}, false, false, keyserver.StatusPending},
		{"approved", now.Add(time.Minute), []*keyserver.KeyGrant{grant(1, 1, 0, 1)}, false, false, keyserver.StatusApproved},
		{"no approval needed", now.Add(time.Minute), []*keyserver.KeyGrant{grant(0, 0, 0, 1)}, false, false, keyserver.StatusApproved},
		{"one key of two used up", now.Add(time.Minute), []*keyserver.KeyGrant{grant(0, 0, 1, 1), grant(0, 0, 0, 1)}, false, false, keyserver.StatusApproved},
		{"exhausted", now.Add(time.Minute), []*keyserver.KeyGrant{grant(0, 0, 1, 1), grant(1, 1, 3, 3)}, false, false, keyserver.StatusExhausted},
		{"expires now", now, []*keyserver.KeyGrant{grant(0, 0, 0, 1)}, false, false, keyserver.StatusExpired},
		{"expired pending", now.Add(-time.Second), []*keyserver.KeyGrant{grant(1, 0, 0, 1)}, false, false, keyserver.StatusExpired},
		{"expired beats exhausted", now.Add(-time.Second), []*keyserver.KeyGrant{grant(0, 0, 1, 1)}, false, false, keyserver.StatusExpired},
		{"rejected", now.Add(time.Minute), []*keyserver.KeyGrant{grant(1, 0, 0, 1)}, true, false, keyserver.StatusRejected},
		{"rejected beats expired", now.Add(-time.Second), []*keyserver.KeyGrant{grant(1, 0, 0, 1)}, true, false, keyserver.StatusRejected},
		{"cancelled", now.Add(time.Minute), []*keyserver.KeyGrant{grant(0, 0, 0, 1)}, false, true, keyserver.StatusCancelled},
		{"cancelled beats expired and exhausted", now.Add(-time.Second), []*keyserver.KeyGrant{grant(0, 0, 1, 1)}, false, true, keyserver.StatusCancelled},
		{"rejected beats cancelled", now.Add(time.Minute), []*keyserver.KeyGrant{grant(0, 0, 0, 1)}, true, true, keyserver.StatusRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			op := &keyserver.Operation{Expires: tt.expires, Keys: tt.keys}
			if tt.rejected {
				op.Rejected = closure
			}
			if tt.cancelled {
				op.Cancelled = closure
			}
			if got := op.Status(now); got != tt.want {
				t.Fatalf("Status = %q, want %q", got, tt.want)
			}
			if got, want := op.Approved(now), tt.want == keyserver.StatusApproved; got != want {
				t.Fatalf("Approved = %v, want %v", got, want)
			}
			if got, want := op.Closed(), tt.rejected || tt.cancelled; got != want {
				t.Fatalf("Closed = %v, want %v", got, want)
			}
		})
	}
}

func TestOperationRequestValidate(t *testing.T) {
	keys := func(n int) []keyserver.KeyRequest {
		var ks []keyserver.KeyRequest
		for i := range n {
			ks = append(ks, kr("key"+strings.Repeat("x", i), 1))
		}
		return ks
	}
	tests := []struct {
		name    string
		validMS int64
		desc    string
		keys    []keyserver.KeyRequest
		ok      bool
	}{
		{"good", 60000, "Build firmware", []keyserver.KeyRequest{kr("key1", 1), kr("key4", 1000)}, true},
		{"validity at max", 24 * 3600 * 1000, "Build firmware", keys(1), true},
		{"description of 8", 1, "12345678", keys(1), true},
		{"description of 1024 runes", 1, strings.Repeat("ä", 1024), keys(1), true},
		{"32 keys", 1, "Build firmware", keys(32), true},
		{"validms zero", 0, "Build firmware", keys(1), false},
		{"validms negative", -1, "Build firmware", keys(1), false},
		{"validms above max", 24*3600*1000 + 1, "Build firmware", keys(1), false},
		{"validms overflowing a duration", 1 << 62, "Build firmware", keys(1), false},
		{"description of 7", 60000, "1234567", keys(1), false},
		{"description empty", 60000, "", keys(1), false},
		{"description of 1025", 60000, strings.Repeat("a", 1025), keys(1), false},
		{"no keys", 60000, "Build firmware", nil, false},
		{"33 keys", 60000, "Build firmware", keys(33), false},
		{"duplicate key", 60000, "Build firmware", []keyserver.KeyRequest{kr("key1", 1), kr("key2", 1), kr("key1", 2)}, false},
		{"maxusagecount zero", 60000, "Build firmware", []keyserver.KeyRequest{kr("key1", 0)}, false},
		{"maxusagecount negative", 60000, "Build firmware", []keyserver.KeyRequest{kr("key1", -1)}, false},
		{"maxusagecount above max", 60000, "Build firmware", []keyserver.KeyRequest{kr("key1", 1001)}, false},
		{"empty key id", 60000, "Build firmware", []keyserver.KeyRequest{kr("", 1)}, false},
		{"key id with a space", 60000, "Build firmware", []keyserver.KeyRequest{kr("key 1", 1)}, false},
		{"key id starting with a dot", 60000, "Build firmware", []keyserver.KeyRequest{kr(".key", 1)}, false},
		{"key id of 65", 60000, "Build firmware", []keyserver.KeyRequest{kr(strings.Repeat("k", 65), 1)}, false},
		{"wildcard key id", 60000, "Build firmware", []keyserver.KeyRequest{kr("*", 1)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &keyserver.OperationRequest{ValidMS: tt.validMS, Description: tt.desc, Keys: tt.keys}
			err := r.Validate(keyserver.DefaultLimits)
			if tt.ok {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			wantCode(t, err, keyserver.EINVALID)
		})
	}
}

func TestCallerRights(t *testing.T) {
	tests := []struct {
		roles                      []string
		key                        string
		order, approve, sees, audi bool
	}{
		{[]string{"admin"}, "key1", true, true, true, false},
		{[]string{"auditor"}, "key1", false, false, true, true},
		{[]string{"orderer:key1"}, "key1", true, false, true, false},
		{[]string{"orderer:key1"}, "key2", false, false, false, false},
		{[]string{"orderer:*"}, "key2", true, false, true, false},
		{[]string{"approver:key2"}, "key2", false, true, true, false},
		{[]string{"approver:key2"}, "key3", false, false, false, false},
		{[]string{"approver:*"}, "key3", false, true, true, false},
		{[]string{"orderer:key1", "approver:key3"}, "key3", false, true, true, false},
		{[]string{"orderer:key10"}, "key1", false, false, false, false},
		{[]string{"orderer:"}, "key1", false, false, false, false},
		{[]string{"Admin"}, "key1", false, false, false, false},
		{nil, "key1", false, false, false, false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.roles, ",")+"/"+tt.key, func(t *testing.T) {
			c := keyserver.Caller{Principal: principal("x"), Roles: tt.roles}
			if got := c.CanOrder(tt.key); got != tt.order {
				t.Fatalf("CanOrder = %v, want %v", got, tt.order)
			}
			if got := c.CanApprove(tt.key); got != tt.approve {
				t.Fatalf("CanApprove = %v, want %v", got, tt.approve)
			}
			if got := c.SeesKey(tt.key); got != tt.sees {
				t.Fatalf("SeesKey = %v, want %v", got, tt.sees)
			}
			if got := c.IsAuditor(); got != tt.audi {
				t.Fatalf("IsAuditor = %v, want %v", got, tt.audi)
			}
		})
	}
}

func TestValidateRole(t *testing.T) {
	tests := []struct {
		role string
		ok   bool
	}{
		{"admin", true}, {"auditor", true}, {"orderer:key1", true}, {"orderer:*", true},
		{"approver:key-2.a_b", true}, {"approver:*", true},
		{"", false}, {"Admin", false}, {"orderer", false}, {"orderer:", false}, {"approver:", false},
		{"signer:key1", false}, {"orderer:bad key", false}, {"orderer:-key", false}, {"admin:key1", false},
		{"orderer:key1:x", false}, {"approver:**", false},
	}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			err := keyserver.ValidateRole(tt.role)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateRole(%q): %v", tt.role, err)
				}
				return
			}
			wantCode(t, err, keyserver.EINVALID)
		})
	}
}

func TestValidID(t *testing.T) {
	if id := keyserver.NewID(); !keyserver.ValidID(id) {
		t.Fatalf("ValidID(NewID()) = false for %q", id)
	}
	for _, id := range []string{"", "abc", strings.Repeat("g", 40), strings.Repeat("a", 41), "../../" + strings.Repeat("a", 34)} {
		if keyserver.ValidID(id) {
			t.Fatalf("ValidID(%q) = true", id)
		}
	}
}
