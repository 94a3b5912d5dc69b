// Command handler is the Keyserver's Azure Functions custom handler. The
// Functions host starts it and forwards HTTP requests to
// FUNCTIONS_CUSTOMHANDLER_PORT; it also runs on its own for local use.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"keyserver/internal/app"
)

func main() {
	tuneGC(os.Getenv)
	log, flush := app.NewLogger(os.Stdout)
	if err := run(log); err != nil {
		log.Error("keyserver stopped", "err", err)
		fmt.Fprintln(os.Stderr, "handler:", err)
		os.Exit(1)
	}
	flush()
}

func run(log *slog.Logger) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := app.ConfigFromEnv(os.Getenv)
	if err != nil {
		return err
	}
	m := &app.Main{Config: cfg, Log: log}
	if err := m.Open(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return m.Close(shutdown)
}

// Garbage collection defaults, each unless its environment variable is set
// (which then decides). The live heap is a few MB: collecting at 1000%
// growth rather than Go's 100% keeps the heap under about 100 MB and saves
// CPU (400% took about a tenth off a signature's, 1000% another 4% in A/B
// runs of make bench's cost section); the soft memory limit makes the
// collector run sooner should a larger live heap (an audit export) push
// the heap towards it.
const (
	defaultGCPercent   = 1000
	defaultMemoryLimit = 512 << 20
)

func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
}
