package keyvault

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"keyserver/internal/keyserver"
)

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func TestClassify(t *testing.T) {
	status := func(code int) error {
		return fmt.Errorf("signing: %w", &azcore.ResponseError{StatusCode: code, ErrorCode: "X"})
	}
	refused := &url.Error{Op: "Post", URL: "https://x", Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}}
	cases := []struct {
		name       string
		err        error
		lastStatus int
		wantCode   string
		wantMsg    string
	}{
		{"429", status(429), 429, keyserver.ERATELIMITED, msgThrottled},
		{"500", status(500), 500, keyserver.EUNAVAILABLE, msgUnreachable},
		{"502", status(502), 502, keyserver.EUNAVAILABLE, msgUnreachable},
		{"503", status(503), 503, keyserver.EUNAVAILABLE, msgUnreachable},
		{"504", status(504), 504, keyserver.EUNAVAILABLE, msgTimeout},
		{"408", status(408), 408, keyserver.EUNAVAILABLE, msgTimeout},
		{"404", status(404), 404, keyserver.ENOTFOUND, "The HSM key was not found."},
		{"400", status(400), 400, keyserver.EINVALID, "The HSM rejected the request as invalid."},
		{"401", status(401), 401, keyserver.EUNAVAILABLE, msgUnauthorised},
		{"403", status(403), 403, keyserver.EUNAVAILABLE, msgUnauthorised},
		{"409", status(409), 409, keyserver.EUNAVAILABLE, "The HSM refused the request."},
		{"deadline", context.DeadlineExceeded, 0, keyserver.EUNAVAILABLE, msgTimeout},
		{"deadline in transport", &url.Error{Op: "Post", URL: "https://x", Err: context.DeadlineExceeded}, 500, keyserver.EUNAVAILABLE, msgTimeout},
		{"deadline while waiting out a 429", fmt.Errorf("x: %w", context.DeadlineExceeded), 429, keyserver.ERATELIMITED, msgThrottled},
		{"connection refused after a 429", refused, 429, keyserver.EUNAVAILABLE, msgUnreachable},
		{"connection refused", refused, 0, keyserver.EUNAVAILABLE, msgUnreachable},
		{"network timeout", &url.Error{Op: "Post", URL: "https://x", Err: timeoutError{}}, 0, keyserver.EUNAVAILABLE, msgTimeout},
		{"cancelled", context.Canceled, 0, keyserver.EUNAVAILABLE, "The request was cancelled before the HSM answered."},
		{"token failure", &azidentity.AuthenticationFailedError{}, 0, keyserver.EUNAVAILABLE, "The Keyserver could not get a token for the HSM."},
		{"unknown", errors.New("tls: bad certificate"), 0, keyserver.EUNAVAILABLE, msgUnreachable},
		{"already classified", keyserver.Errorf(keyserver.EINVALID, "bad"), 0, keyserver.EINVALID, "bad"},
	}
	for _, c := range cases {
		err := classify(c.err, c.lastStatus)
		if code := keyserver.ErrorCode(err); code != c.wantCode {
			t.Fatalf("%s: code %q, want %q", c.name, code, c.wantCode)
		}
		if msg := keyserver.ErrorMessage(err); msg != c.wantMsg {
			t.Fatalf("%s: message %q, want %q", c.name, msg, c.wantMsg)
		}
		if !errors.Is(err, c.err) {
			t.Fatalf("%s: the cause is lost", c.name)
		}
	}
}

func TestNewCredential(t *testing.T) {
	t.Setenv("AZURE_CLIENT_ID", "11111111-1111-1111-1111-111111111111")
	for _, kind := range []string{"", "managedidentity", "default", "azurecli"} {
		c, err := NewCredential(kind)
		if err != nil || c == nil {
			t.Fatalf("NewCredential(%q): %v", kind, err)
		}
	}
	if _, err := NewCredential("password"); err == nil {
		t.Fatal("NewCredential accepted an unknown kind")
	}
}
