package reply

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
	"github.com/emersion/go-message/charset" // also registers message.CharsetReader
	"github.com/emersion/go-message/textproto"
	"github.com/inbucket/html2text"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"
)

// Limits that keep a hostile message from costing much.
const (
	maxDepth     = 20       // nesting of multiparts
	maxParts     = 200      // parts read in one multipart
	maxPartBytes = 16 << 20 // bytes read from one leaf part
)

// ErrNoText is returned by BodyText when a message has no readable text.
var ErrNoText = errors.New("reply: message has no readable text")

// BodyText returns the readable text of a message's body.
//
// text/plain is preferred over text/html in multipart/alternative; an
// HTML-only message is converted to text keeping its line structure (<br>,
// <p>, <div>, table rows), with blockquotes rendered as "> " lines.
// Quoted-printable and base64 are decoded and the declared charset
// converted to UTF-8 (everything golang.org/x/text knows: windows-1258,
// windows-1252, iso-8859-*, koi8-r, gb2312, shift_jis, ...; VISCII is not
// among them). Text declared us-ascii or undeclared that is not valid UTF-8,
// and stray invalid bytes in text declared UTF-8, are read as windows-1258.
// multipart/mixed and multipart/related are read part by part, skipping
// attachments, non-text parts and forwarded messages (message/rfc822).
// Raw bytes that do not start with a header are read as plain text.
//
// The result is NFC-normalised with "\r\n" turned into "\n". BodyText never
// panics; malformed MIME degrades to the best readable text, and an error
// is returned only when nothing readable was found.
func BodyText(raw []byte) (text string, err error) {
	defer func() {
		if r := recover(); r != nil {
			text, err = "", fmt.Errorf("reply: malformed message: %v", r)
		}
	}()
	br := bufio.NewReader(bytes.NewReader(raw))
	h, herr := textproto.ReadHeader(br)
	var out string
	if herr != nil || !looksLikeHeader(h) {
		// No header: the whole input is the body.
		out = decodeText(raw, "")
	} else {
		out, _ = walk(message.Header{Header: h}, br, 0)
	}
	out = finish(out)
	if strings.TrimSpace(out) == "" {
		if herr != nil {
			return "", fmt.Errorf("%w: %v", ErrNoText, herr)
		}
		return "", ErrNoText
	}
	return out, nil
}

// looksLikeHeader reports whether a parsed header is a real mail or MIME
// header rather than a first line of text that happens to contain a colon.
func looksLikeHeader(h textproto.Header) bool {
	for f := h.Fields(); f.Next(); {
		k := strings.ToLower(f.Key())
		if strings.HasPrefix(k, "content-") || strings.HasPrefix(k, "x-") {
			return true
		}
		switch k {
		case "mime-version", "from", "to", "cc", "subject", "date", "message-id",
			"received", "return-path", "reply-to", "sender", "in-reply-to",
			"references", "delivered-to", "thread-topic", "thread-index",
			"dkim-signature", "authentication-results", "importance":
			return true
		}
	}
	return false
}

func finish(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.ToValidUTF8(s, "\uFFFD")
	return norm.NFC.String(s)
}

// walk returns the text of one entity and whether it came from HTML.
func walk(h message.Header, body io.Reader, depth int) (string, bool) {
	mt, params, err := h.ContentType()
	if err != nil || mt == "" {
		mt, params = fallbackContentType(h.Get("Content-Type"))
	}
	mt = strings.ToLower(mt)
	if strings.HasPrefix(mt, "multipart/") && params["boundary"] != "" && depth < maxDepth {
		data, _ := io.ReadAll(io.LimitReader(body, maxPartBytes))
		text, isHTML, parts := walkMultipart(mt, params["boundary"], bytes.NewReader(data), depth)
		if parts == 0 {
			// The boundary never occurs: the best reading is the raw body.
			return decodeText(data, params["charset"]), false
		}
		return text, isHTML
	}
	if strings.HasPrefix(mt, "multipart/") {
		mt = "text/plain" // no boundary: read it as text
	}
	switch {
	case mt == "text/html":
		b := readLeaf(h, body)
		return htmlToText(decodeText(b, params["charset"])), true
	case strings.HasPrefix(mt, "text/"), mt == "":
		b := readLeaf(h, body)
		return decodeText(b, params["charset"]), false
	}
	return "", false
}

// fallbackContentType reads a Content-Type that mime.ParseMediaType refused.
func fallbackContentType(v string) (string, map[string]string) {
	params := map[string]string{}
	parts := strings.Split(v, ";")
	mt := strings.ToLower(strings.TrimSpace(parts[0]))
	for _, p := range parts[1:] {
		k, val, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		params[strings.ToLower(strings.TrimSpace(k))] = strings.Trim(strings.TrimSpace(val), `"'`)
	}
	if mt == "" || !strings.Contains(mt, "/") {
		mt = "text/plain"
	}
	return mt, params
}

// walkMultipart returns the text of a multipart body, whether it came from
// HTML, and how many parts were found.
func walkMultipart(mt, boundary string, body io.Reader, depth int) (string, bool, int) {
	mr := textproto.NewMultipartReader(body, boundary)
	type result struct {
		text  string
		html  bool
		plain bool // a text/plain leaf
	}
	var results []result
	n := 0
	for ; n < maxParts; n++ {
		p, err := mr.NextPart()
		if err != nil {
			break
		}
		ph := message.Header{Header: p.Header}
		pmt, _, perr := ph.ContentType()
		if perr != nil {
			pmt, _ = fallbackContentType(ph.Get("Content-Type"))
		}
		pmt = strings.ToLower(pmt)
		if isAttachment(ph, pmt) {
			continue
		}
		text, isHTML := walk(ph, p, depth+1)
		if strings.TrimSpace(text) == "" {
			continue
		}
		results = append(results, result{text, isHTML, pmt == "text/plain" || pmt == ""})
	}
	if len(results) == 0 {
		return "", false, n
	}
	if mt == "multipart/alternative" {
		for _, r := range results {
			if !r.html {
				return r.text, false, n
			}
		}
		return results[len(results)-1].text, true, n
	}
	// mixed, related, ...: every inline text part in order.
	var b strings.Builder
	allHTML := true
	for i, r := range results {
		if i > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(strings.TrimRight(r.text, "\n"))
		allHTML = allHTML && r.html
	}
	return b.String(), allHTML, n
}

// isAttachment reports whether a part is not body text: an attachment,
// a file, a forwarded message or a non-text part.
func isAttachment(h message.Header, mt string) bool {
	if strings.HasPrefix(mt, "message/") {
		return true
	}
	if !strings.HasPrefix(mt, "text/") && !strings.HasPrefix(mt, "multipart/") && mt != "" {
		return true
	}
	disp, dparams, _ := mime.ParseMediaType(h.Get("Content-Disposition"))
	if strings.EqualFold(disp, "attachment") {
		return true
	}
	if dparams["filename"] != "" && !strings.HasPrefix(mt, "multipart/") {
		return true
	}
	_, cparams, _ := h.ContentType()
	return cparams["name"] != "" && mt != "text/plain" && mt != "text/html"
}

// readLeaf reads a leaf part, undoing its Content-Transfer-Encoding
// leniently: broken base64 or quoted-printable yields what can be read.
func readLeaf(h message.Header, body io.Reader) []byte {
	b, _ := io.ReadAll(io.LimitReader(body, maxPartBytes))
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "base64":
		return decodeBase64(b)
	case "quoted-printable":
		return decodeQP(b)
	}
	return b
}

// decodeBase64 decodes base64 leniently: characters outside the alphabet
// are skipped, and padding ends a chunk, so that chunks encoded separately
// and concatenated still decode.
func decodeBase64(b []byte) []byte {
	var out, chunk []byte
	flush := func() {
		if len(chunk)%4 == 1 {
			chunk = chunk[:len(chunk)-1]
		}
		buf := make([]byte, base64.RawStdEncoding.DecodedLen(len(chunk)))
		n, _ := base64.RawStdEncoding.Decode(buf, chunk)
		out = append(out, buf[:n]...)
		chunk = chunk[:0]
	}
	for _, c := range b {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
			chunk = append(chunk, c)
		case c == '-':
			chunk = append(chunk, '+') // URL-safe alphabet
		case c == '_':
			chunk = append(chunk, '/')
		case c == '=':
			if len(chunk) > 0 {
				flush()
			}
		}
	}
	flush()
	return out
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// decodeQP decodes quoted-printable, keeping malformed escapes as they are.
func decodeQP(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		if c != '=' {
			out = append(out, c)
			continue
		}
		// soft line break: "=" then optional white space then a line end
		j := i + 1
		for j < len(b) && (b[j] == ' ' || b[j] == '\t' || b[j] == '\r' && j+1 < len(b) && b[j+1] == '\r') {
			j++
		}
		if j == len(b) {
			i = j - 1
			continue
		}
		if b[j] == '\n' {
			i = j
			continue
		}
		if b[j] == '\r' {
			if j+1 < len(b) && b[j+1] == '\n' {
				j++
			}
			i = j
			continue
		}
		if i+2 < len(b) {
			hi, ok1 := unhex(b[i+1])
			lo, ok2 := unhex(b[i+2])
			if ok1 && ok2 {
				out = append(out, hi<<4|lo)
				i += 2
				continue
			}
		}
		out = append(out, c)
	}
	return out
}

// fallback is the charset assumed for undeclared or mislabelled 8-bit text.
var fallback = charmap.Windows1258

// decodeText converts text in the named charset to UTF-8.
func decodeText(b []byte, cs string) string {
	cs = strings.ToLower(strings.Trim(strings.TrimSpace(cs), `"'`))
	switch cs {
	case "", "us-ascii", "ascii", "ansi_x3.4-1968", "iso646-us", "utf-8", "utf8", "unicode-1-1-utf-8", "x-unknown", "unknown", "default":
		return lenientUTF8(b)
	}
	r, err := charset.Reader(cs, bytes.NewReader(b))
	if err != nil {
		return lenientUTF8(b)
	}
	out, err := io.ReadAll(r)
	if err != nil && len(out) == 0 {
		return lenientUTF8(b)
	}
	return string(out)
}

// lenientUTF8 keeps valid UTF-8 and reads every invalid byte as windows-1258.
func lenientUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	dec := fallback.NewDecoder()
	var sb strings.Builder
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r == utf8.RuneError && size <= 1 {
			s, _ := dec.Bytes(b[:1])
			sb.Write(s)
			b = b[1:]
			continue
		}
		sb.Write(b[:size])
		b = b[size:]
	}
	return sb.String()
}

// htmlToText converts HTML to text with html2text, after rewriting the
// tree so that headings and bold text do not turn into "****" or "----"
// lines (which Trim would read as delimiters) and table rows stay lines.
func htmlToText(s string) string {
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		return s
	}
	rewrite(doc, 0)
	out, err := html2text.FromHTMLNode(doc, html2text.Options{OmitLinks: true})
	if err != nil {
		return ""
	}
	return tidyHTMLText(out)
}

// tidyHTMLText drops trailing spaces and collapses the runs of empty
// lines, quoted or not, that block elements leave behind.
func tidyHTMLText(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	prevEmpty := ""
	for i, l := range lines {
		l = strings.TrimRight(l, " \t")
		// An empty line, possibly inside a quote: its quote markers.
		marks := strings.ReplaceAll(l, " ", "")
		empty := strings.Trim(marks, ">") == ""
		if empty && i > 0 && marks == prevEmpty {
			continue
		}
		if empty {
			prevEmpty = marks
		} else {
			prevEmpty = "\x00"
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}

func rename(n *html.Node, a atom.Atom) {
	n.DataAtom = a
	n.Data = a.String()
}

func rewrite(n *html.Node, depth int) {
	if depth > 500 {
		return
	}
	if n.Type == html.ElementNode {
		switch n.DataAtom {
		case atom.H1, atom.H2, atom.H3, atom.H4, atom.H5, atom.H6:
			rename(n, atom.P)
		case atom.B, atom.Strong:
			rename(n, atom.Span)
		case atom.Tr, atom.Hr:
			rename(n, atom.Div)
		case atom.Td, atom.Th:
			rename(n, atom.Span)
			if prev := prevElement(n); prev != nil && (prev.DataAtom == atom.Td || prev.DataAtom == atom.Th || prev.DataAtom == atom.Span) {
				n.Parent.InsertBefore(&html.Node{Type: html.TextNode, Data: " | "}, n)
			}
		case atom.Img:
			// html2text ignores images; nothing to do
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		rewrite(c, depth+1)
	}
}

func prevElement(n *html.Node) *html.Node {
	for p := n.PrevSibling; p != nil; p = p.PrevSibling {
		if p.Type == html.ElementNode {
			return p
		}
	}
	return nil
}
