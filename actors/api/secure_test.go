package api

import (
	"crypto/tls"
	"net/http"
	"testing"
)

func TestServedSecurely(t *testing.T) {
	for _, tc := range []struct {
		remote string
		tls    bool
		want   bool
	}{
		{"192.0.2.7:5000", true, true},
		{"[2001:db8::7]:5000", true, true},
		{"127.0.0.1:5000", false, true},
		{"127.1.2.3:5000", false, true},
		{"[::1]:5000", false, true},
		{"[::1%lo]:5000", false, true},
		{"[::ffff:127.0.0.1]:5000", false, true},
		{"192.0.2.7:5000", false, false},
		{"[2001:db8::7]:5000", false, false},
		{"[::ffff:192.0.2.7]:5000", false, false},
		{"[fe80::1%eth0]:5000", false, false},
		{"128.0.0.1:5000", false, false},
		// Not host:port (a test request, a unix socket): not loopback.
		{"127.0.0.1", false, false},
		{"", false, false},
		{"@", false, false},
		{"", true, true},
	} {
		r, err := http.NewRequest(http.MethodGet, "http://overwatch/api/v1/dnssec/keys", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.RemoteAddr = tc.remote
		if tc.tls {
			r.TLS = &tls.ConnectionState{}
		}
		if got := servedSecurely(r); got != tc.want {
			t.Errorf("servedSecurely(RemoteAddr %q, TLS %v) = %v, want %v", tc.remote, tc.tls, got, tc.want)
		}
	}
}
