package bounce

import (
	"net/mail"
	"regexp"
	"strings"

	"github.com/emersion/go-message"
)

// original is what a report tells about the message it is about.
type original struct {
	messageID string
	ref       string
	subject   string
	to        []string
	senders   []string // From, Sender, Return-Path: never a failed recipient
}

// findOriginal reads the attached original (message/rfc822 or
// text/rfc822-headers), else the header lines quoted in the body.
func findOriginal(m *parsed) original {
	var o original
	for _, h := range m.originals {
		o.merge(original{
			messageID: trimID(h.Get("Message-Id")),
			ref:       strings.TrimSpace(h.Get("X-Phieu-Ref")),
			subject:   headerText(h, "Subject"),
			to:        addressList(headerText(h, "To")),
			senders:   append(addressList(headerText(h, "From")), append(addressList(h.Get("Sender")), addressList(h.Get("Return-Path"))...)...),
		})
	}
	o.merge(quotedOriginal(m))
	return o
}

func (o *original) merge(p original) {
	if o.messageID == "" {
		o.messageID = p.messageID
	}
	if o.ref == "" {
		o.ref = p.ref
	}
	if o.subject == "" {
		o.subject = p.subject
	}
	if len(o.to) == 0 {
		o.to = p.to
	}
	o.senders = append(o.senders, p.senders...)
}

var quotedField = regexp.MustCompile(`(?im)^[ \t>]*(message-id|x-phieu-ref|subject|to|from|return-path)[ \t]*:[ \t]*(.*)$`)

// quotedOriginal reads header lines quoted in the text parts (the copy of
// the original that text bounces append, or the summary Exchange writes).
func quotedOriginal(m *parsed) original {
	var o original
	for _, p := range m.parts {
		if !strings.HasPrefix(p.mediaType, "text/") || p.mediaType == "text/rfc822-headers" {
			continue
		}
		t := p.text()
		// Only what follows the report's own words is the original.
		if i := originalStart(t); i > 0 && !p.inOriginal {
			t = t[i:]
		} else if !p.inOriginal {
			// No copy marker: only the message IDs and refs are safe to read.
			for _, sm := range quotedField.FindAllStringSubmatch(t, -1) {
				switch strings.ToLower(sm[1]) {
				case "message-id":
					if o.messageID == "" {
						o.messageID = trimID(sm[2])
					}
				case "x-phieu-ref":
					if o.ref == "" {
						o.ref = strings.TrimSpace(sm[2])
					}
				case "subject":
					if o.subject == "" {
						o.subject = strings.TrimSpace(sm[2])
					}
				}
			}
			continue
		}
		for _, sm := range quotedField.FindAllStringSubmatch(t, -1) {
			v := strings.TrimSpace(sm[2])
			switch strings.ToLower(sm[1]) {
			case "message-id":
				if o.messageID == "" {
					o.messageID = trimID(v)
				}
			case "x-phieu-ref":
				if o.ref == "" {
					o.ref = v
				}
			case "subject":
				if o.subject == "" {
					o.subject = decodeWords(v)
				}
			case "to":
				if len(o.to) == 0 {
					o.to = addressList(v)
				}
			case "from", "return-path":
				o.senders = append(o.senders, addressList(v)...)
			}
		}
	}
	return o
}

func (r *Report) fillOriginal(o original) {
	r.OriginalMessageID = o.messageID
	r.OriginalRef = o.ref
	r.OriginalSubject = o.subject
	r.OriginalTo = o.to
}

func trimID(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.Index(s, "<"); i >= 0 {
		s = s[i+1:]
		if j := strings.Index(s, ">"); j >= 0 {
			s = s[:j]
		}
	}
	return strings.TrimSpace(s)
}

func decodeWords(s string) string {
	if d, err := wordDecoder.DecodeHeader(s); err == nil {
		return d
	}
	return s
}

// addressList reads addresses leniently: net/mail first, then anything
// that looks like an address.
func addressList(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	var out []string
	if l, err := (&mail.AddressParser{WordDecoder: wordDecoder}).ParseList(s); err == nil {
		for _, a := range l {
			out = append(out, strings.ToLower(a.Address))
		}
		return out
	}
	for _, a := range addrPattern.FindAllString(s, -1) {
		out = append(out, strings.ToLower(strings.Trim(a, ".")))
	}
	return out
}

var addrPattern = regexp.MustCompile(`[A-Za-z0-9!#$%&'*+/=?^_{|}~.\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)+`)

func headerAddresses(h message.Header, keys ...string) []string {
	var out []string
	for _, k := range keys {
		for _, v := range h.Values(k) {
			out = append(out, addressList(v)...)
		}
	}
	return out
}
