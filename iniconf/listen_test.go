package iniconf

import "testing"

func TestParseListen(t *testing.T) {
	tests := []struct {
		in       string
		want     Listen
		loopback bool
	}{
		{"unix:/run/phpsessd/phpsessd.sock", Listen{"unix", "/run/phpsessd/phpsessd.sock"}, true},
		{"unix:@phpsessd", Listen{"unix", "@phpsessd"}, true},
		{"tcp:127.0.0.1:9300", Listen{"tcp", "127.0.0.1:9300"}, true},
		{"tcp:127.3.2.1:9300", Listen{"tcp", "127.3.2.1:9300"}, true},
		{"tcp:[::1]:9300", Listen{"tcp", "[::1]:9300"}, true},
		{"tcp:localhost:9300", Listen{"tcp", "localhost:9300"}, true},
		{"tcp:LOCALHOST:1", Listen{"tcp", "LOCALHOST:1"}, true},
		{"tcp:0.0.0.0:9300", Listen{"tcp", "0.0.0.0:9300"}, false},
		{"tcp:[::]:65535", Listen{"tcp", "[::]:65535"}, false},
		{"tcp:10.1.2.3:9300", Listen{"tcp", "10.1.2.3:9300"}, false},
		{"tcp:db.example:9300", Listen{"tcp", "db.example:9300"}, false},
	}
	for _, tt := range tests {
		got, err := ParseListen(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseListen(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
			continue
		}
		if s := got.String(); s != tt.in {
			t.Errorf("ParseListen(%q).String() = %q", tt.in, s)
		}
		if lb := got.IsLoopback(); lb != tt.loopback {
			t.Errorf("ParseListen(%q).IsLoopback() = %v, want %v", tt.in, lb, tt.loopback)
		}
	}
	for _, in := range []string{"", "unix:", "unix:rel.sock", "/run/x.sock", "tcp:", "tcp:9300",
		"tcp::9300", "tcp:127.0.0.1", "tcp:::1:9300", "tcp:127.0.0.1:0", "tcp:127.0.0.1:65536",
		"tcp:127.0.0.1:+80", "tcp:127.0.0.1:http", "udp:127.0.0.1:9300", "TCP:127.0.0.1:9300"} {
		if got, err := ParseListen(in); err == nil {
			t.Errorf("ParseListen(%q) = %+v, want an error", in, got)
		}
	}
}
