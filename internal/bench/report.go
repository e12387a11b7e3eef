package bench

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"math"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// FormatResult writes one run's figures as text, for internal/cmd/loadgen.
func FormatResult(w io.Writer, r *Result) {
	c := r.Config
	fmt.Fprintf(w, "%s %s: %d clients, %d sessions, %d-byte payload, %s warmup + %s",
		c.FPM, c.Script, c.Clients, c.Sessions, c.Payload, c.Warmup, c.Duration)
	if c.KeepAlive {
		fmt.Fprint(w, ", keep-alive")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  requests      %d in %.2fs = %.1f req/s (%d more in warmup)\n",
		r.Requests, r.Seconds, r.RequestsPerS, r.WarmupRequest)
	l := r.Latency
	fmt.Fprintf(w, "  latency       p50 %.2f ms  p90 %.2f ms  p99 %.2f ms  max %.2f ms  mean %.2f ms\n",
		l.P50, l.P90, l.P99, l.Max, l.Mean)
	fmt.Fprintf(w, "  errors        %d%s\n", r.Errors, formatKinds(r.ErrorKinds))
	for _, s := range r.ErrorSamples {
		fmt.Fprintf(w, "                  %s\n", oneLine(s))
	}
	if r.WallSeconds > 0 {
		fmt.Fprintf(w, "  generator     %.1f%% of one core (%.2f s CPU in %.2f s)\n",
			100*r.GeneratorCPU/r.WallSeconds, r.GeneratorCPU, r.WallSeconds)
	}
	if len(r.CPU) > 0 {
		fmt.Fprintf(w, "  CPU/request   %s ms\n", r.CPUSummary())
	}
	for i, p := range r.PerFPM {
		fmt.Fprintf(w, "  pool %d        %s: %d clients, %d requests (%.1f%%), p99 %.2f ms\n",
			i+1, p.FPM, p.Clients, p.Requests, 100*p.Share, p.Latency.P99)
	}
	fmt.Fprintf(w, "  lost updates  %d in %d of %d sessions (%d successful requests made, warmup included)",
		r.Lost, r.LostIn, c.Sessions, r.Made)
	if r.Unverified > 0 {
		fmt.Fprintf(w, "; %d sessions could not be read back", r.Unverified)
	}
	fmt.Fprintln(w)
}

func formatKinds(kinds map[string]int64) string {
	if len(kinds) == 0 {
		return ""
	}
	keys := make([]string, 0, len(kinds))
	for k := range kinds {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, kinds[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Handlers, in the order of the report.
const (
	HandlerFiles    = "files"
	HandlerSymfony  = "symfony"
	HandlerMem      = "memdaemon" // the PHP client over the reference in-memory daemon
	HandlerPhpsessd = "phpsessd"
	// HandlerTwoDaemons is two phpsessd daemons on the same database, each behind
	// its own PHP-FPM pool, the clients split evenly between the pools.
	HandlerTwoDaemons = "2×phpsessd"
	// HandlerPhpsessdUnlocked is phpsessd's pool whose pages read the session with
	// session_pgsql_start_read_only() (READ_UNLOCKED) instead of read_and_close.
	HandlerPhpsessdUnlocked = "phpsessd unlocked"
	// HandlerPhpsessdDecoded is phpsessd with session_pgsql.decoded_column = on.
	HandlerPhpsessdDecoded = "phpsessd decoded"
	// HandlerTwoServers is phpsessd with two servers in session_pgsql.db.
	HandlerTwoServers = "phpsessd 2 servers"
	// HandlerPhpsessdPreload is phpsessd with the PHP client preloaded
	// (opcache.preload = php-client/preload.php).
	HandlerPhpsessdPreload = "phpsessd preload"
)

// Modes of the side-by-side runs.
const (
	ModeDistinct = "distinct" // many sessions: no two requests of a session overlap
	ModeShared   = "shared"   // all clients on a few sessions: locking
	// ModeReads: all clients on a few sessions, with pages that only read them
	// (Config.Read): what a read that waits for the lock costs against one that does
	// not.
	ModeReads = "reads"
)

// Row is one handler's run in one mode, with its ratios to the other handlers in the
// same mode (0 when not measured).
type Row struct {
	Mode       string  `json:"mode"`
	Handler    string  `json:"handler"`
	Result     *Result `json:"result"`
	VsFiles    float64 `json:"requests_vs_files,omitempty"`
	P99VsFiles float64 `json:"p99_vs_files,omitempty"`
	VsSymfony  float64 `json:"requests_vs_symfony,omitempty"`
	// CPU per request against other rows of the same mode: PHP-FPM's over files'
	// PHP-FPM's, the daemon's over memdaemon's, the web host's (PHP-FPM and daemon)
	// over files' PHP-FPM's, PostgreSQL's over Symfony's.
	FPMVsFiles  float64 `json:"fpm_cpu_vs_files,omitempty"`
	DaemonVsMem float64 `json:"daemon_cpu_vs_memdaemon,omitempty"`
	WebVsFiles  float64 `json:"web_host_cpu_vs_files,omitempty"`
	PGVsSymfony float64 `json:"postgres_cpu_vs_symfony,omitempty"`
	// PHPLog is how many lines PHP wrote to the pool's error log during the run.
	PHPLog int `json:"php_log_lines"`
}

// usesPostgres reports whether the row's handler keeps its sessions in PostgreSQL
// (for the others, the cluster's CPU is its background work).
func (r *Row) usesPostgres() bool {
	return r.Handler == HandlerSymfony || r.isPhpsessd()
}

// isPhpsessd reports whether the row's pool runs on phpsessd (one or two daemons).
func (r *Row) isPhpsessd() bool {
	return r.Handler == HandlerPhpsessd || r.Handler == HandlerTwoDaemons || r.Handler == HandlerPhpsessdUnlocked ||
		r.Handler == HandlerPhpsessdDecoded || r.Handler == HandlerTwoServers || r.Handler == HandlerPhpsessdPreload
}

// webHost is the CPU per request of PHP-FPM and the daemon, if any, in ms.
func (r *Row) webHost() float64 {
	fpm, _ := r.Result.CPUms(CPUFPM)
	d, _ := r.Result.CPUms(CPUDaemon)
	return fpm + d
}

// Callgrind is the instructions a PHP-FPM request costs under a handler, counted by
// callgrind in the one worker of a pool (opcache on) over Requests requests of the
// bench page, after as many warm-up requests: everything the worker does for a
// request, from reading the FastCGI request to the response.
type Callgrind struct {
	Handler string `json:"handler"`
	// Requests is how many requests were counted; Instructions their total.
	Requests     int   `json:"requests"`
	Instructions int64 `json:"instructions"`
	// PerRequest is Instructions / Requests.
	PerRequest float64 `json:"instructions_per_request"`
	VsFiles    float64 `json:"vs_files,omitempty"`
	// File is callgrind's output of the counted requests, saved with the results.
	File string `json:"file"`
}

// RSS is the daemon's resident memory with idle client connections.
type RSS struct {
	Connections int   `json:"connections"`
	BeforeKiB   int64 `json:"before_kib"`
	AfterKiB    int64 `json:"after_kib"`
}

// Pgbench is pgbench's run of the daemon's statements.
type Pgbench struct {
	Command string  `json:"command"`
	TPS     float64 `json:"tps"`
}

// Target is one of DESIGN.md's numbers, evaluated.
type Target struct {
	Measure string `json:"measure"`
	Target  string `json:"target"`
	Value   string `json:"value"`
	Met     bool   `json:"met"`
}

// Suite is a whole make bench run.
type Suite struct {
	Started  time.Time         `json:"started"`
	Machine  map[string]string `json:"machine"`
	Postgres map[string]string `json:"postgres_settings"`
	// Pools is what each pool's check page reported (opcache, session handler...).
	Pools   map[string]json.RawMessage `json:"pools,omitempty"`
	Runs    []Row                      `json:"runs"`
	Proto   *ProtoResult               `json:"protocol,omitempty"`
	Pgbench *Pgbench                   `json:"pgbench,omitempty"`
	// ProtoVsPgbench is the daemon's pairs/s over pgbench's tps.
	ProtoVsPgbench float64     `json:"protocol_vs_pgbench,omitempty"`
	RSS            *RSS        `json:"rss,omitempty"`
	Callgrind      []Callgrind `json:"callgrind,omitempty"`
	// Profiles names the files saved with the results and what each holds.
	Profiles map[string]string `json:"profiles,omitempty"`
	Targets  []Target          `json:"targets"`
	Notes    []string          `json:"notes,omitempty"`
}

func ratio(a, b float64) float64 {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return 0
	}
	return a / b
}

// find returns the run of handler in mode, or nil.
func (s *Suite) find(mode, handler string) *Row {
	for i := range s.Runs {
		if s.Runs[i].Mode == mode && s.Runs[i].Handler == handler && s.Runs[i].Result != nil {
			return &s.Runs[i]
		}
	}
	return nil
}

// Compute fills in the ratios and evaluates the targets of DESIGN.md ("Numbers we hold
// ourselves to").
func (s *Suite) Compute() {
	for i := range s.Runs {
		r := &s.Runs[i]
		if r.Result == nil {
			continue
		}
		r.VsFiles, r.P99VsFiles, r.VsSymfony = 0, 0, 0
		r.FPMVsFiles, r.DaemonVsMem, r.WebVsFiles, r.PGVsSymfony = 0, 0, 0, 0
		fpm, _ := r.Result.CPUms(CPUFPM)
		daemon, hasDaemon := r.Result.CPUms(CPUDaemon)
		pg, _ := r.Result.CPUms(CPUPostgres)
		if f := s.find(r.Mode, HandlerFiles); f != nil {
			r.VsFiles = ratio(r.Result.RequestsPerS, f.Result.RequestsPerS)
			r.P99VsFiles = ratio(r.Result.Latency.P99, f.Result.Latency.P99)
			if ffpm, _ := f.Result.CPUms(CPUFPM); r.Handler != HandlerFiles {
				r.FPMVsFiles = ratio(fpm, ffpm)
				r.WebVsFiles = ratio(r.webHost(), ffpm)
			}
		}
		if m := s.find(r.Mode, HandlerMem); m != nil && hasDaemon && r.Handler != HandlerMem {
			md, _ := m.Result.CPUms(CPUDaemon)
			r.DaemonVsMem = ratio(daemon, md)
		}
		if sy := s.find(r.Mode, HandlerSymfony); sy != nil && r.isPhpsessd() {
			r.VsSymfony = ratio(r.Result.RequestsPerS, sy.Result.RequestsPerS)
			spg, _ := sy.Result.CPUms(CPUPostgres)
			r.PGVsSymfony = ratio(pg, spg)
		}
	}
	for i := range s.Callgrind {
		c := &s.Callgrind[i]
		c.VsFiles = 0
		for _, f := range s.Callgrind {
			if f.Handler == HandlerFiles && c.Handler != HandlerFiles {
				c.VsFiles = ratio(c.PerRequest, f.PerRequest)
			}
		}
	}
	if s.Proto != nil && s.Pgbench != nil {
		s.ProtoVsPgbench = ratio(s.Proto.PairsPerS, s.Pgbench.TPS)
	}

	s.Targets = nil
	add := func(measure, target, value string, met bool) {
		s.Targets = append(s.Targets, Target{measure, target, value, met})
	}
	x := func(v float64) string { return fmt.Sprintf("%.2f×", v) }
	if p := s.find(ModeDistinct, HandlerPhpsessd); p != nil {
		if p.FPMVsFiles > 0 {
			add("PHP-FPM CPU per request vs files (distinct)", "≤ 1.1×", x(p.FPMVsFiles), p.FPMVsFiles <= 1.1)
		}
		if p.DaemonVsMem > 0 {
			add("daemon CPU per request vs the in-memory daemon (distinct)", "≤ 1.3×", x(p.DaemonVsMem), p.DaemonVsMem <= 1.3)
		}
		if p.WebVsFiles > 0 {
			add("web host (PHP-FPM + daemon) CPU per request vs files' PHP-FPM (distinct)", "≤ 1.5×", x(p.WebVsFiles), p.WebVsFiles <= 1.5)
		}
		if p.PGVsSymfony > 0 {
			add("PostgreSQL CPU per request vs Symfony's (distinct)", "≤ 0.3×", x(p.PGVsSymfony), p.PGVsSymfony <= 0.3)
		}
		if p.P99VsFiles > 0 {
			add("p99 latency vs files (distinct)", "≤ 1.2×", x(p.P99VsFiles), p.P99VsFiles <= 1.2)
		}
	}
	for _, mode := range []string{ModeDistinct, ModeShared} {
		if p := s.find(mode, HandlerPhpsessd); p != nil && p.VsSymfony > 0 {
			add(fmt.Sprintf("requests/s vs Symfony PdoSessionHandler (%s)", mode), "≥ 2×", x(p.VsSymfony), p.VsSymfony >= 2)
		}
	}
	one := s.find(ModeShared, HandlerPhpsessd)
	if one != nil {
		r := one.Result
		add(fmt.Sprintf("lost updates, %d clients on %d shared sessions, one daemon", r.Config.Clients, r.Config.Sessions),
			"0", fmt.Sprint(r.Lost), r.Lost == 0 && r.Unverified == 0)
	}
	if two := s.find(ModeShared, HandlerTwoDaemons); two != nil {
		r := two.Result
		add(fmt.Sprintf("lost updates, %d clients on %d shared sessions, two daemons", r.Config.Clients, r.Config.Sessions),
			"0", fmt.Sprint(r.Lost), r.Lost == 0 && r.Unverified == 0)
		if len(r.PerFPM) > 1 {
			smallest := 1.0
			for _, p := range r.PerFPM {
				smallest = math.Min(smallest, p.Share)
			}
			add("two daemons on the same sessions: the smaller one's share of requests", "≥ 40%",
				fmt.Sprintf("%.0f%%", 100*smallest), smallest >= 0.4)
		}
		if one != nil && one.Result.Latency.P99 > 0 {
			// Each daemon's: the combined p99 would hide the one that waits.
			worst := r.Latency.P99
			for _, p := range r.PerFPM {
				worst = math.Max(worst, p.Latency.P99)
			}
			v := ratio(worst, one.Result.Latency.P99)
			add("two daemons: the worse one's p99 vs one daemon's (shared)", "≤ 2×", x(v), v <= 2)
		}
	}
	if s.ProtoVsPgbench > 0 {
		add("daemon pairs/s vs pgbench running the same SELECT+UPDATE", "≥ 1.0×", x(s.ProtoVsPgbench), s.ProtoVsPgbench >= 1.0)
	}
	if s.RSS != nil && s.RSS.AfterKiB > 0 {
		mib := float64(s.RSS.AfterKiB) / 1024
		add(fmt.Sprintf("daemon RSS with %d idle client connections", s.RSS.Connections), "< 50 MiB",
			fmt.Sprintf("%.1f MiB", mib), mib < 50)
	}
}

// FormatSuite writes the table of a whole run, the protocol-level figures, the
// daemon's memory and the targets.
func FormatSuite(w io.Writer, s *Suite) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-8s  %-18s\tclients\tsessions\treq/s\tp50 ms\tp99 ms\terrors\tlost\t×files\tp99×files\t×symfony\t\n", "mode", "handler")
	for _, r := range s.Runs {
		if r.Result == nil {
			continue
		}
		res := r.Result
		fmt.Fprintf(tw, "%-8s  %-18s\t%d\t%d\t%.1f\t%.2f\t%.2f\t%d\t%d\t%s\t%s\t%s\t\n",
			r.Mode, r.Handler, res.Config.Clients, res.Config.Sessions, res.RequestsPerS,
			res.Latency.P50, res.Latency.P99, res.Errors, res.Lost,
			ratioCell(r.VsFiles), ratioCell(r.P99VsFiles), ratioCell(r.VsSymfony))
	}
	tw.Flush()
	formatCPU(w, s)
	for _, r := range s.Runs {
		if r.Result == nil {
			continue
		}
		for i, p := range r.Result.PerFPM {
			fmt.Fprintf(w, "  %s/%s: daemon %d (%d clients) served %d requests, %.1f%%, p99 %.2f ms\n",
				r.Mode, r.Handler, i+1, p.Clients, p.Requests, 100*p.Share, p.Latency.P99)
		}
	}
	for _, r := range s.Runs {
		if r.Result == nil {
			continue
		}
		if r.Result.Errors > 0 || r.Result.Unverified > 0 || r.PHPLog > 0 {
			fmt.Fprintf(w, "  %s/%s: %d errors%s, %d sessions not read back, %d PHP log lines\n",
				r.Mode, r.Handler, r.Result.Errors, formatKinds(r.Result.ErrorKinds), r.Result.Unverified, r.PHPLog)
			for _, e := range r.Result.ErrorSamples {
				fmt.Fprintf(w, "      %s\n", oneLine(e))
			}
		}
	}
	if p := s.Proto; p != nil {
		c := p.Config
		pick := "random"
		if c.Sequential {
			pick = "round-robin"
		}
		fmt.Fprintf(w, "\nprotocol  phpsessd, %d clients, %d sessions (%s), %d-byte data, HELLO+READ (pipelined), WRITE: %.1f pairs/s (p50 %.2f ms, p99 %.2f ms), %d errors%s\n",
			c.Clients, c.Sessions, pick, c.DataSize, p.PairsPerS, p.Latency.P50, p.Latency.P99, p.Errors, formatKinds(p.ErrorKinds))
		for _, e := range p.Samples {
			fmt.Fprintf(w, "      %s\n", oneLine(e))
		}
	}
	if p := s.Pgbench; p != nil {
		fmt.Fprintf(w, "pgbench   same SELECT+upsert (%s): %.1f tps\n", p.Command, p.TPS)
	}
	if s.ProtoVsPgbench > 0 {
		fmt.Fprintf(w, "ratio     daemon/pgbench %.2f×\n", s.ProtoVsPgbench)
	}
	if r := s.RSS; r != nil {
		fmt.Fprintf(w, "memory    daemon RSS %.1f MiB before, %.1f MiB with %d idle client connections\n",
			float64(r.BeforeKiB)/1024, float64(r.AfterKiB)/1024, r.Connections)
	}
	formatCallgrind(w, s)
	if len(s.Targets) > 0 {
		fmt.Fprintln(w, "\ntargets (DESIGN.md)")
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, t := range s.Targets {
			mark := "MISSED"
			if t.Met {
				mark = "met"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", mark, t.Measure, t.Target, t.Value)
		}
		tw.Flush()
	}
	for _, n := range s.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

// formatCPU writes the table of CPU per request of every run.
func formatCPU(w io.Writer, s *Suite) {
	measured := false
	for _, r := range s.Runs {
		measured = measured || (r.Result != nil && len(r.Result.CPU) > 0)
	}
	if !measured {
		return
	}
	fmt.Fprintln(w, "\nCPU per request, ms (user+system of each process tree from /proc, over the measured window; fpm user: PHP-FPM's part in user mode, the rest was in the kernel)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-8s  %-18s\tphp-fpm\tfpm user\tdaemon\tpostgres\tgenerator\tweb host\tfpm×files\tdaemon×mem\tweb×files\tpg×symfony\t\n", "mode", "handler")
	for _, r := range s.Runs {
		if r.Result == nil || len(r.Result.CPU) == 0 {
			continue
		}
		cell := func(name string) string {
			v, ok := r.Result.CPUms(name)
			if !ok {
				return "-"
			}
			if name == CPUPostgres && !r.usesPostgres() {
				return fmt.Sprintf("(%.3f)", v)
			}
			return fmt.Sprintf("%.3f", v)
		}
		user := "-"
		if u, ok := r.Result.cpuUse(CPUFPM); ok {
			user = fmt.Sprintf("%.3f", u.UserMsPerRequest)
		}
		fmt.Fprintf(tw, "%-8s  %-18s\t%s\t%s\t%s\t%s\t%s\t%.3f\t%s\t%s\t%s\t%s\t\n", r.Mode, r.Handler,
			cell(CPUFPM), user, cell(CPUDaemon), cell(CPUPostgres), cell(CPUGenerator), r.webHost(),
			ratioCell(r.FPMVsFiles), ratioCell(r.DaemonVsMem), ratioCell(r.WebVsFiles), ratioCell(r.PGVsSymfony))
	}
	tw.Flush()
	fmt.Fprintln(w, "  (postgres in parentheses: the cluster's background work under a handler that does not use it)")
}

// formatCallgrind writes the PHP instruction counts and the profiles saved.
func formatCallgrind(w io.Writer, s *Suite) {
	if len(s.Callgrind) > 0 {
		c0 := s.Callgrind[0]
		fmt.Fprintf(w, "\nPHP-FPM instructions per request (callgrind of a pool's one worker, opcache on, over %d requests after as many to warm up)\n", c0.Requests)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		for _, c := range s.Callgrind {
			vs := ""
			if c.VsFiles > 0 {
				vs = fmt.Sprintf("%.2f× files", c.VsFiles)
			}
			fmt.Fprintf(tw, "  %s\t%.0f\t%s\t%s\n", c.Handler, c.PerRequest, vs, c.File)
		}
		tw.Flush()
	}
	if len(s.Profiles) > 0 {
		names := make([]string, 0, len(s.Profiles))
		for n := range s.Profiles {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintln(w, "profiles saved with the results:")
		for _, n := range names {
			fmt.Fprintf(w, "  %s: %s\n", n, s.Profiles[n])
		}
	}
}

func ratioCell(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

// handlerColors are the chart's bar colours.
var handlerColors = map[string]string{
	HandlerFiles: "#8c8c8c", HandlerSymfony: "#e07b39", HandlerMem: "#7fb77e",
	HandlerPhpsessd: "#2f6db5", HandlerTwoDaemons: "#6b4fa8", HandlerPhpsessdUnlocked: "#4fa8a0",
	HandlerPhpsessdDecoded: "#a84f7a", HandlerTwoServers: "#4f6aa8", HandlerPhpsessdPreload: "#6aa84f",
}

// cpuColors are the colours of the CPU chart's stacked components.
var cpuColors = []struct{ name, color string }{
	{CPUFPM, "#4c78a8"}, {CPUDaemon, "#f58518"}, {CPUPostgres, "#54a24b"}, {CPUGenerator, "#bab0ac"},
}

// Chart renders the run as an SVG: the requests/s of every run as bars, one group
// of bars per mode, one bar per handler, each labelled with its value; and below,
// when measured, each run's CPU per request as a bar stacked by component.
func Chart(s *Suite) string {
	var modes, handlers []string
	seen := map[string]bool{}
	cpu := false
	for _, r := range s.Runs {
		if r.Result == nil {
			continue
		}
		if !seen["m"+r.Mode] {
			seen["m"+r.Mode] = true
			modes = append(modes, r.Mode)
		}
		if !seen["h"+r.Handler] {
			seen["h"+r.Handler] = true
			handlers = append(handlers, r.Handler)
		}
		cpu = cpu || len(r.Result.CPU) > 0
	}
	const (
		left, right, top, panel = 70, 20, 50, 270
		barW, barGap, groupGap  = 60, 10, 60
	)
	width := left + 30 + len(modes)*(len(handlers)*(barW+barGap)+groupGap) + right
	width = max(width, 720)
	height := top + panel + 60
	cpuTop := height + 40
	if cpu {
		height = cpuTop + panel + 80
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	title := fmt.Sprintf("PHP sessions through PHP-FPM: requests/s (%s)", s.Started.Format("2006-01-02 15:04"))
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", left, esc(title))

	// axis draws a panel's grid from base up to top for values up to scaleMax.
	axis := func(top, base int, scaleMax float64, format string) {
		for i := 0; i <= 4; i++ {
			v := scaleMax * float64(i) / 4
			y := base - int(float64(base-top)*float64(i)/4)
			fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#dddddd"/>`+"\n", left, y, width-right, y)
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-6, y+4, esc(fmt.Sprintf(format, v)))
		}
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333333"/>`+"\n", left, base, width-right, base)
	}
	// bars lays out one slot per mode and handler, labelled below base; draw draws
	// the bar of a run at x.
	bars := func(base int, draw func(r *Row, x int)) {
		x := left + 30
		for _, m := range modes {
			groupStart := x
			for _, h := range handlers {
				if r := s.find(m, h); r != nil {
					draw(r, x)
					fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", x+barW/2, base+16, esc(h))
				}
				x += barW + barGap
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-weight="bold">%s</text>`+"\n",
				(groupStart+x-barGap)/2, base+36, esc(modeLabel(s, m)))
			x += groupGap
		}
	}

	base := top + panel
	maxV := 0.0
	for _, r := range s.Runs {
		if r.Result != nil {
			maxV = math.Max(maxV, r.Result.RequestsPerS)
		}
	}
	scaleMax := niceCeil(maxV)
	axis(top, base, scaleMax, "%.0f")
	bars(base, func(r *Row, x int) {
		v := r.Result.RequestsPerS
		hgt := 0
		if scaleMax > 0 {
			hgt = int(math.Round(float64(panel) * v / scaleMax))
		}
		color := handlerColors[r.Handler]
		if color == "" {
			color = "#555555"
		}
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s</title></rect>`+"\n",
			x, base-hgt, barW, hgt, color, esc(fmt.Sprintf("%s/%s: %.1f req/s, p99 %.2f ms", r.Mode, r.Handler, v, r.Result.Latency.P99)))
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", x+barW/2, base-hgt-4, esc(fmt.Sprintf("%.0f", v)))
	})
	if !cpu {
		b.WriteString("</svg>\n")
		return b.String()
	}

	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="15" font-weight="bold">CPU per request, ms (user+system, from /proc)</text>`+"\n", left, cpuTop-16)
	base = cpuTop + panel
	maxV = 0
	for _, r := range s.Runs {
		if r.Result != nil {
			sum := 0.0
			for _, u := range r.Result.CPU {
				sum += u.MsPerRequest
			}
			maxV = math.Max(maxV, sum)
		}
	}
	scaleMax = niceCeil(maxV)
	axis(cpuTop, base, scaleMax, "%.2f")
	bars(base, func(r *Row, x int) {
		y, sum := float64(base), 0.0
		for _, c := range cpuColors {
			v, ok := r.Result.CPUms(c.name)
			if !ok || scaleMax == 0 {
				continue
			}
			sum += v
			h := float64(panel) * v / scaleMax
			fmt.Fprintf(&b, `<rect x="%d" y="%.1f" width="%d" height="%.1f" fill="%s"><title>%s</title></rect>`+"\n",
				x, y-h, barW, h, c.color, esc(fmt.Sprintf("%s/%s: %s %.3f ms per request", r.Mode, r.Handler, c.name, v)))
			y -= h
		}
		fmt.Fprintf(&b, `<text x="%d" y="%.0f" text-anchor="middle">%s</text>`+"\n", x+barW/2, y-4, esc(fmt.Sprintf("%.2f", sum)))
	})
	lx := left
	for _, c := range cpuColors {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/>`+"\n", lx, base+50, c.color)
		fmt.Fprintf(&b, `<text x="%d" y="%d">%s</text>`+"\n", lx+16, base+60, esc(c.name))
		lx += 110
	}
	b.WriteString("</svg>\n")
	return b.String()
}

func modeLabel(s *Suite, mode string) string {
	for _, r := range s.Runs {
		if r.Mode == mode && r.Result != nil {
			return fmt.Sprintf("%s (%d clients, %d sessions)", mode, r.Result.Config.Clients, r.Result.Config.Sessions)
		}
	}
	return mode
}

// niceCeil rounds v up to 1, 2 or 5 times a power of ten (0 stays 0).
func niceCeil(v float64) float64 {
	if v <= 0 {
		return 0
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func esc(s string) string { return html.EscapeString(s) }
