package demo

import (
	"bytes"
	"regexp"
	"time"

	"github.com/phieu/phieu/poller/imaptest"
)

// CampaignCode is the demo campaign's code.
const CampaignCode = "PAR2025"

// CampaignFile is the demo campaign: the PAR Index survey of 2025, run in
// February 2026 around Tết. It opens on Monday 09/02/2026 at 08:00; the
// deadline is Tuesday 03/03/2026; Tết Bính Ngọ keeps offices closed from
// Saturday 14/02 to Sunday 22/02. The dates do not depend on the seed.
const CampaignFile = `code: PAR2025
title: "Khảo sát lấy ý kiến đánh giá Chỉ số cải cách hành chính năm 2025"
legal_ref: "Số: 152/UBND-NC ngày 02/02/2026"
timezone: Asia/Ho_Chi_Minh
opens_at: "09/02/2026 08:00"
deadline: "03/03/2026"
sender:
  name: "Sở Nội vụ tỉnh Bình Sơn"
  address: snv@binhson.gov.test
  reply_to: khaosat.snv@binhson.gov.test
  operator: vanthu.snv@binhson.gov.test
  office: "Sở Nội vụ tỉnh Bình Sơn, số 1 đường Trần Hưng Đạo, phường Phú Thủy. Điện thoại: 0252 3 000 000"
groups: [HDND, LDS, LDP, LDX]
questionnaire:
  title: "Phiếu khảo sát Chỉ số cải cách hành chính"
  questions:
    - {code: C1, text: "Công tác chỉ đạo, điều hành cải cách hành chính của tỉnh được thực hiện quyết liệt, hiệu quả", type: scale, min: 1, max: 10, required: true}
    - {code: C2, text: "Thủ tục hành chính được công khai đầy đủ, kịp thời", type: scale, min: 1, max: 10, required: true}
    - code: C3
      text: "Việc sắp xếp tổ chức bộ máy sau hợp nhất đơn vị hành chính"
      type: choice
      choices: {A: "Rất hợp lý", B: "Hợp lý", C: "Chưa hợp lý", D: "Không có ý kiến"}
      required: true
    - {code: C4, text: "Ý kiến khác để nâng cao hiệu quả cải cách hành chính của tỉnh", type: text}
reminders:
  rounds: ["D-7 08:00", "D-3 08:00", "D-1 08:00"]
  min_spacing: 24h
  quiet_hours: "21:00-07:00"
  late_window: 6h
escalation:
  rounds: ["D-5 08:00", "D-2 08:00"]
calendar:
  weekend: [saturday, sunday]
  holidays: ["16/02/2026", "17/02/2026", "18/02/2026", "19/02/2026", "20/02/2026"]
`

// Start and End bound the simulated weeks: from the morning the campaign
// opens to two days after its deadline, when the last late answers and
// bounces have come in.
func Start(loc *time.Location) time.Time { return time.Date(2026, 2, 9, 7, 0, 0, 0, loc) }
func End(loc *time.Location) time.Time   { return time.Date(2026, 3, 5, 20, 0, 0, 0, loc) }

// Bytes renders the action as the message that lands in the survey
// mailbox: a reply as a mail client writes it, a bounce as Postfix does, an
// auto-reply as a vacation rule does.
func (a Action) Bytes() ([]byte, error) {
	switch a.Kind {
	case ActBounce:
		o := a.Original
		raw := imaptest.DSN{ReportingMTA: "mail." + domainOf(a.Member), To: a.To, EnvelopeID: a.EnvelopeID, Recipient: a.Member,
			Status: a.Status, Diagnostic: a.Diagnostic, Original: imaptest.OriginalHeaders(o.From, o.To, o.Subject, o.MessageID, o.Ref)}.Bytes()
		raw = arrivalRE.ReplaceAll(raw, []byte("Arrival-Date: "+o.At.Format(time.RFC1123Z)+"\r"))
		return dated(raw, a.At), nil
	case ActAutoReply:
		raw, err := imaptest.AutoReply(a.From, a.To, a.Subject, a.InReplyTo, a.Text)
		return dated(raw, a.At), err
	}
	return imaptest.Reply{From: a.From, To: a.To, Subject: a.Subject, InReplyTo: a.InReplyTo, Text: a.Text, Quoted: a.Quoted, Date: a.At}.Bytes()
}

var (
	dateRE    = regexp.MustCompile(`(?m)^Date: [^\r\n]*`)
	arrivalRE = regexp.MustCompile(`(?m)^Arrival-Date: [^\r\n]*\r`)
)

// dated gives a message built with a fixed date the moment it was sent.
func dated(raw []byte, at time.Time) []byte {
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	if end < 0 || at.IsZero() {
		return raw
	}
	head := dateRE.ReplaceAll(raw[:end], []byte("Date: "+at.Format(time.RFC1123Z)))
	return append(head, raw[end:]...)
}
