package cluster

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

	"github.com/mhsm/mhsm/internal/testserver"
)

// This file runs mhsm nodes as child processes of the real binary, so one
// can be killed with SIGKILL (test/crash does the same for one node).

// mhsmBinary is the mhsm binary, built once per test process.
func mhsmBinary(t testing.TB) string { return testserver.Binary(t) }

// proc is one mhsm node running as a child process.
type proc struct {
	args   []string
	dir    string
	addr   string
	cmd    *exec.Cmd
	log    *bytes.Buffer
	exited chan struct{}
	dev    struct {
		TenantID     string `json:"tenantId"`
		ClientID     string `json:"clientId"`
		ClientSecret string `json:"clientSecret"`
		HSMURL       string `json:"hsmUrl"`
		CAFile       string `json:"caFile"`
	}
	client *http.Client
	token  string
}

// startProc runs `mhsm server --dev` with args on a fresh port and waits
// until it serves.
func startProc(t testing.TB, bin, dir string, args ...string) *proc {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := &proc{args: args, dir: dir, addr: addr}
	if err := p.start(bin); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *proc) start(bin string) error {
	devPath := filepath.Join(p.dir, "dev.json")
	if err := os.Remove(devPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	p.log, p.exited = &bytes.Buffer{}, make(chan struct{})
	p.cmd = exec.Command(bin, append([]string{"server", "--dev", "--data-dir", p.dir, "--addr", p.addr, "--ops-addr", ""}, p.args...)...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		return err
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		b, err := os.ReadFile(devPath)
		if err == nil && json.Unmarshal(b, &p.dev) == nil && p.dev.ClientSecret != "" {
			break
		}
		select {
		case <-p.exited:
			return fmt.Errorf("mhsm exited before serving: %s", p.log)
		default:
		}
		if time.Now().After(deadline) {
			p.kill()
			return fmt.Errorf("mhsm did not write dev.json in time: %s", p.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return p.connect()
}

// connect builds a client trusting the node's dev CA and gets a token.
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
	domain := strings.TrimPrefix(hsm.Host, "dev.managedhsm.")
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {p.dev.ClientID},
		"client_secret": {p.dev.ClientSecret}, "scope": {"https://managedhsm." + domain + "/.default"}}
	resp, err := p.client.PostForm("https://login."+domain+"/"+p.dev.TenantID+"/oauth2/v2.0/token", form)
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

// call makes one data-plane request on the dev HSM. err is set only when
// no response arrived (the outcome is then unknown).
func (p *proc) call(method, path string, body any) (int, []byte, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequest(method, strings.TrimSuffix(p.dev.HSMURL, "/")+path, bytes.NewReader(b))
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
	out, err := io.ReadAll(resp.Body)
	return resp.StatusCode, out, err
}

// kill sends SIGKILL and waits until the process is gone.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
	p.client.CloseIdleConnections()
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
