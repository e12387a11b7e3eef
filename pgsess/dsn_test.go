package pgsess

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// secret is the password in every connection string below; it must never show.
const secret = "Hunter2Secret"

// dsnForms are connection strings of every form libpq takes, valid and not, each
// holding secret where libpq would read a password.
var dsnForms = []struct {
	dsn   string
	shown string // what RedactDSN keeps
	bad   bool   // pgconn refuses it
}{
	{"host=db password=Hunter2Secret user=u", "host=db password=xxxxx user=u", false},
	{"host=db password = Hunter2Secret user=u", "host=db password=xxxxx user=u", false},
	{"host=db password =Hunter2Secret", "host=db password=xxxxx", false},
	{"host=db password=  Hunter2Secret", "host=db password=xxxxx", false},
	{"host=db\tpassword\t=\tHunter2Secret\n", "host=db password=xxxxx", false},
	{"host=db password='Hunter2Secret'", "host=db password=xxxxx", false},
	{"host=db password = 'Hunter2Secret with spaces'", "host=db password=xxxxx", false},
	{`host=db password='it\'s Hunter2Secret'`, "host=db password=xxxxx", false},
	{`host=db password=Hunter2Secret\ more`, "host=db password=xxxxx", false},
	{"host=db sslpassword=Hunter2Secret", "host=db sslpassword=xxxxx", false},
	{"host=db PASSWORD=Hunter2Secret", "host=db PASSWORD=xxxxx", false},
	{"password=Hunter2Secret", "password=xxxxx", false},
	{"host= password=Hunter2Secret", "host=xxxxx", false},
	// Another keyword fails to parse: the case that printed the password verbatim.
	{"host=db password = Hunter2Secret port=notaport", "host=db password=xxxxx port=notaport", true},
	{"host=db password = Hunter2Secret connect_timeout=x", "host=db password=xxxxx connect_timeout=x", true},
	{"password = Hunter2Secret target_session_attrs=maybe", "password=xxxxx target_session_attrs=maybe", true},
	// Broken syntax: nothing after the break is kept.
	{"host=db password='Hunter2Secret", "host=db …", true},
	{"host=db password Hunter2Secret", "host=db …", true},
	{"host=db Hunter2Secret", "host=db …", true},
	{"host=db Hunter2Secret user=u", "host=db …", true},
	{"Hunter2Secret", "…", true},
	{"host=db =Hunter2Secret", "host=db …", true},
	// URLs.
	{"postgres://u:Hunter2Secret@db/sess", "postgres://u:xxxxx@db/sess", false},
	{"postgresql://u:Hunter2Secret@db:5432/sess?sslmode=disable", "postgresql://u:xxxxx@db:5432/sess?sslmode=disable", false},
	{"postgres://u:Hunter2Secret@db1:5432,db2:5433/sess?target_session_attrs=read-write", "postgres://u:xxxxx@db1:5432,db2:5433/sess?target_session_attrs=read-write", false},
	{"postgres://u@db/sess?password=Hunter2Secret", "postgres://u@db/sess?password=xxxxx", false},
	{"postgres://u@db/sess?sslmode=disable&password=Hunter2Secret", "postgres://u@db/sess?password=xxxxx&sslmode=disable", false},
	{"postgres://u:Hunter2%53ecret@db/sess", "postgres://u:xxxxx@db/sess", false},
	{"postgres://u:Hunter2Secret@db:notaport/sess", "postgres://u:xxxxx@db:notaport/sess", true},
	{"postgres://u:Hunter2Secret@db/sess?connect_timeout=x", "postgres://u:xxxxx@db/sess?connect_timeout=x", true},
	{"postgres://u:Hunter2Secret@db/sess?%zz", "postgres://u:xxxxx@db/sess?…", true},
	{"postgres://u:Hunter2Secret@db/sess#Hunter2Secret", "postgres://u:xxxxx@db/sess#…", false},
	{"postgres://u:Hunter2 Secret@db/sess", "postgres://u:xxxxx@db/sess", true},
}

func TestRedactDSNHidesThePasswordInEveryForm(t *testing.T) {
	for _, tt := range dsnForms {
		got := RedactDSN(tt.dsn)
		if strings.Contains(got, "Hunter2") || strings.Contains(got, "Secret") {
			t.Errorf("RedactDSN(%q) = %q: shows the password", tt.dsn, got)
		}
		if got != tt.shown {
			t.Errorf("RedactDSN(%q) = %q, want %q", tt.dsn, got, tt.shown)
		}
	}
}

func TestParseErrorsNeverShowThePassword(t *testing.T) {
	for _, tt := range dsnForms {
		_, err := parseDSN(tt.dsn)
		if (err != nil) != tt.bad {
			t.Errorf("parseDSN(%q): error %v, want an error: %v", tt.dsn, err, tt.bad)
		}
		if err == nil {
			continue
		}
		if msg := err.Error(); strings.Contains(msg, "Hunter2") || strings.Contains(msg, "Secret") {
			t.Errorf("parseDSN(%q) = %q: shows the password", tt.dsn, msg)
		}
		if !errors.Is(err, ErrBadDSN) {
			t.Errorf("parseDSN(%q) = %v: not ErrBadDSN", tt.dsn, err)
		}
	}
}

func TestOpenRefusingAConnectionStringShowsNoPassword(t *testing.T) {
	_, err := Open(Options{DSN: "host=db password = " + secret + " port=x"})
	if err == nil || strings.Contains(err.Error(), secret) || !errors.Is(err, ErrBadDSN) {
		t.Fatalf("Open = %v; want ErrBadDSN without the password", err)
	}
	if !strings.Contains(err.Error(), "port") {
		t.Errorf("Open = %v; want pgconn's reason (the port)", err)
	}
}

// FuzzRedactDSN builds connection strings of arbitrary shape around a marked password
// (after a password keyword with any spacing and quoting, or in a URL's user info) and
// checks that neither RedactDSN nor a parse error ever shows it.
func FuzzRedactDSN(f *testing.F) {
	f.Add(false, "host=db", " ", " ", "", " user=u port=x")
	f.Add(false, "", "", "\t", "'", " sslmode=bad")
	f.Add(false, "host=db", " ", "", "'", "Hunter2 foo")
	f.Add(true, "u", "", "", "", "db1,db2:x/sess?password=y&%zz")
	f.Add(true, "", "", "", "", "/sess#frag")
	f.Fuzz(func(t *testing.T, url bool, prefix, sepBefore, sepAfter, quote, suffix string) {
		const mark = "QzX7pw"
		if strings.Contains(prefix+sepBefore+sepAfter+quote+suffix, "QzX") ||
			strings.ContainsAny(prefix, `'\`) || strings.Trim(sepBefore+sepAfter, " \t\n\r\v\f") != "" ||
			(quote != "" && quote != "'") {
			t.Skip()
		}
		var dsn string
		if url {
			if strings.ContainsAny(prefix, "@/?#:") || strings.ContainsAny(quote, "@/?#") {
				t.Skip()
			}
			dsn = "postgres://" + prefix + ":" + quote + mark + quote + "@" + suffix
		} else {
			dsn = prefix + " password" + sepBefore + "=" + sepAfter + quote + mark + quote + suffix
		}
		if got := RedactDSN(dsn); strings.Contains(got, mark) {
			t.Fatalf("RedactDSN(%q) = %q: shows the password", dsn, got)
		}
		if _, err := parseDSN(dsn); err != nil && strings.Contains(err.Error(), mark) {
			t.Fatalf("parseDSN(%q) = %q: shows the password", dsn, err)
		}
	})
}

func TestParseDSNGivesAConnectTimeoutWhenTheStringHasNone(t *testing.T) {
	for dsn, want := range map[string]time.Duration{
		"host=db":                   defaultConnectTimeout,
		"host=db connect_timeout=0": defaultConnectTimeout, // libpq's "no limit"
		"host=db connect_timeout=2": 2 * time.Second,
		"postgres://u@db1:5432,db2:5433/sess?target_session_attrs=read-write": defaultConnectTimeout,
	} {
		cfg, err := parseDSN(dsn)
		if err != nil {
			t.Fatalf("parseDSN(%q): %v", dsn, err)
		}
		if got := cfg.ConnConfig.ConnectTimeout; got != want {
			t.Errorf("parseDSN(%q): connect timeout %v, want %v", dsn, got, want)
		}
		if cfg.ConnConfig.DialFunc == nil {
			t.Errorf("parseDSN(%q): no dialer", dsn)
		}
	}
}

func TestParseDSNKeepsTheHostsOfAMultiHostString(t *testing.T) {
	cfg, err := parseDSN("host=db1,db2 port=5432,5433 sslmode=disable target_session_attrs=read-write")
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.ConnConfig
	if c.Host != "db1" || len(c.Fallbacks) != 1 || c.Fallbacks[0].Host != "db2" || c.Fallbacks[0].Port != 5433 {
		t.Errorf("hosts %s:%d and %+v, want db1:5432 then db2:5433", c.Host, c.Port, c.Fallbacks)
	}
	if c.ValidateConnect == nil {
		t.Error("target_session_attrs=read-write is not checked on connect")
	}
}

func TestParseDSNRefusesLoadBalanceHostsByName(t *testing.T) {
	for _, dsn := range []string{
		"host=db1,db2 password=" + secret + " load_balance_hosts=random target_session_attrs=read-write",
		"postgres://u:" + secret + "@db1,db2/sess?load_balance_hosts=disable",
	} {
		_, err := parseDSN(dsn)
		if err == nil || !errors.Is(err, ErrBadDSN) || !strings.Contains(err.Error(), "load_balance_hosts is not supported") {
			t.Errorf("parseDSN(%q) = %v; want ErrBadDSN naming load_balance_hosts", RedactDSN(dsn), err)
		}
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("parseDSN: %v shows the password", err)
		}
	}
}

func TestDescribeNamesEveryHostOfAMultiHostString(t *testing.T) {
	for dsn, want := range map[string]string{
		"host=db1 port=5433 dbname=s user=u password=secret":                                        "u@db1:5433/s",
		"host=db1,db2 port=5432,5433 dbname=s user=u target_session_attrs=read-write":               "u@db1:5432,db2:5433/s",
		"postgres://u:secret@db1:5432,[2001:db8::1]:5432/s?sslmode=prefer&target_session_attrs=any": "u@db1:5432,[2001:db8::1]:5432/s",
	} {
		cfg, err := parseDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		if got := describe(cfg.ConnConfig); got != want {
			t.Errorf("describe(%q) = %q, want %q", RedactDSN(dsn), got, want)
		}
	}
}
