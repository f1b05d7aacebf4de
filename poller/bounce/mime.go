package bounce

import (
	"bytes"
	"io"
	"mime"
	"regexp"
	"strings"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset"
)

// Limits that keep a hostile message from costing much.
const (
	maxParts    = 64
	maxDepth    = 8
	maxBodySize = 4 << 20
	// maxRecipients caps the failures read from one report.
	maxRecipients = 1000
)

// part is one leaf of a parsed message, its body decoded to UTF-8 text.
type part struct {
	mediaType  string
	params     map[string]string
	header     message.Header
	body       []byte
	inOriginal bool // inside an attached copy of the original message
}

// parsed is a message taken apart leniently.
type parsed struct {
	header     message.Header
	parts      []part
	originals  []message.Header // headers of attached originals (message/rfc822, text/rfc822-headers)
	reportType string           // report-type of the first multipart/report
}

// parseMessage reads raw leniently; it fails only when raw has no header at all.
func parseMessage(raw []byte) (*parsed, error) {
	p := &parsed{}
	h, body, err := readEntity(raw)
	if err != nil {
		return nil, err
	}
	p.header = h
	p.walk(h, body, 0, false)
	return p, nil
}

var errNotMessage = errorString("bounce: not an RFC 5322 message")

type errorString string

func (e errorString) Error() string { return string(e) }

// readEntity splits raw into a header and its raw (still encoded) body,
// tolerating an mbox "From " line, bare LF, 8-bit bytes, and header lines
// that are neither fields nor continuations.
func readEntity(raw []byte) (message.Header, []byte, error) {
	raw = bytes.TrimLeft(raw, "\r\n")
	if bytes.HasPrefix(raw, []byte("From ")) {
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		} else {
			raw = nil
		}
	}
	var hdr bytes.Buffer
	rest := raw
	fields := 0
	for len(rest) > 0 {
		line := rest
		next := []byte(nil)
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			line, next = rest[:i], rest[i+1:]
		} else {
			next = nil
		}
		l := bytes.TrimRight(line, "\r")
		if len(bytes.TrimSpace(l)) == 0 {
			rest = next
			break
		}
		switch {
		case l[0] == ' ' || l[0] == '\t':
			if fields > 0 {
				hdr.Write(l)
				hdr.WriteString("\r\n")
			}
		case isFieldLine(l):
			hdr.Write(l)
			hdr.WriteString("\r\n")
			fields++
		default:
			if fields == 0 {
				return message.Header{}, nil, errNotMessage
			}
			// A stray line: the header ended without its blank line.
			goto done
		}
		rest = next
	}
done:
	if fields == 0 {
		return message.Header{}, nil, errNotMessage
	}
	hdr.WriteString("\r\n")
	e, err := message.Read(bytes.NewReader(hdr.Bytes()))
	if e == nil {
		return message.Header{}, nil, err
	}
	return e.Header, rest, nil
}

func isFieldLine(l []byte) bool {
	i := bytes.IndexByte(l, ':')
	if i <= 0 {
		return false
	}
	for _, c := range bytes.TrimRight(l[:i], " \t") {
		if c <= ' ' || c >= 127 {
			return false
		}
	}
	return true
}

func (p *parsed) walk(h message.Header, raw []byte, depth int, inOriginal bool) {
	if len(p.parts) >= maxParts || depth > maxDepth {
		return
	}
	mt, params, err := h.ContentType()
	if err != nil || mt == "" {
		mt, params = "text/plain", map[string]string{}
		if v := h.Get("Content-Type"); v != "" {
			mt = strings.ToLower(strings.TrimSpace(strings.SplitN(v, ";", 2)[0]))
			if f := strings.Fields(mt); len(f) > 0 {
				mt = f[0]
			}
			if !strings.Contains(mt, "/") {
				mt = "text/plain"
			}
			params = looseParams(v)
		}
	}
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		if mt == "multipart/report" && p.reportType == "" {
			p.reportType = strings.ToLower(params["report-type"])
		}
		if !p.walkMultipart(h, raw, params["boundary"], depth, inOriginal) {
			p.parts = append(p.parts, part{mediaType: "text/plain", params: params, header: h, body: limit(raw), inOriginal: inOriginal})
		}
		return
	case mt == "message/rfc822" || mt == "message/global":
		body := decodeBody(h, raw)
		oh, ob, err := readEntity(body)
		if err != nil {
			p.parts = append(p.parts, part{mediaType: "text/plain", header: h, body: body, inOriginal: true})
			return
		}
		p.originals = append(p.originals, oh)
		p.walk(oh, ob, depth+1, true)
		return
	case mt == "text/rfc822-headers" || mt == "message/global-headers" || mt == "message/rfc822-headers":
		body := decodeBody(h, raw)
		if oh, _, err := readEntity(body); err == nil {
			p.originals = append(p.originals, oh)
		}
		p.parts = append(p.parts, part{mediaType: mt, params: params, header: h, body: body, inOriginal: true})
		return
	}
	if depth > 0 && !inOriginal && isMessageHeader(h) {
		// A copy of the original pasted as a part without message/rfc822.
		p.originals = append(p.originals, h)
		inOriginal = true
	}
	p.parts = append(p.parts, part{mediaType: mt, params: params, header: h, body: decodeBody(h, raw), inOriginal: inOriginal})
}

// isMessageHeader: the header is a message's, not only a MIME part's.
func isMessageHeader(h message.Header) bool {
	n := 0
	for _, k := range []string{"From", "To", "Subject", "Message-Id", "Received", "Return-Path", "Date"} {
		if h.Has(k) {
			n++
		}
	}
	return n >= 2
}

// walkMultipart reports false when raw holds no recognisable part.
func (p *parsed) walkMultipart(h message.Header, raw []byte, boundary string, depth int, inOriginal bool) bool {
	if boundary == "" || !bytes.Contains(raw, []byte("--"+boundary)) {
		boundary = guessBoundary(raw)
		if boundary == "" {
			return false
		}
	}
	chunks := splitParts(raw, boundary)
	if len(chunks) == 0 {
		return false
	}
	for _, c := range chunks {
		if len(p.parts) >= maxParts {
			break
		}
		ch, cb, err := readEntity(c)
		if err != nil {
			// A part without a header: plain text by default (RFC 2046).
			ch = message.Header{}
			cb = bytes.TrimLeft(c, "\r\n")
		}
		p.walk(ch, cb, depth+1, inOriginal)
	}
	return true
}

var boundaryLine = regexp.MustCompile(`(?m)^--([^\s-][^\r\n]{0,69}?|-[^\r\n]{1,69}?)\r?$`)

func guessBoundary(raw []byte) string {
	m := boundaryLine.FindSubmatch(raw)
	if m == nil {
		return ""
	}
	return strings.TrimSuffix(string(m[1]), "--")
}

// splitParts cuts a multipart body at its boundary lines; a missing closing
// boundary is tolerated.
func splitParts(raw []byte, boundary string) [][]byte {
	delim := []byte("--" + boundary)
	var out [][]byte
	var cur []byte
	started := false
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i+1], raw[i+1:]
		} else {
			raw = nil
		}
		t := bytes.TrimRight(line, " \t\r\n")
		if bytes.HasPrefix(t, delim) {
			tail := t[len(delim):]
			if len(tail) == 0 || bytes.Equal(tail, []byte("--")) {
				if started {
					out = append(out, cur)
				}
				cur = nil
				started = true
				if len(tail) == 2 {
					started = false
				}
				continue
			}
		}
		if started {
			cur = append(cur, line...)
		}
	}
	if started && len(bytes.TrimSpace(cur)) > 0 {
		out = append(out, cur)
	}
	return out
}

func looseParams(v string) map[string]string {
	out := map[string]string{}
	for _, f := range strings.Split(v, ";")[1:] {
		k, val, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		out[strings.ToLower(strings.TrimSpace(k))] = strings.Trim(strings.TrimSpace(val), `"'`)
	}
	return out
}

// decodeBody undoes the transfer encoding and converts text to UTF-8;
// whatever cannot be decoded is kept as it is.
func decodeBody(h message.Header, raw []byte) []byte {
	raw = limit(raw)
	e, err := message.New(h, bytes.NewReader(raw))
	if e == nil {
		return raw
	}
	_ = err
	b, rerr := io.ReadAll(io.LimitReader(e.Body, maxBodySize))
	if rerr != nil && len(b) == 0 {
		return raw
	}
	if !isUTF8(b) {
		// Undeclared or wrongly declared charset: try the common ones.
		b = []byte(strings.ToValidUTF8(string(b), "\uFFFD"))
	}
	return b
}

func limit(b []byte) []byte {
	if len(b) > maxBodySize {
		return b[:maxBodySize]
	}
	return b
}

func isUTF8(b []byte) bool { return strings.ToValidUTF8(string(b), "") == string(b) }

var wordDecoder = &mime.WordDecoder{CharsetReader: charset.Reader}

// headerText is a header field decoded from RFC 2047 words, as valid UTF-8.
func headerText(h message.Header, key string) string {
	v := h.Get(key)
	if v == "" {
		return ""
	}
	if d, err := wordDecoder.DecodeHeader(v); err == nil {
		v = d
	}
	return strings.ToValidUTF8(v, "\uFFFD")
}

// text is the readable text of a part: HTML is reduced to its words.
func (pt part) text() string {
	s := string(pt.body)
	if strings.Contains(pt.mediaType, "html") {
		s = htmlToText(s)
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

var (
	htmlDrop  = regexp.MustCompile(`(?is)<(script|style|head)\b.*?</(script|style|head)\s*>`)
	htmlBreak = regexp.MustCompile(`(?i)<\s*(br|/p|p|/div|div|/tr|tr|/li|li|/h\d|hr|/table|/blockquote)\b[^>]*>`)
	htmlTag   = regexp.MustCompile(`(?s)<[^>]*>`)
)

func htmlToText(s string) string {
	s = htmlDrop.ReplaceAllString(s, " ")
	s = htmlBreak.ReplaceAllString(s, "\n")
	s = htmlTag.ReplaceAllString(s, " ")
	r := strings.NewReplacer("&nbsp;", " ", "&lt;", "<", "&gt;", ">", "&amp;", "&", "&quot;", `"`, "&#39;", "'", "&#64;", "@")
	return r.Replace(s)
}
