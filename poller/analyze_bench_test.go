package poller

import (
	"strings"
	"testing"

	"github.com/phieu/phieu/poller/imaptest"
)

// BenchmarkAnalyze measures the analysis of each kind of message the
// poller meets, as the poller runs it (the body's text only for replies).
func BenchmarkAnalyze(b *testing.B) {
	const survey = "khaosat.snv@binhson.gov.test"
	quoted := strings.Repeat("C1. Công tác chỉ đạo, điều hành cải cách hành chính của tỉnh\nC1 [1-10]:\n\n", 8)
	reply, _ := imaptest.Reply{From: "cb001@stp.binhson.gov.test", To: survey, Subject: "Phiếu khảo sát [KS-2AE15WEN7V]",
		InReplyTo: "<abc@binhson.gov.test>", Text: "Kính gửi Sở Nội vụ,\n\nC1: 8\nC2: A\n\nTrân trọng.", Quoted: quoted}.Bytes()
	human, _ := imaptest.Human("vanthu@ubnd.binhson.gov.test", survey, "Công văn về lịch họp",
		strings.Repeat("Kính gửi các đơn vị. Đề nghị chuẩn bị báo cáo theo kế hoạch.\n", 12))
	auto, _ := imaptest.AutoReply("cb002@stp.binhson.gov.test", survey, "Phiếu khảo sát", "<abc@binhson.gov.test>", "Tôi đang đi công tác đến hết ngày 05/03/2023.")
	dsn := imaptest.DSN{ReportingMTA: "mail.binhson.gov.test", To: survey, EnvelopeID: "2AE15WEN7V", Recipient: "cb003@stp.binhson.gov.test",
		Status: "5.1.1", Diagnostic: "smtp; 550 5.1.1 User unknown",
		Original: imaptest.OriginalHeaders("snv@binhson.gov.test", "cb003@stp.binhson.gov.test", "Phiếu", "<abc@binhson.gov.test>", "2AE15WEN7V")}.Bytes()
	for _, tt := range []struct {
		name string
		raw  []byte
		text bool
	}{{"reply", reply, true}, {"human", human, false}, {"auto-reply", auto, false}, {"dsn", dsn, false}} {
		b.Run(tt.name, func(b *testing.B) {
			b.SetBytes(int64(len(tt.raw)))
			for b.Loop() {
				a, err := analyzeReport(tt.raw)
				if err != nil {
					b.Fatal(err)
				}
				if tt.text {
					a.readText(tt.raw)
				}
			}
		})
	}
}
