package config

import (
	"strings"
	"testing"
	"time"
)

func TestDurationUnmarshal(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "10s", want: 10 * time.Second},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "0s", want: 0},
		{in: "0", want: 0},
		{in: "14d", want: 14 * 24 * time.Hour},
		{in: "1d12h", want: 36 * time.Hour},
		{in: "0d", want: 0},
		{in: "-1s", wantErr: "must not be negative"},
		{in: "-1d", wantErr: "must not be negative"},
		{in: "1d-5s", wantErr: "must not be negative"},
		{in: "1.5d", wantErr: "whole number"},
		{in: "d", wantErr: "whole number"},
		{in: "+1d", wantErr: "whole number"},
		{in: "", wantErr: "empty duration"},
		{in: "10", wantErr: "invalid duration"},
		{in: "often", wantErr: "invalid duration"},
		{in: "1d1d", wantErr: "invalid duration"},
		{in: "200000d", wantErr: "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var d Duration
			err := d.UnmarshalText([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || d.Duration != tt.want {
				t.Fatalf("got %v, %v; want %v", d.Duration, err, tt.want)
			}
		})
	}
}

func TestDurationMarshal(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0:                    "0s",
		10 * time.Second:     "10s",
		90 * time.Minute:     "1h30m0s",
		24 * time.Hour:       "1d",
		14 * 24 * time.Hour:  "14d",
		36 * time.Hour:       "36h0m0s",
		-48 * time.Hour:      "-48h0m0s",
		time.Millisecond * 5: "5ms",
	} {
		text, err := Duration{d}.MarshalText()
		if err != nil || string(text) != want {
			t.Errorf("MarshalText(%v) = %q, %v; want %q", d, text, err, want)
		}
		if d < 0 {
			continue
		}
		var back Duration
		if err := back.UnmarshalText(text); err != nil || back.Duration != d {
			t.Errorf("round trip of %v: %v, %v", d, back.Duration, err)
		}
	}
}

func TestDurationInFile(t *testing.T) {
	c := mustLoad(t, zoneOK+domainOK+backend+"[backends.health_check]\ninterval = \"14d\"\ntimeout = \"1d12h\"\n")
	hc := c.Backends[0].HealthCheck
	if hc.Interval.Duration != 14*24*time.Hour || hc.Timeout.Duration != 36*time.Hour {
		t.Errorf("interval %v timeout %v", hc.Interval, hc.Timeout)
	}
}
