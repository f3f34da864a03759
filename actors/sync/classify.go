package sync

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"strings"

	"github.com/opengslb/opengslb/messages"
)

// classify names why a request to a peer failed before any HTTP status
// came back, so last_sync_error and the attempts metric point the
// operator at the network, the certificates or the peer's protocol.
func classify(err error, timeout string) (result, reason string) {
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verify           *tls.CertificateVerificationError
		record           tls.RecordHeaderError
		alert            tls.AlertError
		opErr            *net.OpError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return messages.SyncUnreachable, "no answer within key_sync.timeout (" + timeout + ")"
	case errors.As(err, &unknownAuthority):
		return messages.SyncTLS, "its certificate is not signed by a CA this overwatch trusts (set key_sync.ca_file to the peers' CA): " + err.Error()
	case errors.As(err, &hostname):
		return messages.SyncTLS, "its certificate does not name the host in the peer URL: " + err.Error()
	case errors.As(err, &invalid), errors.As(err, &verify), errors.As(err, &alert):
		return messages.SyncTLS, "TLS failed: " + err.Error()
	case errors.As(err, &record), strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"):
		return messages.SyncTLS, "it does not speak TLS on that port (api.tls_cert_file/tls_key_file unset there?)"
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return messages.SyncUnreachable, "cannot connect: " + opErr.Err.Error()
	case strings.Contains(err.Error(), "tls:"):
		return messages.SyncTLS, "TLS failed: " + err.Error()
	}
	return messages.SyncUnreachable, err.Error()
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
