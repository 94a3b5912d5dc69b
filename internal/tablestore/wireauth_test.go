package tablestore

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestSharedKeyLiteSignsEachRequest: every request, in any order and from
// any goroutine, carries the signature of its own date and path under the
// account key, as the table service checks it.
func TestSharedKeyLiteSignsEachRequest(t *testing.T) {
	key := []byte("0123456789abcdef0123456789abcdef")
	p := newSharedKeyLite("devstoreaccount1", key)
	paths := []string{"/devstoreaccount1/$batch", "/devstoreaccount1/ops(PartitionKey='p',RowKey='op')", "/devstoreaccount1/Tables", "/devstoreaccount1/x%20y"}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 50 {
				u := "http://127.0.0.1:10002" + paths[(g+i)%len(paths)]
				req, err := http.NewRequest(http.MethodGet, u, nil)
				if err != nil {
					t.Error(err)
					return
				}
				before := time.Now().UTC().Truncate(time.Second)
				if err := p.authorize(context.Background(), req); err != nil {
					t.Error(err)
					return
				}
				date := req.Header.Get("X-Ms-Date")
				if d, err := http.ParseTime(date); err != nil || d.Before(before) || d.After(time.Now()) {
					t.Errorf("x-ms-date %q is not the time of the request (%v)", date, err)
				}
				mac := hmac.New(sha256.New, key)
				mac.Write([]byte(date + "\n/devstoreaccount1" + req.URL.EscapedPath()))
				want := "SharedKeyLite devstoreaccount1:" + base64.StdEncoding.EncodeToString(mac.Sum(nil))
				if got := req.Header.Get("Authorization"); got != want {
					t.Errorf("%s: Authorization %q, want %q", u, got, want)
				}
			}
		})
	}
	wg.Wait()
}
