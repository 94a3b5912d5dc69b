package app

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the flush timer's goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestLoggerHoldsInfoAndWritesWarningsAtOnce(t *testing.T) {
	var out syncBuffer
	log, flush := newLogger(&out, time.Hour) // no line goes by the timer here
	log.Info("request", "path", "/api/signorders")
	log.Info("request", "path", "/api/keys")
	if got := out.String(); got != "" {
		t.Fatalf("info lines written at once: %q", got)
	}
	log.With("component", "store").WarnContext(context.Background(), "slow")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "/api/signorders") || !strings.Contains(lines[2], `"level":"WARN"`) || !strings.Contains(lines[2], `"component":"store"`) {
		t.Fatalf("after a warning, written %q; want the two info lines then the warning", lines)
	}
	log.Info("request", "path", "/api/health")
	flush()
	if !strings.Contains(out.String(), "/api/health") {
		t.Fatalf("flush left a line held: %q", out.String())
	}
}

func TestLogWriterFlushesByItself(t *testing.T) {
	var out syncBuffer
	w := NewLogWriter(&out, time.Millisecond)
	if _, err := w.Write([]byte("line\n")); err != nil {
		t.Fatalf("Write: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for out.String() != "line\n" {
		if time.Now().After(deadline) {
			t.Fatalf("the held line was not written within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}
