// Command ks is a pipeline's client of the Keyserver; see ks --help and
// package kscli.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"keyserver/internal/kscli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := kscli.Run(ctx, kscli.Env{
		Args:     os.Args[1:],
		Getenv:   os.Getenv,
		Stdout:   os.Stdout,
		Stderr:   os.Stderr,
		Terminal: isTerminal(os.Stderr),
	})
	stop()
	os.Exit(code)
}

// isTerminal reports whether f is a character device and TERM allows redrawing.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0 && os.Getenv("TERM") != "dumb"
}
