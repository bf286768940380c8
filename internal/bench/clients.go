package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// ClientsConfig is a run of the client matrix: every operation with every
// client mode at every connection count, against one or more servers, with
// each server's CPU per request when it runs in another process.
type ClientsConfig struct {
	// Servers are measured side by side: every cell of a round runs
	// against each in turn (e.g. the default server and one with audit
	// off, to price durable audit).
	Servers []Server
	Ops     []Operation
	Modes   []Mode
	Conns   []int
	// Duration is the measured time of each cell; Rounds interleaves the
	// cells (every server, mode and count once per round).
	Duration time.Duration
	Rounds   int
	Warmup   time.Duration
	Log      io.Writer
}

// Server is one server of a client-matrix run.
type Server struct {
	// Name labels its cells ("default", "audit off").
	Name   string
	Target *Target
	// PID is the server process, for its CPU time per request
	// (/proc/<pid>/stat); 0 when the server runs in this process.
	PID int
}

// Cell is one server × operation × mode × connection count.
type Cell struct {
	Server string `json:"server"`
	Mode   Mode   `json:"mode"`
	Conns  int    `json:"conns"`
	Phase  Phase  `json:"phase"`
	// ServerCPUus and ClientCPUus are CPU microseconds per successful
	// request of the server process and of this (load generator) process;
	// with the server in this process ServerCPUus is 0 and ClientCPUus is
	// both.
	ServerCPUus float64 `json:"serverCpuUsPerReq,omitempty"`
	ClientCPUus float64 `json:"clientCpuUsPerReq"`
	// Skipped says why a mode cannot send the operation.
	Skipped string `json:"skipped,omitempty"`
}

// ClientsResult is one operation's cells.
type ClientsResult struct {
	Op           string  `json:"op"`
	Label        string  `json:"label"`
	RawOpsPerSec float64 `json:"rawOpsPerSec,omitempty"`
	Cells        []Cell  `json:"cells"`
}

// ClientsReport is a whole client-matrix run.
type ClientsReport struct {
	Command     string          `json:"command,omitempty"`
	Started     string          `json:"started"`
	Machine     Machine         `json:"machine"`
	Servers     []string        `json:"servers"`
	Separate    bool            `json:"separateProcess"` // every server ran as its own process
	DurationSec float64         `json:"durationSec"`
	Rounds      int             `json:"rounds"`
	Results     []ClientsResult `json:"results"`
}

// RunClients runs the client matrix.
func RunClients(ctx context.Context, cfg ClientsConfig) (*ClientsReport, error) {
	if cfg.Log == nil {
		cfg.Log = io.Discard
	}
	if cfg.Rounds <= 0 {
		cfg.Rounds = 1
	}
	slice := cfg.Duration / time.Duration(cfg.Rounds)
	if cfg.Warmup <= 0 {
		cfg.Warmup = min(time.Second, slice/4)
	}
	rep := &ClientsReport{Started: time.Now().UTC().Format(time.RFC3339), Machine: ThisMachine(), Separate: true,
		DurationSec: cfg.Duration.Seconds(), Rounds: cfg.Rounds}
	prep := make([][]prepared, len(cfg.Servers)) // per server, per operation
	for si, srv := range cfg.Servers {
		rep.Servers = append(rep.Servers, srv.Name+" "+srv.Target.HSMURL.String())
		rep.Separate = rep.Separate && srv.PID != 0
		ps, err := prepareAll(ctx, srv.Target, cfg.Ops)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", srv.Name, err)
		}
		prep[si] = ps
	}
	type acc struct {
		tallies        []tally
		server, client time.Duration
		skipped        string
	}
	for oi, op := range cfg.Ops {
		res := ClientsResult{Op: op.Name, Label: op.Label}
		if op.raw != nil {
			raw, err := newRawOps(op.raw)
			if err != nil {
				return nil, fmt.Errorf("%s raw: %w", op.Name, err)
			}
			n, el, err := raw.run(ctx, cfg.Duration/2)
			if err != nil {
				return nil, err
			}
			res.RawOpsPerSec = float64(n) / el.Seconds()
		}
		accs := map[[3]int]*acc{} // server, conns, mode
		for k := range cfg.Rounds {
			for ci, c := range cfg.Conns {
				for mi, m := range cfg.Modes {
					for si, srv := range cfg.Servers {
						a := accs[[3]int{si, ci, mi}]
						if a == nil {
							a = &acc{}
							accs[[3]int{si, ci, mi}] = a
						}
						if a.skipped != "" {
							continue
						}
						ss, err := senders(ctx, srv.Target, m, prep[si][oi], c)
						if err != nil {
							if m == ModeAzkeys && strings.Contains(err.Error(), "has no azkeys method") {
								a.skipped = "no azkeys method"
								continue
							}
							return nil, fmt.Errorf("%s %s %s c=%d: %w", srv.Name, op.Name, m, c, err)
						}
						var s0, s1, c0, c1 time.Duration
						window := func(open bool) {
							if open {
								s0, c0 = procCPU(srv.PID), selfCPU()
							} else {
								s1, c1 = procCPU(srv.PID), selfCPU()
							}
						}
						ts := runLoad(ctx, ss, cfg.Warmup, slice, 0, window)
						closeSenders(ss)
						a.tallies = append(a.tallies, shiftSeconds(ts, k)...)
						a.server += s1 - s0
						a.client += c1 - c0
					}
				}
			}
		}
		for ci, c := range cfg.Conns {
			for mi, m := range cfg.Modes {
				for si, srv := range cfg.Servers {
					a := accs[[3]int{si, ci, mi}]
					cell := Cell{Server: srv.Name, Mode: m, Conns: c, Skipped: a.skipped}
					if a.skipped == "" {
						cell.Phase = summarize(a.tallies, 0, slice*time.Duration(cfg.Rounds))
						if n := float64(cell.Phase.N); n > 0 {
							cell.ClientCPUus = float64(a.client.Microseconds()) / n
							if srv.PID != 0 {
								cell.ServerCPUus = float64(a.server.Microseconds()) / n
							}
						}
						fmt.Fprintf(cfg.Log, "%-20s %-10s %-8s c=%-3d %8.0f ops/s  p99 %6.2f ms  server %6.0f µs/req  client %6.0f µs/req  errors %d\n",
							op.Name, srv.Name, m, c, cell.Phase.OpsPerSec, cell.Phase.P99Ms, cell.ServerCPUus, cell.ClientCPUus, cell.Phase.Errors)
					}
					res.Cells = append(res.Cells, cell)
				}
			}
		}
		rep.Results = append(rep.Results, res)
	}
	return rep, nil
}

// selfCPU is this process's user+system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procCPU is process pid's user+system CPU time (0 for pid 0 or where
// /proc is not readable). /proc/<pid>/stat counts clock ticks of 10 ms
// (USER_HZ is 100 on Linux), ample over a measured window of seconds.
func procCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// The command name (field 2) may hold spaces; fields after its ')'.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64) // utime: field 14
	st, _ := strconv.ParseInt(f[12], 10, 64) // stime: field 15
	return time.Duration(ut+st) * 10 * time.Millisecond
}

// WriteMarkdown writes the client matrix: per operation, one row per
// server, mode and connection count.
func (r *ClientsReport) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Client matrix, %s, %d × %s per cell (interleaved rounds), %s, %d CPUs (%s).\n",
		r.Started, r.Rounds, time.Duration(r.DurationSec*float64(time.Second)/float64(max(r.Rounds, 1))), r.Machine.GoVersion, r.Machine.CPUs, r.Machine.CPUModel)
	if r.Separate {
		b.WriteString("Each server ran as its own process; CPU per request is read from /proc for the server and getrusage for the load generator.\n")
	} else {
		b.WriteString("A server ran in the load generator's process: its client CPU includes the server's.\n")
	}
	fmt.Fprintf(&b, "Servers: %s.\n", strings.Join(r.Servers, "; "))
	for _, res := range r.Results {
		fmt.Fprintf(&b, "\n**%s**", res.Label)
		if res.RawOpsPerSec > 0 {
			fmt.Fprintf(&b, " — raw Go ceiling %.0f ops/s", res.RawOpsPerSec)
		}
		b.WriteString("\n\n| server | client | c | ops/s | × raw | p50 ms | p99 ms | server CPU µs/req | client CPU µs/req | errors |\n|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
		for _, c := range res.Cells {
			if c.Skipped != "" {
				fmt.Fprintf(&b, "| %s | %s | %d | — (%s) | | | | | | |\n", c.Server, c.Mode, c.Conns, c.Skipped)
				continue
			}
			vs := ""
			if res.RawOpsPerSec > 0 {
				vs = fmt.Sprintf("%.2f", c.Phase.OpsPerSec/res.RawOpsPerSec)
			}
			srv := "—"
			if c.ServerCPUus > 0 {
				srv = fmt.Sprintf("%.0f", c.ServerCPUus)
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %.0f | %s | %.2f | %.2f | %s | %.0f | %d |\n",
				c.Server, c.Mode, c.Conns, c.Phase.OpsPerSec, vs, c.Phase.P50Ms, c.Phase.P99Ms, srv, c.ClientCPUus, c.Phase.Errors)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
