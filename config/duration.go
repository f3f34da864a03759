package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

const day = 24 * time.Hour

// UnmarshalText accepts a Go duration ("10s", "1h30m") or a whole number of
// days, alone or followed by a Go duration ("14d", "1d12h"). Negative
// durations are refused: every duration here is a period or a limit.
func (d *Duration) UnmarshalText(text []byte) error {
	v, err := parseDuration(string(text))
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}

// MarshalText writes whole days with the day suffix ("14d") and anything
// else as a Go duration, so that UnmarshalText reads it back.
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.String()), nil
}

// String formats d as MarshalText does.
func (d Duration) String() string {
	if d.Duration >= day && d.Duration%day == 0 {
		return strconv.FormatInt(int64(d.Duration/day), 10) + "d"
	}
	return d.Duration.String()
}

func parseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "" {
		return 0, errors.New(`empty duration (write e.g. "10s" or "14d")`)
	}
	if strings.HasPrefix(in, "-") {
		return 0, fmt.Errorf("duration %q must not be negative", s)
	}
	var days time.Duration
	if i := strings.IndexByte(in, 'd'); i >= 0 {
		n, err := strconv.ParseInt(in[:i], 10, 64)
		if err != nil || n < 0 || strings.HasPrefix(in[:i], "+") {
			return 0, fmt.Errorf("invalid duration %q: the day count must be a whole number", s)
		}
		if n > int64((1<<63-1)/day) {
			return 0, fmt.Errorf("invalid duration %q: too long", s)
		}
		days = time.Duration(n) * day
		in = in[i+1:]
		if in == "" {
			return days, nil
		}
	}
	v, err := time.ParseDuration(in)
	if err != nil {
		return 0, fmt.Errorf("invalid duration %q (write e.g. \"10s\", \"1h30m\" or \"14d\")", s)
	}
	if v < 0 || strings.HasPrefix(in, "-") {
		return 0, fmt.Errorf("duration %q must not be negative", s)
	}
	if days > 0 && v > (1<<63-1)-days {
		return 0, fmt.Errorf("invalid duration %q: too long", s)
	}
	return days + v, nil
}
