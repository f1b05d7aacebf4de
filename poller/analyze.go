package poller

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strings"
	"time"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/phieu/phieu/poller/bounce"
	"github.com/phieu/phieu/poller/reply"
	"github.com/phieu/phieu/store"
)

// Analysis is everything phieu reads out of one message, before it looks
// anything up: pure, so `phieu inspect` and the accuracy harness see exactly
// what the poller sees.
type Analysis struct {
	*bounce.Report

	Hash       string // SHA-256 of the raw bytes
	Size       int
	MessageID  string // without <>
	From       string // lower-cased address
	FromName   string
	Recipients []string // To, Cc, Delivered-To, X-Original-To, Envelope-To: where a plus address may be
	Subject    string
	Date       time.Time
	InReplyTo  []string // In-Reply-To then References, newest first, without <>
	AuthResult string   // Authentication-Results, joined

	// Text is the decoded body of a message a person wrote; Visible is what
	// they wrote above the quote, Quoted the rest (where people also type
	// answers into the quoted form).
	Text, Visible, Quoted string
}

// Analyze reads a raw message, the text a person wrote included. It fails
// only when the bytes are not a message at all; a garbled part degrades to
// what can be read.
func Analyze(raw []byte) (*Analysis, error) {
	a, err := analyzeReport(raw)
	if err != nil {
		return nil, err
	}
	a.readText(raw)
	return a, nil
}

// analyzeReport reads what a message is and what it names, leaving the
// body's text for readText: the poller decodes it only for messages it
// matched, never for mail that is not phieu's.
func analyzeReport(raw []byte) (*Analysis, error) {
	sum := sha256.Sum256(raw)
	a := &Analysis{Hash: hex.EncodeToString(sum[:]), Size: len(raw)}
	rep, err := bounce.Analyze(raw)
	if err != nil {
		return nil, err
	}
	a.Report = rep
	if th, err := textproto.ReadHeader(bufio.NewReader(bytes.NewReader(raw))); err == nil {
		h := mail.Header{Header: message.Header{Header: th}}
		a.readHeader(h)
	}
	return a, nil
}

// readText decodes the body of something a person (or their vacation
// rule) wrote and splits what they wrote from the quote.
func (a *Analysis) readText(raw []byte) {
	if isReport(a.Kind) {
		return
	}
	if text, err := reply.BodyText(raw); err == nil || text != "" {
		a.Text = text
		a.Visible, a.Quoted = reply.Trim(text)
	}
}

func (a *Analysis) readHeader(h mail.Header) {
	if id, err := h.MessageID(); err == nil {
		a.MessageID = id
	} else {
		a.MessageID = strings.Trim(strings.TrimSpace(h.Get("Message-Id")), "<>")
	}
	if from, err := h.AddressList("From"); err == nil && len(from) > 0 {
		a.From, a.FromName = store.NormalizeMailbox(from[0].Address), validText(from[0].Name)
	} else if f := h.Get("From"); f != "" {
		a.From = store.NormalizeMailbox(strings.Trim(addrRE.FindString(f), "<>"))
	}
	if s, err := h.Subject(); err == nil {
		a.Subject = validText(s)
	} else {
		a.Subject = validText(h.Get("Subject"))
	}
	if d, err := h.Date(); err == nil {
		a.Date = d
	}
	for _, key := range []string{"Delivered-To", "X-Original-To", "Envelope-To", "To", "Cc"} {
		for _, v := range h.Values(key) {
			for _, m := range addrRE.FindAllString(v, -1) {
				a.Recipients = append(a.Recipients, store.NormalizeMailbox(strings.Trim(m, "<>")))
			}
		}
	}
	ids, _ := h.MsgIDList("In-Reply-To")
	refs, _ := h.MsgIDList("References")
	for i := len(refs) - 1; i >= 0; i-- {
		ids = append(ids, refs[i])
	}
	a.InReplyTo = ids
	a.AuthResult = strings.Join(h.Values("Authentication-Results"), "\n")
}

// validText replaces bytes that are not UTF-8: an encoded word may declare
// utf-8 over Windows-1258 bytes, and what is stored and shown must be text.
func validText(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

var addrRE = regexp.MustCompile(`<?[^\s<>,;:"()\[\]@]+@[^\s<>,;:"()\[\]@]+\.[A-Za-z0-9-]+>?`)
