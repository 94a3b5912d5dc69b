package azuritetests

import (
	"context"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"keyserver/internal/localstack"
)

// testClock is the in-process handler's clock; tests move it forward to
// expire operations without sleeping.
type testClock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

// Advance moves the clock forward by d.
func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.offset += d
	c.mu.Unlock()
}

var (
	stackOnce sync.Once
	stack     *localstack.Stack
	stackErr  error
	stackDir  string
	clock     = &testClock{}
)

// mustStack returns the full local stack (Azurite, HSM fake, dev auth server
// and an in-process handler), started once per test binary.
func mustStack(tb testing.TB) *localstack.Stack {
	tb.Helper()
	stackOnce.Do(func() {
		if stackDir, stackErr = os.MkdirTemp("", "keyserver-stack-"); stackErr != nil {
			return
		}
		stack, stackErr = localstack.Start(context.Background(), localstack.Options{
			Dir:         stackDir,
			SignTimeout: 3 * time.Second,
			Now:         clock.Now,
			// The terminal lines of every event (TestMakeRunShowsApprovalRequests checks them).
			HandlerOutput: io.Discard,
			Log:           slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
	})
	if stackErr != nil {
		tb.Fatalf("starting the local stack: %v", stackErr)
	}
	return stack
}

func stopStack() {
	if stack != nil {
		stack.Close()
	}
	if stackDir != "" {
		os.RemoveAll(stackDir)
	}
}
