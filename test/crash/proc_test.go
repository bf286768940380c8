package crash

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mhsm/mhsm/internal/client"
	"github.com/mhsm/mhsm/internal/testserver"
)

// mhsmBinary is the mhsm binary, built once per test process.
func mhsmBinary(t testing.TB) string { return testserver.Binary(t) }

// freeAddr returns a loopback address with a port nobody listens on now.
func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// devJSON is <data-dir>/dev.json.
type devJSON = client.Dev

// proc is one mhsm server child process.
type proc struct {
	cmd    *exec.Cmd
	addr   string
	dir    string
	dev    devJSON
	client *http.Client
	token  string
	log    *bytes.Buffer
	exited chan struct{}
	// Ready is how long the process took from start to serving.
	Ready time.Duration
}

// startProc runs `mhsm server --dev` on dir and addr with extra
// environment, and waits until it serves with a fresh dev.json.
func startProc(t testing.TB, bin, dir, addr string, env []string) (*proc, error) {
	t.Helper()
	devPath := filepath.Join(dir, "dev.json")
	if err := os.Remove(devPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	p := &proc{addr: addr, dir: dir, log: &bytes.Buffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(bin, "server", "--dev", "--data-dir", dir, "--addr", addr)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	start := time.Now()
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, err := os.ReadFile(devPath)
		if err == nil && json.Unmarshal(b, &p.dev) == nil && p.dev.ClientSecret != "" {
			break
		}
		select {
		case <-p.exited:
			return nil, fmt.Errorf("mhsm exited before serving: %s", p.log)
		default:
		}
		if time.Now().After(deadline) {
			p.kill()
			return nil, fmt.Errorf("mhsm did not write dev.json in time: %s", p.log)
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.Ready = time.Since(start)
	if err := p.connect(); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

// connect builds the client (trusting the dev CA, dialing the child for
// every host name) and gets a data-plane token.
func (p *proc) connect() error {
	pem, err := os.ReadFile(p.dev.CAFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return errors.New("dev CA file holds no certificate")
	}
	d := &net.Dialer{Timeout: 2 * time.Second}
	p.client = &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		DialContext:         func(ctx context.Context, n, _ string) (net.Conn, error) { return d.DialContext(ctx, n, p.addr) },
		MaxIdleConnsPerHost: 16,
	}}
	hsm, _ := url.Parse(p.dev.HSMURL)
	resource := "https://managedhsm." + strings.TrimPrefix(hsm.Host, "dev.managedhsm.")
	login := "https://login." + strings.TrimPrefix(hsm.Host, "dev.managedhsm.")
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {p.dev.ClientID},
		"client_secret": {p.dev.ClientSecret}, "scope": {resource + "/.default"}}
	resp, err := p.client.PostForm(login+"/"+p.dev.TenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || json.Unmarshal(b, &tr) != nil {
		return fmt.Errorf("token: %d %s", resp.StatusCode, b)
	}
	p.token = tr.AccessToken
	return nil
}

// call makes one data-plane request. err is set only when no response
// arrived (the outcome is then unknown).
func (p *proc) call(ctx context.Context, method, path string, body any) (int, []byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	u := strings.TrimSuffix(p.dev.HSMURL, "/") + path
	if strings.Contains(path, "?") {
		u += "&api-version=7.6"
	} else {
		u += "?api-version=7.6"
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+p.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, err
	}
	return resp.StatusCode, b, nil
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	if p.client != nil {
		p.client.CloseIdleConnections()
	}
}

// stop asks for a graceful shutdown (SIGTERM) and waits.
func (p *proc) stop() error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		return nil
	case <-time.After(20 * time.Second):
		p.kill()
		return errors.New("mhsm did not stop on SIGTERM within 20s")
	}
}
