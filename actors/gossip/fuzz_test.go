package gossip

import (
	"bytes"
	"testing"
	"time"

	"github.com/opengslb/opengslb/messages"
)

// FuzzDecode feeds Decode hostile bytes: it must never panic, never accept
// more than MaxReportSize, and whatever it accepts must encode back to the
// same bytes (the format has one encoding per report), so a report cannot
// be re-shaped without breaking its MAC. The seed corpus runs as a normal
// test.
func FuzzDecode(f *testing.F) {
	seeds := []messages.AgentReport{sampleReport(), {Agent: "a", Service: "s", Seq: 1}, bigReport(22)}
	for _, r := range seeds {
		b, err := Encode(r, testToken)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		// Corrupt ones: truncated, a huge backend count, a flipped
		// address family, a length prefix past the end.
		f.Add(b[:len(b)/2])
		c := bytes.Clone(b)
		c[len(c)-MACSize-1] = 0xff
		f.Add(c)
		c = bytes.Clone(b)
		c[1] = 0xff
		f.Add(c)
	}
	f.Add([]byte{})
	f.Add([]byte{ReportVersion})
	f.Add(bytes.Repeat([]byte{0xff}, MaxReportSize+1))

	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := Decode(b)
		if err != nil {
			return
		}
		if len(b) > MaxReportSize {
			t.Fatalf("accepted %d bytes", len(b))
		}
		// Verify with any token must not panic.
		_ = rep.Verify(testToken)
		again, err := Encode(rep.AgentReport("", time.Time{}), testToken)
		if err != nil {
			// Decode accepted what Encode refuses: only the size can
			// differ (Encode checks the size, Decode the shape).
			t.Fatalf("decoded report does not encode: %v", err)
		}
		if !bytes.Equal(again[:len(again)-MACSize], b[:len(b)-MACSize]) {
			t.Fatalf("re-encoding differs:\n in %x\nout %x", b, again)
		}
	})
}
