package imaptest

import (
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/jordan-wright/email"
)

// The builders below write messages the way other software does, for the
// poller's tests and benchmark: replies and human mail through
// jordan-wright/email (another composer than phieu's), bounces in the
// formats mail servers use.

// Reply is a person's answer to one of phieu's messages.
type Reply struct {
	From, To   string
	Subject    string // "Re: ..." is added
	InReplyTo  string // the original's Message-ID, with <>
	Text       string // what the person wrote
	Quoted     string // the original text, quoted under a Vietnamese reply header
	Date       time.Time
	MessageID  string // "" for a generated one
	HTMLOnly   bool
	AuthResult string
}

// Bytes renders the reply.
func (r Reply) Bytes() ([]byte, error) {
	e := email.NewEmail()
	e.From, e.To, e.Subject = r.From, []string{r.To}, "Re: "+r.Subject
	if r.Date.IsZero() {
		r.Date = time.Date(2023, 2, 20, 9, 15, 0, 0, time.FixedZone("ICT", 7*3600))
	}
	e.Headers.Set("Date", r.Date.Format(time.RFC1123Z))
	if r.MessageID != "" {
		e.Headers.Set("Message-Id", r.MessageID)
	}
	if r.InReplyTo != "" {
		e.Headers.Set("In-Reply-To", r.InReplyTo)
		e.Headers.Set("References", r.InReplyTo)
	}
	if r.AuthResult != "" {
		e.Headers.Set("Authentication-Results", r.AuthResult)
	}
	body := r.Text
	if r.Quoted != "" {
		body += "\n\nVào Th 2, 20/02/2023 lúc 08:00, Sở Nội vụ <" + r.To + "> đã viết:\n" + quote(r.Quoted)
	}
	if r.HTMLOnly {
		e.HTML = []byte("<html><body><div>" + strings.ReplaceAll(htmlEscape(r.Text), "\n", "<br>") + "</div>" +
			"<blockquote>" + strings.ReplaceAll(htmlEscape(r.Quoted), "\n", "<br>") + "</blockquote></body></html>")
	} else {
		e.Text = []byte(body)
	}
	return e.Bytes()
}

// Human is mail that has nothing to do with phieu.
func Human(from, to, subject, text string) ([]byte, error) {
	e := email.NewEmail()
	e.From, e.To, e.Subject, e.Text = from, []string{to}, subject, []byte(text)
	e.Headers.Set("Date", time.Date(2023, 2, 20, 10, 0, 0, 0, time.FixedZone("ICT", 7*3600)).Format(time.RFC1123Z))
	return e.Bytes()
}

// AutoReply is an out-of-office answer (RFC 3834).
func AutoReply(from, to, subject, inReplyTo, text string) ([]byte, error) {
	e := email.NewEmail()
	e.From, e.To, e.Subject, e.Text = from, []string{to}, "Trả lời tự động: "+subject, []byte(text)
	e.Headers.Set("Auto-Submitted", "auto-replied")
	e.Headers.Set("In-Reply-To", inReplyTo)
	e.Headers.Set("Date", time.Date(2023, 2, 20, 8, 1, 0, 0, time.FixedZone("ICT", 7*3600)).Format(time.RFC1123Z))
	return e.Bytes()
}

// DSN is a delivery status notification (RFC 3464) as Postfix writes it,
// with the original's headers attached (RET=HDRS).
type DSN struct {
	ReportingMTA string // "mail.binhson.gov.test"
	To           string // the envelope sender phieu used
	EnvelopeID   string // "" when the server dropped it
	Recipient    string
	Action       string // failed (default) or delayed
	Status       string // "5.1.1"
	Diagnostic   string // "smtp; 550 5.1.1 <x>: Recipient address rejected: User unknown"
	Original     string // the original's headers
}

// Bytes renders the notification.
func (d DSN) Bytes() []byte {
	if d.Action == "" {
		d.Action = "failed"
	}
	var b bytes.Buffer
	subject := "Undelivered Mail Returned to Sender"
	intro := "I'm sorry to have to inform you that your message could not\nbe delivered to one or more recipients."
	if d.Action == "delayed" {
		subject = "Delayed Mail (still being retried)"
		intro = "Your message could not be delivered for more than 4 hour(s).\nIt will be retried until it is 5 day(s) old."
	}
	fmt.Fprintf(&b, "Return-Path: <>\r\nFrom: MAILER-DAEMON@%s (Mail Delivery System)\r\nTo: %s\r\nSubject: %s\r\n", d.ReportingMTA, d.To, subject)
	fmt.Fprintf(&b, "Date: Mon, 20 Feb 2023 08:05:00 +0700 (ICT)\r\nMessage-Id: <%s.%d@%s>\r\nAuto-Submitted: auto-replied\r\n",
		strings.NewReplacer("@", ".", "+", ".").Replace(d.Recipient), len(d.Original), d.ReportingMTA)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status;\r\n\tboundary=\"B0UND4RY\"\r\n\r\n")
	b.WriteString("This is a MIME-encapsulated message.\r\n\r\n--B0UND4RY\r\nContent-Description: Notification\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n")
	fmt.Fprintf(&b, "This is the mail system at host %s.\r\n\r\n%s\r\n\r\n<%s>: %s\r\n\r\n", d.ReportingMTA, strings.ReplaceAll(intro, "\n", "\r\n"), d.Recipient, d.Diagnostic)
	b.WriteString("--B0UND4RY\r\nContent-Description: Delivery report\r\nContent-Type: message/delivery-status\r\n\r\n")
	fmt.Fprintf(&b, "Reporting-MTA: dns; %s\r\n", d.ReportingMTA)
	if d.EnvelopeID != "" {
		fmt.Fprintf(&b, "Original-Envelope-Id: %s\r\n", d.EnvelopeID)
	}
	fmt.Fprintf(&b, "Arrival-Date: Mon, 20 Feb 2023 08:00:00 +0700 (ICT)\r\n\r\nFinal-Recipient: rfc822; %s\r\nOriginal-Recipient: rfc822;%s\r\nAction: %s\r\nStatus: %s\r\n",
		d.Recipient, d.Recipient, d.Action, d.Status)
	fmt.Fprintf(&b, "Remote-MTA: dns; mx.%s\r\nDiagnostic-Code: %s\r\n\r\n", domainOf(d.Recipient), d.Diagnostic)
	b.WriteString("--B0UND4RY\r\nContent-Description: Undelivered Message Headers\r\nContent-Type: text/rfc822-headers\r\n\r\n")
	b.WriteString(strings.ReplaceAll(strings.TrimRight(d.Original, "\r\n"), "\n", "\r\n") + "\r\n\r\n--B0UND4RY--\r\n")
	return b.Bytes()
}

// OriginalHeaders are the headers of a message phieu sent, as a bounce
// attaches them.
func OriginalHeaders(from, to, subject, messageID, ref string) string {
	return fmt.Sprintf("From: %s\nTo: %s\nSubject: %s\nMessage-ID: %s\nX-Phieu-Ref: %s\nDate: Mon, 20 Feb 2023 08:00:00 +0700\nMIME-Version: 1.0\n",
		from, to, subject, messageID, ref)
}

func quote(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l == "" {
			lines[i] = ">"
		} else {
			lines[i] = "> " + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

func htmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

func domainOf(addr string) string {
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		return addr[at+1:]
	}
	return addr
}
