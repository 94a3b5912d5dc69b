package localstack

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Handler processes: the stack's own and those StartHandler adds.

// extraHandler is a handler process started by StartHandler.
type extraHandler struct {
	pid    int
	exited chan error
	once   sync.Once
}

func (h *extraHandler) stop() { h.once.Do(func() { stopProcess(h.pid, h.exited) }) }

func startProcess(binary string, env map[string]string, out io.Writer) (*exec.Cmd, error) {
	cmd := exec.Command(binary)
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = out, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting the handler %s: %w", binary, err)
	}
	return cmd, nil
}

// HandlerPID is the process id of the handler process; 0 when in process.
func (st *Stack) HandlerPID() int {
	if st.proc == nil || st.proc.Process == nil {
		return 0
	}
	return st.proc.Process.Pid
}

// StartHandler starts one more handler process from binary, with the same
// settings as the stack's own (the same tables, HSM and issuers), and
// returns its URL once it is healthy, and a function that stops it. Close
// stops those still running.
func (st *Stack) StartHandler(ctx context.Context, binary string) (string, func(), error) {
	return st.StartHandlerWith(ctx, binary, io.Discard, nil)
}

// StartHandlerWith is StartHandler with the process's output to out and
// the settings in override replacing the stack's.
func (st *Stack) StartHandlerWith(ctx context.Context, binary string, out io.Writer, override map[string]string) (string, func(), error) {
	h, err := st.StartHandlerProcess(ctx, binary, out, override)
	return h.URL, h.Stop, err
}

// Handler is a handler process that StartHandlerProcess started.
type Handler struct {
	URL  string
	PID  int
	Stop func()
}

// StartHandlerProcess is StartHandlerWith, and also tells the process id.
func (st *Stack) StartHandlerProcess(ctx context.Context, binary string, out io.Writer, override map[string]string) (Handler, error) {
	port, err := freePort()
	if err != nil {
		return Handler{}, err
	}
	env := maps.Clone(st.env)
	maps.Copy(env, override)
	env["FUNCTIONS_CUSTOMHANDLER_PORT"] = strconv.Itoa(port)
	cmd, err := startProcess(binary, env, out)
	if err != nil {
		return Handler{}, err
	}
	h := &extraHandler{pid: cmd.Process.Pid, exited: make(chan error, 1)}
	go func() { h.exited <- cmd.Wait() }()
	st.extra = append(st.extra, h)
	url := "http://localhost:" + strconv.Itoa(port)
	if err := waitHealthy(ctx, url, h.exited); err != nil {
		h.stop()
		return Handler{}, err
	}
	return Handler{URL: url, PID: h.pid, Stop: h.stop}, nil
}

func (st *Stack) waitHealthy(ctx context.Context) error {
	return waitHealthy(ctx, st.HandlerURL, st.procErr)
}

// waitHealthy polls url's health until it answers 200; exited (may be nil)
// reports a handler process that ended.
func waitHealthy(ctx context.Context, url string, exited <-chan error) error {
	deadline := time.Now().Add(20 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("the handler exited: %v", err)
		default:
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", url+"/api/health", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("health answered %s", resp.Status)
		}
		last = err
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("the handler did not become healthy: %v", last)
}

// stopProcess ends a handler's process group: SIGTERM, then SIGKILL after
// 5 s unless exited reports the end first.
func stopProcess(pid int, exited <-chan error) {
	_ = syscall.Kill(-pid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
}
