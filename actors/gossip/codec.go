package gossip

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The wire primitives of a report. Every variable-length field is bounded
// by its prefix (one byte for strings and lists), so a decoder never
// allocates more than the packet it was handed, whatever the packet says.

// ErrMalformed is wrapped by every Decode error about the bytes themselves
// (truncated, trailing bytes, a value out of range).
var ErrMalformed = errors.New("malformed report")

// maxString is the longest string a one-byte length prefix carries.
const maxString = 255

// writer appends fields to a buffer and remembers the first error, so
// encoding reads as a list of fields rather than a ladder of checks.
type writer struct {
	buf []byte
	err error
}

func (w *writer) fail(format string, args ...any) {
	if w.err == nil {
		w.err = fmt.Errorf(format, args...)
	}
}

func (w *writer) u8(v uint8)   { w.buf = append(w.buf, v) }
func (w *writer) u16(v uint16) { w.buf = binary.BigEndian.AppendUint16(w.buf, v) }
func (w *writer) u64(v uint64) { w.buf = binary.BigEndian.AppendUint64(w.buf, v) }

// str writes a one-byte length and the bytes; field names the value in
// the error when it is too long.
func (w *writer) str(field, s string) {
	if len(s) > maxString {
		w.fail("%s is %d bytes, over the %d-byte limit", field, len(s), maxString)
		return
	}
	w.u8(uint8(len(s)))
	w.buf = append(w.buf, s...)
}

// intU16 writes a non-negative int that must fit in 16 bits.
func (w *writer) intU16(field string, v int) {
	if v < 0 || v > 0xffff {
		w.fail("%s %d is outside 0..65535", field, v)
		return
	}
	w.u16(uint16(v))
}

// reader consumes fields from a byte slice. After the first short read
// every later read returns zero values and err stays set, so decoding can
// check once per record; it never indexes past the end of b.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
}

// take returns the next n bytes, or nil (and records an error) if fewer
// remain.
func (r *reader) take(n int, what string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.b)-r.off {
		r.fail("truncated %s at byte %d", what, r.off)
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *reader) u8(what string) uint8 {
	if p := r.take(1, what); p != nil {
		return p[0]
	}
	return 0
}

func (r *reader) u16(what string) uint16 {
	if p := r.take(2, what); p != nil {
		return binary.BigEndian.Uint16(p)
	}
	return 0
}

func (r *reader) u64(what string) uint64 {
	if p := r.take(8, what); p != nil {
		return binary.BigEndian.Uint64(p)
	}
	return 0
}

func (r *reader) str(what string) string {
	n := int(r.u8(what + " length"))
	return string(r.take(n, what))
}

// remaining is the number of unread bytes.
func (r *reader) remaining() int { return len(r.b) - r.off }
