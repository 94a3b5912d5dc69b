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
	// The live heap is a few MB: collecting garbage at 400% growth rather
	// than 100% costs little memory and saves about a tenth of the CPU of
	// a signature. GOGC, when set, decides.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
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
