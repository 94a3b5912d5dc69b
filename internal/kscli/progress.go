package kscli

import (
	"fmt"
	"strings"
	"time"

	"keyserver/internal/ksc"
)

// progress shows a wait: on a terminal one status line redrawn in place,
// elsewhere (a CI log) one line per change.
type progress struct {
	env   *Env
	opID  string
	last  string // the last state shown
	drawn bool   // a status line is on the terminal
}

func newProgress(env *Env, opID string) *progress { return &progress{env: env, opID: opID} }

// approvalsLine says, per key, the approvals given and needed and by whom.
func approvalsLine(op *ksc.Operation) string {
	parts := make([]string, 0, len(op.Keys))
	for _, g := range op.Keys {
		p := fmt.Sprintf("%s %d/%d", g.KeyID, len(g.Approvals), g.RequiredApprovals)
		var names []string
		for _, a := range g.Approvals {
			name := a.Name
			if name == "" {
				name = a.Approver.Subject
			}
			names = append(names, name)
		}
		if len(names) > 0 {
			p += " (" + strings.Join(names, ", ") + ")"
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ", ")
}

func left(op *ksc.Operation, now time.Time) string {
	d := op.Expires.Sub(now).Round(time.Second)
	if d < 0 {
		d = 0
	}
	return d.String()
}

// show displays the operation's state at now.
func (p *progress) show(op *ksc.Operation, now time.Time) {
	if op == nil {
		return
	}
	state := op.Status + ": " + approvalsLine(op)
	if p.env.Terminal {
		fmt.Fprintf(p.env.Stderr, "\r\033[Koperation %s %s, %s left: approvals %s", short(op.ID), op.Status, left(op, now), approvalsLine(op))
		p.drawn = true
		return
	}
	if state == p.last {
		return
	}
	p.last = state
	fmt.Fprintf(p.env.Stderr, "ks wait: operation %s is %s, expires in %s; approvals given/needed: %s\n", op.ID, op.Status, left(op, now), approvalsLine(op))
}

// note prints a line between status lines.
func (p *progress) note(msg string) {
	p.clear()
	fmt.Fprintf(p.env.Stderr, "ks wait: %s\n", msg)
	p.last = ""
}

// final prints the line of a successful end.
func (p *progress) final(msg string) {
	p.clear()
	fmt.Fprintf(p.env.Stderr, "ks wait: %s\n", msg)
}

// clear removes the terminal's status line.
func (p *progress) clear() {
	if p.drawn {
		fmt.Fprint(p.env.Stderr, "\r\033[K")
		p.drawn = false
	}
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
