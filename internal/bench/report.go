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
	HandlerPhpsessd = "phpsessd"
)

// Modes of the side-by-side runs.
const (
	ModeDistinct = "distinct" // many sessions: no two requests of a session overlap
	ModeShared   = "shared"   // all clients on a few sessions: locking
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
	// PHPLog is how many lines PHP wrote to the pool's error log during the run.
	PHPLog int `json:"php_log_lines"`
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
	ProtoVsPgbench float64  `json:"protocol_vs_pgbench,omitempty"`
	RSS            *RSS     `json:"rss,omitempty"`
	Targets        []Target `json:"targets"`
	Notes          []string `json:"notes,omitempty"`
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
		if f := s.find(r.Mode, HandlerFiles); f != nil {
			r.VsFiles = ratio(r.Result.RequestsPerS, f.Result.RequestsPerS)
			r.P99VsFiles = ratio(r.Result.Latency.P99, f.Result.Latency.P99)
		}
		if sy := s.find(r.Mode, HandlerSymfony); sy != nil && r.Handler == HandlerPhpsessd {
			r.VsSymfony = ratio(r.Result.RequestsPerS, sy.Result.RequestsPerS)
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
		if p.VsFiles > 0 {
			add("requests/s vs PHP files handler (distinct)", "≥ 0.85×", x(p.VsFiles), p.VsFiles >= 0.85)
		}
		if p.VsSymfony > 0 {
			add("requests/s vs Symfony PdoSessionHandler (distinct)", "≥ 2.2×", x(p.VsSymfony), p.VsSymfony >= 2.2)
		}
		if p.P99VsFiles > 0 {
			add("p99 latency vs files (distinct)", "≤ 1.2×", x(p.P99VsFiles), p.P99VsFiles <= 1.2)
		}
	}
	if p := s.find(ModeShared, HandlerPhpsessd); p != nil {
		r := p.Result
		add(fmt.Sprintf("lost updates, %d clients on %d shared sessions", r.Config.Clients, r.Config.Sessions),
			"0", fmt.Sprint(r.Lost), r.Lost == 0 && r.Unverified == 0)
		if p.VsFiles > 0 {
			add("requests/s in shared mode vs files in shared mode", "≥ 0.9×", x(p.VsFiles), p.VsFiles >= 0.9)
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
	fmt.Fprintf(tw, "%-8s  %-8s\tclients\tsessions\treq/s\tp50 ms\tp99 ms\terrors\tlost\t×files\tp99×files\t×symfony\t\n", "mode", "handler")
	for _, r := range s.Runs {
		if r.Result == nil {
			continue
		}
		res := r.Result
		fmt.Fprintf(tw, "%-8s  %-8s\t%d\t%d\t%.1f\t%.2f\t%.2f\t%d\t%d\t%s\t%s\t%s\t\n",
			r.Mode, r.Handler, res.Config.Clients, res.Config.Sessions, res.RequestsPerS,
			res.Latency.P50, res.Latency.P99, res.Errors, res.Lost,
			ratioCell(r.VsFiles), ratioCell(r.P99VsFiles), ratioCell(r.VsSymfony))
	}
	tw.Flush()
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

func ratioCell(v float64) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v)
}

// handlerColors are the chart's bar colours.
var handlerColors = map[string]string{
	HandlerFiles: "#8c8c8c", HandlerSymfony: "#e07b39", HandlerPhpsessd: "#2f6db5",
}

// Chart renders the requests/s of every run as an SVG bar chart: one group of bars
// per mode, one bar per handler, each labelled with its value.
func Chart(s *Suite) string {
	var modes, handlers []string
	seen := map[string]bool{}
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
	}
	const (
		width, height          = 720, 380
		left, right, top, base = 70, 20, 50, 320
		barW, barGap, groupGap = 60, 10, 60
	)
	maxV := 0.0
	for _, r := range s.Runs {
		if r.Result != nil {
			maxV = math.Max(maxV, r.Result.RequestsPerS)
		}
	}
	scaleMax := niceCeil(maxV)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n",
		width, height, width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="#ffffff"/>`+"\n", width, height)
	title := fmt.Sprintf("PHP sessions through PHP-FPM: requests/s (%s)", s.Started.Format("2006-01-02 15:04"))
	fmt.Fprintf(&b, `<text x="%d" y="24" font-size="15" font-weight="bold">%s</text>`+"\n", left, esc(title))
	// Axis and grid.
	for i := 0; i <= 4; i++ {
		v := scaleMax * float64(i) / 4
		y := base - int(float64(base-top)*float64(i)/4)
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#dddddd"/>`+"\n", left, y, width-right, y)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-6, y+4, esc(fmt.Sprintf("%.0f", v)))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333333"/>`+"\n", left, base, width-right, base)
	x := left + 30
	for _, m := range modes {
		groupStart := x
		for _, h := range handlers {
			r := s.find(m, h)
			if r == nil {
				x += barW + barGap
				continue
			}
			v := r.Result.RequestsPerS
			hgt := 0
			if scaleMax > 0 {
				hgt = int(math.Round(float64(base-top) * v / scaleMax))
			}
			color := handlerColors[h]
			if color == "" {
				color = "#555555"
			}
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="%d" fill="%s"><title>%s</title></rect>`+"\n",
				x, base-hgt, barW, hgt, color, esc(fmt.Sprintf("%s/%s: %.1f req/s, p99 %.2f ms", m, h, v, r.Result.Latency.P99)))
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", x+barW/2, base-hgt-4, esc(fmt.Sprintf("%.0f", v)))
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle">%s</text>`+"\n", x+barW/2, base+16, esc(h))
			x += barW + barGap
		}
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-weight="bold">%s</text>`+"\n",
			(groupStart+x-barGap)/2, base+36, esc(modeLabel(s, m)))
		x += groupGap
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
