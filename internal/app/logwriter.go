package app

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"time"
)

// LogWriter holds log lines and writes them together, every interval or
// when 32 KiB are held, so that a busy handler does not make a system call
// for each request's line. Flush writes what is held at once.
type LogWriter struct {
	mu      sync.Mutex
	out     io.Writer
	every   time.Duration
	buf     []byte
	pending bool
}

// NewLogWriter returns a LogWriter on out.
func NewLogWriter(out io.Writer, every time.Duration) *LogWriter {
	return &LogWriter{out: out, every: every}
}

func (w *LogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	if len(w.buf) >= 32<<10 {
		return len(p), w.flushLocked()
	}
	if !w.pending {
		w.pending = true
		time.AfterFunc(w.every, func() { _ = w.Flush() })
	}
	return len(p), nil
}

// Flush writes the lines held.
func (w *LogWriter) Flush() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.pending = false
	return w.flushLocked()
}

func (w *LogWriter) flushLocked() error {
	if len(w.buf) == 0 {
		return nil
	}
	_, err := w.out.Write(w.buf)
	w.buf = w.buf[:0]
	return err
}

// NewLogger is the handler's JSON logger on out: lines are written within
// 20 ms, warnings and errors at once. flush writes what is held, for exit.
func NewLogger(out io.Writer) (log *slog.Logger, flush func()) {
	return newLogger(out, 20*time.Millisecond)
}

func newLogger(out io.Writer, every time.Duration) (*slog.Logger, func()) {
	w := NewLogWriter(out, every)
	return slog.New(flushOnWarn{slog.NewJSONHandler(w, nil), w}), func() { _ = w.Flush() }
}

// flushOnWarn flushes its LogWriter after each record at Warn or above.
type flushOnWarn struct {
	slog.Handler
	w *LogWriter
}

func (h flushOnWarn) Handle(ctx context.Context, r slog.Record) error {
	err := h.Handler.Handle(ctx, r)
	if r.Level >= slog.LevelWarn {
		if ferr := h.w.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

func (h flushOnWarn) WithAttrs(attrs []slog.Attr) slog.Handler {
	return flushOnWarn{h.Handler.WithAttrs(attrs), h.w}
}

func (h flushOnWarn) WithGroup(name string) slog.Handler {
	return flushOnWarn{h.Handler.WithGroup(name), h.w}
}
