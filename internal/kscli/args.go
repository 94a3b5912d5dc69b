package kscli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// errHelpShown ends a command whose --help was printed.
var errHelpShown = errors.New("help shown")

// newFlags returns a flag set that reports nothing itself.
func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("ks "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

type boolFlag interface{ IsBoolFlag() bool }

// parse reads flags anywhere among the arguments (GNU style: `ks wait OPID
// --timeout 5m`), with `--` ending them, and returns the other arguments.
// --help prints help to stdout and returns errHelpShown.
func parse(env *Env, fs *flag.FlagSet, help string, args []string) ([]string, error) {
	var flags, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		if f := fs.Lookup(name); f != nil {
			if b, ok := f.Value.(boolFlag); ok && b.IsBoolFlag() {
				continue
			}
			if i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		}
	}
	if err := fs.Parse(flags); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(env.Stdout, help)
			return nil, errHelpShown
		}
		return nil, fail(ExitUsage, "%v; see %s --help", err, fs.Name())
	}
	return positional, nil
}

// listFlag is a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }
