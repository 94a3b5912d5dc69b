package main

import (
	"context"
	"fmt"
	"io"
	"runtime"

	"keyserver/internal/localstack"
)

// procsCost compares the handler's CPU per signature with GOMAXPROCS as
// infra sets it and with Go's default, in two more handler processes on the
// same stack (neither runs upkeep), their windows interleaved so that they
// share the machine's ups and downs.
func procsCost(ctx context.Context, st *localstack.Stack, p *pipeline, tables *tableCounter, o options, digest []byte) error {
	type variant struct {
		name, procs string
		run         *costRun
		p           *pipeline
		w           window
	}
	vs := []*variant{
		{name: "GOMAXPROCS=" + o.gomaxprocs + " (as deployed)", procs: o.gomaxprocs},
		{name: fmt.Sprintf("GOMAXPROCS unset (Go's default, %d here)", runtime.NumCPU()), procs: ""},
	}
	for _, v := range vs {
		h, err := st.StartHandlerProcess(ctx, o.handler, io.Discard, map[string]string{"GOMAXPROCS": v.procs})
		if err != nil {
			return err
		}
		defer h.Stop()
		v.run = &costRun{pid: h.PID, tables: tables, clients: o.clients}
		v.p = p.at(h.URL)
	}
	for i := range o.ops {
		order := vs
		if i%2 == 1 {
			order = []*variant{vs[1], vs[0]}
		}
		for _, v := range order {
			id, err := p.open(ctx, "key1", o.window, "benchmark: GOMAXPROCS")
			if err != nil {
				return err
			}
			if err := v.run.add(&v.w, o.window, v.p.order(id, "key1", digest, false)); err != nil {
				return err
			}
		}
	}
	fmt.Printf("\nGOMAXPROCS: key1 RSA-2048 signatures, %d clients, %d per row, in two more handler processes\n", o.clients, vs[0].w.n)
	fmt.Println("(upkeep idle in both), windows of each interleaved.")
	fmt.Printf("\n%-44s %12s %12s %10s\n", "handler", "CPU ms", "table calls", "req/s")
	for _, v := range vs {
		fmt.Printf("%-44s %12.3f %12.2f %10.1f\n", v.name, v.w.cpuMS(), v.w.per(v.w.traffic.calls), v.w.rate())
	}
	fmt.Printf("%-44s %12.2f %12s %10.2f\n", "ratio, as deployed / Go's default", vs[0].w.cpuMS()/vs[1].w.cpuMS(), "", vs[0].w.rate()/vs[1].w.rate())
	return nil
}
