package keyvault

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"keyserver/internal/keyserver"
)

// statusRecorder remembers the status of the last HTTP response of one call,
// so that a deadline that strikes while waiting out a 429 still reads as
// throttling.
type statusRecorder struct {
	last atomic.Int32
}

type recorderKey struct{}

func withRecorder(ctx context.Context) (context.Context, *statusRecorder) {
	rec := &statusRecorder{}
	return context.WithValue(ctx, recorderKey{}, rec), rec
}

func (r *statusRecorder) status() int {
	if r == nil {
		return 0
	}
	return int(r.last.Load())
}

// recordStatusPolicy runs once per try and stores the status in the
// context's statusRecorder, if any.
type recordStatusPolicy struct{}

func (recordStatusPolicy) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	if rec, ok := req.Raw().Context().Value(recorderKey{}).(*statusRecorder); ok {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		rec.last.Store(int32(status))
	}
	return resp, err
}

const (
	msgThrottled    = "The HSM is throttling requests; retry later."
	msgTimeout      = "The HSM did not answer in time."
	msgUnreachable  = "The HSM cannot be reached."
	msgUnauthorised = "The Keyserver is not authorised to use this HSM key."
)

// classify turns an error of the Key Vault client into a *keyserver.Error.
// lastStatus is the status of the last response seen, 0 if none. The cause
// is kept for the logs.
func classify(err error, lastStatus int) error {
	var ke *keyserver.Error
	if errors.As(err, &ke) {
		return err
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return classifyStatus(re.StatusCode, err)
	}
	var authErr *azidentity.AuthenticationFailedError
	var netErr net.Error
	switch {
	case lastStatus == http.StatusTooManyRequests && errors.Is(err, context.DeadlineExceeded):
		// the deadline struck while waiting to retry a 429
		return keyserver.Wrap(keyserver.ERATELIMITED, err, msgThrottled)
	case errors.Is(err, context.DeadlineExceeded):
		return keyserver.Wrap(keyserver.EUNAVAILABLE, err, msgTimeout)
	case errors.Is(err, context.Canceled):
		return keyserver.Wrap(keyserver.EUNAVAILABLE, err, "The request was cancelled before the HSM answered.")
	case errors.As(err, &authErr):
		return keyserver.Wrap(keyserver.EUNAVAILABLE, err, "The Keyserver could not get a token for the HSM.")
	case errors.As(err, &netErr) && netErr.Timeout():
		return keyserver.Wrap(keyserver.EUNAVAILABLE, err, msgTimeout)
	}
	return keyserver.Wrap(keyserver.EUNAVAILABLE, err, msgUnreachable)
}

func classifyStatus(status int, err error) error {
	switch {
	case status == http.StatusTooManyRequests:
		return keyserver.Wrap(keyserver.ERATELIMITED, err, msgThrottled)
	case status == http.StatusNotFound:
		return keyserver.Wrap(keyserver.ENOTFOUND, err, "The HSM key was not found.")
	case status == http.StatusBadRequest:
		return keyserver.Wrap(keyserver.EINVALID, err, "The HSM rejected the request as invalid.")
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		return keyserver.Wrap(keyserver.EUNAVAILABLE, err, msgUnauthorised)
	case status == http.StatusRequestTimeout || status == http.StatusGatewayTimeout:
		return keyserver.Wrap(keyserver.EUNAVAILABLE, err, msgTimeout)
	case status >= 500:
		return keyserver.Wrap(keyserver.EUNAVAILABLE, err, msgUnreachable)
	}
	return keyserver.Wrap(keyserver.EUNAVAILABLE, err, "The HSM refused the request.")
}
