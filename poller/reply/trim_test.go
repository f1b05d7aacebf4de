package reply

import (
	"strings"
	"testing"
)

func TestTrim(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		visible string
		elided  []string // substrings elided must contain
	}{
		{
			name: "zimbra vietnamese",
			in: "Dạ, đơn vị em xin trả lời như sau:\n" +
				"Câu 1: Có\n\n" +
				"Câu 2: 12 người\n\n" +
				"Vào Th 4, 01/03/2023 lúc 09:15, Sở Nội vụ <khaosat@snv.binhson.gov.test> đã viết:\n" +
				"> Kính gửi các đơn vị,\n" +
				">\n" +
				"> Câu 1: Đơn vị đã triển khai chưa?\n" +
				"> Câu 2: Số cán bộ tham gia?\n",
			visible: "Dạ, đơn vị em xin trả lời như sau:\nCâu 1: Có\n\nCâu 2: 12 người",
			elided:  []string{"Vào Th 4, 01/03/2023 lúc 09:15", "> Câu 1: Đơn vị đã triển khai chưa?"},
		},
		{
			name: "vietnamese header wrapped over three lines",
			in: "Đã cập nhật.\n\n" +
				"Vào lúc 09:15 ngày 01/03/2023, Sở Nội vụ\n" +
				"<khaosat@snv.binhson.gov.test>\n" +
				"đã viết:\n" +
				"> Đề nghị cập nhật số liệu.\n",
			visible: "Đã cập nhật.",
			elided:  []string{"đã viết:", "> Đề nghị"},
		},
		{
			name: "gmail vietnamese header",
			in: "Em gửi lại phiếu ạ.\n\n" +
				"Vào Th 4, 1 thg 3, 2023 vào lúc 09:15 Sở Nội vụ <\nkhaosat@snv.binhson.gov.test> đã viết:\n\n" +
				"> Câu 1: Đơn vị đã triển khai chưa?\n",
			visible: "Em gửi lại phiếu ạ.",
		},
		{
			name: "answers typed inside the quoted form",
			in: "Em gửi lại phiếu đã điền ạ.\n\n" +
				"Vào Th 4, 1 thg 3, 2023 vào lúc 09:15 Sở Nội vụ <khaosat@snv.binhson.gov.test> đã viết:\n\n" +
				"> PHIẾU KHẢO SÁT\n" +
				"> Câu 1: Đơn vị đã triển khai chưa?\n" +
				"> Trả lời: Có\n" +
				"> Câu 2: Số cán bộ tham gia?\n" +
				"> Trả lời: 15\n",
			visible: "Em gửi lại phiếu đã điền ạ.",
			elided:  []string{"> Trả lời: Có", "> Trả lời: 15"},
		},
		{
			name: "outlook vietnamese block",
			in: "Kính gửi Sở Nội vụ,\n\nĐơn vị xin gửi số liệu: 15 người.\n\nTrân trọng,\nNguyễn Văn An\n\n" +
				"Từ: Sở Nội vụ <khaosat@snv.binhson.gov.test>\n" +
				"Gửi: Thứ Tư, 1 tháng 3, 2023 9:15 SA\n" +
				"Đến: an@xa.binhson.gov.test\n" +
				"Tiêu đề: Phiếu khảo sát\n\n" +
				"Kính gửi các đơn vị,\nĐề nghị điền phiếu.\n",
			visible: "Kính gửi Sở Nội vụ,\n\nĐơn vị xin gửi số liệu: 15 người.\n\nTrân trọng,\nNguyễn Văn An",
			elided:  []string{"Tiêu đề: Phiếu khảo sát", "Đề nghị điền phiếu."},
		},
		{
			name: "outlook vietnamese with Chủ đề and Ngày gửi",
			in: "Số liệu đính kèm.\n\n" +
				"-----Thư gốc-----\n" +
				"Người gửi: Sở Nội vụ <khaosat@snv.binhson.gov.test>\n" +
				"Ngày gửi: 01/03/2023 09:15\n" +
				"Chủ đề: Phiếu khảo sát\n\nNội dung gốc\n",
			visible: "Số liệu đính kèm.",
		},
		{
			name:    "tin nhắn gốc",
			in:      "Đồng ý.\n\n-----Tin nhắn gốc-----\nTừ: a@b.test\nNội dung\n",
			visible: "Đồng ý.",
		},
		{
			name:    "outlook separator",
			in:      "Đồng ý.\n\n________________________________\nFrom: a@b.test\nSent: Wednesday, March 1, 2023 9:15 AM\n",
			visible: "Đồng ý.",
		},
		{
			name:    "iphone footer vietnamese",
			in:      "Câu 1: Có\nCâu 2: Không\n\nGửi từ iPhone của tôi\n\n> Vào 09:15, Th 4, 1 thg 3, 2023, Sở Nội vụ <khaosat@snv.binhson.gov.test> đã viết:\n> câu hỏi\n",
			visible: "Câu 1: Có\nCâu 2: Không",
			elided:  []string{"Gửi từ iPhone của tôi"},
		},
		{
			name:    "samsung footer vietnamese",
			in:      "Có ạ.\n\nĐược gửi từ điện thoại Samsung Galaxy của tôi.\n",
			visible: "Có ạ.",
		},
		{
			name:    "get outlook",
			in:      "Có.\n\nGet Outlook for Android\n",
			visible: "Có.",
		},
		{
			name:    "signature delimiter",
			in:      "Có.\n\n-- \nNguyễn Văn An\nUBND xã\n",
			visible: "Có.",
			elided:  []string{"UBND xã"},
		},
		{
			name:    "forwarded",
			in:      "Chuyển anh xem.\n\n---------- Forwarded message ---------\nFrom: a@b.test\nDate: Wed, Mar 1, 2023\nSubject: x\nTo: c@d.test\n\nbody\n",
			visible: "Chuyển anh xem.",
		},
		{
			name:    "lone header-like answers stay",
			in:      "Thời gian làm việc:\nTừ: 2020\nĐến: 2023\n\nA: Có\n",
			visible: "Thời gian làm việc:\nTừ: 2020\nĐến: 2023\n\nA: Có",
		},
		{
			name:    "internal blank lines kept",
			in:      "\n\nMột\n\n\nHai\n   thụt lề\n\n> trích\n",
			visible: "Một\n\n\nHai\n   thụt lề",
		},
		{
			name:    "crlf",
			in:      "Có.\r\n\r\nOn Wed, Mar 1, 2023 at 9:15 AM X <x@y.test> wrote:\r\n> q\r\n",
			visible: "Có.",
		},
		{
			name:    "sentence starting with On is text",
			in:      "On reflection, he said:\nwe agree.\n",
			visible: "On reflection, he said:\nwe agree.",
		},
		{
			name:    "lone bullet",
			in:      "Danh sách:\n-\nmột\n",
			visible: "Danh sách:\n-\nmột",
		},
		{
			name:    "empty",
			in:      "  \n\n ",
			visible: "",
		},
		{
			name:    "only a reply header and quote",
			in:      "On Wed, Mar 1, 2023 at 9:15 AM X <x@y.test> wrote:\n> q\n",
			visible: "",
			elided:  []string{"> q"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			vis, eli := Trim(tc.in)
			if strings.TrimSpace(vis) != strings.TrimSpace(tc.visible) {
				t.Errorf("visible:\n%q\nwant:\n%q", vis, tc.visible)
			}
			for _, s := range tc.elided {
				if !strings.Contains(eli, s) {
					t.Errorf("elided lacks %q:\n%s", s, eli)
				}
			}
			// Every line of the input is in exactly one of the two outputs.
			if got, want := nonEmptyLines(vis)+nonEmptyLines(eli), nonEmptyLines(strings.ReplaceAll(tc.in, "\r", "")); got != want {
				t.Errorf("visible+elided have %d non-empty lines, input %d", got, want)
			}
		})
	}
}

// Reply headers of common clients in several languages, each put between
// a reply and a quote.
func TestTrimReplyHeaders(t *testing.T) {
	headers := []string{
		"On Wed, Mar 1, 2023 at 9:15 AM Sở Nội vụ <khaosat@snv.binhson.gov.test> wrote:",
		"On 3/1/23 09:15, Sở Nội vụ wrote:",
		"On Wednesday, March 1, 2023, 09:15:00 AM GMT+7, Sở Nội vụ <khaosat@snv.binhson.gov.test> wrote:",
		"Le mer. 1 mars 2023 à 09:15, Sở Nội vụ <khaosat@snv.binhson.gov.test> a écrit :",
		"Am Mi., 1. März 2023 um 09:15 Uhr schrieb Sở Nội vụ <khaosat@snv.binhson.gov.test>:",
		"Sở Nội vụ <khaosat@snv.binhson.gov.test> schrieb am Mi., 1. März 2023, 09:15:",
		"El mié, 1 mar 2023 a las 9:15, Sở Nội vụ (<khaosat@snv.binhson.gov.test>) escribió:",
		"Op wo 1 mrt 2023 om 09:15 schreef Sở Nội vụ <khaosat@snv.binhson.gov.test>:",
		"Em qua., 1 de mar. de 2023 às 09:15, Sở Nội vụ <khaosat@snv.binhson.gov.test> escreveu:",
		"Il giorno mer 1 mar 2023 alle ore 09:15 Sở Nội vụ <khaosat@snv.binhson.gov.test> ha scritto:",
		"Den ons 1 mars 2023 kl 09:15 skrev Sở Nội vụ <khaosat@snv.binhson.gov.test>:",
		"ср, 1 мар. 2023 г. в 09:15, Sở Nội vụ <khaosat@snv.binhson.gov.test>:",
		"1 марта 2023 г., 09:15 пользователь Sở Nội vụ <khaosat@snv.binhson.gov.test> написал:",
		"śr., 1 mar 2023 o 09:15 Sở Nội vụ <khaosat@snv.binhson.gov.test> napisał(a):",
		"2023年3月1日(水) 9:15 Sở Nội vụ <khaosat@snv.binhson.gov.test>:",
		"在 2023年3月1日 09:15，Sở Nội vụ <khaosat@snv.binhson.gov.test> 写道：",
		"2023년 3월 1일 (수) 오전 9:15, Sở Nội vụ <khaosat@snv.binhson.gov.test>님이 작성:",
		"Vào Th 4, 01/03/2023 lúc 09:15, Sở Nội vụ <khaosat@snv.binhson.gov.test> đã viết:",
		"Vào Th 4, 1 thg 3, 2023 vào lúc 09:15 Sở Nội vụ <khaosat@snv.binhson.gov.test> đã viết:",
		"Vào 09:15, Th 4, 1 thg 3, 2023, Sở Nội vụ <khaosat@snv.binhson.gov.test> đã viết:",
		"Vào lúc 09:15 ngày 01/03/2023, Sở Nội vụ đã viết:",
		"-----Original Message-----",
		"----- Thư gốc -----",
		"---------- Forwarded message ---------",
	}
	for _, h := range headers {
		in := "Câu trả lời của đơn vị.\n\n" + h + "\n> Câu 1: Đơn vị đã triển khai chưa?\n> Câu 2: Số cán bộ?\n"
		vis, eli := Trim(in)
		if vis != "Câu trả lời của đơn vị." {
			t.Errorf("%s:\nvisible %q", h, vis)
		}
		if !strings.HasPrefix(eli, h) {
			t.Errorf("%s:\nelided %q", h, eli)
		}
	}
}

func nonEmptyLines(s string) int {
	n := 0
	for _, l := range strings.Split(s, "\n") {
		if strings.TrimSpace(l) != "" {
			n++
		}
	}
	return n
}

func BenchmarkTrim(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("Dạ, đơn vị em xin trả lời như sau:\nCâu 1: Có\nCâu 2: 12 người\n\nTrân trọng,\nNguyễn Văn An\n\n")
	sb.WriteString("Vào Th 4, 01/03/2023 lúc 09:15, Sở Nội vụ <khaosat@snv.binhson.gov.test> đã viết:\n")
	for i := 0; i < 40; i++ {
		sb.WriteString("> Câu hỏi số liệu của phiếu khảo sát, dòng trích dẫn dài vừa phải.\n>\n")
	}
	in := sb.String()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		Trim(in)
	}
}
