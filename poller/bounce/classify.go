package bounce

import (
	"regexp"
	"strings"

	"github.com/phieu/phieu/store"
)

// What a whole report says about a failure, beyond the server's one reply
// that store.ClassifyFailure reads.

var (
	connectFailure = regexp.MustCompile(`(?i)timed out|not reachable|unreachable|could not connect|couldn't connect|unable to connect|connection refused|failed to connect|no route to host`)
	// Refused at RCPT TO, or by the receiving system's own directory.
	rcptStage = regexp.MustCompile(`(?i)\brcpt\b|rcpt[_ ]to|recipient command|does not like recipient|has rejected address|` +
		`recipient name is not recognized|recipnotfound|resolver\.adr`)
)

// refineClass adjusts the class the server's reply gave:
//   - "user unknown" is believed when the status is an address status
//     (x.1.x) or the report shows the address was refused at RCPT TO;
//     refused after the message was sent, or with another status and no
//     sign of when, it is the receiver's filter speaking;
//   - a final report of a connection failure means retries ran out.
func refineClass(c store.FailureClass, f Failure, report string) store.FailureClass {
	switch c {
	case store.ClassUserUnknown:
		if isAddressStatus(f.Status) || refusedAtRcpt(f, report) {
			return c
		}
		// Another status (5.2.1, 5.7.1...) without a sign of RCPT TO.
		return store.ClassContentRejected
	case store.ClassRemoteError:
		if f.Action == "failed" && connectFailure.MatchString(f.Diagnostic) && (vagueStatus(f.Status) || f.Status[0] == '4') {
			return store.ClassExpired
		}
	}
	return c
}

// vagueStatus: no status, or one that names no cause (x.0.0, x.5.0).
func vagueStatus(s string) bool {
	return s == "" || strings.HasSuffix(s, ".0.0") || strings.HasSuffix(s, ".5.0")
}

func isAddressStatus(s string) bool {
	return len(s) >= 4 && s[1:4] == ".1."
}

// refusedAtRcpt: the diagnostic, or the transcript lines about this
// recipient, show the refusal answered RCPT TO.
func refusedAtRcpt(f Failure, report string) bool {
	if rcptStage.MatchString(f.Diagnostic) {
		return true
	}
	if f.Recipient == "" || report == "" {
		return false
	}
	if len(report) > 64<<10 {
		report = report[:64<<10]
	}
	lr := strings.ToLower(report)
	for _, p := range []string{"rcpt to:<" + f.Recipient, "rcpt to: <" + f.Recipient, "rcpt to:" + f.Recipient, "rcpt to: " + f.Recipient} {
		if strings.Contains(lr, p) {
			return true
		}
	}
	return false
}
