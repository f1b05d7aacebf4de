package reply

import (
	"bytes"
	"encoding/base64"
	"mime/quotedprintable"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/unicode/norm"
)

// encode1258 encodes NFC text in windows-1258 the way Vietnamese Windows
// software does: base letters (â, ê, ô, ơ, ư, ă, đ) as single bytes, tone
// marks as combining bytes.
func encode1258(t testing.TB, s string) []byte {
	enc := charmap.Windows1258
	var out []byte
	for _, r := range s {
		if b, ok := enc.EncodeRune(r); ok {
			out = append(out, b)
			continue
		}
		found := false
		for _, m := range []rune{0x300, 0x301, 0x303, 0x309, 0x323} {
			mb, _ := enc.EncodeRune(m)
			for b := 0x20; b < 0x100 && !found; b++ {
				base := enc.DecodeByte(byte(b))
				if norm.NFC.String(string([]rune{base, m})) == string(r) {
					out = append(out, byte(b), mb)
					found = true
				}
			}
		}
		if !found {
			t.Fatalf("cannot encode %q in windows-1258", r)
		}
	}
	return out
}

func qp(b []byte) string {
	var buf bytes.Buffer
	w := quotedprintable.NewWriter(&buf)
	w.Write(b)
	w.Close()
	return buf.String()
}

func crlf(s string) []byte {
	return []byte(strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\n", "\r\n"))
}

func TestBodyTextOutlookWindows1258(t *testing.T) {
	body := "Kính gửi Sở Nội vụ,\n\nĐơn vị xin gửi số liệu: 15 người, đã triển khai đầy đủ.\n\nTrân trọng,\nNguyễn Văn Ẩn\n\n" +
		"Từ: Sở Nội vụ <khaosat@snv.binhson.gov.test>\n" +
		"Gửi: Thứ Tư, 1 tháng 3, 2023 9:15 SA\n" +
		"Đến: an@xa.binhson.gov.test\n" +
		"Tiêu đề: Phiếu khảo sát về cải cách hành chính\n\n" +
		"Kính gửi các đơn vị,\nĐề nghị điền phiếu khảo sát.\n"
	raw := "From: =?utf-8?B?Tmd1eeG7hW4gVsSDbiBBbg==?= <an@xa.binhson.gov.test>\n" +
		"To: khaosat@snv.binhson.gov.test\n" +
		"Subject: RE: Phieu khao sat\n" +
		"MIME-Version: 1.0\n" +
		"Content-Type: text/plain; charset=\"windows-1258\"\n" +
		"Content-Transfer-Encoding: quoted-printable\n\n" +
		qp(encode1258(t, strings.ReplaceAll(body, "\n", "\r\n")))
	got, err := BodyText(crlf(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got != norm.NFC.String(body) {
		t.Fatalf("BodyText:\n%q\nwant\n%q", got, body)
	}
	vis, eli := Trim(got)
	want := "Kính gửi Sở Nội vụ,\n\nĐơn vị xin gửi số liệu: 15 người, đã triển khai đầy đủ.\n\nTrân trọng,\nNguyễn Văn Ẩn"
	if vis != want {
		t.Errorf("visible:\n%q\nwant\n%q", vis, want)
	}
	if !strings.Contains(eli, "Tiêu đề: Phiếu khảo sát") || !strings.Contains(eli, "Đề nghị điền phiếu") {
		t.Errorf("elided:\n%s", eli)
	}
}

func TestBodyTextZimbra(t *testing.T) {
	raw := "From: an@xa.binhson.gov.test\n" +
		"Subject: Re: Phiếu khảo sát\n" +
		"Content-Type: text/plain; charset=utf-8\n" +
		"Content-Transfer-Encoding: 8bit\n\n" +
		"Dạ đơn vị em trả lời:\nCâu 1: Có\n\n" +
		"Vào Th 4, 01/03/2023 lúc 09:15, Sở Nội vụ <khaosat@snv.binhson.gov.test> đã viết:\n" +
		"> Câu 1: Đơn vị đã triển khai chưa?\n" +
		"> Câu 2: Số cán bộ?\n"
	got, err := BodyText(crlf(raw))
	if err != nil {
		t.Fatal(err)
	}
	vis, eli := Trim(got)
	if vis != "Dạ đơn vị em trả lời:\nCâu 1: Có" {
		t.Errorf("visible %q", vis)
	}
	if !strings.HasPrefix(eli, "Vào Th 4, 01/03/2023 lúc 09:15") || !strings.Contains(eli, "> Câu 2: Số cán bộ?") {
		t.Errorf("elided %q", eli)
	}
}

const gmailHTML = `<div dir="ltr">Em gửi lại phiếu ạ.<br><br>Trân trọng,<br>Trần Thị Bình</div><br>
<div class="gmail_quote"><div dir="ltr" class="gmail_attr">Vào Th 4, 1 thg 3, 2023 vào lúc 09:15 Sở Nội vụ &lt;<a href="mailto:khaosat@snv.binhson.gov.test">khaosat@snv.binhson.gov.test</a>&gt; đã viết:<br></div>
<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex"><div dir="ltr"><h2>PHIẾU KHẢO SÁT</h2><p>Câu 1: Đơn vị đã triển khai chưa?</p><p><b>Trả lời: Có</b></p><p>Câu 2: Số cán bộ?</p><p>Trả lời: 15</p></div></blockquote></div>`

func TestBodyTextHTMLOnlyBase64(t *testing.T) {
	raw := "From: binh@xa.binhson.gov.test\n" +
		"Subject: Re: Phiếu\n" +
		"MIME-Version: 1.0\n" +
		"Content-Type: text/html; charset=UTF-8\n" +
		"Content-Transfer-Encoding: base64\n\n" +
		wrap76(base64.StdEncoding.EncodeToString([]byte(gmailHTML)))
	got, err := BodyText(crlf(raw))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Em gửi lại phiếu ạ.\n", "Trân trọng,\nTrần Thị Bình", "> Trả lời: Có", "> Câu 2: Số cán bộ?"} {
		if !strings.Contains(got, s) {
			t.Errorf("BodyText lacks %q:\n%s", s, got)
		}
	}
	if strings.Contains(got, "<") && strings.Contains(got, "<div") {
		t.Errorf("HTML left in text:\n%s", got)
	}
	vis, eli := Trim(got)
	if vis != "Em gửi lại phiếu ạ.\n\nTrân trọng,\nTrần Thị Bình" {
		t.Errorf("visible %q\nfrom\n%s", vis, got)
	}
	if !strings.Contains(eli, "> Trả lời: 15") {
		t.Errorf("elided lacks the answers typed in the quote:\n%s", eli)
	}
}

func wrap76(s string) string {
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	b.WriteString(s + "\n")
	return b.String()
}

// A Gmail reply where the person typed the answers inside the quoted
// questionnaire: visible is only what was written outside the quote, and
// the answers are read from elided.
func TestBodyTextGmailAnswersInQuote(t *testing.T) {
	plain := "Em gửi lại phiếu đã điền ạ.\n\n" +
		"Vào Th 4, 1 thg 3, 2023 vào lúc 09:15 Sở Nội vụ <\n" +
		"khaosat@snv.binhson.gov.test> đã viết:\n\n" +
		"> PHIẾU KHẢO SÁT\n" +
		"> Câu 1: Đơn vị đã triển khai chưa?\n" +
		"> Trả lời: Có, từ tháng 2/2023\n" +
		"> Câu 2: Số cán bộ tham gia?\n" +
		"> Trả lời: 15\n>\n"
	raw := "From: binh@xa.binhson.gov.test\n" +
		"Subject: Re: Phiếu khảo sát\n" +
		"MIME-Version: 1.0\n" +
		"Content-Type: multipart/alternative; boundary=\"000000000000abcdef\"\n\n" +
		"--000000000000abcdef\n" +
		"Content-Type: text/plain; charset=\"UTF-8\"\n" +
		"Content-Transfer-Encoding: quoted-printable\n\n" +
		qp([]byte(plain)) + "\n" +
		"--000000000000abcdef\n" +
		"Content-Type: text/html; charset=\"UTF-8\"\n" +
		"Content-Transfer-Encoding: quoted-printable\n\n" +
		qp([]byte(gmailHTML)) + "\n" +
		"--000000000000abcdef--\n"
	got, err := BodyText(crlf(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got != plain {
		t.Fatalf("BodyText chose\n%q\nwant the text/plain part\n%q", got, plain)
	}
	vis, eli := Trim(got)
	if vis != "Em gửi lại phiếu đã điền ạ." {
		t.Errorf("visible %q", vis)
	}
	for _, s := range []string{"> Trả lời: Có, từ tháng 2/2023", "> Trả lời: 15"} {
		if !strings.Contains(eli, s) {
			t.Errorf("elided lacks %q:\n%s", s, eli)
		}
	}
}

func TestBodyTextIPhoneFooter(t *testing.T) {
	raw := "From: an@xa.binhson.gov.test\n" +
		"Content-Type: text/plain; charset=utf-8\n" +
		"Content-Transfer-Encoding: quoted-printable\n\n" +
		qp([]byte("Câu 1: Có\nCâu 2: 3 người\n\nGửi từ iPhone của tôi\n\n> Vào 09:15, Th 4, 1 thg 3, 2023, Sở Nội vụ <khaosat@snv.binhson.gov.test> đã viết:\n>\n> Câu 1?\n"))
	got, err := BodyText([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	vis, eli := Trim(got)
	if vis != "Câu 1: Có\nCâu 2: 3 người" {
		t.Errorf("visible %q", vis)
	}
	if !strings.Contains(eli, "Gửi từ iPhone của tôi") {
		t.Errorf("elided %q", eli)
	}
}

func TestBodyTextBareContentType(t *testing.T) {
	raw := "Content-Type: text/plain; charset=iso-8859-1\n\nCaf\xe9 cr\xe8me\r\nsecond line\n"
	got, err := BodyText([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got != "Café crème\nsecond line\n" {
		t.Errorf("got %q", got)
	}
}

func TestBodyTextCharsets(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"no header at all", "Câu 1: Có\nCâu 2: Không\n", "Câu 1: Có\nCâu 2: Không\n"},
		{"windows-1252", "Content-Type: text/plain; charset=windows-1252\n\nna\xefve \x93quoted\x94\n", "naïve \u201cquoted\u201d\n"},
		{"windows-1258 8bit", "Content-Type: text/plain; charset=windows-1258\nContent-Transfer-Encoding: 8bit\n\nNg\xE0y Vi\xEA\xF2t\n", "Ngày Việt\n"},
		{"us-ascii with utf-8 bytes", "Content-Type: text/plain; charset=us-ascii\n\nS\xe1\xbb\x9f N\xe1\xbb\x99i v\xe1\xbb\xa5\n", "Sở Nội vụ\n"},
		{"us-ascii with 8-bit windows-1258 bytes", "Content-Type: text/plain; charset=us-ascii\n\n\xd0\xe3 xong\n", "Đă xong\n"},
		{"unknown charset", "Content-Type: text/plain; charset=x-nonexistent\n\nplain ascii\n", "plain ascii\n"},
		{"NFD input is normalised", "Content-Type: text/plain; charset=utf-8\n\nNo\u0302\u0323i vu\u0323\n", "Nội vụ\n"},
		{"malformed content-type", "Content-Type: text/plain; charset=utf-8;;; =x\n\nhello\n", "hello\n"},
		{"boundary never occurs", "Content-Type: multipart/mixed; boundary=nothere\n\nCó ạ.\n", "Có ạ.\n"},
		{"unterminated multipart", "Content-Type: multipart/alternative; boundary=b\n\n--b\nContent-Type: text/plain\n\nCó ạ.\n", "Có ạ."},
		{"broken base64", "Content-Type: text/plain\nContent-Transfer-Encoding: base64\n\nSGVsbG8g\nd29ybGQ=\n!!!\n", "Hello world"},
		{"broken quoted-printable", "Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable\n\na=3Db =ZZ c=\nd\n", "a=b =ZZ cd\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := BodyText([]byte(tc.raw))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q want %q", got, tc.want)
			}
		})
	}
}

func TestBodyTextMultipartMixed(t *testing.T) {
	raw := "From: a@xa.binhson.gov.test\n" +
		"MIME-Version: 1.0\n" +
		"Content-Type: multipart/mixed; boundary=outer\n\n" +
		"preamble\n" +
		"--outer\n" +
		"Content-Type: multipart/related; boundary=rel\n\n" +
		"--rel\n" +
		"Content-Type: multipart/alternative; boundary=alt\n\n" +
		"--alt\n" +
		"Content-Type: text/html; charset=utf-8\n\n" +
		"<p>HTML version</p>\n" +
		"--alt\n" +
		"Content-Type: text/plain; charset=utf-8\n\n" +
		"Văn bản trả lời.\n" +
		"--alt--\n" +
		"--rel\n" +
		"Content-Type: image/png\nContent-ID: <logo>\nContent-Transfer-Encoding: base64\n\niVBORw0KGgo=\n" +
		"--rel--\n" +
		"--outer\n" +
		"Content-Type: text/plain; name=\"bang.csv\"\n" +
		"Content-Disposition: attachment; filename=\"bang.csv\"\n\n" +
		"a,b,c\n" +
		"--outer\n" +
		"Content-Type: message/rfc822\n\n" +
		"Subject: forwarded\n\nforwarded body\n" +
		"--outer--\n"
	got, err := BodyText(crlf(raw))
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(got) != "Văn bản trả lời." {
		t.Errorf("got %q", got)
	}
}

func TestBodyTextHTMLStructure(t *testing.T) {
	raw := "Content-Type: text/html; charset=utf-8\n\n" +
		"<html><head><style>p{color:red}</style></head><body>" +
		"<div>Dòng một</div><div>Dòng hai<br>Dòng ba</div>" +
		"<table><tr><td>Câu 1</td><td>Có</td></tr><tr><td>Câu 2</td><td>Không</td></tr></table>" +
		"<h1>Tiêu đề</h1><p>Đoạn <strong>đậm</strong> cuối.</p></body></html>"
	got, err := BodyText([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"Dòng một\nDòng hai\nDòng ba", "Câu 1 | Có\n", "Câu 2 | Không", "Tiêu đề", "Đoạn đậm cuối."} {
		if !strings.Contains(got, s) {
			t.Errorf("lacks %q:\n%s", s, got)
		}
	}
	if strings.Contains(got, "color:red") || strings.Contains(got, "***") {
		t.Errorf("unexpected:\n%s", got)
	}
	vis, _ := Trim(got)
	if !strings.Contains(vis, "Đoạn đậm cuối.") {
		t.Errorf("Trim cut the HTML text:\n%s", vis)
	}
}

func TestBodyTextNothingReadable(t *testing.T) {
	for _, raw := range []string{
		"",
		"Content-Type: image/png\n\n\x89PNG",
		"Content-Type: multipart/mixed; boundary=x\n\n--x\nContent-Type: application/pdf\n\n%PDF\n--x--\n",
	} {
		if got, err := BodyText([]byte(raw)); err == nil {
			t.Errorf("BodyText(%q) = %q, want an error", raw, got)
		}
	}
}
