// Package integrity holds the pure checks behind interference flags: the
// headers of forwarded messages quoted in a reply, and clusters of alike
// answers from one unit that chance does not explain. The poller feeds them
// what it read and stores what they find.
package integrity

import (
	"regexp"
	"strings"

	"github.com/phieu/phieu/store"
)

// QuotedHeader is the header block of one message quoted in a reply: the
// block under a "Forwarded message" or "Original Message" marker, or an
// Outlook-style "From:/Sent:/To:/Subject:" block.
type QuotedHeader struct {
	Forward bool   // under a forward marker ("Forwarded message", "Chuyển tiếp")
	Marker  string // the marker line as written, "" for a bare header block
	From    string // the address, lower-cased; "" when only a name was written
	To      []string
	Date    string // as the mail client wrote it
	Subject string
	Line    int // 1-based line of the block's first header
}

var (
	// Marker lines of forwarded and original messages, in the clients the
	// province uses (Gmail, Outlook, Zimbra, Thunderbird, Apple Mail), in
	// English and Vietnamese.
	forwardMarkerRE  = regexp.MustCompile(`(?i)^-{2,}\s*(forwarded message|forwarded e-?mail|message transféré|[^-]*chuyển tiếp[^-]*)\s*-{2,}\s*$|^(begin forwarded message|bắt đầu thư chuyển tiếp|thư chuyển tiếp)\s*:\s*$`)
	originalMarkerRE = regexp.MustCompile(`(?i)^-{2,}\s*(original message|tin nhắn gốc|thư gốc|thư ban đầu)\s*-{2,}\s*$|^_{10,}\s*$`)
	headerLineRE     = regexp.MustCompile(`^\s*\*?\s*([\p{L} ]{1,20}?)\s*\*?\s*[:：]\*?\s*(.*)$`)
	// A reply's subject: "Re:", "TL:", "Trả lời:", Outlook's "AW:"/"SV:".
	replySubjectRE = regexp.MustCompile(`(?i)^\s*(re|tl|trả lời|aw|sv)\s*:`)
	addressRE      = regexp.MustCompile(`[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+`)
)

// headerKeys maps the header names clients write, lower-cased, to what
// they are.
var headerKeys = map[string]string{
	"from": "from", "từ": "from", "người gửi": "from",
	"to": "to", "đến": "to", "tới": "to", "người nhận": "to", "gửi đến": "to",
	"cc": "cc", "đồng gửi": "cc",
	"sent": "date", "date": "date", "đã gửi": "date", "gửi": "date", "ngày": "date", "ngày gửi": "date", "gửi lúc": "date", "thời gian": "date",
	"subject": "subject", "chủ đề": "subject", "tiêu đề": "subject",
}

// QuotedHeaders finds the header blocks of messages quoted in a reply's
// text. A block counts when it names a sender and a recipient, so a
// person's own "Từ: 2020 / Đến: 2023" does not: those name no address.
// Lines may carry quote markers ("> ").
func QuotedHeaders(text string) []QuotedHeader {
	lines := strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	var out []QuotedHeader
	marker, forward := "", false
	for i := 0; i < len(lines); i++ {
		line := unquote(lines[i])
		switch {
		case forwardMarkerRE.MatchString(line):
			marker, forward = line, true
			continue
		case originalMarkerRE.MatchString(line):
			marker, forward = line, false
			continue
		}
		if _, ok := headerKey(line); !ok {
			if line != "" {
				marker, forward = "", false
			}
			continue
		}
		h, next := readBlock(lines, i)
		if h.hasSender && len(h.To) > 0 {
			h.Forward, h.Marker = forward, marker
			out = append(out, h.QuotedHeader)
		}
		marker, forward = "", false
		i = next - 1
	}
	return out
}

type block struct {
	QuotedHeader
	hasSender bool
}

// readBlock reads the header lines from lines[start] on, continuation
// lines included, and returns the block and the first line after it.
func readBlock(lines []string, start int) (block, int) {
	b := block{QuotedHeader: QuotedHeader{Line: start + 1}}
	key := ""
	seen := map[string]bool{}
	i := start
	for ; i < len(lines); i++ {
		line := unquote(lines[i])
		if line == "" {
			if len(seen) > 0 {
				break
			}
			continue
		}
		k, ok := headerKey(line)
		var value string
		if ok {
			if seen[k] && k != "cc" {
				break // a second "From:" starts the next message
			}
			key, seen[k] = k, true
			value = headerLineRE.FindStringSubmatch(line)[2]
		} else if key == "to" || key == "cc" {
			value = line // a recipient list wrapped onto the next line
		} else {
			break
		}
		switch key {
		case "from":
			b.hasSender = true
			if a := addressRE.FindString(value); a != "" {
				b.From = mailbox(a)
			}
		case "to":
			for _, a := range addressRE.FindAllString(value, -1) {
				b.To = append(b.To, mailbox(a))
			}
		case "date":
			if b.Date == "" {
				b.Date = strings.TrimSpace(value)
			}
		case "subject":
			b.Subject = strings.TrimSpace(value)
		}
	}
	return b, i
}

// mailbox normalises an address found in text, without the quotes
// Outlook puts around it ('a@b').
func mailbox(a string) string { return store.NormalizeMailbox(strings.Trim(a, "'")) }

// headerKey returns what a "Key: value" line's key is, if it is one of
// the quoted headers.
func headerKey(line string) (string, bool) {
	m := headerLineRE.FindStringSubmatch(line)
	if m == nil {
		return "", false
	}
	k, ok := headerKeys[strings.ToLower(strings.TrimSpace(m[1]))]
	return k, ok
}

// unquote strips quote markers and the bold stars HTML-to-text leaves.
func unquote(line string) string {
	line = strings.TrimSpace(line)
	for strings.HasPrefix(line, ">") {
		line = strings.TrimSpace(line[1:])
	}
	return line
}

// ForwardedElsewhere returns the quoted messages that show the invitation
// travelled to someone else before this reply: a block that sent it to a
// mailbox ours does not accept (not the replier's, not the member's, not
// phieu's), or a quoted reply ("Re: ...") such a mailbox wrote, as when
// the member passes on what a colleague filled in. Each keeps only the
// unknown recipients, and From only when it is such a reply's author. A
// clerk forwarding the invitation to the member is not a sign: the member
// still answers themselves.
func ForwardedElsewhere(headers []QuotedHeader, known func(mailbox string) bool) []QuotedHeader {
	var out []QuotedHeader
	for _, h := range headers {
		var others []string
		for _, to := range h.To {
			if !known(to) {
				others = append(others, to)
			}
		}
		author := h.From != "" && replySubjectRE.MatchString(h.Subject) && !known(h.From)
		if len(others) == 0 && !author {
			continue
		}
		h.To = others
		if !author {
			h.From = ""
		}
		out = append(out, h)
	}
	return out
}

// ForwardReason is the flag's reason for a quoted message found by
// ForwardedElsewhere.
func ForwardReason(h QuotedHeader) string {
	var b strings.Builder
	switch {
	case len(h.To) > 0 && h.Forward:
		b.WriteString("thư trả lời trích dẫn thư mời đã được chuyển tiếp tới " + strings.Join(h.To, ", "))
	case len(h.To) > 0:
		b.WriteString("thư trả lời trích dẫn thư đã gửi tới " + strings.Join(h.To, ", "))
	default:
		b.WriteString("thư trả lời trích dẫn thư trả lời do " + h.From + " viết")
	}
	if len(h.To) > 0 && h.From != "" {
		b.WriteString(", từ " + h.From)
	}
	if h.Date != "" {
		b.WriteString(" (" + h.Date + ")")
	}
	b.WriteString(": người khác có thể đã trả lời thay thành viên")
	return b.String()
}
