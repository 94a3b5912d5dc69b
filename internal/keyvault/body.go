package keyvault

import (
	"bytes"
	"io"
	"net/http"
)

// maxInMemoryBody is the largest request body inMemoryBody reads ahead: a
// sign request's is about a hundred bytes.
const maxInMemoryBody = 64 << 10

// inMemoryBody sends a request's small body of known length from memory.
// net/http writes the headers of a request whose body it does not know to
// be in memory in a write of their own before the body; the SDK's bodies
// are its own type, so each Key Vault call took two writes (and two TLS
// records) instead of one.
type inMemoryBody struct{ next http.RoundTripper }

func (t inMemoryBody) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Body == http.NoBody || req.ContentLength <= 0 || req.ContentLength > maxInMemoryBody {
		return t.next.RoundTrip(req)
	}
	b := make([]byte, req.ContentLength)
	_, err := io.ReadFull(req.Body, b)
	req.Body.Close()
	if err != nil {
		return nil, err
	}
	r := *req // a RoundTripper leaves the caller's request as it is
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
	return t.next.RoundTrip(&r)
}
