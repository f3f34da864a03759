package zone

import (
	"bytes"
	"crypto/sha1"
	"encoding/base32"

	"github.com/miekg/dns"
)

// maxLabels is the most labels a 255-octet name can have.
const maxLabels = 128

// wireName is a name in uncompressed wire form, lower-cased (RFC 4034
// §6.2), with the offset of each label, as DNSSEC's orderings need it.
type wireName struct {
	wire   []byte
	labels []int
}

// toWire packs a presentation name into buf (which must hold 255 octets)
// in canonical form: uncompressed and lower case. ok is false for a name
// that does not pack.
func toWire(name string, buf []byte) (wire []byte, ok bool) {
	n, err := dns.PackDomainName(name, buf, 0, nil, false)
	if err != nil {
		return nil, false
	}
	wire = buf[:n]
	for i, c := range wire {
		if c >= 'A' && c <= 'Z' {
			wire[i] = c + 'a' - 'A'
		}
	}
	return wire, true
}

// labelOffsets appends the offset of each label of wire (root excluded).
func labelOffsets(wire []byte, dst []int) []int {
	for off := 0; off < len(wire) && wire[off] != 0 && len(dst) < maxLabels; off += int(wire[off]) + 1 {
		dst = append(dst, off)
	}
	return dst
}

func newWireName(name string) (wireName, bool) {
	wire, ok := toWire(name, make([]byte, 256))
	if !ok {
		return wireName{}, false
	}
	return wireName{wire: wire, labels: labelOffsets(wire, nil)}, true
}

// canonicalCompare orders two names as RFC 4034 §6.1 does: label by label
// from the root, each label as an octet string in which a shorter label
// that is a prefix of a longer one sorts first.
func canonicalCompare(a, b wireName) int {
	i, j := len(a.labels)-1, len(b.labels)-1
	for ; i >= 0 && j >= 0; i, j = i-1, j-1 {
		la := label(a.wire, a.labels[i])
		lb := label(b.wire, b.labels[j])
		if c := bytes.Compare(la, lb); c != 0 {
			return c
		}
	}
	switch {
	case i < 0 && j < 0:
		return 0
	case i < 0:
		return -1
	default:
		return 1
	}
}

func label(wire []byte, off int) []byte { return wire[off+1 : off+1+int(wire[off])] }

// nsec3Hash is RFC 5155's hash with RFC 9276's parameters: SHA-1, no salt,
// no extra iterations, so one SHA-1 of the canonical wire name.
func nsec3Hash(wire []byte) [sha1.Size]byte { return sha1.Sum(wire) }

// base32Hex is the NSEC3 owner label alphabet (RFC 4648 §7), unpadded.
var base32Hex = base32.HexEncoding.WithPadding(base32.NoPadding)
