// Package azurite starts the repository's pinned Azurite table service, for
// integration tests and the local stack.
package azurite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// AccountName and AccountKey are Azurite's well-known development account.
const (
	AccountName = "devstoreaccount1"
	AccountKey  = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// BinEnv names an environment variable that overrides the azurite-table binary.
const BinEnv = "AZURITE_TABLE_BIN"

const (
	pinnedBin    = "tools/azurite/node_modules/.bin/azurite-table"
	startTimeout = 20 * time.Second
	installHint  = "run `make tools` (or `npm ci --prefix tools/azurite`) in the repository root"
)

// Server is a running Azurite table service.
type Server struct {
	Port int

	cmd      *exec.Cmd
	output   *lockedBuffer
	exited   chan struct{}
	waitErr  error
	stopOnce sync.Once
}

// Start runs Azurite on a free loopback port with its data in dataDir.
func Start(ctx context.Context, dataDir string) (*Server, error) {
	return StartOnPort(ctx, dataDir, 0)
}

// StartOnPort runs Azurite on port (a free one when port is 0) with its data
// in dataDir, and returns once the port accepts connections.
func StartOnPort(ctx context.Context, dataDir string, port int) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating Azurite data directory: %w", err)
	}
	s := &Server{Port: port, output: &lockedBuffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(bin,
		"--tableHost", "127.0.0.1",
		"--tablePort", strconv.Itoa(port),
		"--location", dataDir,
		"--skipApiVersionCheck",
		"--disableProductStyleUrl",
		"--disableTelemetry",
		"--silent",
	)
	s.cmd.Stdout = s.output
	s.cmd.Stderr = s.output
	// Its own process group, so Stop reaches every child; killed with us if we die first.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting Azurite %s (%s): %w", bin, installHint, err)
	}
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	return s, nil
}

// Binary returns the azurite-table executable: $AZURITE_TABLE_BIN, or the
// copy pinned under tools/azurite in the repository holding the working directory.
func Binary() (string, error) {
	if bin := os.Getenv(BinEnv); bin != "" {
		if err := checkExecutable(bin); err != nil {
			return "", fmt.Errorf("%s=%s is not usable: %w; %s", BinEnv, bin, err, installHint)
		}
		return bin, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, pinnedBin)
	if err := checkExecutable(bin); err != nil {
		return "", fmt.Errorf("Azurite is not installed at %s: %w; %s", bin, err, installHint)
	}
	return bin, nil
}

// ConnectionString is an explicit connection string for the table endpoint.
func (s *Server) ConnectionString() string {
	return fmt.Sprintf("DefaultEndpointsProtocol=http;AccountName=%s;AccountKey=%s;TableEndpoint=%s;",
		AccountName, AccountKey, s.TableEndpoint())
}

// TableEndpoint is the table service URL, account included.
func (s *Server) TableEndpoint() string {
	return fmt.Sprintf("http://127.0.0.1:%d/%s", s.Port, AccountName)
}

// Stop kills Azurite's process group and waits for it to exit.
func (s *Server) Stop() error {
	var err error
	s.stopOnce.Do(func() {
		pid := s.cmd.Process.Pid
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			<-s.exited
		}
		if err = syscall.Kill(-pid, syscall.SIGKILL); errors.Is(err, syscall.ESRCH) {
			err = nil
		}
	})
	return err
}

func (s *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port))
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("Azurite exited before listening on %s (%v); %s; output:\n%s", addr, s.waitErr, installHint, s.output.String())
		case <-ctx.Done():
			return fmt.Errorf("Azurite did not listen on %s within %s: %w; output:\n%s", addr, startTimeout, ctx.Err(), s.output.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding the repository root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory, so the pinned Azurite cannot be found; set %s or %s", BinEnv, installHint)
		}
		dir = parent
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port for Azurite: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// lockedBuffer keeps the first 64 KiB of Azurite's output for error messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := 64<<10 - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
